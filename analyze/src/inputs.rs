//! Turning the command line's inputs (files, directories, globs) into files.

use std::path::{Path, PathBuf};

use crate::error::AnalyzeError;

fn is_sample_file(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("parquet" | "pcapng" | "pcap")
    )
}

/// Which partitions of a dataset (`date=…`, `host=…` directories) can
/// hold what the query asks for: the others are not opened.
#[derive(Clone, Debug, Default)]
pub struct Prune {
    /// The time filter, ns since the epoch: `from <= t < to`.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Hosts asked for (empty: all).
    pub hosts: Vec<String>,
}

impl Prune {
    /// Whether a directory named `name` may hold wanted samples.
    pub fn keeps(&self, name: &str) -> bool {
        use pktsample_schemas::dataset::{DAY_NS, parse_date, partition_value};
        if let Some(day) = partition_value(name, "date").and_then(|v| parse_date(&v)) {
            let (a, b) = (day * DAY_NS, (day + 1) * DAY_NS);
            if self.from.is_some_and(|f| b <= f) || self.to.is_some_and(|t| a >= t) {
                return false;
            }
        }
        if let Some(h) = partition_value(name, "host")
            && !self.hosts.is_empty()
            && !self.hosts.contains(&h)
        {
            return false;
        }
        true
    }
}

fn walk(dir: &Path, prune: &Prune, out: &mut Vec<PathBuf>) -> Result<(), AnalyzeError> {
    let rd = std::fs::read_dir(dir).map_err(|e| pktsample_schemas::FormatError::io(dir, e))?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            // Hidden files include pktsample's own temporary outputs.
            continue;
        }
        if p.is_dir() {
            // `_pools` (a dataset's pools table) and other `_` directories
            // are not samples, as in Hive and Spark.
            if !name.starts_with('_') && prune.keeps(name) {
                walk(&p, prune, out)?;
            }
        } else if is_sample_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Expand inputs: a file is taken as given; a directory contributes its
/// `.parquet`, `.pcapng` and `.pcap` files (recursively; hidden ones and
/// `_` directories skipped, and dataset partitions that `prune` rules out
/// not entered); anything with `*`, `?` or `[` is a glob. Each file once.
pub fn expand(inputs: &[String], prune: &Prune) -> Result<Vec<PathBuf>, AnalyzeError> {
    let mut out = Vec::new();
    for i in inputs {
        let p = Path::new(i);
        if p.is_dir() {
            let before = out.len();
            walk(p, prune, &mut out)?;
            if out.len() == before {
                let mut any = Vec::new();
                if walk(p, &Prune::default(), &mut any).is_ok() && !any.is_empty() {
                    return Err(AnalyzeError::AllPruned { dir: i.clone() });
                }
                return Err(AnalyzeError::NothingMatches { pattern: i.clone() });
            }
        } else if i.contains(['*', '?', '[']) && !p.exists() {
            let paths = glob::glob(i).map_err(|e| AnalyzeError::BadPattern {
                pattern: i.clone(),
                detail: e.to_string(),
            })?;
            let mut found: Vec<PathBuf> = paths
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if found.is_empty() {
                return Err(AnalyzeError::NothingMatches { pattern: i.clone() });
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(p.to_path_buf());
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    Ok(out)
}
