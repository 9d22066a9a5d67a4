//! Rollups: each dataset part's sufficient statistics for the fixed-key
//! sections, written once beside the dataset (`DIR/_rollup/`, under the
//! part's own `date=…/host=…/` path) so that a report over a fleet's
//! month reads a small table per part instead of its rows.
//!
//! A rollup holds exactly what the row pass would add to the aggregate
//! for that part, per stratum (ifindex, direction, rate): the samples
//! before any filter, the first and last timestamp, and the cells (count,
//! Σ len, Σ len², largest) of the total, IP versions, size classes,
//! EtherTypes, IP protocols, services and the time series at a
//! [`BASE_NS`] bucket. Read back, they merge into the same strata the row
//! pass fills, so the report is the same, byte for byte. What a rollup
//! cannot answer (addresses, AS, Kubernetes, encapsulations, a time
//! window, a bucket width not a multiple of the base) is read from the
//! samples: [`choose`] says when, and why in a note.
//!
//! Each rollup records the size and modification time of the part it was
//! made from: a part replaced since (by `enrich`, say) makes its rollup
//! stale, and a stale, unreadable or orphaned rollup is never used.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use pktsample_schemas::dataset::{ROLLUP_DIR, rollup_path};
use pktsample_schemas::input::FileKind;
use pktsample_schemas::output::AtomicFile;
use pktsample_schemas::{Direction, FormatError};

use super::agg::{StratumAgg, TimeCell};
use super::tables::ProtoSums;
use super::{Input, Query, Section, Sections};
use crate::error::AnalyzeError;
use crate::stats::Cell;

/// The sections a rollup answers.
pub const SECTIONS: Sections = {
    let mut s = Sections::none();
    s = s.with(Section::Summary);
    s = s.with(Section::Protocols);
    s = s.with(Section::Interfaces);
    s = s.with(Section::TimeSeries);
    s.with(Section::PacketSizes)
};

/// The time series' base bucket: one minute.
pub const BASE_NS: i64 = 60_000_000_000;

/// The rollup table's version (its key-value metadata).
const VERSION: &str = "1";

const KEY_VERSION: &str = "pktsample.rollup.version";
const KEY_SIZE: &str = "pktsample.rollup.part_size";
const KEY_MTIME: &str = "pktsample.rollup.part_mtime_ns";

/// A part's content as its rollup records it: size and modification time.
fn stamp(part: &Path) -> std::io::Result<(u64, i128)> {
    let m = std::fs::metadata(part)?;
    let t = m
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    Ok((m.len(), t))
}

/// Whether a part's rollup can stand in for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Status {
    /// Made from the part as it is now.
    Fresh(PathBuf),
    /// None was made.
    Missing,
    /// One exists but does not match the part (why).
    Stale(String),
}

/// The state of the rollup of the part at `part`.
pub fn status(part: &Path) -> Status {
    let Some(r) = rollup_path(part) else {
        return Status::Missing;
    };
    if !r.exists() {
        return Status::Missing;
    }
    let kv = match footer(&r) {
        Ok(kv) => kv,
        Err(e) => return Status::Stale(format!("unreadable ({e})")),
    };
    let get = |k: &str| kv.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
    if get(KEY_VERSION) != Some(VERSION) {
        return Status::Stale(format!(
            "rollup version {:?}, not {VERSION}",
            get(KEY_VERSION)
        ));
    }
    let Ok((size, mtime)) = stamp(part) else {
        return Status::Stale("its part cannot be read".into());
    };
    if get(KEY_SIZE) != Some(&size.to_string()) || get(KEY_MTIME) != Some(&mtime.to_string()) {
        return Status::Stale("older than its part (the part was replaced since)".into());
    }
    Status::Fresh(r)
}

fn footer(path: &Path) -> Result<Vec<(String, String)>, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| e.to_string())?;
    Ok(b.metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default())
}

fn schema() -> Arc<Schema> {
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    Arc::new(Schema::new(vec![
        f("ifindex", DataType::UInt32, false),
        f("ifname", DataType::Utf8, false),
        f("direction", DataType::Utf8, false),
        f("sampling_rate", DataType::UInt32, false),
        f("set", DataType::Utf8, false),
        f("k1", DataType::Int64, true),
        f("k2", DataType::Int64, true),
        f("n", DataType::UInt64, false),
        f("bytes", DataType::UInt64, false),
        f("bytes2", DataType::UInt64, false),
        f("max", DataType::UInt32, false),
    ]))
}

