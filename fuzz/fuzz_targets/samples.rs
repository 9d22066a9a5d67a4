//! The samples reader on any file: a pktsample Parquet file (its footer,
//! schema and metadata JSON), a pcapng with pktsample options, or a capture;
//! and the reader of Parquet written by other tools (column types cast to
//! the samples schema's). An error or the rows; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use pktsample_schemas::{CaptureMetadata, FormatError, foreign, read_samples};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = CaptureMetadata::from_json(s);
    }
    let f = common::temp_file(data);
    let mut rows = 0usize;
    let _ = read_samples(f.path(), |b| -> Result<(), FormatError> {
        rows += b.num_rows();
        Ok(())
    });
    let _ = foreign::read_rows(f.path(), None, 1024, |b| -> Result<(), FormatError> {
        rows += b.num_rows();
        Ok(())
    });
});
