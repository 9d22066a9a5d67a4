//! From aggregated sums to the report: scaled estimates with 95 % intervals
//! for every number (see [`crate::stats`] for the estimators). [`Ctx`]
//! holds what every section reads; each section's estimator is one
//! function filling its members of the report, called by
//! [`crate::catalog`] for the sections asked for. The files mirror
//! `sql/`: `breakdowns`, `interfaces`, `per_as`, `summary` and `time` here
//! and there are the same sections in Rust and in SQL (encapsulations,
//! the Kubernetes sections in `k8s` and the sFlow calibration have no SQL
//! form yet); the estimators both call
//! are `stats` and, as SQL text, `stats::sql`.

use std::collections::BTreeMap;
use std::hash::Hash;

use pktsample_schemas::meta::format_rfc3339_ns;

mod breakdowns;
mod calibration;
mod conversations;
mod encap;
mod group;
mod interfaces;
mod k8s;
mod per_as;
mod policy;
mod summary;
mod time;

use crate::engine::{AddrSummary, Analysis, DST, Finish, FlowFinish, FlowSummary, SRC, StratumAgg};
use crate::error::AnalyzeError;
use crate::report::*;
use crate::stats::{self, Cell, Design, Interval, ShareSums};
use pktsample_schemas::Direction;

use self::group::{GroupEst, Pooled, Stratum, strata};
use self::summary::summary;
use crate::section::Section;

pub use self::breakdowns::{ip_versions, packet_sizes, protocols, top_destinations, top_sources};
pub use self::conversations::{LOW_CONFIDENCE, connections, top_flows, top_pairs};
pub use self::encap::encapsulations;
pub use self::interfaces::interfaces;
pub use self::k8s::{leaving, namespace_pairs, namespaces, workload_pairs, workloads};
pub use self::per_as::{as_ipv6, as_pairs, destination_as, remote_as, source_as};
pub use self::policy::denied;
pub use self::time::time_series;

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
    let tops = sec.has(Section::TopSources) || sec.has(Section::TopDestinations);
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
    // From rollups: no address but their sums by origin.
    if let Some(o) = &a.rolled_origins {
        let s = AddrSummary {
            by_origin: o.clone(),
            ..AddrSummary::default()
        };
        return Ok((s, by_id));
    }
    let weight = weights(st, &by_id);
    let remote: Vec<Option<usize>> = by_id
        .iter()
        .map(|i| match st[(*i)?].key.direction {
            Direction::Ingress => Some(SRC),
            Direction::Egress => Some(DST),
            _ => None,
        })
        .collect();
    let f = Finish {
        remote: &remote,
        weight: &weight,
        place: &by_id,
        top: if tops { top } else { 0 },
        origins: a.query.asn.as_deref().filter(|_| sec.any_as()),
    };
    Ok((a.addrs.summarize(&f)?, by_id))
}

/// By stratum id: the weight of a sample (its point estimate of packets),
/// for ranking; None: not in the report.
fn weights(st: &[Stratum], by_id: &[Option<usize>]) -> Vec<Option<f64>> {
    by_id
        .iter()
        .map(|i| i.map(|i| stats::stratum_total(&st[i].design, 1, 1.0, 1.0, 0.0).value))
        .collect()
}

/// The flow table reduced to the top pairs and flows.
fn flow_summary(
    a: &Analysis,
    st: &[Stratum],
    by_id: &[Option<usize>],
    top: usize,
) -> Result<FlowSummary, AnalyzeError> {
    let sec = a.query.sections;
    if !sec.has(Section::TopPairs) && !sec.has(Section::TopFlows) {
        return Ok(FlowSummary::default());
    }
    let weight = weights(st, by_id);
    let on = |s| if sec.has(s) { top } else { 0 };
    a.flows.summarize(&FlowFinish {
        weight: &weight,
        place: by_id,
        pairs: on(Section::TopPairs),
        flows: on(Section::TopFlows),
    })
}

