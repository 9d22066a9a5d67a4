//! The flow table: what the conversation sections need of every
//! (source, destination, protocol, ports) of every stratum: the top
//! address pairs and the top 5-tuple flows, each with its sums per
//! stratum; and, summed per stratum as the rows are read, the TCP
//! connections opened (SYN without ACK) per service and remote AS.
//!
//! The same design as the address tables ([`super::addrs`]), for the same
//! reason (millions of keys): each batch's rows summed by flow, appended
//! to one of [`PARTS`] partitions chosen by the hash of the address pair,
//! spilled past the memory budget, then reduced a partition at a time in
//! parallel. Since a partition holds every flow of its address pairs,
//! both the pairs' and the flows' sums are exact.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt8Type, UInt16Type};
use arrow_array::{Array, DictionaryArray, PrimitiveArray, RecordBatch};
use hashbrown::HashMap;
use pktsample_asn::AsDb;
use pktsample_schemas::Direction;
use pktsample_schemas::schema::col;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::AnalyzeError;
use crate::stats::Cell;

use super::StratumKey;
use super::addrs::{AddrKey, Entry, Key, PARTS, Parts, PerStratum, best_of, top_byte};
use super::agg::StratumAgg;
use super::spill::{Budget, Run, Spillable, encode};

/// [`FlowKey::bits`]: IPv6 addresses, ports known, protocol known.
const V6: u8 = 1;
const PORTS: u8 = 2;
const PROTO: u8 = 4;

/// TCP's SYN and ACK flags.
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// A flow as the table keys it: both addresses (an IPv4 address in the
/// low bits), the protocol and the ports where the sample has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub src: u128,
    pub dst: u128,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub bits: u8,
}

/// An address pair: (source, destination, IPv6).
pub type PairKey = (u128, u128, bool);

fn ip(a: u128, v6: bool) -> IpAddr {
    match v6 {
        true => IpAddr::V6(Ipv6Addr::from(a)),
        false => IpAddr::V4(Ipv4Addr::from(a as u32)),
    }
}

impl FlowKey {
    /// None for addresses of two families (no IP header has them).
    fn new(
        src: AddrKey,
        dst: AddrKey,
        proto: Option<u8>,
        ports: Option<(u16, u16)>,
    ) -> Option<FlowKey> {
        let (src, dst, v6) = match (src, dst) {
            (AddrKey::V4(s), AddrKey::V4(d)) => (u128::from(s), u128::from(d), 0),
            (AddrKey::V6(s), AddrKey::V6(d)) => (s, d, V6),
            _ => return None,
        };
        let (sport, dport) = ports.unwrap_or_default();
        Some(FlowKey {
            src,
            dst,
            proto: proto.unwrap_or(0),
            sport,
            dport,
            bits: v6
                | if ports.is_some() { PORTS } else { 0 }
                | if proto.is_some() { PROTO } else { 0 },
        })
    }

    pub fn v6(&self) -> bool {
        self.bits & V6 != 0
    }

    pub fn src_ip(&self) -> IpAddr {
        ip(self.src, self.v6())
    }

    pub fn dst_ip(&self) -> IpAddr {
        ip(self.dst, self.v6())
    }

    pub fn proto(&self) -> Option<u8> {
        (self.bits & PROTO != 0).then_some(self.proto)
    }

    /// (source port, destination port).
    pub fn ports(&self) -> Option<(u16, u16)> {
        (self.bits & PORTS != 0).then_some((self.sport, self.dport))
    }

    pub fn pair(&self) -> PairKey {
        (self.src, self.dst, self.v6())
    }
}

/// The pair's addresses.
pub fn pair_ips(p: &PairKey) -> (IpAddr, IpAddr) {
    (ip(p.0, p.2), ip(p.1, p.2))
}

