//! Captures as operators have them: every link type pktsample decodes
//! (Ethernet, Linux cooked SLL and SLL2, raw IP, BSD and OpenBSD loopback,
//! PPP, Cisco HDLC, PPI),
//! compressed files, several pcapng sections, simple packet blocks, and
//! files whose interfaces mix supported and unsupported link types.
//!
//! The truth is the generator's (fixtures/link/*.truth.json, checked with
//! DuckDB) and tshark's dissection of the same file, packet by packet.

mod common;

use std::io::Write;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt8Type;
use common::blocks::*;
use common::*;

/// One packet as pktsample stored it, in the fields tshark can also give.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    len: u32,
    version: Option<u8>,
    src: Option<String>,
    dst: Option<String>,
    proto: Option<u8>,
    direction: &'static str,
    ifname: String,
}

fn rows(b: &RecordBatch) -> Vec<Row> {
    let cols = pktsample_schemas::SampleColumns::new(b).unwrap();
    let ver = u8_col(b, "ip_version");
    let proto = u8_col(b, "ip_proto");
    let src = b.column_by_name("src_addr").unwrap().as_string::<i32>();
    let dst = b.column_by_name("dst_addr").unwrap().as_string::<i32>();
    let opt_s = |a: &arrow_array::StringArray, i| {
        use arrow_array::Array;
        a.is_valid(i).then(|| a.value(i).to_string())
    };
    let opt_u = |a: &arrow_array::PrimitiveArray<UInt8Type>, i| {
        use arrow_array::Array;
        a.is_valid(i).then(|| a.value(i))
    };
    (0..b.num_rows())
        .map(|i| {
            let r = cols.row(i).unwrap();
            Row {
                len: r.pkt_len,
                version: opt_u(ver, i),
                src: opt_s(src, i),
                dst: opt_s(dst, i),
                proto: opt_u(proto, i),
                direction: r.direction.as_str(),
                ifname: r.ifname.to_string(),
            }
        })
        .collect()
}

/// tshark's view of the same packets. The outer IP header is the first of
/// ip/ipv6 in `frame.protocols`; the IPv6 protocol is the one after the
/// extension headers; the direction is the cooked packet type (4 =
/// outgoing) or the pcapng flags; SLL2's ifindex names the interface.
fn tshark_rows(trace: &Path, default_if: &[&str]) -> Vec<Row> {
    let out = tshark(&[
        "-r",
        s(trace),
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=f",
        "-e",
        "frame.len",
        "-e",
        "frame.protocols",
        "-e",
        "ip.src",
        "-e",
        "ip.dst",
        "-e",
        "ipv6.src",
        "-e",
        "ipv6.dst",
        "-e",
        "ip.proto",
        "-e",
        "ipv6.nxt",
        "-e",
        "ipv6.hopopts.nxt",
        "-e",
        "ipv6.dstopts.nxt",
        "-e",
        "sll.pkttype",
        "-e",
        "sll.ifindex",
        "-e",
        "frame.packet_flags_direction",
        "-e",
        "frame.interface_id",
    ]);
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let opt = |i: usize| (!f[i].is_empty()).then(|| f[i].to_string());
            let layers: Vec<&str> = f[1].split(':').collect();
            let v4 = layers.iter().position(|l| *l == "ip");
            let v6 = layers.iter().position(|l| *l == "ipv6");
            let version = match (v4, v6) {
                (Some(a), Some(b)) => Some(if a < b { 4 } else { 6 }),
                (Some(_), None) => Some(4),
                (None, Some(_)) => Some(6),
                (None, None) => None,
            };
            let (src, dst, proto) = match version {
                Some(4) => (opt(2), opt(3), opt(6)),
                Some(6) => (opt(4), opt(5), opt(9).or(opt(8)).or(opt(7))),
                _ => (None, None, None),
            };
            let direction = match (f[10], f[12]) {
                ("4", _) => "egress",
                ("", "") => "unknown",
                ("", d) if d.ends_with('1') => "ingress",
                ("", d) if d.ends_with('2') => "egress",
                ("", _) => "unknown",
                _ => "ingress",
            };
            let ifname = match f[11] {
                "" => default_if[f[13].parse::<usize>().unwrap_or(0)].to_string(),
                x => format!("if{x}"),
            };
            Row {
                len: f[0].parse().unwrap(),
                version,
                src,
                dst,
                proto: proto.map(|p| p.parse().unwrap()),
                direction,
                ifname,
            }
        })
        .collect()
}

