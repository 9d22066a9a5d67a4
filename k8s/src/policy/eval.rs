//! Judging one connection under `networking.k8s.io/v1` semantics.
//!
//! A pod is isolated for ingress (egress) when any policy of its
//! namespace with that type selects it; an isolated pod's traffic in that
//! direction is allowed only if some rule of those policies matches both
//! the peer and the port, and a connection needs the client's egress and
//! the server's ingress. Traffic to and from a pod's own node is always
//! allowed (the API's documented limit: a pod cannot block its node), as is a
//! pod's traffic to itself. An ipBlock matches any address in it, a pod's
//! as well (as Calico and the upstream conformance tests read it); a
//! named port is the server pod's container port of that name and
//! protocol; a rule with ports never matches a protocol without them.

use std::net::IpAddr;

use pktsample_schemas::policy::{Denier, Outcome};

use super::Policies;
use super::compile::{Compiled, Namespaces, Peer, PortSpec, Rule};
use crate::{PodInfo, Who};

/// One end of a connection.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ep<'c> {
    Pod(u32, &'c PodInfo, Option<IpAddr>),
    Service,
    Node(&'c str, Option<IpAddr>),
    Other(Option<IpAddr>),
}

impl Ep<'_> {
    fn ip(&self) -> Option<IpAddr> {
        match *self {
            Ep::Pod(_, _, ip) | Ep::Node(_, ip) | Ep::Other(ip) => ip,
            Ep::Service => None,
        }
    }

    pub fn pod(&self) -> Option<&PodInfo> {
        match self {
            Ep::Pod(_, p, _) => Some(p),
            _ => None,
        }
    }
}

