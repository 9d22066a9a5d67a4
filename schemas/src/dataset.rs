//! The partitioned dataset: what `capture`/`collect -o DIR/` write so that
//! SQL engines (DuckDB, ClickHouse, Spark, Trino) read a fleet's samples as
//! one table, and the pools companion table that carries each part's exact
//! counters as rows those engines can join.
//!
//! Layout (Hive-style partitions, one part per rotation):
//!
//! ```text
//! DIR/date=2026-12-01/host=edge1/part-20261201T100000Z-0001.parquet   samples
//! DIR/_pools/date=2026-12-01/host=edge1/part-20261201T100000Z-0001.parquet   its pools
//! ```
//!
//! The pools table lives under `_pools`, which Spark and pyarrow datasets
//! skip (a leading underscore) and which a samples glob
//! `DIR/date=*/host=*/*.parquet` does not reach. Partition values are
//! escaped like Hive's (`%2F` for `/`, …), so any host name is one path
//! segment.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::error::FormatError;
use crate::meta::{CaptureMetadata, parse_rfc3339_ns};
use crate::output::AtomicFile;

/// The directory of the pools companion table, under the dataset root.
pub const POOLS_DIR: &str = "_pools";
/// Version of the pools table (`schemas/README.md`, "The pools table").
pub const POOLS_VERSION: &str = "1.0";
/// Key of the pools table's version in its Parquet metadata.
pub const POOLS_KEY: &str = "pktsample.pools_version";

/// Whether an output names a dataset root: it ends with `/` or is a
/// directory.
pub fn is_root(out: &Path) -> bool {
    out.as_os_str().to_string_lossy().ends_with('/') || out.is_dir()
}

/// Escape a partition value as Hive does: `/`, `=`, `%`, `:`, `\`, `#`, `?`,
/// quotes, control characters and a leading dot become `%XX`.
pub fn escape(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let bad = matches!(
            c,
            '/' | '\\'
                | '='
                | '%'
                | ':'
                | '#'
                | '?'
                | '"'
                | '\''
                | '*'
                | '['
                | ']'
                | '{'
                | '}'
                | '^'
        ) || c.is_control()
            || (i == 0 && c == '.');
        if bad && (c as u32) < 0x80 {
            o.push_str(&format!("%{:02X}", c as u32));
        } else {
            o.push(c);
        }
    }
    if o.is_empty() { "%00".into() } else { o }
}

