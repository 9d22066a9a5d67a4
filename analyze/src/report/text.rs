//! A breakdown as text cells: what the table, Markdown, CSV and HTML
//! renderers share. Each function here turns one report member's rows into
//! [`TextRow`]s; [`crate::catalog`] says which member, title and chart
//! each section has.

use super::*;
use crate::stats::Interval;

/// One breakdown row as text cells: the key cells then samples, packets, bytes.
pub struct TextRow {
    pub key: Vec<String>,
    pub m: Measures,
    /// A share shown with the row (the IPv6 share of an AS's packets).
    pub share: Option<Interval>,
    /// Resting on too few samples for its rank to be read as exact.
    pub low: bool,
}

/// How the HTML page draws a breakdown above its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chart {
    /// Horizontal bars, largest first.
    Bars,
    /// Columns in the rows' order (size classes).
    Columns,
    /// A source × destination matrix of the two key columns: what each
    /// axis lists, in the plural ("ASes", "namespaces").
    Matrix(&'static str),
    /// Its own panels (the time series).
    Timeline,
    /// The table only, open (the calibration check).
    TableOnly,
}

/// A section as a list of key columns and rows, shared by table, Markdown
/// and CSV.
pub struct TextSection {
    /// The report-v1 member (`ip_protocols`).
    pub id: &'static str,
    pub title: &'static str,
    pub key_names: &'static [&'static str],
    pub chart: Chart,
    /// Show the last key whole in the table format.
    pub whole_last: bool,
    pub rows: Vec<TextRow>,
}

/// Rows of a member whose rows are a key and [`Measures`].
fn rows<T>(v: &Option<Vec<T>>, f: impl Fn(&T) -> (Vec<String>, Measures)) -> Option<Vec<TextRow>> {
    v.as_ref().map(|v| {
        v.iter()
            .map(|r| {
                let (key, m) = f(r);
                TextRow {
                    key,
                    m,
                    share: None,
                    low: false,
                }
            })
            .collect()
    })
}

pub fn ip_versions(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.ip_versions, |v| {
        (vec![v.ip_version.clone()], v.m.clone())
    })
}

pub fn eth_types(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.eth_types, |v| {
        let k = match v.name {
            Some(n) => format!("0x{:04x} {n}", v.eth_type),
            None => format!("0x{:04x}", v.eth_type),
        };
        (vec![k], v.m.clone())
    })
}

pub fn ip_protocols(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.ip_protocols, |v| {
        let k = match v.name {
            Some(n) => format!("{} {n}", v.ip_proto),
            None => v.ip_proto.to_string(),
        };
        (vec![k], v.m.clone())
    })
}

pub fn services(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.services, |v| {
        let k = match (v.port, v.name) {
            (Some(p), Some(n)) => format!("{}/{p} {n}", v.transport),
            (Some(p), None) => format!("{}/{p}", v.transport),
            (None, _) => format!("{}/other", v.transport),
        };
        (vec![k], v.m.clone())
    })
}

pub fn interfaces(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.interfaces, |v| {
        let name = if v.host.is_empty() {
            v.ifname.clone()
        } else {
            format!("{}:{}", v.host, v.ifname)
        };
        (vec![name, v.direction.clone()], v.m.clone())
    })
}

pub fn calibration(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.calibration, |v| {
        let within = match (v.packets_within, v.bytes_within) {
            (true, true) => "yes",
            (false, true) => "NO: packets",
            (true, false) => "NO: bytes",
            (false, false) => "NO: both",
        };
        (
            vec![
                v.interface.clone(),
                v.direction.clone(),
                v.counter_packets.to_string(),
                v.counter_bytes.to_string(),
                within.into(),
            ],
            Measures {
                samples: v.samples,
                packets: v.packets,
                bytes: v.bytes,
            },
        )
    })
}

/// Rows marked low-confidence where theirs is.
fn flagged<T>(
    v: &Option<Vec<T>>,
    f: impl Fn(&T) -> (Vec<String>, Measures, bool),
) -> Option<Vec<TextRow>> {
    v.as_ref().map(|v| {
        v.iter()
            .map(|r| {
                let (key, m, low) = f(r);
                TextRow {
                    key,
                    m,
                    share: None,
                    low,
                }
            })
            .collect()
    })
}

pub fn top_pairs(r: &Report) -> Option<Vec<TextRow>> {
    flagged(&r.top_pairs, |v| {
        (
            vec![v.source.clone(), v.destination.clone()],
            v.m.clone(),
            v.low_confidence,
        )
    })
}

/// An endpoint as `address:port` (`[address]:port` for IPv6).
fn endpoint(addr: &str, port: Option<u16>) -> String {
    match (port, addr.contains(':')) {
        (None, _) => addr.to_string(),
        (Some(p), false) => format!("{addr}:{p}"),
        (Some(p), true) => format!("[{addr}]:{p}"),
    }
}

pub fn top_flows(r: &Report) -> Option<Vec<TextRow>> {
    flagged(&r.top_flows, |v| {
        let proto = match (v.ip_proto, v.name) {
            (Some(_), Some(n)) => n.to_string(),
            (Some(p), None) => p.to_string(),
            (None, _) => "-".into(),
        };
        (
            vec![
                proto,
                endpoint(&v.source, v.source_port),
                endpoint(&v.destination, v.destination_port),
            ],
            v.m.clone(),
            v.low_confidence,
        )
    })
}