/// Replay at rate 1, every packet kept whole.
fn replay_all(trace: &Path, out: &Path) -> String {
    replay(
        s(trace),
        &[
            "-r",
            "1",
            "--snaplen",
            "65535",
            "-q",
            "--force",
            "-o",
            s(out),
        ],
    )
}

/// At rate 1 every link type's trace equals its truth (counted by DuckDB)
/// and, packet by packet, tshark's dissection: length, outer IP version,
/// addresses, protocol, direction and interface.
#[test]
fn every_link_type_equals_its_truth_and_tshark() {
    let Some(py) = python() else {
        need(
            "the interop Python (pyarrow, DuckDB, polars, pandas)",
            false,
        );
        return;
    };
    if !need("tshark", have_cmd("tshark")) {
        return;
    }
    let dir = tmpdir();
    for name in LINK_TRACES.iter().chain(&["mixed.pcapng", "mixed.pcap"]) {
        let trace = fixture(name);
        let out = dir.path().join("out.parquet");
        replay_all(&trace, &out);
        interop(
            &py,
            &["truth", s(&out), s(&fixture(&format!("{name}.truth.json")))],
        );
        let (batches, meta) = read_all(&out);
        let ours = rows(&concat(&batches));
        let default_if: &[&str] = if name.ends_with(".pcap") {
            &["pcap0"]
        } else {
            &["eth0", "eth1"]
        };
        let theirs = tshark_rows(&trace, default_if);
        assert_eq!(ours.len(), theirs.len(), "{name}: packets");
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(a, b, "{name}: packet {}", i + 1);
        }
        // Every interface with packets carries the file's link type.
        let t = truth(name);
        let link = t.spec.unwrap().link.linktype();
        for i in meta.interfaces.iter().filter(|i| !i.directions.is_empty()) {
            assert_eq!(i.link_type, link, "{name}: {}", i.name);
        }
        assert!(meta.skipped_link_types.is_empty());
    }
}

/// `convert` keeps every link type: Parquet -> pcapng (read by tshark with
/// the right link type) -> Parquet gives the same rows.
#[test]
fn convert_round_trips_every_link_type() {
    let dir = tmpdir();
    for name in LINK_TRACES {
        let a = dir.path().join("a.parquet");
        let ng = dir.path().join("a.pcapng");
        let b = dir.path().join("b.parquet");
        replay_all(&fixture(name), &a);
        ok(&["convert", s(&a), "-o", s(&ng), "--force"]);
        ok(&["convert", s(&ng), "-o", s(&b), "--force"]);
        let (ra, ma) = read_all(&a);
        let (rb, mb) = read_all(&b);
        assert_eq!(concat(&ra), concat(&rb), "{name}: rows");
        assert_eq!(ma.interfaces, mb.interfaces, "{name}: interfaces");
        let link = truth(name).spec.unwrap().link.linktype();
        let lt = concat(&rb);
        let lt = u16_col(&lt, "link_type");
        assert!(lt.values().iter().all(|&v| u32::from(v) == link), "{name}");
        if need("tshark", have_cmd("tshark")) {
            let encap = tshark(&["-r", s(&ng), "-T", "fields", "-e", "frame.protocols"]);
            let first = match link {
                113 | 276 => "sll",
                0 | 108 => "null",
                101 => "raw",
                228 => "ip",
                229 => "ipv6",
                9 => "ppp",
                104 => "chdlc",
                192 => "ppi",
                _ => unreachable!(),
            };
            assert_eq!(
                encap.lines().count(),
                ra.iter().map(|b| b.num_rows()).sum::<usize>()
            );
            assert!(
                encap.lines().all(|l| l.starts_with(first)),
                "{name}: tshark sees {}",
                encap.lines().next().unwrap_or_default()
            );
        }
    }
}

