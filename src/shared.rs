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
