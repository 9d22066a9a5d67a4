//! `pktsample capture --replay`: exactness at rate 1 against the generator's
//! truth (checked here, and independently with DuckDB/pyarrow/polars/pandas
//! and tshark), the sampler's statistics and its reproducibility.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use common::*;
use pktsample_tracegen::{Format, Mix, Spec, generate};

const TRACES: [&str; 5] = [
    "mixed.pcapng",
    "mixed-us-be.pcapng",
    "mixed.pcap",
    "mixed-ns-be.pcap",
    "snap96.pcap",
];

#[test]
fn rate_one_equals_truth_for_every_fixture() {
    let dir = tmpdir();
    for name in TRACES {
        let t = truth(name);
        let out = dir.path().join(format!("{name}.parquet"));
        replay(
            s(&fixture(name)),
            &["-r", "1", "--snaplen", "65535", "-o", s(&out)],
        );
        let (batches, meta) = read_all(&out);
        let b = concat(&batches);
        assert_eq!(b.num_rows() as u64, t.total.packets, "{name}");
        let pkt_len = u32_col(&b, "pkt_len");
        let bytes: u64 = pkt_len.values().iter().map(|&v| v as u64).sum();
        assert_eq!(bytes, t.total.bytes, "{name}");

        // Per IP version and protocol, from the decoded columns.
        let ver = u8_col(&b, "ip_version");
        let proto = u8_col(&b, "ip_proto");
        let mut by_ver: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut by_proto: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
        for i in 0..b.num_rows() {
            let len = pkt_len.value(i) as u64;
            let k = if ver.is_null(i) {
                "none".into()
            } else {
                ver.value(i).to_string()
            };
            let e = by_ver.entry(k).or_default();
            e.0 += 1;
            e.1 += len;
            if proto.is_valid(i) {
                let e = by_proto.entry(proto.value(i)).or_default();
                e.0 += 1;
                e.1 += len;
            }
        }
        let want_ver: BTreeMap<String, (u64, u64)> = t
            .ip_version
            .iter()
            .map(|(k, c)| (k.clone(), (c.packets, c.bytes)))
            .collect();
        let want_proto: BTreeMap<u8, (u64, u64)> = t
            .ip_proto
            .iter()
            .map(|(k, c)| (*k, (c.packets, c.bytes)))
            .collect();
        assert_eq!(by_ver, want_ver, "{name}");
        assert_eq!(by_proto, want_proto, "{name}");

        // The metadata pool is exact.
        let seen: u64 = meta.interfaces.iter().map(|i| i.total().packets_seen).sum();
        assert_eq!(seen, t.total.packets, "{name}");
        assert_eq!(meta.snaplen, 65535);
        assert_eq!(
            pktsample_schemas::meta::parse_rfc3339_ns(meta.start_time.as_deref().unwrap()),
            Some(t.first_ns),
            "{name}: start time (timestamp resolution and byte order honoured)"
        );
        assert_eq!(
            pktsample_schemas::meta::parse_rfc3339_ns(meta.end_time.as_deref().unwrap()),
            Some(t.last_ns),
            "{name}"
        );
    }
}

#[test]
fn rate_one_equals_truth_checked_by_duckdb_pyarrow_polars() {
    let Some(py) = python() else {
        need("Python with pyarrow, duckdb, polars, pandas", false);
        return;
    };
    let dir = tmpdir();
    for name in TRACES.into_iter().chain(["asn.pcapng"]).chain(LINK_TRACES) {
        let truth = fixture(&format!("{name}.truth.json"));
        let full = dir
            .path()
            .join(format!("{}.full.parquet", name.replace('/', "-")));
        replay(
            s(&fixture(name)),
            &["-r", "1", "--snaplen", "65535", "-o", s(&full)],
        );
        interop(&py, &["truth", s(&full), s(&truth)]);
        // At the default snaplen (128) every decoded count is still exact.
        let cut = dir
            .path()
            .join(format!("{}.128.parquet", name.replace('/', "-")));
        replay(s(&fixture(name)), &["-r", "1", "-o", s(&cut)]);
        interop(&py, &["truth", s(&cut), s(&truth), "--ignore-truncated"]);
    }
}

