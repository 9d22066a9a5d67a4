//! Command-line interface: argument definitions and dispatch to the library
//! crates. Nothing here does real work beyond printing results.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Parser, Subcommand};

use crate::draw;
use crate::parse::{parse_iface, parse_rotate, parse_size};
use crate::sflow_cmd::{self, CollectArgs};
use crate::shared::{self, AsnDb, Force, K8s, Quiet};

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use pktsample_capture::inject::{InjectOptions, inject};
use pktsample_capture::live::{Hooks, IfaceSpec, LiveEvent, LiveOptions, capture_live};
use pktsample_capture::rotate::Rotate;
use pktsample_capture::{ReplayOptions, fresh_seed, replay};

/// Sampled packet capture and offline traffic analysis.
#[derive(Parser, Debug)]
#[command(name = "pktsample", version, about)]
pub struct Args {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sample packets 1-in-N into a Parquet or pcapng samples file.
    ///
    /// With --replay, sample an existing pcap/pcapng capture offline with the
    /// same sampler the kernel program uses.
    Capture(CaptureArgs),
    /// Convert a samples file between Parquet and pcapng (lossless), or a
    /// plain capture into a samples file at rate 1.
    Convert(crate::convert_cmd::ConvertArgs),
    /// Send a capture's frames out of an interface (AF_PACKET), e.g. to push
    /// a known trace through the live sampler.
    Inject(InjectArgs),
    /// Estimate traffic from samples: totals, IPv6 share, protocols,
    /// interfaces, top talkers, time series and sizes, each with a 95%
    /// confidence interval.
    Analyze(crate::analyze_cmd::AnalyzeArgs),
    /// Receive sFlow v5 from switches and Host sFlow agents into a samples
    /// file, with each data source's exact pool and every lost datagram
    /// counted.
    Collect(CollectArgs),
    /// Print the report's queries for DuckDB, ClickHouse or Spark over a
    /// partitioned dataset: the same estimators and intervals as analyze.
    Sql(crate::dataset_cmd::SqlArgs),
    /// Fill the AS and Kubernetes columns of every part of a dataset in
    /// place from an ASN database and cluster snapshots (each part
    /// replaced atomically, its pools rewritten).
    Enrich(crate::dataset_cmd::EnrichArgs),
    /// Roll up a dataset: each part's sums for the fixed-key sections
    /// (summary, protocols, interfaces, sizes, the time series by minute)
    /// in DIR/_rollup/, which analyze reads instead of the samples where
    /// they serve the report. Incremental: only new or replaced parts.
    Rollup(crate::dataset_cmd::RollupArgs),
}

#[derive(clap::Args, Debug)]
struct InjectArgs {
    /// Capture to send (pcap or pcapng, Ethernet).
    input: PathBuf,
    /// Interface to send on.
    #[arg(short, long, value_name = "IF")]
    interface: String,
    /// Packets per second (default: as fast as possible).
    #[arg(long, value_name = "N", conflicts_with = "speed")]
    pps: Option<u64>,
    /// Keep the capture's timing, sped up by this factor (1 = real time).
    #[arg(long, value_name = "X")]
    speed: Option<f64>,
}

