//! The policy what-if: which sampled traffic a set of NetworkPolicies
//! would deny, before anyone enforces them.
//!
//! The policies are those of `--k8s-policy` files (`kubectl get
//! networkpolicy -A -o json`, or a proposal written by hand) and those in
//! the `--k8s` snapshots; a `--k8s-policy` policy replaces a snapshot's of
//! the same namespace and name (a proposed revision of a policy in force).
//! Each pod's isolating policies are found once, at load; a packet is
//! judged by its connection (`eval`), so a reply shares its request's
//! fate.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pktsample_schemas::policy::{End, Flow, Outcome, PolicyCheck, Unjudged, Verdict};
use rustc_hash::FxHashMap;

use crate::api::NetworkPolicy;
use crate::error::K8sError;
use crate::{Cluster, NAMESPACE_NAME};

mod compile;
mod eval;

use compile::Compiled;
use eval::{Ep, ep_of, is_reply};

/// A namespace's labels when no Namespace object of it was read.
pub(crate) fn own_labels(namespace: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(NAMESPACE_NAME.to_string(), namespace.to_string())])
}

/// Network policies compiled over a cluster.
#[derive(Debug)]
pub struct Policies {
    cluster: Arc<Cluster>,
    set: Vec<Compiled>,
    /// Every rule as a line, by id.
    rules: Vec<String>,
    /// Per pod (index in [`Cluster::pods`]): the policies isolating it.
    ingress_of: Vec<Vec<u32>>,
    egress_of: Vec<Vec<u32>>,
    /// Every namespace's labels.
    namespaces: FxHashMap<String, BTreeMap<String, String>>,
    files: Vec<String>,
    /// Whether any rule has an ipBlock (else an address decides nothing
    /// its pod or kind does not).
    blocks: bool,
}

fn read_policies(path: &Path) -> Result<Vec<NetworkPolicy>, K8sError> {
    let c = crate::load::load(path)?;
    if c.policies.is_empty() {
        return Err(K8sError::NoPolicies {
            path: path.into(),
            what: "holds no NetworkPolicy; expected what `kubectl get networkpolicy -A -o json` writes".into(),
        });
    }
    Ok(c.policies)
}

impl Policies {
    /// The policies of `files` and of the cluster's snapshots, compiled.
    /// Nothing is returned if any file or policy is bad.
    pub fn load(cluster: Arc<Cluster>, files: &[PathBuf]) -> Result<Policies, K8sError> {
        let key = |p: &NetworkPolicy| {
            let m = &p.metadata;
            let ns = m.namespace.clone().unwrap_or_else(|| "default".into());
            (ns, m.name.clone().unwrap_or_default())
        };
        let mut chosen: BTreeMap<(String, String), (PathBuf, NetworkPolicy)> = BTreeMap::new();
        for (path, p) in cluster.policies() {
            chosen.insert(key(p), (path.clone(), p.clone()));
        }
        let in_snapshots = chosen.len();
        let mut describe = Vec::new();
        let mut replaced = 0;
        for f in files {
            let v = read_policies(f)?;
            describe.push(format!("{} ({} network policies)", f.display(), v.len()));
            for p in v {
                if chosen.insert(key(&p), (f.clone(), p)).is_some() {
                    replaced += 1;
                }
            }
        }
        if in_snapshots > 0 {
            describe.push(format!(
                "{in_snapshots} network policies of the --k8s snapshots ({replaced} replaced by --k8s-policy)"
            ));
        }
        let mut rules = Vec::new();
        let set = chosen
            .values()
            .map(|(path, p)| compile::compile(path, p, &mut rules))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::index(cluster, set, rules, describe))
    }

    fn index(
        cluster: Arc<Cluster>,
        set: Vec<Compiled>,
        rules: Vec<String>,
        files: Vec<String>,
    ) -> Policies {
        let n = cluster.pods().len();
        let (mut ingress_of, mut egress_of) = (vec![Vec::new(); n], vec![Vec::new(); n]);
        let mut namespaces = FxHashMap::default();
        for (i, pod) in cluster.pods().iter().enumerate() {
            namespaces
                .entry(pod.namespace.clone())
                .or_insert_with(|| cluster.namespace_labels(&pod.namespace));
            for (k, c) in set.iter().enumerate() {
                if c.namespace != pod.namespace || !c.selector.matches(&pod.labels) {
                    continue;
                }
                if c.ingress.is_some() {
                    ingress_of[i].push(k as u32);
                }
                if c.egress.is_some() {
                    egress_of[i].push(k as u32);
                }
            }
        }
        let blocks = set.iter().any(|c| {
            let rules = c.ingress.iter().chain(&c.egress).flatten();
            rules
                .flat_map(|r| r.peers.iter().flatten())
                .any(|p| matches!(p, compile::Peer::Block { .. }))
        });
        Policies {
            blocks,
            cluster,
            set,
            rules,
            ingress_of,
            egress_of,
            namespaces,
            files,
        }
    }

    /// The policies' count.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    fn ep_ip(&self, ip: IpAddr, t: i64) -> Ep<'_> {
        let (key, w) = self.cluster.who_keyed(ip, t);
        ep_of(w, key, ip)
    }

    /// The outcome of a connection from `client` to `server` at `t`
    /// (`proto` an IP protocol number, `port` the server's).
    pub fn connection(
        &self,
        client: IpAddr,
        server: IpAddr,
        t: i64,
        proto: u8,
        port: Option<u16>,
    ) -> Outcome {
        let (c, s) = (self.ep_ip(client, t), self.ep_ip(server, t));
        if matches!(c, Ep::Service) || matches!(s, Ep::Service) {
            return Outcome::Unjudged(Unjudged::Service);
        }
        self.judge_connection(&c, &s, Some(proto), port)
    }
}

