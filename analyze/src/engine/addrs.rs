//! Address tables: what the report needs of every source and destination
//! address (distinct counts and the frequencies Chao1 reads, top talkers,
//! sums by origin AS), at a cost per row that does not grow with the
//! number of addresses.
//!
//! Why not a hash map per thread: with millions of addresses, growing maps
//! (rehashing, fresh pages) and merging them across threads was most of the
//! time. Instead, the row pass sums each batch's rows by dictionary key
//! (`fold`), and each distinct (address, stratum) of the batch is appended,
//! as a fixed-size binary entry, to one of [`PARTS`] partitions chosen by
//! the address's hash: sequential writes only. After the pass, partitions
//! are summed one at a time, in parallel, each in a small table that stays
//! in cache, and reduced to the report's needs ([`AddrSummary`]). Since a
//! partition holds every entry of its addresses, sources and destinations
//! alike, the reductions are exact. Entries past the memory budget go to
//! temporary files by partition ([`super::spill`]) and are read back one
//! partition at a time.

use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::HashMap;
use pktsample_asn::AsDb;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::AnalyzeError;
use crate::stats::Cell;
use crate::stats::distinct::Freq;

use super::spill::{Budget, Run, Spillable, encode};

/// The populations of addresses whose distinct count is estimated:
/// sources, destinations, remote addresses (sources of ingress,
/// destinations of egress), and either side.
pub const HOSTS: [&str; 4] = ["sources", "destinations", "remote", "any"];

/// Partitions by address hash. A partition of an edge-shaped 100-million-row
/// input is then some 20 MiB: summed in cache, and small enough to read
/// back from a spill.
pub const PARTS: usize = 256;

/// Sides: sources, destinations.
pub const SRC: usize = 0;
pub const DST: usize = 1;

/// An address as the tables key it: IPv4 and IPv6 apart (an IPv4-mapped
/// IPv6 address is an IPv6 address, as the text says).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddrKey {
    V4(u32),
    V6(u128),
}

impl AddrKey {
    /// Parse an address's text (done once per dictionary value): dotted
    /// quads by hand (std's general parser was a sixth of an edge-shaped
    /// analysis), anything else by std.
    pub fn parse(s: &str) -> Option<AddrKey> {
        if let Some(a) = dotted_quad(s.as_bytes()) {
            return Some(AddrKey::V4(a));
        }
        Some(match s.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => AddrKey::V4(u32::from(a)),
            IpAddr::V6(a) => AddrKey::V6(u128::from(a)),
        })
    }

    pub fn ip(self) -> IpAddr {
        match self {
            AddrKey::V4(a) => IpAddr::V4(Ipv4Addr::from(a)),
            AddrKey::V6(a) => IpAddr::V6(Ipv6Addr::from(a)),
        }
    }
}

/// A dotted quad exactly as std reads it (four decimal octets of one to
/// three digits, no leading zero, at most 255), else None.
#[inline]
fn dotted_quad(b: &[u8]) -> Option<u32> {
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    let (mut out, mut octet, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for &c in b {
        if c == b'.' {
            if digits == 0 || dots == 3 {
                return None;
            }
            out = out << 8 | octet;
            (octet, digits, dots) = (0, 0, dots + 1);
        } else {
            let d = c.wrapping_sub(b'0');
            if d > 9 || digits == 3 || (digits == 1 && octet == 0) {
                return None;
            }
            octet = octet * 10 + u32::from(d);
            digits += 1;
            if octet > 255 {
                return None;
            }
        }
    }
    (dots == 3 && digits > 0).then_some(out << 8 | octet)
}

/// An address key of one family, as stored in the entries.
pub(super) trait Key: Copy + Eq + Hash + Send + Sync + 'static {
    /// Bytes of the key in a spill file.
    const SIZE: usize;
    fn part(self) -> usize;
    fn ip(self) -> IpAddr;
    fn put(self, out: &mut Vec<u8>);
    fn get(b: &[u8]) -> Self;
}

/// A multiplicative hash's top byte: the partition.
#[inline(always)]
pub(super) fn top_byte(x: u64) -> usize {
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize
}

