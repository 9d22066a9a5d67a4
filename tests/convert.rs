//! `pktsample convert`: Parquet ⇄ pcapng is lossless for every column and the
//! metadata; a plain capture converts to samples at rate 1.

mod common;

use std::collections::BTreeMap;

use common::*;
use pktsample_schemas::{
    CaptureMetadata, Direction, DirectionStats, InterfaceMeta, SampleBatchBuilder, SampleRow,
    SampleWriter, Source,
};

fn assert_same(a: &std::path::Path, b: &std::path::Path) {
    let (ba, ma) = read_all(a);
    let (bb, mb) = read_all(b);
    assert_eq!(
        concat(&ba),
        concat(&bb),
        "{} vs {}",
        a.display(),
        b.display()
    );
    assert_eq!(ma, mb, "metadata");
}

#[test]
fn parquet_to_pcapng_to_parquet_is_lossless() {
    let dir = tmpdir();
    let p1 = dir.path().join("a.parquet");
    let n = dir.path().join("b.pcapng");
    let p2 = dir.path().join("c.parquet");
    replay(
        s(&fixture("mixed.pcapng")),
        &["-r", "3", "--seed", "9", "-o", s(&p1)],
    );
    ok(&["convert", s(&p1), "-o", s(&n)]);
    ok(&["convert", s(&n), "-o", s(&p2)]);
    assert_same(&p1, &p2);
    assert!(concat(&read_all(&p1).0).num_rows() > 200);
}

/// Columns replay never fills (ingress/routed ifindex, several rates on one
/// interface, MAC and MTU) survive the pcapng leg too.
#[test]
fn live_style_columns_survive_the_round_trip() {
    let dir = tmpdir();
    let p1 = dir.path().join("live.parquet");
    let frame = std::fs::read(fixture("mixed.pcapng")).unwrap();
    // Any Ethernet bytes will do as headers: take slices of a real frame area.
    let hdr = &frame[200..328];
    let mut meta = CaptureMetadata::new(
        Source::Tcx {
            ring_bytes: Some(1 << 22),
        },
        128,
    );
    let mut dirs = BTreeMap::new();
    dirs.insert(
        Direction::Ingress,
        DirectionStats {
            packets_seen: 1000,
            samples: 2,
            drops: 1,
        },
    );
    dirs.insert(
        Direction::Egress,
        DirectionStats {
            packets_seen: 500,
            samples: 1,
            drops: 0,
        },
    );
    meta.interfaces.push(InterfaceMeta {
        ifindex: 7,
        name: "veth-a".into(),
        mac: Some("02:00:5e:00:53:07".into()),
        mtu: Some(9000),
        sampling_rate: 100,
        link_type: 1,
        shared_pool: false,
        directions: dirs,
    });
    meta.set_time_range(Some(1_000_000_001), Some(3_000_000_007));
    let mut w = SampleWriter::create(&p1, false, &meta).unwrap();
    let mut bld = SampleBatchBuilder::new();
    let rows = [
        (1_000_000_001, Direction::Ingress, 100, Some(7), Some(9)),
        (2_000_000_003, Direction::Egress, 100, Some(3), None),
        (3_000_000_007, Direction::Ingress, 100, None, Some(0)),
        (3_000_000_007, Direction::Unknown, 5, None, None),
    ];
    for (ts, d, rate, ing, routed) in rows {
        bld.push(&SampleRow {
            timestamp_ns: ts,
            ifindex: 7,
            ifname: "veth-a",
            direction: d,
            sampling_rate: rate,
            pkt_len: 1514,
            header: hdr,
            ingress_ifindex: ing,
            routed_ifindex: routed,
            link_type: 1,
        });
    }
    w.write(&bld.finish()).unwrap();
    w.finish(&meta).unwrap();

    let n = dir.path().join("live.pcapng");
    let p2 = dir.path().join("back.parquet");
    ok(&["convert", s(&p1), "-o", s(&n)]);
    ok(&["convert", s(&n), "-o", s(&p2)]);
    assert_same(&p1, &p2);
    if need("tshark", have_cmd("tshark")) {
        let out = tshark(&[
            "-r",
            s(&n),
            "-T",
            "fields",
            "-e",
            "frame.interface_name",
            "-e",
            "frame.len",
        ]);
        assert_eq!(out.lines().count(), 4);
        assert!(out.lines().all(|l| l == "veth-a\t1514"), "{out}");
    }
}

#[test]
fn plain_capture_converts_at_rate_one() {
    let dir = tmpdir();
    let a = dir.path().join("a.parquet");
    let b = dir.path().join("b.parquet");
    ok(&["convert", s(&fixture("mixed.pcap")), "-o", s(&a)]);
    replay(
        s(&fixture("mixed.pcap")),
        &["-r", "1", "--snaplen", "65535", "-o", s(&b)],
    );
    let (ba, ma) = read_all(&a);
    let (bb, mb) = read_all(&b);
    assert_eq!(concat(&ba), concat(&bb));
    assert!(matches!(ma.source, Source::Capture { .. }));
    assert_eq!(ma.interfaces, mb.interfaces);
    assert_eq!((ma.start_time, ma.end_time), (mb.start_time, mb.end_time));
}
