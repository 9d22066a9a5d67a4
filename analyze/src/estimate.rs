//! From aggregated sums to the report: scaled estimates with 95 % intervals
//! for every number (see [`crate::stats`] for the estimators).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::net::IpAddr;

use pktsample_schemas::Direction;
use pktsample_schemas::meta::format_rfc3339_ns;

use pktsample_asn::{AsDb, Origin};

use crate::engine::{AddrMap, Analysis, SIZE_CLASSES, Sections, StratumAgg, StratumKey};
use crate::names::{eth_type_name, ip_proto_name, service_name, transport_name};
use crate::report::*;
use crate::stats::{self, Cell, Design, Est, Interval, ShareSums, byte_interval, packet_interval};

/// Packets and bytes of one group, summed over strata.
#[derive(Clone, Copy, Debug, Default)]
struct GroupEst {
    samples: u64,
    packets: Est,
    bytes: Est,
}

impl GroupEst {
    fn add(&mut self, d: &Design, c: &Cell) {
        self.samples += c.n;
        self.packets.add(&stats::packets(d, c));
        self.bytes.add(&stats::bytes(d, c));
    }

    fn measures(&self) -> Measures {
        Measures {
            samples: self.samples,
            packets: packet_interval(&self.packets),
            bytes: byte_interval(&self.bytes, &self.packets),
        }
    }
}

struct Stratum<'a> {
    key: &'a StratumKey,
    agg: &'a StratumAgg,
    design: Design,
    host: &'a str,
    ifname: String,
    seen: Option<u64>,
    drops: u64,
}

fn strata(a: &Analysis) -> Vec<Stratum<'_>> {
    let mut v: Vec<Stratum> = a
        .agg
        .strata
        .iter()
        .map(|(k, agg)| {
            let meta = &a.inputs[k.file as usize].meta;
            let im = meta.interface(k.ifindex, k.rate);
            let st = im.and_then(|i| i.directions.get(&k.direction)).copied();
            let pool = st
                .map(|s| s.packets_seen)
                .filter(|&m| m > 0 && m >= agg.rows);
            Stratum {
                key: k,
                agg,
                design: Design {
                    n: agg.rows,
                    pool,
                    rate: k.rate,
                },
                host: &meta.host,
                ifname: im.map_or_else(|| format!("if{}", k.ifindex), |i| i.name.clone()),
                seen: pool,
                drops: st.map_or(0, |s| s.drops),
            }
        })
        .collect();
    v.sort_by(|a, b| a.key.cmp(b.key));
    v
}

