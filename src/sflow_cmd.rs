//! `collect` and `convert` of sFlow captures: arguments and what is printed.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use pktsample_capture::rotate::Rotate;
use pktsample_capture::sflow::export::ExportOptions;
use pktsample_capture::sflow::{
    CollectEvent, CollectOptions, carries_sflow, collect, convert_pcap,
};
use pktsample_schemas::CaptureMetadata;
use pktsample_schemas::input::{FileKind, sniff};
use pktsample_schemas::sflow::meta::SflowMeta;

use crate::parse::{parse_rotate, parse_size};
use crate::shared::{self, AsnDb, Force, K8s, Quiet, print_span};

#[derive(clap::Args, Debug)]
pub struct CollectArgs {
    /// Address and UDP port to receive on (repeatable): `[::]:6343` takes
    /// IPv4 and IPv6; a bare port means `[::]:PORT`.
    #[arg(long, value_parser = parse_listen, default_value = "[::]:6343", value_name = "ADDR:PORT")]
    listen: Vec<SocketAddr>,
    /// Output samples file: .parquet or .pcapng; a directory (`-o DIR/`)
    /// is a partitioned dataset (DIR/date=…/host=…/part-….parquet with its
    /// pools table in DIR/_pools/; see schemas/README.md, "Datasets").
    #[arg(short, long, value_name = "OUT.parquet|OUT.pcapng|DIR/")]
    output: PathBuf,
    /// Start a new file (OUT-0001.ext, ...) every TIME or SIZE, e.g. 60s or
    /// 100MB. Each finished part is complete and renamed into place.
    #[arg(long, value_parser = parse_rotate, value_name = "TIME|SIZE")]
    rotate: Option<Rotate>,
    /// Stop after this long, e.g. 30s, 5m (else at Ctrl-C or SIGTERM).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "TIME")]
    duration: Option<std::time::Duration>,
    /// Stop after this many datagrams.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Socket receive buffer, e.g. 64MiB (bursts of datagrams wait there).
    #[arg(long, value_parser = parse_size, default_value = "64MiB", value_name = "SIZE")]
    recv_buffer: u64,
    #[command(flatten)]
    force: Force,
    #[command(flatten)]
    quiet: Quiet,
    #[command(flatten)]
    asn: AsnDb,
    #[command(flatten)]
    k8s: K8s,
}

/// `capture --sflow`: where and how to send.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Send the samples as sFlow v5 to this collector too (repeatable),
    /// e.g. 192.0.2.1:6343 (live capture).
    #[arg(long, value_parser = parse_target, value_name = "HOST:PORT")]
    pub sflow: Vec<SocketAddr>,
    /// Agent address in the datagrams (default: the address this host
    /// reaches the first collector from).
    #[arg(long, value_name = "ADDR", requires = "sflow")]
    sflow_agent: Option<std::net::IpAddr>,
    /// Send interface counters this often.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s", value_name = "TIME")]
    sflow_counters: std::time::Duration,
    /// Largest datagram to send (UDP payload bytes), to fit the path MTU.
    #[arg(long, default_value_t = 1400, value_name = "BYTES")]
    sflow_mtu: usize,
}

impl ExportArgs {
    pub fn options(&self) -> anyhow::Result<Option<ExportOptions>> {
        if self.sflow.is_empty() {
            return Ok(None);
        }
        if self.sflow_mtu < 256 {
            anyhow::bail!(
                "--sflow-mtu: at least 256 bytes (a datagram holds a header of up to 256)"
            );
        }
        if self.sflow_counters.is_zero() {
            anyhow::bail!("--sflow-counters must be longer than 0s");
        }
        Ok(Some(ExportOptions {
            targets: self.sflow.clone(),
            agent: self.sflow_agent,
            counters_every: self.sflow_counters,
            mtu: self.sflow_mtu,
        }))
    }
}

/// `192.0.2.1:6343`, `[2001:db8::1]:6343`, or `collector.example:6343`.
fn parse_target(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("'{s}' is not a HOST:PORT this host can resolve"))
}

/// `[::]:6343`, `192.0.2.1:6343`, or a port alone.
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(p) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([0u16; 8], p)));
    }
    s.parse()
        .map_err(|_| format!("'{s}' is not an address and port like [::]:6343 or 0.0.0.0:6343"))
}

