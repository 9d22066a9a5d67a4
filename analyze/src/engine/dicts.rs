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
use super::fold::Folder;
use super::{Section, StratumKey};

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
    addrs: Vec<Option<AddrKey>>,
    /// Origin slot of each dictionary value (u32::MAX: none), for the AS
    /// pairs; empty when they are not asked for.
    pub slots: Vec<u32>,
    /// [cache stratum][dictionary key] -> sums.
    pub cells: Vec<Vec<Cell>>,
}

impl Folder<'_> {
    /// Move the cached address sums into the thread's address tables.
    pub(super) fn flush_addresses(&mut self) -> Result<(), AnalyzeError> {
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

    /// The sums of these dictionaries: the cached ones if the batch shares
    /// them, else fresh ones (the cached flushed first).
    pub(super) fn address_cache(
        &mut self,
        sa: &DictionaryArray<Int32Type>,
        da: &DictionaryArray<Int32Type>,
    ) -> Result<AddrCache, AnalyzeError> {
        if let Some(c) = self.addr_cache.take() {
            if Arc::ptr_eq(&c.src_values, sa.values()) && Arc::ptr_eq(&c.dst_values, da.values()) {
                return Ok(c);
            }
            self.addr_cache = Some(c);
            self.flush_addresses()?;
        }
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
        if let (true, Some(db)) = (self.sections.has(Section::AsPairs), self.q.asn.clone()) {
            src.slots = self.origin_slots(&db, &src.addrs);
            dst.slots = self.origin_slots(&db, &dst.addrs);
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
    pub(super) fn cache_strata(&mut self, c: &mut AddrCache, local: &[StratumKey]) -> Vec<usize> {
        local
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
            .collect()
    }
}
