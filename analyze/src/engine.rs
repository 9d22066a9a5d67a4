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

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampNanosecondType, UInt8Type, UInt16Type, UInt32Type};
use arrow_array::{Array, ArrayRef, DictionaryArray, RecordBatch};
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
use rustc_hash::FxHashMap;

use crate::error::AnalyzeError;
use crate::stats::Cell;
use pktsample_asn::AsDb;

/// Which sections to compute (and so which columns to read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sections {
    pub summary: bool,
    pub ip_versions: bool,
    pub protocols: bool,
    pub interfaces: bool,
    pub top_sources: bool,
    pub top_destinations: bool,
    pub time_series: bool,
    pub packet_sizes: bool,
    /// Per-AS sections (need an ASN database).
    pub src_as: bool,
    pub dst_as: bool,
    pub remote_as: bool,
    pub as_pairs: bool,
    pub as_ipv6: bool,
}

impl Sections {
    pub const ALL: Sections = Sections {
        summary: true,
        ip_versions: true,
        protocols: true,
        interfaces: true,
        top_sources: true,
        top_destinations: true,
        time_series: true,
        packet_sizes: true,
        src_as: true,
        dst_as: true,
        remote_as: true,
        as_pairs: true,
        as_ipv6: true,
    };
    pub const NAMES: [&'static str; 13] = [
        "summary",
        "ip-versions",
        "protocols",
        "interfaces",
        "top-sources",
        "top-destinations",
        "time-series",
        "packet-sizes",
        "src-as",
        "dst-as",
        "remote-as",
        "as-pairs",
        "as-ipv6",
    ];

    pub fn none() -> Sections {
        Sections {
            summary: false,
            ip_versions: false,
            protocols: false,
            interfaces: false,
            top_sources: false,
            top_destinations: false,
            time_series: false,
            packet_sizes: false,
            src_as: false,
            dst_as: false,
            remote_as: false,
            as_pairs: false,
            as_ipv6: false,
        }
    }

    /// Whether any per-AS section is on.
    pub fn any_as(&self) -> bool {
        self.src_as || self.dst_as || self.remote_as || self.as_pairs || self.as_ipv6
    }

    /// Turn the per-AS sections off (no ASN database).
    pub fn without_as(mut self) -> Sections {
        self.src_as = false;
        self.dst_as = false;
        self.remote_as = false;
        self.as_pairs = false;
        self.as_ipv6 = false;
        self
    }

    /// Enable a section by its name in [`Sections::NAMES`].
    pub fn enable(&mut self, name: &str) -> bool {
        let f = match name {
            "summary" => &mut self.summary,
            "ip-versions" => &mut self.ip_versions,
            "protocols" => &mut self.protocols,
            "interfaces" => &mut self.interfaces,
            "top-sources" => &mut self.top_sources,
            "top-destinations" => &mut self.top_destinations,
            "time-series" => &mut self.time_series,
            "packet-sizes" => &mut self.packet_sizes,
            "src-as" => &mut self.src_as,
            "dst-as" => &mut self.dst_as,
            "remote-as" => &mut self.remote_as,
            "as-pairs" => &mut self.as_pairs,
            "as-ipv6" => &mut self.as_ipv6,
            _ => return false,
        };
        *f = true;
        true
    }

    fn addresses(&self) -> bool {
        self.top_sources || self.top_destinations || self.ip_versions || self.any_as()
    }
}

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
}

/// A stratum: samples of one file, interface, direction and rate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StratumKey {
    pub file: u32,
    pub ifindex: u32,
    pub direction: Direction,
    pub rate: u32,
}

/// Size classes of the packet-size distribution (RMON-style, jumbo last).
pub const SIZE_CLASSES: [(u32, u32); 8] = [
    (0, 63),
    (64, 64),
    (65, 127),
    (128, 255),
    (256, 511),
    (512, 1023),
    (1024, 1518),
    (1519, u32::MAX),
];

/// IP version byte -> 0 (not IP), 1 (IPv4), 2 (IPv6).
static VERSION_INDEX: [u8; 256] = {
    let mut t = [0u8; 256];
    t[4] = 1;
    t[6] = 2;
    t
};

/// Packet length -> index in [`SIZE_CLASSES`], by table, built from those
/// classes (lengths past 1518 share the last).
static SIZE_INDEX: [u8; 1520] = {
    let mut t = [0u8; 1520];
    let mut l = 0;
    while l < 1520 {
        let mut c = 0;
        while (l as u32) > SIZE_CLASSES[c].1 {
            c += 1;
        }
        t[l] = c as u8;
        l += 1;
    }
    t
};

#[inline(always)]
fn size_index(len: u32) -> usize {
    SIZE_INDEX[(len as usize).min(1519)] as usize
}

