//! The policy what-if on the fixture cluster: a trace whose every
//! connection's verdict under `fixtures/k8s/netpol-shop.json` is known
//! (requests and replies, a named port, a node's own pod, an ipBlock with
//! except, UDP and ICMP, VXLAN between the nodes, a service's virtual IP),
//! analysed at rate 1: the denied total, pairs, services and nearest
//! rules equal the trace's truth exactly.

use std::collections::BTreeMap;

use super::common::*;
use super::trace::*;
use etherparse::PacketBuilder;

const FRONTEND_A_IP: &str = "198.51.100.10";
const FRONTEND_B_IP: &str = "198.51.100.11";
const API_IP: &str = "198.51.100.20";
const DB_IP: &str = "198.51.100.21";
const CART_IP: &str = "198.51.100.30";
const DEBUG_IP: &str = "198.51.100.40";
const API_SVC_IP: &str = "198.51.100.201";
const NODE_A_IP: &str = "192.0.2.1";
const NODE_B_IP: &str = "192.0.2.2";

const FRONTEND: &str = "shop/deployment/frontend";
const API_WL: &str = "payments/deployment/payments-api";
const DB_WL: &str = "payments/statefulset/db";
const CART_WL: &str = "shop/statefulset/cart";

#[derive(Clone, Copy)]
enum L4 {
    Tcp(u16, u16, &'static str),
    Udp(u16, u16),
    Icmp,
}

/// What a group's packets come to: allowed, not judged, or denied in the
/// connection (client, server, service) with the nearest rule.
#[derive(Clone, Copy)]
enum Want {
    Allowed,
    Unjudged,
    Denied(
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    ),
}

struct G {
    src: &'static str,
    dst: &'static str,
    l4: L4,
    n: usize,
    vxlan: bool,
    want: Want,
}

const API_RULE: &str = "payments/allow-frontend-to-api ingress 1: from pods app=frontend in namespaces kubernetes.io/metadata.name=shop, TCP http";
const DB_RULE: &str = "payments/allow-api-to-db ingress 1: from pods app=api, TCP 5432";
const CART_RULE: &str = "shop/cart-egress egress 1: to 0.0.0.0/0 except 203.0.113.0/24, TCP 443";

fn groups() -> Vec<G> {
    use L4::*;
    use Want::*;
    let g = |src, dst, l4, n, want| G {
        src,
        dst,
        l4,
        n,
        vxlan: false,
        want,
    };
    let to_api = Denied(FRONTEND, API_WL, "TCP/443", Some(API_RULE));
    let to_db = |svc, rule| Denied(FRONTEND, DB_WL, svc, rule);
    vec![
        // The named port "http" is the api's 8080: allowed, both ways.
        g(FRONTEND_A_IP, API_IP, Tcp(40001, 8080, "S"), 5, Allowed),
        g(API_IP, FRONTEND_A_IP, Tcp(8080, 40001, "SA"), 5, Allowed),
        // Another port: denied, and its replies with it (the lower port
        // is the server).
        g(FRONTEND_A_IP, API_IP, Tcp(40002, 443, "A"), 12, to_api),
        g(API_IP, FRONTEND_A_IP, Tcp(443, 40002, "A"), 8, to_api),
        // A port neither declared nor well known: "other".
        g(
            FRONTEND_A_IP,
            API_IP,
            Tcp(40011, 9999, "S"),
            2,
            Denied(FRONTEND, API_WL, "TCP/other", Some(API_RULE)),
        ),
        g(API_IP, DB_IP, Tcp(40003, 5432, "S"), 10, Allowed),
        // The port matches, the peer not.
        g(
            FRONTEND_B_IP,
            DB_IP,
            Tcp(40004, 5432, "S"),
            6,
            to_db("TCP/5432", Some(DB_RULE)),
        ),
        g(
            FRONTEND_A_IP,
            DB_IP,
            Udp(5353, 53),
            2,
            to_db("UDP/53", None),
        ),
        g(FRONTEND_A_IP, DB_IP, Icmp, 3, to_db("ICMP", None)),
        // cart's egress: 443 outside the except only.
        g(
            CART_IP,
            "203.0.113.5",
            Tcp(40005, 443, "S"),
            4,
            Denied(CART_WL, "(documentation)", "TCP/443", Some(CART_RULE)),
        ),
        g(CART_IP, "198.51.100.99", Tcp(40006, 443, "S"), 3, Allowed),
        g(DEBUG_IP, "203.0.113.9", Tcp(40007, 80, "S"), 7, Allowed),
        g(FRONTEND_A_IP, API_SVC_IP, Tcp(40008, 80, "S"), 9, Unjudged),
        // A pod's own node reaches it whatever its policies say.
        g(NODE_A_IP, API_IP, Tcp(40009, 9090, "S"), 4, Allowed),
        // And it reaches its node: cart's egress policy does not cut its
        // kubelet (node-b), but does the other node's.
        g(CART_IP, NODE_B_IP, Tcp(40012, 10250, "S"), 3, Allowed),
        g(
            CART_IP,
            NODE_A_IP,
            Tcp(40013, 10250, "S"),
            2,
            Denied(CART_WL, "(node)", "TCP/other", Some(CART_RULE)),
        ),
        // Between the nodes in VXLAN: the pods inside are judged.
        G {
            vxlan: true,
            ..g(
                FRONTEND_A_IP,
                DB_IP,
                Tcp(40010, 5432, "S"),
                5,
                to_db("TCP/5432", Some(DB_RULE)),
            )
        },
    ]
}

fn l4_frame(g: &G) -> Vec<u8> {
    let parse = |a: &str| match a.parse::<std::net::IpAddr>().unwrap() {
        std::net::IpAddr::V4(v) => v.octets(),
        _ => panic!("IPv4 only here"),
    };
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(
        parse(g.src),
        parse(g.dst),
        64,
    );
    let payload = [0u8; 100];
    let mut out = Vec::new();
    match g.l4 {
        L4::Tcp(sp, dp, flags) => {
            let mut t = b.tcp(sp, dp, 1, 65535);
            if flags.contains('S') {
                t = t.syn();
            }
            if flags.contains('A') {
                t = t.ack(1);
            }
            t.write(&mut out, &payload).unwrap();
        }
        L4::Udp(sp, dp) => b.udp(sp, dp).write(&mut out, &payload).unwrap(),
        L4::Icmp => b
            .icmpv4_echo_request(1, 1)
            .write(&mut out, &payload)
            .unwrap(),
    }
    match g.vxlan {
        true => vxlan(&out),
        false => out,
    }
}

/// Denied truth: (client, server, service, rule) -> (packets, bytes).
type Truth = BTreeMap<(String, String, String, Option<String>), (u64, u64)>;

fn write(path: &std::path::Path) -> (Truth, (u64, u64), u64) {
    let mut truth = Truth::new();
    let (mut unjudged, mut all) = (0, (0, 0));
    let mut frames = Vec::new();
    for (k, g) in groups().iter().enumerate() {
        let bytes = l4_frame(g);
        let len = bytes.len() as u64;
        for i in 0..g.n {
            match g.want {
                Want::Allowed => {}
                Want::Unjudged => unjudged += 1,
                Want::Denied(c, s, svc, rule) => {
                    let key = (c.into(), s.into(), svc.into(), rule.map(String::from));
                    let e = truth.entry(key).or_default();
                    (e.0, e.1) = (e.0 + 1, e.1 + len);
                    (all.0, all.1) = (all.0 + 1, all.1 + len);
                }
            }
            let ts = T0_NS + 1800 * 1_000_000_000 + (k * 1000 + i) as i64 * 1_000_000;
            frames.push(Out {
                ts,
                iface: 0,
                dir: 2,
                bytes: bytes.clone(),
            });
        }
    }
    write_pcapng(path, frames.into_iter());
    (truth, all, unjudged)
}

/// analyze's output for the trace with the fixture policies, on the fixture
/// cluster.
fn judged(trace: &std::path::Path, more: &[&str]) -> String {
    let np = fixture("k8s/netpol-shop.json");
    let mut args = vec!["analyze", s(trace), "--k8s-policy", s(&np)];
    args.extend_from_slice(more);
    run_with(&args, true)
}

#[test]
fn denied_traffic_at_rate_1_equals_the_truth_with_its_rules() {
    let d = tmpdir();
    let trace = d.path().join("policy.pcapng");
    let (truth, total, unjudged) = write(&trace);
    let out = judged(&trace, &["--format", "json", "--top", "50"]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let est = |v: &serde_json::Value, m: &str| v[m]["estimate"].as_f64().unwrap().round() as u64;
    let t = &r["denied_total"];
    assert_eq!((est(t, "packets"), est(t, "bytes")), total, "{t}");
    assert_eq!(t["unjudged"]["samples"].as_u64(), Some(unjudged), "{t}");
    let got: Truth = r["denied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let k = (
                row["client"].as_str().unwrap().to_string(),
                row["server"].as_str().unwrap().to_string(),
                row["service"].as_str().unwrap().to_string(),
                row["rule"].as_str().map(String::from),
            );
            (k, (est(row, "packets"), est(row, "bytes")))
        })
        .collect();
    assert_eq!(got, truth);
    // Per pair: the detail summed.
    let mut pairs: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for ((c, s, _, _), (p, b)) in &truth {
        let e = pairs.entry((c.clone(), s.clone())).or_default();
        (e.0, e.1) = (e.0 + p, e.1 + b);
    }
    let got: BTreeMap<(String, String), (u64, u64)> = r["denied_pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let k = (
                row["client"].as_str().unwrap().into(),
                row["server"].as_str().unwrap().into(),
            );
            (k, (est(row, "packets"), est(row, "bytes")))
        })
        .collect();
    assert_eq!(got, pairs);
    // The share of all packets, and the rate over the report's span.
    let frames: u64 = groups().iter().map(|g| g.n as u64).sum();
    let share = t["share_packets"]["estimate"].as_f64().unwrap();
    assert!(
        (share - total.0 as f64 / frames as f64).abs() < 1e-9,
        "{share}"
    );
    let secs = r["summary"]["duration_seconds"].as_f64().unwrap();
    let pps = t["pps"]["estimate"].as_f64().unwrap();
    assert!(
        (pps * secs - total.0 as f64).abs() < 1e-6,
        "{pps} over {secs} s"
    );
    assert!(
        r["warnings"].to_string().contains("were not judged"),
        "{}",
        r["warnings"]
    );
    assert!(
        r["policies"][0]
            .as_str()
            .unwrap()
            .contains("netpol-shop.json (4 network policies)")
    );
}