fn gzip(data: &[u8], members: usize) -> Vec<u8> {
    // Several gzip members one after another (as `cat a.gz b.gz` makes).
    let mut out = Vec::new();
    let step = data.len().div_ceil(members);
    for part in data.chunks(step) {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).unwrap();
        out.extend(e.finish().unwrap());
    }
    out
}

fn replay_rows(
    input: &Path,
    out: &Path,
    rate: &str,
) -> (RecordBatch, pktsample_schemas::CaptureMetadata) {
    replay(
        s(input),
        &["-r", rate, "--seed", "3", "-q", "--force", "-o", s(out)],
    );
    let (b, m) = read_all(out);
    (concat(&b), m)
}

/// gzip (one member or several) and zstd inputs, detected from the
/// content whatever the name, give the same samples as the plain file, in
/// replay, convert and analyze.
#[test]
fn compressed_inputs_equal_the_plain_file() {
    let dir = tmpdir();
    for name in ["mixed.pcapng", "mixed-ns-be.pcap", "link/sll2.pcapng"] {
        let plain = fixture(name);
        let bytes = std::fs::read(&plain).unwrap();
        let variants: Vec<(String, Vec<u8>)> = vec![
            ("one.gz".into(), gzip(&bytes, 1)),
            ("three.gz".into(), gzip(&bytes, 3)),
            ("z.zst".into(), zstd::encode_all(&bytes[..], 3).unwrap()),
            // Content, not the name, decides.
            (
                "misnamed.pcap".into(),
                zstd::encode_all(&bytes[..], 1).unwrap(),
            ),
        ];
        let (want, want_meta) = replay_rows(&plain, &dir.path().join("p.parquet"), "3");
        assert!(want.num_rows() > 0);
        for (suffix, data) in variants {
            let f = dir.path().join(format!("in-{suffix}"));
            std::fs::write(&f, data).unwrap();
            let (got, meta) = replay_rows(&f, &dir.path().join("c.parquet"), "3");
            assert_eq!(got, want, "{name} as {suffix}");
            assert_eq!(meta.interfaces, want_meta.interfaces, "{name} as {suffix}");
            // Analyze reads a compressed capture as samples at rate 1.
            let a = ok(&["analyze", s(&f), "--format", "json", "-q"]);
            let b = ok(&["analyze", s(&plain), "--format", "json", "-q"]);
            let strip = |x: &str| {
                let mut v: serde_json::Value = serde_json::from_str(x).unwrap();
                v["inputs"] = serde_json::Value::Null;
                v
            };
            assert_eq!(strip(&a), strip(&b), "{name} as {suffix}: analyze");
        }
    }
}

/// Broken compressed files: one line naming the file, never a panic.
#[test]
fn broken_compressed_inputs_fail_cleanly() {
    let dir = tmpdir();
    let bytes = std::fs::read(fixture("mixed.pcapng")).unwrap();
    let gz = gzip(&bytes, 1);
    let zst = zstd::encode_all(&bytes[..], 3).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut.pcapng.gz",
            gz[..gz.len() / 2].to_vec(),
            "cut.pcapng.gz:",
        ),
        (
            "cut.pcapng.zst",
            zst[..zst.len() / 2].to_vec(),
            "cut.pcapng.zst:",
        ),
        ("header.gz", gz[..10].to_vec(), "header.gz:"),
        (
            "garbage.zst",
            [&zst[..8], &[0xffu8; 64][..]].concat(),
            "garbage.zst:",
        ),
        (
            "text.gz",
            gzip(b"this is text, not a capture\n", 1),
            "not a pcap, pcapng or Parquet file",
        ),
    ];
    for (name, data, expect) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, data).unwrap();
        let out = dir.path().join("o.parquet");
        let err = replay_err(s(&f), &["-r", "1", "-o", s(&out)]);
        assert!(err.contains(expect), "{name}: {err}");
        assert!(!out.exists(), "{name}: no output");
        let err = fails(&["analyze", s(&f)]);
        assert!(err.contains(expect), "{name}: {err}");
    }
}