impl Key for FlowKey {
    const SIZE: usize = 38;
    /// By the address pair alone: a partition holds all of a pair's flows.
    #[inline(always)]
    fn part(self) -> usize {
        let fold = |a: u128| (a as u64) ^ ((a >> 64) as u64).rotate_left(29);
        top_byte(fold(self.src) ^ fold(self.dst).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
    }
    fn ip(self) -> IpAddr {
        self.src_ip()
    }
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.src.to_le_bytes());
        out.extend_from_slice(&self.dst.to_le_bytes());
        out.extend_from_slice(&self.sport.to_le_bytes());
        out.extend_from_slice(&self.dport.to_le_bytes());
        out.extend_from_slice(&[self.proto, self.bits]);
    }
    fn get(b: &[u8]) -> Self {
        let w = |i: usize| u128::from_le_bytes(b[i..i + 16].try_into().expect("16 bytes"));
        let h = |i: usize| u16::from_le_bytes(b[i..i + 2].try_into().expect("2 bytes"));
        FlowKey {
            src: w(0),
            dst: w(16),
            sport: h(32),
            dport: h(34),
            proto: b[36],
            bits: b[37],
        }
    }
}

/// A thread's flow entries not yet spilled.
#[derive(Default)]
pub(super) struct FlowBuf {
    parts: Parts<FlowKey>,
    bytes: usize,
    charged: usize,
}

impl FlowBuf {
    /// Append one (flow, stratum)'s sums: a batch's, so far fewer than
    /// `u32::MAX` samples.
    fn push(&mut self, key: FlowKey, stratum: u32, c: &Cell) {
        self.parts.parts[key.part()].push(Entry::new(key, stratum, c));
        self.bytes += size_of::<Entry<FlowKey>>();
    }
}

impl Spillable for FlowBuf {
    const KIND: usize = 1;

    fn held(&self) -> usize {
        let n: usize = self.parts.parts.iter().map(|s| s.capacity()).sum();
        n * size_of::<Entry<FlowKey>>()
    }

    fn bytes(&self) -> usize {
        self.bytes
    }

    fn charged(&mut self) -> &mut usize {
        &mut self.charged
    }

    fn write(&self, budget: &Budget) -> Result<Run, AnalyzeError> {
        Run::write_with(budget, 1, |_, p, bytes| encode(&self.parts, p, bytes))
    }

    fn clear(&mut self) {
        self.parts = Parts::default();
        self.bytes = 0;
    }
}

/// What the sections ask of a batch's rows.
pub(super) struct FlowAsk<'a> {
    /// Flow entries (top pairs or flows).
    pub table: bool,
    /// Connections opened, per service; per remote AS with a database.
    pub connections: bool,
    pub asn: Option<&'a AsDb>,
}

/// A batch's columns the flows read (the address columns by dictionary
/// key, each value parsed once by the address cache).
pub(super) struct FlowCols<'b> {
    pub src: &'b DictionaryArray<Int32Type>,
    pub dst: &'b DictionaryArray<Int32Type>,
    pub src_addrs: &'b [Option<AddrKey>],
    pub dst_addrs: &'b [Option<AddrKey>],
}

fn opt_prim<'b, T: arrow_array::ArrowPrimitiveType>(
    b: &'b RecordBatch,
    name: &str,
) -> Option<&'b PrimitiveArray<T>> {
    b.column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<T>())
}

fn at<T: arrow_array::ArrowPrimitiveType>(
    c: Option<&PrimitiveArray<T>>,
    i: usize,
) -> Option<T::Native> {
    c.filter(|c| c.is_valid(i)).map(|c| c.value(i))
}

