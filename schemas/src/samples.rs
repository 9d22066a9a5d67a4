//! Samples files: writing Parquet or pcapng, and reading either back.
//!
//! [`SampleWriter`] is the one sink every producer writes to; the format comes
//! from the output's extension. [`read_samples`] is the one source every
//! consumer reads from: a pktsample Parquet file, a pktsample pcapng file, or
//! a plain pcap/pcapng capture (read as samples at rate 1).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::error::FormatError;
use crate::input::{CaptureReader, FileKind, Interface, Packet, Visitor, sniff};
use crate::meta::{
    CaptureMetadata, Direction, DirectionStats, InterfaceMeta, METADATA_KEY, Source,
};
use crate::output::AtomicFile;
use crate::pcapng::PcapngSampleWriter;
use crate::record::{
    Enrich, EnrichCache, SampleBatchBuilder, SampleColumns, SampleRow, conform,
    enrich as enrich_batch,
};
use crate::schema::{SCHEMA_MAJOR, col, samples_schema};

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

enum Inner {
    Parquet(ArrowWriter<BufWriter<File>>),
    Pcapng(PcapngSampleWriter<BufWriter<File>>),
}

/// Writes a samples file under a temporary name; [`SampleWriter::finish`]
/// adds the metadata and moves it into place.
///
/// Encoding and compression run on a thread of their own, fed through a short
/// queue of batches, so that the producer (decoding in replay, the ring buffer
/// reader in live capture) keeps the other core.
pub struct SampleWriter {
    path: PathBuf,
    tx: Option<SyncSender<RecordBatch>>,
    worker: Option<JoinHandle<Result<SyncWriter, FormatError>>>,
    enrich: Option<Arc<dyn Enrich>>,
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
struct SyncWriter {
    file: AtomicFile,
    inner: Inner,
}

/// Batches queued between producer and encoder.
const QUEUE_BATCHES: usize = 4;

impl SampleWriter {
    /// Create `path` (format by extension); refuses to replace an existing
    /// file unless `force`.
    pub fn create(path: &Path, force: bool, meta: &CaptureMetadata) -> Result<Self, FormatError> {
        Self::create_enriched(path, force, meta, None)
    }