#[cfg(test)]
#[test]
fn port_slots_match_the_port_list() {
    let t = ports();
    for (slot, &p) in t.port.iter().enumerate() {
        assert_eq!(t.slot(p) as usize, slot, "port {p}");
    }
}

#[cfg(test)]
#[test]
fn size_table_matches_classes() {
    for l in 0..3000u32 {
        let (lo, hi) = SIZE_CLASSES[size_index(l)];
        assert!((lo..=hi).contains(&l), "{l}");
    }
}

/// Ports as dense slots: every port below 1024, then the named ports above,
/// then one slot for "other". Built once.
struct PortTable {
    /// One bit per port: has a service name (8 KiB, stays in L1).
    known: Vec<u64>,
    /// Slot -> port.
    port: Vec<u16>,
    /// Named ports of 1024 and above before each 64-port word: with the
    /// bitmap, the rank of a named high port (2 KiB, stays in L1).
    rank: Vec<u16>,
}

impl PortTable {
    #[inline(always)]
    fn is_known(&self, p: u16) -> bool {
        self.known[(p >> 6) as usize] & (1 << (p & 63)) != 0
    }

    /// Slot of a port below 1024 or a named one: the port itself below
    /// 1024, else 1024 + its rank among the named high ports. Arithmetic on
    /// L1-resident tables, no branch.
    #[inline(always)]
    fn slot(&self, p: u16) -> u16 {
        let w = (p >> 6) as usize;
        let below = self.known[w] & ((1u64 << (p & 63)) - 1);
        let high = 1024 + self.rank[w] + below.count_ones() as u16;
        select(p < 1024, p, high)
    }
}

fn ports() -> &'static PortTable {
    static T: std::sync::OnceLock<PortTable> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut known = vec![0u64; 1024];
        for p in 0..=u16::MAX {
            if crate::names::service_name(p).is_some() {
                known[(p >> 6) as usize] |= 1 << (p & 63);
            }
        }
        let mut port: Vec<u16> = (0..1024).collect();
        port.extend((1024..=u16::MAX).filter(|&p| known[(p >> 6) as usize] & (1 << (p & 63)) != 0));
        let mut rank = vec![0u16; 1024];
        let mut count = 0u16;
        for (w, r) in rank.iter_mut().enumerate() {
            *r = count;
            if w >= 16 {
                count += known[w].count_ones() as u16;
            }
        }
        PortTable { known, port, rank }
    })
}

/// Slots per transport: the named/low ports and "other".
fn port_slots() -> usize {
    ports().port.len() + 1
}

/// Well-known service of a TCP/UDP/SCTP packet: the named port of the two
/// (destination first), else the lower one if it is below 1024.
pub fn service_port(sport: u16, dport: u16) -> Option<u16> {
    service_port_in(ports(), sport, dport)
}

#[inline(always)]
fn service_port_in(t: &PortTable, sport: u16, dport: u16) -> Option<u16> {
    if t.is_known(dport) {
        Some(dport)
    } else if t.is_known(sport) {
        Some(sport)
    } else {
        let m = sport.min(dport);
        (m < 1024).then_some(m)
    }
}

/// Transports with ports, in slot order.
const TRANSPORTS: [u8; 4] = [6, 17, 132, 136];

/// IP protocol -> index in TRANSPORTS, or u8::MAX.
static TRANSPORT_INDEX: [u8; 256] = {
    let mut t = [u8::MAX; 256];
    t[6] = 0;
    t[17] = 1;
    t[132] = 2;
    t[136] = 3;
    t
};

/// Dense protocol sums of one stratum.
#[derive(Clone, Debug)]
pub struct Protocols {
    /// Few distinct EtherTypes: a short list searched linearly.
    eth_type: Vec<(u16, Cell)>,
    ip_proto: Vec<Cell>,
    /// transport index * port_slots() + slot.
    service: Vec<Cell>,
}

impl Default for Protocols {
    fn default() -> Self {
        Protocols {
            eth_type: Vec::new(),
            ip_proto: vec![Cell::default(); 256],
            service: vec![Cell::default(); TRANSPORTS.len() * port_slots()],
        }
    }
}

impl Protocols {
    #[inline(always)]
    fn add_eth(&mut self, t: u16, l: u32) {
        // Almost always the first or second entry.
        if let Some((k, c)) = self.eth_type.first_mut()
            && *k == t
        {
            c.add(l);
            return;
        }
        match self.eth_type.iter_mut().find(|(k, _)| *k == t) {
            Some((_, c)) => c.add(l),
            None => {
                let mut c = Cell::default();
                c.add(l);
                self.eth_type.push((t, c));
            }
        }
    }

