//! What a samples file made from sFlow says of its input (metadata 1.3):
//! the agents, what was lost between them and the collector, what could
//! not be read, and each data source's own interface counters, which
//! analyze sets beside its estimates (the calibration check).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{EthCounters, IfCounters};

/// The `sflow` section of the capture metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SflowMeta {
    /// Per agent and sub-agent, in the order first heard.
    pub agents: Vec<AgentMeta>,
    /// Datagrams the kernel dropped because the collector's socket buffer
    /// was full (collect; they are among the agents' lost datagrams too).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub socket_drops: u64,
    /// Datagrams that could not be read (not sFlow 5, truncated, lengths
    /// that overrun): none of their samples are in the file.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bad_datagrams: u64,
    /// The first few of those errors, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Samples and records of formats or enterprises not read, skipped by
    /// their length.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_samples: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_records: u64,
    /// Flow samples that give no row, by reason (no raw packet header, a
    /// header protocol pktsample does not decode, rate 0). Their packets
    /// are in their data source's pool and they count as its drops.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unusable_samples: BTreeMap<String, u64>,
    /// Interface counters of the data sources that sent them: the first
    /// and last counter sample of each in this file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counters: Vec<CounterSpan>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SflowMeta {
    /// Lost datagrams and samples over every agent.
    pub fn lost(&self) -> (u64, u64) {
        self.agents.iter().fold((0, 0), |(d, s), a| {
            (d + a.lost_datagrams, s + a.lost_samples)
        })
    }
}

/// One agent (and sub-agent) as heard in this file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMeta {
    pub agent: String,
    pub sub_agent: u32,
    pub datagrams: u64,
    /// Gaps in the datagram sequence numbers.
    pub lost_datagrams: u64,
    /// Gaps in the flow sample sequence numbers of its data sources
    /// (counted among the drops of their strata).
    pub lost_samples: u64,
    /// Times the agent started again (its sequence or uptime went back):
    /// each start begins new strata.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u64,
    /// Datagrams that came after a later one (reordered or repeated):
    /// already counted as lost, left out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub late_datagrams: u64,
}

/// A data source's interface counters at the start and end of the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSpan {
    /// The data source's stratum name (the `ifname` of its samples).
    pub interface: String,
    pub first: CounterPoint,
    pub last: CounterPoint,
}

/// One counter sample: when it arrived and the counters that matter to
/// the check (octets count the frame with its FCS, as RFC 2863 does).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterPoint {
    /// Nanoseconds since the Unix epoch: the datagram's arrival (collect)
    /// or capture (convert) time, as the samples' timestamps.
    pub time_ns: i64,
    pub if_index: u32,
    pub in_octets: u64,
    pub in_packets: [u32; 3],
    pub out_octets: u64,
    pub out_packets: [u32; 3],
    /// The Ethernet counters sent with them (dot3Stats: alignment and FCS
    /// errors, collisions, ...), when the agent sends them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethernet: Option<EthCounters>,
}

impl CounterPoint {
    pub fn new(time_ns: i64, c: &IfCounters, ethernet: Option<EthCounters>) -> Self {
        CounterPoint {
            ethernet,
            time_ns,
            if_index: c.if_index,
            in_octets: c.in_octets,
            in_packets: [c.in_ucast, c.in_multicast, c.in_broadcast],
            out_octets: c.out_octets,
            out_packets: [c.out_ucast, c.out_multicast, c.out_broadcast],
        }
    }
}

impl CounterSpan {
    /// Packets and octets, in and out, counted between the two samples
    /// (32-bit packet counters corrected for one wrap each).
    pub fn delta(&self) -> CounterDelta {
        let (a, b) = (&self.first, &self.last);
        let pk = |x: &[u32; 3], y: &[u32; 3]| -> u64 {
            (0..3).map(|i| u64::from(y[i].wrapping_sub(x[i]))).sum()
        };
        CounterDelta {
            in_packets: pk(&a.in_packets, &b.in_packets),
            in_octets: b.in_octets.wrapping_sub(a.in_octets),
            out_packets: pk(&a.out_packets, &b.out_packets),
            out_octets: b.out_octets.wrapping_sub(a.out_octets),
        }
    }
}

/// What a data source's counters counted over a span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterDelta {
    pub in_packets: u64,
    pub in_octets: u64,
    pub out_packets: u64,
    pub out_octets: u64,
}
