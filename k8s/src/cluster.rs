//! Building the cluster from its snapshot files: every pod, service and
//! node address by time, and the pods' host-side interfaces.
//!
//! Files taken at the same time are one snapshot: within it an IP belongs
//! to one pod. A Running pod wins over a Pending, Succeeded or Failed one
//! holding the same IP (a finished Job's pod keeps its IP in the API after
//! the IP went to another pod); two Running pods holding one IP are a
//! conflict, refused with both files named. A hostNetwork pod's IP is its
//! node's, so it is the node's address, not the pod's.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;

use crate::api::{NetworkPolicy, Pod, PodSpec};
use rustc_hash::FxHashMap;

use crate::error::K8sError;
use crate::load::{Content, Endpoint};
use crate::veth::calico_veth;
use crate::workload::{Owners, controller, workload_of};
use crate::{Cluster, NamedPort, PodInfo, ServiceInfo};

/// A pod's claim on an IP: how much it counts (Running highest), and
/// where it came from.
#[derive(Clone, Copy)]
struct Claim {
    pod: u32,
    rank: u8,
    file: usize,
}

fn rank(phase: Option<&str>) -> u8 {
    match phase {
        Some("Running") => 3,
        Some("Pending") => 2,
        Some("Unknown") | None => 1,
        _ => 0,
    }
}

fn ips_of(p: &Pod) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let parse = |s: &str| s.parse::<IpAddr>().ok();
    let Some(st) = &p.status else {
        return (Vec::new(), Vec::new());
    };
    let mut pod: BTreeSet<IpAddr> = st.pod_ip.as_deref().and_then(parse).into_iter().collect();
    pod.extend(st.pod_ips.iter().flatten().filter_map(|i| parse(&i.ip)));
    let mut host: BTreeSet<IpAddr> = st.host_ip.as_deref().and_then(parse).into_iter().collect();
    host.extend(st.host_ips.iter().flatten().filter_map(|i| parse(&i.ip)));
    (pod.into_iter().collect(), host.into_iter().collect())
}

/// The IP protocol number of a port's protocol (TCP when unsaid).
pub(crate) fn protocol_number(p: Option<&str>) -> Option<u8> {
    match p.unwrap_or("TCP") {
        "TCP" => Some(6),
        "UDP" => Some(17),
        "SCTP" => Some(132),
        _ => None,
    }
}

fn ports_of(s: &PodSpec) -> Vec<NamedPort> {
    let ports = s
        .containers
        .iter()
        .flatten()
        .flat_map(|c| c.ports.iter().flatten());
    ports
        .filter_map(|p| {
            Some(NamedPort {
                name: p.name.clone().unwrap_or_default(),
                protocol: protocol_number(p.protocol.as_deref())?,
                port: u16::try_from(p.container_port).ok()?,
            })
        })
        .collect()
}

/// The snapshot files, with their times, grouped by time.
type Groups = BTreeMap<i64, Vec<(PathBuf, Content)>>;

struct Builder {
    c: Cluster,
    owners: Owners,
    by_uid: FxHashMap<String, u32>,
    /// Node name -> index in `c.nodes`.
    node_ids: FxHashMap<String, u32>,
}

impl Builder {
    fn pod_info(&mut self, p: &Pod) -> u32 {
        let m = &p.metadata;
        if let Some(&i) = m.uid.as_ref().and_then(|u| self.by_uid.get(u)) {
            return i;
        }
        let spec = p.spec.as_ref();
        self.c.pods.push(PodInfo {
            namespace: m.namespace.clone().unwrap_or_else(|| "default".into()),
            name: m.name.clone().unwrap_or_default(),
            workload: workload_of(m, &self.owners),
            node: spec.and_then(|s| s.node_name.clone()),
            labels: m.labels.clone().unwrap_or_default(),
            ports: spec.map(ports_of).unwrap_or_default(),
        });
        let i = (self.c.pods.len() - 1) as u32;
        if let Some(u) = &m.uid {
            self.by_uid.insert(u.clone(), i);
        }
        i
    }

    fn node_id(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.node_ids.get(name) {
            return i;
        }
        self.c.nodes.push(name.to_string());
        let i = (self.c.nodes.len() - 1) as u32;
        self.node_ids.insert(name.to_string(), i);
        i
    }