impl Key for u32 {
    const SIZE: usize = 4;
    #[inline(always)]
    fn part(self) -> usize {
        top_byte(u64::from(self) ^ 0x5bd1_e995)
    }
    fn ip(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self))
    }
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        u32::from_le_bytes(b[..4].try_into().expect("4 bytes"))
    }
}

impl Key for u128 {
    const SIZE: usize = 16;
    #[inline(always)]
    fn part(self) -> usize {
        let (hi, lo) = ((self >> 64) as u64, self as u64);
        top_byte(lo ^ hi.wrapping_mul(0xC2B2_AE3D_27D4_EB4F).rotate_left(31))
    }
    fn ip(self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self))
    }
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        u128::from_le_bytes(b[..16].try_into().expect("16 bytes"))
    }
}

/// One address's sums in one stratum over one batch (or dictionary): 32
/// bytes for IPv4, 48 for IPv6.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry<K> {
    pub key: K,
    pub stratum: u32,
    pub n: u32,
    pub max: u32,
    pub bytes: u64,
    pub bytes2: u64,
}

impl<K: Key> Entry<K> {
    /// Sums of at most `u32::MAX` samples (see [`AddrBuf::push`]).
    #[inline]
    pub(super) fn new(key: K, stratum: u32, c: &Cell) -> Entry<K> {
        Entry {
            key,
            stratum,
            n: c.n as u32,
            max: c.max,
            bytes: c.bytes,
            bytes2: c.bytes2,
        }
    }

    /// Bytes of an entry in a spill file.
    pub const SIZE: usize = K::SIZE + 28;

    pub fn put(&self, out: &mut Vec<u8>) {
        self.key.put(out);
        for v in [self.stratum, self.n, self.max] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.bytes.to_le_bytes());
        out.extend_from_slice(&self.bytes2.to_le_bytes());
    }

    pub fn get(b: &[u8]) -> Self {
        let k = K::SIZE;
        let u = |i: usize| u32::from_le_bytes(b[k + i..k + i + 4].try_into().expect("4 bytes"));
        let w = |i: usize| u64::from_le_bytes(b[k + i..k + i + 8].try_into().expect("8 bytes"));
        Entry {
            key: K::get(b),
            stratum: u(0),
            n: u(4),
            max: u(8),
            bytes: w(12),
            bytes2: w(20),
        }
    }

    pub(super) fn cell(&self) -> Cell {
        Cell {
            n: u64::from(self.n),
            bytes: self.bytes,
            bytes2: self.bytes2,
            max: self.max,
        }
    }
}

/// A partition's entries: chunks growing to [`Seg::CHUNK`] entries, never
/// moved once written (a growing vector copied every entry at each
/// doubling, into fresh pages).
pub(super) struct Seg<K> {
    chunks: Vec<Vec<Entry<K>>>,
    len: usize,
}

