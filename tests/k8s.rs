//! Kubernetes context: the fixture cluster's two snapshots (fixtures/k8s)
//! and a trace written here between its pods, services and nodes, whose
//! every frame's expected context is known. Checked: the Kubernetes
//! columns capture writes, row by row; the analyze sections at rate 1
//! against the trace's counts; analyze --k8s on plain samples against
//! analyze of the enriched ones; bad snapshots refused with one line and
//! nothing written.

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, RecordBatch};
use common::*;
use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};

const T0: &str = "2023-11-14T22:00:00Z";
const T1: &str = "2023-11-14T23:00:00Z";
/// 22:00:00Z in ns.
const T0_NS: i64 = 1_700_000_000_000_000_000 - 800 * 1_000_000_000;

/// The host-side veth of shop/frontend-5d8f7c9b6-abcde, by Calico's rule.
fn frontend_veth() -> String {
    pktsample_k8s::calico_veth("shop", "frontend-5d8f7c9b6-abcde")
}

/// One side's expected context: namespace, workload, pod, node.
type Ctx = (
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const FRONTEND_A: Ctx = (
    Some("shop"),
    "deployment/frontend",
    Some("frontend-5d8f7c9b6-abcde"),
    Some("node-a"),
);
const FRONTEND_B: Ctx = (
    Some("shop"),
    "deployment/frontend",
    Some("frontend-5d8f7c9b6-fghij"),
    Some("node-b"),
);
const API_SVC: Ctx = (Some("payments"), "service/api", None, None);
const API: Ctx = (
    Some("payments"),
    "deployment/payments-api",
    Some("api-6c4f8d7b5-xk2lq"),
    Some("node-a"),
);
const API_NEW: Ctx = (
    Some("payments"),
    "deployment/payments-api",
    Some("api-6c4f8d7b5-zz9yy"),
    Some("node-b"),
);
const DB: Ctx = (
    Some("payments"),
    "statefulset/db",
    Some("db-0"),
    Some("node-b"),
);
const CART: Ctx = (
    Some("shop"),
    "statefulset/cart",
    Some("cart-0"),
    Some("node-b"),
);
const DEBUG: Ctx = (Some("default"), "pod/debug", Some("debug"), Some("node-a"));
const NODE_A: Ctx = (None, "node", None, Some("node-a"));
const DNS: Ctx = (Some("kube-system"), "service/kube-dns", None, None);
const OUTSIDE: Ctx = (None, "documentation", None, None);

/// A group of identical frames: when (seconds after 22:00), on which
/// interface (0 eth0, 1 the frontend's veth) and direction (1 inbound,
/// 2 outbound), addresses, count and payload, and the context expected.
struct Group {
    at: i64,
    iface: u32,
    dir: u32,
    src: &'static str,
    dst: &'static str,
    n: usize,
    payload: usize,
    want: (Ctx, Ctx),
}

fn groups() -> Vec<Group> {
    let g = |at, iface, dir, src, dst, n, payload, want| Group {
        at,
        iface,
        dir,
        src,
        dst,
        n,
        payload,
        want,
    };
    vec![
        g(
            1800,
            0,
            2,
            "198.51.100.10",
            "198.51.100.201",
            40,
            60,
            (FRONTEND_A, API_SVC),
        ),
        g(
            1810,
            0,
            2,
            "2001:db8:10::a",
            "2001:db8:20::a",
            30,
            200,
            (FRONTEND_A, API),
        ),
        g(
            1820,
            0,
            2,
            "198.51.100.20",
            "198.51.100.21",
            20,
            900,
            (API, DB),
        ),
        // 198.51.100.30: the Running cart-0's, not the Succeeded Job pod's.
        g(
            1830,
            0,
            2,
            "198.51.100.30",
            "203.0.113.5",
            25,
            1200,
            (CART, OUTSIDE),
        ),
        // A hostNetwork pod's address is its node's.
        g(
            1840,
            0,
            2,
            "192.0.2.1",
            "198.51.100.202",
            10,
            40,
            (NODE_A, DNS),
        ),
        g(
            1850,
            0,
            2,
            "198.51.100.40",
            "203.0.113.9",
            15,
            300,
            (DEBUG, OUTSIDE),
        ),
        g(
            1870,
            0,
            1,
            "2001:db8:10::b",
            "2001:db8:10::a",
            9,
            100,
            (FRONTEND_B, FRONTEND_A),
        ),
        // An hour later 198.51.100.40 is another pod's.
        g(
            5400,
            0,
            2,
            "198.51.100.40",
            "203.0.113.9",
            12,
            300,
            (API_NEW, OUTSIDE),
        ),
        // On the frontend's veth: the pod whatever the address says (NAT).
        g(
            5410,
            1,
            1,
            "192.0.2.99",
            "198.51.100.201",
            8,
            80,
            (FRONTEND_A, API_SVC),
        ),
        g(
            5420,
            1,
            2,
            "198.51.100.201",
            "192.0.2.99",
            6,
            500,
            (API_SVC, FRONTEND_A),
        ),
    ]
}

fn frame(src: &str, dst: &str, payload: usize) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let b = match (
        src.parse::<IpAddr>().unwrap(),
        dst.parse::<IpAddr>().unwrap(),
    ) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("mixed families"),
    };
    let b = b.tcp(40000, 80, 1, 65535);
    let body = vec![0u8; payload];
    let mut out = Vec::with_capacity(b.size(payload));
    b.write(&mut out, &body).unwrap();
    out
}

