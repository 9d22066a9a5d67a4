//! Live capture at TCX, end to end: each test makes its own network
//! namespace with a veth pair (IPv6 off, so nothing but our frames crosses
//! it), captures with `pktsample capture -i`, pushes a trace with a known
//! truth through with `pktsample inject`, and checks the file against the
//! truth, the kernel counters and tshark. Needs root and Linux >= 6.6: skips
//! loudly otherwise, and fails when CI=true.

#[path = "../common/mod.rs"]
mod common;
mod lifecycle;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use common::netns::*;
use common::*;
use pktsample_schemas::Direction;

/// At 1-in-1 the samples are the trace: per direction, IP version and
/// protocol, with exact wire lengths (VLAN tags the veth took off are put
/// back). Stopped with SIGINT: the file is valid and complete, and no
/// program stays attached.
#[test]
fn rate_one_samples_equal_the_trace() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let dir = tmpdir();
    let out = dir.path().join("live.parquet");
    // Enrichment on the live path: a local prefix list for the
    // documentation ranges the trace uses (203.0.113.0/24 left unmapped).
    let asn_db = dir.path().join("doc-asns.txt");
    std::fs::write(
        &asn_db,
        "192.0.2.0/24 64496 Doc Net One\n198.51.100.0/24 64497\n2001:db8::/34 64498 Doc Net Six\n",
    )
    .unwrap();
    let cap = ns.capture(&[
        "-i",
        "va",
        "-i",
        "vb",
        "-r",
        "1",
        "--snaplen",
        "256",
        "--asn-db",
        s(&asn_db),
        "-o",
        s(&out),
    ]);
    assert_eq!(ns.tcx_programs("va"), 2);
    ns.inject(&fixture("mixed.pcapng"), &[]);
    let (stdout, _) = cap.stop();
    assert!(
        stdout.contains(&format!("wrote {}", out.display())),
        "{stdout}"
    );
    assert_eq!(
        ns.tcx_programs("va") + ns.tcx_programs("vb"),
        0,
        "programs left attached"
    );

    let (batches, meta) = read_all(&out);
    let b = concat(&batches);
    let t = truth("mixed.pcapng");
    let got = tally(&b);
    let mut want = truth_tally(&t, "va/egress");
    want.extend(truth_tally(&t, "vb/ingress"));
    assert_eq!(got, want);
    for (dev, d) in [("va", Direction::Egress), ("vb", Direction::Ingress)] {
        let st = stats(&meta, dev, d);
        assert_eq!(
            (st.packets_seen, st.samples, st.drops),
            (1000, 1000, 0),
            "{dev}"
        );
    }
    assert_eq!(stats(&meta, "va", Direction::Ingress).packets_seen, 0);
    assert_eq!(stats(&meta, "vb", Direction::Egress).packets_seen, 0);
    assert!(matches!(meta.source, pktsample_schemas::Source::Tcx { .. }));
    assert_eq!(meta.asn_databases.len(), 1, "{:?}", meta.asn_databases);
    // Every address got its AS (or its label) in the AS columns.
    {
        use arrow_array::Array;
        use arrow_array::cast::AsArray;
        let addr = b
            .column_by_name("src_addr")
            .unwrap()
            .as_string::<i32>()
            .clone();
        let asn = b
            .column_by_name("src_as")
            .unwrap()
            .as_primitive::<arrow_array::types::UInt32Type>()
            .clone();
        let names = b
            .column_by_name("src_as_name")
            .unwrap()
            .as_dictionary::<arrow_array::types::Int32Type>()
            .clone();
        let nv = names.values().as_string::<i32>().clone();
        let mut seen = BTreeMap::new();
        for i in 0..b.num_rows() {
            if addr.is_null(i) {
                assert!(asn.is_null(i) && names.is_null(i));
                continue;
            }
            let a: std::net::IpAddr = addr.value(i).parse().unwrap();
            let want = match a {
                std::net::IpAddr::V4(v) if v.octets()[..3] == [192, 0, 2] => {
                    (Some(64496), "Doc Net One")
                }
                std::net::IpAddr::V4(v) if v.octets()[..3] == [198, 51, 100] => (Some(64497), ""),
                std::net::IpAddr::V6(v) if v.segments()[2] < 0x4000 => (Some(64498), "Doc Net Six"),
                _ => (None, "documentation"),
            };
            let got_name = names.key(i).map(|k| nv.value(k)).unwrap_or("");
            assert_eq!(
                ((!asn.is_null(i)).then(|| asn.value(i)), got_name),
                want,
                "{a}"
            );
            *seen.entry(want.1).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 4, "every case present: {seen:?}");
    }
    // Ingress samples carry their ingress interface; timestamps are UTC now.
    let cols = pktsample_schemas::SampleColumns::new(&b).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    for i in 0..cols.len() {
        let r = cols.row(i).unwrap();
        assert!(
            (now - r.timestamp_ns).abs() < 120_000_000_000,
            "timestamp {}",
            r.timestamp_ns
        );
        if r.direction == Direction::Ingress {
            assert_eq!(r.ingress_ifindex, Some(r.ifindex));
        }
        assert_eq!(r.routed_ifindex, None);
    }
}