pub fn collect_cmd(a: CollectArgs) -> anyhow::Result<ExitCode> {
    let opts = CollectOptions {
        listen: a.listen,
        output: a.output,
        rotate: a.rotate,
        duration: a.duration,
        count: a.count,
        force: a.force.on,
        enrich: shared::enrichment(&a.asn, &a.k8s)?,
        recv_buffer: usize::try_from(a.recv_buffer).unwrap_or(usize::MAX),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let status = !a.quiet.on && std::io::stderr().is_terminal();
    // Progress to stderr; a closed stderr (a parent that stopped reading)
    // must not stop the collector.
    let say = |t: std::fmt::Arguments| {
        use std::io::Write as _;
        let _ = std::io::stderr().write_fmt(t);
    };
    let mut on_event = |e: CollectEvent| match e {
        CollectEvent::Listening { addrs } => {
            let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            say(format_args!(
                "pktsample: collecting sFlow on {}\n",
                list.join(", ")
            ));
        }
        CollectEvent::Status {
            datagrams,
            rows,
            elapsed,
        } if status => say(format_args!(
            "\r{datagrams} datagrams, {rows} samples, {:.0}s",
            elapsed.as_secs_f64()
        )),
        CollectEvent::Rotated { path } if !a.quiet.on => say(format_args!(
            "{}pktsample: wrote {}\n",
            if status { "\n" } else { "" },
            path.display()
        )),
        _ => {}
    };
    let s = collect(&opts, stop, &mut on_event)?;
    if status {
        eprintln!();
    }
    for p in &s.parts {
        out!("wrote {}", p.display());
    }
    out!(
        "  received  {} datagrams, {} samples in {:.1}s",
        s.datagrams,
        s.rows,
        s.elapsed.as_secs_f64()
    );
    for m in &s.metadata {
        print_sflow(m)?;
    }
    if s.socket_drops > 0 {
        out!(
            "  warning   the kernel dropped {} datagrams for a full socket buffer: raise --recv-buffer",
            s.socket_drops
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A capture to read as sFlow: `--sflow-port` given, or a plain capture
/// (not a samples file) whose first packets include sFlow on port 6343.
pub fn is_sflow_input(input: &Path, port: Option<u16>) -> anyhow::Result<bool> {
    if port.is_some() {
        return Ok(true);
    }
    Ok(sniff(input)? != FileKind::Parquet && carries_sflow(input, pktsample_schemas::sflow::PORT)?)
}

pub fn convert_sflow(
    input: &Path,
    output: &Path,
    port: u16,
    force: bool,
    enrich: pktsample_schemas::Enrichment,
) -> anyhow::Result<ExitCode> {
    let s = convert_pcap(input, output, port, force, enrich)?;
    out!(
        "wrote {} ({} samples from {} sFlow datagrams on UDP port {port})",
        s.output.display(),
        s.rows,
        s.datagrams
    );
    print_span(&s.metadata)?;
    print_sflow(&s.metadata)?;
    if s.other_packets > 0 {
        out!(
            "  skipped   {} packets that are not UDP to port {port}",
            s.other_packets
        );
    }
    if s.incomplete > 0 {
        out!(
            "  skipped   {} fragmented datagrams whose fragments did not all arrive",
            s.incomplete
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The agents, the data sources and everything lost or skipped.
pub fn print_sflow(m: &CaptureMetadata) -> std::io::Result<()> {
    let Some(sf) = &m.sflow else {
        return Ok(());
    };
    for a in &sf.agents {
        let mut line = format!(
            "  agent     {} sub-agent {}: {} datagrams, {} lost, {} samples lost",
            a.agent, a.sub_agent, a.datagrams, a.lost_datagrams, a.lost_samples
        );
        if a.restarts > 0 {
            line.push_str(&format!(", {} restarts", a.restarts));
        }
        if a.late_datagrams > 0 {
            line.push_str(&format!(", {} late", a.late_datagrams));
        }
        out!("{line}");
    }
    for i in &m.interfaces {
        for (d, st) in &i.directions {
            out!(
                "  source    {} {} 1-in-{}: pool {}, {} sampled, {} dropped or lost",
                i.name,
                if i.shared_pool { "both" } else { d.as_str() },
                i.sampling_rate,
                st.packets_seen,
                st.samples,
                st.drops
            );
        }
    }
    print_skips(sf)
}

fn print_skips(sf: &SflowMeta) -> std::io::Result<()> {
    if sf.bad_datagrams > 0 {
        out!(
            "  skipped   {} unreadable datagrams (first: {})",
            sf.bad_datagrams,
            sf.errors.first().map_or("", String::as_str)
        );
    }
    if sf.skipped_samples + sf.skipped_records > 0 {
        out!(
            "  skipped   {} samples and {} records of formats not read",
            sf.skipped_samples,
            sf.skipped_records
        );
    }
    for (why, n) in &sf.unusable_samples {
        out!("  skipped   {n} flow samples: {why} (counted as drops)");
    }
    Ok(())
}