    fn add_eth_cell(&mut self, t: u16, c: &Cell) {
        match self.eth_type.iter_mut().find(|(k, _)| *k == t) {
            Some((_, d)) => d.merge(c),
            None => self.eth_type.push((t, *c)),
        }
    }

    fn merge(&mut self, o: &Protocols) {
        for (t, c) in &o.eth_type {
            match self.eth_type.iter_mut().find(|(k, _)| k == t) {
                Some((_, d)) => d.merge(c),
                None => self.eth_type.push((*t, *c)),
            }
        }
        for (a, b) in self.ip_proto.iter_mut().zip(&o.ip_proto) {
            a.merge(b);
        }
        for (a, b) in self.service.iter_mut().zip(&o.service) {
            a.merge(b);
        }
    }

    pub fn eth_types(&self) -> Vec<(u16, Cell)> {
        self.eth_type.clone()
    }

    pub fn ip_protos(&self) -> Vec<(u8, Cell)> {
        let mut all = self.ip_proto.clone();
        let n = port_slots();
        for (ti, &p) in TRANSPORTS.iter().enumerate() {
            for c in &self.service[ti * n..(ti + 1) * n] {
                all[p as usize].merge(c);
            }
        }
        all.iter()
            .enumerate()
            .filter(|(_, c)| c.n > 0)
            .map(|(p, c)| (p as u8, *c))
            .collect()
    }

    /// ((IP protocol, service port or None = other), sums).
    pub fn services(&self) -> Vec<((u8, Option<u16>), Cell)> {
        let t = ports();
        let n = port_slots();
        self.service
            .iter()
            .enumerate()
            .filter(|(_, c)| c.n > 0)
            .map(|(i, c)| {
                let (ti, slot) = (i / n, i % n);
                ((TRANSPORTS[ti], t.port.get(slot).copied()), *c)
            })
            .collect()
    }
}

/// Sums per address. Std's hasher, not Fx: Fx hashes addresses that differ
/// only in a few bytes (2001:db8:…::1, ::2, …) into long probe chains.
pub type AddrMap = std::collections::HashMap<IpAddr, Cell>;

/// Sums of one stratum.
#[derive(Clone, Debug, Default)]
pub struct StratumAgg {
    /// Samples in the stratum before the time filter (the design's n).
    pub rows: u64,
    pub total: Cell,
    /// Index 0: not IP, 1: IPv4, 2: IPv6.
    pub ip_version: [Cell; 3],
    /// EtherTypes, IP protocols and services (when asked for).
    pub protocols: Option<Box<Protocols>>,
    pub size: [Cell; SIZE_CLASSES.len()],
    /// Bucket index (timestamp / interval) -> sums.
    pub time: FxHashMap<i64, Cell>,
    pub src: AddrMap,
    pub dst: AddrMap,
    /// (source origin key, destination origin key) -> sums; see
    /// `Origin::key`.
    pub as_pairs: FxHashMap<(u64, u64), Cell>,
    /// Pair sums by the folder's origin slots (packed src << 32 | dst),
    /// while a unit is being read; moved to `as_pairs` at its end.
    pair_slots: FxHashMap<u64, Cell>,
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
}

fn merge_map<K: std::hash::Hash + Eq, S: std::hash::BuildHasher>(
    a: &mut std::collections::HashMap<K, Cell, S>,
    b: std::collections::HashMap<K, Cell, S>,
) {
    if a.is_empty() {
        *a = b;
        return;
    }
    for (k, c) in b {
        a.entry(k).or_default().merge(&c);
    }
}

