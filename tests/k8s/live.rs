//! Live capture on a Calico-named veth in a network namespace.

use std::collections::BTreeMap;

use super::common::*;
use super::trace::*;

/// Live, in a namespace: a veth named by Calico's rule for the fixture's
/// shop/frontend pod (its peer standing in for the pod), the trace sent
/// from the pod's side. On the Calico interface every sample is the pod's
/// (by interface, whatever its source address); on the pod's side the
/// addresses decide, against the snapshot valid now (the later one).
#[test]
fn live_samples_attributed_by_interface_and_by_address() {
    use super::common::netns::*;
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
    let args = with_k8s(&[
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
    ]);
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