#[derive(clap::Args, Debug)]
struct CaptureArgs {
    /// Interface to capture on, live (repeatable): a name or a glob
    /// ('veth*'), optionally with its own rate: -i eth0=1000 -i 'wg*=10'.
    #[arg(
        short,
        long = "interface",
        value_name = "IF[=RATE]",
        value_parser = parse_iface,
        conflicts_with = "replay"
    )]
    interface: Vec<IfaceSpec>,
    /// Every interface, and every one that appears while capturing (at
    /// the default rate unless an -i names one).
    #[arg(long, conflicts_with = "replay")]
    all_interfaces: bool,
    /// Capture file to sample offline (pcap or pcapng).
    #[arg(long, value_name = "IN.pcap|IN.pcapng")]
    replay: Option<PathBuf>,
    /// Hooks to sample at (live).
    #[arg(long, value_enum, default_value = "both")]
    direction: HooksArg,
    /// Stop after this long (live), e.g. 30s, 5m.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "TIME")]
    duration: Option<std::time::Duration>,
    /// Stop after this many samples (live).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Start a new file (OUT-0001.ext, OUT-0002.ext, ...) every TIME or SIZE,
    /// e.g. 60s or 100MB (a replay's TIME is of the capture's own clock).
    /// Each finished part is complete and renamed into place.
    #[arg(long, value_parser = parse_rotate, value_name = "TIME|SIZE")]
    rotate: Option<Rotate>,
    /// Ring buffer between kernel and user space, a power of two, e.g. 8MiB.
    #[arg(long, value_parser = parse_size, default_value = "8MiB", value_name = "SIZE")]
    ring_size: u64,
    /// Record the routed egress interface of ingress samples (FIB lookup).
    #[arg(long)]
    fib: bool,
    /// Take 1 packet in N at random (1 = every packet); the default rate of
    /// interfaces given without one. The default suits a busy 1-10 Gbit/s
    /// link, as sFlow agents use.
    #[arg(long, short = 'r', value_name = "N", default_value_t = 1000)]
    sampling_rate: u32,
    /// Seed of the random sampler (replay); the same seed gives the same
    /// output. Default: a fresh seed, recorded in the output's metadata.
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Bytes kept of each sampled packet, from the Ethernet header on
    /// (live: at most 256). The default reaches the inner TCP header of a
    /// VXLAN or Geneve frame over IPv6 with IPv6 inside.
    #[arg(long, default_value_t = 160, value_name = "BYTES")]
    snaplen: u32,
    /// Output samples file: .parquet or .pcapng (live capture may send
    /// sFlow only, with --sflow and no -o). A directory (`-o DIR/`) is a
    /// partitioned dataset: parts in DIR/date=YYYY-MM-DD/host=NAME/, cut at
    /// --rotate and at midnight UTC, each with its pools table in
    /// DIR/_pools/ (schemas/README.md, "Datasets").
    #[arg(short, long, value_name = "OUT.parquet|OUT.pcapng|DIR/")]
    output: Option<PathBuf>,
    #[command(flatten)]
    force: Force,
    #[command(flatten)]
    quiet: Quiet,
    #[command(flatten)]
    sflow: sflow_cmd::ExportArgs,
    #[command(flatten)]
    asn: AsnDb,
    #[command(flatten)]
    k8s: K8s,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum HooksArg {
    Both,
    Ingress,
    Egress,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.cmd {
        Command::Capture(a) => capture(a),
        Command::Convert(a) => crate::convert_cmd::convert(a),
        Command::Inject(a) => inject_cmd(a),
        Command::Analyze(a) => crate::analyze_cmd::analyze_cmd(a),
        Command::Sql(a) => crate::dataset_cmd::sql_cmd(a),
        Command::Enrich(a) => crate::dataset_cmd::enrich_cmd(a),
        Command::Rollup(a) => crate::dataset_cmd::rollup_cmd(a),
        Command::Collect(a) => sflow_cmd::collect_cmd(a),
    }
}

