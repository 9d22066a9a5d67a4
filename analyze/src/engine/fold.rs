//! The row pass: one batch of samples folded into its strata's sums,
//! addresses accumulated by dictionary key and resolved once per batch.

use std::sync::Arc;

use arrow_array::types::{Int32Type, TimestampNanosecondType, UInt8Type, UInt16Type, UInt32Type};
use arrow_array::{Array, ArrayRef, DictionaryArray, RecordBatch};
use pktsample_asn::AsDb;
use pktsample_schemas::Direction;
use pktsample_schemas::schema::col;
use rustc_hash::FxHashMap;

use crate::error::AnalyzeError;
use crate::stats::Cell;

use super::addrs::{AddrKey, DST, SRC};
use super::agg::{StratumAgg, ThreadAcc};
use super::columns::*;
use super::plan::Parts;
use super::spill::Budget;
use super::tables::*;
use super::{Query, Sections, StratumIds, StratumKey};

/// Per-batch state for the rows of one file.
pub(super) struct Folder<'a> {
    pub(super) file: u32,
    pub(super) q: &'a Query,
    pub(super) interval: i64,
    /// Strata excluded by the interface/direction filters.
    pub(super) excluded: &'a (dyn Fn(&StratumKey) -> bool + Sync),
    /// Which stratum rows of this file belong to.
    pub(super) parts: &'a Parts,
    /// The sections to fold (none: a row group outside the time window,
    /// read only to count its rows by stratum).
    pub(super) sections: Sections,
    pub(super) acc: &'a mut ThreadAcc,
    pub(super) addr_cache: Option<AddrCache>,
    /// Stratum ids of the address entries.
    pub(super) ids: &'a StratumIds,
    pub(super) budget: &'a Budget,
    /// The unit's one stratum (ifindex, direction, rate), when the Parquet
    /// statistics show those columns constant: they are then not read.
    pub(super) constant: Option<(u32, Direction, u32)>,
}
/// Address sums of the current dictionaries, carried across batches.
pub(super) struct AddrCache {
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
    addrs: Vec<Option<AddrKey>>,
    /// Origin slot of each dictionary value (u32::MAX: none), for the AS
    /// pairs; empty when they are not asked for.
    slots: Vec<u32>,
    /// [cache stratum][dictionary key] -> sums.
    cells: Vec<Vec<Cell>>,
}

impl Folder<'_> {
    /// Move the cached address sums into the thread's address tables.
    fn flush_addresses(&mut self) -> Result<(), AnalyzeError> {
        let Some(c) = self.addr_cache.take() else {
            return Ok(());
        };
        let acc = &mut *self.acc;
        for (s, key) in c.strata.iter().enumerate() {
            let id = self.ids.id(key);
            for (side, accum) in [(SRC, &c.src), (DST, &c.dst)] {
                for (addr, cell) in accum.addrs.iter().zip(&accum.cells[s]) {
                    if let (Some(addr), true) = (addr, cell.n > 0) {
                        acc.addrs.push(side, *addr, id, cell);
                    }
                }
            }
        }
        // Kept for the next dictionaries (fresh pages cost more than the
        // work on them).
        for a in [c.src, c.dst] {
            acc.spare_keys.push(a.addrs);
            acc.spare_cells.extend(a.cells);
        }
        acc.addrs.spill_if_over(self.budget)
    }

    /// Flush what the unit still holds into the thread's aggregate.
    pub(super) fn finish(mut self) -> Result<(), AnalyzeError> {
        self.flush_addresses()
    }

    /// Origin slots of a dictionary's addresses.
    fn origin_slots(&mut self, db: &AsDb, addrs: &[Option<AddrKey>]) -> Vec<u32> {
        addrs
            .iter()
            .map(|a| match a {
                None => u32::MAX,
                Some(ip) => {
                    let k = db.lookup(ip.ip()).key();
                    let acc = &mut *self.acc;
                    *acc.origin_slot.entry(k).or_insert_with(|| {
                        acc.origin_keys.push(k);
                        (acc.origin_keys.len() - 1) as u32
                    })
                }
            })
            .collect()
    }

    pub(super) fn fold(&mut self, b: &RecordBatch) -> Result<(), AnalyzeError> {
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
        let protos = if self.sections.protocols {
            Some((
                prim::<UInt16Type>(b, col::ETH_TYPE)?,
                prim::<UInt8Type>(b, col::IP_PROTO)?,
                prim::<UInt16Type>(b, col::SRC_PORT)?,
                prim::<UInt16Type>(b, col::DST_PORT)?,
            ))
        } else {
            None
        };
        let addr_cols = if self.sections.addresses() {
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
            local.push(self.parts.key(self.file, ifindex, direction, rate));
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
                            // Two interfaces of a file may be one stratum
                            // (an interface re-created under its name).
                            let d = dir_of[key.1 as usize];
                            let k = self.parts.key(self.file, key.0, d, key.2);
                            local.iter().position(|x| *x == k).unwrap_or_else(|| {
                                local.push(k);
                                local.len() - 1
                            })
                        });
                        last = Some((key, idx));
                        idx
                    }
                };
                row_stratum.push(idx as u32);
            }
        }
        let excluded: Vec<bool> = local.iter().map(|k| (self.excluded)(k)).collect();
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
                    self.flush_addresses()?;
                    let mut mk = |a: &DictionaryArray<Int32Type>| {
                        let mut addrs = self.acc.spare_keys.pop().unwrap_or_default();
                        addresses(a, &mut addrs);
                        AddrAcc {
                            addrs,
                            slots: Vec::new(),
                            cells: Vec::new(),
                        }
                    };
                    let (mut src, mut dst) = (mk(sa), mk(da));
                    if let (true, Some(db)) = (self.sections.as_pairs, self.q.asn.clone()) {
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
                            let mut v = self.acc.spare_cells.pop().unwrap_or_default();
                            v.clear();
                            v.resize(a.addrs.len(), Cell::default());
                            a.cells.push(v);
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
        let time_series = self.sections.time_series;
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