/// Sum groups of a per-stratum table over strata.
fn groups<K: Hash + Eq + Ord + Clone>(
    st: &[Stratum],
    table: impl Fn(&StratumAgg) -> Vec<(K, Cell)>,
) -> BTreeMap<K, GroupEst> {
    let mut out: BTreeMap<K, GroupEst> = BTreeMap::new();
    for s in st {
        for (k, c) in table(s.agg) {
            out.entry(k).or_default().add(&s.design, &c);
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

/// A bucket's start in RFC 3339 with as many fractional digits as the
/// interval needs (it is a multiple of the interval, so this is exact).
fn bucket_time(ns: i64, interval: i64) -> String {
    use chrono::SecondsFormat::*;
    let f = if interval % 1_000_000_000 == 0 {
        Secs
    } else if interval % 1_000_000 == 0 {
        Millis
    } else if interval % 1000 == 0 {
        Micros
    } else {
        Nanos
    };
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(f, true)
}

fn per_second(i: &Interval, secs: f64) -> Interval {
    i.scale(1.0 / secs)
}

/// Per interface and direction: the estimate, its rates, its pool (when
/// known) and its drops.
type InterfaceAcc = (GroupEst, BTreeSet<u32>, Option<u64>, u64);

/// Build the report.
pub fn report(a: &Analysis, top: usize) -> Report {
    let q = &a.query;
    let sec: Sections = q.sections;
    let st = strata(a);
    let mut warnings = Vec::new();

    // Summary.
    let mut total = GroupEst::default();
    for s in &st {
        total.add(&s.design, &s.agg.total);
    }
    let first = st.iter().filter_map(|s| s.agg.first_ns).min();
    let last = st.iter().filter_map(|s| s.agg.last_ns).max();
    // The span the pool covers: the capture's, from the metadata, clipped by
    // the filter; else the samples' own.
    let (meta_start, meta_end) = crate::engine::capture_span(&a.inputs);
    let start = match (meta_start.or(first), q.from) {
        (Some(s), Some(f)) => Some(s.max(f)),
        (s, f) => s.or(f),
    };
    let end = match (meta_end.or(last), q.to) {
        (Some(e), Some(t)) => Some(e.min(t)),
        (e, t) => e.or(t),
    };
    let duration = match (start, end) {
        (Some(s), Some(e)) if e > s => (e - s) as f64 / 1e9,
        _ => 0.0,
    };
    let pk = packet_interval(&total.packets);
    let by = byte_interval(&total.bytes, &total.packets);
    let rates: BTreeSet<u32> = st.iter().map(|s| s.key.rate).collect();
    let all_pools = !st.is_empty() && st.iter().all(|s| s.seen.is_some());
    let seen: u64 = st.iter().filter_map(|s| s.seen).sum();
    let drops: u64 = st.iter().map(|s| s.drops).sum();
    let written: u64 = st.iter().map(|s| s.agg.rows).sum();
    let drop_share = if drops + written > 0 {
        drops as f64 / (drops + written) as f64
    } else {
        0.0
    };
    if drop_share > 0.01 {
        warnings.push(format!(
            "{drops} selected packets ({:.1}%) were dropped by the capture; estimates use the exact pool, so they stay unbiased if drops were random, but rest on fewer samples",
            100.0 * drop_share
        ));
    }
    if total.samples == 0 {
        warnings.push("no samples match the inputs and filters: the report is empty".into());
    }
    for i in &a.inputs {
        if let Some(why) = &i.meta.interrupted {
            warnings.push(format!("{}: {why}", i.path.display()));
        }
    }
    let mut skipped: BTreeMap<u32, u64> = BTreeMap::new();
    for i in &a.inputs {
        for (lt, n) in &i.meta.skipped_link_types {
            *skipped.entry(*lt).or_default() += n;
        }
    }
    if !skipped.is_empty() {
        let n: u64 = skipped.values().sum();
        let each: Vec<String> = skipped
            .iter()
            .map(|(lt, k)| format!("link type {lt}: {k}"))
            .collect();
        warnings.push(format!(
            "{n} packets of unsupported link types ({}) were in the captures but not sampled; the estimates cover the rest",
            each.join(", ")
        ));
    }
    if !all_pools && !st.is_empty() {
        warnings.push(
            "some inputs lack an exact packet pool; their estimates use Horvitz-Thompson scaling by the sampling rate".into(),
        );
    }
    let summary = Summary {
        start: start.map(format_rfc3339_ns),
        end: end.map(format_rfc3339_ns),
        duration_seconds: duration,
        samples: total.samples,
        packets: pk,
        bytes: by,
        pps: (duration > 0.0).then(|| per_second(&pk, duration)),
        bps: (duration > 0.0).then(|| per_second(&by, duration).scale(8.0)),
        sampling_rates: rates.into_iter().collect(),
        packets_seen: all_pools.then_some(seen),
        drops,
        drop_share,
        packets_exact: all_pools && q.from.is_none() && q.to.is_none() && pk.low == pk.high,
    };

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
            .into_iter()
            .filter(|(_, c)| c.n > 0)
            .collect()
        });
        by_packets(g)
            .into_iter()
            .map(|(k, g)| VersionRow {
                ip_version: k,
                m: g.measures(),
            })
            .collect()
    });
    let distinct_addresses = sec.ip_versions.then(|| {
        let mut set: BTreeSet<IpAddr> = BTreeSet::new();
        for s in &st {
            set.extend(s.agg.src.keys());
            set.extend(s.agg.dst.keys());
        }
        Distinct {
            ipv4: set.iter().filter(|a| a.is_ipv4()).count() as u64,
            ipv6: set.iter().filter(|a| a.is_ipv6()).count() as u64,
            lower_bound: true,
        }
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
            m: g.measures(),
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
            m: g.measures(),
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
            m: g.measures(),
        })
        .collect();
        (Some(e), Some(p), Some(sv))
    } else {
        (None, None, None)
    };

    let interfaces = sec.interfaces.then(|| {
        let mut m: BTreeMap<(String, String, Direction), InterfaceAcc> = BTreeMap::new();
        for s in &st {
            let e = m
                .entry((s.host.to_string(), s.ifname.clone(), s.key.direction))
                .or_insert_with(|| (GroupEst::default(), BTreeSet::new(), Some(0), 0));
            e.0.add(&s.design, &s.agg.total);
            e.1.insert(s.key.rate);
            e.2 = match (e.2, s.seen) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            e.3 += s.drops;
        }
        let multi_host = m.keys().map(|k| &k.0).collect::<BTreeSet<_>>().len() > 1;
        let mut rows: Vec<InterfaceRow> = m
            .into_iter()
            .map(
                |((host, ifname, d), (g, rates, seen, drops))| InterfaceRow {
                    host: if multi_host { host } else { String::new() },
                    ifname,
                    direction: d.as_str().to_string(),
                    sampling_rates: rates.into_iter().collect(),
                    packets_seen: seen,
                    drops,
                    m: g.measures(),
                },
            )
            .collect();
        rows.sort_by(|a, b| {
            b.m.packets
                .estimate
                .total_cmp(&a.m.packets.estimate)
                .then_with(|| {
                    (&a.host, &a.ifname, &a.direction).cmp(&(&b.host, &b.ifname, &b.direction))
                })
        });
        rows
    });

    let top_rows = |f: fn(&StratumAgg) -> &crate::engine::AddrMap| -> Vec<AddressRow> {
        // Rank by the point estimate; the interval travels with it.
        let mut m: HashMap<IpAddr, GroupEst> = HashMap::new();
        for s in &st {
            for (k, c) in f(s.agg) {
                m.entry(*k).or_default().add(&s.design, c);
            }
        }
        let mut v: Vec<(IpAddr, GroupEst)> = m.into_iter().collect();
        v.sort_by(|a, b| {
            b.1.packets
                .value
                .total_cmp(&a.1.packets.value)
                .then_with(|| a.0.cmp(&b.0))
        });
        v.truncate(top);
        v.into_iter()
            .map(|(k, g)| AddressRow {
                address: k.to_string(),
                m: g.measures(),
            })
            .collect()
    };
    let top_sources = sec.top_sources.then(|| top_rows(|a| &a.src));
    let top_destinations = sec.top_destinations.then(|| top_rows(|a| &a.dst));

    let time_series = sec.time_series.then(|| {
        let secs = a.interval_ns as f64 / 1e9;
        let g = groups(&st, |a| a.time.iter().map(|(k, c)| (*k, *c)).collect());
        TimeSeries {
            interval_seconds: secs,
            buckets: g
                .into_iter()
                .map(|(b, g)| {
                    let m = g.measures();
                    BucketRow {
                        start: bucket_time(b * a.interval_ns, a.interval_ns),
                        pps: per_second(&m.packets, secs),
                        bps: per_second(&m.bytes, secs).scale(8.0),
                        m,
                    }
                })
                .collect(),
        }
    });

    let packet_sizes = sec.packet_sizes.then(|| {
        let g = groups(&st, |a| {
            a.size
                .iter()
                .enumerate()
                .filter(|(_, c)| c.n > 0)
                .map(|(i, c)| (i, *c))
                .collect()
        });
        g.into_iter()
            .map(|(i, g)| {
                let (lo, hi) = SIZE_CLASSES[i];
                SizeRow {
                    min: lo,
                    max: (hi != u32::MAX).then_some(hi),
                    m: g.measures(),
                }
            })
            .collect()
    });

    let per_as = as_sections(a, &st, top, &mut warnings);

    Report {
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
        asn_databases: per_as.databases,
        source_as: per_as.source,
        destination_as: per_as.destination,
        remote_as: per_as.remote,
        as_pairs: per_as.pairs,
        as_ipv6: per_as.ipv6,
        warnings,
    }
}

