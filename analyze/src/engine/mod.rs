//! The aggregation engine: reads samples files in parallel and sums, per
//! stratum (file, interface, direction, rate), what every report section
//! needs. Estimation happens afterwards, in [`crate::estimate`].
//!
//! Work is split by Parquet row group (and by file for pcap/pcapng), spread
//! over threads with rayon, and each thread folds into its own partial
//! aggregate; partials are merged at the end. Only the columns the chosen
//! sections need are read. Addresses are read as dictionary arrays: rows
//! accumulate by dictionary key, and each distinct address is parsed and
//! hashed once per batch, not once per row. Memory grows with the number of
//! groups (addresses, time buckets), not with the number of rows.
//!
//! Here: the query, the plan (inputs opened, units of work, columns to
//! read) and the parallel run. `sections` says which sections to compute;
//! `tables` holds the dense lookup tables (size classes, ports, protocols);
//! `columns` the typed access to a batch's columns; `fold` the row pass;
//! `agg` what it accumulates and how partials merge.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use pktsample_schemas::guard::untrusted;
use pktsample_schemas::input::{FileKind, sniff};
use pktsample_schemas::schema::col;
use pktsample_schemas::{CaptureMetadata, Direction, FormatError, open_parquet, read_samples};
use rayon::prelude::*;

mod addrs;
mod agg;
mod columns;
mod fold;
mod sections;
mod spill;
mod tables;

pub use addrs::{AddrKey, AddrSummary, AddrTables, ByOrigin, DST, Finish, PerStratum, SRC};
pub use agg::{Aggregate, StratumAgg, StratumIds};
pub use sections::Sections;
pub use spill::{Budget, default_limit};
pub use tables::{Protocols, SIZE_CLASSES, service_port};

use agg::ThreadAcc;
use fold::{Folder, constant_stratum};

use crate::error::AnalyzeError;
use pktsample_asn::AsDb;

/// What to analyse.
#[derive(Clone, Debug)]
pub struct Query {
    pub inputs: Vec<PathBuf>,
    /// Keep samples with `from <= timestamp < to` (ns since the epoch).
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Only these interfaces (names); empty = all.
    pub interfaces: Vec<String>,
    /// Only these directions; empty = all.
    pub directions: Vec<Direction>,
    /// Time series bucket width (ns); `None` = chosen from the time span.
    pub interval: Option<i64>,
    pub sections: Sections,
    /// The ASN database for the per-AS sections.
    pub asn: Option<Arc<AsDb>>,
    /// Bytes the aggregation may hold before it spills (None: half the
    /// RAM, [`default_limit`]).
    pub memory_limit: Option<u64>,
    /// Where spill files go (None: the system's temporary directory).
    pub temp_dir: Option<PathBuf>,
}

/// A stratum: samples of one file, interface, direction and rate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StratumKey {
    pub file: u32,
    pub ifindex: u32,
    pub direction: Direction,
    pub rate: u32,
}

/// An input file and its metadata.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    pub kind: FileKind,
    pub meta: CaptureMetadata,
    parquet: Option<ArrowReaderMetadata>,
}

/// Everything aggregated, with the inputs it came from.
#[derive(Debug)]
pub struct Analysis {
    pub inputs: Vec<Input>,
    pub agg: Aggregate,
    /// Every address's sums, by stratum id.
    pub addrs: AddrTables,
    /// Stratum id -> key.
    pub stratum_keys: Vec<StratumKey>,
    /// Bytes of address entries spilled to temporary files.
    pub spilled: u64,
    pub interval_ns: i64,
    pub query: Query,
}

fn columns(s: &Sections, constant_stratum: bool) -> Vec<&'static str> {
    let mut c = vec![col::TIMESTAMP, col::PKT_LEN, col::IP_VERSION];
    if !constant_stratum {
        c.extend([col::IFINDEX, col::DIRECTION, col::SAMPLING_RATE]);
    }
    if s.protocols {
        c.extend([col::ETH_TYPE, col::IP_PROTO, col::SRC_PORT, col::DST_PORT]);
    }
    if s.addresses() {
        c.extend([col::SRC_ADDR, col::DST_ADDR]);
    }
    c
}

