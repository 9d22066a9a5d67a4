//! The denied section: what `--k8s-policy` would cut, with the stratified
//! estimator and intervals of every breakdown, per second over the
//! report's duration ("enforce this and you cut ≈ X pkt/s [a–b] between
//! frontend and payments"), per (client, server) pair, and per pair,
//! service and the rule that would have allowed similar traffic.

use std::collections::BTreeMap;

use crate::engine::policy::{NO_RULE, service_parts};
use crate::report::{DeniedRow, DeniedTotal, Measures};
use crate::stats::{Cell, Interval};

use super::group::GroupEst;
use super::time::per_second;
use super::{Ctx, by_packets, share_of};

fn service_text(s: u32) -> String {
    let (proto, port) = service_parts(s);
    let name = match proto {
        6 => "TCP".to_string(),
        17 => "UDP".to_string(),
        132 => "SCTP".to_string(),
        1 => "ICMP".to_string(),
        58 => "ICMPv6".to_string(),
        p => format!("IP protocol {p}"),
    };
    match port {
        Ok(p) => format!("{name}/{p}"),
        Err(true) => name,
        Err(false) => format!("{name}/other"),
    }
}

fn rate(c: &Ctx, m: &Measures) -> Option<Interval> {
    let d = c.r.summary.duration_seconds;
    (d > 0.0).then(|| per_second(&m.packets, d))
}

fn total(c: &Ctx) -> DeniedTotal {
    let mut g = GroupEst::default();
    let mut u = GroupEst::default();
    for s in &c.st {
        let mut all = Cell::default();
        for x in s.agg.denied.values() {
            all.merge(x);
        }
        g.add(s, &all);
        u.add(s, &s.agg.unjudged);
    }
    let m = g.measures();
    let denied = |a: &crate::engine::StratumAgg| {
        let mut all = Cell::default();
        a.denied.values().for_each(|x| all.merge(x));
        all
    };
    DeniedTotal {
        pps: rate(c, &m),
        m,
        share_packets: share_of(&c.st, |a| a.total, denied, false),
        share_bytes: share_of(&c.st, |a| a.total, denied, true),
        unjudged: u.measures(),
    }
}

pub fn denied(c: &mut Ctx) {
    let Some(p) = c.a.query.policy.clone() else {
        return;
    };
    super::k8s::prepare(c);
    c.r.policies = Some(p.describe());
    // A pair's cells of a stratum merged first (its services and rules).
    let pairs = super::k8s::sums(
        &c.st,
        |s| {
            let d = s.agg.denied.iter();
            d.map(|((a, b, _, _), x)| (&**a, &**b, x)).collect()
        },
        |_, client, server| Some((client.to_string(), server.to_string())),
    );
    let mut detail: BTreeMap<(String, String, u32, u32), GroupEst> = BTreeMap::new();
    for s in &c.st {
        for ((client, server, service, rule), x) in &s.agg.denied {
            let k = (client.to_string(), server.to_string(), *service, *rule);
            detail.entry(k).or_default().add(s, x);
        }
    }
    let t = total(c);
    if t.unjudged.samples > 0 {
        c.r.warnings.push(format!(
            "denied: {} samples to or from a service's virtual IP were not judged (policies apply to the pods behind it, which the samples do not show): sample on the pods' interfaces, after the service NAT, to judge them",
            t.unjudged.samples
        ));
    }
    c.r.denied_total = Some(t);
    let mut v = by_packets(pairs);
    v.truncate(c.top);
    let rows: Vec<DeniedRow> = v
        .into_iter()
        .map(|((client, server), g)| {
            let m = g.measures();
            DeniedRow {
                client,
                server,
                service: None,
                rule: None,
                pps: rate(c, &m),
                m,
            }
        })
        .collect();
    c.r.denied_pairs = Some(rows);
    let mut v = by_packets(detail);
    v.truncate(c.top);
    let rows: Vec<DeniedRow> = v
        .into_iter()
        .map(|((client, server, service, rule), g)| {
            let m = g.measures();
            DeniedRow {
                client,
                server,
                service: Some(service_text(service)),
                rule: Some((rule != NO_RULE).then(|| p.rule(rule).to_string())),
                pps: rate(c, &m),
                m,
            }
        })
        .collect();
    c.r.denied = Some(rows);
}