/// The value of a partition directory name (`key=value`, unescaped).
pub fn partition_value(name: &str, key: &str) -> Option<String> {
    let v = name.strip_prefix(key)?.strip_prefix('=')?;
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            if x != 0 {
                out.push(x);
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One day in ns.
pub const DAY_NS: i64 = 86_400_000_000_000;

/// The UTC day (days since the epoch) of a time in ns.
pub fn day_of(ns: i64) -> i64 {
    ns.div_euclid(DAY_NS)
}

/// `YYYY-MM-DD` of a day since the epoch.
pub fn date_text(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The day of a `date=` partition value.
pub fn parse_date(v: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
    Some(
        d.and_hms_opt(0, 0, 0)?
            .and_utc()
            .timestamp()
            .div_euclid(86_400),
    )
}

/// The path of part `n` of `host`, opened at `now_ns`:
/// `ROOT/date=…/host=…/part-YYYYMMDDTHHMMSSZ-NNNN.parquet`. Its directories
/// are created.
pub fn part_path(root: &Path, host: &str, now_ns: i64, n: u32) -> Result<PathBuf, FormatError> {
    let t = chrono::DateTime::from_timestamp_nanos(now_ns);
    let dir = root
        .join(format!("date={}", date_text(day_of(now_ns))))
        .join(format!("host={}", escape(host)));
    std::fs::create_dir_all(&dir)
        .map_err(|e| FormatError::write_io(&dir, "cannot create the partition directory", e))?;
    Ok(dir.join(format!(
        "part-{}-{n:04}.parquet",
        t.format("%Y%m%dT%H%M%SZ")
    )))
}

/// Where a dataset's rollups go (`pktsample rollup`; one file per part).
pub const ROLLUP_DIR: &str = "_rollup";

/// The root of the dataset holding the part at `part`, from the layout
/// alone (`ROOT/date=…/host=…/FILE`); None for a file outside it.
pub fn part_root(part: &Path) -> Option<&Path> {
    let host = part.parent()?;
    let date = host.parent()?;
    let named = |p: &Path, pre: &str| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(pre))
    };
    if !named(host, "host=") || !named(date, "date=") {
        return None;
    }
    date.parent()
}

/// The rollup of the part at `part`: the same relative path under
/// `ROOT/_rollup`; None for a file outside the layout.
pub fn rollup_path(part: &Path) -> Option<PathBuf> {
    let root = part_root(part)?;
    Some(root.join(ROLLUP_DIR).join(part.strip_prefix(root).ok()?))
}

/// Where the pools of a part go: the same relative path under `_pools`.
pub fn pools_path(root: &Path, part: &Path) -> Option<PathBuf> {
    let rel = part.strip_prefix(root).ok()?;
    Some(root.join(POOLS_DIR).join(rel))
}

/// The pools table's schema (version [`POOLS_VERSION`]).
pub fn pools_schema() -> Schema {
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let fields = vec![
        Field::new("host", DataType::Utf8, false),
        Field::new("ifname", DataType::Utf8, false),
        Field::new("direction", DataType::Utf8, false),
        Field::new("sampling_rate", DataType::Int64, false),
        Field::new("start", ts.clone(), true),
        Field::new("end", ts, true),
        Field::new("packets_seen", DataType::Int64, false),
        Field::new("samples", DataType::Int64, false),
        Field::new("drops", DataType::Int64, false),
        Field::new("lost_datagrams", DataType::Int64, true),
        Field::new("shared_pool", DataType::Boolean, false),
        Field::new("part", DataType::Utf8, false),
        Field::new("schema_version", DataType::Utf8, false),
    ];
    let mut md = std::collections::HashMap::new();
    md.insert(POOLS_KEY.to_string(), POOLS_VERSION.to_string());
    Schema::new(fields).with_metadata(md)
}

/// One pools row: ifname, direction, rate, packets seen, samples, drops,
/// lost datagrams, shared pool.
type PoolRow = (String, String, i64, i64, i64, i64, Option<i64>, bool);

/// The pools rows of one part: one per interface and direction of its
/// metadata; `part` is its path relative to the dataset root.
pub fn pools_batch(meta: &CaptureMetadata, part: &str) -> RecordBatch {
    let (start, end) = {
        let ns = |t: &Option<String>| t.as_deref().and_then(parse_rfc3339_ns);
        (ns(&meta.start_time), ns(&meta.end_time))
    };
    // Lost datagrams are the agent's: the same on each of its sources.
    let lost = |ifname: &str| -> Option<i64> {
        let s = meta.sflow.as_ref()?;
        let agent = ifname.split('/').next()?;
        Some(
            s.agents
                .iter()
                .filter(|a| a.agent == agent)
                .map(|a| a.lost_datagrams as i64)
                .sum(),
        )
    };
    let mut rows: Vec<PoolRow> = Vec::new();
    for im in &meta.interfaces {
        for (d, st) in &im.directions {
            rows.push((
                im.name.clone(),
                d.as_str().to_string(),
                i64::from(im.sampling_rate),
                st.packets_seen as i64,
                st.samples as i64,
                st.drops as i64,
                lost(&im.name),
                im.shared_pool,
            ));
        }
    }
    let n = rows.len();
    let col = |f: &dyn Fn(&PoolRow) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
    };
    let ts = |v: Option<i64>| -> ArrayRef {
        Arc::new(TimestampNanosecondArray::from(vec![v; n]).with_timezone("UTC"))
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![meta.host.as_str(); n])),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.1.as_str()),
        )),
        col(&|r| r.2),
        ts(start),
        ts(end),
        col(&|r| r.3),
        col(&|r| r.4),
        col(&|r| r.5),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.6).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.7).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(vec![part; n])),
        Arc::new(StringArray::from(vec![meta.schema_version.as_str(); n])),
    ];
    RecordBatch::try_new(Arc::new(pools_schema()), cols).expect("pools columns match their schema")
}

