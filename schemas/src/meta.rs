//! Capture metadata: the JSON document stored with every samples file.
//!
//! In Parquet it is the file key-value metadata under [`METADATA_KEY`]; in
//! pcapng it is a custom option of the section header (and the counters are
//! repeated in standard interface statistics blocks). It carries what the rows
//! cannot: the exact sample pool (`packets_seen`) and drops per interface and
//! direction, which analyze uses to make totals exact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::SCHEMA_VERSION;

/// Key of the metadata entry in Parquet key-value metadata.
pub const METADATA_KEY: &str = "pktsample";

/// Packet direction relative to the interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
    Unknown,
}

impl Direction {
    pub const ALL: [Direction; 3] = [Direction::Ingress, Direction::Egress, Direction::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
            Direction::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "ingress" => Some(Direction::Ingress),
            "egress" => Some(Direction::Egress),
            "unknown" => Some(Direction::Unknown),
            _ => None,
        }
    }

    /// Index 0..3, for small per-direction arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// From the pcapng `epb_flags` inbound/outbound bits (bits 0-1).
    pub fn from_epb_flags(flags: u32) -> Direction {
        match flags & 0b11 {
            1 => Direction::Ingress,
            2 => Direction::Egress,
            _ => Direction::Unknown,
        }
    }

    /// The pcapng `epb_flags` inbound/outbound bits.
    pub fn epb_flags(self) -> u32 {
        match self {
            Direction::Ingress => 1,
            Direction::Egress => 2,
            Direction::Unknown => 0,
        }
    }
}

/// Counters for one interface and direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectionStats {
    /// Every packet the sampler looked at: the sample pool.
    pub packets_seen: u64,
    /// Samples written to the file.
    pub samples: u64,
    /// Samples selected but lost before reaching the file (ring buffer full).
    pub drops: u64,
}

impl DirectionStats {
    pub fn add(&mut self, o: &DirectionStats) {
        self.packets_seen += o.packets_seen;
        self.samples += o.samples;
        self.drops += o.drops;
    }
}

/// One interface at one sampling rate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceMeta {
    pub ifindex: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// 1-in-N sampling rate in force (1 = every packet).
    pub sampling_rate: u32,
    /// Link type of the interface's packets (LINKTYPE_* value: 1 Ethernet,
    /// 101 raw IP, 276 Linux cooked v2, ...). Absent before schema 1.2: 1.
    #[serde(default = "ethernet")]
    pub link_type: u32,
    /// Keyed by `ingress`, `egress`, `unknown`; directions never seen are absent.
    pub directions: BTreeMap<Direction, DirectionStats>,
    /// One pool counts the packets of every direction (an sFlow data source
    /// sampled both ways), kept under `unknown`: the rows keep their
    /// direction, but the stratum is the interface's (1.3; absent: false).
    #[serde(default, skip_serializing_if = "is_false")]
    pub shared_pool: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn ethernet() -> u32 {
    crate::decode::linktype::ETHERNET
}

impl InterfaceMeta {
    pub fn total(&self) -> DirectionStats {
        let mut t = DirectionStats::default();
        for s in self.directions.values() {
            t.add(s);
        }
        t
    }
}

/// Where the samples came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// Live capture at the TCX hooks.
    Tcx {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ring_bytes: Option<u64>,
    },
    /// Offline sampling of an existing capture file.
    Replay {
        input: String,
        seed: u64,
        sampling_rate: u32,
    },
    /// A plain capture read as samples at rate 1 (no pktsample metadata).
    Capture { input: String },
    /// sFlow v5 datagrams, received (`collect`: the listening addresses)
    /// or read from a capture (`convert`: its path and UDP port).
    Sflow { input: String },
    /// Samples Parquet written by another tool (no pktsample metadata),
    /// described from its rows: interfaces and rates seen, no pools. Never
    /// written by pktsample; what analyze says of such an input.
    Rows { input: String },
}

