//! sFlow version 5 datagrams (sflow.org, "sFlow Version 5", 2004): what
//! switches and the Host sFlow agent send, and what collectors read.
//!
//! [`decode`] reads a datagram into [`Datagram`]: flow samples (plain and
//! expanded) with their raw packet header and extended gateway records,
//! counter samples with the generic interface counters. Records and samples
//! of other formats or enterprises are skipped by their length and counted
//! ([`Skipped`]); a datagram that is not sFlow 5, or whose lengths and
//! counts overrun it, is an error naming the offset. [`encode`] writes the
//! same structures (for export and for tests).
//!
//! Written by hand: the crates that read sFlow (`sflow`, `sflow-parser`)
//! are unmaintained or read neither expanded samples nor the interface
//! encodings (internal, discard, multiple) this needs, and the format is
//! XDR: big-endian words, each field at a known offset.

use std::net::IpAddr;

mod decode;
mod encode;
pub mod meta;

pub use decode::{SflowError, decode};
pub use encode::encode;

/// The UDP port of sFlow.
pub const PORT: u16 = 6343;

/// One datagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Datagram {
    pub agent: IpAddr,
    pub sub_agent: u32,
    /// The agent's datagram sequence number (per sub-agent).
    pub sequence: u32,
    /// Milliseconds since the agent started.
    pub uptime_ms: u32,
    pub samples: Vec<Sample>,
    /// What was skipped (unknown formats), counted.
    pub skipped: Skipped,
}

/// Samples and records of formats this reader does not use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    pub samples: u32,
    pub records: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Sample {
    Flow(FlowSample),
    Counters(CounterSample),
}

/// A data source: its type (0 ifIndex, 1 smonVlanDataSource,
/// 2 entPhysicalEntry) and index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub kind: u32,
    pub index: u32,
}

/// An input or output interface of a flow sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// An ifIndex.
    Index(u32),
    /// Unknown, or the agent itself (0x3FFFFFFF).
    Internal,
    /// Dropped, with the reason code (RFC 1812 ICMP codes, 256+ others).
    Discard(u32),
    /// Sent to several interfaces; the count, 0 if unknown.
    Multiple(u32),
}

/// The "internal" interface value.
pub const INTERNAL: u32 = 0x3FFF_FFFF;

#[derive(Clone, Debug, PartialEq)]
pub struct FlowSample {
    /// Written in the expanded form (format 3) rather than the compact (1).
    pub expanded: bool,
    pub sequence: u32,
    pub source: Source,
    pub sampling_rate: u32,
    /// Packets that could have been sampled (cumulative, wraps at 2³²).
    pub sample_pool: u32,
    /// Samples lost for lack of resources (cumulative, wraps).
    pub drops: u32,
    pub input: Port,
    pub output: Port,
    /// The raw packet header record (flow format 1), if any.
    pub header: Option<RawHeader>,
    /// The extended gateway record (flow format 1003), if any.
    pub gateway: Option<Gateway>,
}

/// A sampled packet's first bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawHeader {
    /// sFlow header protocol (1 Ethernet, 11 IPv4, 12 IPv6, ...), see
    /// [`link_type`].
    pub protocol: u32,
    /// The packet's length on the wire, including what was stripped.
    pub frame_length: u32,
    /// Bytes removed before sampling (e.g. the 4-byte Ethernet FCS).
    pub stripped: u32,
    pub bytes: Vec<u8>,
}

/// The router's BGP view of a sampled packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gateway {
    pub next_hop: Option<IpAddr>,
    /// The router's own AS.
    pub router_as: u32,
    pub src_as: u32,
    pub src_peer_as: u32,
    /// The destination AS path, segments flattened, in order.
    pub dst_as_path: Vec<u32>,
    pub communities: Vec<u32>,
    pub local_pref: u32,
}

impl Gateway {
    /// The destination AS: the path's last, else the router's own (the
    /// destination is local).
    pub fn dst_as(&self) -> u32 {
        self.dst_as_path.last().copied().unwrap_or(self.router_as)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CounterSample {
    pub expanded: bool,
    pub sequence: u32,
    pub source: Source,
    /// The generic interface counters (counter format 1), if any.
    pub interface: Option<IfCounters>,
    /// The Ethernet interface counters (counter format 2), if any.
    pub ethernet: Option<EthCounters>,
}

/// Ethernet interface counters (RFC 2358 dot3Stats, in the spec's order):
/// alignment errors, FCS errors, single and multiple collision frames, SQE
/// test errors, deferred transmissions, late and excessive collisions,
/// internal MAC transmit errors, carrier sense errors, frames too long,
/// internal MAC receive errors, symbol errors. All cumulative, 32-bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EthCounters(pub [u32; 13]);

/// Generic interface counters (RFC 2233 names); octet counters 64-bit,
/// the rest 32-bit, all cumulative.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfCounters {
    pub if_index: u32,
    pub if_type: u32,
    pub if_speed: u64,
    pub if_direction: u32,
    pub if_status: u32,
    pub in_octets: u64,
    pub in_ucast: u32,
    pub in_multicast: u32,
    pub in_broadcast: u32,
    pub in_discards: u32,
    pub in_errors: u32,
    pub in_unknown_protos: u32,
    pub out_octets: u64,
    pub out_ucast: u32,
    pub out_multicast: u32,
    pub out_broadcast: u32,
    pub out_discards: u32,
    pub out_errors: u32,
    pub promiscuous: u32,
}

/// The link type (tcpdump.org LINKTYPE_) of an sFlow header protocol, for
/// those pktsample decodes: Ethernet (1), IPv4 (11), IPv6 (12).
pub fn link_type(protocol: u32) -> Option<u32> {
    use crate::decode::linktype;
    match protocol {
        1 => Some(linktype::ETHERNET),
        11 => Some(linktype::IPV4),
        12 => Some(linktype::IPV6),
        _ => None,
    }
}
