//! Address sums by dictionary key: the batches of a row group share their
//! address dictionaries, so rows accumulate by key across them, each
//! distinct address is parsed (and looked up for AS pairs) once per
//! dictionary, and the sums go to the address tables when the dictionaries
//! change or the unit ends.

use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray};
use pktsample_asn::AsDb;

use crate::error::AnalyzeError;
use crate::stats::Cell;

use super::addrs::{AddrKey, DST, SRC};
use super::columns::addresses;
use super::spill::Budget;
use super::{StratumIds, StratumKey, ThreadAcc};

/// Address sums of the current dictionaries, carried across batches.
pub(super) struct AddrCache {
    src_values: ArrayRef,
    dst_values: ArrayRef,
    /// The strata met with these dictionaries, in the order the cells are
    /// kept (batches see them in any order: rows of several interfaces and
    /// directions interleave).
    strata: Vec<StratumKey>,
    pub src: AddrAcc,
    pub dst: AddrAcc,
}

/// Accumulate an address column by dictionary key, then by address.
pub(super) struct AddrAcc {
    /// Each dictionary value's address.
    pub addrs: Vec<Option<AddrKey>>,
    /// Origin slot of each dictionary value (u32::MAX: none), for the AS
    /// pairs; empty when they are not asked for.
    pub slots: Vec<u32>,
    /// [cache stratum][dictionary key] -> sums.
    pub cells: Vec<Vec<Cell>>,
}

impl AddrCache {
    /// Move the cached address sums into the thread's address tables.
    pub(super) fn flush(
        self,
        acc: &mut ThreadAcc,
        ids: &StratumIds,
        budget: &Budget,
    ) -> Result<(), AnalyzeError> {
        for (s, key) in self.strata.iter().enumerate() {
            let id = ids.id(key);
            for (side, accum) in [(SRC, &self.src), (DST, &self.dst)] {
                for (addr, cell) in accum.addrs.iter().zip(&accum.cells[s]) {
                    if let (Some(addr), true) = (addr, cell.n > 0) {
                        acc.addrs.push(side, *addr, id, cell);
                    }
                }
            }
        }
        // Kept for the next dictionaries (fresh pages cost more than the
        // work on them).
        for a in [self.src, self.dst] {
            acc.spare_keys.push(a.addrs);
            acc.spare_cells.extend(a.cells);
        }
        acc.addrs.spill_if_over(budget)
    }

    /// The sums of these dictionaries: the cached ones (`cached`) if the
    /// batch shares them, else fresh ones (the cached flushed first); with
    /// `pairs`, each address's origin slot for the AS pairs.
    pub(super) fn for_batch(
        cached: Option<AddrCache>,
        (acc, ids, budget): (&mut ThreadAcc, &StratumIds, &Budget),
        (sa, da): (&DictionaryArray<Int32Type>, &DictionaryArray<Int32Type>),
        pairs: Option<&AsDb>,
    ) -> Result<AddrCache, AnalyzeError> {
        if let Some(c) = cached {
            if Arc::ptr_eq(&c.src_values, sa.values()) && Arc::ptr_eq(&c.dst_values, da.values()) {
                return Ok(c);
            }
            c.flush(acc, ids, budget)?;
        }
        let mut mk = |a: &DictionaryArray<Int32Type>| {
            let mut addrs = acc.spare_keys.pop().unwrap_or_default();
            addresses(a, &mut addrs);
            AddrAcc {
                addrs,
                slots: Vec::new(),
                cells: Vec::new(),
            }
        };
        let (mut src, mut dst) = (mk(sa), mk(da));
        if let Some(db) = pairs {
            src.slots = origin_slots(acc, db, &src.addrs);
            dst.slots = origin_slots(acc, db, &dst.addrs);
        }
        Ok(AddrCache {
            src_values: sa.values().clone(),
            dst_values: da.values().clone(),
            strata: Vec::new(),
            src,
            dst,
        })
    }

    /// Batch-local stratum -> the cache's stratum (cells for strata new to
    /// the cache).
    pub(super) fn strata_of(&mut self, acc: &mut ThreadAcc, local: &[StratumKey]) -> Vec<usize> {
        local
            .iter()
            .map(|k| match self.strata.iter().position(|x| x == k) {
                Some(i) => i,
                None => {
                    self.strata.push(k.clone());
                    for a in [&mut self.src, &mut self.dst] {
                        let mut v = acc.spare_cells.pop().unwrap_or_default();
                        v.clear();
                        v.resize(a.addrs.len(), Cell::default());
                        a.cells.push(v);
                    }
                    self.strata.len() - 1
                }
            })
            .collect()
    }
}

/// Origin slots of a dictionary's addresses.
fn origin_slots(acc: &mut ThreadAcc, db: &AsDb, addrs: &[Option<AddrKey>]) -> Vec<u32> {
    addrs
        .iter()
        .map(|a| match a {
            None => u32::MAX,
            Some(ip) => {
                let k = db.lookup(ip.ip()).key();
                *acc.origin_slot.entry(k).or_insert_with(|| {
                    acc.origin_keys.push(k);
                    (acc.origin_keys.len() - 1) as u32
                })
            }
        })
        .collect()
}
