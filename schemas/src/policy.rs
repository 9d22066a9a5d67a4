//! The contract of the policy what-if (`analyze --k8s-policy`): what a
//! sampled packet's verdict is under a set of network policies, asked of
//! a source analyze knows only by this trait (the Kubernetes crate
//! implements it; analyze does not depend on it).
//!
//! A verdict is a connection's: a reply is allowed or denied with the
//! request that opened it, so every packet of a denied connection counts
//! as cut, whichever way it goes.

use std::net::IpAddr;

/// One side of a packet: its address, and its pod where the samples'
/// Kubernetes columns name one (a pod's host-side interface names it even
/// when the address is NATed).
#[derive(Clone, Copy, Debug, Default)]
pub struct End<'a> {
    pub ip: Option<IpAddr>,
    pub namespace: Option<&'a str>,
    pub pod: Option<&'a str>,
}

/// A sampled packet, as far as policies look at it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flow<'a> {
    /// ns since the epoch: which snapshot's pods and labels apply.
    pub t: i64,
    pub src: End<'a>,
    pub dst: End<'a>,
    pub proto: Option<u8>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub tcp_flags: Option<u8>,
}

/// Which side's policies deny a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Denier {
    /// The client's egress policies.
    Egress,
    /// The server's ingress policies.
    Ingress,
    Both,
}

/// Why a packet was not judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unjudged {
    /// To or from a service's virtual IP: policies apply to the backend
    /// pods behind it, which the sample does not show.
    Service,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Allowed,
    /// Denied, with the rule that would have allowed similar traffic (the
    /// same peer on another port, else the same port from another peer),
    /// if any: an id for [`PolicyCheck::rule`].
    Denied {
        by: Denier,
        rule: Option<u32>,
    },
    Unjudged(Unjudged),
}

/// A packet's verdict, and which way it goes in its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// The packet goes from the server to the client (a reply).
    pub reply: bool,
    /// The server's port (None: a protocol without ports).
    pub server_port: Option<u16>,
    /// The server's port is one its pod declares (a container port).
    pub declared: bool,
}

/// A set of network policies over a cluster.
pub trait PolicyCheck: Send + Sync + std::fmt::Debug {
    /// The verdicts of a batch's packets, in order, appended to `out` (a
    /// batch at a time: what its packets share is resolved once).
    fn verdicts(&self, flows: &[Flow], out: &mut Vec<Verdict>);
    /// A rule as a line (`payments/allow-api ingress 1: from …, TCP 8080`).
    fn rule(&self, id: u32) -> &str;
    /// The policies read and where from, for the report.
    fn describe(&self) -> Vec<String>;
}