/// Rows of the rollup table, column by column.
#[derive(Default)]
struct Rows {
    ifindex: Vec<u32>,
    /// The interface's name in the part's metadata (what SQL keys by).
    ifname: Vec<String>,
    /// The current stratum's name.
    name: String,
    direction: Vec<&'static str>,
    rate: Vec<u32>,
    set: Vec<&'static str>,
    k1: Vec<Option<i64>>,
    k2: Vec<Option<i64>>,
    cell: Vec<Cell>,
}

impl Rows {
    fn push(
        &mut self,
        s: (u32, Direction, u32),
        set: &'static str,
        k: (Option<i64>, Option<i64>),
        c: Cell,
    ) {
        self.ifindex.push(s.0);
        self.ifname.push(self.name.clone());
        self.direction.push(s.1.as_str());
        self.rate.push(s.2);
        self.set.push(set);
        self.k1.push(k.0);
        self.k2.push(k.1);
        self.cell.push(c);
    }

    fn stratum(&mut self, s: (u32, Direction, u32), a: &StratumAgg) {
        let one = |n: u64| Cell {
            n,
            ..Cell::default()
        };
        self.push(s, "rows", (None, None), one(a.rows));
        if let (Some(f), Some(l)) = (a.first_ns, a.last_ns) {
            self.push(s, "span", (Some(f), Some(l)), Cell::default());
        }
        self.push(s, "total", (None, None), a.total);
        let each = |r: &mut Rows, set, v: &[Cell]| {
            for (i, c) in v.iter().enumerate().filter(|(_, c)| c.n > 0) {
                r.push(s, set, (Some(i as i64), None), *c);
            }
        };
        each(self, "ip_version", &a.ip_version);
        each(self, "size", &a.size);
        if let Some(p) = &a.protocols {
            for (t, c) in p.eth_types() {
                self.push(s, "eth_type", (Some(t as i64), None), c);
            }
            for &(t, c) in p.ip_proto_own() {
                self.push(s, "ip_proto", (Some(t as i64), None), c);
            }
            for ((t, port), c) in p.services() {
                let port = port.map_or(-1, i64::from);
                self.push(s, "service", (Some(t as i64), Some(port)), c);
            }
        }
        let mut buckets: Vec<_> = a.time.iter().collect();
        buckets.sort_by_key(|e| e.0);
        for (&b, t) in buckets {
            for (v, c) in t.version.iter().enumerate().filter(|(_, c)| c.n > 0) {
                self.push(s, "time_version", (Some(b), Some(v as i64)), *c);
            }
            for (v, c) in t.class.iter().enumerate().filter(|(_, c)| c.n > 0) {
                self.push(s, "time_class", (Some(b), Some(v as i64)), *c);
            }
        }
    }

    fn batch(self) -> RecordBatch {
        let cells = |f: fn(&Cell) -> u64| UInt64Array::from_iter_values(self.cell.iter().map(f));
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(UInt32Array::from(self.ifindex.clone())),
                Arc::new(StringArray::from(self.ifname.clone())),
                Arc::new(StringArray::from(self.direction.clone())),
                Arc::new(UInt32Array::from(self.rate.clone())),
                Arc::new(StringArray::from(self.set.clone())),
                Arc::new(Int64Array::from(self.k1.clone())),
                Arc::new(Int64Array::from(self.k2.clone())),
                Arc::new(cells(|c| c.n)),
                Arc::new(cells(|c| c.bytes)),
                Arc::new(cells(|c| c.bytes2)),
                Arc::new(UInt32Array::from_iter_values(
                    self.cell.iter().map(|c| c.max),
                )),
            ],
        )
        .expect("rollup columns match their schema")
    }
}

