//! The samples reader on any file: a pktsample Parquet file (its footer,
//! schema and metadata JSON), a pcapng with pktsample options, or a capture.
//! An error or the rows; never a panic.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use pktsample_schemas::{CaptureMetadata, FormatError, read_samples};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = CaptureMetadata::from_json(s);
    }
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let mut f = tempfile::Builder::new()
        .prefix("pktsample-fuzz-")
        .tempfile_in(dir)
        .expect("temp file");
    f.write_all(data).expect("write");
    let mut rows = 0usize;
    let _ = read_samples(f.path(), |b| -> Result<(), FormatError> {
        rows += b.num_rows();
        Ok(())
    });
});
