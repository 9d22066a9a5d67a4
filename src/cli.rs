//! Command-line interface: argument definitions and dispatch to the library
//! crates. Nothing here does real work beyond printing results.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use clap::{Parser, Subcommand};
use pktsample_capture::{ReplayOptions, fresh_seed, replay};
use pktsample_schemas::input::{FileKind, sniff};
use pktsample_schemas::{CaptureMetadata, SampleWriter, Source, open_parquet, read_samples};

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
    Convert(ConvertArgs),
}

#[derive(clap::Args, Debug)]
struct CaptureArgs {
    /// Capture file to sample offline (pcap or pcapng).
    #[arg(long, value_name = "IN.pcap|IN.pcapng")]
    replay: Option<PathBuf>,
    /// Take 1 packet in N at random (1 = every packet).
    #[arg(long, short = 'r', value_name = "N")]
    sampling_rate: u32,
    /// Seed of the random sampler (replay); the same seed gives the same
    /// output. Default: a fresh seed, recorded in the output's metadata.
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Bytes kept of each sampled packet, from the Ethernet header on.
    #[arg(long, default_value_t = 128, value_name = "BYTES")]
    snaplen: u32,
    /// Output samples file: .parquet or .pcapng.
    #[arg(short, long, value_name = "OUT.parquet|OUT.pcapng")]
    output: PathBuf,
    /// Replace the output if it exists.
    #[arg(long)]
    force: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct ConvertArgs {
    /// Samples file (.parquet or .pcapng) or plain capture (.pcap/.pcapng).
    input: PathBuf,
    /// Output: .parquet or .pcapng.
    #[arg(short, long)]
    output: PathBuf,
    /// Replace the output if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.cmd {
        Command::Capture(a) => capture(a),
        Command::Convert(a) => convert(a),
    }
}

fn capture(a: CaptureArgs) -> anyhow::Result<ExitCode> {
    let Some(input) = a.replay else {
        bail!(
            "live capture is not available in this build; give --replay FILE to sample a capture offline"
        );
    };
    let opts = ReplayOptions {
        input,
        output: a.output,
        sampling_rate: a.sampling_rate,
        seed: a.seed.unwrap_or_else(fresh_seed),
        snaplen: a.snaplen,
        force: a.force,
        progress: !a.quiet,
    };
    let s = replay(&opts)?;
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    println!("wrote {}", s.output.display());
    println!(
        "  read      {} packets, {} bytes from {} ({:.1} Mpkt/s)",
        s.packets_seen,
        s.bytes_seen,
        opts.input.display(),
        s.packets_seen as f64 / secs / 1e6
    );
    println!(
        "  sampled   {} packets at 1-in-{} (seed {})",
        s.samples, opts.sampling_rate, opts.seed
    );
    print_span(&s.metadata);
    for i in &s.metadata.interfaces {
        for (d, st) in &i.directions {
            println!(
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

fn print_span(m: &CaptureMetadata) {
    if let (Some(a), Some(b)) = (&m.start_time, &m.end_time) {
        println!("  time      {a} .. {b}");
    }
}

fn convert(a: ConvertArgs) -> anyhow::Result<ExitCode> {
    if same_file(&a.input, &a.output) {
        bail!(
            "{}: input and output are the same file; give another -o",
            a.output.display()
        );
    }
    // The metadata is complete only after the whole input has been read (a
    // pcapng input carries it at the end), so it is passed at finish; the
    // writer gets a provisional copy for the pcapng section header.
    let provisional = known_metadata(&a.input).unwrap_or_else(|| {
        CaptureMetadata::new(
            Source::Capture {
                input: a.input.display().to_string(),
            },
            0,
        )
    });
    let mut w = SampleWriter::create(&a.output, a.force, &provisional)?;
    let mut rows = 0u64;
    let meta = read_samples(&a.input, |b| -> anyhow::Result<()> {
        rows += b.num_rows() as u64;
        w.write(&b)?;
        Ok(())
    })?;
    let out = w.finish(&meta)?;
    println!("wrote {} ({rows} samples)", out.display());
    Ok(ExitCode::SUCCESS)
}

/// The metadata of a Parquet input, known before reading its rows.
fn known_metadata(input: &Path) -> Option<CaptureMetadata> {
    match sniff(input) {
        Ok(FileKind::Parquet) => open_parquet(input).ok().map(|(_, m)| m),
        _ => None,
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
