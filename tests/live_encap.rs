//! A real overlay, live: two network namespaces joined by a veth pair (the
//! underlay, 192.0.2.0/24), a Linux vxlan device in each (VNI 42, UDP 4789)
//! carrying IPv4 and IPv6 between 203.0.113.0/24 and 2001:db8:42::/64, the
//! sampler at TCX on the underlay veth at its default snap length. Every
//! datagram sent inside the tunnel is a row whose inner fields are what was
//! sent and whose outer fields are the tunnel's. (Geneve has no module on
//! this kernel: it is tested offline, in `encap.rs`.)

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt8Type, UInt16Type, UInt32Type};
use arrow_array::{Array, RecordBatch};
use common::netns::*;
use common::*;

fn run(ns: &Netns, c: &str) {
    ns.exec_ok(&c.split(' ').collect::<Vec<_>>());
}

/// The rows of the underlay capture that carry our datagrams (inner UDP to
/// port 9): (inner version, inner source, inner destination, inner length
/// marker = the inner source port) per row, with their outer fields checked.
fn tunnelled(b: &RecordBatch) -> BTreeMap<(u8, String, String), Vec<u16>> {
    let u8c = |n: &str| {
        b.column_by_name(n)
            .unwrap()
            .as_primitive::<UInt8Type>()
            .clone()
    };
    let u16c = |n: &str| {
        b.column_by_name(n)
            .unwrap()
            .as_primitive::<UInt16Type>()
            .clone()
    };
    let strc = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
    let (iv, ip, isp, idp) = (
        u8c("inner_ip_version"),
        u8c("inner_ip_proto"),
        u16c("inner_src_port"),
        u16c("inner_dst_port"),
    );
    let (is, id, os, od) = (
        strc("inner_src_addr"),
        strc("inner_dst_addr"),
        strc("src_addr"),
        strc("dst_addr"),
    );
    let (op, odp) = (u8c("ip_proto"), u16c("dst_port"));
    let tid = b
        .column_by_name("tunnel_id")
        .unwrap()
        .as_primitive::<UInt32Type>();
    let encap = b
        .column_by_name("encap")
        .unwrap()
        .as_dictionary::<Int32Type>();
    let ev = encap.values().as_string::<i32>();
    let mut out: BTreeMap<(u8, String, String), Vec<u16>> = BTreeMap::new();
    for i in 0..b.num_rows() {
        if !iv.is_valid(i) || ip.value(i) != 17 || !idp.is_valid(i) || idp.value(i) != 9 {
            continue;
        }
        assert_eq!(
            ev.value(encap.keys().value(i) as usize),
            "vxlan/eth",
            "row {i}"
        );
        assert_eq!(tid.value(i), 42, "row {i}: VNI");
        assert_eq!(
            (op.value(i), odp.value(i)),
            (17, 4789),
            "row {i}: outer UDP"
        );
        let outer = (os.value(i), od.value(i));
        assert!(
            outer == ("192.0.2.1", "192.0.2.2") || outer == ("192.0.2.2", "192.0.2.1"),
            "row {i}: outer {outer:?}"
        );
        out.entry((iv.value(i), is.value(i).into(), id.value(i).into()))
            .or_default()
            .push(isp.value(i));
    }
    out
}

#[test]
fn vxlan_overlay_is_read_through_on_the_underlay() {
    if !privileged() || !need("python3", have_cmd("python3")) {
        return;
    }
    let a = Netns::new();
    let b = Netns::new();
    // vb of `a` becomes the far end of the underlay, in `b`.
    run(&a, "ip link set vb name under0");
    sh(&[
        "ip", "-n", &a.name, "link", "set", "under0", "netns", &b.name,
    ]);
    for (ns, me, peer, inner4, inner6) in [
        (&a, "va", "192.0.2.2", "203.0.113.1/24", "2001:db8:42::1/64"),
        (
            &b,
            "under0",
            "192.0.2.1",
            "203.0.113.2/24",
            "2001:db8:42::2/64",
        ),
    ] {
        let mine = if me == "va" {
            "192.0.2.1/24"
        } else {
            "192.0.2.2/24"
        };
        for c in [
            format!("ip addr add {mine} dev {me}"),
            format!("ip link set {me} up"),
            format!("ip link add vx0 type vxlan id 42 dev {me} remote {peer} dstport 4789"),
            "sysctl -qw net.ipv6.conf.vx0.disable_ipv6=0".to_string(),
            "ip link set vx0 up".to_string(),
            format!("ip addr add {inner4} dev vx0"),
            format!("ip -6 addr add {inner6} dev vx0 nodad"),
        ] {
            run(ns, &c);
        }
    }
    let dir = tmpdir();
    let out = dir.path().join("underlay.parquet");
    let cap = a.capture(&["-i", "va", "-r", "1", "-q", "-o", s(&out)]);
    // 40 datagrams each way of each version, the source port numbering them.
    let script = r#"
import socket
for fam, dst in ((socket.AF_INET, "203.0.113.2"), (socket.AF_INET6, "2001:db8:42::2")):
    for i in range(40):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind(("", 20000 + i))
        s.sendto(bytes(30 + 17 * i), (dst, 9))
        s.close()
"#;
    a.exec_ok(&["python3", "-c", script]);
    std::thread::sleep(Duration::from_millis(300));
    cap.stop();
    let (batches, _) = read_all(&out);
    let got = tunnelled(&concat(&batches));
    let want: Vec<u16> = (0..40).map(|i| 20000 + i).collect();
    for key in [
        (4, "203.0.113.1".to_string(), "203.0.113.2".to_string()),
        (
            6,
            "2001:db8:42::1".to_string(),
            "2001:db8:42::2".to_string(),
        ),
    ] {
        let mut ports = got.get(&key).cloned().unwrap_or_default();
        ports.sort();
        assert_eq!(ports, want, "{key:?}: every datagram, inner fields as sent");
    }
    // --inner on the underlay capture: the overlay's addresses, not the
    // tunnel endpoints'.
    let r: serde_json::Value = serde_json::from_str(&ok(&[
        "analyze",
        s(&out),
        "--format",
        "json",
        "--inner",
        "--by",
        "top-sources",
        "--top",
        "50",
    ]))
    .unwrap();
    let srcs: Vec<&str> = r["top_sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["address"].as_str().unwrap())
        .collect();
    assert!(
        srcs.contains(&"203.0.113.1") && srcs.contains(&"2001:db8:42::1"),
        "{srcs:?}"
    );
    assert!(!srcs.contains(&"192.0.2.1"), "{srcs:?}");
}
