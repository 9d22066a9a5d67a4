//! The dataset commands: `pktsample sql` prints the report's queries for
//! an engine, `pktsample enrich` fills a dataset's AS and Kubernetes columns in place.

use std::process::ExitCode;

use anyhow::bail;
use pktsample_analyze::Section;
use pktsample_analyze::catalog::{self, queries};
use pktsample_analyze::sql::{Dialect, Scope};

use crate::parse::chosen;
use crate::shared::{self, AsnDb, K8s, Window};

#[derive(clap::Args, Debug)]
pub struct SqlArgs {
    /// The dataset's root directory (what `capture`/`collect -o DIR/`
    /// write), as the engine will see it.
    #[arg(value_name = "DATASET")]
    dataset: String,
    /// The engine.
    #[arg(long, value_enum, value_name = "ENGINE")]
    dialect: Dialect,
    /// Sections, comma-separated, as analyze's --by (default: every one
    /// with an SQL form but the per-AS sections, which need an enriched
    /// dataset: add src-as, dst-as, remote-as, as-pairs, as-ipv6).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "SECTIONS")]
    by: Vec<Section>,
    /// Time series bucket width, e.g. 10s, 1m (default: analyze's, about
    /// 60 buckets over the span).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "TIME")]
    interval: Option<std::time::Duration>,
    /// Rows in the top-N sections.
    #[arg(long, default_value_t = 10, value_name = "N")]
    top: usize,
    /// Every section on the innermost IP header, as analyze's --inner
    /// (needs parts of schema 1.4 or later).
    #[arg(long)]
    inner: bool,
    #[command(flatten)]
    window: Window,
    /// Only this host (repeatable).
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// How to print the statements.
    #[arg(long, value_enum, default_value = "sql", value_name = "FORMAT")]
    format: SqlFormat,
    /// Read the dataset's rollups (`pktsample rollup`) instead of its
    /// samples: the sections rollups answer (summary, protocols,
    /// interfaces, time-series, packet-sizes), without --from/--to or
    /// --inner, the time series' bucket a multiple of a minute.
    #[arg(long)]
    rollup: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SqlFormat {
    /// Statements separated by `;`, each section's after a `-- section:`
    /// comment.
    Sql,
    /// A list of {section, sql}.
    Json,
}

pub fn sql_cmd(a: SqlArgs) -> anyhow::Result<ExitCode> {
    // Without --by: analyze's default sections without its databases (the
    // per-AS and Kubernetes ones read an enriched dataset's columns: ask
    // for them with --by).
    let sections = chosen(
        &a.by,
        catalog::with_sql()
            .without_as()
            .without_k8s()
            .minus(pktsample_analyze::Sections::CONVERSATIONS),
    );
    if let Some(s) = a.by.iter().find(|s| catalog::descriptor(**s).sql.is_none()) {
        bail!(
            "--by: the {} section has no SQL form yet; run `pktsample analyze --by {}` on the dataset",
            s.name(),
            s.name()
        );
    }
    let interval = crate::parse::interval_ns(a.interval)?;
    if a.top == 0 {
        bail!("--top must be at least 1");
    }
    if a.rollup {
        rollup_allows(&a, sections, interval)?;
    }
    let scope = Scope {
        rollup: a.rollup,
        dialect: a.dialect,
        from: a.window.from,
        to: a.window.to,
        hosts: a.hosts,
        interval,
        inner: a.inner,
    };
    let stmts = queries(&scope, &a.dataset, sections, a.top)
        .map_err(|e| anyhow::anyhow!("--rollup: {e}; run without --rollup"))?;
    match a.format {
        SqlFormat::Sql => {
            for s in &stmts {
                out!("-- section: {}\n{};\n", s.section, s.sql);
            }
        }
        SqlFormat::Json => {
            let v: Vec<serde_json::Value> = stmts
                .iter()
                .map(|s| serde_json::json!({"section": s.section, "sql": s.sql}))
                .collect();
            out!("{}", serde_json::to_string_pretty(&v)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `sql --rollup` cannot do, named by its flag.
fn rollup_allows(
    a: &SqlArgs,
    sections: pktsample_analyze::Sections,
    interval: Option<i64>,
) -> anyhow::Result<()> {
    use pktsample_analyze::engine::rollup::{BASE_NS, SECTIONS};
    if let Some(s) = sections.iter().find(|s| !SECTIONS.has(*s)) {
        bail!(
            "--rollup: the {} section needs the samples; give --by from summary, protocols, interfaces, time-series, packet-sizes",
            s.name()
        );
    }
    if a.window.from.is_some() || a.window.to.is_some() {
        bail!(
            "--rollup: --from/--to cut the parts, which the rollups sum whole; run without --rollup"
        );
    }
    if a.inner {
        bail!("--rollup: --inner needs the samples' inner headers; run without --rollup");
    }
    if interval.is_none() && sections.has(pktsample_analyze::Section::TimeSeries) {
        bail!(
            "--rollup: give the time series' --interval (a multiple of 1m): the automatic one may be finer than the rollups' minute"
        );
    }
    if let Some(iv) = interval.filter(|iv| iv % BASE_NS != 0) {
        bail!(
            "--interval: {} s is not a multiple of the rollups' minute; give a multiple of 1m",
            iv as f64 / 1e9
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct EnrichArgs {
    /// The dataset's root directory.
    #[arg(value_name = "DATASET")]
    dataset: std::path::PathBuf,
    #[command(flatten)]
    asn: AsnDb,
    #[command(flatten)]
    k8s: K8s,
}

/// `pktsample enrich`: the AS and Kubernetes columns of every part of a
/// dataset, in place.
pub fn enrich_cmd(a: EnrichArgs) -> anyhow::Result<ExitCode> {
    if !a.dataset.is_dir() {
        bail!(
            "{}: not a dataset directory (give the DIR that capture/collect -o DIR/ wrote)",
            a.dataset.display()
        );
    }
    let with = shared::enrichment(&a.asn, &a.k8s)?;
    if with.is_empty() {
        bail!(
            "--asn-db, --k8s: give the IP-to-AS database or the cluster snapshots to fill the columns from"
        );
    }
    let (mut n, mut rows) = (0u64, 0u64);
    let parts = pktsample_schemas::dataset::enrich(&a.dataset, &with, &mut |_, r| {
        n += 1;
        rows += r;
    })?;
    if parts == 0 {
        bail!(
            "{}: holds no part (*.parquet under date=/host=)",
            a.dataset.display()
        );
    }
    out!(
        "enriched {n} parts ({rows} samples) in {}",
        a.dataset.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct RollupArgs {
    /// The dataset's root directory.
    #[arg(value_name = "DATASET")]
    dataset: std::path::PathBuf,
    /// Roll up every part again, fresh rollups too.
    #[arg(long)]
    again: bool,
    /// Also the per-AS sections' sums, through this database (what
    /// analyze --asn-db with the same files then reads from the rollups).
    #[command(flatten)]
    asn: AsnDb,
}

/// `pktsample rollup`: each part's sums for the fixed-key sections, in
/// DIR/_rollup/, which analyze then reads instead of the samples where
/// they serve the report.
pub fn rollup_cmd(a: RollupArgs) -> anyhow::Result<ExitCode> {
    if !a.dataset.is_dir() {
        bail!(
            "{}: not a dataset directory (give the DIR that capture/collect/convert -o DIR/ wrote)",
            a.dataset.display()
        );
    }
    let asn = a.asn.load()?;
    let d =
        pktsample_analyze::engine::rollup::dataset(&a.dataset, a.again, asn.as_ref(), &|_, _| {})?;
    if d.rolled + d.fresh == 0 {
        bail!(
            "{}: holds no part (*.parquet under date=/host=)",
            a.dataset.display()
        );
    }
    out!(
        "rolled up {} parts ({} samples); {} already fresh; {} orphaned rollups removed; in {}",
        d.rolled,
        d.samples,
        d.fresh,
        d.removed,
        a.dataset
            .join(pktsample_schemas::dataset::ROLLUP_DIR)
            .display()
    );
    Ok(ExitCode::SUCCESS)
}
