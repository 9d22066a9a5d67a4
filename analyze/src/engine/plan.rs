//! Planning: inputs opened (footers only, in parallel), what each file and
//! row group holds, which can be skipped by time, the units of work, and
//! which files continue which: strata that span files.
//!
//! Many files: a file keeps its capture metadata and a few numbers per row
//! group; the Parquet footer itself is kept only for files of several row
//! groups (read in parallel, one unit per row group) and read again in the
//! unit otherwise, so thousands of small parts cost a few KiB each.
//!
//! Parts: a capture rotated into parts, or a fleet's files of one host, is
//! one stratum per host, interface, direction and rate, whatever the number
//! of files. Its pool is the sum of the parts' pools and its samples the sum
//! of theirs, so the exact-pool estimator stays exact; a stratum is keyed by
//! its first file's (file, ifindex).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::RowGroupMetaData;
use pktsample_schemas::input::{FileKind, sniff};
use pktsample_schemas::samples::{ParquetInput, open_parquet_any};
use pktsample_schemas::schema::col;
use pktsample_schemas::{CaptureMetadata, Direction, FormatError, foreign, open_parquet};
use rustc_hash::FxHashMap;

use crate::error::AnalyzeError;

use super::StratumKey;

/// What planning needs of a row group.
#[derive(Debug, Clone)]
pub(super) struct GroupInfo {
    pub rows: u64,
    /// The timestamps' range, from the statistics.
    pub span: Option<(i64, i64)>,
    /// Its one stratum, when the statistics show it.
    pub constant: Option<(u32, Direction, u32)>,
}

/// An input file and its metadata.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    pub kind: FileKind,
    pub meta: CaptureMetadata,
    /// Its capture metadata's time range misses the time filter: not read,
    /// and none of its strata are in the report.
    pub skipped: bool,
    /// Parquet without pktsample metadata (written by another tool, or
    /// metadata ignored): read as rows, described from them
    /// ([`pktsample_schemas::foreign`]).
    pub foreign: bool,
    /// The footer, kept for files of several row groups.
    pub(super) parquet: Option<ArrowReaderMetadata>,
    pub(super) groups: Vec<GroupInfo>,
}

