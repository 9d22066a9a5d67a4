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
                source: None,
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
                source: None,
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
                source: Some(e),
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

    /// Where the file is being written.
    pub fn tmp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// A buffered writer on the temporary file.
    pub fn writer(&self) -> Result<BufWriter<File>, FormatError> {
        Ok(BufWriter::with_capacity(1 << 20, self.handle()?))
    }

    /// Another handle on the temporary file (sharing its offset).
    pub fn handle(&self) -> Result<File, FormatError> {
        self.tmp
            .as_file()
            .try_clone()
            .map_err(|e| FormatError::io(&self.path, e))
    }

    /// The size of what is written so far.
    pub fn written_len(&self) -> Result<u64, FormatError> {
        self.tmp
            .as_file()
            .metadata()
            .map(|m| m.len())
            .map_err(|e| FormatError::io(&self.path, e))
    }

    /// Flush `w` to disk and move the file into place.
    pub fn commit(self, mut w: BufWriter<File>) -> Result<PathBuf, FormatError> {
        w.flush()
            .map_err(|e| FormatError::write_io(&self.path, "writing failed", e))?;
        drop(w);
        self.commit_written()
    }

    /// Sync what was written (through any handle) and move it into place.
    pub fn commit_written(self) -> Result<PathBuf, FormatError> {
        let path = self.path.clone();
        let werr = |e: std::io::Error| FormatError::write_io(&path, "writing failed", e);
        self.tmp.as_file().sync_all().map_err(werr)?;
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