/// Two pcapng files one after another (`cat a.pcapng b.pcapng`, here in
/// different byte orders) are one input: every packet of both, each
/// section's interfaces its own.
#[test]
fn several_sections_in_one_file() {
    let dir = tmpdir();
    let (a, b) = (fixture("mixed.pcapng"), fixture("mixed-us-be.pcapng"));
    let cat = dir.path().join("cat.pcapng");
    let mut bytes = std::fs::read(&a).unwrap();
    bytes.extend(std::fs::read(&b).unwrap());
    std::fs::write(&cat, bytes).unwrap();
    let (ra, _) = replay_rows(&a, &dir.path().join("a.parquet"), "1");
    let (rb, _) = replay_rows(&b, &dir.path().join("b.parquet"), "1");
    let (rc, mc) = replay_rows(&cat, &dir.path().join("c.parquet"), "1");
    assert_eq!(rc.num_rows(), ra.num_rows() + rb.num_rows());
    assert_eq!(rc.slice(0, ra.num_rows()).column(5), ra.column(5));
    // Four interfaces: two per section (the second section's numbered on).
    assert_eq!(mc.interfaces.len(), 4);
    let seen: u64 = mc.interfaces.iter().map(|i| i.total().packets_seen).sum();
    assert_eq!(seen, (ra.num_rows() + rb.num_rows()) as u64);
    if need("tshark", have_cmd("tshark")) {
        let n = tshark(&["-r", s(&cat)]).lines().count();
        assert_eq!(n, rc.num_rows());
    }
}

/// Simple packet blocks (no timestamp: the previous packet's) are packets
/// of interface 0, and an obsolete-free file of EPBs and SPBs reads whole.
#[test]
fn simple_packet_blocks_are_read() {
    use pcap_file::pcapng::blocks::simple_packet::SimplePacketBlock;
    let dir = tmpdir();
    let f = dir.path().join("spb.pcapng");
    let fr = frames("mixed.pcap", 6);
    let spb = |d: &[u8]| {
        pcap_file::pcapng::Block::SimplePacket(SimplePacketBlock {
            original_len: d.len() as u32,
            data: d.to_vec().into(),
        })
    };
    pcapng_with(
        &f,
        &[
            idb(1, "eth9"),
            epb(0, 5_000_000_000, &fr[0]),
            spb(&fr[1]),
            spb(&fr[2]),
            epb(0, 6_000_000_000, &fr[3]),
            // A block type nobody defined: skipped, as the format asks.
            pcap_file::pcapng::Block::Unknown(pcap_file::pcapng::blocks::unknown::UnknownBlock {
                type_: 0x1234_5678,
                length: 16,
                value: vec![0u8; 4].into(),
            }),
            spb(&fr[4]),
            spb(&fr[5]),
        ],
    );
    let (b, m) = replay_rows(&f, &dir.path().join("o.parquet"), "1");
    assert_eq!(b.num_rows(), 6);
    let h = b.column_by_name("header").unwrap().as_binary::<i32>();
    for (i, want) in fr.iter().enumerate() {
        assert_eq!(h.value(i), &want[..want.len().min(160)], "packet {i}");
    }
    let ts: Vec<i64> = b
        .column_by_name("timestamp")
        .unwrap()
        .as_primitive::<arrow_array::types::TimestampNanosecondType>()
        .values()
        .to_vec();
    assert_eq!(
        ts,
        [5, 5, 5, 6, 6, 6].map(|s| s * 1_000_000_000i64).to_vec()
    );
    assert_eq!(m.interfaces[0].name, "eth9");
    if need("tshark", have_cmd("tshark")) {
        assert_eq!(tshark(&["-r", s(&f)]).lines().count(), 6);
    }
}

