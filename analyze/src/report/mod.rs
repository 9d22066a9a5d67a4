//! The report: one data model, rendered by one small module per format.
//!
//! The JSON rendering is a documented, versioned contract
//! (`schemas/report-v1.md`, `schemas/report-v1.schema.json`): every estimate
//! is `{"estimate", "low", "high"}` (a 95 % interval) and every breakdown row
//! has its key fields, `samples`, `packets` and `bytes`.

mod csv;
mod html;
mod json;
mod markdown;
mod table;

use std::io::Write;

use serde::Serialize;

use crate::stats::Interval;

pub use self::csv::Csv;
pub use self::html::Html;
pub use self::json::Json;
pub use self::markdown::Markdown;
pub use self::table::Table;

/// Version of the JSON report contract.
pub const REPORT_VERSION: &str = "1.5";

/// A rendering of a report.
pub trait Render {
    fn render(&self, r: &Report, out: &mut dyn Write) -> std::io::Result<()>;
}

/// Samples and estimated packets and bytes of one breakdown row.
#[derive(Clone, Debug, Serialize)]
pub struct Measures {
    pub samples: u64,
    pub packets: Interval,
    pub bytes: Interval,
}

#[derive(Clone, Debug, Serialize)]
pub struct Filters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub interfaces: Vec<String>,
    pub directions: Vec<String>,
    /// `--host` (1.4; absent when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// `--inner`: every section on the innermost IP header (1.5; absent
    /// when false).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inner: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    pub duration_seconds: f64,
    pub samples: u64,
    pub packets: Interval,
    pub bytes: Interval,
    /// Per second over the duration; absent for a zero duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pps: Option<Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bps: Option<Interval>,
    pub sampling_rates: Vec<u32>,
    /// Packets the sampler saw, from the metadata (the exact pool), over the
    /// whole capture of the included strata; null where a file lacks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets_seen: Option<u64>,
    pub drops: u64,
    /// drops / (samples written + drops).
    pub drop_share: f64,
    /// True when the packet total is exact (every pool known, no time filter).
    pub packets_exact: bool,
    /// What a category with no sample (a protocol, service, EtherType,
    /// address or AS the report does not list) can be: 0 samples, 0
    /// estimated, and the 95 % upper bound (1.2).
    pub unseen: Measures,
    /// Records of the captures skipped for a lying wire length (below the
    /// captured length, or over 256 KiB): in no estimate (1.5; absent
    /// when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub bad_records: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Serialize)]
pub struct Ipv6Share {
    /// IPv6 share of IP packets (0..1).
    pub packets: Interval,
    /// IPv6 share of IP bytes (0..1).
    pub bytes: Interval,
}

#[derive(Clone, Debug, Serialize)]
pub struct VersionRow {
    /// "4", "6" or "non-ip".
    pub ip_version: String,
    #[serde(flatten)]
    pub m: Measures,
}