impl StratumAgg {
    fn merge(&mut self, o: StratumAgg) {
        self.rows += o.rows;
        self.total.merge(&o.total);
        for i in 0..3 {
            self.ip_version[i].merge(&o.ip_version[i]);
        }
        for i in 0..SIZE_CLASSES.len() {
            self.size[i].merge(&o.size[i]);
        }
        match (&mut self.protocols, o.protocols) {
            (Some(a), Some(b)) => a.merge(&b),
            (a @ None, b) => *a = b,
            (_, None) => {}
        }
        merge_map(&mut self.time, o.time);
        merge_map(&mut self.src, o.src);
        merge_map(&mut self.dst, o.dst);
        merge_map(&mut self.as_pairs, o.as_pairs);
        self.first_ns = match (self.first_ns, o.first_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ns = match (self.last_ns, o.last_ns) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// A partial (then the final) aggregate.
#[derive(Debug, Default)]
pub struct Aggregate {
    pub strata: FxHashMap<StratumKey, StratumAgg>,
}

impl Aggregate {
    fn merge(mut self, o: Aggregate) -> Aggregate {
        if self.strata.len() < o.strata.len() {
            return o.merge(self);
        }
        for (k, s) in o.strata {
            match self.strata.get_mut(&k) {
                Some(t) => t.merge(s),
                None => {
                    self.strata.insert(k, s);
                }
            }
        }
        self
    }
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

/// What one worker thread accumulates over the units it reads (rayon
/// folds units into one per thread, then reduces those): one set of maps
/// per thread rather than per row group keeps memory and merging small
/// when there are many addresses and AS pairs.
struct ThreadAcc {
    agg: Aggregate,
    /// Metadata of pcap/pcapng inputs, known once read.
    metas: Vec<(usize, CaptureMetadata)>,
    /// EtherType -> slot (u8::MAX: none yet), and slot -> EtherType.
    eth_slot: Vec<u8>,
    eth_keys: Vec<u16>,
    /// Origins (AS or class) met so far, as dense slots for the AS pairs:
    /// origin key -> slot, and slot -> key.
    origin_slot: FxHashMap<u64, u32>,
    origin_keys: Vec<u64>,
}

impl ThreadAcc {
    fn new() -> ThreadAcc {
        ThreadAcc {
            agg: Aggregate::default(),
            metas: Vec::new(),
            eth_slot: vec![u8::MAX; 65536],
            eth_keys: Vec::new(),
            origin_slot: FxHashMap::default(),
            origin_keys: Vec::new(),
        }
    }

    /// Re-key the AS pairs from this thread's slots to origin keys.
    fn resolve_pairs(&mut self) {
        let keys = &self.origin_keys;
        for a in self.agg.strata.values_mut() {
            for (k, c) in a.pair_slots.drain() {
                let pair = (keys[(k >> 32) as usize], keys[(k & 0xffff_ffff) as usize]);
                a.as_pairs.entry(pair).or_default().merge(&c);
            }
        }
    }

    fn merge(mut self, mut o: ThreadAcc) -> ThreadAcc {
        self.resolve_pairs();
        o.resolve_pairs();
        self.agg = std::mem::take(&mut self.agg).merge(o.agg);
        self.metas.extend(o.metas);
        self
    }
}

/// Per-batch state for the rows of one file.
struct Folder<'a> {
    file: u32,
    q: &'a Query,
    interval: i64,
    /// Strata excluded by the interface/direction filters.
    excluded: &'a dyn Fn(u32, Direction, u32) -> bool,
    acc: &'a mut ThreadAcc,
    addr_cache: Option<AddrCache>,
    /// The unit's one stratum (ifindex, direction, rate), when the Parquet
    /// statistics show those columns constant: they are then not read.
    constant: Option<(u32, Direction, u32)>,
}

/// A primitive column of the batch, or a schema error naming it.
fn prim<'b, T: arrow_array::ArrowPrimitiveType>(
    b: &'b RecordBatch,
    name: &str,
) -> Result<&'b arrow_array::PrimitiveArray<T>, AnalyzeError> {
    b.column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<T>())
        .ok_or_else(|| {
            AnalyzeError::Schema(format!("column '{name}' is missing or of the wrong type"))
        })
}

/// Validity as raw bits: a null buffer's bitmap and offset (None: no nulls).
fn bits(n: Option<&arrow_buffer::NullBuffer>) -> Option<(&[u8], usize)> {
    n.filter(|n| n.null_count() > 0)
        .map(|n| (n.inner().values(), n.inner().offset()))
}

/// `if c { a } else { b }` without a branch (the conditions are random from
/// row to row, so a branch would mispredict half the time).
#[inline(always)]
fn select(c: bool, a: u16, b: u16) -> u16 {
    b ^ ((a ^ b) & 0u16.wrapping_sub(c as u16))
}

/// Whether bit i of a validity bitmap is set (no bitmap: valid).
#[inline(always)]
fn valid(b: Option<(&[u8], usize)>, i: usize) -> bool {
    b.is_none_or(|(v, o)| arrow_buffer::bit_util::get_bit(v, o + i))
}

/// Call `f(row, stratum)` for the selected rows: all rows of stratum 0 when
/// there is no selection vector, else the rows whose entry is not skipped.
#[inline(always)]
fn each(n: usize, sel: Option<&[u32]>, mut f: impl FnMut(usize, usize)) {
    match sel {
        None => (0..n).for_each(|i| f(i, 0)),
        Some(sel) => {
            for (i, &s) in sel.iter().enumerate() {
                if s != u32::MAX {
                    f(i, s as usize);
                }
            }
        }
    }
}

/// Direction of each dictionary value.
fn directions(d: &DictionaryArray<Int32Type>) -> Vec<Direction> {
    let v = d.values().as_string::<i32>();
    (0..v.len())
        .map(|i| Direction::parse(v.value(i)).unwrap_or(Direction::Unknown))
        .collect()
}

/// Parse each dictionary value of an address column once.
fn addresses(d: &DictionaryArray<Int32Type>) -> Vec<Option<IpAddr>> {
    let v = d.values().as_string::<i32>();
    (0..v.len())
        .map(|i| v.is_valid(i).then(|| v.value(i).parse().ok()).flatten())
        .collect()
}