/// What a connection's outcome depends on: each end (its pod or kind,
/// and its address, for ipBlocks and for which node it is), the protocol
/// and the server's port.
type JudgedKey = (
    (u64, Option<IpAddr>),
    (u64, Option<IpAddr>),
    Option<u8>,
    Option<u16>,
);

/// An end's identity for [`JudgedKey`].
fn ep_key(e: &Ep) -> (u64, Option<IpAddr>) {
    match e {
        Ep::Pod(i, _, ip) => (u64::from(*i), *ip),
        Ep::Service => (1 << 40, None),
        Ep::Node(_, ip) => (2 << 40, *ip),
        Ep::Other(ip) => (3 << 40, *ip),
    }
}

/// What one batch has resolved: pods by name (per snapshot) and outcomes.
#[derive(Default)]
struct Memo<'f> {
    pods: FxHashMap<(usize, &'f str, &'f str), Option<u32>>,
    judged: FxHashMap<JudgedKey, Outcome>,
}

impl Policies {
    fn ep_memo<'f>(&self, e: &End<'f>, t: i64, memo: &mut Memo<'f>) -> Ep<'_> {
        if let (Some(ns), Some(pod)) = (e.namespace, e.pod) {
            let epoch = self.cluster.epoch(t);
            let i = *memo
                .pods
                .entry((epoch, ns, pod))
                .or_insert_with(|| self.cluster.pod_named(ns, pod, t).map(|(i, _)| i));
            if let Some(i) = i {
                return Ep::Pod(i, &self.cluster.pods()[i as usize], e.ip);
            }
        }
        match e.ip {
            Some(ip) => self.ep_ip(ip, t),
            None => Ep::Other(None),
        }
    }

    fn verdict<'f>(&self, f: &Flow<'f>, memo: &mut Memo<'f>) -> Verdict {
        let src = self.ep_memo(&f.src, f.t, memo);
        let dst = self.ep_memo(&f.dst, f.t, memo);
        let reply = is_reply(&src, &dst, f.proto, (f.src_port, f.dst_port), f.tcp_flags);
        let (client, server, server_port) = match reply {
            true => (dst, src, f.src_port),
            false => (src, dst, f.dst_port),
        };
        let outcome = match (&client, &server) {
            (Ep::Service, _) | (_, Ep::Service) => Outcome::Unjudged(Unjudged::Service),
            _ => {
                // A node's address always counts: which node it is
                // decides whether it is the pod's own.
                let key = |e: &Ep| {
                    let (k, ip) = ep_key(e);
                    (k, ip.filter(|_| self.blocks || matches!(e, Ep::Node(..))))
                };
                let k = (key(&client), key(&server), f.proto, server_port);
                *memo.judged.entry(k).or_insert_with(|| {
                    self.judge_connection(&client, &server, f.proto, server_port)
                })
            }
        };
        let declared = match (server.pod(), f.proto, server_port) {
            (Some(p), Some(pr), Some(port)) => {
                p.ports.iter().any(|c| c.protocol == pr && c.port == port)
            }
            _ => false,
        };
        Verdict {
            outcome,
            reply,
            server_port,
            declared,
        }
    }
}

impl PolicyCheck for Policies {
    fn verdicts(&self, flows: &[Flow], out: &mut Vec<Verdict>) {
        let mut memo = Memo::default();
        out.extend(flows.iter().map(|f| self.verdict(f, &mut memo)));
    }

    fn rule(&self, id: u32) -> &str {
        self.rules.get(id as usize).map_or("", String::as_str)
    }

    fn describe(&self) -> Vec<String> {
        self.files.clone()
    }
}
