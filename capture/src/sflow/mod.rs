//! sFlow v5 both ways: `collect` receives datagrams from agents (switches,
//! the Host sFlow agent) and `convert` reads them from a capture, both into
//! samples files with exact pools ([`ingest`]); live capture sends them to
//! any sFlow collector ([`export`]).

use std::path::{Path, PathBuf};

use pktsample_schemas::samples::BATCH_ROWS;
use pktsample_schemas::{
    CaptureMetadata, Enrichment, FormatError, SampleBatchBuilder, SampleRow, SampleWriter,
    WriterOptions,
};

mod collect;
pub mod export;
pub mod ingest;
mod pcap;

pub use collect::{CollectEvent, CollectOptions, CollectSummary, collect};
pub use ingest::{Ingest, RowSink};
pub use pcap::{SflowConvertSummary, carries_sflow, convert_pcap};

/// Rows into a samples file, a batch at a time; the first write error is
/// kept and returned when the file is finished.
pub(crate) struct FileSink {
    builder: SampleBatchBuilder,
    writer: SampleWriter,
    error: Option<FormatError>,
    first_ns: Option<i64>,
    last_ns: Option<i64>,
    snaplen: u32,
    /// Header bytes written, a size estimate for `--rotate SIZE`.
    pub bytes: u64,
}

impl RowSink for FileSink {
    fn row(&mut self, r: &SampleRow<'_>, asns: Option<(u32, u32)>) {
        self.builder.push_with_as(r, asns);
        self.first_ns.get_or_insert(r.timestamp_ns);
        self.last_ns = Some(r.timestamp_ns);
        self.snaplen = self.snaplen.max(r.header.len() as u32);
        self.bytes += r.header.len() as u64 + 64;
        if self.builder.len() >= BATCH_ROWS {
            self.flush();
        }
    }
}

impl FileSink {
    /// A file at `path`; `salvage` keeps what is complete when the disk
    /// fills (for what cannot be made again: datagrams received).
    pub fn create(
        path: &Path,
        template: &CaptureMetadata,
        force: bool,
        enrich: Enrichment,
        salvage: bool,
    ) -> Result<Self, FormatError> {
        let writer = SampleWriter::with_options(
            path,
            template,
            WriterOptions {
                force,
                enrich,
                salvage,
                row_group_rows: None,
            },
        )?;
        Ok(FileSink {
            builder: SampleBatchBuilder::new(),
            writer,
            error: None,
            first_ns: None,
            last_ns: None,
            snaplen: 0,
            bytes: 0,
        })
    }

    fn flush(&mut self) {
        if self.builder.is_empty() {
            return;
        }
        if let Err(e) = self.writer.write(&self.builder.finish()) {
            self.error.get_or_insert(e);
        }
    }

    /// Write what is left and the metadata (`template` with this file's
    /// time range and header size), and move the file into place.
    pub fn finish(
        mut self,
        mut meta: CaptureMetadata,
    ) -> Result<(PathBuf, CaptureMetadata), FormatError> {
        self.flush();
        meta.set_time_range(self.first_ns, self.last_ns);
        meta.snaplen = self.snaplen;
        let done = self.writer.finish(&meta);
        match self.error {
            // The writer's own error (salvaged, where that applies) says more.
            Some(e) => Err(done.err().unwrap_or(e)),
            None => done.map(|p| (p, meta)),
        }
    }
}
