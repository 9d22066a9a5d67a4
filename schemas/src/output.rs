//! Output files that appear whole or not at all.
//!
//! Every output is written under a hidden temporary name in the destination
//! directory and renamed into place only when complete, so a failed or killed
//! run never leaves half a file and never clobbers an existing one. Without
//! `force`, the final rename refuses to replace a file that appeared meanwhile.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::FormatError;

/// A file being written under a temporary name.
pub struct AtomicFile {
    path: PathBuf,
    force: bool,
    tmp: NamedTempFile,
}

impl AtomicFile {
    /// Check the destination and open a temporary file beside it.
    pub fn create(path: &Path, force: bool) -> Result<Self, FormatError> {
        if !force && path.symlink_metadata().is_ok() {
            return Err(FormatError::OutputExists { path: path.into() });
        }
        if path.is_dir() {
            return Err(FormatError::Write {
                path: path.into(),
                detail: "is a directory; give a file name".into(),
            });
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(FormatError::Write {
                path: path.into(),
                detail: format!("directory {} does not exist", dir.display()),
            });
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| FormatError::Write {
                path: path.into(),
                detail: format!("cannot create a file in {}: {e}", dir.display()),
            })?;
        Ok(AtomicFile {
            path: path.into(),
            force,
            tmp,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A buffered writer on the temporary file.
    pub fn writer(&self) -> Result<BufWriter<File>, FormatError> {
        let f = self
            .tmp
            .as_file()
            .try_clone()
            .map_err(|e| FormatError::io(&self.path, e))?;
        Ok(BufWriter::with_capacity(1 << 20, f))
    }

    /// Flush to disk and move into place.
    pub fn commit(self, mut w: BufWriter<File>) -> Result<PathBuf, FormatError> {
        let path = self.path.clone();
        let werr = |e: std::io::Error| FormatError::Write {
            path: path.clone(),
            detail: format!("writing failed: {e}"),
        };
        w.flush().map_err(werr)?;
        let f = w.into_inner().map_err(|e| werr(e.into_error()))?;
        f.sync_all().map_err(werr)?;
        let persisted = if self.force {
            self.tmp.persist(&path).map(|_| ())
        } else {
            self.tmp.persist_noclobber(&path).map(|_| ())
        };
        persisted.map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                FormatError::OutputExists { path: path.clone() }
            } else {
                werr(e.error)
            }
        })?;
        Ok(path)
    }
}