/// A frame of a trace: when, on which interface and direction, its bytes.
struct Out {
    ts: i64,
    iface: u32,
    dir: u32,
    bytes: Vec<u8>,
}

fn write_pcapng(path: &Path, frames: impl Iterator<Item = Out>) {
    let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = PcapNgWriter::new(f).unwrap();
    for name in ["eth0".to_string(), frontend_veth()] {
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 256,
            options: vec![InterfaceDescriptionOption::IfName(Cow::Owned(name))],
        })
        .unwrap();
    }
    for o in frames {
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: o.iface,
            timestamp: Duration::from_nanos(o.ts as u64),
            original_len: o.bytes.len() as u32,
            data: Cow::Borrowed(&o.bytes[..o.bytes.len().min(256)]),
            options: vec![EnhancedPacketOption::Flags(o.dir)],
        })
        .unwrap();
    }
}

/// The trace, and each frame's expected context and length, in order.
fn write_trace(path: &Path) -> Vec<((Ctx, Ctx), u32)> {
    let mut want = Vec::new();
    let mut frames = Vec::new();
    for g in groups() {
        for i in 0..g.n {
            let bytes = frame(g.src, g.dst, g.payload);
            want.push((g.want, bytes.len() as u32));
            let ts = T0_NS + g.at * 1_000_000_000 + i as i64 * 1_000;
            frames.push(Out {
                ts,
                iface: g.iface,
                dir: g.dir,
                bytes,
            });
        }
    }
    write_pcapng(path, frames.into_iter());
    want
}

