//! Errors of the file formats. Each names the file (and the byte offset where
//! one applies) and, where there is one, what the user can do about it.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FormatError {
    // The underlying errors are part of the message and also the `source`
    // (so library users can match on their kind); the binary's one-line
    // report prints a source only when the message does not hold it yet.
    #[error("{}: {err}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        err: std::io::Error,
    },
    #[error("{}: the file is empty", path.display())]
    Empty { path: PathBuf },
    #[error(
        "{}: not a pcap, pcapng or Parquet file (first bytes {magic}); give a capture or a pktsample samples file",
        path.display()
    )]
    UnknownFormat { path: PathBuf, magic: String },
    #[error("{}: this is a {found} file, expected {expected}", path.display())]
    WrongFormat {
        path: PathBuf,
        found: &'static str,
        expected: &'static str,
    },
    #[error("{}: truncated at byte offset {offset} ({detail}); the capture was cut short", path.display())]
    Truncated {
        path: PathBuf,
        offset: u64,
        detail: String,
    },
    #[error("{}: corrupt at byte offset {offset}: {detail}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        detail: String,
    },
    #[error(
        "{}: no packets of a link type pktsample reads (link type {}); it reads Ethernet (1), Linux cooked SLL (113) and SLL2 (276), raw IP (101, 228, 229) and BSD loopback (0, 108)",
        path.display(),
        linktypes.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ")
    )]
    UnsupportedLinktype { path: PathBuf, linktypes: Vec<u32> },
    #[error("{}: not a pktsample samples file: {reason}", path.display())]
    NotSamples { path: PathBuf, reason: String },
    #[error(
        "{}: written with samples schema {version}, newer than this pktsample reads ({supported}.x); upgrade pktsample",
        path.display()
    )]
    NewerSchema {
        path: PathBuf,
        version: String,
        supported: u32,
    },
    #[error("{}: not a readable Parquet file: {err}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        err: parquet::errors::ParquetError,
    },
    #[error("{}: {detail}", path.display())]
    Write {
        path: PathBuf,
        detail: String,
        #[source]
        source: Option<std::io::Error>,
    },
    #[error(
        "{}: {source}; the file was closed at its last complete part ({kept} samples kept; {lost} written after it are lost and counted as drops); free some space and capture again",
        path.display()
    )]
    DiskFull {
        path: PathBuf,
        kept: u64,
        lost: u64,
        source: std::io::Error,
    },
    #[error("{}: already exists; pass --force to overwrite it", path.display())]
    OutputExists { path: PathBuf },
    #[error(
        "{}: unknown output extension; use .parquet or .pcapng",
        path.display()
    )]
    UnknownExtension { path: PathBuf },
    #[error("samples schema: {0}")]
    Schema(String),
}

impl FormatError {
    pub fn io(path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        FormatError::Io {
            path: path.into(),
            err,
        }
    }

    /// Writing `path` failed with `err` while doing `what`.
    pub fn write_io(path: impl Into<PathBuf>, what: &str, err: std::io::Error) -> Self {
        FormatError::Write {
            path: path.into(),
            detail: format!("{what}: {err}"),
            source: Some(err),
        }
    }

    /// The disk (or a quota) is full.
    pub fn is_disk_full(&self) -> bool {
        let io = match self {
            FormatError::Write {
                source: Some(e), ..
            }
            | FormatError::Io { err: e, .. } => e,
            _ => return false,
        };
        matches!(
            io.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ) || matches!(io.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
    }
}

/// An error and its sources on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
