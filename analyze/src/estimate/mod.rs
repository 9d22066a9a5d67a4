//! From aggregated sums to the report: scaled estimates with 95 % intervals
//! for every number (see [`crate::stats`] for the estimators).

use std::collections::BTreeMap;
use std::hash::Hash;

use pktsample_schemas::meta::format_rfc3339_ns;

mod calibration;
mod encap;
mod group;
mod interfaces;
mod per_as;
mod summary;
mod time;

use crate::engine::{AddrSummary, Analysis, DST, Finish, SIZE_CLASSES, SRC, Sections, StratumAgg};
use crate::error::AnalyzeError;
use crate::names::{eth_type_name, ip_proto_name, service_name, transport_name};
use crate::report::*;
use crate::stats::{self, Cell, Design, Interval, ShareSums};

use self::group::{GroupEst, Stratum, strata};
use self::interfaces::interface_rows;
use self::per_as::as_sections;
use self::summary::summary;

/// Sum groups of a per-stratum table over strata.
fn groups<K: Hash + Eq + Ord + Clone>(
    st: &[Stratum],
    table: impl Fn(&StratumAgg) -> Vec<(K, Cell)>,
) -> BTreeMap<K, GroupEst> {
    let mut out: BTreeMap<K, GroupEst> = BTreeMap::new();
    for s in st {
        for (k, c) in table(s.agg) {
            out.entry(k).or_default().add(s, &c);
        }
    }
    out
}

/// Rows sorted by estimated packets (descending), then by key.
fn by_packets<K: Ord + Clone>(m: BTreeMap<K, GroupEst>) -> Vec<(K, GroupEst)> {
    let mut v: Vec<(K, GroupEst)> = m.into_iter().collect();
    v.sort_by(|a, b| {
        b.1.packets
            .value
            .total_cmp(&a.1.packets.value)
            .then_with(|| a.0.cmp(&b.0))
    });
    v
}

fn share_of(
    st: &[Stratum],
    x: impl Fn(&StratumAgg) -> Cell,
    y: impl Fn(&StratumAgg) -> Cell,
    by_bytes: bool,
) -> Interval {
    let parts: Vec<(Design, ShareSums)> = st
        .iter()
        .map(|s| (s.design, share_sums(&x(s.agg), &y(s.agg), by_bytes)))
        .collect();
    stats::share(&parts)
}

/// The sums of a share x/y in one stratum, by packets or by bytes.
fn share_sums(cx: &Cell, cy: &Cell, by_bytes: bool) -> ShareSums {
    if by_bytes {
        ShareSums {
            x: cx.bytes as f64,
            x2: cx.bytes2 as f64,
            y: cy.bytes as f64,
            y2: cy.bytes2 as f64,
            nx: cx.n,
        }
    } else {
        ShareSums {
            x: cx.n as f64,
            x2: cx.n as f64,
            y: cy.n as f64,
            y2: cy.n as f64,
            nx: cx.n,
        }
    }
}

/// The address tables reduced for the report's strata: `by_id` maps a
/// stratum id to its index in `st` (None: not in the report).
fn address_summary(
    a: &Analysis,
    st: &[Stratum],
    top: usize,
) -> Result<(AddrSummary, Vec<Option<usize>>), AnalyzeError> {
    let sec = a.query.sections;
    let index: rustc_hash::FxHashMap<_, usize> =
        st.iter().enumerate().map(|(i, s)| (s.key, i)).collect();
    let by_id: Vec<Option<usize>> = a
        .stratum_keys
        .iter()
        .map(|k| index.get(k).copied())
        .collect();
    if !sec.addresses() {
        return Ok((AddrSummary::default(), by_id));
    }
    let weight: Vec<Option<f64>> = by_id
        .iter()
        .map(|i| i.map(|i| stats::stratum_total(&st[i].design, 1, 1.0, 1.0, 0.0).value))
        .collect();
    let f = Finish {
        weight: &weight,
        place: &by_id,
        top: if sec.top_sources || sec.top_destinations {
            top
        } else {
            0
        },
        origins: a.query.asn.as_deref().filter(|_| sec.any_as()),
    };
    Ok((a.addrs.summarize(&f)?, by_id))
}

