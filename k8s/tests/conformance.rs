//! The policy what-if against Kubernetes' own NetworkPolicy conformance
//! cases (`fixtures/k8s/netpol-conformance.json`, transcribed from the
//! upstream e2e tests): for every case, every probe and every pair of the
//! case's pods, the verdict is the one upstream expects.
//!
//! The cluster of each case is written as `kubectl` writes it (a PodList
//! and a NamespaceList) and its policies as a NetworkPolicyList, and both
//! are read through the public API, as `analyze --k8s --k8s-policy` reads
//! them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pktsample_k8s::{Cluster, Policies, Source};
use pktsample_schemas::policy::{End, Flow, Outcome, PolicyCheck};
use serde_json::{Value, json};

const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const PODS: [&str; 3] = ["a", "b", "c"];

fn table() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/k8s/netpol-conformance.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The model's address of a pod ("x/b" -> 198.51.100.12).
fn ip(pod: &str) -> IpAddr {
    let (ns, p) = pod.split_once('/').unwrap();
    let i = NAMESPACES.iter().position(|n| *n == ns).unwrap();
    let j = PODS.iter().position(|n| *n == p).unwrap();
    format!("198.51.100.{}", 10 * (i + 1) + 1 + j)
        .parse()
        .unwrap()
}

fn cluster_json(case: &Value) -> (Value, Value) {
    let mut items = Vec::new();
    for pod in case["pods"].as_array().unwrap() {
        let pod = pod.as_str().unwrap();
        let (ns, name) = pod.split_once('/').unwrap();
        let mut labels = json!({ "pod": name });
        if let Some(extra) = case["labels"][pod].as_object() {
            labels.as_object_mut().unwrap().extend(extra.clone());
        }
        let mut ports = Vec::new();
        for port in [80, 81] {
            for proto in ["TCP", "UDP", "SCTP"] {
                let n = format!("serve-{port}-{}", proto.to_lowercase());
                ports.push(json!({"name": n, "containerPort": port, "protocol": proto}));
            }
        }
        items.push(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": ns, "name": name, "uid": pod, "labels": labels},
            "spec": {"nodeName": "node-a", "containers": [{"name": "c", "ports": ports}]},
            "status": {"phase": "Running", "podIP": ip(pod).to_string()}
        }));
    }
    let pods = json!({"apiVersion": "v1", "kind": "PodList", "items": items});
    let ns: Vec<Value> = NAMESPACES
        .iter()
        .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
        .collect();
    (
        pods,
        json!({"apiVersion": "v1", "kind": "NamespaceList", "items": ns}),
    )
}

/// The policies with the model's CIDRs written out.
fn policies_json(case: &Value) -> Value {
    let mut text = case["policies"].to_string();
    for ns in NAMESPACES {
        for p in PODS {
            let pod = format!("{ns}/{p}");
            let a = ip(&pod);
            text = text.replace(&format!("@{pod}/32"), &format!("{a}/32"));
            text = text.replace(&format!("@{pod}/large"), &format!("{a}/4"));
        }
    }
    let items: Value = serde_json::from_str(&text).unwrap();
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList", "items": items})
}

fn covers(peer: &str, pod: &str) -> bool {
    peer.is_empty() || peer == pod || pod.split_once('/').unwrap().0 == peer
}