pub fn connections(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.connections, |v| {
        let k = match (v.port, v.name) {
            (Some(p), Some(n)) => format!("{p} {n}"),
            (Some(p), None) => p.to_string(),
            (None, _) => "-".into(),
        };
        (vec![k], v.m.clone())
    })
}

pub fn connections_by_remote_as(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.connections_by_remote_as, |v| {
        (vec![v.origin.text()], v.m.clone())
    })
}

pub fn top_sources(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.top_sources, |v| (vec![v.address.clone()], v.m.clone()))
}

pub fn top_destinations(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.top_destinations, |v| {
        (vec![v.address.clone()], v.m.clone())
    })
}

pub fn source_as(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.source_as, |v| (vec![v.origin.text()], v.m.clone()))
}

pub fn destination_as(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.destination_as, |v| (vec![v.origin.text()], v.m.clone()))
}

pub fn remote_as(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.remote_as, |v| (vec![v.origin.text()], v.m.clone()))
}

pub fn as_pairs(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.as_pairs, |v| {
        (
            vec![v.source.label.clone(), v.destination.label.clone()],
            v.m.clone(),
        )
    })
}

pub fn as_ipv6(r: &Report) -> Option<Vec<TextRow>> {
    r.as_ipv6.as_ref().map(|v| {
        v.iter()
            .map(|r| TextRow {
                key: vec![r.origin.text()],
                m: r.m.clone(),
                share: Some(r.share_packets),
                low: false,
            })
            .collect()
    })
}

pub fn packet_sizes(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.packet_sizes, |v| {
        let k = match v.max {
            Some(m) if m == v.min => v.min.to_string(),
            Some(m) => format!("{}-{m}", v.min),
            None => format!("{}+", v.min),
        };
        (vec![k], v.m.clone())
    })
}

pub fn encapsulations(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.encapsulations, |v| {
        (vec![v.encapsulation.clone()], v.m.clone())
    })
}

fn k8s_rows(v: &Option<Vec<K8sRow>>) -> Option<Vec<TextRow>> {
    rows(v, |v| (vec![v.name.clone()], v.m.clone()))
}

fn k8s_pairs(v: &Option<Vec<K8sPairRow>>) -> Option<Vec<TextRow>> {
    rows(v, |v| {
        (vec![v.source.clone(), v.destination.clone()], v.m.clone())
    })
}

pub fn source_namespaces(r: &Report) -> Option<Vec<TextRow>> {
    k8s_rows(&r.source_namespaces)
}

pub fn destination_namespaces(r: &Report) -> Option<Vec<TextRow>> {
    k8s_rows(&r.destination_namespaces)
}

pub fn remote_namespaces(r: &Report) -> Option<Vec<TextRow>> {
    k8s_rows(&r.remote_namespaces)
}

pub fn source_workloads(r: &Report) -> Option<Vec<TextRow>> {
    k8s_rows(&r.source_workloads)
}

pub fn destination_workloads(r: &Report) -> Option<Vec<TextRow>> {
    k8s_rows(&r.destination_workloads)
}

pub fn remote_workloads(r: &Report) -> Option<Vec<TextRow>> {
    k8s_rows(&r.remote_workloads)
}

pub fn namespace_pairs(r: &Report) -> Option<Vec<TextRow>> {
    k8s_pairs(&r.namespace_pairs)
}

pub fn workload_pairs(r: &Report) -> Option<Vec<TextRow>> {
    k8s_pairs(&r.workload_pairs)
}

pub fn leaving_workloads(r: &Report) -> Option<Vec<TextRow>> {
    k8s_rows(&r.leaving_workloads)
}

pub fn leaving_as(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.leaving_as, |v| {
        (vec![v.source.clone(), v.destination.text()], v.m.clone())
    })
}

fn pps_text(pps: &Option<Interval>) -> String {
    pps.as_ref().map_or_else(String::new, interval_text)
}

/// Everything the policies would deny, as one row.
pub fn denied_total(r: &Report) -> Option<Vec<TextRow>> {
    r.denied_total.as_ref().map(|t| {
        vec![TextRow {
            key: vec![
                "every pair".into(),
                pps_text(&t.pps),
                share_text(&t.share_packets),
            ],
            m: t.m.clone(),
            share: None,
            low: false,
        }]
    })
}

pub fn denied_pairs(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.denied_pairs, |v| {
        (
            vec![v.client.clone(), v.server.clone(), pps_text(&v.pps)],
            v.m.clone(),
        )
    })
}

pub fn denied(r: &Report) -> Option<Vec<TextRow>> {
    rows(&r.denied, |v| {
        let rule = v.rule.clone().flatten().unwrap_or_else(|| "(none)".into());
        let service = v.service.clone().unwrap_or_default();
        (
            vec![v.client.clone(), v.server.clone(), service, rule],
            v.m.clone(),
        )
    })
}

pub fn time_series(r: &Report) -> Option<Vec<TextRow>> {
    r.time_series.as_ref().map(|t| {
        t.buckets
            .iter()
            .map(|b| TextRow {
                key: vec![b.start.clone()],
                m: b.m.clone(),
                share: None,
                low: false,
            })
            .collect()
    })
}
