//! Reading samples files: [`read_samples`] is the one source every consumer
//! reads from: a pktsample Parquet file, a pktsample pcapng file, or a plain
//! pcap/pcapng capture (read as samples at rate 1). Writing is in
//! [`crate::writer`].

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::FormatError;
use crate::guard::untrusted;
use crate::input::{CaptureReader, FileKind, Interface, Packet, Visitor, sniff};
use crate::meta::{
    CaptureMetadata, Direction, DirectionStats, InterfaceMeta, METADATA_KEY, Source,
};
use crate::record::{SampleBatchBuilder, SampleRow, conform};
use crate::schema::{SCHEMA_MAJOR, col, samples_schema};

pub use crate::writer::{BATCH_ROWS, OutputFormat, ROW_GROUP_ROWS, SampleWriter};

/// A Parquet file: pktsample's, or rows written by another tool (no
/// pktsample metadata; see [`crate::foreign`]).
pub enum ParquetInput {
    Samples(ParquetRecordBatchReaderBuilder<File>, Box<CaptureMetadata>),
    Rows(ParquetRecordBatchReaderBuilder<File>),
}

/// Open a pktsample Parquet file: check it is ours and of a schema version we
/// read, and return the reader builder (for projections) and its metadata.
pub fn open_parquet(
    path: &Path,
) -> Result<(ParquetRecordBatchReaderBuilder<File>, CaptureMetadata), FormatError> {
    match open_parquet_any(path)? {
        ParquetInput::Samples(b, m) => Ok((b, *m)),
        ParquetInput::Rows(_) => Err(FormatError::NotSamples {
            path: path.into(),
            reason: format!("no '{METADATA_KEY}' metadata (written by another tool?)"),
        }),
    }
}

/// Open a Parquet file, pktsample's (checked as [`open_parquet`] does) or
/// not.
pub fn open_parquet_any(path: &Path) -> Result<ParquetInput, FormatError> {
    let f = File::open(path).map_err(|e| FormatError::io(path, e))?;
    let b = untrusted(|| ParquetRecordBatchReaderBuilder::try_new(f))
        .and_then(|r| r)
        .map_err(|e| FormatError::Parquet {
            path: path.into(),
            err: e,
        })?;
    let not = |reason: String| FormatError::NotSamples {
        path: path.into(),
        reason,
    };
    let Some(json) = b
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == METADATA_KEY))
        .and_then(|k| k.value.clone())
    else {
        return Ok(ParquetInput::Rows(b));
    };
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
    Ok(ParquetInput::Samples(b, Box::new(meta)))
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
            let mut reader = reader;
            let perr = |e| FormatError::Parquet {
                path: path.into(),
                err: e,
            };
            while let Some(batch) = untrusted(|| reader.next()).map_err(perr)? {
                let batch = batch.map_err(|e| perr(e.into()))?;
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
                    m.bad_lengths = stats.bad_lengths;
                    m.foreign_custom = stats.foreign_custom;
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
        shared_pool: false,
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