/// The metadata document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureMetadata {
    pub schema_version: String,
    pub tool: String,
    pub tool_version: String,
    pub source: Source,
    pub host: String,
    pub kernel: String,
    /// First and last sample pool timestamps, RFC 3339 with nanoseconds (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    pub snaplen: u32,
    pub interfaces: Vec<InterfaceMeta>,
    /// The ASN databases that filled the AS columns (1.1; empty: not
    /// enriched, the AS columns are null).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asn_databases: Vec<String>,
    /// The cluster snapshots that filled the Kubernetes columns, one line
    /// each (1.5; empty: not enriched, those columns are null).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub k8s_snapshots: Vec<String>,
    /// Packets of the input that were not sampled because pktsample does not
    /// decode their link type, per link type (1.2; empty: none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped_link_types: BTreeMap<u32, u64>,
    /// Live capture: ring records that could not be read (short, or of an
    /// interface no slot has), already counted among the drops (1.2; absent
    /// when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bad_records: u64,
    /// Records of the input whose wire length lied (below the captured
    /// length, or over 256 KiB): skipped, never in a total (1.4; absent
    /// when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bad_lengths: u64,
    /// pcapng custom blocks and options of other programs in the input,
    /// skipped (1.4; absent when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub foreign_custom: u64,
    /// Why the file ends early (the disk filled), when it does (1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// sFlow inputs: agents, losses, skipped records, interface counters
    /// (1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sflow: Option<crate::sflow::meta::SflowMeta>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CaptureMetadata {
    pub fn new(source: Source, snaplen: u32) -> Self {
        CaptureMetadata {
            schema_version: SCHEMA_VERSION.to_string(),
            tool: "pktsample".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            source,
            host: read_proc("/proc/sys/kernel/hostname"),
            kernel: read_proc("/proc/sys/kernel/osrelease"),
            start_time: None,
            end_time: None,
            snaplen,
            interfaces: Vec::new(),
            asn_databases: Vec::new(),
            k8s_snapshots: Vec::new(),
            skipped_link_types: BTreeMap::new(),
            bad_records: 0,
            bad_lengths: 0,
            foreign_custom: 0,
            interrupted: None,
            sflow: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("metadata serializes")
    }

    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }

    /// Set `start_time`/`end_time` from nanoseconds since the Unix epoch.
    pub fn set_time_range(&mut self, first_ns: Option<i64>, last_ns: Option<i64>) {
        self.start_time = first_ns.map(format_rfc3339_ns);
        self.end_time = last_ns.map(format_rfc3339_ns);
    }

    /// `start_time`/`end_time` as nanoseconds since the Unix epoch.
    pub fn time_range_ns(&self) -> (Option<i64>, Option<i64>) {
        let ns = |t: &Option<String>| t.as_deref().and_then(parse_rfc3339_ns);
        (ns(&self.start_time), ns(&self.end_time))
    }

    pub fn interface(&self, ifindex: u32, rate: u32) -> Option<&InterfaceMeta> {
        self.interfaces
            .iter()
            .find(|i| i.ifindex == ifindex && i.sampling_rate == rate)
    }
}

fn read_proc(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Format nanoseconds since the epoch as RFC 3339 UTC with 9 fractional digits.
pub fn format_rfc3339_ns(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Parse an RFC 3339 timestamp to nanoseconds since the epoch.
pub fn parse_rfc3339_ns(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()?
        .timestamp_nanos_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_json_round_trip() {
        let mut m = CaptureMetadata::new(
            Source::Replay {
                input: "a.pcap".into(),
                seed: 7,
                sampling_rate: 10,
            },
            128,
        );
        let mut dirs = BTreeMap::new();
        dirs.insert(
            Direction::Ingress,
            DirectionStats {
                packets_seen: 100,
                samples: 9,
                drops: 1,
            },
        );
        m.interfaces.push(InterfaceMeta {
            ifindex: 3,
            name: "veth0".into(),
            mac: Some("02:00:00:00:00:01".into()),
            mtu: Some(1500),
            sampling_rate: 10,
            link_type: 1,
            shared_pool: false,
            directions: dirs,
        });
        m.set_time_range(
            Some(1_700_000_000_123_456_789),
            Some(1_700_000_001_000_000_000),
        );
        let j = m.to_json();
        assert!(j.contains("\"ingress\":{\"packets_seen\":100"), "{j}");
        assert!(j.contains("2023-11-14T22:13:20.123456789Z"), "{j}");
        assert_eq!(CaptureMetadata::from_json(&j).unwrap(), m);
        assert_eq!(
            parse_rfc3339_ns(m.start_time.as_deref().unwrap()),
            Some(1_700_000_000_123_456_789)
        );
    }

    #[test]
    fn epb_flag_bits() {
        for d in Direction::ALL {
            assert_eq!(Direction::from_epb_flags(d.epb_flags()), d);
        }
        assert_eq!(Direction::from_epb_flags(0xffff_fffd), Direction::Ingress);
    }
}
