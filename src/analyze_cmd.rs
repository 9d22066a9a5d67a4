//! `pktsample analyze`: its arguments, and the run from files to a
//! rendered report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use pktsample_analyze::Section;
use pktsample_schemas::Direction;

use pktsample_schemas::output::AtomicFile;

use crate::parse::parse_size;
use crate::shared::{AsnDb, Force, K8s, Quiet, Window};

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Samples files (.parquet, .pcapng; a plain .pcap/.pcapng counts as
    /// rate 1), directories or globs.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    #[command(flatten)]
    window: Window,
    /// Only this interface (repeatable).
    #[arg(long = "interface", short = 'i', value_name = "IF")]
    interfaces: Vec<String>,
    /// Only this host (repeatable): a dataset's other host partitions are
    /// not opened, other files not read.
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// Only this direction (repeatable).
    #[arg(long = "direction", value_enum, value_name = "DIR")]
    directions: Vec<DirectionArg>,
    /// Time series bucket width, e.g. 10s, 1m (default: about 60 buckets).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "TIME")]
    interval: Option<std::time::Duration>,
    /// Rows in the top-N sections.
    #[arg(long, default_value_t = 10, value_name = "N")]
    top: usize,
    /// Sections to show, comma-separated (default: all; the per-AS ones,
    /// src-as to as-ipv6, with --asn-db).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "SECTIONS")]
    by: Vec<Section>,
    #[command(flatten)]
    asn: AsnDb,
    #[command(flatten)]
    k8s: K8s,
    /// Network policies to judge the samples by (`kubectl get
    /// networkpolicy -A -o json`, or a proposal; repeatable): the denied
    /// section estimates what they would cut, per workload pair. With the
    /// policies of the --k8s snapshots; one here replaces a snapshot's of
    /// the same namespace and name.
    #[arg(long = "k8s-policy", value_name = "FILE")]
    k8s_policy: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: FormatArg,
    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write the report as one self-contained HTML page (charts with
    /// their intervals, sortable tables) to this file.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    force: Force,
    /// Memory analyze may use, e.g. 1GiB, 512MB (default: half the RAM):
    /// past it the address tables spill to temporary files, and the report
    /// is the same. Reading takes about 200 MiB per thread of it (half at
    /// most); below 800 MiB on two threads, expect that much more.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub memory_limit: Option<u64>,

    /// Directory for spill files (default: $TMPDIR or /tmp).
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,

    /// Read Parquet inputs as rows only, as if another tool had written
    /// them: Horvitz-Thompson by each row's rate, interface names and time
    /// span from the rows, no pools (what a file rewritten by DuckDB or
    /// polars gets).
    #[arg(long)]
    pub ignore_metadata: bool,

    /// Compute every section on the innermost IP header: the one inside a
    /// tunnel (VXLAN, Geneve, GRE, IP in IP, GTP-U, ...), the outer one
    /// where a sample has no tunnel.
    #[arg(long)]
    pub inner: bool,

    /// Read the samples even where a dataset's rollups (`pktsample
    /// rollup`) would serve the report (the report is the same).
    #[arg(long)]
    pub no_rollup: bool,

    #[command(flatten)]
    quiet: Quiet,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum DirectionArg {
    Ingress,
    Egress,
    Unknown,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum FormatArg {
    Table,
    Json,
    Csv,
    Markdown,
    /// One self-contained page with charts (write it with -o).
    Html,
}

/// The sections to compute: `--by`'s (default: all), the per-AS ones
/// only with an ASN database, and the Kubernetes ones by default only
/// with snapshots (asked for by name without them, they read the samples'
/// own Kubernetes columns).
fn sections(a: &AnalyzeArgs) -> anyhow::Result<pktsample_analyze::Sections> {
    let mut sections = crate::parse::chosen(&a.by, pktsample_analyze::Sections::DEFAULT);
    if a.asn.paths.is_empty() {
        if !a.by.is_empty() && sections.any_as() {
            bail!("--by: the per-AS sections need an ASN database: add --asn-db FILE");
        }
        sections = sections.without_as();
    }
    if a.k8s.paths.is_empty() && a.by.is_empty() {
        sections = sections.without_k8s();
    }
    if !a.k8s_policy.is_empty() && a.k8s.paths.is_empty() {
        bail!(
            "--k8s-policy: policies select pods by their labels: give the cluster's snapshots with --k8s FILE"
        );
    }
    if a.k8s_policy.is_empty() {
        if !a.by.is_empty() && sections.has(Section::Denied) {
            bail!(
                "--by denied: give the network policies to judge the samples by with --k8s-policy FILE"
            );
        }
        sections = sections.without(Section::Denied);
    }
    Ok(sections)
}

/// The report to `-o` (else standard output) in `--format`, and the page
/// to `--html`.
fn write_outputs(
    report: &pktsample_analyze::report::Report,
    format: FormatArg,
    out: Option<AtomicFile>,
    html: Option<(AtomicFile, &PathBuf)>,
) -> anyhow::Result<()> {
    use pktsample_analyze::report::{Csv, Html, Json, Markdown, Render, Table};
    let renderer: &dyn Render = match format {
        FormatArg::Table => &Table,
        FormatArg::Json => &Json,
        FormatArg::Csv => &Csv,
        FormatArg::Markdown => &Markdown,
        FormatArg::Html => &Html,
    };
    if let Some((f, path)) = html {
        let mut w = f.writer()?;
        Html.render(report, &mut w)?;
        f.commit(w)?;
        eprintln!("pktsample: wrote the HTML report to {}", path.display());
    }
    match out {
        Some(f) => {
            let mut w = f.writer()?;
            renderer.render(report, &mut w)?;
            f.commit(w)?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            renderer.render(report, &mut lock)?;
        }
    }
    Ok(())
}

pub fn analyze_cmd(a: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    use pktsample_analyze::Query;

    let sections = sections(&a)?;
    let k8s = a.k8s.load()?;
    let policy = match (&k8s, a.k8s_policy.is_empty()) {
        (Some(c), false) => {
            let p = pktsample_k8s::Policies::load(c.clone(), &a.k8s_policy)?;
            Some(std::sync::Arc::new(p) as std::sync::Arc<dyn pktsample_schemas::PolicyCheck>)
        }
        _ => None,
    };
    a.window.check()?;
    let interval = crate::parse::interval_ns(a.interval)?;
    if a.top == 0 {
        bail!("--top must be at least 1");
    }
    // Check the output before the work.
    let out = match &a.output {
        Some(p) => Some(AtomicFile::create(p, a.force.on)?),
        None => None,
    };
    if a.output.is_some() && a.output == a.html {
        bail!("--html: the page would overwrite the -o report: give it another file name");
    }
    let html = match &a.html {
        Some(p) => Some((AtomicFile::create(p, a.force.on)?, p)),
        None => None,
    };
    let q = Query {
        inputs: pktsample_analyze::inputs::expand(
            &a.inputs,
            &pktsample_analyze::inputs::Prune {
                from: a.window.from,
                to: a.window.to,
                hosts: a.hosts.clone(),
            },
        )?,
        from: a.window.from,
        to: a.window.to,
        interfaces: a.interfaces,
        hosts: a.hosts,
        directions: a
            .directions
            .iter()
            .map(|d| match d {
                DirectionArg::Ingress => Direction::Ingress,
                DirectionArg::Egress => Direction::Egress,
                DirectionArg::Unknown => Direction::Unknown,
            })
            .collect(),
        interval,
        sections,
        asn: a.asn.load()?,
        k8s: k8s.map(|c| c as std::sync::Arc<dyn pktsample_schemas::Attribute>),
        policy,
        memory_limit: a.memory_limit,
        temp_dir: a.temp_dir,
        ignore_metadata: a.ignore_metadata,
        inner: a.inner,
        rollups: !a.no_rollup,
    };
    let bar = (!a.quiet.on && std::io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} analyze {human_pos} samples {per_sec}",
            )
            .expect("valid template"),
        );
        pb
    });
    let progress = |n: u64| {
        if let Some(pb) = &bar {
            pb.inc(n);
        }
    };
    let analysis = pktsample_analyze::run(&q, &progress)?;
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    if analysis.from_rollups() && !a.quiet.on {
        let n = analysis.inputs.iter().filter(|i| !i.skipped).count();
        eprintln!(
            "analyze: read the rollups of {n} parts, not their samples (--no-rollup reads the samples)"
        );
    }
    let report = pktsample_analyze::report(&analysis, a.top)?;
    write_outputs(&report, a.format, out, html)?;
    Ok(ExitCode::SUCCESS)
}
