//! `convert`: a samples file (Parquet or pcapng) or a plain capture to a
//! samples file of the current schema version.
//!
//! The metadata is complete only once the whole input has been read (a
//! pcapng input carries it at the end), so the writer starts with a
//! provisional copy (for the pcapng section header) and gets the real one
//! when it finishes.

use std::path::{Path, PathBuf};

use crate::enrichment::Enrichment;
use crate::error::FormatError;
use crate::input::{FileKind, sniff};
use crate::meta::{CaptureMetadata, Source};
use crate::samples::{SampleWriter, open_parquet, read_samples};
use crate::schema::SCHEMA_VERSION;

/// What a conversion wrote.
#[derive(Clone, Debug)]
pub struct ConvertSummary {
    pub output: PathBuf,
    pub rows: u64,
    pub metadata: CaptureMetadata,
}

/// Convert `input` into `output` (format by extension), filling the AS
/// columns with `enrich` when given.
pub fn convert(
    input: &Path,
    output: &Path,
    force: bool,
    enrich: Enrichment,
) -> Result<ConvertSummary, FormatError> {
    if same_file(input, output) {
        return Err(FormatError::Write {
            path: output.into(),
            detail: "input and output are the same file; give another output".into(),
            source: None,
        });
    }
    let provisional = match sniff(input)? {
        FileKind::Parquet => open_parquet(input).ok().map(|(_, m)| m),
        _ => None,
    }
    .unwrap_or_else(|| {
        CaptureMetadata::new(
            Source::Capture {
                input: input.display().to_string(),
            },
            0,
        )
    });
    let mut w = SampleWriter::create_enriched(output, force, &provisional, enrich)?;
    let mut rows = 0u64;
    let mut meta = read_samples(input, |b| -> Result<(), FormatError> {
        rows += b.num_rows() as u64;
        w.write(&b)
    })?;
    // The output has every column of this version (older inputs' missing
    // columns are null).
    meta.schema_version = SCHEMA_VERSION.to_string();
    let output = w.finish(&meta)?;
    Ok(ConvertSummary {
        output,
        rows,
        metadata: meta,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
