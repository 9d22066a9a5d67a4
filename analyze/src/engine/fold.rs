//! One batch of samples folded into its strata's sums: which strata its
//! rows belong to, which rows the filters keep, then the row pass
//! ([`super::pass`]) and the address sums by dictionary key
//! ([`super::dicts`], whose cache the folder carries between batches).

use arrow_array::RecordBatch;
use arrow_array::types::{Int32Type, TimestampNanosecondType, UInt8Type, UInt16Type, UInt32Type};
use arrow_array::{Array, DictionaryArray, PrimitiveArray};
use pktsample_schemas::Direction;
use pktsample_schemas::schema::col;
use rustc_hash::FxHashMap;

use crate::error::AnalyzeError;

use super::agg::{StratumAgg, ThreadAcc};
use super::columns::*;
use super::dicts::AddrCache;
use super::flows::{FlowAsk, FlowCols, fold_flows};
use super::pass::{AddrCols, ProtoCols, RowPass};
use super::plan::Parts;
use super::spill::Budget;
use super::{Query, Section, Sections, StratumIds, StratumKey};

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
    /// Contexts resolved from `--k8s` snapshots, kept across batches.
    pub(super) k8s_cache: pktsample_schemas::attribute::AttributeCache,
    /// Stratum ids of the address entries.
    pub(super) ids: &'a StratumIds,
    pub(super) budget: &'a Budget,
    /// The unit's one stratum (ifindex, direction, rate), when the Parquet
    /// statistics show those columns constant: they are then not read.
    pub(super) constant: Option<(u32, Direction, u32)>,
}

/// The stratum columns of a batch: ifindex, rate, direction by dictionary
/// key, and each key's direction.
type StrataCols<'b> = (
    &'b PrimitiveArray<UInt32Type>,
    &'b PrimitiveArray<UInt32Type>,
    DictionaryArray<Int32Type>,
    Vec<Direction>,
);

fn schema_err(c: &str) -> AnalyzeError {
    AnalyzeError::Schema(format!("column '{c}' is missing or of the wrong type"))
}

