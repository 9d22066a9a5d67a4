//! The per-AS sections: addresses summed by origin AS, with the same
//! stratified estimators and intervals as every other breakdown.

use std::collections::BTreeMap;

use pktsample_asn::{AsDb, Origin};
use pktsample_schemas::Direction;

use crate::engine::{AddrSummary, DST, SRC};
use crate::report::*;
use crate::section::Section;
use crate::stats::{self, Cell, Design, ShareSums};

use super::group::{GroupEst, Stratum};
use super::{Ctx, by_packets, groups, share_sums};

pub(super) fn as_ref(db: &AsDb, o: Origin) -> AsRef {
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

/// Per stratum of the report: its (sources, destinations) by origin.
pub(super) type BySide = Vec<(ByOrigin, ByOrigin)>;

/// The database, with the sums by origin made (and the database's
/// warnings and files reported) by the first per-AS section; None without
/// a database.
fn prepare<'a>(c: &mut Ctx<'a>) -> Option<&'a AsDb> {
    let db = c.a.query.asn.as_deref()?;
    if c.per_as.is_some() {
        return Some(db);
    }
    c.r.warnings.extend(db.warnings());
    c.r.asn_databases = Some(
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
    );
    let per = per_stratum(&c.st, &c.addrs, &c.by_id);
    let sec = c.a.query.sections;
    if sec.has(Section::RemoteAs) || sec.has(Section::AsIpv6) {
        let undirected: u64 =
            c.st.iter()
                .enumerate()
                .filter(|(i, _)| remote(&c.st, &per, *i).is_none())
                .map(|(_, s)| s.agg.ip_version[1].n + s.agg.ip_version[2].n)
                .sum();
        if undirected > 0 {
            c.r.warnings.push(format!(
                "{undirected} IP samples have no direction (ingress/egress): they are left out of the remote-AS sections"
            ));
        }
    }
    c.per_as = Some(per);
    Some(db)
}

/// The remote side of a stratum: sources of ingress, destinations of
/// egress; none without a direction.
fn remote<'p>(st: &[Stratum], per: &'p BySide, i: usize) -> Option<&'p ByOrigin> {
    match st[i].key.direction {
        Direction::Ingress => Some(&per[i].0),
        Direction::Egress => Some(&per[i].1),
        _ => None,
    }
}

/// One side's sums by origin, over the strata.
fn sum<'p>(
    st: &[Stratum],
    side: impl Fn(usize) -> Option<&'p ByOrigin>,
) -> BTreeMap<Origin, GroupEst> {
    let mut g: BTreeMap<Origin, GroupEst> = BTreeMap::new();
    for (i, s) in st.iter().enumerate() {
        for (o, (all, _)) in side(i).into_iter().flatten() {
            g.entry(*o).or_default().add(s, all);
        }
    }
    g
}

/// The top rows of an origin's sums, with the distinct hosts of side
/// `hosts` (of [`crate::engine::HOSTS`]) where the addresses were read.
fn as_rows(c: &Ctx, db: &AsDb, hosts: usize, g: BTreeMap<Origin, GroupEst>) -> Vec<AsRow> {
    let mut v = by_packets(g);
    v.truncate(c.top);
    let freq = (c.a.rolled_origins.is_none()).then_some(&c.addrs.freq_by_origin[hosts]);
    v.into_iter()
        .map(|(o, g)| AsRow {
            origin: as_ref(db, o),
            m: g.measures(),
            hosts: freq.map(|f| c.hosts(&f.get(&o.key()).copied().unwrap_or_default())),
        })
        .collect()
}

/// Every address's sums in each stratum, summed by origin by the address
/// tables (each address looked up once), so every AS estimate has the same
/// stratified estimator and interval as any other breakdown.
pub fn source_as(c: &mut Ctx) {
    let Some(db) = prepare(c) else { return };
    let per = c.per_as.as_ref().expect("prepared");
    let g = sum(&c.st, |i| Some(&per[i].0));
    c.r.source_as = Some(as_rows(c, db, SRC, g));
}

pub fn destination_as(c: &mut Ctx) {
    let Some(db) = prepare(c) else { return };
    let per = c.per_as.as_ref().expect("prepared");
    let g = sum(&c.st, |i| Some(&per[i].1));
    c.r.destination_as = Some(as_rows(c, db, DST, g));
}

pub fn remote_as(c: &mut Ctx) {
    let Some(db) = prepare(c) else { return };
    let per = c.per_as.as_ref().expect("prepared");
    let g = sum(&c.st, |i| remote(&c.st, per, i));
    c.r.remote_as = Some(as_rows(c, db, 2, g));
}

/// AS pairs come summed per row by the engine.
pub fn as_pairs(c: &mut Ctx) {
    let Some(db) = prepare(c) else { return };
    let g = groups(&c.st, |g| {
        g.as_pairs
            .iter()
            .map(|((x, y), c)| ((Origin::from_key(*x), Origin::from_key(*y)), *c))
            .collect()
    });
    let mut v = by_packets(g);
    v.truncate(c.top);
    let rows = v
        .into_iter()
        .map(|((x, y), g)| AsPairRow {
            source: as_ref(db, x),
            destination: as_ref(db, y),
            m: g.measures(),
        })
        .collect();
    c.r.as_pairs = Some(rows);
}

/// The IPv6 traffic of each remote AS, and its share of the AS's IP traffic.
pub fn as_ipv6(c: &mut Ctx) {
    let Some(db) = prepare(c) else { return };
    let (st, per) = (&c.st, c.per_as.as_ref().expect("prepared"));
    // Per remote AS and stratum: (design, IP sums, IPv6 sums).
    let mut parts: BTreeMap<Origin, Vec<(&Stratum, Cell, Cell)>> = BTreeMap::new();
    for (i, s) in st.iter().enumerate() {
        for (o, (all, v6)) in remote(st, per, i).into_iter().flatten() {
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
                m: g.measures(),
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
    v.truncate(c.top);
    c.r.as_ipv6 = Some(v);
}
