//! `pktsample convert`: a samples file between Parquet and pcapng, a plain
//! capture (or one carrying sFlow) into samples, or an archive of captures
//! into one dataset (`-o DIR/`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use pktsample_capture::replay::MAX_REPLAY_SNAPLEN;
use pktsample_capture::{ReplayOptions, replay};
use pktsample_schemas::input::{FileKind, sniff};
use pktsample_schemas::{Source, dataset};

use crate::sflow_cmd;
use crate::shared::{self, AsnDb, Force, K8s};

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// Samples file (.parquet or .pcapng) or plain capture (.pcap/.pcapng);
    /// with `-o DIR/`, any number of plain captures or globs
    /// ('archive/*.pcap.gz').
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    /// Output: .parquet or .pcapng, or a dataset directory (DIR/): parts
    /// in DIR/date=YYYY-MM-DD/host=NAME/ cut at midnight UTC of the
    /// captures' own clock, each with its pools.
    #[arg(short, long, value_name = "OUT|DIR/")]
    output: PathBuf,
    #[command(flatten)]
    force: Force,
    #[command(flatten)]
    asn: AsnDb,
    #[command(flatten)]
    k8s: K8s,
    /// Read the sFlow datagrams a capture carries on this UDP port (a
    /// capture with sFlow on port 6343 is recognised without it).
    #[arg(long, value_name = "PORT")]
    sflow_port: Option<u16>,
}

pub fn convert(a: ConvertArgs) -> anyhow::Result<ExitCode> {
    let enrich = shared::enrichment(&a.asn, &a.k8s)?;
    let many = a.inputs.len() > 1 || a.inputs[0].contains(['*', '?', '[']);
    if dataset::is_root(&a.output) {
        return into_dataset(&a, enrich);
    }
    if many {
        bail!(
            "-o {}: several inputs convert into a dataset only; give a directory (-o DIR/)",
            a.output.display()
        );
    }
    let input = Path::new(&a.inputs[0]);
    if sflow_cmd::is_sflow_input(input, a.sflow_port)? {
        let port = a.sflow_port.unwrap_or(pktsample_schemas::sflow::PORT);
        return sflow_cmd::convert_sflow(input, &a.output, port, a.force.on, enrich);
    }
    let s = pktsample_schemas::convert::convert(input, &a.output, a.force.on, enrich)?;
    out!("wrote {} ({} samples)", s.output.display(), s.rows);
    Ok(ExitCode::SUCCESS)
}

/// Every input a census (every packet a sample, as a plain capture's
/// conversion to a file is) into the parts of one dataset, numbered on
/// from one input to the next.
fn into_dataset(
    a: &ConvertArgs,
    enrich: pktsample_schemas::Enrichment,
) -> anyhow::Result<ExitCode> {
    let inputs = pktsample_analyze::inputs::expand(&a.inputs, &Default::default())?;
    // All checked before anything is written.
    for i in &inputs {
        let kind = sniff(i)?;
        if kind == FileKind::Parquet {
            bail!(
                "{}: a samples file; a dataset is made from plain captures (its pools \
                 cannot be cut by day): convert the capture it came from, or analyze the file beside the dataset",
                i.display()
            );
        }
        if a.sflow_port.is_some() || sflow_cmd::is_sflow_input(i, None)? {
            bail!(
                "{}: carries sFlow; `pktsample collect -o DIR/` makes a dataset of sFlow, convert -o DIR/ of plain captures",
                i.display()
            );
        }
    }
    let (mut parts, mut next, mut samples) = (Vec::<PathBuf>::new(), 1, 0);
    for input in inputs {
        let opts = ReplayOptions {
            source: Some(Source::Capture {
                input: input.display().to_string(),
            }),
            input,
            output: a.output.clone(),
            sampling_rate: 1,
            seed: 0,
            snaplen: MAX_REPLAY_SNAPLEN,
            force: a.force.on,
            enrich: enrich.clone(),
            rotate: None,
            first_part: next,
        };
        let s = replay(&opts, &mut |_| {})
            .with_context(|| format!("converting {} into the dataset", opts.input.display()))?;
        next = s.next_part;
        samples += s.samples;
        parts.extend(s.parts);
    }
    crate::cli::wrote(&a.output, &parts)?;
    out!("  {samples} samples (every packet of the captures)");
    Ok(ExitCode::SUCCESS)
}
