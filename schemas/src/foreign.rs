//! Samples Parquet written by other tools.
//!
//! DuckDB, polars, Spark and pandas drop pktsample's key-value metadata when
//! they rewrite a file (`COPY (SELECT … WHERE ip_version = 6) TO …`), and
//! may widen integers (u32 to i64), turn dictionaries into plain strings,
//! and change the timestamp's unit or zone. The rows still carry what
//! Horvitz–Thompson estimation needs. This module says which columns are
//! required ([`REQUIRED`]), casts them to the samples schema's types
//! (arrow-cast: every integer width, string and dictionary encoding,
//! timestamp unit and zone; a value out of range is an error, never
//! wrapped), and describes such a file from its rows: the interfaces and
//! rates seen and the samples' time span. It has no pools, no drops and no
//! host.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampNanosecondType, UInt32Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_cast::{CastOptions, can_cast_types, cast_with_options};
use arrow_schema::{ArrowError, DataType, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::FormatError;
use crate::guard::untrusted;
use crate::meta::{CaptureMetadata, InterfaceMeta, Source};
use crate::schema::{col, samples_schema};

/// Columns a file without pktsample metadata must have: those analyze
/// reads. Their types may be any that cast to the samples schema's.
pub const REQUIRED: [&str; 12] = [
    col::TIMESTAMP,
    col::IFINDEX,
    col::DIRECTION,
    col::SAMPLING_RATE,
    col::PKT_LEN,
    col::ETH_TYPE,
    col::IP_VERSION,
    col::SRC_ADDR,
    col::DST_ADDR,
    col::IP_PROTO,
    col::SRC_PORT,
    col::DST_PORT,
];

/// Read when present: interface names (else `ifN`).
pub const OPTIONAL: [&str; 1] = [col::IFNAME];

fn not(path: &Path, reason: String) -> FormatError {
    FormatError::NotSamples {
        path: path.into(),
        reason,
    }
}

/// The samples schema's fields this file has among the required and
/// optional columns, after checking the required are there and castable.
pub fn check(path: &Path, schema: &Schema) -> Result<SchemaRef, FormatError> {
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|c| schema.field_with_name(c).is_err())
        .collect();
    if !missing.is_empty() {
        return Err(not(
            path,
            format!(
                "no pktsample metadata, and column{} {} missing (a samples file written by another tool needs {})",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                REQUIRED.join(", ")
            ),
        ));
    }
    let target = samples_schema();
    let mut fields = Vec::new();
    for f in target.fields() {
        let name = f.name().as_str();
        if !REQUIRED.contains(&name) && !OPTIONAL.contains(&name) {
            continue;
        }
        let Ok(g) = schema.field_with_name(name) else {
            continue;
        };
        let castable = if name == col::TIMESTAMP {
            matches!(g.data_type(), DataType::Timestamp(..))
        } else {
            can_cast_types(g.data_type(), f.data_type())
        };
        if !castable {
            return Err(not(
                path,
                format!(
                    "column '{name}' is {}, which cannot be read as {}",
                    g.data_type(),
                    f.data_type()
                ),
            ));
        }
        fields.push(f.clone());
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// A batch of the file cast to `schema` (from [`check`]).
pub fn conform(
    path: &Path,
    b: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, FormatError> {
    let opts = CastOptions {
        safe: false,
        ..Default::default()
    };
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let c = b
                .column_by_name(f.name())
                .ok_or_else(|| not(path, format!("column '{}' is missing", f.name())))?;
            let c = if f.name() == col::TIMESTAMP {
                timestamp_ns(c)
            } else {
                cast_with_options(c, f.data_type(), &opts)
            }
            .map_err(|e| not(path, format!("column '{}': {e}", f.name())))?;
            if !f.is_nullable() && c.null_count() > 0 {
                return Err(not(
                    path,
                    format!("column '{}' has {} null values", f.name(), c.null_count()),
                ));
            }
            Ok(c)
        })
        .collect::<Result<_, FormatError>>()?;
    RecordBatch::try_new(schema.clone(), cols)
        .map_err(|e| not(path, format!("rows do not fit the samples schema: {e}")))
}

/// A timestamp column of any unit, with any zone or none, as nanoseconds
/// in UTC. Arrow stores zoned timestamps as UTC instants already; naive
/// ones are taken as UTC. By hand because arrow-cast resolves zone names
/// only with chrono-tz (a time-zone database for a rescaling).
fn timestamp_ns(c: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    use arrow_array::TimestampNanosecondArray;
    use arrow_array::types::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampSecondType,
    };
    fn scale<T: arrow_array::ArrowPrimitiveType<Native = i64>>(
        a: &arrow_array::PrimitiveArray<T>,
        k: i64,
    ) -> Result<ArrayRef, ArrowError> {
        let v: TimestampNanosecondArray = a.try_unary(|x| {
            x.checked_mul(k)
                .ok_or_else(|| ArrowError::ComputeError(format!("{x} is out of range")))
        })?;
        Ok(Arc::new(v.with_timezone("UTC")))
    }
    match c.data_type() {
        DataType::Timestamp(u, _) => match u {
            TimeUnit::Second => scale(c.as_primitive::<TimestampSecondType>(), 1_000_000_000),
            TimeUnit::Millisecond => scale(c.as_primitive::<TimestampMillisecondType>(), 1_000_000),
            TimeUnit::Microsecond => scale(c.as_primitive::<TimestampMicrosecondType>(), 1_000),
            TimeUnit::Nanosecond => scale(c.as_primitive::<TimestampNanosecondType>(), 1),
        },
        other => Err(ArrowError::CastError(format!(
            "is {other}, expected a timestamp"
        ))),
    }
}