/// Build the report.
pub fn report(a: &Analysis, top: usize) -> Result<Report, AnalyzeError> {
    let q = &a.query;
    let sec: Sections = q.sections;
    let (st, pooled) = strata(a);
    let mut warnings = Vec::new();
    let (addrs, by_id) = address_summary(a, &st, top)?;

    let (summary, start, end) = summary(a, &st, &pooled, &mut warnings);

    let ip = |a: &StratumAgg| {
        let mut c = a.ip_version[1];
        c.merge(&a.ip_version[2]);
        c
    };
    let v6 = |a: &StratumAgg| a.ip_version[2];
    let ipv6_share = Ipv6Share {
        packets: share_of(&st, ip, v6, false),
        bytes: share_of(&st, ip, v6, true),
    };

    let ip_versions = sec.ip_versions.then(|| {
        let g = groups(&st, |a| {
            vec![
                ("4".to_string(), a.ip_version[1]),
                ("6".to_string(), a.ip_version[2]),
                ("non-ip".to_string(), a.ip_version[0]),
            ]
        });
        by_packets(g)
            .into_iter()
            .map(|(k, g)| VersionRow {
                ip_version: k,
                m: g.measures(&pooled),
            })
            .collect()
    });
    let distinct_addresses = sec.ip_versions.then(|| Distinct {
        ipv4: addrs.distinct[0],
        ipv6: addrs.distinct[1],
        lower_bound: true,
    });

    let (eth_types, ip_protocols, services) = if sec.protocols {
        let e = by_packets(groups(&st, |a| {
            a.protocols
                .as_ref()
                .map(|p| p.eth_types())
                .unwrap_or_default()
        }))
        .into_iter()
        .map(|(k, g)| EthTypeRow {
            eth_type: k,
            name: eth_type_name(k),
            m: g.measures(&pooled),
        })
        .collect();
        let p = by_packets(groups(&st, |a| {
            a.protocols
                .as_ref()
                .map(|p| p.ip_protos())
                .unwrap_or_default()
        }))
        .into_iter()
        .map(|(k, g)| ProtoRow {
            ip_proto: k,
            name: ip_proto_name(k),
            m: g.measures(&pooled),
        })
        .collect();
        let sv = by_packets(groups(&st, |a| {
            a.protocols
                .as_ref()
                .map(|p| p.services())
                .unwrap_or_default()
        }))
        .into_iter()
        .map(|((proto, port), g)| ServiceRow {
            transport: transport_name(proto),
            port,
            name: port.and_then(service_name),
            m: g.measures(&pooled),
        })
        .collect();
        (Some(e), Some(p), Some(sv))
    } else {
        (None, None, None)
    };

    let interfaces = sec.interfaces.then(|| interface_rows(a, &st, &pooled));

    // Ranked by the tables (by the packets' point estimate); the full
    // estimate, with its interval, only for the rows kept.
    let top_rows = |side: usize| -> Vec<AddressRow> {
        addrs.top[side]
            .iter()
            .map(|(ip, cells)| {
                let mut g = GroupEst::default();
                for (id, c) in cells {
                    if let Some(i) = by_id[*id as usize] {
                        g.add(&st[i], c);
                    }
                }
                AddressRow {
                    address: ip.to_string(),
                    m: g.measures(&pooled),
                }
            })
            .collect()
    };
    let top_sources = sec.top_sources.then(|| top_rows(SRC));
    let top_destinations = sec.top_destinations.then(|| top_rows(DST));

    let time_series = sec
        .time_series
        .then(|| time::series(a, &st, &pooled, (start, end), &mut warnings));

    let packet_sizes = sec.packet_sizes.then(|| {
        // Every class, sampled or not; a class bounds its frames.
        SIZE_CLASSES
            .iter()
            .enumerate()
            .map(|(i, &(lo, hi))| {
                let mut g = GroupEst::default();
                for s in &st {
                    g.add_capped(s, &s.agg.size[i], hi);
                }
                SizeRow {
                    min: lo,
                    max: (hi != u32::MAX).then_some(hi),
                    m: g.measures(&pooled),
                }
            })
            .collect()
    });

    let encapsulations = sec
        .encapsulations
        .then(|| encap::encapsulations(&st, &pooled, q.inner, &mut warnings));

    let per_as = as_sections(a, &st, &pooled, top, (&addrs, &by_id), &mut warnings);
    let calibration = calibration::calibration(a)?;
    if let Some(rows) = &calibration {
        let off = rows
            .iter()
            .filter(|r| !r.packets_within || !r.bytes_within)
            .count();
        if off > 0 {
            warnings.push(format!(
                "sFlow calibration: {off} of {} interface counters fall outside the sampled estimate's 95% interval (see the calibration section): the sampling may be biased or losing samples",
                rows.len()
            ));
        }
    }

    Ok(Report {
        report_version: REPORT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION"),
        inputs: a
            .inputs
            .iter()
            .map(|i| i.path.display().to_string())
            .collect(),
        filters: Filters {
            from: q.from.map(format_rfc3339_ns),
            to: q.to.map(format_rfc3339_ns),
            interfaces: q.interfaces.clone(),
            hosts: q.hosts.clone(),
            inner: q.inner,
            directions: q
                .directions
                .iter()
                .map(|d| d.as_str().to_string())
                .collect(),
        },
        summary,
        ipv6_share,
        ip_versions,
        distinct_addresses,
        eth_types,
        ip_protocols,
        services,
        interfaces,
        top_sources,
        top_destinations,
        time_series,
        packet_sizes,
        encapsulations,
        asn_databases: per_as.databases,
        source_as: per_as.source,
        destination_as: per_as.destination,
        remote_as: per_as.remote,
        as_pairs: per_as.pairs,
        as_ipv6: per_as.ipv6,
        calibration,
        warnings,
    })
}