/// The reader schema: the file's, with addresses read as dictionaries.
fn dictionary_hint(schema: &Schema) -> Schema {
    Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| {
                if f.name() == col::SRC_ADDR || f.name() == col::DST_ADDR {
                    Arc::new(Field::new(
                        f.name(),
                        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                        true,
                    ))
                } else {
                    f.clone()
                }
            })
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    )
}

fn open_input(path: &Path) -> Result<Input, AnalyzeError> {
    let kind = sniff(path)?;
    match kind {
        FileKind::Parquet => {
            let (b, meta) = open_parquet(path)?;
            // Reuse the footer open_parquet parsed, with addresses read as
            // dictionaries.
            let hint = Arc::new(dictionary_hint(b.schema()));
            let md = ArrowReaderMetadata::try_new(
                b.metadata().clone(),
                ArrowReaderOptions::new().with_schema(hint),
            )
            .map_err(|e| FormatError::Parquet {
                path: path.into(),
                err: e,
            })?;
            Ok(Input {
                path: path.into(),
                kind,
                meta,
                parquet: Some(md),
            })
        }
        _ => Ok(Input {
            path: path.into(),
            kind,
            // Known after reading (a pcapng carries it at its end).
            meta: CaptureMetadata::new(
                pktsample_schemas::Source::Capture {
                    input: path.display().to_string(),
                },
                0,
            ),
            parquet: None,
        }),
    }
}

/// Choose a bucket width giving at most about 60 buckets over `span` ns.
pub fn auto_interval(span_ns: i64) -> i64 {
    const S: i64 = 1_000_000_000;
    let steps = [
        S / 1000,
        S / 100,
        S / 10,
        S,
        10 * S,
        60 * S,
        5 * 60 * S,
        15 * 60 * S,
        3600 * S,
        6 * 3600 * S,
        86400 * S,
    ];
    steps
        .into_iter()
        .find(|&st| span_ns / st <= 60)
        .unwrap_or(86400 * S)
}

enum Unit {
    RowGroup(usize, usize),
    File(usize),
}