/// What every section's estimator reads (the report's strata, their pooled
/// sizes, the reduced address tables), and the report they fill.
pub struct Ctx<'a> {
    a: &'a Analysis,
    st: Vec<Stratum<'a>>,
    pooled: Pooled,
    addrs: AddrSummary,
    /// The reduced flow table (with a conversation section).
    flows: FlowSummary,
    /// Stratum id -> index in `st` (None: not in the report).
    by_id: Vec<Option<usize>>,
    top: usize,
    /// The report's first and last sample.
    span: (Option<i64>, Option<i64>),
    /// The per-AS sections' sums, made by the first of them.
    per_as: Option<per_as::BySide>,
    /// The rate distinct hosts are estimated at: the largest of the
    /// strata; None for a census.
    host_rate: Option<u32>,
    r: Report,
}

impl<'a> Ctx<'a> {
    /// The strata and address tables, and the report's summary and IPv6
    /// share, which every report has.
    pub fn new(a: &'a Analysis, top: usize) -> Result<Ctx<'a>, AnalyzeError> {
        let q = &a.query;
        let (st, pooled) = strata(a);
        let mut warnings = a.notes.clone();
        let (addrs, by_id) = address_summary(a, &st, top)?;
        let flows = flow_summary(a, &st, &by_id, top)?;
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
        let r = Report {
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
            ip_versions: None,
            distinct_addresses: None,
            distinct_hosts: None,
            eth_types: None,
            ip_protocols: None,
            services: None,
            interfaces: None,
            top_sources: None,
            top_destinations: None,
            top_pairs: None,
            top_flows: None,
            connections: None,
            connections_by_remote_as: None,
            time_series: None,
            packet_sizes: None,
            encapsulations: None,
            asn_databases: None,
            source_as: None,
            destination_as: None,
            remote_as: None,
            as_pairs: None,
            as_ipv6: None,
            k8s_snapshots: None,
            source_namespaces: None,
            destination_namespaces: None,
            remote_namespaces: None,
            source_workloads: None,
            destination_workloads: None,
            remote_workloads: None,
            namespace_pairs: None,
            workload_pairs: None,
            leaving_workloads: None,
            leaving_as: None,
            policies: None,
            denied_total: None,
            denied_pairs: None,
            denied: None,
            calibration: None,
            warnings,
        };
        let census = st.iter().all(|s| stats::weight(&s.design) == 0.0);
        let host_rate = (!census).then(|| st.iter().map(|s| s.design.rate).max().unwrap_or(1));
        Ok(Ctx {
            a,
            host_rate,
            st,
            pooled,
            addrs,
            flows,
            by_id,
            top,
            span: (start, end),
            per_as: None,
            r,
        })
    }

    /// Distinct hosts from frequency counts: exact for a census (every
    /// stratum at 1-in-1), else Chao1 at the report's largest rate.
    fn hosts(&self, f: &crate::stats::distinct::Freq) -> crate::stats::distinct::Chao1 {
        use crate::stats::distinct::{census, chao1};
        match self.host_rate {
            None => census(f),
            Some(rate) => chao1(f, rate),
        }
    }

    /// The sFlow calibration check (whenever the inputs have interface
    /// counters), and the report.
    pub fn finish(mut self) -> Result<Report, AnalyzeError> {
        let calibration = calibration::calibration(self.a)?;
        if let Some(rows) = &calibration {
            let off = rows
                .iter()
                .filter(|r| !r.packets_within || !r.bytes_within)
                .count();
            if off > 0 {
                self.r.warnings.push(format!(
                    "sFlow calibration: {off} of {} interface counters fall outside the sampled estimate's 95% interval (see the calibration section): the sampling may be biased or losing samples",
                    rows.len()
                ));
            }
        }
        self.r.calibration = calibration;
        Ok(self.r)
    }
}

/// A section whose members the context fills (the summary).
pub fn nothing(_: &mut Ctx) {}
