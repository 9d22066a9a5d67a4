//! Errors of loading an ASN database. Each names the file (and the line, for
//! text formats) and says what to do.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AsnError {
    #[error("cannot read ASN database {}: {err} (check the --asn-db path)", path.display())]
    Io {
        path: PathBuf,
        #[source]
        err: std::io::Error,
    },

    #[error("ASN database {}: {what} (the file is truncated or corrupt: download it again)", path.display())]
    Corrupt { path: PathBuf, what: String },

    #[error(
        "{}:{line}: {what} (expected 'start end asn [country] [name]', 'prefix<TAB>length<TAB>asn' or 'prefix/len asn')",
        path.display()
    )]
    Line {
        path: PathBuf,
        line: usize,
        what: String,
    },

    #[error("ASN database {}: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },
}

impl AsnError {
    pub(crate) fn line(path: &std::path::Path, line: usize, what: impl Into<String>) -> Self {
        AsnError::Line {
            path: path.into(),
            line,
            what: what.into(),
        }
    }
}