/// The allowed matrix a probe expects over the case's pods.
fn expected(pods: &[&str], probe: &Value) -> BTreeMap<(String, String), bool> {
    let mut m = BTreeMap::new();
    for f in pods {
        for t in pods {
            m.insert((f.to_string(), t.to_string()), true);
        }
    }
    for e in probe["expect"].as_array().unwrap() {
        let (from, to, v) = (
            e[0].as_str().unwrap(),
            e[1].as_str().unwrap(),
            e[2].as_bool().unwrap(),
        );
        for ((f, t), allowed) in m.iter_mut() {
            if covers(from, f) && covers(to, t) {
                *allowed = v;
            }
        }
    }
    m
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

fn protocol(p: &str) -> u8 {
    match p {
        "TCP" => 6,
        "UDP" => 17,
        "SCTP" => 132,
        "ICMP" => 1,
        _ => panic!("protocol {p}"),
    }
}

/// One case: its mismatches as lines.
fn run_case(dir: &Path, case: &Value) -> Vec<String> {
    let (pods, namespaces) = cluster_json(case);
    let sources = [
        write(dir, "pods.json", &pods),
        write(dir, "ns.json", &namespaces),
    ]
    .map(|path| Source {
        path,
        time: Some(0),
    });
    let cluster = Arc::new(Cluster::load(&sources).unwrap());
    let files = match case["policies"].as_array().unwrap().is_empty() {
        true => Vec::new(),
        false => vec![write(dir, "netpol.json", &policies_json(case))],
    };
    let set = Policies::load(cluster, &files).unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
    let names: Vec<&str> = case["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let mut bad = Vec::new();
    for probe in case["probes"].as_array().unwrap() {
        let proto = probe["protocol"].as_str().unwrap();
        let port = probe["port"].as_u64().map(|p| p as u16);
        let pairs: Vec<_> = expected(&names, probe)
            .into_iter()
            .filter(|((f, t), _)| f != t) // loopback: ignored, as upstream
            .collect();
        // As analyze asks: the probe's packets as one batch of requests
        // (a SYN from an ephemeral port), the memo of outcomes shared.
        let flows: Vec<Flow> = pairs
            .iter()
            .map(|((f, t), _)| request(ip(f), ip(t), protocol(proto), port))
            .collect();
        let mut verdicts = Vec::new();
        set.verdicts(&flows, &mut verdicts);
        for (((f, t), want), v) in pairs.iter().zip(&verdicts) {
            let got = set.connection(ip(f), ip(t), 0, protocol(proto), port);
            if (got == Outcome::Allowed) != *want || v.outcome != got || v.reply {
                bad.push(format!(
                    "{}: {f} -> {t} {proto}/{port:?}: expected {}, got {got:?} (in a batch {v:?})",
                    case["name"],
                    if *want { "allowed" } else { "denied" }
                ));
            }
        }
    }
    bad
}

/// A connection's first packet from `src` to `dst`'s `port`.
fn request(src: IpAddr, dst: IpAddr, proto: u8, port: Option<u16>) -> Flow<'static> {
    Flow {
        t: 0,
        src: End {
            ip: Some(src),
            ..End::default()
        },
        dst: End {
            ip: Some(dst),
            ..End::default()
        },
        proto: Some(proto),
        src_port: port.map(|_| 40000),
        dst_port: port,
        tcp_flags: (proto == 6).then_some(0x02),
    }
}

#[test]
fn every_upstream_conformance_case_gives_its_verdicts() {
    let t = table();
    let cases = t["cases"].as_array().unwrap();
    assert!(cases.len() >= 50, "the table lost cases: {}", cases.len());
    let dir = tempfile::tempdir().unwrap();
    let mut bad = Vec::new();
    let mut probes = 0;
    for case in cases {
        probes += case["probes"].as_array().unwrap().len();
        bad.extend(run_case(dir.path(), case));
    }
    assert!(
        bad.is_empty(),
        "{} wrong verdicts:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(probes >= 60, "{probes} probes");
}

/// A case's pods, namespaces (and `nodes`) as snapshots, its policies
/// compiled over them.
fn compiled(case: &Value, nodes: Option<&Value>) -> Policies {
    let dir = tempfile::tempdir().unwrap();
    let (pods, ns) = cluster_json(case);
    let mut sources = vec![
        write(dir.path(), "p.json", &pods),
        write(dir.path(), "n.json", &ns),
    ];
    if let Some(n) = nodes {
        sources.push(write(dir.path(), "nodes.json", n));
    }
    let sources: Vec<Source> = sources
        .into_iter()
        .map(|path| Source {
            path,
            time: Some(0),
        })
        .collect();
    let cluster = Arc::new(Cluster::load(&sources).unwrap());
    let np = write(dir.path(), "np.json", &policies_json(case));
    Policies::load(cluster, &[np]).unwrap()
}

/// The nearest rule: the same peer on another port, else the same port
/// from another peer.
#[test]
fn a_denied_connection_names_the_rule_that_would_allow_similar_traffic() {
    let case = json!({
        "pods": ["x/a", "x/b", "y/a"],
        "policies": [{"kind": "NetworkPolicy", "metadata": {"namespace": "x", "name": "api"},
            "spec": {"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}],
                             "ports": [{"port": 8080}]}]}}]
    });
    let set = compiled(&case, None);
    let rule = |from, port| match set.connection(ip(from), ip("x/a"), 0, 6, Some(port)) {
        Outcome::Denied { rule, .. } => rule,
        o => panic!("{from} :{port} was {o:?}"),
    };
    // x/b on another port: the rule matching its peer.
    let r = rule("x/b", 80).expect("a rule");
    assert_eq!(set.rule(r), "x/api ingress 1: from pods pod=b, TCP 8080");
    // y/a on the rule's port: the rule matching the port.
    assert_eq!(rule("y/a", 8080), Some(r));
    assert!(matches!(
        set.connection(ip("x/b"), ip("x/a"), 0, 6, Some(8080)),
        Outcome::Allowed
    ));
}

