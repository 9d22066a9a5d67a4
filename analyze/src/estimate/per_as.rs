//! The per-AS sections: addresses summed by origin AS, with the same
//! stratified estimators and intervals as every other breakdown.

use std::collections::BTreeMap;

use pktsample_asn::{AsDb, Origin};
use pktsample_schemas::Direction;

use crate::engine::{AddrSummary, Analysis, DST, SRC};
use crate::report::*;
use crate::stats::{self, Cell, Design, ShareSums};

use super::group::{GroupEst, Pooled, Stratum};
use super::{by_packets, groups, share_sums};

#[derive(Default)]
pub(super) struct PerAs {
    pub databases: Option<Vec<AsnDatabase>>,
    pub source: Option<Vec<AsRow>>,
    pub destination: Option<Vec<AsRow>>,
    pub remote: Option<Vec<AsRow>>,
    pub pairs: Option<Vec<AsPairRow>>,
    pub ipv6: Option<Vec<AsIpv6Row>>,
}

fn as_ref(db: &AsDb, o: Origin) -> AsRef {
    AsRef {
        asn: o.asn(),
        label: o.label(),
        name: o.asn().and_then(|n| db.name(n)).map(str::to_string),
    }
}

/// IP and IPv6 sums of one stratum's addresses, by origin.
type ByOrigin = rustc_hash::FxHashMap<Origin, (Cell, Cell)>;

/// The address tables' sums by (stratum id, origin), per stratum of the
/// report: (sources, destinations).
fn per_stratum(
    st: &[Stratum],
    addrs: &AddrSummary,
    by_id: &[Option<usize>],
) -> Vec<(ByOrigin, ByOrigin)> {
    let mut per: Vec<(ByOrigin, ByOrigin)> = (0..st.len()).map(|_| Default::default()).collect();
    for side in [SRC, DST] {
        for (&(id, o), cells) in &addrs.by_origin[side] {
            if let Some(i) = by_id[id as usize] {
                let m = if side == SRC {
                    &mut per[i].0
                } else {
                    &mut per[i].1
                };
                m.insert(Origin::from_key(o), *cells);
            }
        }
    }
    per
}

/// The per-AS sections: every address's sums in each stratum, summed by
/// origin by the address tables (each address looked up once), so every AS
/// estimate has the same stratified estimator and interval as any other
/// breakdown; AS pairs come summed per row by the engine.
pub(super) fn as_sections(
    a: &Analysis,
    st: &[Stratum],
    pooled: &Pooled,
    top: usize,
    (addrs, by_id): (&AddrSummary, &[Option<usize>]),
    warnings: &mut Vec<String>,
) -> PerAs {
    let sec = a.query.sections;
    let Some(db) = a.query.asn.as_deref().filter(|_| sec.any_as()) else {
        return PerAs::default();
    };
    warnings.extend(db.warnings());
    // Per stratum: (sources, destinations) by origin.
    let per = per_stratum(st, addrs, by_id);
    let rows = |g: BTreeMap<Origin, GroupEst>| -> Vec<AsRow> {
        let mut v = by_packets(g);
        v.truncate(top);
        v.into_iter()
            .map(|(o, g)| AsRow {
                origin: as_ref(db, o),
                m: g.measures(pooled),
            })
            .collect()
    };
    fn sum<'a>(
        st: &[Stratum],
        side: impl Fn(usize) -> Option<&'a ByOrigin>,
    ) -> BTreeMap<Origin, GroupEst> {
        let mut g: BTreeMap<Origin, GroupEst> = BTreeMap::new();
        for (i, s) in st.iter().enumerate() {
            for (o, (all, _)) in side(i).into_iter().flatten() {
                g.entry(*o).or_default().add(s, all);
            }
        }
        g
    }
    // The remote side of a stratum: sources of ingress, destinations of
    // egress; none without a direction.
    let remote = |i: usize| -> Option<&ByOrigin> {
        match st[i].key.direction {
            Direction::Ingress => Some(&per[i].0),
            Direction::Egress => Some(&per[i].1),
            _ => None,
        }
    };
    if sec.remote_as || sec.as_ipv6 {
        let undirected: u64 = st
            .iter()
            .enumerate()
            .filter(|(i, _)| remote(*i).is_none())
            .map(|(_, s)| s.agg.ip_version[1].n + s.agg.ip_version[2].n)
            .sum();
        if undirected > 0 {
            warnings.push(format!(
                "{undirected} IP samples have no direction (ingress/egress): they are left out of the remote-AS sections"
            ));
        }
    }
    let mut out = PerAs {
        databases: Some(
            db.files()
                .iter()
                .map(|f| AsnDatabase {
                    path: f.path.display().to_string(),
                    format: f.format.as_str(),
                    ipv4_prefixes: f.v4_prefixes,
                    ipv6_prefixes: f.v6_prefixes,
                    names: f.names,
                })
                .collect(),
        ),
        ..Default::default()
    };
    out.source = sec.src_as.then(|| rows(sum(st, |i| Some(&per[i].0))));
    out.destination = sec.dst_as.then(|| rows(sum(st, |i| Some(&per[i].1))));
    out.remote = sec.remote_as.then(|| rows(sum(st, remote)));
    out.pairs = sec.as_pairs.then(|| {
        let g = groups(st, |g| {
            g.as_pairs
                .iter()
                .map(|((x, y), c)| ((Origin::from_key(*x), Origin::from_key(*y)), *c))
                .collect()
        });
        let mut v = by_packets(g);
        v.truncate(top);
        v.into_iter()
            .map(|((x, y), g)| AsPairRow {
                source: as_ref(db, x),
                destination: as_ref(db, y),
                m: g.measures(pooled),
            })
            .collect()
    });
    out.ipv6 = sec.as_ipv6.then(|| {
        // Per remote AS and stratum: (design, IP sums, IPv6 sums).
        let mut parts: BTreeMap<Origin, Vec<(&Stratum, Cell, Cell)>> = BTreeMap::new();
        for (i, s) in st.iter().enumerate() {
            for (o, (all, v6)) in remote(i).into_iter().flatten() {
                parts.entry(*o).or_default().push((s, *all, *v6));
            }
        }
        let mut v: Vec<AsIpv6Row> = parts
            .into_iter()
            .filter(|(_, parts)| parts.iter().any(|p| p.2.n > 0))
            .map(|(o, parts)| {
                let mut g = GroupEst::default();
                for (s, _, v6) in &parts {
                    g.add(s, v6);
                }
                let share = |by_bytes: bool| {
                    let p: Vec<(Design, ShareSums)> = parts
                        .iter()
                        .map(|(s, all, v6)| (s.design, share_sums(all, v6, by_bytes)))
                        .collect();
                    stats::share(&p)
                };
                AsIpv6Row {
                    origin: as_ref(db, o),
                    m: g.measures(pooled),
                    share_packets: share(false),
                    share_bytes: share(true),
                }
            })
            .collect();
        v.sort_by(|x, y| {
            y.m.packets
                .estimate
                .total_cmp(&x.m.packets.estimate)
                .then_with(|| x.origin.label.cmp(&y.origin.label))
        });
        v.truncate(top);
        v
    });
    out
}