/// What the rows say of a file without metadata.
#[derive(Debug, Default)]
pub struct Described {
    /// (ifindex, rate) -> name.
    interfaces: BTreeMap<(u32, u32), String>,
    first: Option<i64>,
    last: Option<i64>,
}

impl Described {
    /// Take in a conformed batch.
    pub fn add(&mut self, b: &RecordBatch) {
        let ts = b[col::TIMESTAMP].as_primitive::<TimestampNanosecondType>();
        let (lo, hi) = ts
            .values()
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, z), &t| (a.min(t), z.max(t)));
        if lo <= hi {
            self.first = Some(self.first.map_or(lo, |f| f.min(lo)));
            self.last = Some(self.last.map_or(hi, |l| l.max(hi)));
        }
        let ifindex = b[col::IFINDEX].as_primitive::<UInt32Type>();
        let rate = b[col::SAMPLING_RATE].as_primitive::<UInt32Type>();
        let names = b
            .column_by_name(col::IFNAME)
            .map(|c| c.as_dictionary::<Int32Type>());
        let mut last = None;
        for i in 0..b.num_rows() {
            let key = (ifindex.value(i), rate.value(i));
            if last == Some(key) {
                continue;
            }
            last = Some(key);
            self.interfaces.entry(key).or_insert_with(|| {
                names
                    .and_then(|n| {
                        let v = n.values().as_string::<i32>();
                        let k = n.keys().value(i) as usize;
                        (n.is_valid(i) && !v.value(k).is_empty()).then(|| v.value(k).to_string())
                    })
                    .unwrap_or_else(|| format!("if{}", key.0))
            });
        }
    }

    /// Metadata for the file: its interfaces and rates, no pools.
    pub fn metadata(self, path: &Path) -> CaptureMetadata {
        let mut m = CaptureMetadata::new(
            Source::Rows {
                input: path.display().to_string(),
            },
            0,
        );
        m.host = String::new();
        m.kernel = String::new();
        m.interfaces = self
            .interfaces
            .into_iter()
            .map(|((ifindex, rate), name)| InterfaceMeta {
                ifindex,
                name,
                mac: None,
                mtu: None,
                sampling_rate: rate,
                directions: BTreeMap::new(),
                link_type: crate::decode::linktype::ETHERNET,
                shared_pool: false,
            })
            .collect();
        m.set_time_range(self.first, self.last);
        m
    }
}

/// Read a Parquet file without pktsample metadata, batch by batch, cast to
/// the samples schema (only `columns`, when given, of those it has);
/// returns the metadata its rows describe.
pub fn read_rows<E: From<FormatError>>(
    path: &Path,
    columns: Option<&[&str]>,
    batch_rows: usize,
    mut f: impl FnMut(RecordBatch) -> Result<(), E>,
) -> Result<CaptureMetadata, E> {
    let pe = |path: &PathBuf| {
        let path = path.clone();
        move |e| FormatError::Parquet { path, err: e }
    };
    let p = path.to_path_buf();
    let file = File::open(path).map_err(|e| FormatError::io(path, e))?;
    let b = untrusted(|| ParquetRecordBatchReaderBuilder::try_new(file))
        .and_then(|r| r)
        .map_err(pe(&p))?;
    let all = check(path, b.schema())?;
    // The columns asked for, plus those the description needs.
    let keep = |n: &str| {
        columns.is_none_or(|c| c.contains(&n))
            || [
                col::TIMESTAMP,
                col::IFINDEX,
                col::SAMPLING_RATE,
                col::IFNAME,
            ]
            .contains(&n)
    };
    let schema: SchemaRef = Arc::new(Schema::new(
        all.fields()
            .iter()
            .filter(|f| keep(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    ));
    let mask = ProjectionMask::columns(
        b.parquet_schema(),
        schema.fields().iter().map(|f| f.name().as_str()),
    );
    let mut reader = b
        .with_projection(mask)
        .with_batch_size(batch_rows)
        .build()
        .map_err(pe(&p))?;
    let mut d = Described::default();
    while let Some(batch) = untrusted(|| reader.next()).map_err(pe(&p))? {
        let batch = batch.map_err(|e| pe(&p)(e.into()))?;
        let batch = conform(path, &batch, &schema)?;
        d.add(&batch);
        f(batch)?;
    }
    Ok(d.metadata(path))
}
