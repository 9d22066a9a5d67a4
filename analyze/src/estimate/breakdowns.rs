//! The breakdowns: IP versions (and the distinct addresses seen), the
//! protocol sections, top talkers and packet sizes, each one function
//! filling its members of the report (`sql/breakdowns.rs` is their SQL).

use crate::engine::{DST, SIZE_CLASSES, SRC, StratumAgg};
use crate::names::{eth_type_name, ip_proto_name, service_name, transport_name};
use crate::report::*;

use super::group::GroupEst;
use super::{Ctx, by_packets, groups};

pub fn ip_versions(c: &mut Ctx) {
    let g = groups(&c.st, |a| {
        vec![
            ("4".to_string(), a.ip_version[1]),
            ("6".to_string(), a.ip_version[2]),
            ("non-ip".to_string(), a.ip_version[0]),
        ]
    });
    c.r.ip_versions = Some(
        by_packets(g)
            .into_iter()
            .map(|(k, g)| VersionRow {
                ip_version: k,
                m: g.measures(),
            })
            .collect(),
    );
    c.r.distinct_addresses = Some(Distinct {
        ipv4: c.addrs.distinct[0],
        ipv6: c.addrs.distinct[1],
        lower_bound: true,
    });
    // Never from rollups: they hold no addresses (the section reads the
    // samples).
    let rows = crate::engine::HOSTS
        .iter()
        .enumerate()
        .flat_map(|(h, &hosts)| {
            let fq = &c.addrs.freq[h];
            [(4, fq[0]), (6, fq[1])].map(|(v, f)| HostsRow {
                hosts,
                ip_version: v,
                c: c.hosts(&f),
            })
        })
        .collect();
    c.r.distinct_hosts = Some(rows);
}

/// EtherTypes, IP protocols and services.
pub fn protocols(c: &mut Ctx) {
    let st = &c.st;
    fn table(a: &StratumAgg) -> Option<&crate::engine::ProtoSums> {
        a.protocols.as_ref()
    }
    let e = by_packets(groups(st, |a| {
        table(a).map(|p| p.eth_types()).unwrap_or_default()
    }));
    c.r.eth_types = Some(
        e.into_iter()
            .map(|(k, g)| EthTypeRow {
                eth_type: k,
                name: eth_type_name(k),
                m: g.measures(),
            })
            .collect(),
    );
    let p = by_packets(groups(st, |a| {
        table(a).map(|p| p.ip_protos()).unwrap_or_default()
    }));
    c.r.ip_protocols = Some(
        p.into_iter()
            .map(|(k, g)| ProtoRow {
                ip_proto: k,
                name: ip_proto_name(k),
                m: g.measures(),
            })
            .collect(),
    );
    let sv = by_packets(groups(st, |a| {
        table(a).map(|p| p.services()).unwrap_or_default()
    }));
    c.r.services = Some(
        sv.into_iter()
            .map(|((proto, port), g)| ServiceRow {
                transport: transport_name(proto),
                port,
                name: port.and_then(service_name),
                m: g.measures(),
            })
            .collect(),
    );
}

/// Ranked by the tables (by the packets' point estimate); the full
/// estimate, with its interval, only for the rows kept.
fn top_rows(c: &Ctx, side: usize) -> Vec<AddressRow> {
    c.addrs.top[side]
        .iter()
        .map(|(ip, cells)| {
            let mut g = GroupEst::default();
            for (id, cell) in cells {
                if let Some(i) = c.by_id[*id as usize] {
                    g.add(&c.st[i], cell);
                }
            }
            AddressRow {
                address: ip.to_string(),
                m: g.measures(),
            }
        })
        .collect()
}

pub fn top_sources(c: &mut Ctx) {
    c.r.top_sources = Some(top_rows(c, SRC));
}

pub fn top_destinations(c: &mut Ctx) {
    c.r.top_destinations = Some(top_rows(c, DST));
}

/// Every class, sampled or not; a class bounds its frames.
pub fn packet_sizes(c: &mut Ctx) {
    let rows = SIZE_CLASSES
        .iter()
        .enumerate()
        .map(|(i, &(lo, hi))| {
            let mut g = GroupEst::default();
            for s in &c.st {
                g.add_capped(s, &s.agg.size[i], hi);
            }
            SizeRow {
                min: lo,
                max: (hi != u32::MAX).then_some(hi),
                m: g.measures(),
            }
        })
        .collect();
    c.r.packet_sizes = Some(rows);
}