/// Interfaces of unsupported link types are skipped, counted per link type
/// in the metadata, printed by replay and warned about by analyze; a file
/// with nothing supported is a one-line error.
#[test]
fn mixed_link_types_sample_what_is_supported_and_count_the_rest() {
    let dir = tmpdir();
    let f = dir.path().join("mixed-links.pcapng");
    let fr = frames("mixed.pcap", 10);
    let mut blocks = vec![idb(1, "eth0"), idb(147, "user0"), idb(105, "wlan0")];
    for (i, d) in fr.iter().enumerate() {
        blocks.push(epb((i % 3) as u32, 1_000_000_000 + i as u64, d));
    }
    pcapng_with(&f, &blocks);
    let out = dir.path().join("o.parquet");
    let stdout = replay(s(&f), &["-r", "1", "-o", s(&out)]);
    assert!(
        stdout.contains("skipped   3 packets of link type 105, 3 packets of link type 147"),
        "{stdout}"
    );
    let (b, m) = read_all(&out);
    assert_eq!(concat(&b).num_rows(), 4);
    assert_eq!(
        m.skipped_link_types,
        [(105, 3), (147, 3)].into_iter().collect()
    );
    let seen: u64 = m.interfaces.iter().map(|i| i.total().packets_seen).sum();
    assert_eq!(seen, 4, "the pool counts what was sampled from");
    for input in [&out, &f] {
        let report = ok(&["analyze", s(input), "--format", "json", "-q"]);
        let v: serde_json::Value = serde_json::from_str(&report).unwrap();
        let w = v["warnings"].to_string();
        assert!(w.contains("6 packets of unsupported link types"), "{w}");
        assert_eq!(v["summary"]["samples"], 4);
    }
    // Nothing supported: one line, the link types named.
    let g = dir.path().join("none.pcapng");
    pcapng_with(&g, &[idb(147, "user0"), epb(0, 1, &fr[0])]);
    let none = dir.path().join("none.parquet");
    let err = replay_err(s(&g), &["-r", "1", "-o", s(&none)]);
    assert!(
        err.contains("none.pcapng: no packets of a link type pktsample reads (link type 147)"),
        "{err}"
    );
    assert!(!none.exists());
}

/// Inject sends Ethernet frames: a raw IP capture is refused, naming it.
#[test]
fn inject_refuses_other_link_types() {
    let err = fails(&["inject", s(&fixture("link/raw.pcap")), "-i", "lo"]);
    assert!(
        err.contains("raw.pcap: interface 'pcap0' has link type 101 (RAW)"),
        "{err}"
    );
}

/// A gzip bomb (a 24-byte pcap header, then a gigabyte of records of 64 KiB
/// zeros, compressed to a few MB) is read streaming: the replay's peak memory
/// stays far below what the file inflates to.
#[test]
fn gzip_bomb_is_read_in_bounded_memory() {
    let dir = tmpdir();
    let bomb = dir.path().join("bomb.pcap.gz");
    {
        let f = std::fs::File::create(&bomb).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut hdr = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        hdr.extend_from_slice(&[0; 8]);
        hdr.extend_from_slice(&65535u32.to_le_bytes());
        hdr.extend_from_slice(&1u32.to_le_bytes());
        e.write_all(&hdr).unwrap();
        let mut rec = vec![0u8; 16 + 65536];
        rec[8..12].copy_from_slice(&65536u32.to_le_bytes());
        rec[12..16].copy_from_slice(&65536u32.to_le_bytes());
        for _ in 0..16_384 {
            e.write_all(&rec).unwrap();
        }
        e.finish().unwrap();
    }
    assert!(std::fs::metadata(&bomb).unwrap().len() < 16 << 20);
    let out = dir.path().join("o.parquet");
    let mut child = std::process::Command::new(bin())
        .args([
            "capture",
            "--replay",
            s(&bomb),
            "-r",
            "1000",
            "--seed",
            "1",
            "-q",
            "-o",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Peak resident memory, sampled until the process ends.
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    while child.try_wait().unwrap().is_none() {
        if let Ok(st) = std::fs::read_to_string(&status)
            && let Some(kb) = st
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(child.wait().unwrap().success());
    let (_, meta) = read_all(&out);
    let seen: u64 = meta.interfaces.iter().map(|i| i.total().packets_seen).sum();
    assert_eq!(seen, 16_384, "every record read");
    eprintln!(
        "gzip bomb: 1 GiB inflated from {} bytes, peak RSS {peak_kb} kB",
        std::fs::metadata(&bomb).unwrap().len()
    );
    assert!(peak_kb < 150 * 1024, "peak {peak_kb} kB for a 1 GiB stream");
}