fn dict_column(
    b: &RecordBatch,
    name: &str,
) -> Result<Option<DictionaryArray<Int32Type>>, AnalyzeError> {
    let Some(c) = b.column_by_name(name) else {
        return Ok(None);
    };
    if let Some(d) = c.as_dictionary_opt::<Int32Type>() {
        return Ok(Some(d.clone()));
    }
    // A plain string column (pcap input): make it a dictionary.
    let d = arrow_cast_dictionary(c.as_ref())?;
    Ok(Some(d))
}

fn arrow_cast_dictionary(a: &dyn Array) -> Result<DictionaryArray<Int32Type>, AnalyzeError> {
    let s = a
        .as_string_opt::<i32>()
        .ok_or_else(|| AnalyzeError::Schema("address column is not a string".into()))?;
    let mut b = arrow_array::builder::StringDictionaryBuilder::<Int32Type>::new();
    for i in 0..s.len() {
        if s.is_valid(i) {
            b.append_value(s.value(i));
        } else {
            b.append_null();
        }
    }
    Ok(b.finish())
}

/// Address sums of the current dictionaries, carried across batches.
struct AddrCache {
    src_values: ArrayRef,
    dst_values: ArrayRef,
    /// The strata met with these dictionaries, in the order the cells are
    /// kept (batches see them in any order: rows of several interfaces and
    /// directions interleave).
    strata: Vec<StratumKey>,
    src: AddrAcc,
    dst: AddrAcc,
}

/// Accumulate an address column by dictionary key, then by address.
struct AddrAcc {
    addrs: Vec<Option<IpAddr>>,
    /// Origin slot of each dictionary value (u32::MAX: none), for the AS
    /// pairs; empty when they are not asked for.
    slots: Vec<u32>,
    /// [cache stratum][dictionary key] -> sums.
    cells: Vec<Vec<Cell>>,
}