impl<K> Default for Seg<K> {
    fn default() -> Self {
        Seg {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<K> Seg<K> {
    const CHUNK: usize = 16 * 1024;

    #[inline]
    pub(super) fn push(&mut self, e: Entry<K>) {
        self.len += 1;
        if let Some(c) = self.chunks.last_mut()
            && c.len() < c.capacity()
        {
            c.push(e);
            return;
        }
        let cap = self
            .chunks
            .last()
            .map_or(64, |c| (c.capacity() * 2).min(Self::CHUNK));
        let mut c = Vec::with_capacity(cap);
        c.push(e);
        self.chunks.push(c);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry<K>> {
        self.chunks.iter().flatten()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub(super) fn capacity(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum()
    }
}

/// The entries of one side and family, by partition.
pub(super) struct Parts<K> {
    pub parts: Vec<Seg<K>>,
}

impl<K> Default for Parts<K> {
    fn default() -> Self {
        Parts {
            parts: (0..PARTS).map(|_| Seg::default()).collect(),
        }
    }
}

/// A thread's entries not yet spilled: sides by family.
#[derive(Default)]
pub(super) struct AddrBuf {
    pub v4: [Parts<u32>; 2],
    pub v6: [Parts<u128>; 2],
    /// Bytes the entries take.
    pub bytes: usize,
    /// Bytes last charged to the budget.
    pub charged: usize,
}

impl AddrBuf {
    /// Append one (address, stratum)'s sums.
    #[inline]
    pub fn push(&mut self, side: usize, key: AddrKey, stratum: u32, c: &Cell) {
        if c.n > u64::from(u32::MAX) {
            // A row group of over 4 billion rows of one address: entries
            // only ever add up, so the count goes in parts (the sizes with
            // the first).
            let first = Cell {
                n: u64::from(u32::MAX),
                ..*c
            };
            let rest = Cell {
                n: c.n - u64::from(u32::MAX),
                ..Cell::default()
            };
            self.push(side, key, stratum, &first);
            self.push(side, key, stratum, &rest);
            return;
        }
        match key {
            AddrKey::V4(k) => {
                self.v4[side].parts[k.part()].push(Entry::new(k, stratum, c));
                self.bytes += size_of::<Entry<u32>>();
            }
            AddrKey::V6(k) => {
                self.v6[side].parts[k.part()].push(Entry::new(k, stratum, c));
                self.bytes += size_of::<Entry<u128>>();
            }
        }
    }

    /// Move the entries to a spill file when the budget is exceeded.
    pub fn spill_if_over(&mut self, budget: &Budget) -> Result<(), AnalyzeError> {
        budget.charge(self)
    }
}

/// A run's set of a family and side.
fn set(fam: usize, side: usize) -> usize {
    fam * 2 + side
}

impl Spillable for AddrBuf {
    const KIND: usize = 0;

    fn bytes(&self) -> usize {
        self.bytes
    }

    fn charged(&mut self) -> &mut usize {
        &mut self.charged
    }

    fn write(&self, budget: &Budget) -> Result<Run, AnalyzeError> {
        Run::write_with(budget, 4, |s, p, bytes| match s / 2 {
            0 => encode(&self.v4[s % 2], p, bytes),
            _ => encode(&self.v6[s % 2], p, bytes),
        })
    }

    /// Bytes the buffers hold (their capacity).
    fn held(&self) -> usize {
        let v4: usize = self
            .v4
            .iter()
            .flat_map(|p| &p.parts)
            .map(Seg::capacity)
            .sum();
        let v6: usize = self
            .v6
            .iter()
            .flat_map(|p| &p.parts)
            .map(Seg::capacity)
            .sum();
        v4 * size_of::<Entry<u32>>() + v6 * size_of::<Entry<u128>>()
    }

    fn clear(&mut self) {
        for p in self.v4.iter_mut() {
            p.parts.iter_mut().for_each(|v| *v = Seg::default());
        }
        for p in self.v6.iter_mut() {
            p.parts.iter_mut().for_each(|v| *v = Seg::default());
        }
        self.bytes = 0;
    }
}

/// Every entry of the pass: the threads' buffers and the spilled runs.
#[derive(Default)]
pub struct AddrTables {
    pub(super) bufs: Vec<AddrBuf>,
    pub(super) runs: Vec<Run>,
}

/// What the reductions need from the estimator.
pub struct Finish<'a> {
    /// By stratum id: the weight of a sample (its point estimate of
    /// packets), for ranking; `None`: the stratum is not in the report.
    pub weight: &'a [Option<f64>],
    /// By stratum id: its place in the report; an address's sums are
    /// listed (and summed) in that order, whatever order the threads met
    /// the strata in.
    pub place: &'a [Option<usize>],
    /// Rows of the top-talker sections.
    pub top: usize,
    /// Sum by origin AS through this database.
    pub origins: Option<&'a AsDb>,
    /// By stratum id: the side its remote addresses are on ([`SRC`] for
    /// ingress, [`DST`] for egress; `None` without a direction).
    pub remote: &'a [Option<usize>],
}

/// An address's sums per stratum id.
pub type PerStratum = Vec<(u32, Cell)>;

/// Sums by (stratum id, origin key): (all IP, IPv6 only).
pub type ByOrigin = FxHashMap<(u32, u64), (Cell, Cell)>;

/// The reductions of the address tables.
#[derive(Debug, Default)]
pub struct AddrSummary {
    /// Distinct IPv4 and IPv6 addresses, sources and destinations together.
    pub distinct: [u64; 2],
    /// The frequency counts of the samples per address, by [`HOSTS`] and
    /// IP version (for Chao1).
    pub freq: [[Freq; 2]; 4],
    /// The same by origin AS (its key), for sources, destinations and
    /// remote addresses, when a database was given.
    pub freq_by_origin: [FxHashMap<u64, Freq>; 3],
    /// Top addresses of each side by estimated packets (then address), with
    /// their sums per stratum.
    pub top: [Vec<(IpAddr, PerStratum)>; 2],
    /// Each side's sums by origin AS (when a database was given).
    pub by_origin: [ByOrigin; 2],
}

type Ranked = (f64, IpAddr, PerStratum);

fn order(a: &Ranked, b: &Ranked) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Keep the best `top` (a top of 0 keeps none).
fn keep_top(v: &mut Vec<Ranked>, top: usize) {
    if v.len() > top && top > 0 {
        v.select_nth_unstable_by(top - 1, order);
    }
    v.truncate(top);
}

impl std::fmt::Debug for AddrTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes: usize = self.bufs.iter().map(|b| b.bytes).sum();
        write!(
            f,
            "AddrTables({bytes} bytes in memory, {} runs)",
            self.runs.len()
        )
    }
}

/// A worker's tables, kept from one partition to the next.
#[derive(Default)]
struct Scratch<K> {
    /// (address, stratum) -> sums.
    sums: HashMap<(K, u32), Cell>,
    /// Address -> its tally, per side.
    score: [HashMap<K, Tally>; 2],
    best: Vec<(f64, IpAddr)>,
}

/// One address on one side of a partition.
#[derive(Clone, Copy, Default)]
struct Tally {
    /// The ranking score (estimated packets).
    score: f64,
    /// Samples, and samples as a remote address.
    n: u64,
    remote: u64,
    /// Its origin's key (with a database; looked up once per address).
    origin: u64,
}

impl AddrTables {
    /// Sum every partition and reduce it; partitions in parallel.
    pub fn summarize(&self, f: &Finish) -> Result<AddrSummary, AnalyzeError> {
        let parts: Vec<AddrSummary> = (0..2 * PARTS)
            .into_par_iter()
            .map_init(
                || (Scratch::<u32>::default(), Scratch::<u128>::default()),
                |(s4, s6), i| {
                    let p = i / 2;
                    if i % 2 == 0 {
                        self.partition(p, |b| &b.v4, 0, f, s4)
                    } else {
                        self.partition(p, |b| &b.v6, 1, f, s6)
                    }
                },
            )
            .collect::<Result<_, _>>()?;
        let mut out = AddrSummary::default();
        for s in parts {
            for fam in 0..2 {
                out.distinct[fam] += s.distinct[fam];
                for h in 0..HOSTS.len() {
                    out.freq[h][fam].merge(&s.freq[h][fam]);
                }
            }
            for (o, m) in out.freq_by_origin.iter_mut().zip(&s.freq_by_origin) {
                for (k, f) in m {
                    o.entry(*k).or_default().merge(f);
                }
            }
            for side in [SRC, DST] {
                out.top[side].extend(s.top[side].iter().cloned());
                for (k, (a, b)) in &s.by_origin[side] {
                    let e = out.by_origin[side].entry(*k).or_default();
                    e.0.merge(a);
                    e.1.merge(b);
                }
            }
        }
        for side in [SRC, DST] {
            let mut v: Vec<Ranked> = std::mem::take(&mut out.top[side])
                .into_iter()
                .map(|(ip, cells)| (score(&cells, f.weight), ip, cells))
                .collect();
            keep_top(&mut v, f.top);
            v.sort_by(order);
            out.top[side] = v.into_iter().map(|(_, ip, c)| (ip, c)).collect();
        }
        Ok(out)
    }

    /// Partition `p` of one family (`fam` 0: IPv4, 1: IPv6).
    fn partition<K: Key>(
        &self,
        p: usize,
        family: impl Fn(&AddrBuf) -> &[Parts<K>; 2],
        fam: usize,
        f: &Finish,
        sc: &mut Scratch<K>,
    ) -> Result<AddrSummary, AnalyzeError> {
        let mut out = AddrSummary::default();
        for side in [SRC, DST] {
            let m = &mut sc.sums;
            m.clear();
            let count: usize = self
                .bufs
                .iter()
                .map(|b| family(b)[side].parts[p].len())
                .sum::<usize>()
                + self
                    .runs
                    .iter()
                    .map(|r| r.count(set(fam, side), p))
                    .sum::<usize>();
            m.reserve(count);
            let mut add = |e: &Entry<K>| {
                if f.weight
                    .get(e.stratum as usize)
                    .is_some_and(Option::is_some)
                {
                    m.entry((e.key, e.stratum)).or_default().merge(&e.cell());
                }
            };
            for r in &self.runs {
                r.read::<K>(set(fam, side), p, &mut add)?;
            }
            for b in &self.bufs {
                family(b)[side].parts[p].iter().for_each(&mut add);
            }
            let score = &mut sc.score[side];
            score.clear();
            score.reserve(m.len());
            for (&(k, s), c) in m.iter() {
                let e = score.entry(k).or_insert_with(|| Tally {
                    origin: f.origins.map_or(0, |db| db.lookup(k.ip()).key()),
                    ..Tally::default()
                });
                e.score += f.weight[s as usize].unwrap_or(0.0) * c.n as f64;
                e.n += c.n;
                if f.remote.get(s as usize).copied().flatten() == Some(side) {
                    e.remote += c.n;
                }
            }
            if f.origins.is_some() {
                let by = &mut out.by_origin[side];
                for (&(k, s), c) in m.iter() {
                    let e = by.entry((s, score[&k].origin)).or_default();
                    e.0.merge(c);
                    if fam == 1 {
                        e.1.merge(c);
                    }
                }
            }
            if f.top > 0 {
                let best = &mut sc.best;
                best_of(score.iter().map(|(k, t)| (t.score, k.ip())), f.top, best);
                let mut cells: HashMap<IpAddr, PerStratum> =
                    best.iter().map(|(_, ip)| (*ip, Vec::new())).collect();
                for (&(k, s), c) in m.iter() {
                    if let Some(v) = cells.get_mut(&k.ip()) {
                        v.push((s, *c));
                    }
                }
                out.top[side] = cells
                    .into_iter()
                    .map(|(ip, mut v)| {
                        v.sort_by_key(|(s, _)| f.place[*s as usize]);
                        (ip, v)
                    })
                    .collect();
            }
        }
        let [a, b] = &sc.score;
        let fq = &mut out.freq;
        let by = &mut out.freq_by_origin;
        let mut origin = |t: &Tally, side: usize, n: u64| {
            if f.origins.is_some() {
                by[side].entry(t.origin).or_default().add(n);
            }
        };
        for (k, x) in a {
            let y = b.get(k).copied().unwrap_or_default();
            fq[0][fam].add(x.n);
            fq[2][fam].add(x.remote + y.remote);
            fq[3][fam].add(x.n + y.n);
            origin(x, 0, x.n);
            origin(x, 2, x.remote + y.remote);
        }
        for (k, y) in b {
            fq[1][fam].add(y.n);
            origin(y, 1, y.n);
            if !a.contains_key(k) {
                fq[2][fam].add(y.remote);
                fq[3][fam].add(y.n);
                origin(y, 2, y.remote);
            }
        }
        out.distinct[fam] = fq[3][fam].d;
        Ok(out)
    }
}

/// The best `top` of `items` by score (then key) into `best` (unordered),
/// through a bounded buffer: memory for `top` items, not all of them.
pub(super) fn best_of<K: Ord>(
    items: impl Iterator<Item = (f64, K)>,
    top: usize,
    best: &mut Vec<(f64, K)>,
) {
    best.clear();
    if top == 0 {
        return;
    }
    let ord = |a: &(f64, K), b: &(f64, K)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    for x in items {
        best.push(x);
        if best.len() >= 2 * top.max(64) {
            best.select_nth_unstable_by(top - 1, ord);
            best.truncate(top);
        }
    }
    if best.len() > top {
        best.select_nth_unstable_by(top - 1, ord);
        best.truncate(top);
    }
}

/// The ranking score of an address: its point estimate of packets.
fn score(cells: &PerStratum, weight: &[Option<f64>]) -> f64 {
    cells
        .iter()
        .map(|(s, c)| weight[*s as usize].unwrap_or(0.0) * c.n as f64)
        .sum()
}

#[cfg(test)]
#[path = "addrs_tests.rs"]
mod tests;
