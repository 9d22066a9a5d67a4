//! The conversation sections: the top address pairs and 5-tuple flows
//! (ranked by the flow table on their point estimate, the full estimate
//! and interval only for the rows kept), and the TCP connections opened:
//! SYN-without-ACK samples as a group of each stratum, so each count has
//! the stratified estimator and interval of any other group (`sql/` has
//! them in SQL too).

use pktsample_asn::Origin;
use pktsample_schemas::Direction;

use crate::engine::{PerStratum, pair_ips};
use crate::names::{ip_proto_name, service_name};
use crate::report::*;

use super::group::GroupEst;
use super::per_as::as_ref;
use super::{Ctx, by_packets, groups};

/// Rows resting on fewer samples are marked low-confidence.
pub const LOW_CONFIDENCE: u64 = 10;

/// A kept row's estimate from its sums per stratum.
fn measures(c: &Ctx, cells: &PerStratum) -> Measures {
    let mut g = GroupEst::default();
    for (id, cell) in cells {
        if let Some(i) = c.by_id[*id as usize] {
            g.add(&c.st[i], cell);
        }
    }
    g.measures()
}

/// The confident rows first, each part in the ranking's order.
fn confident_first<T>(mut v: Vec<T>, low: impl Fn(&T) -> bool) -> Vec<T> {
    v.sort_by_key(|r| low(r));
    v
}

pub fn top_pairs(c: &mut Ctx) {
    let rows = c
        .flows
        .pairs
        .iter()
        .map(|(k, cells)| {
            let (s, d) = pair_ips(k);
            let m = measures(c, cells);
            PairRow {
                source: s.to_string(),
                destination: d.to_string(),
                low_confidence: m.samples < LOW_CONFIDENCE,
                m,
            }
        })
        .collect();
    c.r.top_pairs = Some(confident_first(rows, |r: &PairRow| r.low_confidence));
}

pub fn top_flows(c: &mut Ctx) {
    let rows = c
        .flows
        .flows
        .iter()
        .map(|(k, cells)| {
            let m = measures(c, cells);
            let ports = k.ports();
            FlowRow {
                ip_proto: k.proto(),
                name: k.proto().and_then(ip_proto_name),
                source: k.src_ip().to_string(),
                source_port: ports.map(|p| p.0),
                destination: k.dst_ip().to_string(),
                destination_port: ports.map(|p| p.1),
                low_confidence: m.samples < LOW_CONFIDENCE,
                m,
            }
        })
        .collect();
    c.r.top_flows = Some(confident_first(rows, |r: &FlowRow| r.low_confidence));
}

/// Connections opened per service (the SYN's destination port) and, with
/// an ASN database, per remote AS (the source AS of ingress SYNs, the
/// destination AS of egress ones).
pub fn connections(c: &mut Ctx) {
    let mut sv = by_packets(groups(&c.st, |a| {
        a.syn_services.iter().map(|(p, c)| (*p, *c)).collect()
    }));
    sv.truncate(c.top);
    c.r.connections = Some(
        sv.into_iter()
            .map(|(port, g)| ServiceRow {
                transport: "tcp",
                port: Some(port),
                name: service_name(port),
                m: g.measures(),
            })
            .collect(),
    );
    let unknown: u64 = c.st.iter().map(|s| s.agg.syn_unknown.n).sum();
    if unknown > 0 {
        c.r.warnings.push(format!(
            "{unknown} sampled TCP packets have no flags (cut before them, or inside a tunnel under --inner: the flags are the outer header's): the connections opened leave them out"
        ));
    }
    let Some(db) = c.a.query.asn.as_deref() else {
        return;
    };
    let undirected: u64 =
        c.st.iter()
            .filter(|s| !matches!(s.key.direction, Direction::Ingress | Direction::Egress))
            .flat_map(|s| s.agg.syn_services.values())
            .map(|c| c.n)
            .sum();
    if undirected > 0 {
        c.r.warnings.push(format!(
            "{undirected} SYN samples have no direction (ingress/egress): they are left out of the connections by remote AS"
        ));
    }
    let mut by = by_packets(groups(&c.st, |a| {
        a.syn_remote
            .iter()
            .map(|(o, c)| (Origin::from_key(*o), *c))
            .collect()
    }));
    by.truncate(c.top);
    c.r.connections_by_remote_as = Some(
        by.into_iter()
            .map(|(o, g)| AsRow {
                origin: as_ref(db, o),
                m: g.measures(),
                hosts: None,
            })
            .collect(),
    );
}
