//! Analyze errors: each names the file, pattern or flag at fault.

use pktsample_schemas::FormatError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("no input files: give sample files (.parquet, .pcapng, .pcap), directories or globs")]
    NoInputs,
    #[error("{pattern}: matches no file")]
    NothingMatches { pattern: String },
    #[error("{dir}: no partition of the dataset matches --from/--to/--host; widen them")]
    AllPruned { dir: String },
    #[error("{pattern}: {detail}")]
    BadPattern { pattern: String, detail: String },
    #[error("{flag}: {detail}")]
    Flag { flag: &'static str, detail: String },
    #[error("{}: {source}; pass --temp-dir with room for the spill, or a larger --memory-limit", dir.display())]
    Spill {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("samples: {0}")]
    Schema(String),
}