#[derive(Clone, Debug, Serialize)]
pub struct Distinct {
    pub ipv4: u64,
    pub ipv6: u64,
    /// Always true: sampling misses addresses, so these are lower bounds.
    pub lower_bound: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct EthTypeRow {
    pub eth_type: u16,
    pub name: Option<&'static str>,
    #[serde(flatten)]
    pub m: Measures,
}

/// One shim or tunnel kind (`none`: neither; `tunnel`: behind any tunnel).
#[derive(Clone, Debug, Serialize)]
pub struct EncapRow {
    pub encapsulation: String,
    pub name: &'static str,
    #[serde(flatten)]
    pub m: Measures,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProtoRow {
    pub ip_proto: u8,
    pub name: Option<&'static str>,
    #[serde(flatten)]
    pub m: Measures,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServiceRow {
    /// "tcp", "udp", "sctp", "udplite".
    pub transport: &'static str,
    /// The service port; null for "other" (no well-known port).
    pub port: Option<u16>,
    pub name: Option<&'static str>,
    #[serde(flatten)]
    pub m: Measures,
}

#[derive(Clone, Debug, Serialize)]
pub struct InterfaceRow {
    pub host: String,
    pub ifname: String,
    pub direction: String,
    pub sampling_rates: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets_seen: Option<u64>,
    pub drops: u64,
    #[serde(flatten)]
    pub m: Measures,
}

/// sFlow's calibration check: the estimate over a data source's counter
/// span beside what its counters counted.
#[derive(Clone, Debug, Serialize)]
pub struct CalibrationRow {
    /// `AGENT/SOURCE` (the data source, over its sub-agents).
    pub interface: String,
    /// `in` or `out`.
    pub direction: String,
    pub start: String,
    pub end: String,
    pub samples: u64,
    pub packets: Interval,
    pub counter_packets: u64,
    pub packets_within: bool,
    pub bytes: Interval,
    pub counter_bytes: u64,
    pub bytes_within: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct AddressRow {
    pub address: String,
    #[serde(flatten)]
    pub m: Measures,
}

/// An origin: an AS, or the reason an address has none.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AsRef {
    /// The AS number; null when the address has none (see `label`).
    pub asn: Option<u32>,
    /// "AS64496", or one of unrouted, private, shared, documentation,
    /// loopback, link-local, multicast, reserved.
    pub label: String,
    /// The organisation, from the database; null when it has none.
    pub name: Option<String>,
}

impl AsRef {
    /// "AS64496 Example Transit" or "private".
    pub fn text(&self) -> String {
        match &self.name {
            Some(n) => format!("{} {n}", self.label),
            None => self.label.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct AsRow {
    #[serde(flatten)]
    pub origin: AsRef,
    #[serde(flatten)]
    pub m: Measures,
}

#[derive(Clone, Debug, Serialize)]
pub struct AsPairRow {
    pub source: AsRef,
    pub destination: AsRef,
    #[serde(flatten)]
    pub m: Measures,
}

/// IPv6 from one remote AS: its IPv6 traffic and the IPv6 share of its IP
/// traffic.
#[derive(Clone, Debug, Serialize)]
pub struct AsIpv6Row {
    #[serde(flatten)]
    pub origin: AsRef,
    /// IPv6 samples, packets and bytes.
    #[serde(flatten)]
    pub m: Measures,
    /// IPv6 share of the AS's IP packets and bytes (0..1).
    pub share_packets: Interval,
    pub share_bytes: Interval,
}

/// An ASN database the report used.
#[derive(Clone, Debug, Serialize)]
pub struct AsnDatabase {
    pub path: String,
    pub format: &'static str,
    pub ipv4_prefixes: u64,
    pub ipv6_prefixes: u64,
    pub names: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct BucketRow {
    pub start: String,
    #[serde(flatten)]
    pub m: Measures,
    pub pps: Interval,
    pub bps: Interval,
    /// IPv6 share of the bucket's IP packets and bytes (1.4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_share: Option<Ipv6Share>,
    /// The bucket by protocol class: tcp, udp, icmp, icmpv6, other-ip,
    /// non-ip (1.4; with the protocol sections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<BucketClass>>,
}

/// One protocol class of a time bucket.
#[derive(Clone, Debug, Serialize)]
pub struct BucketClass {
    pub class: &'static str,
    #[serde(flatten)]
    pub m: Measures,
}

#[derive(Clone, Debug, Serialize)]
pub struct TimeSeries {
    pub interval_seconds: f64,
    pub buckets: Vec<BucketRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SizeRow {
    pub min: u32,
    /// Null for the open-ended last class.
    pub max: Option<u32>,
    #[serde(flatten)]
    pub m: Measures,
}

/// Everything a report shows. Sections not asked for are absent.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub report_version: &'static str,
    pub tool_version: &'static str,
    pub inputs: Vec<String>,
    pub filters: Filters,
    pub summary: Summary,
    pub ipv6_share: Ipv6Share,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_versions: Option<Vec<VersionRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_addresses: Option<Distinct>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eth_types: Option<Vec<EthTypeRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_protocols: Option<Vec<ProtoRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<Vec<InterfaceRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_sources: Option<Vec<AddressRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_destinations: Option<Vec<AddressRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_series: Option<TimeSeries>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet_sizes: Option<Vec<SizeRow>>,
    /// Packets and bytes per shim and tunnel kind (1.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encapsulations: Option<Vec<EncapRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn_databases: Option<Vec<AsnDatabase>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_as: Option<Vec<AsRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_as: Option<Vec<AsRow>>,
    /// The far end: the source AS of ingress samples, the destination AS of
    /// egress samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_as: Option<Vec<AsRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_pairs: Option<Vec<AsPairRow>>,
    /// Remote ASes ranked by IPv6 packets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_ipv6: Option<Vec<AsIpv6Row>>,
    /// sFlow inputs with interface counters: the calibration check (1.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Vec<CalibrationRow>>,
    pub warnings: Vec<String>,
}

/// Human formatting of counts: 1234567 -> "1.23M".
pub fn si(v: f64) -> String {
    let a = v.abs();
    let (d, suffix) = if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if suffix.is_empty() {
        if (x - x.round()).abs() < 1e-9 || x.abs() >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    } else if x.abs() >= 100.0 {
        format!("{x:.0}{suffix}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}{suffix}")
    } else {
        format!("{x:.2}{suffix}")
    }
}

/// "12.3k [11.9k–12.7k]", or just "12345" when exact.
pub fn interval_text(i: &Interval) -> String {
    if i.low == i.high {
        si(i.estimate)
    } else {
        format!("{} [{}–{}]", si(i.estimate), si(i.low), si(i.high))
    }
}

/// The summary's bound for a category without a sample.
pub fn unseen_text(s: &Summary) -> String {
    format!(
        "at most {} packets, {} bytes",
        si(s.unseen.packets.high),
        si(s.unseen.bytes.high)
    )
}

/// Percentages: "38.4% [35.1–41.8]".
pub fn share_text(i: &Interval) -> String {
    if i.low == i.high {
        format!("{:.1}%", 100.0 * i.estimate)
    } else {
        format!(
            "{:.1}% [{:.1}–{:.1}]",
            100.0 * i.estimate,
            100.0 * i.low,
            100.0 * i.high
        )
    }
}

/// One breakdown row as text cells: the key cells then samples, packets, bytes.
pub struct TextRow {
    pub key: Vec<String>,
    pub m: Measures,
    /// A share shown with the row (the IPv6 share of an AS's packets).
    pub share: Option<Interval>,
}

/// A section as a list of key columns and rows, shared by table, Markdown
/// and CSV.
pub struct TextSection {
    pub id: &'static str,
    pub title: &'static str,
    pub key_names: Vec<&'static str>,
    pub rows: Vec<TextRow>,
}

fn rows<T>(v: &Option<Vec<T>>, f: impl Fn(&T) -> (Vec<String>, Measures)) -> Option<Vec<TextRow>> {
    v.as_ref().map(|v| {
        v.iter()
            .map(|r| {
                let (key, m) = f(r);
                TextRow {
                    key,
                    m,
                    share: None,
                }
            })
            .collect()
    })
}

/// The breakdown sections of a report, in display order.
pub fn text_sections(r: &Report) -> Vec<TextSection> {
    let mut out = Vec::new();
    let mut push = |id, title, key_names: Vec<&'static str>, rows: Option<Vec<TextRow>>| {
        if let Some(rows) = rows {
            out.push(TextSection {
                id,
                title,
                key_names,
                rows,
            });
        }
    };
    push(
        "ip_versions",
        "IP versions",
        vec!["version"],
        rows(&r.ip_versions, |v| {
            (vec![v.ip_version.clone()], v.m.clone())
        }),
    );
    push(
        "eth_types",
        "EtherTypes",
        vec!["ethertype"],
        rows(&r.eth_types, |v| {
            let k = match v.name {
                Some(n) => format!("0x{:04x} {n}", v.eth_type),
                None => format!("0x{:04x}", v.eth_type),
            };
            (vec![k], v.m.clone())
        }),
    );
    push(
        "ip_protocols",
        "IP protocols",
        vec!["protocol"],
        rows(&r.ip_protocols, |v| {
            let k = match v.name {
                Some(n) => format!("{} {n}", v.ip_proto),
                None => v.ip_proto.to_string(),
            };
            (vec![k], v.m.clone())
        }),
    );
    push(
        "services",
        "Services",
        vec!["service"],
        rows(&r.services, |v| {
            let k = match (v.port, v.name) {
                (Some(p), Some(n)) => format!("{}/{p} {n}", v.transport),
                (Some(p), None) => format!("{}/{p}", v.transport),
                (None, _) => format!("{}/other", v.transport),
            };
            (vec![k], v.m.clone())
        }),
    );
    push(
        "interfaces",
        "Interfaces",
        vec!["interface", "direction"],
        rows(&r.interfaces, |v| {
            let name = if v.host.is_empty() {
                v.ifname.clone()
            } else {
                format!("{}:{}", v.host, v.ifname)
            };
            (vec![name, v.direction.clone()], v.m.clone())
        }),
    );
    push(
        "calibration",
        "sFlow calibration: estimate over each counter span beside the agent's counters",
        vec![
            "data source",
            "dir",
            "counted packets",
            "counted bytes",
            "within",
        ],
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
        }),
    );
    push(
        "top_sources",
        "Top sources",
        vec!["source"],
        rows(&r.top_sources, |v| (vec![v.address.clone()], v.m.clone())),
    );
    push(
        "top_destinations",
        "Top destinations",
        vec!["destination"],
        rows(&r.top_destinations, |v| {
            (vec![v.address.clone()], v.m.clone())
        }),
    );
    push(
        "source_as",
        "Source AS",
        vec!["source AS"],
        rows(&r.source_as, |v| (vec![v.origin.text()], v.m.clone())),
    );
    push(
        "destination_as",
        "Destination AS",
        vec!["destination AS"],
        rows(&r.destination_as, |v| (vec![v.origin.text()], v.m.clone())),
    );
    push(
        "remote_as",
        "Remote AS (source of ingress, destination of egress)",
        vec!["remote AS"],
        rows(&r.remote_as, |v| (vec![v.origin.text()], v.m.clone())),
    );
    push(
        "as_pairs",
        "AS pairs",
        vec!["source AS", "destination AS"],
        rows(&r.as_pairs, |v| {
            (
                vec![v.source.label.clone(), v.destination.label.clone()],
                v.m.clone(),
            )
        }),
    );
    push(
        "as_ipv6",
        "IPv6 by remote AS",
        vec!["remote AS"],
        r.as_ipv6.as_ref().map(|v| {
            v.iter()
                .map(|r| TextRow {
                    key: vec![r.origin.text()],
                    m: r.m.clone(),
                    share: Some(r.share_packets),
                })
                .collect()
        }),
    );
    push(
        "packet_sizes",
        "Packet sizes",
        vec!["bytes"],
        rows(&r.packet_sizes, |v| {
            let k = match v.max {
                Some(m) if m == v.min => v.min.to_string(),
                Some(m) => format!("{}-{m}", v.min),
                None => format!("{}+", v.min),
            };
            (vec![k], v.m.clone())
        }),
    );
    push(
        "encapsulations",
        "Encapsulations",
        vec!["encapsulation"],
        rows(&r.encapsulations, |v| {
            (vec![v.encapsulation.clone()], v.m.clone())
        }),
    );
    push(
        "time_series",
        "Time series",
        vec!["start"],
        r.time_series.as_ref().map(|t| {
            t.buckets
                .iter()
                .map(|b| TextRow {
                    key: vec![b.start.clone()],
                    m: b.m.clone(),
                    share: None,
                })
                .collect()
        }),
    );
    out
}