/// Roll up the part at `part`: aggregate it for [`SECTIONS`] at the base
/// bucket and write the result to its rollup path (replacing a stale one).
/// Returns the rollup and the part's samples.
pub fn write(part: &Path) -> Result<(PathBuf, u64), AnalyzeError> {
    let path = rollup_path(part).ok_or_else(|| FormatError::Write {
        path: part.into(),
        detail: "is not a dataset part (ROOT/date=…/host=…/FILE.parquet)".into(),
        source: None,
    })?;
    // Taken before reading: a part replaced meanwhile leaves this rollup
    // stale, not wrong.
    let (size, mtime) = stamp(part).map_err(|e| FormatError::io(part, e))?;
    let a = super::run(&part_query(part), &|_| {})?;
    if a.inputs[0].foreign {
        return Err(FormatError::Write {
            path: part.into(),
            detail: "has no pktsample metadata (written by another tool): it cannot be rolled up"
                .into(),
            source: None,
        }
        .into());
    }
    let mut rows = Rows::default();
    let mut strata: Vec<_> = a.agg.strata.iter().collect();
    strata.sort_by_key(|e| e.0);
    let samples = strata.iter().map(|(_, s)| s.rows).sum();
    let meta = &a.inputs[0].meta;
    for (k, s) in strata {
        rows.name = meta
            .interface(k.ifindex, k.rate)
            .map_or_else(|| format!("if{}", k.ifindex), |i| i.name.clone());
        rows.stratum((k.ifindex, k.direction, k.rate), s);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| FormatError::write_io(dir, "cannot create the rollup directory", e))?;
    }
    let f = AtomicFile::create(&path, true)?;
    let werr = |e: parquet::errors::ParquetError| FormatError::Write {
        path: path.clone(),
        detail: e.to_string(),
        source: None,
    };
    let kv = |k: &str, v: String| KeyValue::new(k.into(), v);
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![
            kv(KEY_VERSION, VERSION.into()),
            kv(KEY_SIZE, size.to_string()),
            kv(KEY_MTIME, mtime.to_string()),
            kv("pktsample.rollup.base_ns", BASE_NS.to_string()),
        ]))
        .build();
    let batch = rows.batch();
    let mut w = ArrowWriter::try_new(f.writer()?, batch.schema(), Some(props)).map_err(werr)?;
    w.write(&batch).map_err(werr)?;
    let w = w.into_inner().map_err(werr)?;
    Ok((f.commit(w)?, samples))
}

fn part_query(part: &Path) -> Query {
    Query {
        inputs: vec![part.to_path_buf()],
        from: None,
        to: None,
        interfaces: vec![],
        hosts: vec![],
        directions: vec![],
        interval: Some(BASE_NS),
        sections: SECTIONS,
        asn: None,
        memory_limit: None,
        temp_dir: None,
        ignore_metadata: false,
        inner: false,
        k8s: None,
        policy: None,
        rollups: false,
    }
}

/// A stratum of a rollup: (ifindex, direction, rate) and its sums at the
/// base bucket.
pub type RolledStratum = ((u32, Direction, u32), StratumAgg);

/// Read the rollups chosen for `inputs` (see [`choose`]): per input, its
/// strata; or a note naming the first that cannot be read.
pub fn read_all(files: &[Option<PathBuf>]) -> Result<Vec<(usize, Vec<RolledStratum>)>, String> {
    use rayon::prelude::*;
    files
        .par_iter()
        .enumerate()
        .filter_map(|(i, f)| f.as_ref().map(|f| (i, f)))
        .map(|(i, f)| {
            read(f)
                .map(|s| (i, s))
                .map_err(|e| format!("rollup {}: {e}; the samples were read instead", f.display()))
        })
        .collect()
}

/// Read a rollup back.
pub fn read(path: &Path) -> Result<Vec<RolledStratum>, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let mut out: std::collections::BTreeMap<(u32, Direction, u32), (StratumAgg, Proto)> =
        Default::default();
    for b in r {
        let b = b.map_err(|e| e.to_string())?;
        fold_batch(&b, &mut out)?;
    }
    out.into_iter()
        .map(|(k, (mut a, p))| {
            if p.any {
                a.protocols = Some(
                    ProtoSums::from_parts(p.eth, p.ip, &p.service)
                        .ok_or("a service port this version does not name")?,
                );
            }
            Ok((k, a))
        })
        .collect()
}

#[derive(Default)]
struct Proto {
    any: bool,
    eth: Vec<(u16, Cell)>,
    ip: Vec<(u8, Cell)>,
    service: Vec<((u8, Option<u16>), Cell)>,
}

