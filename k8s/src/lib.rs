//! Kubernetes context for sampled packets: which namespace, workload, pod
//! and node an address (or a pod's host-side interface) belonged to when a
//! sample was taken, from snapshots of the cluster as `kubectl … -o json`
//! writes them.
//!
//! Operators think in namespaces and workloads, the samples speak of
//! addresses. Pod IPs are reused as pods come and go, so snapshots carry a
//! time and each sample is resolved against the one valid at its timestamp
//! ([`Cluster::who`]). Addresses that are no pod, service or node are
//! labelled as the AS columns label them (`public`, `private`,
//! `documentation`, …), never lumped in with a workload.
//!
//! Here: the lookups; `load` reads a file, `cluster` builds the tables,
//! `workload` follows ownerReferences, `veth` names pods' interfaces.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use rustc_hash::FxHashMap;

mod api;
mod cluster;
mod error;
mod load;
mod policy;
mod timeline;
mod veth;
mod workload;

pub use api::NetworkPolicy;
pub use error::K8sError;
pub use policy::Policies;
pub use veth::calico_veth;

use timeline::Timeline;

/// A snapshot file and the time it was taken (None: its modification
/// time).
#[derive(Clone, Debug)]
pub struct Source {
    pub path: PathBuf,
    /// Nanoseconds since the Unix epoch.
    pub time: Option<i64>,
}

/// A pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    /// `kind/name` of its controller, the kind in lower case
    /// (`deployment/frontend`; `pod/NAME` without an owner).
    pub workload: String,
    pub node: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// The ports its containers declare (what named ports in policies
    /// resolve to).
    pub ports: Vec<NamedPort>,
}

/// A container port: its name (may be empty), IP protocol number and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPort {
    pub name: String,
    pub protocol: u8,
    pub port: u16,
}

/// A service (its ClusterIPs, external IPs and load-balancer IPs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    pub namespace: String,
    /// `service/NAME`.
    pub workload: String,
}

/// What an address was at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who<'c> {
    Pod(&'c PodInfo),
    Service(&'c ServiceInfo),
    /// A node's address (and every hostNetwork pod's on it).
    Node(&'c str),
    /// Not the cluster's: `public`, or the special-purpose class of the
    /// address (`private`, `documentation`, `loopback`, …).
    Outside(&'static str),
}

impl<'c> Who<'c> {
    pub fn namespace(self) -> Option<&'c str> {
        match self {
            Who::Pod(p) => Some(&p.namespace),
            Who::Service(s) => Some(&s.namespace),
            _ => None,
        }
    }

    /// The workload (`deployment/frontend`, `service/api`), or the label of
    /// an address that is not a workload's: `node`, `public`, `private`, ….
    /// Workloads hold a '/', labels never do.
    pub fn workload(self) -> &'c str {
        match self {
            Who::Pod(p) => &p.workload,
            Who::Service(s) => &s.workload,
            Who::Node(_) => "node",
            Who::Outside(l) => l,
        }
    }

    pub fn pod(self) -> Option<&'c str> {
        match self {
            Who::Pod(p) => Some(&p.name),
            _ => None,
        }
    }

    pub fn node(self) -> Option<&'c str> {
        match self {
            Who::Pod(p) => p.node.as_deref(),
            Who::Node(n) => Some(n),
            _ => None,
        }
    }

    /// Whether the address is the cluster's (a pod, service or node).
    pub fn in_cluster(self) -> bool {
        !matches!(self, Who::Outside(_))
    }
}

/// The label the API server gives every namespace: its name.
pub const NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";

/// The kinds of [`Cluster::who_keyed`]'s keys (the index below).
const KEY_POD: u64 = 1 << 40;
const KEY_SERVICE: u64 = 2 << 40;
const KEY_NODE: u64 = 3 << 40;
const KEY_OUTSIDE: u64 = 4 << 40;

/// The cluster, from its snapshots.
#[derive(Debug, Default)]
pub struct Cluster {
    pods: Vec<PodInfo>,
    services: Vec<ServiceInfo>,
    nodes: Vec<String>,
    pod_ips: Timeline<FxHashMap<IpAddr, u32>>,
    /// (namespace, name) -> pod, on the same times as `pod_ips`.
    pod_names: Timeline<FxHashMap<(String, String), u32>>,
    service_ips: Timeline<FxHashMap<IpAddr, u32>>,
    node_ips: FxHashMap<IpAddr, u32>,
    /// Host-side interface -> (namespace, pod).
    interfaces: FxHashMap<String, (String, String)>,
    files: Vec<String>,
    policies: Vec<(PathBuf, NetworkPolicy)>,
    /// Namespace -> its labels (from Namespace objects; every namespace
    /// also has `kubernetes.io/metadata.name`).
    namespaces: FxHashMap<String, BTreeMap<String, String>>,
}

fn mtime_ns(path: &std::path::Path) -> Result<i64, K8sError> {
    let io = |source| K8sError::Io {
        path: path.into(),
        source,
    };
    let t = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(io)?;
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ok(d.as_nanos() as i64)
}

