//! Traffic shaped like an Internet edge (`tracegen --mix edge`: hundreds of
//! thousands of distinct addresses here, millions at benchmark size), as
//! analyze must handle it: at rate 1 every number is exact and equals the
//! generator's truth.

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufWriter;

use pktsample_tracegen::{Format, Mix, Spec, generate};

use common::{analyze_lib, replay_lib, tmpdir};

#[test]
fn edge_shaped_trace_is_exact_at_rate_1() {
    let dir = tmpdir();
    let trace = dir.path().join("edge.pcapng");
    let spec = Spec {
        mix: Mix::Edge,
        packets: 200_000,
        seed: 11,
        format: Format::PcapNg {
            nanos: true,
            big_endian: false,
        },
        snaplen: 128,
        link: Default::default(),
    };
    let t = generate(&spec, BufWriter::new(File::create(&trace).unwrap())).unwrap();
    let out = dir.path().join("s.parquet");
    replay_lib(&trace, &out, 1, 1);
    let r = analyze_lib(vec![out], None, 25);
    let exact = |i: &pktsample_analyze::stats::Interval, want: u64, what: &str| {
        assert_eq!(
            (i.estimate, i.low, i.high),
            (want as f64, want as f64, want as f64),
            "{what}"
        );
    };
    exact(&r.summary.packets, t.total.packets, "packets");
    exact(&r.summary.bytes, t.total.bytes, "bytes");
    // Every distinct address is seen at rate 1.
    let all: BTreeSet<&String> = t.src_addr.keys().chain(t.dst_addr.keys()).collect();
    let v6 = all.iter().filter(|a| a.contains(':')).count() as u64;
    let d = r.distinct_addresses.as_ref().unwrap();
    assert!(all.len() > 100_000, "{} distinct addresses", all.len());
    assert_eq!((d.ipv4, d.ipv6), (all.len() as u64 - v6, v6));
    // Every version listed; none sampled is exactly 0 at rate 1.
    for v in r.ip_versions.as_ref().unwrap() {
        let key = if v.ip_version == "non-ip" {
            "none"
        } else {
            &v.ip_version
        };
        let (p, b) = t
            .ip_version
            .get(key)
            .map_or((0, 0), |c| (c.packets, c.bytes));
        exact(&v.m.packets, p, &v.ip_version);
        exact(&v.m.bytes, b, &v.ip_version);
    }
    // The top talkers: the heavy head, each exactly its truth, in order.
    let mut by_packets: Vec<(&String, u64)> =
        t.src_addr.iter().map(|(a, c)| (a, c.packets)).collect();
    by_packets.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let top = r.top_sources.as_ref().unwrap();
    assert_eq!(top.len(), 25);
    for row in top {
        let c = &t.src_addr[&row.address];
        exact(&row.m.packets, c.packets, &row.address);
        exact(&row.m.bytes, c.bytes, &row.address);
    }
    assert_eq!(top[0].m.packets.estimate, by_packets[0].1 as f64);
}
