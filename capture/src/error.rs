//! Capture errors: each names the flag, file or interface at fault.

use std::path::PathBuf;

use pktsample_schemas::FormatError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{flag}: {detail}")]
    Flag { flag: &'static str, detail: String },
    #[error(
        "{}: the file is already sampled at 1-in-{file_rate}; 1-in-{rate} on top overflows a 32-bit rate",
        input.display()
    )]
    RateOverflow {
        input: PathBuf,
        file_rate: u32,
        rate: u32,
    },
}