fn fold_batch(
    b: &RecordBatch,
    out: &mut std::collections::BTreeMap<(u32, Direction, u32), (StratumAgg, Proto)>,
) -> Result<(), String> {
    fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T, String> {
        b.column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<T>())
            .ok_or_else(|| format!("no column {name} of the expected type"))
    }
    let ifx = col::<UInt32Array>(b, "ifindex")?;
    let dir = col::<StringArray>(b, "direction")?;
    let rate = col::<UInt32Array>(b, "sampling_rate")?;
    let set = col::<StringArray>(b, "set")?;
    let (k1, k2) = (col::<Int64Array>(b, "k1")?, col::<Int64Array>(b, "k2")?);
    let (n, by) = (col::<UInt64Array>(b, "n")?, col::<UInt64Array>(b, "bytes")?);
    let (b2, mx) = (
        col::<UInt64Array>(b, "bytes2")?,
        col::<UInt32Array>(b, "max")?,
    );
    for i in 0..b.num_rows() {
        let d = Direction::parse(dir.value(i)).ok_or("a direction it does not name")?;
        let (agg, p) = out.entry((ifx.value(i), d, rate.value(i))).or_default();
        let c = Cell {
            n: n.value(i),
            bytes: by.value(i),
            bytes2: b2.value(i),
            max: mx.value(i),
        };
        let key = |a: &Int64Array| (!a.is_null(i)).then(|| a.value(i)).ok_or("a key missing");
        let idx = |v: i64, len: usize| {
            usize::try_from(v)
                .ok()
                .filter(|&v| v < len)
                .ok_or("a key out of range")
        };
        match set.value(i) {
            "rows" => agg.rows += c.n,
            "span" => {
                let (f, l) = (key(k1)?, key(k2)?);
                agg.first_ns = Some(agg.first_ns.map_or(f, |x| x.min(f)));
                agg.last_ns = Some(agg.last_ns.map_or(l, |x| x.max(l)));
            }
            "total" => agg.total.merge(&c),
            "ip_version" => agg.ip_version[idx(key(k1)?, 3)?].merge(&c),
            "size" => agg.size[idx(key(k1)?, agg.size.len())?].merge(&c),
            "eth_type" => {
                p.any = true;
                p.eth.push((
                    u16::try_from(key(k1)?).map_err(|_| "an EtherType out of range")?,
                    c,
                ));
            }
            "ip_proto" => {
                p.any = true;
                p.ip.push((
                    u8::try_from(key(k1)?).map_err(|_| "a protocol out of range")?,
                    c,
                ));
            }
            "service" => {
                p.any = true;
                let t = u8::try_from(key(k1)?).map_err(|_| "a transport out of range")?;
                let port = key(k2)?;
                let port = if port < 0 {
                    None
                } else {
                    Some(u16::try_from(port).map_err(|_| "a port out of range")?)
                };
                p.service.push(((t, port), c));
            }
            "time_version" => {
                let t = agg.time.entry(key(k1)?).or_default();
                t.version[idx(key(k2)?, 3)?].merge(&c);
            }
            "time_class" => {
                let t = agg.time.entry(key(k1)?).or_default();
                t.class[idx(key(k2)?, t.class.len())?].merge(&c);
            }
            other => return Err(format!("a set it does not know ({other})")),
        }
    }
    Ok(())
}

/// A rollup's stratum as the row pass would have made it for `sections`
/// at `interval` (a multiple of the base): the time series re-bucketed,
/// what those sections do not read left out.
pub fn fit(mut a: StratumAgg, sections: Sections, interval: i64) -> StratumAgg {
    if !sections.has(Section::Protocols) {
        a.protocols = None;
    }
    if !sections.has(Section::TimeSeries) {
        a.time.clear();
        return a;
    }
    let k = interval / BASE_NS;
    if k != 1 || !sections.has(Section::Protocols) {
        let mut t: rustc_hash::FxHashMap<i64, TimeCell> = Default::default();
        for (b, mut c) in a.time.drain() {
            if !sections.has(Section::Protocols) {
                c.class = Default::default();
            }
            t.entry(b.div_euclid(k)).or_default().merge(&c);
        }
        a.time = t;
    }
    a
}

/// Which inputs a query reads from their rollups: per input, the rollup
/// to read instead (None: every input from its samples), and notes for
/// the report on what kept a rollup from being used.
pub struct Choice {
    pub files: Option<Vec<Option<PathBuf>>>,
    pub notes: Vec<String>,
}

/// Decide whether `q` can read rollups for `inputs` at `interval`: only
/// when every input to read is a dataset part with a fresh rollup and the
/// report needs nothing else. Notes are given only where rollups exist
/// (a dataset never rolled up gets none).
pub fn choose(q: &Query, inputs: &[Input], interval: i64) -> Choice {
    let mut notes = Vec::new();
    // The datasets' `_rollup` directories.
    let roots: BTreeSet<PathBuf> = inputs
        .iter()
        .filter_map(|i| {
            Some(
                rollup_path(&i.path)?
                    .parent()?
                    .parent()?
                    .parent()?
                    .to_path_buf(),
            )
        })
        .filter(|r| r.is_dir())
        .collect();
    if roots.is_empty() {
        return Choice { files: None, notes };
    }
    orphans(&roots, inputs, &mut notes);
    let mut files = Vec::with_capacity(inputs.len());
    let mut stale = 0usize;
    let mut missing = 0usize;
    for i in inputs {
        if i.skipped {
            files.push(None);
            continue;
        }
        if i.kind != FileKind::Parquet || i.foreign {
            missing += 1;
            continue;
        }
        match status(&i.path) {
            Status::Fresh(r) => files.push(Some(r)),
            Status::Missing => missing += 1,
            Status::Stale(why) => {
                stale += 1;
                notes.push(format!(
                    "rollup of {}: {why}; ignored, its samples read (run `pktsample rollup` again)",
                    i.path.display()
                ));
            }
        }
    }
    let why = why_not(q, interval);
    let usable = why.is_none() && stale == 0 && missing == 0;
    if usable {
        return Choice {
            files: Some(files),
            notes,
        };
    }
    // Say why only where the rollups would otherwise have served.
    if SECTIONS.contains(q.sections) {
        if let Some(w) = why {
            notes.push(format!("rollups not used: {w}; the samples were read"));
        } else if missing > 0 {
            notes.push(format!(
                "rollups not used: {missing} part(s) have none (run `pktsample rollup`); the samples were read"
            ));
        }
    }
    Choice { files: None, notes }
}

