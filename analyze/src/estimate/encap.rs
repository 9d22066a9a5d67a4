//! The encapsulations section: packets and bytes per shim and tunnel kind,
//! with intervals. A packet counts once in each kind its stack names (a
//! QinQ frame once under `vlan`), so the rows overlap; `none` holds the
//! packets without any, and `tunnel` every packet behind at least one
//! tunnel, whose share decides the warning that `--inner` answers.

use std::collections::BTreeMap;

use pktsample_schemas::decode::encap::{Layer, kinds};

use crate::engine::StratumAgg;
use crate::report::EncapRow;
use crate::stats::Cell;

use super::group::Stratum;
use super::{by_packets, groups};

/// Share of the packets behind a tunnel above which analyze warns that
/// the outer headers describe the tunnels, not the traffic.
pub const TUNNEL_WARN_SHARE: f64 = 0.10;

/// What a row is.
fn describe(kind: &str) -> &'static str {
    match kind {
        "none" => "no shim or tunnel",
        "tunnel" => "behind any tunnel",
        _ => match Layer::from_name(kind) {
            Some(Layer::Vlan) => "802.1Q/802.1ad VLAN tag",
            Some(Layer::Mpls) => "MPLS label stack",
            Some(Layer::Pw) => "MPLS pseudowire control word",
            Some(Layer::Eth) => "Ethernet inside a tunnel or pseudowire",
            Some(Layer::Pppoe) => "PPPoE session",
            Some(Layer::Gre) => "GRE",
            Some(Layer::Nvgre) => "NVGRE",
            Some(Layer::Erspan2) => "ERSPAN type II",
            Some(Layer::Erspan3) => "ERSPAN type III",
            Some(Layer::Vxlan) => "VXLAN",
            Some(Layer::Geneve) => "Geneve",
            Some(Layer::Ipip) => "IP in IP (4in4, 6in4, 4in6, 6in6)",
            Some(Layer::Gtpu) => "GTP-U",
            Some(Layer::L2tp) => "L2TPv2",
            Some(Layer::Teredo) => "Teredo",
            Some(Layer::Cut) => "cut short by the snap length inside a shim or tunnel",
            None => "unknown to this version",
        },
    }
}

/// One stratum's sums per kind: every stack's cell merged into each kind
/// it names (once per stack), `none` and `tunnel`.
fn per_kind(a: &StratumAgg) -> Vec<(String, Cell)> {
    let mut m: BTreeMap<String, Cell> = BTreeMap::new();
    for (stack, c) in &a.encap {
        if stack.is_empty() {
            m.entry("none".into()).or_default().merge(c);
            continue;
        }
        let ks = kinds(stack);
        for k in &ks {
            m.entry(k.name().into()).or_default().merge(c);
        }
        if ks.iter().any(|k| k.is_tunnel()) {
            m.entry("tunnel".into()).or_default().merge(c);
        }
        // A token of a newer writer: counted under its own name, not lost.
        if let Some(t) = stack.split('/').find(|t| Layer::from_name(t).is_none()) {
            m.entry(t.into()).or_default().merge(c);
        }
    }
    m.into_iter().collect()
}

/// The section's rows (by packets), and a warning when much of the
/// traffic is tunnelled and the report describes the outer headers.
fn encap_rows(st: &[Stratum], inner: bool, warnings: &mut Vec<String>) -> Vec<EncapRow> {
    let rows: Vec<EncapRow> = by_packets(groups(st, per_kind))
        .into_iter()
        .map(|(k, g)| EncapRow {
            name: describe(&k),
            encapsulation: k,
            m: g.measures(),
        })
        .collect();
    let est = |k: &str| {
        rows.iter()
            .find(|r| r.encapsulation == k)
            .map(|r| r.m.packets.estimate)
    };
    let all: f64 = groups(st, |a| {
        let mut c = Cell::default();
        for v in a.encap.values() {
            c.merge(v);
        }
        vec![((), c)]
    })
    .values()
    .map(|g| g.measures().packets.estimate)
    .sum();
    if let (false, Some(t)) = (inner, est("tunnel"))
        && all > 0.0
        && t / all > TUNNEL_WARN_SHARE
    {
        warnings.push(format!(
            "{:.0}% of the packets are tunnelled ({t:.0} estimated): addresses, protocols, top talkers and the IPv6 share describe the outer (tunnel) headers; --inner computes them on the traffic inside",
            100.0 * t / all,
        ));
    }
    rows
}

pub fn encapsulations(c: &mut super::Ctx) {
    let rows = encap_rows(&c.st, c.a.query.inner, &mut c.r.warnings);
    c.r.encapsulations = Some(rows);
}