pub(crate) fn ep_of(w: Who<'_>, key: u64, ip: IpAddr) -> Ep<'_> {
    match w {
        Who::Pod(p) => Ep::Pod((key & 0xffff_ffff) as u32, p, Some(ip)),
        Who::Service(_) => Ep::Service,
        Who::Node(n) => Ep::Node(n, Some(ip)),
        Who::Outside(_) => Ep::Other(Some(ip)),
    }
}

/// What a direction's policies say of a connection.
enum Said {
    /// No policy isolates the pod.
    Open,
    Allowed,
    /// Denied, with the nearest rule.
    Denied(Option<u32>),
}

impl Policies {
    fn peer_matches(&self, p: &Peer, policy: &Compiled, e: &Ep) -> bool {
        match p {
            Peer::Pods { namespaces, pods } => {
                let Some(pod) = e.pod() else { return false };
                let ns = match namespaces {
                    Namespaces::Own => pod.namespace == policy.namespace,
                    Namespaces::Matching(s) => match self.namespaces.get(&pod.namespace) {
                        Some(l) => s.matches(l),
                        None => s.matches(&crate::policy::own_labels(&pod.namespace)),
                    },
                };
                ns && pods.matches(&pod.labels)
            }
            Peer::Block { net, except } => e
                .ip()
                .is_some_and(|ip| net.contains(&ip) && !except.iter().any(|x| x.contains(&ip))),
        }
    }

    fn peers_match(&self, r: &Rule, policy: &Compiled, e: &Ep) -> bool {
        match &r.peers {
            None => true,
            Some(v) => v.iter().any(|p| self.peer_matches(p, policy, e)),
        }
    }

    /// Whether the rule's ports admit (`proto`, `port`) to `server`.
    fn ports_match(r: &Rule, proto: Option<u8>, port: Option<u16>, server: &Ep) -> bool {
        let Some(v) = &r.ports else { return true };
        let Some(proto) = proto else { return false };
        v.iter().any(|p| {
            p.protocol == proto
                && match (&p.port, port) {
                    (PortSpec::Any, _) => true,
                    (PortSpec::Range(a, b), Some(x)) => (*a..=*b).contains(&x),
                    (PortSpec::Named(n), Some(x)) => server.pod().is_some_and(|s| {
                        s.ports
                            .iter()
                            .any(|c| c.protocol == proto && c.port == x && &c.name == n)
                    }),
                    (_, None) => false,
                }
        })
    }

    /// One direction: the policies isolating `pod` that way, judging the
    /// `peer` (the far end) on (`proto`, `port`) to `server`.
    fn judge(
        &self,
        ids: &[u32],
        egress: bool,
        peer: &Ep,
        server: &Ep,
        proto: Option<u8>,
        port: Option<u16>,
    ) -> Said {
        if ids.is_empty() {
            return Said::Open;
        }
        let all = ids.iter().flat_map(|&i| {
            let c = &self.set[i as usize];
            let r = if egress { &c.egress } else { &c.ingress };
            r.as_deref().unwrap_or_default().iter().map(move |r| (c, r))
        });
        let (mut peer_only, mut port_only) = (None, None);
        for (c, r) in all {
            let pe = self.peers_match(r, c, peer);
            let po = Self::ports_match(r, proto, port, server);
            if pe && po {
                return Said::Allowed;
            }
            if pe && peer_only.is_none() {
                peer_only = Some(r.id);
            }
            if po && port_only.is_none() {
                port_only = Some(r.id);
            }
        }
        Said::Denied(peer_only.or(port_only))
    }

    /// The outcome of a connection from `client` to `server` on
    /// (`proto`, `port`).
    pub(crate) fn judge_connection(
        &self,
        client: &Ep,
        server: &Ep,
        proto: Option<u8>,
        port: Option<u16>,
    ) -> Outcome {
        if let (Ep::Pod(a, ..), Ep::Pod(b, ..)) = (client, server)
            && a == b
        {
            return Outcome::Allowed;
        }
        let egress = match (client, server) {
            (Ep::Pod(_, c, _), Ep::Node(n, _)) if c.node.as_deref() == Some(*n) => Said::Open,
            (Ep::Pod(i, ..), _) => {
                let ids = &self.egress_of[*i as usize];
                self.judge(ids, true, server, server, proto, port)
            }
            _ => Said::Open,
        };
        let ingress = match (server, client) {
            (Ep::Pod(_, s, _), Ep::Node(n, _)) if s.node.as_deref() == Some(*n) => Said::Open,
            (Ep::Pod(i, ..), _) => {
                let ids = &self.ingress_of[*i as usize];
                self.judge(ids, false, client, server, proto, port)
            }
            _ => Said::Open,
        };
        match (egress, ingress) {
            (Said::Denied(e), Said::Denied(i)) => Outcome::Denied {
                by: Denier::Both,
                rule: i.or(e),
            },
            (Said::Denied(rule), _) => Outcome::Denied {
                by: Denier::Egress,
                rule,
            },
            (_, Said::Denied(rule)) => Outcome::Denied {
                by: Denier::Ingress,
                rule,
            },
            _ => Outcome::Allowed,
        }
    }
}

/// Whether a packet from `src` to `dst` is its connection's reply: a TCP
/// SYN+ACK is, a SYN is not; else the end whose port is a container port
/// of its pod is the server; else the lower port is the server's.
pub(crate) fn is_reply(
    src: &Ep,
    dst: &Ep,
    proto: Option<u8>,
    ports: (Option<u16>, Option<u16>),
    flags: Option<u8>,
) -> bool {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    if proto == Some(6)
        && let Some(f) = flags
        && f & SYN != 0
    {
        return f & ACK != 0;
    }
    let (Some(sp), Some(dp), Some(pr)) = (ports.0, ports.1, proto) else {
        return false;
    };
    let serves = |e: &Ep, port: u16| {
        e.pod()
            .is_some_and(|p| p.ports.iter().any(|c| c.protocol == pr && c.port == port))
    };
    if serves(dst, dp) {
        return false;
    }
    if serves(src, sp) {
        return true;
    }
    sp < dp
}