/// Sum the selected rows by flow into `buf` (as stratum ids `ids`), and
/// count the connections opened into their strata (`local`, the batch's
/// strata, tell the remote side).
#[allow(clippy::too_many_arguments)]
pub(super) fn fold_flows(
    b: &RecordBatch,
    sel: Option<&[u32]>,
    len: &[u32],
    cols: &FlowCols,
    (local, ids): (&[StratumKey], &[u32]),
    buf: &mut FlowBuf,
    aggs: &mut [StratumAgg],
    ask: &FlowAsk,
) {
    let proto = opt_prim::<UInt8Type>(b, col::IP_PROTO);
    let sport = opt_prim::<UInt16Type>(b, col::SRC_PORT);
    let dport = opt_prim::<UInt16Type>(b, col::DST_PORT);
    let flags = opt_prim::<UInt8Type>(b, col::TCP_FLAGS);
    let addr = |d: &DictionaryArray<Int32Type>, v: &[Option<AddrKey>], i: usize| {
        d.is_valid(i)
            .then(|| v.get(d.keys().value(i) as usize).copied().flatten())
            .flatten()
    };
    let mut sums: FxHashMap<(u32, FlowKey), Cell> = FxHashMap::default();
    super::columns::each(len.len(), sel, |i, s| {
        let (Some(sa), Some(da)) = (
            addr(cols.src, cols.src_addrs, i),
            addr(cols.dst, cols.dst_addrs, i),
        ) else {
            return;
        };
        let p = at(proto, i);
        let ports = at(sport, i).zip(at(dport, i));
        if ask.connections && p == Some(6) {
            let a = &mut aggs[s];
            match at(flags, i) {
                Some(f) if f & (SYN | ACK) == SYN => {
                    let port = ports.map_or(0, |(_, d)| d);
                    a.syn_services.entry(port).or_default().add(len[i]);
                    let remote = match local[s].direction {
                        Direction::Ingress => Some(sa),
                        Direction::Egress => Some(da),
                        _ => None,
                    };
                    if let (Some(db), Some(r)) = (ask.asn, remote) {
                        let o = db.lookup(r.ip()).key();
                        a.syn_remote.entry(o).or_default().add(len[i]);
                    }
                }
                Some(_) => {}
                // Cut before the flags, or a tunnel's inner TCP under
                // --inner (the flags column is the outer header's).
                None => a.syn_unknown.add(len[i]),
            }
        }
        if ask.table
            && let Some(k) = FlowKey::new(sa, da, p, ports)
        {
            sums.entry((s as u32, k)).or_default().add(len[i]);
        }
    });
    for ((s, k), c) in sums {
        buf.push(k, ids[s as usize], &c);
    }
}

/// Every flow entry of the pass: the threads' buffers and the spilled runs.
#[derive(Default)]
pub struct FlowTables {
    pub(super) bufs: Vec<FlowBuf>,
    pub(super) runs: Vec<Run>,
}

impl std::fmt::Debug for FlowTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes: usize = self.bufs.iter().map(|b| b.bytes).sum();
        write!(f, "FlowTables({bytes} bytes, {} runs)", self.runs.len())
    }
}

/// What the reductions need from the estimator.
pub struct FlowFinish<'a> {
    /// By stratum id: a sample's weight (None: not in the report).
    pub weight: &'a [Option<f64>],
    /// By stratum id: its place in the report.
    pub place: &'a [Option<usize>],
    /// Rows of the top pairs and of the top flows (0: not asked).
    pub pairs: usize,
    pub flows: usize,
}

/// The reductions: the top pairs and flows by estimated packets (then
/// key), with their sums per stratum, and the distinct flows seen.
#[derive(Debug, Default)]
pub struct FlowSummary {
    pub pairs: Vec<(PairKey, PerStratum)>,
    pub flows: Vec<(FlowKey, PerStratum)>,
    pub distinct_flows: u64,
    pub distinct_pairs: u64,
}

/// A worker's tables, kept from one partition to the next.
#[derive(Default)]
struct Scratch {
    sums: HashMap<(FlowKey, u32), Cell>,
    flows: HashMap<FlowKey, f64>,
    pairs: HashMap<PairKey, f64>,
}

/// The best `top` of a score table (by score, then key).
fn top_of<K: Copy + Ord>(m: &HashMap<K, f64>, top: usize) -> Vec<K> {
    let mut buf = Vec::new();
    best_of(m.iter().map(|(k, s)| (*s, *k)), top, &mut buf);
    buf.into_iter().map(|(_, k)| k).collect()
}

