//! The row pass: one loop over a batch's rows feeds every section. Per-row
//! work has no data-dependent branches where the data are random from row
//! to row (table lookups and selects instead: mispredictions would cost more
//! than the arithmetic).

use rustc_hash::FxHashMap;

use crate::stats::Cell;

use super::agg::{StratumAgg, TIME_CLASS, TimeCell};
use super::columns::{Bits, each, select, valid};
use super::dicts::AddrAcc;
use super::tables::*;

const NS: usize = SIZE_CLASSES.len();

/// The protocol columns of a batch.
pub(super) struct ProtoCols<'a> {
    pub eth: &'a [u16],
    pub proto: &'a [u8],
    pub proto_nulls: Bits<'a>,
    pub sport: &'a [u16],
    pub dport: &'a [u16],
    pub port_nulls: Bits<'a>,
}

/// The address columns' dictionary keys, and where their sums go.
pub(super) struct AddrCols<'a> {
    pub src: &'a [i32],
    pub dst: &'a [i32],
    pub src_nulls: Bits<'a>,
    pub dst_nulls: Bits<'a>,
    pub src_acc: &'a mut AddrAcc,
    pub dst_acc: &'a mut AddrAcc,
    /// Batch stratum -> the dictionaries' stratum.
    pub cmap: &'a [usize],
    /// Origin slots of each side's dictionary values (empty: no AS pairs).
    pub src_slots: &'a [u32],
    pub dst_slots: &'a [u32],
}

/// One batch's pass: its columns, and what it sums per batch stratum.
pub(super) struct RowPass<'a> {
    pub ts: &'a [i64],
    pub len: &'a [u32],
    pub ver: &'a [u8],
    pub ver_nulls: Bits<'a>,
    pub protos: Option<ProtoCols<'a>>,
    pub addrs: Option<AddrCols<'a>>,
    /// Time series bucket width, when it is asked for.
    pub interval: Option<i64>,
    /// EtherType -> slot, and slot -> EtherType, of the thread.
    pub eth_slot: &'a mut [u8],
    pub eth_keys: &'a mut Vec<u16>,
    /// Zeroed dense protocol tables of the thread, taken and given back.
    spare: &'a mut Vec<Protocols>,
    /// The batch's strata (their time buckets and AS pairs are summed into
    /// them directly).
    pub aggs: &'a mut [StratumAgg],
    /// Per stratum: sums by IP version and size class, the time span,
    /// protocols, EtherTypes by slot, AS pairs by origin slots.
    pub combo: Vec<[Cell; 3 * NS]>,
    pub span: Vec<(i64, i64)>,
    pub pr: Vec<Protocols>,
    pub eth_local: Vec<Cell>,
    pub pairs: Vec<FxHashMap<u64, Cell>>,
    /// The current time bucket (stratum, bucket) as a range: most rows need
    /// no division.
    cur: Option<(usize, i64)>,
    cell: TimeCell,
    lo: i64,
    hi: i64,
    ptable: &'static PortTable,
    slots: usize,
}