/// Write the pools of the part at `part` (under `root`) from its metadata,
/// atomically; returns the pools file.
pub fn write_pools(
    root: &Path,
    part: &Path,
    meta: &CaptureMetadata,
    force: bool,
) -> Result<PathBuf, FormatError> {
    let path = pools_path(root, part).ok_or_else(|| FormatError::Write {
        path: part.into(),
        detail: format!("is not under the dataset root {}", root.display()),
        source: None,
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| FormatError::write_io(dir, "cannot create the pools directory", e))?;
    }
    let rel = part
        .strip_prefix(root)
        .unwrap_or(part)
        .to_string_lossy()
        .into_owned();
    let batch = pools_batch(meta, &rel);
    let f = AtomicFile::create(&path, force)?;
    let w = f.writer()?;
    let werr = |e: parquet::errors::ParquetError| FormatError::Write {
        path: path.clone(),
        detail: e.to_string(),
        source: None,
    };
    let mut aw = ArrowWriter::try_new(w, batch.schema(), Some(WriterProperties::builder().build()))
        .map_err(werr)?;
    aw.write(&batch).map_err(werr)?;
    let w = aw.into_inner().map_err(werr)?;
    f.commit(w)
}

/// The samples parts of a dataset: its `.parquet` files outside `_` and
/// hidden directories, sorted.
pub fn parts(root: &Path) -> Result<Vec<PathBuf>, FormatError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), FormatError> {
        let rd = std::fs::read_dir(dir).map_err(|e| FormatError::io(dir, e))?;
        for e in rd {
            let p = e.map_err(|e| FormatError::io(dir, e))?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            if p.is_dir() {
                walk(&p, out)?;
            } else if name.ends_with(".parquet") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, &mut out)?;
    out.sort();
    Ok(out)
}

/// Fill the AS and Kubernetes columns of every part of the dataset at `root` in place:
/// each part is rewritten beside itself under a hidden name and renamed
/// over the original (a reader sees the old part or the new one, never
/// half of one), then its pools are rewritten (the part's schema version
/// becomes this one). `on_part` hears of each part done with its rows.
pub fn enrich(
    root: &Path,
    with: &crate::Enrichment,
    on_part: &mut dyn FnMut(&Path, u64),
) -> Result<usize, FormatError> {
    let all = parts(root)?;
    for part in &all {
        let name = part
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("part.parquet");
        let tmp = part.with_file_name(format!(".{name}.enrich.parquet"));
        let s = crate::convert::convert(part, &tmp, true, with.clone())?;
        std::fs::rename(&tmp, part)
            .map_err(|e| FormatError::write_io(part, "cannot replace the part", e))?;
        if root.join(POOLS_DIR).is_dir() {
            write_pools(root, part, &s.metadata, true)?;
        }
        on_part(part, s.rows);
    }
    Ok(all.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_round_trip_through_escaping() {
        for h in ["edge1", "a/b=c%d", ".hidden", "x:y", "naïve host", ""] {
            let name = format!("host={}", escape(h));
            assert!(!name[5..].contains('/'), "{name}");
            assert_eq!(partition_value(&name, "host").as_deref(), Some(h), "{name}");
        }
        assert_eq!(partition_value("date=2026-12-01", "host"), None);
    }

    #[test]
    fn dates_and_days_agree() {
        let ns = 1_764_547_200_000_000_000; // 2025-12-01T00:00:00Z
        assert_eq!(date_text(day_of(ns)), "2025-12-01");
        assert_eq!(date_text(day_of(ns - 1)), "2025-11-30");
        assert_eq!(parse_date("2025-12-01"), Some(day_of(ns)));
        assert_eq!(parse_date("2025-13-01"), None);
    }
}
