//! Where a capture's or a collector's parts go: one file, numbered parts
//! (`run-0001.parquet`, …) with `--rotate`, or, when `-o` names a directory
//! (`-o DIR/`), the partitioned dataset of [`pktsample_schemas::dataset`]:
//! each part in its `date=`/`host=` partition, cut at midnight UTC so a
//! date partition holds exactly that day's samples, with its pools table
//! written once the part is in place.

use std::path::{Path, PathBuf};

use pktsample_schemas::dataset;
use pktsample_schemas::{CaptureMetadata, FormatError};

/// Path of part `n` (1-based) when rotating: `run.parquet` → `run-0001.parquet`.
pub fn part_path(output: &Path, n: u32) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = output
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!("{stem}-{n:04}.{ext}"))
}

/// The output layout of a run.
#[derive(Clone, Debug)]
pub enum Layout {
    /// One file.
    File(PathBuf),
    /// `--rotate`: numbered parts beside the name given.
    Numbered(PathBuf),
    /// `-o DIR/`: the partitioned dataset rooted there.
    Dataset(PathBuf),
}

impl Layout {
    pub fn new(output: &Path, rotate: bool) -> Layout {
        if dataset::is_root(output) {
            Layout::Dataset(output.to_path_buf())
        } else if rotate {
            Layout::Numbered(output.to_path_buf())
        } else {
            Layout::File(output.to_path_buf())
        }
    }

    /// The path of part `n` of `host`, opened now (`now_ns`).
    pub fn part(&self, host: &str, n: u32, now_ns: i64) -> Result<PathBuf, FormatError> {
        match self {
            Layout::File(p) => Ok(p.clone()),
            Layout::Numbered(p) => Ok(part_path(p, n)),
            Layout::Dataset(root) => {
                std::fs::create_dir_all(root).map_err(|e| {
                    FormatError::write_io(root, "cannot create the dataset directory", e)
                })?;
                dataset::part_path(root, host, now_ns, n)
            }
        }
    }

    /// Whether a part opened at `opened_ns` must end now (`now_ns`): a
    /// dataset's parts end at midnight UTC.
    pub fn day_ended(&self, opened_ns: i64, now_ns: i64) -> bool {
        matches!(self, Layout::Dataset(_)) && dataset::day_of(opened_ns) != dataset::day_of(now_ns)
    }

    /// A part is complete at `path` with `meta`: a dataset's gets its pools.
    pub fn committed(
        &self,
        path: &Path,
        meta: &CaptureMetadata,
        force: bool,
    ) -> Result<(), FormatError> {
        if let Layout::Dataset(root) = self {
            dataset::write_pools(root, path, meta, force)?;
        }
        Ok(())
    }
}

/// The wall clock in ns since the epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_name_their_parts() {
        assert_eq!(
            part_path(Path::new("/tmp/run.parquet"), 3),
            PathBuf::from("/tmp/run-0003.parquet")
        );
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ds/");
        let l = Layout::new(Path::new(&format!("{}/", root.display())), true);
        let p = l.part("edge/1", 2, 1_764_547_200_000_000_000).unwrap();
        let rel = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            rel,
            "date=2025-12-01/host=edge%2F1/part-20251201T000000Z-0002.parquet"
        );
        assert!(l.day_ended(1_764_547_199_000_000_000, 1_764_547_200_000_000_000));
        assert!(!Layout::new(Path::new("x.parquet"), true).day_ended(0, 1 << 62));
    }
}
