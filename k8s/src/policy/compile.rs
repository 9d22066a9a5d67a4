//! NetworkPolicies as the API spells them turned into what evaluation
//! reads: selectors as lists of requirements, CIDRs parsed, ports as
//! protocol numbers and ranges, each rule numbered and described once.
//!
//! Anything the API server would refuse (an unknown operator or protocol,
//! a bad CIDR, an endPort without a numeric port or below it) is refused
//! here with the file and the policy named, rather than evaluated as some
//! guess.

use std::collections::BTreeMap;
use std::path::Path;

use ipnet::IpNet;

use crate::api::{IntOrString, LabelSelector, NetworkPolicy, PolicyPeer, PolicyPort, PolicyRule};
use crate::cluster::protocol_number;
use crate::error::K8sError;

/// One requirement of a label selector.
#[derive(Clone, Debug)]
pub(crate) enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A label selector: every requirement must hold (none: everything).
#[derive(Clone, Debug, Default)]
pub(crate) struct Selector(pub Vec<Requirement>);

impl Selector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::In(k, v) => labels.get(k).is_some_and(|x| v.contains(x)),
            Requirement::NotIn(k, v) => labels.get(k).is_none_or(|x| !v.contains(x)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }

    fn text(&self) -> String {
        if self.0.is_empty() {
            return "all".into();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|r| match r {
                Requirement::In(k, v) if v.len() == 1 => format!("{k}={}", v[0]),
                Requirement::In(k, v) => format!("{k} in ({})", v.join(",")),
                Requirement::NotIn(k, v) => format!("{k} notin ({})", v.join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        parts.join(",")
    }
}

/// Which namespaces a pod peer may be in.
#[derive(Clone, Debug)]
pub(crate) enum Namespaces {
    /// The policy's own.
    Own,
    Matching(Selector),
}

#[derive(Clone, Debug)]
pub(crate) enum Peer {
    Pods {
        namespaces: Namespaces,
        pods: Selector,
    },
    Block {
        net: IpNet,
        except: Vec<IpNet>,
    },
}

/// The port of a rule's port entry.
#[derive(Clone, Debug)]
pub(crate) enum PortSpec {
    /// Every port of the protocol.
    Any,
    Range(u16, u16),
    /// A container port's name, resolved on the pod the traffic is to.
    Named(String),
}

#[derive(Clone, Debug)]
pub(crate) struct Port {
    pub protocol: u8,
    pub port: PortSpec,
}

/// An ingress or egress rule: None for peers or ports is "every".
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub peers: Option<Vec<Peer>>,
    pub ports: Option<Vec<Port>>,
    /// Its index in the set's rule descriptions.
    pub id: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub namespace: String,
    pub name: String,
    pub selector: Selector,
    /// None: the policy does not govern that direction (policyTypes).
    pub ingress: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
}

/// What went wrong with a policy, for the error naming it.
type Bad = String;

fn selector(s: &LabelSelector) -> Result<Selector, Bad> {
    let mut v: Vec<Requirement> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, x)| Requirement::In(k.clone(), vec![x.clone()]))
        .collect();
    for e in s.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default();
        let k = e.key.clone();
        v.push(match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(format!(
                    "matchExpressions on '{k}': {} needs values",
                    e.operator
                ));
            }
            "In" => Requirement::In(k, values),
            "NotIn" => Requirement::NotIn(k, values),
            "Exists" => Requirement::Exists(k),
            "DoesNotExist" => Requirement::DoesNotExist(k),
            op => {
                return Err(format!(
                    "matchExpressions on '{k}': unknown operator '{op}'"
                ));
            }
        });
    }
    Ok(Selector(v))
}

fn net(text: &str) -> Result<IpNet, Bad> {
    text.parse::<IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| format!("ipBlock: '{text}' is not a CIDR"))
}

fn peer(p: &PolicyPeer) -> Result<Peer, Bad> {
    if let Some(b) = &p.ip_block {
        if p.pod_selector.is_some() || p.namespace_selector.is_some() {
            return Err("a peer with ipBlock and a selector".into());
        }
        let except = b
            .except
            .iter()
            .flatten()
            .map(|e| net(e))
            .collect::<Result<_, _>>()?;
        return Ok(Peer::Block {
            net: net(&b.cidr)?,
            except,
        });
    }
    let namespaces = match &p.namespace_selector {
        Some(s) => Namespaces::Matching(selector(s)?),
        None if p.pod_selector.is_none() => return Err("an empty peer".into()),
        None => Namespaces::Own,
    };
    let pods = match &p.pod_selector {
        Some(s) => selector(s)?,
        None => Selector::default(),
    };
    Ok(Peer::Pods { namespaces, pods })
}