#[test]
fn snaplen_cuts_headers_but_keeps_wire_length() {
    let dir = tmpdir();
    let out = dir.path().join("s.parquet");
    replay(
        s(&fixture("mixed.pcapng")),
        &["-r", "1", "--snaplen", "64", "-o", s(&out)],
    );
    let b = concat(&read_all(&out).0);
    let cap = u16_col(&b, "cap_len");
    let len = u32_col(&b, "pkt_len");
    let hdr = b.column_by_name("header").unwrap().as_binary::<i32>();
    let t = truth("mixed.pcapng");
    assert_eq!(
        len.values().iter().map(|&v| v as u64).sum::<u64>(),
        t.total.bytes
    );
    for i in 0..b.num_rows() {
        assert_eq!(cap.value(i) as u32, len.value(i).min(64));
        assert_eq!(hdr.value(i).len(), cap.value(i) as usize);
    }
}

/// tshark reads the pcapng output: packet count, interface names, directions,
/// original lengths and the interface statistics all match the truth.
#[test]
fn pcapng_output_matches_truth_in_tshark() {
    if !need("tshark", have_cmd("tshark")) {
        return;
    }
    let dir = tmpdir();
    let out = dir.path().join("o.pcapng");
    replay(s(&fixture("mixed.pcapng")), &["-r", "1", "-o", s(&out)]);
    let t = truth("mixed.pcapng");
    let fields = tshark(&[
        "-r",
        s(&out),
        "-T",
        "fields",
        "-e",
        "frame.interface_name",
        "-e",
        "frame.packet_flags_direction",
        "-e",
        "frame.len",
    ]);
    let mut by_iface: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in fields.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let dir = match f[1] {
            "0x00000001" => "ingress",
            "0x00000002" => "egress",
            "" | "0x00000000" => "unknown",
            other => panic!("unexpected direction {other}"),
        };
        let e = by_iface.entry(format!("{}/{dir}", f[0])).or_default();
        e.0 += 1;
        e.1 += f[2].parse::<u64>().unwrap();
    }
    let want: BTreeMap<String, (u64, u64)> = t
        .interface
        .iter()
        .map(|(k, c)| (k.clone(), (c.packets, c.bytes)))
        .collect();
    assert_eq!(by_iface, want);

    // Interface statistics, read through Wireshark's pcapng file dissector.
    let blocks = tshark(&["-r", s(&out), "-X", "read_format:MIME Files Format", "-V"]);
    let recv: Vec<u64> = blocks
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Number of Received Packets: "))
        .map(|v| v.parse().unwrap())
        .collect();
    let per_iface = |n: &str| {
        t.interface
            .iter()
            .filter(|(k, _)| k.starts_with(n))
            .map(|(_, c)| c.packets)
            .sum::<u64>()
    };
    assert_eq!(recv, vec![per_iface("eth0/"), per_iface("eth1/")]);
    let drops = blocks
        .lines()
        .filter(|l| l.trim() == "Number of Dropped Packets: 0")
        .count();
    assert_eq!(drops, 2);
    // The ISB timestamp (written by pcap-file 2.0 with its halves swapped)
    // must be the end of the capture.
    let end = pktsample_schemas::meta::format_rfc3339_ns(t.last_ns);
    let tshark_time = format!("[Timestamp: Nov 14, 2023 {} UTC]", &end[11..end.len() - 1]);
    let mut in_isb = false;
    let mut stamps = 0;
    for l in blocks.lines().map(str::trim) {
        if let Some(b) = l.strip_prefix("Block: ") {
            in_isb = b == "Interface Statistics Block";
        } else if in_isb && l == tshark_time {
            stamps += 1;
        }
    }
    assert_eq!(stamps, 2, "ISB timestamps should be {tshark_time}");
    // Interface names and the sampling rate in the description.
    let names = tshark(&[
        "-r",
        s(&out),
        "-T",
        "fields",
        "-e",
        "frame.interface_description",
    ]);
    assert!(
        names
            .lines()
            .all(|l| l.starts_with("pktsample: sampling 1-in-1, ifindex ")),
        "{names}"
    );
}

