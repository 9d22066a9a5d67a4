//! What several commands share: the flags they all spell the same way
//! (defined once, flattened into each command's arguments), the ASN
//! database loaders, and the lines of a run's summary that more than one
//! command prints.

use std::path::PathBuf;
use std::sync::Arc;

use pktsample_schemas::CaptureMetadata;

use crate::parse::parse_time;

/// `--force`: replace outputs that exist (never without it).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Force {
    /// Replace the output files if they exist.
    #[arg(id = "force", long = "force")]
    pub on: bool,
}

/// `-q`, `--quiet`: no progress bar or status line.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Quiet {
    /// No progress bar or status line.
    #[arg(id = "quiet", long = "quiet", short = 'q')]
    pub on: bool,
}

/// `--from` and `--to`: the time window of the samples read.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Window {
    /// Only samples at or after this time (RFC 3339, e.g. 2026-11-21T05:00:00Z).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub from: Option<i64>,
    /// Only samples before this time (RFC 3339).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub to: Option<i64>,
}

impl Window {
    /// A window that ends where it starts (or before) holds nothing: say so.
    pub fn check(&self) -> anyhow::Result<()> {
        if let (Some(f), Some(t)) = (self.from, self.to)
            && t <= f
        {
            anyhow::bail!("--to must be later than --from");
        }
        Ok(())
    }
}

/// `--asn-db`: IP-to-AS databases.
#[derive(clap::Args, Debug, Clone)]
pub struct AsnDb {
    /// IP-to-AS database (repeatable; later files override earlier ones
    /// for the same prefix): MaxMind DB (.mmdb), iptoasn/ip-location-db
    /// ranges, CAIDA pfx2as or prefix/len lists, gzip or plain. analyze
    /// reports per AS from it; capture, convert, collect and enrich fill
    /// the AS columns (src_as, dst_as, src_as_name, dst_as_name); without
    /// it, collect fills src_as and dst_as from an agent's extended
    /// gateway records.
    #[arg(long = "asn-db", value_name = "FILE")]
    pub paths: Vec<PathBuf>,
}

/// The AS columns of samples files, from an ASN database.
#[derive(Debug)]
struct AsnEnrich(Arc<pktsample_asn::AsDb>);

impl pktsample_schemas::Enrich for AsnEnrich {
    fn origin(&self, ip: std::net::IpAddr) -> (Option<u32>, Option<&str>) {
        let o = self.0.lookup(ip);
        (o.asn(), self.0.origin_name(o))
    }

    fn describe(&self) -> Vec<String> {
        self.0
            .files()
            .iter()
            .map(|f| format!("{} ({})", f.path.display(), f.format.as_str()))
            .collect()
    }
}

impl AsnDb {
    /// The databases for the per-AS sections (none: no per-AS data).
    pub fn load(&self) -> anyhow::Result<Option<Arc<pktsample_asn::AsDb>>> {
        if self.paths.is_empty() {
            return Ok(None);
        }
        Ok(Some(Arc::new(pktsample_asn::AsDb::load(&self.paths)?)))
    }

    /// The databases for the enrichment columns (none: no enrichment).
    pub fn enrich(&self) -> anyhow::Result<Option<Arc<dyn pktsample_schemas::Enrich>>> {
        Ok(self
            .load()?
            .map(|db| Arc::new(AsnEnrich(db)) as Arc<dyn pktsample_schemas::Enrich>))
    }
}

/// `--k8s` and `--k8s-time`: Kubernetes cluster snapshots.
#[derive(clap::Args, Debug, Clone)]
pub struct K8s {
    /// A cluster snapshot (repeatable): what `kubectl get pods -A -o json`
    /// writes, and optionally nodes, services, ReplicaSets and Jobs
    /// (`kubectl get nodes,svc,rs,jobs -A -o json`), network policies, and
    /// Cilium (`cilium-dbg endpoint list -o json`) or Calico endpoint
    /// dumps. Each sample is resolved against the snapshot valid at its
    /// timestamp. analyze reports per namespace and workload from them;
    /// capture, convert, collect and enrich fill the Kubernetes columns
    /// (src_namespace, src_workload, src_pod, src_node and dst_...).
    #[arg(id = "k8s", long = "k8s", value_name = "FILE")]
    pub paths: Vec<PathBuf>,
    /// When the snapshots were taken (RFC 3339; default: each file's
    /// modification time). Once for every --k8s file, or once per file in
    /// their order.
    #[arg(id = "k8s_time", long = "k8s-time", value_parser = parse_time, value_name = "TIME")]
    pub times: Vec<i64>,
}

impl K8s {
    /// The cluster (none without --k8s).
    pub fn load(&self) -> anyhow::Result<Option<Arc<pktsample_k8s::Cluster>>> {
        if self.paths.is_empty() {
            if !self.times.is_empty() {
                anyhow::bail!("--k8s-time: give the snapshots it dates with --k8s FILE");
            }
            return Ok(None);
        }
        let time = |i: usize| match self.times.len() {
            0 => Ok(None),
            1 => Ok(Some(self.times[0])),
            n if n == self.paths.len() => Ok(Some(self.times[i])),
            n => Err(anyhow::anyhow!(
                "--k8s-time: given {n} times for {} --k8s files: give one for all, or one per file",
                self.paths.len()
            )),
        };
        let sources = self
            .paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(pktsample_k8s::Source {
                    path: p.clone(),
                    time: time(i)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some(Arc::new(pktsample_k8s::Cluster::load(&sources)?)))
    }
}

/// What fills the enrichment columns of an output: `--asn-db` and `--k8s`.
pub fn enrichment(asn: &AsnDb, k8s: &K8s) -> anyhow::Result<pktsample_schemas::Enrichment> {
    Ok(pktsample_schemas::Enrichment {
        asn: asn.enrich()?,
        k8s: k8s
            .load()?
            .map(|c| c as Arc<dyn pktsample_schemas::Attribute>),
    })
}

/// The time span a run's output covers.
pub fn print_span(m: &CaptureMetadata) -> std::io::Result<()> {
    if let (Some(a), Some(b)) = (&m.start_time, &m.end_time) {
        out!("  time      {a} .. {b}");
    }
    Ok(())
}

/// The records of the input that were skipped as bad, and the foreign
/// custom blocks, when there are any.
pub fn skipped_records(m: &CaptureMetadata) -> std::io::Result<()> {
    if m.bad_lengths > 0 {
        out!(
            "  skipped   {} records with a lying wire length (below the captured length or over 256 KiB)",
            m.bad_lengths
        );
    }
    if m.foreign_custom > 0 {
        out!(
            "  skipped   {} custom blocks or options of other programs",
            m.foreign_custom
        );
    }
    Ok(())
}