fn time_text(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Cluster {
    /// Read the snapshot files. Nothing is returned if any file is
    /// unreadable, foreign or in conflict with another.
    pub fn load(sources: &[Source]) -> Result<Cluster, K8sError> {
        let mut groups: BTreeMap<i64, Vec<_>> = BTreeMap::new();
        let mut describe = Vec::new();
        for s in sources {
            let t = match s.time {
                Some(t) => t,
                None => mtime_ns(&s.path)?,
            };
            let c = load::load(&s.path)?;
            describe.push(format!(
                "{} (at {}: {} pods, {} services, {} nodes, {} endpoints, {} network policies{})",
                s.path.display(),
                time_text(t),
                c.pods.len(),
                c.services.len(),
                c.nodes.len(),
                c.endpoints.len(),
                c.policies.len(),
                match c.skipped {
                    0 => String::new(),
                    n => format!(", {n} other items skipped"),
                }
            ));
            groups.entry(t).or_default().push((s.path.clone(), c));
        }
        cluster::build(groups, describe)
    }

    /// What `ip` was at `t` (ns since the epoch): a pod of the snapshot
    /// valid then, else a service, else a node, else outside.
    pub fn who(&self, ip: IpAddr, t: i64) -> Who<'_> {
        self.who_keyed(ip, t).1
    }

    /// [`Cluster::who`] with a number unique to the answer (a pod's,
    /// service's or node's index in its kind, or the label's).
    pub fn who_keyed(&self, ip: IpAddr, t: i64) -> (u64, Who<'_>) {
        if let Some((_, m)) = self.pod_ips.at(t)
            && let Some(&i) = m.get(&ip)
        {
            return (KEY_POD | i as u64, Who::Pod(&self.pods[i as usize]));
        }
        if let Some((_, m)) = self.service_ips.at(t)
            && let Some(&i) = m.get(&ip)
        {
            return (
                KEY_SERVICE | i as u64,
                Who::Service(&self.services[i as usize]),
            );
        }
        if let Some(&n) = self.node_ips.get(&ip) {
            return (KEY_NODE | n as u64, Who::Node(&self.nodes[n as usize]));
        }
        let class = pktsample_asn::classify(ip);
        let k = class.map_or(0xff, |u| u as u64);
        (
            KEY_OUTSIDE | k,
            Who::Outside(class.map_or("public", |u| u.label())),
        )
    }

    /// The index of the pod snapshot valid at `t`: samples of one index
    /// resolve an address alike (for caches).
    pub fn epoch(&self, t: i64) -> usize {
        self.pod_ips.at(t).map_or(0, |(i, _)| i) << 16
            | self.service_ips.at(t).map_or(0, |(i, _)| i)
    }

    /// The pod whose host-side interface is `name`, at `t`.
    pub fn pod_on(&self, name: &str, t: i64) -> Option<&PodInfo> {
        self.pod_on_indexed(name, t).map(|(_, p)| p)
    }

    fn pod_on_indexed(&self, name: &str, t: i64) -> Option<(u32, &PodInfo)> {
        let key = self.interfaces.get(name)?;
        let (_, names) = self.pod_names.at(t)?;
        names.get(key).map(|&i| (i, &self.pods[i as usize]))
    }

    /// One line per file: its path, time and what it held.
    pub fn describe(&self) -> &[String] {
        &self.files
    }

    /// The network policies of every snapshot, with their files.
    pub fn policies(&self) -> &[(PathBuf, NetworkPolicy)] {
        &self.policies
    }

    /// A namespace's labels: those of its Namespace object, and always
    /// `kubernetes.io/metadata.name` (which the API server sets).
    pub fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String> {
        let mut l = self.namespaces.get(namespace).cloned().unwrap_or_default();
        l.insert(NAMESPACE_NAME.into(), namespace.into());
        l
    }

    /// The pod named `namespace/name` in the snapshot valid at `t`, with
    /// its index in [`Cluster::pods`].
    pub fn pod_named(&self, namespace: &str, name: &str, t: i64) -> Option<(u32, &PodInfo)> {
        let (_, names) = self.pod_names.at(t)?;
        let i = *names.get(&(namespace.to_string(), name.to_string()))?;
        Some((i, &self.pods[i as usize]))
    }

    /// Every pod of every snapshot.
    pub fn pods(&self) -> &[PodInfo] {
        &self.pods
    }
}

/// The cluster as the source of the Kubernetes columns.
impl pktsample_schemas::Attribute for Cluster {
    fn epoch(&self, t: i64) -> u64 {
        Cluster::epoch(self, t) as u64
    }

    fn address(&self, ip: IpAddr, t: i64) -> pktsample_schemas::Context<'_> {
        let (key, w) = self.who_keyed(ip, t);
        pktsample_schemas::Context {
            key,
            namespace: w.namespace(),
            workload: Some(w.workload()),
            pod: w.pod(),
            node: w.node(),
        }
    }

    fn interface(&self, name: &str, t: i64) -> Option<pktsample_schemas::Context<'_>> {
        let (i, p) = self.pod_on_indexed(name, t)?;
        Some(pktsample_schemas::Context {
            key: KEY_POD | i as u64,
            namespace: Some(&p.namespace),
            workload: Some(&p.workload),
            pod: Some(&p.name),
            node: p.node.as_deref(),
        })
    }

    fn describe(&self) -> Vec<String> {
        self.files.clone()
    }
}