/// Read every input and aggregate.
pub fn run(q: &Query, progress: &(dyn Fn(u64) + Sync)) -> Result<Analysis, AnalyzeError> {
    if q.inputs.is_empty() {
        return Err(AnalyzeError::NoInputs);
    }
    let mut inputs: Vec<Input> = q
        .inputs
        .par_iter()
        .map(|p| open_input(p))
        .collect::<Result<_, _>>()?;
    // The time span, for the automatic interval: from the metadata where the
    // files have it, clipped by the filter.
    let (start, end) = capture_span(&inputs);
    let span = match (q.from.or(start), q.to.or(end)) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => 60_000_000_000,
    };
    let interval = q.interval.unwrap_or_else(|| auto_interval(span));

    let mut units = Vec::new();
    for (fi, inp) in inputs.iter().enumerate() {
        match &inp.parquet {
            Some(md) => {
                for rg in 0..md.metadata().num_row_groups() {
                    units.push(Unit::RowGroup(fi, rg));
                }
            }
            None => units.push(Unit::File(fi)),
        }
    }
    let names: Vec<String> = q.interfaces.clone();
    let limit = q.memory_limit.unwrap_or_else(default_limit);
    let dir = q.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let budget = Budget::new(usize::try_from(limit).unwrap_or(usize::MAX), &dir);
    let ids = StratumIds::default();
    let file_meta: Vec<Option<CaptureMetadata>> = inputs
        .iter()
        .map(|i| i.parquet.is_some().then(|| i.meta.clone()))
        .collect();
    // Each thread folds its units into one accumulator (with, for a
    // pcap/pcapng file, its metadata, known only once read).
    let acc = units
        .par_iter()
        .try_fold(
            ThreadAcc::new,
            |mut acc, u| -> Result<ThreadAcc, AnalyzeError> {
                let fi = match u {
                    Unit::RowGroup(f, _) | Unit::File(f) => *f,
                };
                let inp = &inputs[fi];
                // Interface names come from the metadata; a pcap's is known only
                // after reading, so its filter is applied to the rows' ifname
                // through the metadata read at the end (see below).
                let meta = file_meta[fi].clone();
                let excluded = |ifindex: u32, d: Direction, rate: u32| -> bool {
                    if !q.directions.is_empty() && !q.directions.contains(&d) {
                        return true;
                    }
                    let Some(m) = meta.as_ref().filter(|_| !names.is_empty()) else {
                        // No name filter, or names known only after reading (then
                        // filtered by stratum below).
                        return false;
                    };
                    !m.interface(ifindex, rate)
                        .is_some_and(|i| names.contains(&i.name))
                };
                let mut folder = Folder {
                    file: fi as u32,
                    q,
                    interval,
                    excluded: &excluded,
                    acc: &mut acc,
                    addr_cache: None,
                    ids: &ids,
                    budget: &budget,
                    constant: None,
                };
                match u {
                    Unit::RowGroup(_, rg) => {
                        let md = inp.parquet.clone().expect("parquet unit");
                        let f = File::open(&inp.path).map_err(|e| FormatError::io(&inp.path, e))?;
                        folder.constant = constant_stratum(md.metadata().row_group(*rg));
                        let b = ParquetRecordBatchReaderBuilder::new_with_metadata(f, md);
                        let mask = ProjectionMask::columns(
                            b.parquet_schema(),
                            columns(&q.sections, folder.constant.is_some()),
                        );
                        let reader = b
                            .with_row_groups(vec![*rg])
                            .with_projection(mask)
                            .with_batch_size(64 * 1024)
                            .build()
                            .map_err(|e| FormatError::Parquet {
                                path: inp.path.clone(),
                                err: e,
                            })?;
                        let mut reader = reader;
                        let perr = |e| FormatError::Parquet {
                            path: inp.path.clone(),
                            err: e,
                        };
                        // The parquet crate panics on some corrupt pages.
                        while let Some(batch) = untrusted(|| reader.next()).map_err(perr)? {
                            let batch = batch.map_err(|e| perr(e.into()))?;
                            folder.fold(&batch)?;
                            progress(batch.num_rows() as u64);
                        }
                        folder.finish()?;
                    }
                    Unit::File(_) => {
                        // Interface filters need names: collect unfiltered by
                        // name, filter by stratum afterwards.
                        let meta = read_samples(&inp.path, |b| -> Result<(), AnalyzeError> {
                            folder.fold(&b)?;
                            progress(b.num_rows() as u64);
                            Ok(())
                        })?;
                        folder.finish()?;
                        acc.metas.push((fi, meta));
                    }
                }
                Ok(acc)
            },
        )
        .try_reduce(ThreadAcc::new, |a, b| Ok(a.merge(b)))?;
    let mut acc = acc;
    acc.resolve_pairs();
    for (fi, m) in acc.metas {
        inputs[fi].meta = m;
    }
    let mut bufs = acc.more_addrs;
    bufs.push(acc.addrs);
    let addrs = AddrTables {
        bufs,
        runs: budget.take_runs(),
    };
    let mut agg = acc.agg;
    // Name filters for inputs whose metadata came at the end.
    if !q.interfaces.is_empty() {
        agg.strata.retain(|k, _| {
            inputs[k.file as usize]
                .meta
                .interface(k.ifindex, k.rate)
                .is_some_and(|i| q.interfaces.contains(&i.name))
        });
    }
    Ok(Analysis {
        inputs,
        agg,
        addrs,
        stratum_keys: ids.into_keys(),
        spilled: budget.spilled(),
        interval_ns: interval,
        query: q.clone(),
    })
}

/// The span the inputs' metadata covers: the earliest start, the latest end.
pub fn capture_span(inputs: &[Input]) -> (Option<i64>, Option<i64>) {
    let ranges: Vec<(Option<i64>, Option<i64>)> =
        inputs.iter().map(|i| i.meta.time_range_ns()).collect();
    (
        ranges.iter().filter_map(|r| r.0).min(),
        ranges.iter().filter_map(|r| r.1).max(),
    )
}