/// The reader schema: the file's, with addresses read as dictionaries.
fn dictionary_hint(schema: &Schema) -> Schema {
    Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| {
                if f.name() == col::SRC_ADDR
                    || f.name() == col::DST_ADDR
                    || super::encap::is_inner_address(f.name())
                {
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

/// A Parquet samples file's footer and metadata.
pub(super) fn open_parquet_input(
    path: &Path,
) -> Result<(ArrowReaderMetadata, CaptureMetadata), AnalyzeError> {
    let (b, meta) = open_parquet(path)?;
    Ok((reader_metadata(path, b)?, meta))
}

/// The footer a builder parsed, with addresses read as dictionaries.
fn reader_metadata(
    path: &Path,
    b: ParquetRecordBatchReaderBuilder<File>,
) -> Result<ArrowReaderMetadata, AnalyzeError> {
    let hint = Arc::new(dictionary_hint(b.schema()));
    let md = ArrowReaderMetadata::try_new(
        b.metadata().clone(),
        ArrowReaderOptions::new().with_schema(hint),
    )
    .map_err(|e| FormatError::Parquet {
        path: path.into(),
        err: e,
    })?;
    Ok(md)
}

fn group_info(rg: &RowGroupMetaData) -> GroupInfo {
    use parquet::file::statistics::Statistics;
    let span = rg
        .columns()
        .iter()
        .find(|c| c.column_path().string() == col::TIMESTAMP)
        .and_then(|c| c.statistics())
        .and_then(|s| match s {
            Statistics::Int64(s) => Some((*s.min_opt()?, *s.max_opt()?)),
            _ => None,
        });
    GroupInfo {
        rows: rg.num_rows().max(0) as u64,
        span,
        constant: constant_stratum(rg),
    }
}

/// An input whose metadata is known only once read.
fn read_later(path: &Path, kind: FileKind, foreign: bool) -> Input {
    Input {
        path: path.into(),
        kind,
        // Known after reading (a pcapng carries it at its end; a foreign
        // file's rows describe it).
        meta: CaptureMetadata::new(
            pktsample_schemas::Source::Capture {
                input: path.display().to_string(),
            },
            0,
        ),
        skipped: false,
        foreign,
        parquet: None,
        groups: Vec::new(),
    }
}

/// Open one input: its metadata, and for Parquet what its row groups hold.
/// Parquet without pktsample metadata (or all Parquet, with
/// `ignore_metadata`) is checked for the columns analyze needs, and read
/// as rows.
pub(super) fn open_input(
    path: &Path,
    window: (Option<i64>, Option<i64>),
    ignore_metadata: bool,
) -> Result<Input, AnalyzeError> {
    let kind = sniff(path)?;
    if kind != FileKind::Parquet {
        return Ok(read_later(path, kind, false));
    }
    let (md, meta) = match open_parquet_any(path)? {
        ParquetInput::Samples(b, meta) if !ignore_metadata => (reader_metadata(path, b)?, *meta),
        ParquetInput::Samples(b, _) | ParquetInput::Rows(b) => {
            foreign::check(path, b.schema())?;
            return Ok(read_later(path, kind, true));
        }
    };
    let groups: Vec<GroupInfo> = md.metadata().row_groups().iter().map(group_info).collect();
    let skipped = match meta.time_range_ns() {
        (Some(a), Some(b)) => !overlaps((a, b), window),
        _ => false,
    };
    Ok(Input {
        path: path.into(),
        kind,
        meta,
        skipped,
        foreign: false,
        parquet: (groups.len() > 1).then_some(md),
        groups,
    })
}

/// Whether [a, b] meets the window [from, to).
pub(super) fn overlaps((a, b): (i64, i64), (from, to): (Option<i64>, Option<i64>)) -> bool {
    from.is_none_or(|f| b >= f) && to.is_none_or(|t| a < t)
}

/// The row group's single (ifindex, direction, rate), if its column
/// statistics show each of those columns holding one value and no null.
pub(super) fn constant_stratum(rg: &RowGroupMetaData) -> Option<(u32, Direction, u32)> {
    use parquet::file::statistics::Statistics;
    let stats = |name: &str| {
        rg.columns()
            .iter()
            .find(|c| c.column_path().string() == name)
            .and_then(|c| c.statistics())
            .filter(|s| s.null_count_opt() == Some(0))
    };
    let int = |name: &str| match stats(name)? {
        Statistics::Int32(s) => match (s.min_opt(), s.max_opt()) {
            (Some(a), Some(b)) if a == b => Some(*a as u32),
            _ => None,
        },
        _ => None,
    };
    let direction = match stats(col::DIRECTION)? {
        Statistics::ByteArray(s) => match (s.min_opt(), s.max_opt()) {
            (Some(a), Some(b)) if a == b => Direction::parse(std::str::from_utf8(a.data()).ok()?)?,
            _ => return None,
        },
        _ => return None,
    };
    Some((int(col::IFINDEX)?, direction, int(col::SAMPLING_RATE)?))
}

/// Which files continue which: (file, ifindex, rate) -> the stratum's first
/// (file, ifindex), for files whose metadata is known before reading.
#[derive(Debug, Default)]
pub struct Parts {
    first: FxHashMap<(u32, u32, u32), (u32, u32)>,
    /// The first (file, ifindex, rate) -> every (file, ifindex) of it.
    members: FxHashMap<(u32, u32, u32), Vec<(u32, u32)>>,
    /// (file, ifindex, rate) whose one pool spans every direction (an sFlow
    /// data source sampled both ways): one stratum, keyed `unknown`.
    shared: rustc_hash::FxHashSet<(u32, u32, u32)>,
}

impl Parts {
    pub(super) fn new(inputs: &[Input]) -> Parts {
        // (host, interface name, rate) -> its (file, ifindex), in file order.
        type ByName<'a> = BTreeMap<(&'a str, &'a str, u32), Vec<(u32, u32)>>;
        let mut by_name: ByName = BTreeMap::new();
        let mut shared = rustc_hash::FxHashSet::default();
        for (fi, inp) in inputs.iter().enumerate() {
            if inp.kind != FileKind::Parquet || inp.skipped || inp.foreign {
                continue;
            }
            for im in &inp.meta.interfaces {
                if im.shared_pool {
                    shared.insert((fi as u32, im.ifindex, im.sampling_rate));
                }
                by_name
                    .entry((&inp.meta.host, &im.name, im.sampling_rate))
                    .or_default()
                    .push((fi as u32, im.ifindex));
            }
        }
        let mut p = Parts {
            shared,
            ..Default::default()
        };
        for ((_, _, rate), v) in by_name {
            if v.len() < 2 {
                continue;
            }
            let head = v[0];
            for &(f, i) in &v[1..] {
                p.first.insert((f, i, rate), head);
            }
            p.members.insert((head.0, head.1, rate), v);
        }
        p
    }

    /// The stratum of rows of `file` with this interface, direction and rate.
    pub fn key(&self, file: u32, ifindex: u32, direction: Direction, rate: u32) -> StratumKey {
        let direction = if !self.shared.is_empty() && self.shared.contains(&(file, ifindex, rate)) {
            Direction::Unknown
        } else {
            direction
        };
        let (file, ifindex) = self
            .first
            .get(&(file, ifindex, rate))
            .copied()
            .unwrap_or((file, ifindex));
        StratumKey {
            file,
            ifindex,
            direction,
            rate,
        }
    }

    /// Every (file, ifindex) a stratum spans.
    pub fn members(&self, k: &StratumKey) -> Vec<(u32, u32)> {
        self.members
            .get(&(k.file, k.ifindex, k.rate))
            .cloned()
            .unwrap_or_else(|| vec![(k.file, k.ifindex)])
    }
}

/// A unit of work: row groups of a Parquet file, or a whole capture.
pub(super) enum Unit {
    RowGroups(usize, std::ops::Range<usize>),
    File(usize),
}

/// The units: a file of several row groups gives one per row group, a file
/// of one a single unit; skipped files none.
pub(super) fn units(inputs: &[Input]) -> Vec<Unit> {
    let mut units = Vec::new();
    for (fi, inp) in inputs.iter().enumerate() {
        if inp.skipped {
            continue;
        }
        match inp.kind {
            FileKind::Parquet if inp.foreign => units.push(Unit::File(fi)),
            FileKind::Parquet if inp.groups.len() > 1 => {
                units.extend((0..inp.groups.len()).map(|rg| Unit::RowGroups(fi, rg..rg + 1)));
            }
            FileKind::Parquet => units.push(Unit::RowGroups(fi, 0..inp.groups.len())),
            _ => units.push(Unit::File(fi)),
        }
    }
    units
}

/// The span the inputs' metadata covers: the earliest start, the latest end.
pub fn capture_span(inputs: &[Input]) -> (Option<i64>, Option<i64>) {
    let ranges: Vec<(Option<i64>, Option<i64>)> = inputs
        .iter()
        .filter(|i| !i.skipped)
        .map(|i| i.meta.time_range_ns())
        .collect();
    (
        ranges.iter().filter_map(|r| r.0).min(),
        ranges.iter().filter_map(|r| r.1).max(),
    )
}