#[derive(Default)]
struct PerAs {
    databases: Option<Vec<AsnDatabase>>,
    source: Option<Vec<AsRow>>,
    destination: Option<Vec<AsRow>>,
    remote: Option<Vec<AsRow>>,
    pairs: Option<Vec<AsPairRow>>,
    ipv6: Option<Vec<AsIpv6Row>>,
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

fn by_origin(db: &AsDb, m: &AddrMap) -> ByOrigin {
    let mut h = ByOrigin::default();
    for (ip, c) in m {
        let e = h.entry(db.lookup(*ip)).or_default();
        e.0.merge(c);
        if ip.is_ipv6() {
            e.1.merge(c);
        }
    }
    h
}

/// The per-AS sections: per-address sums of each stratum summed by origin
/// (each address looked up once per stratum, strata in parallel), so every
/// AS estimate has the same stratified estimator and interval as any other
/// breakdown; AS pairs come summed per row by the engine.
fn as_sections(a: &Analysis, st: &[Stratum], top: usize, warnings: &mut Vec<String>) -> PerAs {
    use rayon::prelude::*;
    let sec = a.query.sections;
    let Some(db) = a.query.asn.as_deref().filter(|_| sec.any_as()) else {
        return PerAs::default();
    };
    warnings.extend(db.warnings());
    // Per stratum: (sources, destinations) by origin.
    let per: Vec<(ByOrigin, ByOrigin)> = st
        .par_iter()
        .map(|s| (by_origin(db, &s.agg.src), by_origin(db, &s.agg.dst)))
        .collect();
    let rows = |g: BTreeMap<Origin, GroupEst>| -> Vec<AsRow> {
        let mut v = by_packets(g);
        v.truncate(top);
        v.into_iter()
            .map(|(o, g)| AsRow {
                origin: as_ref(db, o),
                m: g.measures(),
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
                g.entry(*o).or_default().add(&s.design, all);
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
                m: g.measures(),
            })
            .collect()
    });
    out.ipv6 = sec.as_ipv6.then(|| {
        // Per remote AS and stratum: (design, IP sums, IPv6 sums).
        let mut parts: BTreeMap<Origin, Vec<(Design, Cell, Cell)>> = BTreeMap::new();
        for (i, s) in st.iter().enumerate() {
            for (o, (all, v6)) in remote(i).into_iter().flatten() {
                parts.entry(*o).or_default().push((s.design, *all, *v6));
            }
        }
        let mut v: Vec<AsIpv6Row> = parts
            .into_iter()
            .filter(|(_, parts)| parts.iter().any(|p| p.2.n > 0))
            .map(|(o, parts)| {
                let mut g = GroupEst::default();
                for (d, _, v6) in &parts {
                    g.add(d, v6);
                }
                let share = |by_bytes: bool| {
                    let p: Vec<(Design, ShareSums)> = parts
                        .iter()
                        .map(|(d, all, v6)| (*d, share_sums(all, v6, by_bytes)))
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
        v.truncate(top);
        v
    });
    out
}