impl<'a> RowPass<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (ts, len, ver, ver_nulls): (&'a [i64], &'a [u32], &'a [u8], Bits<'a>),
        protos: Option<ProtoCols<'a>>,
        addrs: Option<AddrCols<'a>>,
        interval: Option<i64>,
        (eth_slot, eth_keys, spare): (&'a mut [u8], &'a mut Vec<u16>, &'a mut Vec<Protocols>),
        aggs: &'a mut [StratumAgg],
    ) -> RowPass<'a> {
        let ns = aggs.len();
        let with_protos = protos.is_some();
        let pr = if with_protos {
            (0..ns).map(|_| spare.pop().unwrap_or_default()).collect()
        } else {
            Vec::new()
        };
        let pairs = if addrs.as_ref().is_some_and(|a| !a.src_slots.is_empty()) {
            aggs.iter_mut()
                .map(|a| std::mem::take(&mut a.pair_slots))
                .collect()
        } else {
            Vec::new()
        };
        RowPass {
            ts,
            len,
            ver,
            ver_nulls,
            protos,
            addrs,
            interval,
            eth_slot,
            eth_keys,
            spare,
            aggs,
            combo: vec![[Cell::default(); 3 * NS]; ns],
            span: vec![(i64::MAX, i64::MIN); ns],
            pr,
            eth_local: vec![Cell::default(); if with_protos { ns * 256 } else { 0 }],
            pairs,
            cur: None,
            cell: TimeCell::default(),
            lo: i64::MAX,
            hi: i64::MIN,
            ptable: ports(),
            slots: port_slots(),
        }
    }

    /// Fold the selected rows (all of stratum 0 without a selection).
    pub fn run(&mut self, sel: Option<&[u32]>) {
        let n = self.ts.len();
        // Time span: one vectorised min/max when every row counts, per row
        // otherwise.
        let per_row_span = sel.is_some();
        if !per_row_span {
            self.span[0] = self
                .ts
                .iter()
                .fold((i64::MAX, i64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
        }
        each(n, sel, |i, s| {
            if per_row_span {
                let t = self.ts[i];
                let sp = &mut self.span[s];
                sp.0 = sp.0.min(t);
                sp.1 = sp.1.max(t);
            }
            self.row(i, s);
        });
        self.finish();
    }

    #[inline(always)]
    fn row(&mut self, i: usize, s: usize) {
        let (t, l) = (self.ts[i], self.len[i]);
        let v = VERSION_INDEX[self.ver[i] as usize] as usize * valid(self.ver_nulls, i) as usize;
        self.combo[s][v * NS + size_index(l)].add(l);
        if let Some(interval) = self.interval {
            if t < self.lo || t >= self.hi || self.cur.is_none_or(|(cs, _)| cs != s) {
                if let Some((cs, cb)) = self.cur {
                    self.aggs[cs].time.entry(cb).or_default().merge(&self.cell);
                }
                let b = t.div_euclid(interval);
                self.cur = Some((s, b));
                self.cell = TimeCell::default();
                self.lo = b.saturating_mul(interval);
                self.hi = self.lo.saturating_add(interval);
            }
            self.cell.version[v].add(l);
        }
        if self.protos.is_some() {
            self.protocols(i, s, l);
        }
        if let Some(a) = &mut self.addrs {
            let (sv, dv) = (valid(a.src_nulls, i), valid(a.dst_nulls, i));
            let (sk, dk) = (a.src[i] as usize, a.dst[i] as usize);
            if sv {
                a.src_acc.cells[a.cmap[s]][sk].add(l);
            }
            if dv {
                a.dst_acc.cells[a.cmap[s]][dk].add(l);
            }
            if !a.src_slots.is_empty() && sv && dv {
                let (x, y) = (a.src_slots[sk], a.dst_slots[dk]);
                if x != u32::MAX && y != u32::MAX {
                    self.pairs[s]
                        .entry(((x as u64) << 32) | y as u64)
                        .or_default()
                        .add(l);
                }
            }
        }
    }

    #[inline(always)]
    fn protocols(&mut self, i: usize, s: usize, l: u32) {
        let p = self.protos.as_ref().expect("protocol columns");
        let e = p.eth[i];
        let mut sl = self.eth_slot[e as usize];
        if sl == u8::MAX {
            if self.eth_keys.len() < 255 {
                sl = self.eth_keys.len() as u8;
                self.eth_keys.push(e);
                self.eth_slot[e as usize] = sl;
            } else {
                // Pathological: over 255 EtherTypes. Slow path.
                self.pr[s].add_eth(e, l);
                sl = u8::MAX;
            }
        }
        if sl != u8::MAX {
            self.eth_local[s * 256 + sl as usize].add(l);
        }
        if valid(p.proto_nulls, i) {
            let proto = p.proto[i];
            if self.interval.is_some() {
                self.cell.class[TIME_CLASS[proto as usize] as usize].add(l);
            }
            let pr = &mut self.pr[s];
            let ti = TRANSPORT_INDEX[proto as usize];
            if ti == u8::MAX {
                pr.ip_proto[proto as usize].add(l);
            } else {
                // Transport protocols are counted once, by service; their IP
                // protocol rows are summed from those. Ports are written
                // together: both or neither.
                let (ptable, slots) = (self.ptable, self.slots);
                let (sp, dp) = (p.sport[i], p.dport[i]);
                let (kd, ks) = (ptable.is_known(dp), ptable.is_known(sp));
                let m = sp.min(dp);
                let port = select(kd, dp, select(ks, sp, m));
                let has = (kd | ks | (m < 1024)) & valid(p.port_nulls, i);
                let slot = select(has, ptable.slot(port), (slots - 1) as u16) as usize;
                pr.service[ti as usize * slots + slot].add(l);
            }
        }
    }

    /// Move the batch's sums into its strata (all but the row counts).
    fn finish(&mut self) {
        if let Some((cs, cb)) = self.cur.take() {
            self.aggs[cs].time.entry(cb).or_default().merge(&self.cell);
        }
        for (a, p) in self.aggs.iter_mut().zip(self.pairs.drain(..)) {
            a.pair_slots = p;
        }
        for (s, mut p) in std::mem::take(&mut self.pr).into_iter().enumerate() {
            for (sl, &k) in self.eth_keys.iter().enumerate() {
                let c = &self.eth_local[s * 256 + sl];
                if c.n > 0 {
                    p.add_eth_cell(k, c);
                }
            }
            self.aggs[s]
                .protocols
                .get_or_insert_default()
                .take_from(&mut p);
            self.spare.push(p);
        }
        for (s, a) in self.aggs.iter_mut().enumerate() {
            for v in 0..3 {
                for z in 0..NS {
                    let c = self.combo[s][v * NS + z];
                    a.total.merge(&c);
                    a.ip_version[v].merge(&c);
                    a.size[z].merge(&c);
                }
            }
            let (lo, hi) = self.span[s];
            if lo <= hi {
                a.first_ns = Some(a.first_ns.map_or(lo, |f| f.min(lo)));
                a.last_ns = Some(a.last_ns.map_or(hi, |f| f.max(hi)));
            }
        }
    }
}