    /// Like [`SampleWriter::create`], filling the AS columns of every batch
    /// with `enrich` (on the writer thread) and naming its databases in the
    /// metadata.
    pub fn create_enriched(
        path: &Path,
        force: bool,
        meta: &CaptureMetadata,
        enrich: Option<Arc<dyn Enrich>>,
    ) -> Result<Self, FormatError> {
        let mut w = SyncWriter::create(path, force, meta)?;
        let (tx, rx) = sync_channel::<RecordBatch>(QUEUE_BATCHES);
        let e = enrich.clone();
        let worker = std::thread::Builder::new()
            .name("pktsample-writer".into())
            .spawn(move || {
                let mut cache = EnrichCache::default();
                for batch in rx {
                    match &e {
                        Some(e) => w.write(&enrich_batch(&batch, e.as_ref(), &mut cache))?,
                        None => w.write(&batch)?,
                    }
                }
                Ok(w)
            })
            .map_err(|e| FormatError::io(path, e))?;
        Ok(SampleWriter {
            path: path.into(),
            tx: Some(tx),
            worker: Some(worker),
            enrich,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queue a batch for writing. An error of an earlier batch is returned
    /// here or at [`SampleWriter::finish`].
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        let tx = self.tx.as_ref().expect("not finished");
        if tx.send(batch.clone()).is_err() {
            // The worker stopped: it failed. Collect its error.
            return Err(self.join().err().unwrap_or_else(|| FormatError::Write {
                path: self.path.clone(),
                detail: "the writer stopped".into(),
            }));
        }
        Ok(())
    }

    fn join(&mut self) -> Result<SyncWriter, FormatError> {
        self.tx = None;
        let worker = self.worker.take().ok_or_else(|| FormatError::Write {
            path: self.path.clone(),
            detail: "the writer already failed".into(),
        })?;
        worker
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    /// Write the metadata, close the file and rename it into place.
    pub fn finish(mut self, meta: &CaptureMetadata) -> Result<PathBuf, FormatError> {
        let mut meta = meta.clone();
        if let Some(e) = &self.enrich {
            meta.asn_databases = e.describe();
        }
        self.join()?.finish(&meta)
    }
}

fn parquet_props() -> WriterProperties {
    WriterProperties::builder()
        // The analysis columns decompress fast with Snappy; the header
        // bytes, most of the file and rarely read, compress better with zstd.
        .set_compression(Compression::SNAPPY)
        .set_column_compression(
            ColumnPath::from(col::HEADER),
            Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")),
        )
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("pktsample {}", env!("CARGO_PKG_VERSION")))
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

impl SyncWriter {
    fn create(path: &Path, force: bool, meta: &CaptureMetadata) -> Result<Self, FormatError> {
        let format = OutputFormat::from_path(path)?;
        let file = AtomicFile::create(path, force)?;
        let w = file.writer()?;
        let werr = |detail: String| FormatError::Write {
            path: path.into(),
            detail,
        };
        let inner = match format {
            OutputFormat::Parquet => Inner::Parquet(
                ArrowWriter::try_new(w, samples_schema(), Some(parquet_props()))
                    .map_err(|e| werr(e.to_string()))?,
            ),
            OutputFormat::Pcapng => Inner::Pcapng(PcapngSampleWriter::new(w, meta).map_err(werr)?),
        };
        Ok(SyncWriter { file, inner })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        let werr = |detail: String| FormatError::Write {
            path: self.file.path().into(),
            detail: format!("writing failed: {detail}"),
        };
        match &mut self.inner {
            Inner::Parquet(w) => w.write(batch).map_err(|e| werr(e.to_string())),
            Inner::Pcapng(w) => {
                let cols = SampleColumns::new(batch)?;
                for i in 0..cols.len() {
                    w.write(&cols.row(i)?).map_err(werr)?;
                }
                Ok(())
            }
        }
    }

    fn finish(self, meta: &CaptureMetadata) -> Result<PathBuf, FormatError> {
        let path = self.file.path().to_path_buf();
        let werr = |detail: String| FormatError::Write {
            path: path.clone(),
            detail: format!("writing failed: {detail}"),
        };
        let w = match self.inner {
            Inner::Parquet(mut w) => {
                w.append_key_value_metadata(KeyValue::new(METADATA_KEY.into(), meta.to_json()));
                w.into_inner().map_err(|e| werr(e.to_string()))?
            }
            Inner::Pcapng(w) => w.finish(meta).map_err(werr)?,
        };
        self.file.commit(w)
    }
}

/// Open a pktsample Parquet file: check it is ours and of a schema version we
/// read, and return the reader builder (for projections) and its metadata.
pub fn open_parquet(
    path: &Path,
) -> Result<(ParquetRecordBatchReaderBuilder<File>, CaptureMetadata), FormatError> {
    let f = File::open(path).map_err(|e| FormatError::io(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| FormatError::Parquet {
        path: path.into(),
        err: e,
    })?;
    let not = |reason: String| FormatError::NotSamples {
        path: path.into(),
        reason,
    };
    let json = b
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == METADATA_KEY))
        .and_then(|k| k.value.clone())
        .ok_or_else(|| {
            not(format!(
                "no '{METADATA_KEY}' metadata (written by another tool?)"
            ))
        })?;
    // Look at the version before the rest, so a newer file gets the right error.
    let version: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| not(format!("malformed metadata: {e}")))?;
    let version = version
        .get("schema_version")
        .and_then(|v| v.as_str())
        .ok_or_else(|| not("metadata has no schema_version".into()))?
        .to_string();
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| not(format!("unreadable schema_version '{version}'")))?;
    if major > SCHEMA_MAJOR {
        return Err(FormatError::NewerSchema {
            path: path.into(),
            version,
            supported: SCHEMA_MAJOR,
        });
    }
    let meta =
        CaptureMetadata::from_json(&json).map_err(|e| not(format!("malformed metadata: {e}")))?;
    let schema = b.schema();
    for f in samples_schema().fields() {
        match schema.field_with_name(f.name()) {
            // A column of a later minor version: absent from older files.
            Err(_) if col::ADDED_SINCE_1_0.contains(&f.name().as_str()) => {}
            Ok(g) if g.data_type() == f.data_type() => {}
            Ok(g) => {
                return Err(not(format!(
                    "column '{}' is {}, expected {}",
                    f.name(),
                    g.data_type(),
                    f.data_type()
                )));
            }
            Err(_) => return Err(not(format!("column '{}' is missing", f.name()))),
        }
    }
    Ok((b, meta))
}

/// Read any samples source, batch by batch; returns its metadata.
pub fn read_samples<E: From<FormatError>>(
    path: &Path,
    mut f: impl FnMut(RecordBatch) -> Result<(), E>,
) -> Result<CaptureMetadata, E> {
    match sniff(path)? {
        FileKind::Parquet => {
            let (b, meta) = open_parquet(path)?;
            let reader =
                b.with_batch_size(BATCH_ROWS)
                    .build()
                    .map_err(|e| FormatError::Parquet {
                        path: path.into(),
                        err: e,
                    })?;
            for batch in reader {
                let batch = batch.map_err(|e| FormatError::Parquet {
                    path: path.into(),
                    err: e.into(),
                })?;
                f(conform(batch))?;
            }
            Ok(meta)
        }
        FileKind::Pcap | FileKind::PcapNg => {
            let reader = CaptureReader::open(path)?;
            let mut v = CaptureSamples {
                f,
                builder: SampleBatchBuilder::new(),
                ifaces: Vec::new(),
                counts: Vec::new(),
                meta: None,
                first_ns: None,
                last_ns: None,
                max_cap: 0,
            };
            let stats = reader.read(&mut v)?;
            if !v.builder.is_empty() {
                let b = v.builder.finish();
                (v.f)(b)?;
            }
            Ok(match v.meta {
                Some(m) => m,
                None => {
                    let mut m = CaptureMetadata::new(
                        Source::Capture {
                            input: path.display().to_string(),
                        },
                        v.max_cap,
                    );
                    m.set_time_range(v.first_ns, v.last_ns);
                    m.interfaces = v
                        .ifaces
                        .iter()
                        .zip(&v.counts)
                        .map(|(i, c)| interface_meta(i, c))
                        .collect();
                    m.skipped_link_types = stats.skipped;
                    m
                }
            })
        }
    }
}

fn interface_meta(i: &Interface, counts: &[u64; 3]) -> InterfaceMeta {
    let mut directions = BTreeMap::new();
    for d in Direction::ALL {
        let n = counts[d.index()];
        if n > 0 {
            directions.insert(
                d,
                DirectionStats {
                    // Exact only for a plain capture; a sampled file without its
                    // metadata block has lost its pool (0 = unknown).
                    packets_seen: if i.sampling_rate == 1 { n } else { 0 },
                    samples: n,
                    drops: 0,
                },
            );
        }
    }
    InterfaceMeta {
        ifindex: i.ifindex,
        name: i.name.clone(),
        mac: i.mac.clone(),
        mtu: i.mtu,
        sampling_rate: i.sampling_rate,
        link_type: i.linktype,
        directions,
    }
}

struct CaptureSamples<F> {
    f: F,
    builder: SampleBatchBuilder,
    ifaces: Vec<Interface>,
    counts: Vec<[u64; 3]>,
    meta: Option<CaptureMetadata>,
    first_ns: Option<i64>,
    last_ns: Option<i64>,
    max_cap: u32,
}

impl<E: From<FormatError>, F: FnMut(RecordBatch) -> Result<(), E>> Visitor for CaptureSamples<F> {
    type Error = E;