/// The `top` best of the partitions' candidates, in order.
fn rank<K: Copy + Ord>(
    v: Vec<(K, PerStratum)>,
    f: &FlowFinish,
    top: usize,
) -> Vec<(K, PerStratum)> {
    let score = |c: &PerStratum| -> f64 {
        c.iter()
            .map(|(s, c)| f.weight[*s as usize].unwrap_or(0.0) * c.n as f64)
            .sum()
    };
    let mut scored: Vec<(f64, K, PerStratum)> =
        v.into_iter().map(|(k, c)| (score(&c), k, c)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.truncate(top);
    scored.into_iter().map(|(_, k, c)| (k, c)).collect()
}

impl FlowTables {
    /// Sum every partition and reduce it; partitions in parallel.
    pub fn summarize(&self, f: &FlowFinish) -> Result<FlowSummary, AnalyzeError> {
        let parts: Vec<FlowSummary> = (0..PARTS)
            .into_par_iter()
            .map_init(Scratch::default, |sc, p| self.partition(p, f, sc))
            .collect::<Result<_, _>>()?;
        let mut out = FlowSummary::default();
        let (mut pairs, mut flows) = (Vec::new(), Vec::new());
        for s in parts {
            out.distinct_flows += s.distinct_flows;
            out.distinct_pairs += s.distinct_pairs;
            pairs.extend(s.pairs);
            flows.extend(s.flows);
        }
        out.pairs = rank(pairs, f, f.pairs);
        out.flows = rank(flows, f, f.flows);
        Ok(out)
    }

    fn partition(
        &self,
        p: usize,
        f: &FlowFinish,
        sc: &mut Scratch,
    ) -> Result<FlowSummary, AnalyzeError> {
        let m = &mut sc.sums;
        m.clear();
        let count = self
            .bufs
            .iter()
            .map(|b| b.parts.parts[p].len())
            .sum::<usize>()
            + self.runs.iter().map(|r| r.count(0, p)).sum::<usize>();
        m.reserve(count);
        let mut add = |e: &Entry<FlowKey>| {
            if f.weight
                .get(e.stratum as usize)
                .is_some_and(Option::is_some)
            {
                m.entry((e.key, e.stratum)).or_default().merge(&e.cell());
            }
        };
        for r in &self.runs {
            r.read::<FlowKey>(0, p, &mut add)?;
        }
        for b in &self.bufs {
            b.parts.parts[p].iter().for_each(&mut add);
        }
        let (flows, pairs) = (&mut sc.flows, &mut sc.pairs);
        flows.clear();
        pairs.clear();
        for (&(k, s), c) in m.iter() {
            let w = f.weight[s as usize].unwrap_or(0.0) * c.n as f64;
            *flows.entry(k).or_default() += w;
            *pairs.entry(k.pair()).or_default() += w;
        }
        let mut out = FlowSummary {
            distinct_flows: flows.len() as u64,
            distinct_pairs: pairs.len() as u64,
            ..FlowSummary::default()
        };
        let mut fl: Vec<(FlowKey, PerStratum)> = top_of(flows, f.flows)
            .into_iter()
            .map(|k| (k, Vec::new()))
            .collect();
        let mut pa: Vec<(PairKey, FxHashMap<u32, Cell>)> = top_of(pairs, f.pairs)
            .into_iter()
            .map(|k| (k, FxHashMap::default()))
            .collect();
        let fi: FxHashMap<FlowKey, usize> =
            fl.iter().enumerate().map(|(i, (k, _))| (*k, i)).collect();
        let pi: FxHashMap<PairKey, usize> =
            pa.iter().enumerate().map(|(i, (k, _))| (*k, i)).collect();
        for (&(k, s), c) in m.iter() {
            if let Some(&i) = fi.get(&k) {
                fl[i].1.push((s, *c));
            }
            if let Some(&i) = pi.get(&k.pair()) {
                pa[i].1.entry(s).or_default().merge(c);
            }
        }
        let order = |v: &mut PerStratum| v.sort_by_key(|(s, _)| f.place[*s as usize]);
        for (_, v) in fl.iter_mut() {
            order(v);
        }
        out.flows = fl;
        out.pairs = pa
            .into_iter()
            .map(|(k, cells)| {
                let mut v: PerStratum = cells.into_iter().collect();
                order(&mut v);
                (k, v)
            })
            .collect();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_pairs_share_a_partition() {
        let a = AddrKey::parse("2001:db8::1").unwrap();
        let b = AddrKey::parse("2001:db8::2").unwrap();
        let k = FlowKey::new(a, b, Some(6), Some((443, 50000))).unwrap();
        let mut out = Vec::new();
        k.put(&mut out);
        assert_eq!(out.len(), FlowKey::SIZE);
        assert_eq!(FlowKey::get(&out), k);
        let other = FlowKey::new(a, b, Some(17), None).unwrap();
        assert_eq!(k.part(), other.part());
        assert_eq!(other.ports(), None);
        assert_eq!(k.ports(), Some((443, 50000)));
        assert_eq!(k.src_ip().to_string(), "2001:db8::1");
        let v4 = AddrKey::parse("192.0.2.1").unwrap();
        assert!(FlowKey::new(v4, b, None, None).is_none());
        let k4 = FlowKey::new(v4, v4, None, None).unwrap();
        assert_eq!(
            (k4.proto(), k4.dst_ip().to_string()),
            (None, "192.0.2.1".into())
        );
    }
}