fn port(p: &PolicyPort) -> Result<Port, Bad> {
    let protocol = protocol_number(p.protocol.as_deref()).ok_or_else(|| {
        format!(
            "ports: unknown protocol '{}' (TCP, UDP or SCTP)",
            p.protocol.as_deref().unwrap_or_default()
        )
    })?;
    let num = |n: i32| u16::try_from(n).ok().filter(|&n| n > 0);
    let port = match (&p.port, p.end_port) {
        (None, None) => PortSpec::Any,
        (Some(IntOrString::Int(n)), end) => {
            let a = num(*n).ok_or_else(|| format!("ports: {n} is not a port"))?;
            let b = match end {
                Some(e) => num(e)
                    .filter(|&e| e >= a)
                    .ok_or_else(|| format!("ports: endPort {e} is not a port at or above {a}"))?,
                None => a,
            };
            PortSpec::Range(a, b)
        }
        (Some(IntOrString::Str(name)), None) => PortSpec::Named(name.clone()),
        (_, Some(_)) => return Err("ports: endPort needs a numeric port".into()),
    };
    Ok(Port { protocol, port })
}

fn peer_text(p: &Peer) -> String {
    match p {
        Peer::Pods { namespaces, pods } => {
            let ns = match namespaces {
                Namespaces::Own => String::new(),
                Namespaces::Matching(s) if s.0.is_empty() => " in all namespaces".into(),
                Namespaces::Matching(s) => format!(" in namespaces {}", s.text()),
            };
            format!("pods {}{ns}", pods.text())
        }
        Peer::Block { net, except } if except.is_empty() => net.to_string(),
        Peer::Block { net, except } => {
            let e: Vec<String> = except.iter().map(|n| n.to_string()).collect();
            format!("{net} except {}", e.join(","))
        }
    }
}

fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "TCP",
        17 => "UDP",
        _ => "SCTP",
    }
}

fn port_text(p: &Port) -> String {
    let n = proto_name(p.protocol);
    match &p.port {
        PortSpec::Any => format!("{n} any"),
        PortSpec::Range(a, b) if a == b => format!("{n} {a}"),
        PortSpec::Range(a, b) => format!("{n} {a}-{b}"),
        PortSpec::Named(s) => format!("{n} {s}"),
    }
}

/// A rule as a line: `payments/allow-api ingress 1: from pods app=frontend
/// in namespaces team=shop, TCP 8080`.
fn describe(c: &Compiled, ingress: bool, i: usize, r: &Rule) -> String {
    let (dir, word) = match ingress {
        true => ("ingress", "from"),
        false => ("egress", "to"),
    };
    let peers = match &r.peers {
        None => "anywhere".to_string(),
        Some(v) => v.iter().map(peer_text).collect::<Vec<_>>().join(" or "),
    };
    let ports = match &r.ports {
        None => "any port".to_string(),
        Some(v) => v.iter().map(port_text).collect::<Vec<_>>().join(", "),
    };
    format!(
        "{}/{} {dir} {}: {word} {peers}, {ports}",
        c.namespace,
        c.name,
        i + 1
    )
}

fn rules(v: &[PolicyRule], texts: &[String]) -> Result<Vec<Rule>, Bad> {
    let mut out = Vec::with_capacity(v.len());
    for r in v {
        // An empty list is "every", as an absent one (the API's reading).
        let peers = match r.from.as_deref() {
            None | Some([]) => None,
            Some(p) => Some(p.iter().map(peer).collect::<Result<_, _>>()?),
        };
        let ports = match r.ports.as_deref() {
            None | Some([]) => None,
            Some(p) => Some(p.iter().map(port).collect::<Result<_, _>>()?),
        };
        out.push(Rule {
            peers,
            ports,
            id: texts.len() as u32 + out.len() as u32,
        });
    }
    Ok(out)
}

/// One policy compiled; its rules' descriptions appended to `texts`.
pub(crate) fn compile(
    path: &Path,
    p: &NetworkPolicy,
    texts: &mut Vec<String>,
) -> Result<Compiled, K8sError> {
    let namespace = p
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = p.metadata.name.clone().unwrap_or_default();
    let bad = |what: Bad| K8sError::Policy {
        path: path.into(),
        policy: format!("{namespace}/{name}"),
        what,
    };
    let s = &p.spec;
    let types: Vec<&str> = match &s.policy_types {
        Some(t) => t.iter().map(String::as_str).collect(),
        None if s.egress.is_some() => vec!["Ingress", "Egress"],
        None => vec!["Ingress"],
    };
    if let Some(t) = types.iter().find(|t| !matches!(**t, "Ingress" | "Egress")) {
        return Err(bad(format!(
            "policyTypes: unknown type '{t}' (Ingress or Egress)"
        )));
    }
    let mut c = Compiled {
        selector: selector(&s.pod_selector).map_err(bad)?,
        namespace: namespace.clone(),
        name: name.clone(),
        ingress: None,
        egress: None,
    };
    if types.contains(&"Ingress") {
        let r = rules(s.ingress.as_deref().unwrap_or_default(), texts).map_err(bad)?;
        texts.extend(r.iter().enumerate().map(|(i, r)| describe(&c, true, i, r)));
        c.ingress = Some(r);
    }
    if types.contains(&"Egress") {
        let r = rules(s.egress.as_deref().unwrap_or_default(), texts).map_err(bad)?;
        texts.extend(r.iter().enumerate().map(|(i, r)| describe(&c, false, i, r)));
        c.egress = Some(r);
    }
    Ok(c)
}