fn inject_cmd(a: InjectArgs) -> anyhow::Result<ExitCode> {
    let opts = InjectOptions {
        input: a.input,
        interface: a.interface,
        pps: a.pps,
        speed: a.speed,
    };
    let s = inject(&opts)?;
    out!(
        "sent {} packets ({} bytes) on {} in {:.3}s",
        s.packets,
        s.bytes,
        opts.interface,
        s.elapsed.as_secs_f64()
    );
    if s.truncated > 0 {
        eprintln!(
            "pktsample: note: {} frames were cut short in {} and were sent as captured",
            s.truncated,
            opts.input.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn live(a: CaptureArgs) -> anyhow::Result<ExitCode> {
    let opts = LiveOptions {
        interfaces: a.interface,
        all_interfaces: a.all_interfaces,
        sampling_rate: a.sampling_rate,
        hooks: match a.direction {
            HooksArg::Both => Hooks::Both,
            HooksArg::Ingress => Hooks::Ingress,
            HooksArg::Egress => Hooks::Egress,
        },
        snaplen: a.snaplen,
        duration: a.duration,
        count: a.count,
        rotate: a.rotate,
        ring_bytes: u32::try_from(a.ring_size)
            .map_err(|_| anyhow::anyhow!("--ring-size: at most 2GiB"))?,
        fib: a.fib,
        output: a.output,
        force: a.force.on,
        enrich: shared::enrichment(&a.asn, &a.k8s)?,
        sflow: a.sflow.options()?,
    };
    if opts.output.is_none() && opts.sflow.is_none() {
        bail!("-o: give an output file, or --sflow HOST:PORT to send the samples to a collector");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let status = !a.quiet.on && std::io::stderr().is_terminal();
    let mut shown = (0u64, std::time::Duration::ZERO);
    let mut on_event = |e: LiveEvent| draw::live_event(&e, &opts, status, &mut shown);
    let s = capture_live(&opts, stop, &mut on_event)?;
    if status {
        eprintln!();
    }
    for p in &s.parts {
        out!("wrote {}", p.display());
    }
    let m = &s.metadata;
    shared::print_span(m)?;
    for i in &m.interfaces {
        for (d, st) in &i.directions {
            out!(
                "  interface {} {}: {} seen, {} sampled, {} dropped",
                i.name,
                d.as_str(),
                st.packets_seen,
                st.samples,
                st.drops
            );
        }
    }
    if m.bad_records > 0 {
        out!(
            "  unreadable {} ring records (counted as drops)",
            m.bad_records
        );
    }
    if let Some((agent, e)) = s.export {
        out!(
            "  sflow     sent {} datagrams as agent {agent}: {} flow samples, {} counter samples{}",
            e.datagrams,
            e.flow_samples,
            e.counter_samples,
            if e.send_errors > 0 {
                format!(", {} send errors", e.send_errors)
            } else {
                String::new()
            }
        );
    }
    out!("  elapsed   {:.1}s", s.elapsed.as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

fn capture(a: CaptureArgs) -> anyhow::Result<ExitCode> {
    let Some(input) = a.replay else {
        return live(a);
    };
    if a.duration.is_some() || a.count.is_some() || a.fib {
        bail!("--duration, --count and --fib apply to live capture (-i), not to --replay");
    }
    if !a.sflow.sflow.is_empty() {
        bail!("--sflow applies to live capture (-i), not to --replay");
    }
    let Some(output) = a.output else {
        bail!("-o: give the output file (.parquet or .pcapng) or a dataset directory (DIR/)");
    };
    let opts = ReplayOptions {
        input,
        output,
        sampling_rate: a.sampling_rate,
        seed: a.seed.unwrap_or_else(fresh_seed),
        snaplen: a.snaplen,
        force: a.force.on,
        enrich: shared::enrichment(&a.asn, &a.k8s)?,
        rotate: a.rotate,
        first_part: 1,
        source: None,
    };
    let bar = draw::ReplayBar::new(!a.quiet.on);
    let s = replay(&opts, &mut |p| bar.update(p))?;
    bar.finish();
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    wrote(&opts.output, &s.parts)?;
    out!(
        "  read      {} packets, {} bytes from {} ({:.1} Mpkt/s)",
        s.packets_seen,
        s.bytes_seen,
        opts.input.display(),
        s.packets_seen as f64 / secs / 1e6
    );
    out!(
        "  sampled   {} packets at 1-in-{} (seed {})",
        s.samples,
        opts.sampling_rate,
        opts.seed
    );
    if !s.metadata.skipped_link_types.is_empty() {
        let parts: Vec<String> = s
            .metadata
            .skipped_link_types
            .iter()
            .map(|(lt, n)| format!("{n} packets of link type {lt}"))
            .collect();
        out!("  skipped   {} (not decodable)", parts.join(", "));
    }
    shared::skipped_records(&s.metadata)?;
    shared::print_span(&s.metadata)?;
    for i in &s.metadata.interfaces {
        for (d, st) in &i.directions {
            out!(
                "  {:<9} {} {}: {} seen, {} sampled",
                "interface",
                i.name,
                d.as_str(),
                st.packets_seen,
                st.samples
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a replay wrote: its file, or its parts.
pub fn wrote(output: &std::path::Path, parts: &[PathBuf]) -> std::io::Result<()> {
    match parts {
        [one] if !pktsample_schemas::dataset::is_root(output) => out!("wrote {}", one.display()),
        [] => out!("wrote nothing to {}: no packets", output.display()),
        [_] => out!("wrote 1 part to {}", output.display()),
        _ => out!("wrote {} parts to {}", parts.len(), output.display()),
    }
    Ok(())
}