/// At 1-in-N the pool is exact per direction and the samples are
/// Binomial(packets_seen, 1/N).
#[test]
fn rate_n_pool_is_exact_and_samples_binomial() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let dir = tmpdir();
    let m = 50_000u64;
    let trace = small_trace(dir.path(), m);
    let out = dir.path().join("live.parquet");
    let cap = ns.capture(&["-i", "va", "-i", "vb", "-r", "10", "-o", s(&out)]);
    ns.inject(&trace, &[]);
    cap.stop();
    let (batches, meta) = read_all(&out);
    let b = concat(&batches);
    let rates = u32_col(&b, "sampling_rate");
    assert!(rates.values().iter().all(|&r| r == 10));
    let got = tally(&b);
    for (dev, d) in [("va", Direction::Egress), ("vb", Direction::Ingress)] {
        let st = stats(&meta, dev, d);
        assert_eq!(st.packets_seen, m, "{dev}: the pool is every packet sent");
        assert_eq!(st.drops, 0);
        let rows = got[&format!("{dev}/{}", d.as_str())].0;
        assert_eq!(
            rows, st.samples,
            "{dev}: every counted sample is in the file"
        );
        let (mean, sd) = (m as f64 / 10.0, (m as f64 * 0.1 * 0.9).sqrt());
        assert!(
            (rows as f64 - mean).abs() < 4.0 * sd,
            "{dev}: {rows} samples, expected {mean} ± 4×{sd:.0}"
        );
    }
}

/// The case that broke the reference agent: 300,000 packets at 1-in-1 as
/// fast as the sender goes, into a deliberately small ring. Every packet is
/// either in the file or counted as a drop.
#[test]
fn overload_loses_nothing_silently() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let dir = tmpdir();
    let m = 300_000u64;
    let trace = small_trace(dir.path(), m);
    let out = dir.path().join("live.parquet");
    let cap = ns.capture(&[
        "-i",
        "va",
        "-i",
        "vb",
        "-r",
        "1",
        "--ring-size",
        "16KiB",
        "-q",
        "-o",
        s(&out),
    ]);
    ns.inject(&trace, &[]);
    cap.stop();
    let (batches, meta) = read_all(&out);
    let got = tally(&concat(&batches));
    let mut drops = 0;
    for (dev, d) in [("va", Direction::Egress), ("vb", Direction::Ingress)] {
        let st = stats(&meta, dev, d);
        assert_eq!(st.packets_seen, m, "{dev}");
        assert_eq!(
            st.samples + st.drops,
            st.packets_seen,
            "{dev}: samples + drops"
        );
        assert_eq!(
            got[&format!("{dev}/{}", d.as_str())].0,
            st.samples,
            "{dev}: rows"
        );
        drops += st.drops;
    }
    assert!(
        drops > 0,
        "a 16 KiB ring should overflow; the test did not overload"
    );
}

/// pcapng from a live capture opens in tshark with interface names,
/// directions and the statistics blocks.
#[test]
fn live_pcapng_opens_in_tshark() {
    if !privileged() || !need("tshark", have_cmd("tshark")) {
        return;
    }
    let ns = Netns::new();
    let dir = tmpdir();
    let out = dir.path().join("live.pcapng");
    let cap = ns.capture(&["-i", "va", "-i", "vb", "-r", "1", "-o", s(&out)]);
    ns.inject(&fixture("mixed.pcapng"), &[]);
    cap.stop();
    let fields = tshark(&[
        "-r",
        s(&out),
        "-T",
        "fields",
        "-e",
        "frame.interface_name",
        "-e",
        "frame.packet_flags_direction",
    ]);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for l in fields.lines() {
        *counts.entry(l.to_string()).or_default() += 1;
    }
    let want: BTreeMap<String, u64> = [
        ("va\t0x00000002".to_string(), 1000),
        ("vb\t0x00000001".to_string(), 1000),
    ]
    .into();
    assert_eq!(counts, want);
    let blocks = tshark(&["-r", s(&out), "-X", "read_format:MIME Files Format", "-V"]);
    let recv: Vec<&str> = blocks
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Number of Received Packets: "))
        .collect();
    assert_eq!(recv, vec!["1000", "1000"]);
}

/// `--rotate` renames each finished part into place, so `kill -9` loses at
/// most the part in progress; the kernel releases the TCX links of a killed
/// process.
#[test]
fn kill_9_with_rotate_keeps_finished_parts() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let dir = tmpdir();
    let trace = small_trace(dir.path(), 4000);
    let out = dir.path().join("run.parquet");
    let cap = ns.capture(&["-i", "va", "-r", "1", "--rotate", "1s", "-q", "-o", s(&out)]);
    // 4000 packets at 1000/s: about four seconds, so three or more parts finish.
    ns.inject(&trace, &["--pps", "1000"]);
    cap.signal("KILL");
    let (ok, _, _) = cap.wait();
    assert!(!ok);
    let parts: Vec<String> = listing(dir.path())
        .into_iter()
        .filter(|n| n.starts_with("run-") && n.ends_with(".parquet"))
        .collect();
    assert!(parts.len() >= 3, "finished parts: {parts:?}");
    let mut rows = 0;
    for p in &parts {
        let (batches, meta) = read_all(&dir.path().join(p));
        rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        assert!(meta.end_time.is_some() || batches.is_empty());
    }
    assert!(rows > 2000 && rows <= 4000, "{rows} rows in finished parts");
    assert!(!out.exists());
    assert_eq!(
        ns.tcx_programs("va"),
        0,
        "a killed capture left programs attached"
    );
}
