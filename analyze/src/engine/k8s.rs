//! Kubernetes context in the aggregation: each row's source and
//! destination workload (or the label of an address no workload holds)
//! summed per stratum, from which the namespace, workload, pair and
//! leaving-the-cluster sections all come; and for traffic leaving the
//! cluster, its destination AS (with `--asn-db`).
//!
//! The context is the samples' own Kubernetes columns, or, with `--k8s`,
//! computed from the snapshots as each batch is read (the same function
//! that fills the columns at capture), so both paths agree by design.

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, DictionaryArray, RecordBatch};
use pktsample_asn::AsDb;
use pktsample_schemas::attribute::text_at;
use pktsample_schemas::schema::col;
use rustc_hash::FxHashMap;

use crate::error::AnalyzeError;
use crate::stats::Cell;

use super::agg::StratumAgg;
use super::columns::dict_column;

/// The key of a row whose address had no Kubernetes context (a file not
/// enriched, a sample without addresses).
pub const UNATTRIBUTED: &str = "(unattributed)";

/// The label of a node's address, as a side key.
pub const NODE: &str = "(node)";

/// The columns the sections read: the Kubernetes columns, or with
/// snapshots what attributing a row needs; the destination address for
/// the AS of traffic leaving the cluster.
pub(super) fn k8s_columns(attribute: bool, leaving_as: bool) -> Vec<&'static str> {
    let mut v = match attribute {
        true => vec![
            col::IFNAME,
            col::DIRECTION,
            col::SRC_ADDR,
            col::DST_ADDR,
            col::INNER_SRC_ADDR,
            col::INNER_DST_ADDR,
        ],
        false => vec![
            col::SRC_NAMESPACE,
            col::SRC_WORKLOAD,
            col::DST_NAMESPACE,
            col::DST_WORKLOAD,
        ],
    };
    if leaving_as {
        v.extend([col::DST_ADDR, col::INNER_DST_ADDR]);
    }
    v
}

/// A side's key: `namespace/kind/name` for a workload or service,
/// `(label)` for an address no workload holds.
pub fn side_key(namespace: Option<&str>, workload: Option<&str>) -> String {
    match (namespace, workload) {
        (Some(n), Some(w)) => format!("{n}/{w}"),
        (Some(n), None) => format!("{n}/(unknown)"),
        (None, Some(w)) => format!("({w})"),
        (None, None) => UNATTRIBUTED.into(),
    }
}

/// Whether a side key is the cluster's (a workload, service or node).
pub fn in_cluster(key: &str) -> bool {
    !key.starts_with('(') || key == NODE
}

/// The namespace part of a side key (`(label)` for labels).
pub fn namespace_of(key: &str) -> &str {
    match key.starts_with('(') {
        true => key,
        false => key.split_once('/').map_or(key, |(n, _)| n),
    }
}

/// Each row's side as (namespace key + 1) << 32 | (workload key + 1), 0
/// for null.
pub(super) fn sides(
    ns: &Option<DictionaryArray<Int32Type>>,
    wl: &Option<DictionaryArray<Int32Type>>,
    i: usize,
) -> u64 {
    let k = |d: &Option<DictionaryArray<Int32Type>>| match d {
        Some(d) if d.is_valid(i) => d.keys().value(i) as u64 + 1,
        _ => 0,
    };
    k(ns) << 32 | k(wl)
}

/// A side of [`sides`] spelled as [`side_key`] spells it.
pub(super) fn side_text(
    ns: &Option<DictionaryArray<Int32Type>>,
    wl: &Option<DictionaryArray<Int32Type>>,
    k: u64,
) -> String {
    fn t(d: &Option<DictionaryArray<Int32Type>>, k: u64) -> Option<&str> {
        let d = d.as_ref()?;
        (k > 0).then(|| d.values().as_string::<i32>().value(k as usize - 1))
    }
    side_key(t(ns, k >> 32), t(wl, k & 0xffff_ffff))
}

/// The origin key of the row's destination (its inner address where it
/// has one), for traffic leaving the cluster.
fn dst_origin(b: &RecordBatch, db: &AsDb, i: usize) -> u64 {
    let at = |name| text_at(b.column_by_name(name), i);
    match at(col::INNER_DST_ADDR)
        .or_else(|| at(col::DST_ADDR))
        .map(str::parse)
    {
        Some(Ok(ip)) => db.lookup(ip).key(),
        _ => pktsample_asn::Origin::None(pktsample_asn::Unmapped::Reserved).key(),
    }
}

/// Sum the selected rows by their (source, destination) side keys into
/// their strata, and the leaving traffic by destination origin. `sel`
/// gives each row's batch stratum or `u32::MAX` for a row left out.
pub(super) fn fold_k8s(
    b: &RecordBatch,
    sel: Option<&[u32]>,
    len: &[u32],
    aggs: &mut [StratumAgg],
    asn: Option<&AsDb>,
) -> Result<(), AnalyzeError> {
    let sn = dict_column(b, col::SRC_NAMESPACE)?;
    let sw = dict_column(b, col::SRC_WORKLOAD)?;
    let dn = dict_column(b, col::DST_NAMESPACE)?;
    let dw = dict_column(b, col::DST_WORKLOAD)?;
    // The destination side of a node's address, found once per batch.
    let node_wl = dw.as_ref().and_then(|d| {
        let v = d.values().as_string::<i32>();
        (0..v.len()).find(|&k| v.is_valid(k) && v.value(k) == "node")
    });
    let node_side = node_wl.map(|k| k as u64 + 1);
    let mut pairs: FxHashMap<(u32, u64, u64), Cell> = FxHashMap::default();
    let mut out: FxHashMap<(u32, u64, u64), Cell> = FxHashMap::default();
    for (i, &l) in len.iter().enumerate() {
        let s = match sel {
            Some(sel) if sel[i] == u32::MAX => continue,
            Some(sel) => sel[i],
            None => 0,
        };
        let (src, dst) = (sides(&sn, &sw, i), sides(&dn, &dw, i));
        pairs.entry((s, src, dst)).or_default().add(l);
        // Leaving: the destination is no namespace's and no node's.
        if let Some(db) = asn
            && dst >> 32 == 0
            && dst != 0
            && Some(dst) != node_side
        {
            let o = dst_origin(b, db, i);
            out.entry((s, src, o)).or_default().add(l);
        }
    }
    for ((s, src, dst), c) in pairs {
        let k = (
            side_text(&sn, &sw, src).into(),
            side_text(&dn, &dw, dst).into(),
        );
        aggs[s as usize].k8s_pairs.entry(k).or_default().merge(&c);
    }
    for ((s, src, o), c) in out {
        let k = (side_text(&sn, &sw, src).into_boxed_str(), o);
        aggs[s as usize]
            .k8s_leaving_as
            .entry(k)
            .or_default()
            .merge(&c);
    }
    Ok(())
}
