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
//! pass fills, so the report is the same, byte for byte. Rolled up with
//! an ASN database (`rollup --asn-db`), a rollup also holds the sources'
//! and destinations' sums by origin and the AS pairs, for the per-AS
//! sections with the same database. What a rollup cannot answer
//! (addresses, Kubernetes, encapsulations, a time window, a bucket width
//! not a multiple of the base, another database) is read from the
//! samples: [`choose`] says when, and why in a note.
//!
//! Each rollup records the size and modification time of the part it was
//! made from: a part replaced since (by `enrich`, say) makes its rollup
//! stale, and a stale, unreadable or orphaned rollup is never used.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use pktsample_schemas::FormatError;
use pktsample_schemas::dataset::{ROLLUP_DIR, part_root, rollup_path};
use pktsample_schemas::input::FileKind;
use pktsample_schemas::output::AtomicFile;

use pktsample_asn::AsDb;

use super::agg::{StratumAgg, TimeCell};
use super::{Finish, Input, Query, Section, Sections};
use crate::error::AnalyzeError;

mod table;

use table::Rows;
pub use table::{Opened, RolledStratum, read_all};

/// The sections a rollup answers.
pub const SECTIONS: Sections = Sections::of(&[
    Section::Summary,
    Section::Protocols,
    Section::Interfaces,
    Section::TimeSeries,
    Section::PacketSizes,
]);

/// The per-AS sections, which a rollup answers when it was made with the
/// query's ASN database.
pub const PER_AS: Sections = Sections::of(&[
    Section::SrcAs,
    Section::DstAs,
    Section::RemoteAs,
    Section::AsPairs,
    Section::AsIpv6,
]);

/// Every section a rollup may answer (the per-AS ones only when made with
/// the query's database).
pub const ANSWERED: Sections = SECTIONS.union(PER_AS);

/// The time series' base bucket: one minute.
pub const BASE_NS: i64 = 60_000_000_000;

/// The rollup table's version (its key-value metadata).
const VERSION: &str = "1";

const KEY_VERSION: &str = "pktsample.rollup.version";
const KEY_SIZE: &str = "pktsample.rollup.part_size";
const KEY_MTIME: &str = "pktsample.rollup.part_mtime_ns";
const KEY_ASN: &str = "pktsample.rollup.asn";

/// The ASN database's files as a rollup records them (path, size and
/// modification time of each): per-AS sums are used only with the same.
pub fn asn_stamp(db: &AsDb) -> String {
    db.files()
        .iter()
        .map(|f| {
            let p = f.path.canonicalize().unwrap_or_else(|_| f.path.clone());
            let (n, t) = stamp(&f.path).unwrap_or((0, 0));
            format!("{}|{n}|{t}", p.display())
        })
        .collect::<Vec<_>>()
        .join(";")
}

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
    /// Made from the part as it is now (with the per-AS sums of this
    /// database, [`asn_stamp`], if any).
    Fresh(PathBuf, Option<String>),
    /// None was made.
    Missing,
    /// One exists but does not match the part (why).
    Stale(String),
}

/// The state of the rollup of the part at `part`.
pub fn status(part: &Path) -> Status {
    match check(part) {
        Ok((o, made)) => Status::Fresh(o.path, made),
        Err(s) => s,
    }
}

/// The rollup of `part`, opened, and the database of its per-AS sums, if
/// it is fresh; else its status.
fn check(part: &Path) -> Result<(Opened, Option<String>), Status> {
    let Some(r) = rollup_path(part) else {
        return Err(Status::Missing);
    };
    if !r.exists() {
        return Err(Status::Missing);
    }
    let reader = std::fs::File::open(&r)
        .map_err(|e| e.to_string())
        .and_then(|f| ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| e.to_string()))
        .map_err(|e| Status::Stale(format!("unreadable ({e})")))?;
    let kv = reader.metadata().file_metadata().key_value_metadata();
    let get = |k: &str| {
        kv.and_then(|kv| kv.iter().find(|e| e.key == k))
            .and_then(|e| e.value.as_deref())
    };
    if get(KEY_VERSION) != Some(VERSION) {
        return Err(Status::Stale(format!(
            "rollup version {:?}, not {VERSION}",
            get(KEY_VERSION)
        )));
    }
    let Ok((size, mtime)) = stamp(part) else {
        return Err(Status::Stale("its part cannot be read".into()));
    };
    if get(KEY_SIZE) != Some(&size.to_string()) || get(KEY_MTIME) != Some(&mtime.to_string()) {
        return Err(Status::Stale(
            "older than its part (the part was replaced since)".into(),
        ));
    }
    let made = get(KEY_ASN).map(str::to_owned);
    Ok((Opened { path: r, reader }, made))
}

