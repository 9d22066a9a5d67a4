//! The report's data model: every section's rows, as the JSON contract
//! (`schemas/report-v1.md`) names them.

use serde::Serialize;

use crate::stats::Interval;

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

/// Distinct hosts of one population and IP version: Chao1 with its
/// interval (see [`crate::stats::distinct`]).
#[derive(Clone, Debug, Serialize)]
pub struct HostsRow {
    /// `sources`, `destinations`, `remote` or `any`.
    pub hosts: &'static str,
    pub ip_version: u8,
    #[serde(flatten)]
    pub c: crate::stats::distinct::Chao1,
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

/// A (source, destination) address pair (1.8).
#[derive(Clone, Debug, Serialize)]
pub struct PairRow {
    pub source: String,
    pub destination: String,
    #[serde(flatten)]
    pub m: Measures,
    /// Resting on fewer than 10 samples: listed after the others, its
    /// place in the ranking not to be read as exact.
    pub low_confidence: bool,
}

/// A 5-tuple flow (1.8): the ports are null for a protocol without them.
#[derive(Clone, Debug, Serialize)]
pub struct FlowRow {
    pub ip_proto: Option<u8>,
    pub name: Option<&'static str>,
    pub source: String,
    pub source_port: Option<u16>,
    pub destination: String,
    pub destination_port: Option<u16>,
    #[serde(flatten)]
    pub m: Measures,
    pub low_confidence: bool,
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
    /// The AS's distinct hosts on the section's side (1.7; not in
    /// `as_pairs` or from rollups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<crate::stats::distinct::Chao1>,
}

/// A namespace or workload, or the label of addresses no workload holds
/// (see `engine::k8s::side_key`).
#[derive(Clone, Debug, Serialize)]
pub struct K8sRow {
    pub name: String,
    /// A pod, service or node of the cluster.
    pub in_cluster: bool,
    #[serde(flatten)]
    pub m: Measures,
}

#[derive(Clone, Debug, Serialize)]
pub struct K8sPairRow {
    pub source: String,
    pub destination: String,
    #[serde(flatten)]
    pub m: Measures,
}

/// Traffic leaving the cluster from a workload to an AS.
#[derive(Clone, Debug, Serialize)]
pub struct LeavingAsRow {
    pub source: String,
    pub destination: AsRef,
    #[serde(flatten)]
    pub m: Measures,
}

/// Traffic network policies would deny between a client and a server
/// (`--k8s-policy`): per pair, and per pair, service and nearest rule.
#[derive(Clone, Debug, Serialize)]
pub struct DeniedRow {
    pub client: String,
    pub server: String,
    /// `TCP/5432`, `UDP/53`, `ICMP` (the detail rows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The rule that would have allowed similar traffic: the same peer on
    /// another port, else the same port from another peer (the detail rows
    /// only; `null`: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Option<String>>,
    #[serde(flatten)]
    pub m: Measures,
    /// Per second over the report's duration (absent for a zero one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pps: Option<Interval>,
}

/// Everything the policies would deny.
#[derive(Clone, Debug, Serialize)]
pub struct DeniedTotal {
    #[serde(flatten)]
    pub m: Measures,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pps: Option<Interval>,
    /// The denied share of all packets and bytes (0..1).
    pub share_packets: Interval,
    pub share_bytes: Interval,
    /// To or from a service's virtual IP: not judged (policies apply to
    /// the pods behind it).
    pub unjudged: Measures,
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
    pub distinct_hosts: Option<Vec<HostsRow>>,
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
    /// Top address pairs and 5-tuple flows (1.8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_pairs: Option<Vec<PairRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_flows: Option<Vec<FlowRow>>,
    /// TCP connections opened (SYN without ACK; a row's packets are the
    /// connections) per service (destination port), and per remote AS
    /// with an ASN database (1.8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<Vec<ServiceRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections_by_remote_as: Option<Vec<AsRow>>,
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
    /// The Kubernetes sections (1.6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s_snapshots: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_namespaces: Option<Vec<K8sRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_namespaces: Option<Vec<K8sRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_namespaces: Option<Vec<K8sRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_workloads: Option<Vec<K8sRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_workloads: Option<Vec<K8sRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_workloads: Option<Vec<K8sRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_pairs: Option<Vec<K8sPairRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_pairs: Option<Vec<K8sPairRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaving_workloads: Option<Vec<K8sRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaving_as: Option<Vec<LeavingAsRow>>,
    /// The policy what-if (1.6): the policies read, the total denied, and
    /// the denied traffic per pair and per pair, service and rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied_total: Option<DeniedTotal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied_pairs: Option<Vec<DeniedRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied: Option<Vec<DeniedRow>>,
    /// sFlow inputs with interface counters: the calibration check (1.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Vec<CalibrationRow>>,
    pub warnings: Vec<String>,
}
