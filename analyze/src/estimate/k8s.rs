//! The Kubernetes sections: packets and bytes per namespace and workload
//! (as source, destination and far end), per pair of them (the matrices),
//! and the traffic leaving the cluster per workload and destination AS,
//! each with the stratified estimator and interval of every breakdown.
//!
//! All come from one per-stratum table, (source, destination) side keys
//! -> sums, which the engine fills from the Kubernetes columns or from
//! `--k8s` snapshots.

use std::collections::BTreeMap;

use pktsample_asn::Origin;
use pktsample_schemas::Direction;

use crate::engine::k8s::{UNATTRIBUTED, in_cluster, namespace_of};
use crate::report::{K8sPairRow, K8sRow, LeavingAsRow};
use crate::stats::Cell;

use super::group::{GroupEst, Stratum};
use super::per_as::as_ref;
use super::{Ctx, by_packets};

/// Which end of a pair a section reads.
#[derive(Clone, Copy)]
enum End {
    Source,
    Destination,
    /// The source of ingress samples, the destination of egress ones.
    Remote,
}

/// Sums by a key of each stratum's pairs (None: left out). A key's cells
/// of one stratum are merged before they are added: the stratum's
/// variance is of the key's whole sample, not a sum over its pairs'.
pub(super) fn sums<'a, K: Ord + Clone>(
    st: &'a [Stratum<'a>],
    pairs: impl Fn(&'a Stratum<'a>) -> Vec<(&'a str, &'a str, &'a Cell)>,
    key: impl Fn(&Stratum, &str, &str) -> Option<K>,
) -> BTreeMap<K, GroupEst> {
    let mut g: BTreeMap<K, GroupEst> = BTreeMap::new();
    for s in st {
        let mut per: BTreeMap<K, Cell> = BTreeMap::new();
        for (src, dst, c) in pairs(s) {
            if let Some(k) = key(s, src, dst) {
                per.entry(k).or_default().merge(c);
            }
        }
        for (k, c) in per {
            g.entry(k).or_default().add(s, &c);
        }
    }
    g
}

/// A stratum's (source, destination) cells.
fn pairs<'a>(s: &'a Stratum<'a>) -> Vec<(&'a str, &'a str, &'a Cell)> {
    let p = s.agg.k8s_pairs.iter();
    p.map(|((a, b), c)| (&**a, &**b, c)).collect()
}

fn end_of<'k>(s: &Stratum, end: End, src: &'k str, dst: &'k str) -> Option<&'k str> {
    match (end, s.key.direction) {
        (End::Source, _) | (End::Remote, Direction::Ingress) => Some(src),
        (End::Destination, _) | (End::Remote, Direction::Egress) => Some(dst),
        (End::Remote, Direction::Unknown) => None,
    }
}

fn rows(c: &Ctx, g: BTreeMap<String, GroupEst>) -> Vec<K8sRow> {
    let mut v = by_packets(g);
    v.truncate(c.top);
    v.into_iter()
        .map(|(name, g)| K8sRow {
            in_cluster: in_cluster(&name),
            name,
            m: g.measures(),
        })
        .collect()
}

fn pair_rows(c: &Ctx, g: BTreeMap<(String, String), GroupEst>) -> Vec<K8sPairRow> {
    let mut v = by_packets(g);
    v.truncate(c.top);
    v.into_iter()
        .map(|((source, destination), g)| K8sPairRow {
            source,
            destination,
            m: g.measures(),
        })
        .collect()
}

/// The snapshots, once, and a warning when no sample had context.
pub(super) fn prepare(c: &mut Ctx) {
    if c.r.k8s_snapshots.is_some() {
        return;
    }
    c.r.k8s_snapshots = Some(match &c.a.query.k8s {
        Some(k) => k.describe(),
        None => Vec::new(),
    });
    let mut all = Cell::default();
    let mut none = Cell::default();
    for s in &c.st {
        for ((src, dst), x) in &s.agg.k8s_pairs {
            all.merge(x);
            if &**src == UNATTRIBUTED && &**dst == UNATTRIBUTED {
                none.merge(x);
            }
        }
    }
    if all.n > 0 && none.n == all.n {
        c.r.warnings.push(
            "no sample has Kubernetes context: give the cluster's snapshots with --k8s FILE, or enrich the samples (pktsample enrich --k8s FILE)".into(),
        );
    }
}

fn by_end(c: &Ctx, end: End, namespace: bool) -> Vec<K8sRow> {
    let g = sums(&c.st, pairs, |s, src, dst| {
        let k = end_of(s, end, src, dst)?;
        Some(match namespace {
            true => namespace_of(k).to_string(),
            false => k.to_string(),
        })
    });
    rows(c, g)
}

pub fn namespaces(c: &mut Ctx) {
    prepare(c);
    c.r.source_namespaces = Some(by_end(c, End::Source, true));
    c.r.destination_namespaces = Some(by_end(c, End::Destination, true));
    c.r.remote_namespaces = Some(by_end(c, End::Remote, true));
}

pub fn workloads(c: &mut Ctx) {
    prepare(c);
    c.r.source_workloads = Some(by_end(c, End::Source, false));
    c.r.destination_workloads = Some(by_end(c, End::Destination, false));
    c.r.remote_workloads = Some(by_end(c, End::Remote, false));
}

pub fn namespace_pairs(c: &mut Ctx) {
    prepare(c);
    let g = sums(&c.st, pairs, |_, src, dst| {
        Some((namespace_of(src).to_string(), namespace_of(dst).to_string()))
    });
    c.r.namespace_pairs = Some(pair_rows(c, g));
}

pub fn workload_pairs(c: &mut Ctx) {
    prepare(c);
    let g = sums(&c.st, pairs, |_, src, dst| {
        Some((src.to_string(), dst.to_string()))
    });
    c.r.workload_pairs = Some(pair_rows(c, g));
}

/// Whether a pair leaves the cluster: from the cluster's to an address no
/// pod, service or node holds.
pub(crate) fn leaves(src: &str, dst: &str) -> bool {
    in_cluster(src) && !in_cluster(dst) && dst != UNATTRIBUTED
}

pub fn leaving(c: &mut Ctx) {
    prepare(c);
    let g = sums(&c.st, pairs, |_, src, dst| {
        leaves(src, dst).then(|| src.to_string())
    });
    c.r.leaving_workloads = Some(rows(c, g));
    let Some(db) = c.a.query.asn.as_deref() else {
        c.r.warnings.push(
            "leaving: the destination ASes of the traffic leaving the cluster need an ASN database: add --asn-db FILE".into(),
        );
        return;
    };
    let mut g: BTreeMap<(String, Origin), GroupEst> = BTreeMap::new();
    for s in &c.st {
        for ((src, o), x) in &s.agg.k8s_leaving_as {
            if in_cluster(src) {
                g.entry((src.to_string(), Origin::from_key(*o)))
                    .or_default()
                    .add(s, x);
            }
        }
    }
    let mut v = by_packets(g);
    v.truncate(c.top);
    c.r.leaving_as = Some(
        v.into_iter()
            .map(|((source, o), g)| LeavingAsRow {
                source,
                destination: as_ref(db, o),
                m: g.measures(),
            })
            .collect(),
    );
}
