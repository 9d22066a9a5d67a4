//! Writing samples files, Parquet or pcapng by the output's extension.
//!
//! [`SampleWriter`] is the one sink every producer writes to. Encoding and
//! compression run on a thread of their own, fed through a short queue of
//! batches, so that the producer (decoding in replay, the ring buffer reader
//! in live capture) keeps the other core. Files are written under a
//! temporary name and renamed into place when complete; a writer created
//! with `salvage` (live capture) closes a file the disk filled at its last
//! complete row group or block instead (see [`crate::salvage`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::enrichment::{EnrichCaches, Enrichment};
use crate::error::FormatError;
use crate::meta::{CaptureMetadata, METADATA_KEY};
use crate::output::AtomicFile;
use crate::pcapng::PcapngSampleWriter;
use crate::record::SampleColumns;
use crate::salvage::Reserve;
use crate::schema::{col, samples_schema};

/// Rows per Arrow batch handed between stages.
pub const BATCH_ROWS: usize = 64 * 1024;
/// Rows per Parquet row group: large enough for good compression, small
/// enough that analyze has several groups to spread across threads.
pub const ROW_GROUP_ROWS: usize = 1024 * 1024;

/// Dictionary page limit of the address columns.
const ADDR_DICT_BYTES: usize = 16 << 20;

/// Output formats, chosen by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Parquet,
    Pcapng,
}

impl OutputFormat {
    pub fn from_path(path: &Path) -> Result<Self, FormatError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("parquet") => Ok(OutputFormat::Parquet),
            Some("pcapng") => Ok(OutputFormat::Pcapng),
            _ => Err(FormatError::UnknownExtension { path: path.into() }),
        }
    }
}

pub(crate) enum Inner {
    Parquet(ArrowWriter<BufWriter<Sink>>),
    Pcapng(PcapngSampleWriter<BufWriter<Sink>>),
}

/// The file under the encoders, which salvage can tell to take no more
/// bytes: an encoder dropped after its file was closed must not append what
/// it still buffers.
pub(crate) struct Sink {
    file: File,
    discard: Arc<AtomicBool>,
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.discard.load(Ordering::Relaxed) {
            return Ok(b.len());
        }
        self.file.write(b)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// How to write a samples file.
#[derive(Clone, Debug, Default)]
pub struct WriterOptions {
    /// Replace an existing file.
    pub force: bool,
    /// Fill the AS and Kubernetes columns of every batch (on the writer
    /// thread).
    pub enrich: Enrichment,
    /// When the disk fills, keep what is complete (a readable file, its
    /// metadata saying so) rather than nothing. For outputs that cannot be
    /// made again: live capture.
    pub salvage: bool,
    /// Rows per Parquet row group (default [`ROW_GROUP_ROWS`]).
    pub row_group_rows: Option<usize>,
}

/// Writes a samples file under a temporary name; [`SampleWriter::finish`]
/// adds the metadata and moves it into place.
pub struct SampleWriter {
    path: PathBuf,
    tx: Option<SyncSender<RecordBatch>>,
    worker: Option<JoinHandle<Result<SyncWriter, Failed>>>,
    enrich: Enrichment,
}

/// A writer that failed, kept for salvage.
pub(crate) struct Failed {
    pub error: FormatError,
    pub writer: Option<Box<SyncWriter>>,
}

impl From<FormatError> for Failed {
    fn from(error: FormatError) -> Self {
        Failed {
            error,
            writer: None,
        }
    }
}

/// Abandoning a writer (an error elsewhere) stops its thread, which removes
/// the temporary file: nothing half-written survives.
impl Drop for SampleWriter {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// The single-threaded writer the worker thread drives.
pub(crate) struct SyncWriter {
    pub file: AtomicFile,
    pub inner: Inner,
    /// Close the file at what is complete when the disk fills.
    pub salvage: bool,
    /// Room set aside for that (when the disk had it to give).
    pub reserve: Option<Reserve>,
    /// Set: the encoders' bytes go nowhere.
    pub discard: Arc<AtomicBool>,
}

/// Batches queued between producer and encoder.
const QUEUE_BATCHES: usize = 4;

impl SampleWriter {
    /// Create `path` (format by extension); refuses to replace an existing
    /// file unless `force`.
    pub fn create(path: &Path, force: bool, meta: &CaptureMetadata) -> Result<Self, FormatError> {
        Self::with_options(
            path,
            meta,
            WriterOptions {
                force,
                ..Default::default()
            },
        )
    }