    /// One time's pods: their IPs and names.
    fn pods(&mut self, t: i64, files: &[(PathBuf, Content)]) -> Result<(), K8sError> {
        let mut claims: FxHashMap<IpAddr, Claim> = FxHashMap::default();
        let mut names = FxHashMap::default();
        for (f, (path, content)) in files.iter().enumerate() {
            for p in &content.pods {
                let id = self.pod_info(p);
                let info = &self.c.pods[id as usize];
                let key = (info.namespace.clone(), info.name.clone());
                let veth = calico_veth(&info.namespace, &info.name);
                self.c.interfaces.entry(veth).or_insert_with(|| key.clone());
                names.insert(key, id);
                let (pod_ips, host_ips) = ips_of(p);
                let spec = p.spec.as_ref();
                if let Some(node) = spec.and_then(|s| s.node_name.as_deref()) {
                    let n = self.node_id(node);
                    for ip in &host_ips {
                        self.c.node_ips.entry(*ip).or_insert(n);
                    }
                }
                if spec.and_then(|s| s.host_network) == Some(true) {
                    continue;
                }
                let r = rank(p.status.as_ref().and_then(|s| s.phase.as_deref()));
                let new = Claim {
                    pod: id,
                    rank: r,
                    file: f,
                };
                for ip in pod_ips {
                    match claims.get(&ip) {
                        Some(old) if old.rank > r => {}
                        Some(old) if old.rank == r && r == 3 && old.pod != id => {
                            let a = &self.c.pods[old.pod as usize];
                            let b = &self.c.pods[id as usize];
                            let other = &files[old.file].0;
                            return Err(K8sError::Conflict {
                                path: path.clone(),
                                what: format!(
                                    "pods {}/{} ({}) and {}/{} are both Running with IP {ip} in snapshots of the same time: give each cluster's or time's files their own --k8s-time",
                                    a.namespace,
                                    a.name,
                                    other.display(),
                                    b.namespace,
                                    b.name
                                ),
                            });
                        }
                        Some(old) if old.rank == r => {}
                        _ => {
                            claims.insert(ip, new);
                        }
                    }
                }
            }
        }
        let ips = claims.into_iter().map(|(ip, c)| (ip, c.pod)).collect();
        self.c.pod_ips.push(t, ips);
        self.c.pod_names.push(t, names);
        Ok(())
    }

    fn services(&mut self, t: i64, files: &[(PathBuf, Content)]) {
        let mut ips = FxHashMap::default();
        for (_, content) in files {
            for s in &content.services {
                let m = &s.metadata;
                self.c.services.push(ServiceInfo {
                    namespace: m.namespace.clone().unwrap_or_else(|| "default".into()),
                    workload: format!("service/{}", m.name.as_deref().unwrap_or("")),
                });
                let id = (self.c.services.len() - 1) as u32;
                let spec = s.spec.as_ref();
                let lb = s.status.as_ref().and_then(|st| st.load_balancer.as_ref());
                let texts = spec
                    .and_then(|s| s.cluster_ip.clone())
                    .into_iter()
                    .chain(
                        spec.and_then(|s| s.cluster_ips.clone())
                            .into_iter()
                            .flatten(),
                    )
                    .chain(
                        spec.and_then(|s| s.external_ips.clone())
                            .into_iter()
                            .flatten(),
                    )
                    .chain(
                        lb.and_then(|l| l.ingress.as_ref())
                            .into_iter()
                            .flatten()
                            .filter_map(|i| i.ip.clone()),
                    );
                for ip in texts.filter_map(|s| s.parse::<IpAddr>().ok()) {
                    ips.entry(ip).or_insert(id);
                }
            }
        }
        self.c.service_ips.push(t, ips);
    }

    fn nodes(&mut self, content: &Content) {
        for n in &content.nodes {
            let name = n.metadata.name.clone().unwrap_or_default();
            let id = self.node_id(&name);
            let addrs = n.status.as_ref().and_then(|s| s.addresses.as_ref());
            for a in addrs.into_iter().flatten() {
                if matches!(a.type_.as_str(), "InternalIP" | "ExternalIP")
                    && let Ok(ip) = a.address.parse::<IpAddr>()
                {
                    self.c.node_ips.insert(ip, id);
                }
            }
        }
    }

    fn endpoints(&mut self, es: &[Endpoint]) {
        for e in es {
            let key = (e.namespace.clone(), e.pod.clone());
            self.c.interfaces.insert(e.interface.clone(), key);
        }
    }
}

/// The owners of ReplicaSets and Jobs, from every file.
fn owners(groups: &Groups) -> Owners {
    let mut o = Owners::default();
    for (_, c) in groups.values().flatten() {
        let metas = c.replica_sets.iter().map(|r| &r.metadata);
        for m in metas.chain(c.jobs.iter().map(|j| &j.metadata)) {
            if let (Some(ns), Some(name), Some(r)) = (&m.namespace, &m.name, controller(m)) {
                o.insert((ns.clone(), name.clone()), (r.kind.clone(), r.name.clone()));
            }
        }
    }
    o
}

pub(crate) fn build(groups: Groups, describe: Vec<String>) -> Result<Cluster, K8sError> {
    let mut b = Builder {
        owners: owners(&groups),
        c: Cluster {
            files: describe,
            ..Default::default()
        },
        by_uid: FxHashMap::default(),
        node_ids: FxHashMap::default(),
    };
    for (t, files) in &groups {
        for (_, c) in files {
            b.nodes(c);
        }
        if files.iter().any(|(_, c)| !c.pods.is_empty()) {
            b.pods(*t, files)?;
        }
        if files.iter().any(|(_, c)| !c.services.is_empty()) {
            b.services(*t, files);
        }
        for (_, c) in files {
            b.endpoints(&c.endpoints);
        }
    }
    for (_, c) in groups.values().flatten() {
        for n in &c.namespaces {
            if let Some(name) = &n.metadata.name {
                let labels = n.metadata.labels.clone().unwrap_or_default();
                b.c.namespaces.insert(name.clone(), labels);
            }
        }
    }
    let policies: Vec<(PathBuf, NetworkPolicy)> = groups
        .into_values()
        .flatten()
        .flat_map(|(path, c)| c.policies.into_iter().map(move |p| (path.clone(), p)))
        .collect();
    b.c.policies = policies;
    Ok(b.c)
}