impl Folder<'_> {
    /// Flush what the unit still holds into the thread's aggregate.
    pub(super) fn finish(mut self) -> Result<(), AnalyzeError> {
        match self.addr_cache.take() {
            Some(c) => c.flush(self.acc, self.ids, self.budget),
            None => Ok(()),
        }
    }

    /// The batch's strata in order of appearance, and each row's (empty
    /// when the batch is one stratum).
    fn batch_strata(&self, cols: Option<&StrataCols>, n: usize) -> (Vec<StratumKey>, Vec<u32>) {
        // Usually the whole batch is one stratum: known from the statistics,
        // or by a vectorisable check.
        let one = match (&self.constant, cols) {
            (Some(k), _) => Some(*k),
            (None, Some((ifindex, rate, dir, dir_of))) => {
                let (ifv, dkv, rv) = (ifindex.values(), dir.keys().values(), rate.values());
                (ifv.iter().all(|&x| x == ifv[0])
                    && dkv.iter().all(|&x| x == dkv[0])
                    && rv.iter().all(|&x| x == rv[0]))
                .then(|| (ifv[0], dir_of[dkv[0] as usize], rv[0]))
            }
            (None, None) => unreachable!("columns read when not constant"),
        };
        if let Some((ifindex, direction, rate)) = one {
            return (
                vec![self.parts.key(self.file, ifindex, direction, rate)],
                Vec::new(),
            );
        }
        let (ifindex, rate, dir, dir_of) = cols.expect("stratum columns");
        let (ifv, dkv, rv) = (ifindex.values(), dir.keys().values(), rate.values());
        let mut local: Vec<StratumKey> = Vec::new();
        let mut local_idx: FxHashMap<(u32, u8, u32), usize> = FxHashMap::default();
        let mut row_stratum = Vec::with_capacity(n);
        let mut last: Option<((u32, u8, u32), usize)> = None;
        for i in 0..n {
            let key = (ifv[i], dkv[i] as u8, rv[i]);
            let idx = match last {
                Some((k, idx)) if k == key => idx,
                _ => {
                    let idx = *local_idx.entry(key).or_insert_with(|| {
                        // Two interfaces of a file may be one stratum (an
                        // interface re-created under its name).
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
        (local, row_stratum)
    }

    /// Rows of each stratum (before the time filter: the design's n) and,
    /// unless every row of a single stratum is kept, each row's stratum or
    /// `u32::MAX` (skipped).
    fn selection(
        &self,
        local: &[StratumKey],
        row_stratum: Vec<u32>,
        ts: &[i64],
    ) -> (Vec<u64>, Option<Vec<u32>>) {
        let excluded: Vec<bool> = local.iter().map(|k| (self.excluded)(k)).collect();
        let (from, to) = (
            self.q.from.unwrap_or(i64::MIN),
            self.q.to.unwrap_or(i64::MAX),
        );
        let mut rows: Vec<u64> = vec![0; local.len()];
        if local.len() == 1 && !excluded[0] && from == i64::MIN && to == i64::MAX {
            rows[0] = ts.len() as u64;
            return (rows, None);
        }
        let row_stratum = if row_stratum.is_empty() {
            vec![0; ts.len()]
        } else {
            row_stratum
        };
        let sel = row_stratum
            .iter()
            .zip(ts)
            .map(|(&s, &t)| {
                if excluded[s as usize] {
                    return u32::MAX;
                }
                rows[s as usize] += 1;
                if t < from || t >= to { u32::MAX } else { s }
            })
            .collect();
        (rows, Some(sel))
    }

    pub(super) fn fold(&mut self, b: &RecordBatch) -> Result<(), AnalyzeError> {
        let n = b.num_rows();
        if n == 0 {
            return Ok(());
        }
        let (view, attributed);
        let b = if self.q.inner {
            view = super::encap::inner_view(b)?;
            &view
        } else {
            b
        };
        let b = match &self.q.k8s {
            Some(k) if self.sections.any_k8s() => {
                attributed =
                    pktsample_schemas::attribute::attribute(b, k.as_ref(), &mut self.k8s_cache);
                &attributed
            }
            _ => b,
        };
        let ts = prim::<TimestampNanosecondType>(b, col::TIMESTAMP)?;
        let len = prim::<UInt32Type>(b, col::PKT_LEN)?;
        let ver = prim::<UInt8Type>(b, col::IP_VERSION)?;
        // The stratum columns, unless the statistics made them constant.
        let strata_cols = match self.constant {
            Some(_) => None,
            None => Some(strata_cols(b)?),
        };
        let (local, row_stratum) = self.batch_strata(strata_cols.as_ref(), n);
        let (rows, sel) = self.selection(&local, row_stratum, ts.values());
        let mut aggs: Vec<StratumAgg> = local
            .iter()
            .map(|k| self.acc.agg.strata.remove(k).unwrap_or_default())
            .collect();
        for (a, r) in aggs.iter_mut().zip(&rows) {
            a.rows += r;
        }
        let protos = match self.sections.has(Section::Protocols) {
            true => Some(proto_cols(b)?),
            false => None,
        };
        let addr_cols = if self.sections.addresses() {
            let s = dict_column(b, col::SRC_ADDR)?.ok_or_else(|| schema_err(col::SRC_ADDR))?;
            let d = dict_column(b, col::DST_ADDR)?.ok_or_else(|| schema_err(col::DST_ADDR))?;
            Some((s, d))
        } else {
            None
        };
        let pairs = self
            .q
            .asn
            .as_deref()
            .filter(|_| self.sections.has(Section::AsPairs));
        let mut cache = match &addr_cols {
            Some((sa, da)) => Some(AddrCache::for_batch(
                self.addr_cache.take(),
                (self.acc, self.ids, self.budget),
                (sa, da),
                pairs,
            )?),
            None => None,
        };
        let cmap = match &mut cache {
            Some(c) => c.strata_of(self.acc, &local),
            None => Vec::new(),
        };
        // AS pairs by both addresses' origin slots (taken out while the
        // cells are borrowed).
        let (ss, ds) = match &mut cache {
            Some(c) => (
                std::mem::take(&mut c.src.slots),
                std::mem::take(&mut c.dst.slots),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let addrs = match (&addr_cols, &mut cache) {
            (Some((sa, da)), Some(c)) => Some(AddrCols {
                src: sa.keys().values(),
                dst: da.keys().values(),
                src_nulls: bits(sa.keys().nulls()),
                dst_nulls: bits(da.keys().nulls()),
                src_acc: &mut c.src,
                dst_acc: &mut c.dst,
                cmap: &cmap,
                src_slots: &ss,
                dst_slots: &ds,
            }),
            _ => None,
        };
        let acc = &mut *self.acc;
        let mut pass = RowPass::new(
            (ts.values(), len.values(), ver.values(), bits(ver.nulls())),
            protos,
            addrs,
            self.sections
                .has(Section::TimeSeries)
                .then_some(self.interval),
            (&mut acc.eth_slot, &mut acc.eth_keys, &mut acc.spare_protos),
            &mut aggs,
        );
        pass.run(sel.as_deref());
        drop(pass);
        if let (Some((sa, da)), Some(c), true) = (&addr_cols, &cache, self.sections.flows()) {
            let cols = FlowCols {
                src: sa,
                dst: da,
                src_addrs: &c.src.addrs,
                dst_addrs: &c.dst.addrs,
            };
            let ask = FlowAsk {
                table: self.sections.has(Section::TopPairs) || self.sections.has(Section::TopFlows),
                connections: self.sections.has(Section::Connections),
                asn: self.q.asn.as_deref(),
            };
            let ids: Vec<u32> = local.iter().map(|k| self.ids.id(k)).collect();
            let flows = &mut self.acc.flows;
            fold_flows(
                b,
                sel.as_deref(),
                len.values(),
                &cols,
                (&local, &ids),
                flows,
                &mut aggs,
                &ask,
            );
            self.budget.charge(flows)?;
        }
        self.column_folds(b, sel.as_deref(), (len.values(), ts.values()), &mut aggs)?;
        if let Some(c) = &mut cache {
            (c.src.slots, c.dst.slots) = (ss, ds);
        }
        // Kept for the next batch of the same dictionaries.
        self.addr_cache = cache;
        // A stratum the filters leave out (its rows unselected) is not
        // kept, not even empty: its pools would count in the report.
        for (k, a) in local.into_iter().zip(aggs) {
            if !(self.excluded)(&k) {
                self.acc.agg.strata.insert(k, a);
            }
        }
        Ok(())
    }

    /// The sections folded from their own columns, after the row pass:
    /// encapsulations, the Kubernetes ones and the policy what-if.
    fn column_folds(
        &self,
        b: &RecordBatch,
        sel: Option<&[u32]>,
        (len, ts): (&[u32], &[i64]),
        aggs: &mut [StratumAgg],
    ) -> Result<(), AnalyzeError> {
        if self.sections.has(Section::Encapsulations) {
            super::encap::fold_encap(b, sel, len, aggs)?;
        }
        if self.sections.any_k8s() {
            let asn = self
                .q
                .asn
                .as_deref()
                .filter(|_| self.sections.has(Section::Leaving));
            super::k8s::fold_k8s(b, sel, len, aggs, asn)?;
        }
        if let Some(p) = self
            .q
            .policy
            .as_deref()
            .filter(|_| self.sections.has(Section::Denied))
        {
            super::policy::fold_policy(b, sel, len, ts, aggs, p)?;
        }
        Ok(())
    }
}

/// The protocol section's columns of a batch.
fn proto_cols(b: &RecordBatch) -> Result<ProtoCols<'_>, AnalyzeError> {
    let sp = prim::<UInt16Type>(b, col::SRC_PORT)?;
    let proto = prim::<UInt8Type>(b, col::IP_PROTO)?;
    Ok(ProtoCols {
        eth: prim::<UInt16Type>(b, col::ETH_TYPE)?.values(),
        proto: proto.values(),
        proto_nulls: bits(proto.nulls()),
        sport: sp.values(),
        dport: prim::<UInt16Type>(b, col::DST_PORT)?.values(),
        port_nulls: bits(sp.nulls()),
    })
}

/// A batch's stratum columns: interface, rate and direction (with each
/// direction key's value).
fn strata_cols(b: &RecordBatch) -> Result<StrataCols<'_>, AnalyzeError> {
    let dir = dict_column(b, col::DIRECTION)?.ok_or_else(|| schema_err(col::DIRECTION))?;
    let dir_of = directions(&dir);
    Ok((
        prim::<UInt32Type>(b, col::IFINDEX)?,
        prim::<UInt32Type>(b, col::SAMPLING_RATE)?,
        dir,
        dir_of,
    ))
}
