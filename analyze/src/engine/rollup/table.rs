//! The rollup table: its columns, writing a part's strata as rows, and
//! reading them back (schemas/README.md, "Rollups").

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use pktsample_schemas::Direction;
use rustc_hash::FxHashMap;

use super::super::agg::StratumAgg;
use super::super::tables::ProtoSums;
use crate::stats::Cell;

pub(super) fn schema() -> Arc<Schema> {
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

/// A stratum's sources' and destinations' sums by origin key, sorted.
pub(super) type SideOrigins = [Vec<(u64, (Cell, Cell))>; 2];

/// Rows of the rollup table, column by column.
#[derive(Default)]
pub(super) struct Rows {
    ifindex: Vec<u32>,
    /// The interface's name in the part's metadata (what SQL keys by).
    ifname: Vec<String>,
    /// The name of the stratum being written.
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

    /// A stratum's rows: its sums, and (rolled up with an ASN database)
    /// its sums by origin; `name` its interface's.
    pub(super) fn stratum(
        &mut self,
        (s, name): ((u32, Direction, u32), String),
        a: &StratumAgg,
        origins: Option<&SideOrigins>,
    ) {
        self.name = name;
        self.sums(s, a);
        if let Some(o) = origins {
            self.origins(s, o, a);
        }
    }

    fn sums(&mut self, s: (u32, Direction, u32), a: &StratumAgg) {
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

    /// A stratum's sums by origin (sources, destinations) and its AS
    /// pairs.
    fn origins(&mut self, s: (u32, Direction, u32), o: &SideOrigins, a: &StratumAgg) {
        for (side, (all, v6)) in [
            ("src_origin", "src_origin_v6"),
            ("dst_origin", "dst_origin_v6"),
        ]
        .into_iter()
        .enumerate()
        {
            for &(k, (c, c6)) in &o[side] {
                self.push(s, all, (Some(k as i64), None), c);
                if c6.n > 0 {
                    self.push(s, v6, (Some(k as i64), None), c6);
                }
            }
        }
        let mut pairs: Vec<_> = a.as_pairs.iter().collect();
        pairs.sort_by_key(|e| e.0);
        for (&(x, y), c) in pairs {
            self.push(s, "as_pair", (Some(x as i64), Some(y as i64)), *c);
        }
    }

    pub(super) fn batch(self) -> RecordBatch {
        let cell = &self.cell;
        let cells = |f: fn(&Cell) -> u64| UInt64Array::from_iter_values(cell.iter().map(f));
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(UInt32Array::from(self.ifindex)),
                Arc::new(StringArray::from(self.ifname)),
                Arc::new(StringArray::from(self.direction)),
                Arc::new(UInt32Array::from(self.rate)),
                Arc::new(StringArray::from(self.set)),
                Arc::new(Int64Array::from(self.k1)),
                Arc::new(Int64Array::from(self.k2)),
                Arc::new(cells(|c| c.n)),
                Arc::new(cells(|c| c.bytes)),
                Arc::new(cells(|c| c.bytes2)),
                Arc::new(UInt32Array::from_iter_values(cell.iter().map(|c| c.max))),
            ],
        )
        .expect("rollup columns match their schema")
    }
}

/// Sums by origin key (`Origin::key`): (all IP, IPv6 only).
pub type Origins = FxHashMap<u64, (Cell, Cell)>;

/// A stratum of a rollup: (ifindex, direction, rate), its sums at the
/// base bucket, and (rolled up with an ASN database) its sources' and
/// destinations' sums by origin.
pub struct RolledStratum {
    pub key: (u32, Direction, u32),
    pub agg: StratumAgg,
    pub origins: [Origins; 2],
}

/// Read the rollups chosen for `inputs` (see [`super::choose`]): per
/// input, its strata; or a note naming the first that cannot be read.
pub fn read_all(files: Vec<Option<Opened>>) -> Result<Vec<(usize, Vec<RolledStratum>)>, String> {
    use rayon::prelude::*;
    files
        .into_par_iter()
        .enumerate()
        .filter_map(|(i, f)| f.map(|f| (i, f)))
        .map(|(i, f)| {
            let path = f.path.display().to_string();
            read(f.reader)
                .map(|s| (i, s))
                .map_err(|e| format!("rollup {path}: {e}; the samples were read instead"))
        })
        .collect()
}

/// A rollup opened (its footer read) to be read.
pub struct Opened {
    pub path: PathBuf,
    pub reader: ParquetRecordBatchReaderBuilder<std::fs::File>,
}

/// Read a rollup back.
fn read(b: ParquetRecordBatchReaderBuilder<std::fs::File>) -> Result<Vec<RolledStratum>, String> {
    let r = b.build().map_err(|e| e.to_string())?;
    let mut out: Strata = Default::default();
    for b in r {
        let b = b.map_err(|e| e.to_string())?;
        fold_batch(&b, &mut out)?;
    }
    out.into_iter()
        .map(|(key, (mut r, p))| {
            if p.any {
                r.agg.protocols = Some(
                    ProtoSums::from_parts(p.eth, p.ip, &p.service)
                        .ok_or("a service port this version does not name")?,
                );
            }
            debug_assert_eq!(r.key, key);
            Ok(r)
        })
        .collect()
}

type Strata = std::collections::BTreeMap<(u32, Direction, u32), (RolledStratum, Proto)>;

#[derive(Default)]
struct Proto {
    any: bool,
    eth: Vec<(u16, Cell)>,
    ip: Vec<(u8, Cell)>,
    service: Vec<((u8, Option<u16>), Cell)>,
}

fn fold_batch(b: &RecordBatch, out: &mut Strata) -> Result<(), String> {
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
        let key = (ifx.value(i), d, rate.value(i));
        let (r, p) = out.entry(key).or_insert_with(|| {
            let r = RolledStratum {
                key,
                agg: StratumAgg::default(),
                origins: Default::default(),
            };
            (r, Proto::default())
        });
        let (agg, origins) = (&mut r.agg, &mut r.origins);
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
            "as_pair" => {
                let (a, b) = (key(k1)?, key(k2)?);
                agg.as_pairs
                    .entry((a as u64, b as u64))
                    .or_default()
                    .merge(&c);
            }
            "src_origin" => origins[0].entry(key(k1)? as u64).or_default().0.merge(&c),
            "src_origin_v6" => origins[0].entry(key(k1)? as u64).or_default().1.merge(&c),
            "dst_origin" => origins[1].entry(key(k1)? as u64).or_default().0.merge(&c),
            "dst_origin_v6" => origins[1].entry(key(k1)? as u64).or_default().1.merge(&c),
            other => return Err(format!("a set it does not know ({other})")),
        }
    }
    Ok(())
}
