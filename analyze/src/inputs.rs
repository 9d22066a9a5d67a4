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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), AnalyzeError> {
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
            walk(&p, out)?;
        } else if is_sample_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Expand inputs: a file is taken as given; a directory contributes its
/// `.parquet`, `.pcapng` and `.pcap` files (recursively, hidden ones
/// skipped); anything with `*`, `?` or `[` is a glob. Each file once.
pub fn expand(inputs: &[String]) -> Result<Vec<PathBuf>, AnalyzeError> {
    let mut out = Vec::new();
    for i in inputs {
        let p = Path::new(i);
        if p.is_dir() {
            let before = out.len();
            walk(p, &mut out)?;
            if out.len() == before {
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