/// What in the query a rollup cannot answer, besides its sections.
fn why_not(q: &Query, interval: i64) -> Option<String> {
    if !SECTIONS.contains(q.sections) {
        return Some("a section needs the samples".into());
    }
    if q.from.is_some() || q.to.is_some() {
        return Some("--from/--to cut the parts".into());
    }
    if q.inner || q.ignore_metadata || q.k8s.is_some() || q.policy.is_some() {
        return Some("--inner, --ignore-metadata, --k8s and --k8s-policy need the samples".into());
    }
    if q.sections.has(Section::TimeSeries) && (interval <= 0 || interval % BASE_NS != 0) {
        return Some(format!(
            "the time series' bucket ({} s) is not a multiple of the rollups' {} s",
            interval as f64 / 1e9,
            BASE_NS / 1_000_000_000
        ));
    }
    None
}

/// Warn of rollups whose part is gone (they are never read); `roots` are
/// the datasets' `_rollup` directories.
fn orphans(roots: &BTreeSet<PathBuf>, inputs: &[Input], notes: &mut Vec<String>) {
    let parts: BTreeSet<PathBuf> = inputs.iter().filter_map(|i| rollup_path(&i.path)).collect();
    for rdir in roots {
        let (Ok(all), Some(root)) = (pktsample_schemas::dataset::parts(rdir), rdir.parent()) else {
            continue;
        };
        for r in all {
            let Ok(rel) = r.strip_prefix(rdir) else {
                continue;
            };
            if !parts.contains(&r) && !root.join(rel).exists() {
                notes.push(format!(
                    "rollup {} has no samples part: ignored (`pktsample rollup` removes it)",
                    r.display()
                ));
            }
        }
    }
}

/// What [`dataset`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Done {
    /// Parts rolled up now (new, replaced since, or all with `again`).
    pub rolled: usize,
    /// Their samples.
    pub samples: u64,
    /// Parts whose rollup was fresh: not read.
    pub fresh: usize,
    /// Rollups removed because their part is gone.
    pub removed: usize,
}

/// `pktsample rollup DIR`: roll up every part of the dataset at `root`
/// that has no fresh rollup (every part with `again`), in parallel, and
/// remove the rollups of parts that are gone. `on_part` hears of each part
/// rolled up, with its samples.
pub fn dataset(
    root: &Path,
    again: bool,
    on_part: &(dyn Fn(&Path, u64) + Sync),
) -> Result<Done, AnalyzeError> {
    use rayon::prelude::*;
    let parts = pktsample_schemas::dataset::parts(root)?;
    let todo: Vec<&PathBuf> = parts
        .iter()
        .filter(|p| again || !matches!(status(p), Status::Fresh(_)))
        .collect();
    let samples = todo
        .par_iter()
        .map(|p| {
            let (_, n) = write(p)?;
            on_part(p, n);
            Ok(n)
        })
        .collect::<Result<Vec<u64>, AnalyzeError>>()?;
    let mut removed = 0;
    let rdir = root.join(ROLLUP_DIR);
    if rdir.is_dir() {
        for r in pktsample_schemas::dataset::parts(&rdir)? {
            let Ok(rel) = r.strip_prefix(&rdir) else {
                continue;
            };
            if !root.join(rel).exists() {
                std::fs::remove_file(&r).map_err(|e| FormatError::io(&r, e))?;
                removed += 1;
            }
        }
    }
    Ok(Done {
        rolled: todo.len(),
        samples: samples.iter().sum(),
        fresh: parts.len() - todo.len(),
        removed,
    })
}