/// Roll up the part at `part`: aggregate it for [`SECTIONS`] at the base
/// bucket and write the result to its rollup path (replacing a stale one).
/// Returns the rollup and the part's samples.
/// With `asn`, the per-AS sums too.
pub fn write(part: &Path, asn: Option<&Arc<AsDb>>) -> Result<(PathBuf, u64), AnalyzeError> {
    let path = rollup_path(part).ok_or_else(|| FormatError::Write {
        path: part.into(),
        detail: "is not a dataset part (ROOT/date=…/host=…/FILE.parquet)".into(),
        source: None,
    })?;
    // Taken before reading: a part replaced meanwhile leaves this rollup
    // stale, not wrong.
    let (size, mtime) = stamp(part).map_err(|e| FormatError::io(part, e))?;
    let a = super::run(&part_query(part, asn), &|_| {})?;
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
    let origins = by_origin(&a, asn.map(|d| &**d))?;
    let meta = &a.inputs[0].meta;
    for (k, s) in strata {
        let name = meta
            .interface(k.ifindex, k.rate)
            .map_or_else(|| format!("if{}", k.ifindex), |i| i.name.clone());
        let key = (k.ifindex, k.direction, k.rate);
        rows.stratum((key, name), s, origins.get(k));
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
        .set_key_value_metadata(Some(
            vec![
                kv(KEY_VERSION, VERSION.into()),
                kv(KEY_SIZE, size.to_string()),
                kv(KEY_MTIME, mtime.to_string()),
                kv("pktsample.rollup.base_ns", BASE_NS.to_string()),
            ]
            .into_iter()
            .chain(asn.map(|d| kv(KEY_ASN, asn_stamp(d))))
            .collect(),
        ))
        .build();
    let batch = rows.batch();
    let mut w = ArrowWriter::try_new(f.writer()?, batch.schema(), Some(props)).map_err(werr)?;
    w.write(&batch).map_err(werr)?;
    let w = w.into_inner().map_err(werr)?;
    Ok((f.commit(w)?, samples))
}

/// Each stratum's sources' and destinations' sums by origin, sorted.
type ByStratum = std::collections::BTreeMap<super::StratumKey, table::SideOrigins>;

fn by_origin(a: &super::Analysis, db: Option<&AsDb>) -> Result<ByStratum, AnalyzeError> {
    let mut out = ByStratum::new();
    let Some(db) = db else {
        return Ok(out);
    };
    let n = a.stratum_keys.len();
    // Every stratum in (a weight), none ranked (top 0).
    let (weight, place) = (vec![Some(1.0); n], (0..n).map(Some).collect::<Vec<_>>());
    let f = Finish {
        weight: &weight,
        place: &place,
        top: 0,
        origins: Some(db),
        remote: &[],
    };
    let sum = a.addrs.summarize(&f)?;
    for side in 0..2 {
        for (&(id, o), c) in &sum.by_origin[side] {
            let k = a.stratum_keys[id as usize].clone();
            out.entry(k).or_default()[side].push((o, *c));
        }
    }
    for v in out.values_mut() {
        for side in v.iter_mut() {
            side.sort_by_key(|e| e.0);
        }
    }
    Ok(out)
}

fn part_query(part: &Path, asn: Option<&Arc<AsDb>>) -> Query {
    Query {
        inputs: vec![part.to_path_buf()],
        from: None,
        to: None,
        interfaces: vec![],
        hosts: vec![],
        directions: vec![],
        interval: Some(BASE_NS),
        sections: if asn.is_some() { ANSWERED } else { SECTIONS },
        asn: asn.cloned(),
        memory_limit: None,
        temp_dir: None,
        ignore_metadata: false,
        inner: false,
        k8s: None,
        policy: None,
        rollups: false,
    }
}

/// A rollup's stratum as the row pass would have made it for `sections`
/// at `interval` (a multiple of the base): the time series re-bucketed,
/// what those sections do not read left out.
pub fn fit(mut a: StratumAgg, sections: Sections, interval: i64) -> StratumAgg {
    if !sections.has(Section::Protocols) {
        a.protocols = None;
    }
    if !sections.has(Section::AsPairs) {
        a.as_pairs.clear();
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
    pub files: Option<Vec<Option<Opened>>>,
    pub notes: Vec<String>,
}

/// Decide whether `q` can read rollups for `inputs` at `interval`: only
/// when every input to read is a dataset part with a fresh rollup and the
/// report needs nothing else. Notes are given only where rollups exist
/// and the report's sections are theirs (a dataset never rolled up, or a
/// report with top talkers, gets none, and no rollup is opened).
pub fn choose(q: &Query, inputs: &[Input], interval: i64) -> Choice {
    let mut notes = Vec::new();
    // The datasets' `_rollup` directories.
    let roots: BTreeSet<PathBuf> = inputs
        .iter()
        .filter_map(|i| Some(part_root(&i.path)?.join(ROLLUP_DIR)))
        .filter(|r| r.is_dir())
        .collect();
    if roots.is_empty() || !ANSWERED.contains(q.sections) {
        // Never rolled up, or a section needs the samples anyway: no
        // rollup is opened, and nothing said.
        return Choice { files: None, notes };
    }
    if let Some(w) = why_not(q, interval) {
        notes.push(format!("rollups not used: {w}; the samples were read"));
        return Choice { files: None, notes };
    }
    orphans(&roots, inputs, &mut notes);
    let mut files = Vec::with_capacity(inputs.len());
    let mut stale = 0usize;
    let mut missing = 0usize;
    let mut other_db = 0usize;
    // Per-AS sums: only those made with this database.
    let want = q
        .asn
        .as_deref()
        .filter(|_| q.sections.any_as())
        .map(asn_stamp);
    for i in inputs {
        if i.skipped {
            files.push(None);
            continue;
        }
        if i.kind != FileKind::Parquet || i.foreign {
            missing += 1;
            continue;
        }
        match check(&i.path) {
            Ok((o, made)) => {
                if want.is_some() && made != want {
                    other_db += 1;
                    continue;
                }
                files.push(Some(o));
            }
            Err(Status::Missing | Status::Fresh(..)) => missing += 1,
            Err(Status::Stale(why)) => {
                stale += 1;
                notes.push(format!(
                    "rollup of {}: {why}; ignored, its samples read (run `pktsample rollup` again)",
                    i.path.display()
                ));
            }
        }
    }
    if stale == 0 && missing == 0 && other_db == 0 {
        return Choice {
            files: Some(files),
            notes,
        };
    }
    if other_db > 0 {
        notes.push(format!(
            "rollups not used: {other_db} part(s) were rolled up without this --asn-db (run `pktsample rollup DIR --asn-db …` with it); the samples were read"
        ));
    } else if missing > 0 {
        notes.push(format!(
            "rollups not used: {missing} part(s) have none (run `pktsample rollup`); the samples were read"
        ));
    }
    Choice { files: None, notes }
}

/// What in the query a rollup cannot answer, besides its sections.
fn why_not(q: &Query, interval: i64) -> Option<String> {
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
/// With `asn`, the per-AS sums too, and a part rolled up without that
/// database is rolled up again.
pub fn dataset(
    root: &Path,
    again: bool,
    asn: Option<&Arc<AsDb>>,
    on_part: &(dyn Fn(&Path, u64) + Sync),
) -> Result<Done, AnalyzeError> {
    use rayon::prelude::*;
    let parts = pktsample_schemas::dataset::parts(root)?;
    let want = asn.map(|d| asn_stamp(d));
    let todo: Vec<&PathBuf> = parts
        .iter()
        .filter(|p| {
            again
                || match status(p) {
                    Status::Fresh(_, made) => want.is_some() && made != want,
                    _ => true,
                }
        })
        .collect();
    let samples = todo
        .par_iter()
        .map(|p| {
            let (_, n) = write(p, asn)?;
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