/// A pod and its own node always reach each other, whatever isolates the
/// pod; another node does not. Asked in one batch, so that the outcomes'
/// memo must tell the nodes apart though no rule has an ipBlock.
#[test]
fn a_pod_and_its_own_node_reach_each_other_and_no_other_node() {
    let case = json!({
        "pods": ["x/a"],
        "policies": [{"kind": "NetworkPolicy", "metadata": {"namespace": "x", "name": "deny-all"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}]
    });
    let node = |name: &str, addr: &str| {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": addr}]}})
    };
    let nodes = json!({"apiVersion": "v1", "kind": "NodeList",
        "items": [node("node-a", "192.0.2.1"), node("node-b", "192.0.2.2")]});
    let set = compiled(&case, Some(&nodes));
    let (pod, own, other) = (ip("x/a"), ip_of("192.0.2.1"), ip_of("192.0.2.2"));
    let flows = [
        request(pod, own, 6, Some(10250)),
        request(pod, other, 6, Some(10250)),
        request(own, pod, 6, Some(8080)),
        request(other, pod, 6, Some(8080)),
    ];
    let mut v = Vec::new();
    set.verdicts(&flows, &mut v);
    let allowed: Vec<bool> = v.iter().map(|v| v.outcome == Outcome::Allowed).collect();
    assert_eq!(allowed, [true, false, true, false], "{v:?}");
}

fn ip_of(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn bad_policies_are_refused_naming_the_file_and_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (pods, _) = cluster_json(&json!({"pods": ["x/a"]}));
    let p = write(dir.path(), "p.json", &pods);
    let cluster = Arc::new(
        Cluster::load(&[Source {
            path: p,
            time: Some(0),
        }])
        .unwrap(),
    );
    for (spec, want) in [
        (
            json!({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Has"}]}}),
            "unknown operator 'Has'",
        ),
        (
            json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]}),
            "not a CIDR",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": "http", "endPort": 90}]}]}),
            "endPort needs a numeric port",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": 90, "endPort": 80}]}]}),
            "endPort 80",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]}),
            "unknown protocol 'ICMP'",
        ),
        (
            json!({"podSelector": {}, "policyTypes": ["Both"]}),
            "unknown type 'Both'",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"from": [{}]}]}),
            "an empty peer",
        ),
    ] {
        let list = json!({"kind": "NetworkPolicyList", "items": [
            {"kind": "NetworkPolicy", "metadata": {"namespace": "x", "name": "bad"}, "spec": spec}]});
        let f = write(dir.path(), "bad.json", &list);
        let e = Policies::load(cluster.clone(), &[f])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.json") && e.contains("x/bad") && e.contains(want),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    // A file of something else.
    let f = write(dir.path(), "pods-not-policies.json", &pods);
    let e = Policies::load(cluster, &[f]).unwrap_err().to_string();
    assert!(
        e.contains("pods-not-policies.json") && e.contains("holds no NetworkPolicy"),
        "{e}"
    );
}