#[test]
fn the_text_formats_name_the_cut_and_the_rule() {
    let d = tmpdir();
    let trace = d.path().join("policy.pcapng");
    write(&trace);
    let table = judged(&trace, &["--by", "denied"]);
    // The table cuts names to its width, but shows the rule whole.
    for want in [
        "Denied by the network policies",
        FRONTEND,
        "TCP/443",
        API_RULE,
        DB_RULE,
    ] {
        assert!(table.contains(want), "{want} missing:\n{table}");
    }
    let csv = judged(&trace, &["--by", "denied", "--format", "csv"]);
    let row = |s: &str, k: &str| csv.lines().any(|l| l.starts_with(s) && l.contains(k));
    assert!(
        row("denied,", "TCP/5432") && row("denied,", API_WL),
        "{csv}"
    );
    assert!(row("denied_total,", "every pair"), "{csv}");
}

#[test]
fn policies_without_snapshots_or_a_section_without_policies_are_refused() {
    let d = tmpdir();
    let trace = d.path().join("policy.pcapng");
    write(&trace);
    let np = fixture("k8s/netpol-shop.json");
    let e = fails(&["analyze", s(&trace), "--k8s-policy", s(&np)]);
    assert!(
        e.contains("--k8s-policy") && e.contains("--k8s FILE"),
        "{e}"
    );
    let a = with_k8s(&["analyze", s(&trace), "--by", "denied"]);
    let e = fails(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        e.contains("--by denied") && e.contains("--k8s-policy FILE"),
        "{e}"
    );
    // A file of pods given as policies: named, nothing analysed.
    let pods = fixture("k8s/pods-2300.json");
    let a = with_k8s(&["analyze", s(&trace), "--k8s-policy", s(&pods)]);
    let e = fails(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        e.contains("pods-2300.json") && e.contains("holds no NetworkPolicy"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "{e}");
}
