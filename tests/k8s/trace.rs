//! The fixture trace between the cluster's pods, services and nodes, each
//! frame's expected context, and helpers to read the columns back.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::common::*;
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, RecordBatch};
use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};

pub const T0: &str = "2023-11-14T22:00:00Z";
pub const T1: &str = "2023-11-14T23:00:00Z";
/// 22:00:00Z in ns.
pub const T0_NS: i64 = 1_700_000_000_000_000_000 - 800 * 1_000_000_000;

/// The host-side veth of shop/frontend-5d8f7c9b6-abcde, by Calico's rule.
pub fn frontend_veth() -> String {
    pktsample_k8s::calico_veth("shop", "frontend-5d8f7c9b6-abcde")
}

/// One side's expected context: namespace, workload, pod, node.
pub type Ctx = (
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

pub const FRONTEND_A: Ctx = (
    Some("shop"),
    "deployment/frontend",
    Some("frontend-5d8f7c9b6-abcde"),
    Some("node-a"),
);
pub const FRONTEND_B: Ctx = (
    Some("shop"),
    "deployment/frontend",
    Some("frontend-5d8f7c9b6-fghij"),
    Some("node-b"),
);
pub const API_SVC: Ctx = (Some("payments"), "service/api", None, None);
pub const API: Ctx = (
    Some("payments"),
    "deployment/payments-api",
    Some("api-6c4f8d7b5-xk2lq"),
    Some("node-a"),
);
pub const API_NEW: Ctx = (
    Some("payments"),
    "deployment/payments-api",
    Some("api-6c4f8d7b5-zz9yy"),
    Some("node-b"),
);
pub const DB: Ctx = (
    Some("payments"),
    "statefulset/db",
    Some("db-0"),
    Some("node-b"),
);
pub const CART: Ctx = (
    Some("shop"),
    "statefulset/cart",
    Some("cart-0"),
    Some("node-b"),
);
pub const DEBUG: Ctx = (Some("default"), "pod/debug", Some("debug"), Some("node-a"));
pub const NODE_A: Ctx = (None, "node", None, Some("node-a"));
pub const DNS: Ctx = (Some("kube-system"), "service/kube-dns", None, None);
pub const OUTSIDE: Ctx = (None, "documentation", None, None);

/// A group of identical frames: when (seconds after 22:00), on which
/// interface (0 eth0, 1 the frontend's veth) and direction (1 inbound,
/// 2 outbound), addresses, count and payload, and the context expected.
pub struct Group {
    pub at: i64,
    pub iface: u32,
    pub dir: u32,
    pub src: &'static str,
    pub dst: &'static str,
    pub n: usize,
    pub payload: usize,
    pub want: (Ctx, Ctx),
    /// Carried in VXLAN between the nodes (the addresses are the inner
    /// ones).
    pub vxlan: bool,
}

pub fn groups() -> Vec<Group> {
    let g = |at, iface, dir, src, dst, n, payload, want| Group {
        at,
        iface,
        dir,
        src,
        dst,
        n,
        payload,
        want,
        vxlan: false,
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
        // An overlay between the nodes: the pods inside, not the nodes.
        Group {
            vxlan: true,
            ..g(
                5430,
                0,
                2,
                "198.51.100.10",
                "198.51.100.21",
                7,
                300,
                (FRONTEND_A, DB),
            )
        },
    ]
}

/// A group's frame: in VXLAN from node-a to node-b when it says so.
pub fn group_frame(g: &Group, payload: usize) -> Vec<u8> {
    let inner = frame(g.src, g.dst, payload);
    match g.vxlan {
        true => vxlan(&inner),
        false => inner,
    }
}

/// A frame in VXLAN (VNI 4097) from node-a to node-b.
pub fn vxlan(inner: &[u8]) -> Vec<u8> {
    let mut body = vec![0x08, 0, 0, 0, 0, 0x10, 0x01, 0];
    body.extend_from_slice(inner);
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 3], [2, 0, 0, 0, 0, 4])
        .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
        .udp(49152, 4789);
    let mut out = Vec::with_capacity(b.size(body.len()));
    b.write(&mut out, &body).unwrap();
    out
}

pub fn frame(src: &str, dst: &str, payload: usize) -> Vec<u8> {
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
pub struct Out {
    pub ts: i64,
    pub iface: u32,
    pub dir: u32,
    pub bytes: Vec<u8>,
}

pub fn write_pcapng(path: &Path, frames: impl Iterator<Item = Out>) {
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
pub fn write_trace(path: &Path) -> Vec<((Ctx, Ctx), u32)> {
    let mut want = Vec::new();
    let mut frames = Vec::new();
    for g in groups() {
        for i in 0..g.n {
            let bytes = group_frame(&g, g.payload);
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

pub fn k8s_args() -> Vec<String> {
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

/// The arguments with the fixture's snapshots after them.
pub fn with_k8s(args: &[&str]) -> Vec<String> {
    args.iter()
        .map(|s| s.to_string())
        .chain(k8s_args())
        .collect()
}

/// Run pktsample with `args`, and the snapshots after them when `k8s`;
/// its standard output.
pub fn run_with(args: &[&str], k8s: bool) -> String {
    let a = match k8s {
        true => with_k8s(args),
        false => args.iter().map(|s| s.to_string()).collect(),
    };
    ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

pub fn text(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
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

pub fn side(
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

pub fn owned(
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

/// The trace's packets and bytes per key of a side's context.
pub fn counts(
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

pub fn workload_key(c: &Ctx) -> String {
    match c.0 {
        Some(n) => format!("{n}/{}", c.1),
        None => format!("({})", c.1),
    }
}

pub fn namespace_key(c: &Ctx) -> String {
    match c.0 {
        Some(n) => n.to_string(),
        None => format!("({})", c.1),
    }
}

pub fn got(
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