fn big_trace(dir: &std::path::Path, packets: u64) -> std::path::PathBuf {
    let p = dir.join("big.pcap");
    let spec = Spec {
        mix: Mix::Small,
        packets,
        seed: 99,
        format: Format::Pcap {
            nanos: false,
            big_endian: false,
        },
        snaplen: 65535,
        link: Default::default(),
        wrap: Default::default(),
    };
    generate(&spec, BufWriter::new(File::create(&p).unwrap())).unwrap();
    p
}

/// At 1-in-N on M packets the number of samples is Binomial(M, 1/N); the same
/// seed gives byte-identical output and another seed another selection.
#[test]
fn sampler_is_binomial_and_reproducible() {
    let dir = tmpdir();
    let m: u64 = 1_000_000;
    let trace = big_trace(dir.path(), m);
    let run = |seed: &str, name: &str| {
        let out = dir.path().join(name);
        replay(s(&trace), &["-r", "100", "--seed", seed, "-o", s(&out)]);
        out
    };
    let a = run("42", "a.parquet");
    let b = run("42", "b.parquet");
    let c = run("43", "c.parquet");
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same seed, same bytes"
    );
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    for f in [&a, &c] {
        let (batches, meta) = read_all(f);
        let n: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let (mean, sd) = (m as f64 / 100.0, (m as f64 * 0.01 * 0.99).sqrt());
        assert!(
            (n as f64 - mean).abs() < 4.0 * sd,
            "{n} samples, expected {mean} ± 4×{sd:.1}"
        );
        assert_eq!(meta.interfaces.len(), 1);
        let st = meta.interfaces[0].total();
        assert_eq!(st.packets_seen, m);
        assert_eq!(st.samples, n);
        assert_eq!(meta.interfaces[0].sampling_rate, 100);
        let rates = concat(&batches);
        let r = u32_col(&rates, "sampling_rate");
        assert!(r.values().iter().all(|&v| v == 100));
    }
    // The seed is recorded, so the run can be repeated.
    assert!(matches!(
        read_all(&a).1.source,
        pktsample_schemas::Source::Replay {
            seed: 42,
            sampling_rate: 100,
            ..
        }
    ));
}

/// Sampling an already sampled file multiplies the rates, and its pool is
/// what was read.
#[test]
fn resampling_a_sampled_file_multiplies_rates() {
    let dir = tmpdir();
    let first = dir.path().join("first.pcapng");
    let second = dir.path().join("second.parquet");
    replay(
        s(&fixture("mixed.pcapng")),
        &["-r", "2", "--seed", "1", "-o", s(&first)],
    );
    replay(s(&first), &["-r", "3", "--seed", "1", "-o", s(&second)]);
    let (batches, meta) = read_all(&second);
    assert!(meta.interfaces.iter().all(|i| i.sampling_rate == 6));
    let b = concat(&batches);
    let r = u32_col(&b, "sampling_rate");
    assert!(b.num_rows() > 0 && r.values().iter().all(|&v| v == 6));
}

/// The committed traces are exactly what the generator makes from the spec in
/// their truth files (so fixtures and truth cannot drift apart).
#[test]
fn fixtures_are_reproducible() {
    for name in TRACES.into_iter().chain(["asn.pcapng"]).chain(LINK_TRACES) {
        let t = truth(name);
        let mut bytes = Vec::new();
        let again = generate(t.spec.as_ref().unwrap(), &mut bytes).unwrap();
        assert_eq!(again, t, "{name}: truth");
        assert!(
            bytes == std::fs::read(fixture(name)).unwrap(),
            "{name}: bytes differ; run fixtures/regenerate.sh"
        );
    }
}

#[test]
fn empty_capture_gives_an_empty_valid_file() {
    let dir = tmpdir();
    for ext in ["parquet", "pcapng"] {
        let out = dir.path().join(format!("e.{ext}"));
        let stdout = replay(
            s(&fixture("empty-capture.pcap")),
            &["-r", "1", "-o", s(&out)],
        );
        assert!(stdout.contains("read      0 packets"), "{stdout}");
        let (batches, meta) = read_all(&out);
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
        assert!(meta.start_time.is_none());
    }
}