fn k8s_args() -> Vec<String> {
    let f = |n: &str| fixture(&format!("k8s/{n}")).display().to_string();
    [
        "--k8s",
        &f("cluster-2200.json"),
        "--k8s",
        &f("pods-2300.json"),
        "--k8s-time",
        T0,
        "--k8s-time",
        T1,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run_ok(args: &[String]) -> String {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&a)
}

fn text(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"));
    if c.is_null(i) {
        return None;
    }
    let d = c.as_dictionary::<Int32Type>();
    Some(
        d.values()
            .as_string::<i32>()
            .value(d.keys().value(i) as usize)
            .to_string(),
    )
}

fn side(
    b: &RecordBatch,
    p: &str,
    i: usize,
) -> (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    let n = |c: &str| text(b, &format!("{p}_{c}"), i);
    (n("namespace"), n("workload"), n("pod"), n("node"))
}

fn owned(
    c: Ctx,
) -> (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    let s = |x: Option<&str>| x.map(str::to_string);
    (s(c.0), Some(c.1.to_string()), s(c.2), s(c.3))
}

#[test]
fn capture_fills_the_columns_row_by_row() {
    let d = tmpdir();
    let trace = d.path().join("k8s.pcapng");
    let want = write_trace(&trace);
    let out = d.path().join("enriched.parquet");
    let mut args: Vec<String> = [
        "capture",
        "--replay",
        s(&trace),
        "--sampling-rate",
        "1",
        "-o",
        s(&out),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(k8s_args());
    run_ok(&args);
    let (batches, meta) = read_all(&out);
    let b = concat(&batches);
    assert_eq!(b.num_rows(), want.len());
    for (i, ((src, dst), _)) in want.iter().enumerate() {
        assert_eq!(side(&b, "src", i), owned(*src), "row {i} source");
        assert_eq!(side(&b, "dst", i), owned(*dst), "row {i} destination");
    }
    assert_eq!(meta.k8s_snapshots.len(), 2, "{:?}", meta.k8s_snapshots);
    assert!(
        meta.k8s_snapshots[0].contains("8 pods, 4 services, 2 nodes"),
        "{:?}",
        meta.k8s_snapshots
    );
    assert!(
        meta.k8s_snapshots[0].contains("1 other items skipped"),
        "{:?}",
        meta.k8s_snapshots
    );
}

/// The trace's packets and bytes per key of a side's context.
fn truth(
    want: &[((Ctx, Ctx), u32)],
    key: impl Fn(&(Ctx, Ctx)) -> Option<String>,
) -> BTreeMap<String, (u64, u64)> {
    let mut m: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (c, len) in want {
        if let Some(k) = key(c) {
            let e = m.entry(k).or_default();
            e.0 += 1;
            e.1 += *len as u64;
        }
    }
    m
}

fn workload_key(c: &Ctx) -> String {
    match c.0 {
        Some(n) => format!("{n}/{}", c.1),
        None => format!("({})", c.1),
    }
}

fn namespace_key(c: &Ctx) -> String {
    match c.0 {
        Some(n) => n.to_string(),
        None => format!("({})", c.1),
    }
}

fn got(
    r: &serde_json::Value,
    member: &str,
    key: impl Fn(&serde_json::Value) -> String,
) -> BTreeMap<String, (u64, u64)> {
    r[member]
        .as_array()
        .unwrap_or_else(|| panic!("{member} missing"))
        .iter()
        .map(|row| {
            let est = |m: &str| row[m]["estimate"].as_f64().unwrap().round() as u64;
            (key(row), (est("packets"), est("bytes")))
        })
        .collect()
}

#[test]
fn sections_at_rate_1_equal_the_trace_and_both_paths_agree() {
    let d = tmpdir();
    let trace = d.path().join("k8s.pcapng");
    let want = write_trace(&trace);
    let (plain, enriched) = (
        d.path().join("plain.parquet"),
        d.path().join("enriched.parquet"),
    );
    let cap = |out: &Path, k8s: bool| {
        let mut a: Vec<String> = [
            "capture",
            "--replay",
            s(&trace),
            "--sampling-rate",
            "1",
            "-o",
            s(out),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if k8s {
            a.extend(k8s_args());
        }
        run_ok(&a);
    };
    cap(&plain, false);
    cap(&enriched, true);
    let by = "namespaces,workloads,namespace-pairs,workload-pairs,leaving";
    let analyze = |input: &Path, k8s: bool| -> serde_json::Value {
        let mut a: Vec<String> = [
            "analyze",
            s(input),
            "--by",
            by,
            "--format",
            "json",
            "--top",
            "100",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if k8s {
            a.extend(k8s_args());
        }
        serde_json::from_str(&run_ok(&a)).unwrap()
    };
    let from_columns = analyze(&enriched, false);
    let from_snapshots = analyze(&plain, true);
    let from_pcapng = analyze(&trace, true);
    let name = |r: &serde_json::Value| r["name"].as_str().unwrap().to_string();
    let pair = |r: &serde_json::Value| {
        format!(
            "{} -> {}",
            r["source"].as_str().unwrap(),
            r["destination"].as_str().unwrap()
        )
    };
    for r in [&from_columns, &from_snapshots, &from_pcapng] {
        assert_eq!(
            got(r, "source_workloads", name),
            truth(&want, |c| Some(workload_key(&c.0)))
        );
        assert_eq!(
            got(r, "destination_workloads", name),
            truth(&want, |c| Some(workload_key(&c.1)))
        );
        assert_eq!(
            got(r, "source_namespaces", name),
            truth(&want, |c| Some(namespace_key(&c.0)))
        );
        assert_eq!(
            got(r, "destination_namespaces", name),
            truth(&want, |c| Some(namespace_key(&c.1)))
        );
        // Remote: the source of inbound frames, the destination of outbound.
        let remote = got(r, "remote_workloads", name);
        let dir_of: Vec<u32> = groups()
            .iter()
            .flat_map(|g| std::iter::repeat_n(g.dir, g.n))
            .collect();
        let mut want_remote: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for ((c, len), dir) in want.iter().zip(&dir_of) {
            let k = workload_key(if *dir == 1 { &c.0 } else { &c.1 });
            let e = want_remote.entry(k).or_default();
            e.0 += 1;
            e.1 += *len as u64;
        }
        assert_eq!(remote, want_remote);
        assert_eq!(
            got(r, "workload_pairs", pair),
            truth(&want, |c| Some(format!(
                "{} -> {}",
                workload_key(&c.0),
                workload_key(&c.1)
            )))
        );
        assert_eq!(
            got(r, "namespace_pairs", pair),
            truth(&want, |c| Some(format!(
                "{} -> {}",
                namespace_key(&c.0),
                namespace_key(&c.1)
            )))
        );
        assert_eq!(
            got(r, "leaving_workloads", name),
            truth(&want, |c| (c.1 == OUTSIDE).then(|| workload_key(&c.0)))
        );
        // Exact at rate 1: every interval is its estimate.
        for row in r["workload_pairs"].as_array().unwrap() {
            assert_eq!(row["packets"]["low"], row["packets"]["high"], "{row}");
        }
    }
    assert!(
        from_columns["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("--asn-db")),
        "leaving without an ASN database says what it lacks"
    );
    assert_eq!(from_snapshots["k8s_snapshots"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_snapshots_get_one_line_and_nothing_is_written() {
    let d = tmpdir();
    let write = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let full = std::fs::read_to_string(fixture("k8s/cluster-2200.json")).unwrap();
    let truncated = write("truncated.json", &full[..full.len() / 2]);
    let foreign = write(
        "configmaps.json",
        r#"{"apiVersion":"v1","kind":"List","items":[{"kind":"ConfigMap","metadata":{"name":"x"}}]}"#,
    );
    let deployment = write(
        "deployment.json",
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"}}"#,
    );
    let not_json = write("notes.txt", "pods: many\n");
    // Two Running pods holding one IP in snapshots of the same time.
    let clash = write(
        "clash.json",
        r#"{"kind":"PodList","items":[{"metadata":{"name":"other","namespace":"shop","uid":"u-other"},"status":{"phase":"Running","podIP":"198.51.100.10"}}]}"#,
    );
    let out = d.path().join("report.json");
    let cluster = fixture("k8s/cluster-2200.json");
    let cases: Vec<(Vec<&Path>, &str)> = vec![
        (vec![truncated.as_path()], "not JSON"),
        (vec![foreign.as_path()], "ConfigMap"),
        (vec![deployment.as_path()], "kind 'Deployment'"),
        (vec![not_json.as_path()], "neither a JSON object"),
        (
            vec![cluster.as_path(), clash.as_path()],
            "both Running with IP 198.51.100.10",
        ),
    ];
    for (files, want) in cases {
        let mut a = vec![
            "analyze".to_string(),
            fixture("mixed.pcapng").display().to_string(),
            "-o".into(),
            s(&out).into(),
        ];
        for f in &files {
            a.extend(["--k8s".to_string(), f.display().to_string()]);
        }
        a.extend(["--k8s-time".to_string(), T0.to_string()]);
        let args: Vec<&str> = a.iter().map(String::as_str).collect();
        let e = fails(&args);
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        let named = files.iter().any(|f| e.contains(&f.display().to_string()));
        assert!(named && e.contains(want), "{files:?}: {e}");
        assert!(!out.exists(), "{files:?}: wrote {}", out.display());
    }
    let e = fails(&["analyze", s(&fixture("mixed.pcapng")), "--k8s-time", T0]);
    assert!(e.contains("--k8s-time"), "{e}");
}

/// The intervals of the Kubernetes sections hold the truth about 95 % of
/// the time at 1-in-100, on an ACK-heavy mixture with bursts of full-size
/// frames (the same estimator as every breakdown, on its own keys).
#[test]
fn coverage_at_1_in_100() {
    use rand_xoshiro::Xoshiro256PlusPlus;
    use rand_xoshiro::rand_core::{Rng, SeedableRng};
    let d = tmpdir();
    let trace = d.path().join("mix.pcapng");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(26);
    let mut want: Vec<((Ctx, Ctx), u32)> = Vec::new();
    let mut frames = Vec::new();
    for g in groups() {
        let mut burst = 0;
        for i in 0..g.n * 100 {
            // Mostly bare ACKs, now and then a burst of full-size frames.
            if burst == 0 && rng.next_u32() % 20 == 0 {
                burst = 1 + rng.next_u32() % 12;
            }
            let payload = match burst {
                0 => (rng.next_u32() % 3 * 6) as usize,
                _ => {
                    burst -= 1;
                    1448
                }
            };
            let bytes = frame(g.src, g.dst, payload);
            want.push((g.want, bytes.len() as u32));
            let ts = T0_NS + g.at * 1_000_000_000 + i as i64 * 10_000;
            frames.push(Out {
                ts,
                iface: g.iface,
                dir: g.dir,
                bytes,
            });
        }
    }
    write_pcapng(&trace, frames.into_iter());
    let pair = |c: &(Ctx, Ctx)| format!("{} -> {}", workload_key(&c.0), workload_key(&c.1));
    let pairs = truth(&want, |c| Some(pair(c)));
    let to_ns = truth(&want, |c| Some(namespace_key(&c.1)));
    let leaving = truth(&want, |c| (c.1 == OUTSIDE).then(|| workload_key(&c.0)));
    let fa_api = "shop/deployment/frontend -> payments/service/api";
    let sources: Vec<pktsample_k8s::Source> = [("cluster-2200.json", T0), ("pods-2300.json", T1)]
        .iter()
        .map(|(f, t)| pktsample_k8s::Source {
            path: fixture(&format!("k8s/{f}")),
            time: Some(pktsample_schemas::meta::parse_rfc3339_ns(t).unwrap()),
        })
        .collect();
    let cluster = std::sync::Arc::new(pktsample_k8s::Cluster::load(&sources).unwrap());
    let sections = [
        pktsample_analyze::Section::Workloads,
        pktsample_analyze::Section::NamespacePairs,
        pktsample_analyze::Section::WorkloadPairs,
        pktsample_analyze::Section::Namespaces,
        pktsample_analyze::Section::Leaving,
    ]
    .into_iter()
    .collect();
    let runs: u64 = std::env::var("K8S_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let mut hits = [0u32; 4];
    let out = d.path().join("s.parquet");
    for seed in 0..runs {
        replay_lib(&trace, &out, 100, 2600 + seed);
        let q = pktsample_analyze::Query {
            inputs: vec![out.clone()],
            from: None,
            to: None,
            interfaces: vec![],
            hosts: vec![],
            directions: vec![],
            interval: None,
            sections,
            asn: None,
            memory_limit: None,
            temp_dir: None,
            ignore_metadata: false,
            inner: false,
            k8s: Some(cluster.clone()),
        };
        let a = pktsample_analyze::run(&q, &|_| {}).unwrap();
        let r = pktsample_analyze::report(&a, 1000).unwrap();
        let row = |v: &Option<Vec<pktsample_analyze::report::K8sRow>>, k: &str| {
            v.as_ref()
                .unwrap()
                .iter()
                .find(|x| x.name == k)
                .map(|x| x.m.clone())
        };
        let p = r
            .workload_pairs
            .as_ref()
            .unwrap()
            .iter()
            .find(|x| format!("{} -> {}", x.source, x.destination) == fa_api);
        if let Some(p) = p {
            hits[0] += covers(&p.m.packets, pairs[fa_api].0 as f64) as u32;
            hits[1] += covers(&p.m.bytes, pairs[fa_api].1 as f64) as u32;
        }
        if let Some(m) = row(&r.destination_namespaces, "payments") {
            hits[2] += covers(&m.bytes, to_ns["payments"].1 as f64) as u32;
        }
        if let Some(m) = row(&r.leaving_workloads, "shop/statefulset/cart") {
            hits[3] += covers(&m.packets, leaving["shop/statefulset/cart"].0 as f64) as u32;
        }
    }
    let names = [
        "workload pair packets",
        "workload pair bytes",
        "destination namespace bytes",
        "leaving workload packets",
    ];
    assert_coverage("Kubernetes", &names, &hits, runs);
}

/// Live, in a namespace: a veth named by Calico's rule for the fixture's
/// shop/frontend pod (its peer standing in for the pod), the trace sent
/// from the pod's side. On the Calico interface every sample is the pod's
/// (by interface, whatever its source address); on the pod's side the
/// addresses decide, against the snapshot valid now (the later one).
#[test]
fn live_samples_attributed_by_interface_and_by_address() {
    use common::netns::*;
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let d = tmpdir();
    let trace = d.path().join("k8s.pcapng");
    let want = write_trace(&trace);
    let veth = frontend_veth();
    sh(&[
        "ip", "-n", &ns.name, "link", "add", &veth, "type", "veth", "peer", "name", "vpod",
    ]);
    for dev in [veth.as_str(), "vpod"] {
        sh(&["ip", "-n", &ns.name, "link", "set", dev, "up"]);
    }
    let out = d.path().join("live.parquet");
    let mut args: Vec<String> = [
        "-i",
        "cali*",
        "-i",
        "vpod",
        "-r",
        "1",
        "--snaplen",
        "256",
        "-o",
        s(&out),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(k8s_args());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let cap = ns.capture(&a);
    ns.inject_on("vpod", &trace, &[]);
    let (stdout, _) = cap.stop();
    assert!(stdout.contains("wrote"), "{stdout}");
    let (batches, meta) = read_all(&out);
    let b = concat(&batches);
    assert_eq!(meta.k8s_snapshots.len(), 2);
    // Now is after both snapshots: the later one holds, where
    // 198.51.100.40 is payments/api-6c4f8d7b5-zz9yy's.
    let later = |c: Ctx| if c == DEBUG { API_NEW } else { c };
    let by_address = |g: &Group| -> (Ctx, Ctx) {
        let at = |a: &str, c: Ctx| if a == "192.0.2.99" { OUTSIDE } else { later(c) };
        (at(g.src, g.want.0), at(g.dst, g.want.1))
    };
    let mut on_veth: BTreeMap<String, usize> = BTreeMap::new();
    let mut on_pod: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..b.num_rows() {
        let key = format!("{:?} {:?}", side(&b, "src", i), side(&b, "dst", i));
        match text(&b, "ifname", i).as_deref() {
            Some(n) if n == veth => *on_veth.entry(key).or_default() += 1,
            Some("vpod") => *on_pod.entry(key).or_default() += 1,
            other => panic!("a sample of {other:?}"),
        }
    }
    let (mut want_veth, mut want_pod) = (BTreeMap::new(), BTreeMap::new());
    for g in groups() {
        let (src, dst) = by_address(&g);
        let k = |s: Ctx, d: Ctx| format!("{:?} {:?}", owned(s), owned(d));
        *want_pod.entry(k(src, dst)).or_insert(0) += g.n;
        // Received by the host from the pod: the pod is the source.
        *want_veth.entry(k(FRONTEND_A, dst)).or_insert(0) += g.n;
    }
    assert_eq!(want.len(), b.num_rows() / 2);
    assert_eq!(on_pod, want_pod, "by address");
    assert_eq!(on_veth, want_veth, "by interface");
}

/// convert and enrich fill the same columns from the same snapshots as
/// capture does.
#[test]
fn convert_and_enrich_fill_what_capture_fills() {
    let d = tmpdir();
    let trace = d.path().join("k8s.pcapng");
    write_trace(&trace);
    let (plain, enriched) = (
        d.path().join("plain.parquet"),
        d.path().join("enriched.parquet"),
    );
    let base = ["capture", "--replay", s(&trace), "--sampling-rate", "1"];
    ok(&[&base[..], &["-o", s(&plain)]].concat());
    let mut a: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    a.extend(["-o".to_string(), s(&enriched).to_string()]);
    a.extend(k8s_args());
    run_ok(&a);
    let converted = d.path().join("converted.parquet");
    let mut a: Vec<String> = ["convert", s(&plain), "-o", s(&converted)]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(k8s_args());
    run_ok(&a);
    let part_dir = d.path().join("ds/date=2023-11-14/host=node-a");
    std::fs::create_dir_all(&part_dir).unwrap();
    let part = part_dir.join("part-0.parquet");
    std::fs::copy(&plain, &part).unwrap();
    let mut a: Vec<String> = ["enrich", s(&d.path().join("ds"))]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(k8s_args());
    let said = run_ok(&a);
    assert!(said.contains("enriched 1 parts"), "{said}");
    let want = concat(&read_all(&enriched).0);
    for got in [&converted, &part] {
        let (batches, meta) = read_all(got);
        let b = concat(&batches);
        assert_eq!(b.num_rows(), want.num_rows());
        for i in 0..b.num_rows() {
            for p in ["src", "dst"] {
                assert_eq!(
                    side(&b, p, i),
                    side(&want, p, i),
                    "{} row {i} {p}",
                    got.display()
                );
            }
        }
        assert_eq!(meta.k8s_snapshots.len(), 2, "{}", got.display());
    }
}