    /// Like [`SampleWriter::create`], filling the AS columns of every batch
    /// with `enrich` (on the writer thread) and naming its databases in the
    /// metadata.
    pub fn create_enriched(
        path: &Path,
        force: bool,
        meta: &CaptureMetadata,
        enrich: Enrichment,
    ) -> Result<Self, FormatError> {
        Self::with_options(
            path,
            meta,
            WriterOptions {
                force,
                enrich,
                ..Default::default()
            },
        )
    }

    pub fn with_options(
        path: &Path,
        meta: &CaptureMetadata,
        opts: WriterOptions,
    ) -> Result<Self, FormatError> {
        let mut w = SyncWriter::create(path, meta, &opts)?;
        let (tx, rx) = sync_channel::<RecordBatch>(QUEUE_BATCHES);
        let e = opts.enrich.clone();
        let worker = std::thread::Builder::new()
            .name("pktsample-writer".into())
            .spawn(move || {
                let mut caches = EnrichCaches::default();
                for batch in rx {
                    let r = match e.is_empty() {
                        false => w.write(&e.apply(&batch, &mut caches)),
                        true => w.write(&batch),
                    };
                    if let Err(error) = r {
                        return Err(Failed {
                            error,
                            writer: Some(Box::new(w)),
                        });
                    }
                }
                Ok(w)
            })
            .map_err(|e| FormatError::io(path, e))?;
        Ok(SampleWriter {
            path: path.into(),
            tx: Some(tx),
            worker: Some(worker),
            enrich: opts.enrich,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queue a batch for writing. An error of an earlier batch is returned
    /// here or at [`SampleWriter::finish`].
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        let tx = self.tx.as_ref().expect("not finished");
        if tx.send(batch.clone()).is_ok() {
            return Ok(());
        }
        // The worker stopped: it failed. Its error comes (salvaged, where
        // that applies) from finish.
        Err(FormatError::Write {
            path: self.path.clone(),
            detail: "writing failed; see the final error".into(),
            source: None,
        })
    }

    fn join(&mut self) -> Result<SyncWriter, Failed> {
        self.tx = None;
        let worker = self.worker.take().ok_or_else(|| {
            Failed::from(FormatError::Write {
                path: self.path.clone(),
                detail: "the writer already failed".into(),
                source: None,
            })
        })?;
        worker
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    /// Write the metadata, close the file and rename it into place. When
    /// the disk filled and the writer salvages, the file is closed at what
    /// was complete and the error says so.
    pub fn finish(mut self, meta: &CaptureMetadata) -> Result<PathBuf, FormatError> {
        let mut meta = meta.clone();
        self.enrich.describe(&mut meta);
        let failed = match self.join() {
            Ok(w) => match w.finish(&meta) {
                Ok(p) => return Ok(p),
                Err(f) => f,
            },
            Err(f) => f,
        };
        match failed.writer {
            Some(w) if w.salvage && failed.error.is_disk_full() => {
                Err(crate::salvage::salvage(*w, &meta, failed.error))
            }
            _ => Err(failed.error),
        }
    }
}

fn parquet_props(row_group_rows: usize) -> WriterProperties {
    WriterProperties::builder()
        // The analysis columns decompress fast with Snappy; the header
        // bytes, most of the file and rarely read, compress better with zstd.
        .set_compression(Compression::SNAPPY)
        .set_column_compression(
            ColumnPath::from(col::HEADER),
            Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")),
        )
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_created_by(format!("pktsample {}", env!("CARGO_PKG_VERSION")))
        // The header bytes are nearly all distinct and nobody filters on
        // their minimum or maximum: no dictionary attempt, no statistics
        // (comparing every header with the page's bounds cost the encoder
        // time at rate 1).
        .set_column_dictionary_enabled(ColumnPath::from(col::HEADER), false)
        .set_column_statistics_enabled(ColumnPath::from(col::HEADER), EnabledStatistics::None)
        // Addresses as text sort neither as numbers nor as prefixes
        // ("9.9.9.9" > "10.0.0.0"): their bounds prune nothing.
        .set_column_statistics_enabled(ColumnPath::from(col::SRC_ADDR), EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from(col::DST_ADDR), EnabledStatistics::None)
        // Timestamps rise almost monotonically: delta encoding makes them a
        // few bits each, where a dictionary (or plain values) would not.
        .set_column_dictionary_enabled(ColumnPath::from(col::TIMESTAMP), false)
        // One dictionary per row group for the addresses, even with a
        // hundred thousand distinct ones (the 1 MiB default falls back to
        // plain pages): readers then parse and look up each distinct address
        // once per row group, not once per page.
        .set_column_dictionary_page_size_limit(ColumnPath::from(col::SRC_ADDR), ADDR_DICT_BYTES)
        .set_column_dictionary_page_size_limit(ColumnPath::from(col::DST_ADDR), ADDR_DICT_BYTES)
        .set_column_encoding(
            ColumnPath::from(col::TIMESTAMP),
            Encoding::DELTA_BINARY_PACKED,
        )
        .build()
}

/// A Parquet error on `path`, keeping an I/O cause as the source.
pub(crate) fn parquet_write_error(path: &Path, e: ParquetError) -> FormatError {
    let detail = format!("writing failed: {}", crate::error::chain(&e));
    let source = match e {
        ParquetError::External(b) => b.downcast::<std::io::Error>().ok().map(|b| *b),
        _ => None,
    };
    FormatError::Write {
        path: path.into(),
        detail,
        source,
    }
}

impl SyncWriter {
    fn create(
        path: &Path,
        meta: &CaptureMetadata,
        opts: &WriterOptions,
    ) -> Result<Self, FormatError> {
        let format = OutputFormat::from_path(path)?;
        let file = AtomicFile::create(path, opts.force)?;
        let discard = Arc::new(AtomicBool::new(false));
        let w = BufWriter::with_capacity(
            1 << 20,
            Sink {
                file: file.handle()?,
                discard: discard.clone(),
            },
        );
        let inner = match format {
            OutputFormat::Parquet => Inner::Parquet(
                ArrowWriter::try_new(
                    w,
                    samples_schema(),
                    Some(parquet_props(opts.row_group_rows.unwrap_or(ROW_GROUP_ROWS))),
                )
                .map_err(|e| parquet_write_error(path, e))?,
            ),
            OutputFormat::Pcapng => Inner::Pcapng(
                PcapngSampleWriter::new(w, meta)
                    .map_err(|e| FormatError::write_io(path, "writing failed", e))?,
            ),
        };
        let reserve = if opts.salvage {
            Reserve::create(path)
        } else {
            None
        };
        Ok(SyncWriter {
            file,
            inner,
            salvage: opts.salvage,
            reserve,
            discard,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        let path = self.file.path();
        match &mut self.inner {
            Inner::Parquet(w) => w.write(batch).map_err(|e| parquet_write_error(path, e)),
            Inner::Pcapng(w) => {
                let cols = SampleColumns::new(batch)?;
                for i in 0..cols.len() {
                    w.write(&cols.row(i)?)
                        .map_err(|e| FormatError::write_io(path, "writing failed", e))?;
                }
                Ok(())
            }
        }
    }

    fn finish(mut self, meta: &CaptureMetadata) -> Result<PathBuf, Failed> {
        let path = self.file.path().to_path_buf();
        let r = match &mut self.inner {
            Inner::Parquet(w) => {
                w.append_key_value_metadata(KeyValue::new(METADATA_KEY.into(), meta.to_json()));
                w.finish()
                    .map(|_| ())
                    .map_err(|e| parquet_write_error(&path, e))
            }
            Inner::Pcapng(w) => w
                .finish(meta)
                .map_err(|e| FormatError::write_io(&path, "writing failed", e)),
        };
        if let Err(error) = r {
            return Err(Failed {
                error,
                writer: Some(Box::new(self)),
            });
        }
        let flushed = match &mut self.inner {
            Inner::Parquet(w) => w.inner_mut().flush(),
            Inner::Pcapng(w) => w.get_mut().flush(),
        };
        if let Err(e) = flushed {
            return Err(Failed {
                error: FormatError::write_io(&path, "writing failed", e),
                writer: Some(Box::new(self)),
            });
        }
        // The reserve (if any) goes with `self`.
        Ok(self.file.commit_written()?)
    }
}