impl Folder<'_> {
    /// Move the cached address sums into the strata: those of this batch
    /// (`aggs`, indexed like `local`) or those already in the aggregate.
    fn flush_addresses(&mut self, aggs: &mut [StratumAgg], local: &[StratumKey]) {
        let Some(c) = self.addr_cache.take() else {
            return;
        };
        for (s, key) in c.strata.iter().enumerate() {
            let agg = match local.iter().position(|k| k == key) {
                Some(i) => &mut aggs[i],
                None => self.acc.agg.strata.entry(key.clone()).or_default(),
            };
            for (accum, is_src) in [(&c.src, true), (&c.dst, false)] {
                let m = if is_src { &mut agg.src } else { &mut agg.dst };
                for (k, addr) in accum.addrs.iter().enumerate() {
                    let cell = accum.cells[s][k];
                    if let (Some(addr), true) = (addr, cell.n > 0) {
                        m.entry(*addr).or_default().merge(&cell);
                    }
                }
            }
        }
    }

    /// Flush what the unit still holds into the thread's aggregate.
    fn finish(mut self) {
        self.flush_addresses(&mut [], &[]);
    }

    /// Origin slots of a dictionary's addresses.
    fn origin_slots(&mut self, db: &AsDb, addrs: &[Option<IpAddr>]) -> Vec<u32> {
        addrs
            .iter()
            .map(|a| match a {
                None => u32::MAX,
                Some(ip) => {
                    let k = db.lookup(*ip).key();
                    let acc = &mut *self.acc;
                    *acc.origin_slot.entry(k).or_insert_with(|| {
                        acc.origin_keys.push(k);
                        (acc.origin_keys.len() - 1) as u32
                    })
                }
            })
            .collect()
    }

    fn fold(&mut self, b: &RecordBatch) -> Result<(), AnalyzeError> {
        let n = b.num_rows();
        if n == 0 {
            return Ok(());
        }
        let schema_err =
            |c: &str| AnalyzeError::Schema(format!("column '{c}' is missing or of the wrong type"));
        let ts = prim::<TimestampNanosecondType>(b, col::TIMESTAMP)?;
        let len = prim::<UInt32Type>(b, col::PKT_LEN)?;
        let ver = prim::<UInt8Type>(b, col::IP_VERSION)?;
        // The stratum columns, unless the statistics made them constant.
        let strata_cols = match self.constant {
            Some(_) => None,
            None => {
                let dir =
                    dict_column(b, col::DIRECTION)?.ok_or_else(|| schema_err(col::DIRECTION))?;
                Some((
                    prim::<UInt32Type>(b, col::IFINDEX)?,
                    prim::<UInt32Type>(b, col::SAMPLING_RATE)?,
                    directions(&dir),
                    dir,
                ))
            }
        };
        let protos = if self.q.sections.protocols {
            Some((
                prim::<UInt16Type>(b, col::ETH_TYPE)?,
                prim::<UInt8Type>(b, col::IP_PROTO)?,
                prim::<UInt16Type>(b, col::SRC_PORT)?,
                prim::<UInt16Type>(b, col::DST_PORT)?,
            ))
        } else {
            None
        };
        let addr_cols = if self.q.sections.addresses() {
            let s = dict_column(b, col::SRC_ADDR)?.ok_or_else(|| schema_err(col::SRC_ADDR))?;
            let d = dict_column(b, col::DST_ADDR)?.ok_or_else(|| schema_err(col::DST_ADDR))?;
            Some((s, d))
        } else {
            None
        };

        // Strata present in this batch, in order of appearance.
        let mut local: Vec<StratumKey> = Vec::new();
        let mut local_idx: FxHashMap<(u32, u8, u32), usize> = FxHashMap::default();
        // Usually the whole batch is one stratum: known from the statistics,
        // or by a vectorisable check.
        let one = match (&self.constant, &strata_cols) {
            (Some(k), _) => Some(*k),
            (None, Some((ifindex, rate, dir_of, dir))) => {
                let (ifv, dkv, rv) = (ifindex.values(), dir.keys().values(), rate.values());
                (ifv.iter().all(|&x| x == ifv[0])
                    && dkv.iter().all(|&x| x == dkv[0])
                    && rv.iter().all(|&x| x == rv[0]))
                .then(|| (ifv[0], dir_of[dkv[0] as usize], rv[0]))
            }
            (None, None) => unreachable!("columns read when not constant"),
        };
        let mut row_stratum: Vec<u32> = Vec::new();
        if let Some((ifindex, direction, rate)) = one {
            local.push(StratumKey {
                file: self.file,
                ifindex,
                direction,
                rate,
            });
        } else if let Some((ifindex, rate, dir_of, dir)) = &strata_cols {
            let (ifv, dkv, rv) = (ifindex.values(), dir.keys().values(), rate.values());
            row_stratum.reserve(n);
            let mut last: Option<((u32, u8, u32), usize)> = None;
            for i in 0..n {
                let key = (ifv[i], dkv[i] as u8, rv[i]);
                let idx = match last {
                    Some((k, idx)) if k == key => idx,
                    _ => {
                        let idx = *local_idx.entry(key).or_insert_with(|| {
                            local.push(StratumKey {
                                file: self.file,
                                ifindex: key.0,
                                direction: dir_of[key.1 as usize],
                                rate: key.2,
                            });
                            local.len() - 1
                        });
                        last = Some((key, idx));
                        idx
                    }
                };
                row_stratum.push(idx as u32);
            }
        }
        let excluded: Vec<bool> = local
            .iter()
            .map(|k| (self.excluded)(k.ifindex, k.direction, k.rate))
            .collect();
        let ns = local.len();
        let mut aggs: Vec<StratumAgg> = local
            .iter()
            .map(|k| self.acc.agg.strata.remove(k).unwrap_or_default())
            .collect();
        // Address sums by dictionary key. Batches of one row group share
        // their dictionaries: keep accumulating by key across them, and
        // parse and hash each distinct address once per dictionary.
        let mut acc = match &addr_cols {
            Some((sa, da)) => {
                let same = self.addr_cache.as_ref().is_some_and(|c| {
                    Arc::ptr_eq(&c.src_values, sa.values())
                        && Arc::ptr_eq(&c.dst_values, da.values())
                });
                if !same {
                    self.flush_addresses(&mut aggs, &local);
                    let mk = |a: &DictionaryArray<Int32Type>| AddrAcc {
                        addrs: addresses(a),
                        slots: Vec::new(),
                        cells: Vec::new(),
                    };
                    let (mut src, mut dst) = (mk(sa), mk(da));
                    if let (true, Some(db)) = (self.q.sections.as_pairs, self.q.asn.clone()) {
                        src.slots = self.origin_slots(&db, &src.addrs);
                        dst.slots = self.origin_slots(&db, &dst.addrs);
                    }
                    self.addr_cache = Some(AddrCache {
                        src_values: sa.values().clone(),
                        dst_values: da.values().clone(),
                        strata: Vec::new(),
                        src,
                        dst,
                    });
                }
                self.addr_cache.take()
            }
            None => None,
        };
        // Batch-local stratum -> the cache's stratum (cells for strata new
        // to the cache).
        let cmap: Vec<usize> = match &mut acc {
            Some(c) => local
                .iter()
                .map(|k| match c.strata.iter().position(|x| x == k) {
                    Some(i) => i,
                    None => {
                        c.strata.push(k.clone());
                        for a in [&mut c.src, &mut c.dst] {
                            a.cells.push(vec![Cell::default(); a.addrs.len()]);
                        }
                        c.strata.len() - 1
                    }
                })
                .collect(),
            None => Vec::new(),
        };
        let (from, to) = (
            self.q.from.unwrap_or(i64::MIN),
            self.q.to.unwrap_or(i64::MAX),
        );
        let interval = self.interval;
        let (tsv, lenv, verv) = (ts.values(), len.values(), ver.values());
        let ver_nulls = bits(ver.nulls());

        // Row selection. Usually a batch is one stratum with no filter: then
        // every pass below runs over plain slices with a constant stratum.
        // Otherwise `sel` gives each row's stratum, or SKIP.
        const SKIP: u32 = u32::MAX;
        let mut rows: Vec<u64> = vec![0; ns];
        let sel: Option<Vec<u32>> = if ns == 1 && !excluded[0] && from == i64::MIN && to == i64::MAX
        {
            rows[0] = n as u64;
            None
        } else {
            if row_stratum.is_empty() {
                row_stratum = vec![0; n];
            }
            Some(
                row_stratum
                    .iter()
                    .zip(tsv)
                    .map(|(&s, &t)| {
                        if excluded[s as usize] {
                            return SKIP;
                        }
                        rows[s as usize] += 1;
                        if t < from || t >= to { SKIP } else { s }
                    })
                    .collect(),
            )
        };
        let sel = sel.as_deref();
        // One pass over the rows feeds every section: per-row work has no
        // data-dependent branches (table lookups and selects instead: the
        // values are random from row to row and mispredictions would cost
        // more than the arithmetic).
        const NS: usize = SIZE_CLASSES.len();
        let mut combo: Vec<[Cell; 3 * NS]> = vec![[Cell::default(); 3 * NS]; ns];
        let mut span: Vec<(i64, i64)> = vec![(i64::MAX, i64::MIN); ns];
        let time_series = self.q.sections.time_series;
        // The current time bucket as a range: most rows need no division.
        let mut cur: Option<(usize, i64)> = None;
        let mut cell = Cell::default();
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        let mut pr: Vec<Box<Protocols>> = if protos.is_some() {
            aggs.iter_mut()
                .map(|a| a.protocols.take().unwrap_or_default())
                .collect()
        } else {
            Vec::new()
        };
        let mut eth_local = vec![Cell::default(); if protos.is_some() { ns * 256 } else { 0 }];
        let table = &mut self.acc.eth_slot;
        let keys = &mut self.acc.eth_keys;
        let empty: &[u16] = &[];
        let empty8: &[u8] = &[];
        let (ethv, pv, pn, spv, dpv, spn) = match &protos {
            Some((eth, proto, sp, dp)) => (
                eth.values().as_ref(),
                proto.values().as_ref(),
                bits(proto.nulls()),
                sp.values().as_ref(),
                dp.values().as_ref(),
                bits(sp.nulls()),
            ),
            None => (empty, empty8, None, empty, empty, None),
        };
        let with_protos = protos.is_some();
        let slots = port_slots();
        let ptable = ports();
        // AS pairs: by origin slot of both addresses.
        let (sslots, dslots) = match &mut acc {
            Some(c) => (
                std::mem::take(&mut c.src.slots),
                std::mem::take(&mut c.dst.slots),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let with_pairs = !sslots.is_empty();
        let mut pairs: Vec<FxHashMap<u64, Cell>> = if with_pairs {
            aggs.iter_mut()
                .map(|a| std::mem::take(&mut a.pair_slots))
                .collect()
        } else {
            Vec::new()
        };
        let (mut sacc, mut dacc, sk, dk, sn, dn) = match (&addr_cols, &mut acc) {
            (Some((sa, da)), Some(c)) => (
                Some(&mut c.src),
                Some(&mut c.dst),
                sa.keys().values().as_ref(),
                da.keys().values().as_ref(),
                bits(sa.keys().nulls()),
                bits(da.keys().nulls()),
            ),
            _ => (None, None, &[][..], &[][..], None, None),
        };
        let times = &mut aggs;
        // Time span: one vectorised min/max when every row counts, per row
        // otherwise.
        let per_row_span = sel.is_some();
        if !per_row_span {
            span[0] = tsv
                .iter()
                .fold((i64::MAX, i64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
        }
        each(n, sel, |i, s| {
            let (t, l) = (tsv[i], lenv[i]);
            if per_row_span {
                let sp = &mut span[s];
                sp.0 = sp.0.min(t);
                sp.1 = sp.1.max(t);
            }
            let v = VERSION_INDEX[verv[i] as usize] as usize * valid(ver_nulls, i) as usize;
            combo[s][v * NS + size_index(l)].add(l);
            if time_series {
                if t < lo || t >= hi || cur.is_none_or(|(cs, _)| cs != s) {
                    if let Some((cs, cb)) = cur {
                        times[cs].time.entry(cb).or_default().merge(&cell);
                    }
                    let b = t.div_euclid(interval);
                    cur = Some((s, b));
                    cell = Cell::default();
                    lo = b.saturating_mul(interval);
                    hi = lo.saturating_add(interval);
                }
                cell.add(l);
            }
            if with_protos {
                let e = ethv[i];
                let mut sl = table[e as usize];
                if sl == u8::MAX {
                    if keys.len() < 255 {
                        sl = keys.len() as u8;
                        keys.push(e);
                        table[e as usize] = sl;
                    } else {
                        // Pathological: over 255 EtherTypes. Slow path.
                        pr[s].add_eth(e, l);
                        sl = u8::MAX;
                    }
                }
                if sl != u8::MAX {
                    eth_local[s * 256 + sl as usize].add(l);
                }
                if valid(pn, i) {
                    let p = pv[i];
                    let pr = &mut pr[s];
                    let ti = TRANSPORT_INDEX[p as usize];
                    if ti == u8::MAX {
                        pr.ip_proto[p as usize].add(l);
                    } else {
                        // Transport protocols are counted once, by service;
                        // their IP protocol rows are summed from those. Ports
                        // are written together: both or neither.
                        let (sp, dp) = (spv[i], dpv[i]);
                        let (kd, ks) = (ptable.is_known(dp), ptable.is_known(sp));
                        let m = sp.min(dp);
                        let port = select(kd, dp, select(ks, sp, m));
                        let has = (kd | ks | (m < 1024)) & valid(spn, i);
                        let slot = select(has, ptable.slot(port), (slots - 1) as u16) as usize;
                        pr.service[ti as usize * slots + slot].add(l);
                    }
                }
            }
            if let Some(a) = sacc.as_mut()
                && valid(sn, i)
            {
                a.cells[cmap[s]][sk[i] as usize].add(l);
            }
            if let Some(a) = dacc.as_mut()
                && valid(dn, i)
            {
                a.cells[cmap[s]][dk[i] as usize].add(l);
            }
            if with_pairs && valid(sn, i) && valid(dn, i) {
                let (a, b) = (sslots[sk[i] as usize], dslots[dk[i] as usize]);
                if a != u32::MAX && b != u32::MAX {
                    pairs[s]
                        .entry(((a as u64) << 32) | b as u64)
                        .or_default()
                        .add(l);
                }
            }
        });
        for (a, p) in aggs.iter_mut().zip(pairs) {
            a.pair_slots = p;
        }
        if let Some(c) = &mut acc {
            c.src.slots = sslots;
            c.dst.slots = dslots;
        }
        if let Some((cs, cb)) = cur {
            aggs[cs].time.entry(cb).or_default().merge(&cell);
        }
        if with_protos {
            for (s, p) in pr.iter_mut().enumerate() {
                for (sl, &k) in self.acc.eth_keys.iter().enumerate() {
                    let c = &eth_local[s * 256 + sl];
                    if c.n > 0 {
                        p.add_eth_cell(k, c);
                    }
                }
            }
            for (a, p) in aggs.iter_mut().zip(pr) {
                a.protocols = Some(p);
            }
        }
        for (s, a) in aggs.iter_mut().enumerate() {
            a.rows += rows[s];
            for v in 0..3 {
                for z in 0..NS {
                    let c = combo[s][v * NS + z];
                    a.total.merge(&c);
                    a.ip_version[v].merge(&c);
                    a.size[z].merge(&c);
                }
            }
            let (lo, hi) = span[s];
            if lo <= hi {
                a.first_ns = Some(a.first_ns.map_or(lo, |f| f.min(lo)));
                a.last_ns = Some(a.last_ns.map_or(hi, |f| f.max(hi)));
            }
        }
        // Kept for the next batch of the same dictionaries.
        self.addr_cache = acc;
        for (k, a) in local.into_iter().zip(aggs) {
            self.acc.agg.strata.insert(k, a);
        }
        Ok(())
    }
}

/// The row group's single (ifindex, direction, rate), if its column
/// statistics show each of those columns holding one value and no null.
fn constant_stratum(
    rg: &parquet::file::metadata::RowGroupMetaData,
) -> Option<(u32, Direction, u32)> {
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
                        folder.finish();
                    }
                    Unit::File(_) => {
                        // Interface filters need names: collect unfiltered by
                        // name, filter by stratum afterwards.
                        let meta = read_samples(&inp.path, |b| -> Result<(), AnalyzeError> {
                            folder.fold(&b)?;
                            progress(b.num_rows() as u64);
                            Ok(())
                        })?;
                        folder.finish();
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