    fn metadata(&mut self, meta: CaptureMetadata) -> Result<(), E> {
        self.meta = Some(meta);
        Ok(())
    }

    fn interface(&mut self, _index: usize, iface: &Interface) -> Result<(), E> {
        self.ifaces.push(iface.clone());
        self.counts.push([0; 3]);
        Ok(())
    }

    fn packet(&mut self, p: &Packet<'_>) -> Result<(), E> {
        let i = &self.ifaces[p.iface];
        self.counts[p.iface][p.direction.index()] += 1;
        self.first_ns = Some(
            self.first_ns
                .map_or(p.timestamp_ns, |t| t.min(p.timestamp_ns)),
        );
        self.last_ns = Some(
            self.last_ns
                .map_or(p.timestamp_ns, |t| t.max(p.timestamp_ns)),
        );
        // Samples keep at most 65535 bytes (cap_len is u16).
        let data = &p.data[..p.data.len().min(u16::MAX as usize)];
        self.max_cap = self.max_cap.max(data.len() as u32);
        self.builder.push(&SampleRow {
            timestamp_ns: p.timestamp_ns,
            ifindex: i.ifindex,
            ifname: &i.name,
            direction: p.direction,
            sampling_rate: i.sampling_rate,
            pkt_len: p.orig_len,
            header: data,
            ingress_ifindex: p.ingress_ifindex,
            routed_ifindex: p.routed_ifindex,
            link_type: i.linktype,
        });
        if self.builder.len() >= BATCH_ROWS {
            let b = self.builder.finish();
            (self.f)(b)?;
        }
        Ok(())
    }
}
