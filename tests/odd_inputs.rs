//! Inputs other programs write that no generator here would: the pcap
//! link-type field's FCS bits, frames that end in a frame check sequence,
//! pcapng custom blocks of other programs under the PEN we use, and records
//! whose wire length lies.

mod common;

use std::path::Path;

use arrow_array::cast::AsArray;
use common::blocks::*;
use common::*;

/// tshark's length, outer IP version and source of each packet.
fn tshark_view(trace: &Path) -> Vec<(u32, Option<u8>, Option<String>)> {
    let out = tshark(&[
        "-r",
        s(trace),
        "-T",
        "fields",
        "-E",
        "occurrence=f",
        "-e",
        "frame.len",
        "-e",
        "frame.protocols",
        "-e",
        "ip.src",
        "-e",
        "ipv6.src",
    ]);
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let layers: Vec<&str> = f[1].split(':').collect();
            let v4 = layers.iter().position(|l| *l == "ip");
            let v6 = layers.iter().position(|l| *l == "ipv6");
            let (version, src) = match (v4, v6) {
                (Some(a), Some(b)) if a < b => (Some(4), f[2]),
                (Some(_), None) => (Some(4), f[2]),
                (_, Some(_)) => (Some(6), f[3]),
                (None, None) => (None, ""),
            };
            (
                f[0].parse().unwrap(),
                version,
                (!src.is_empty()).then(|| src.to_string()),
            )
        })
        .collect()
}

fn our_view(out: &Path) -> Vec<(u32, Option<u8>, Option<String>)> {
    use arrow_array::Array;
    let b = concat(&read_all(out).0);
    let len = u32_col(&b, "pkt_len");
    let ver = u8_col(&b, "ip_version");
    let src = b.column_by_name("src_addr").unwrap().as_string::<i32>();
    (0..b.num_rows())
        .map(|i| {
            (
                len.value(i),
                ver.is_valid(i).then(|| ver.value(i)),
                src.is_valid(i).then(|| src.value(i).to_string()),
            )
        })
        .collect()
}

/// 0x300000E5 is raw IPv6 (FCS bits without the F bit: ignored, as tshark
/// does); 0x24000001 is Ethernet whose frames end in a 4-byte FCS, which
/// pktsample strips from the lengths and the header (tshark counts it in
/// the frame length).
#[test]
fn link_type_fcs_bits_are_read_as_tshark_reads_them() {
    if !need("tshark", have_cmd("tshark")) {
        return;
    }
    let dir = tmpdir();
    for (name, fcs) in [("link/fcs-bits-ipv6.pcap", 0), ("link/eth-fcs.pcap", 4)] {
        let out = dir.path().join("o.parquet");
        replay(
            s(&fixture(name)),
            &[
                "-r",
                "1",
                "--snaplen",
                "65535",
                "-q",
                "--force",
                "-o",
                s(&out),
            ],
        );
        let ours = our_view(&out);
        let theirs: Vec<_> = tshark_view(&fixture(name))
            .into_iter()
            .map(|(l, v, a)| (l - fcs, v, a))
            .collect();
        assert_eq!(ours.len(), 300, "{name}");
        assert_eq!(ours, theirs, "{name}");
        // The truth's wire lengths (without the FCS) add up.
        let t = truth(name);
        assert_eq!(
            ours.iter().map(|r| u64::from(r.0)).sum::<u64>(),
            t.total.bytes,
            "{name}"
        );
        let (b, m) = read_all(&out);
        let b = concat(&b);
        let h = b.column_by_name("header").unwrap().as_binary::<i32>();
        let len = u32_col(&b, "pkt_len");
        for i in 0..b.num_rows() {
            assert_eq!(
                h.value(i).len() as u32,
                len.value(i),
                "{name}: FCS stripped"
            );
            assert!(!h.value(i).ends_with(&[0xde, 0xad, 0xbe, 0xef]), "{name}");
        }
        let lt = if fcs == 0 { 229 } else { 1 };
        assert!(m.interfaces.iter().all(|i| i.link_type == lt), "{name}");
    }
}

/// The pcapng test suite's test017 case: custom blocks under the PEN
/// pktsample uses (IANA's example PEN), written by another program. They are
/// skipped and counted, and the packets are read; a block with our marker
/// is still our metadata.
#[test]
fn foreign_custom_blocks_are_skipped_and_counted() {
    use pcap_file::pcapng::Block;
    use pcap_file::pcapng::blocks::custom::CustomBlock;
    let dir = tmpdir();
    let f = dir.path().join("custom.pcapng");
    let fr = frames("mixed.pcap", 3);
    let custom = |pen: u32, payload: &[u8]| {
        Block::CustomCopiable(CustomBlock {
            pen,
            payload: payload.to_vec().into(),
        })
    };
    pcapng_with(
        &f,
        &[
            idb(1, "eth0"),
            epb(0, 1_000_000_000, &fr[0]),
            custom(32473, b"an example custom block, copiable\0\0"),
            epb(0, 2_000_000_000, &fr[1]),
            custom(32473, b"{\"json\":\"but not ours\"}"),
            custom(12345, b"another enterprise"),
            epb(0, 3_000_000_000, &fr[2]),
        ],
    );
    let out = dir.path().join("o.parquet");
    let stdout = replay(s(&f), &["-r", "1", "-o", s(&out)]);
    assert!(
        stdout.contains("skipped   3 custom blocks or options of other programs"),
        "{stdout}"
    );
    let (b, m) = read_all(&out);
    assert_eq!(concat(&b).num_rows(), 3);
    assert_eq!(m.foreign_custom, 3);
    // analyze of the capture itself says so too.
    let report = ok(&["analyze", s(&f), "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(&report).unwrap();
    let warnings = j["warnings"].to_string();
    assert!(warnings.contains("3 pcapng custom blocks"), "{warnings}");
    assert_eq!(j["summary"]["packets"]["estimate"].as_f64(), Some(3.0));
    // Our own pcapng (metadata in a custom option) still reads as ours.
    let ours = dir.path().join("o.pcapng");
    ok(&["convert", s(&out), "-o", s(&ours)]);
    let (_, back) = read_all(&ours);
    assert_eq!(back.interfaces, m.interfaces);
}

/// A pcap record whose wire length lies: 4,093,509,168 bytes for a 60-byte
/// frame, and one below its captured length. Both are counted bad records,
/// reported, and in no total.
#[test]
fn lying_wire_lengths_are_counted_not_summed() {
    let dir = tmpdir();
    let f = dir.path().join("lying.pcap");
    let fr = frames("mixed.pcap", 4);
    let mut b = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    let good: u64 = [&fr[0], &fr[3]].iter().map(|x| x.len() as u64).sum();
    for (i, (frame, orig)) in [
        (&fr[0], fr[0].len() as u32),
        (&fr[1], 4_093_509_168u32),
        (&fr[2], fr[2].len() as u32 - 10),
        (&fr[3], fr[3].len() as u32),
    ]
    .into_iter()
    .enumerate()
    {
        b.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        b.extend_from_slice(&orig.to_le_bytes());
        b.extend_from_slice(frame);
    }
    std::fs::write(&f, b).unwrap();
    let out = dir.path().join("o.parquet");
    let stdout = replay(s(&f), &["-r", "1", "-o", s(&out)]);
    assert!(
        stdout.contains("skipped   2 records with a lying wire length"),
        "{stdout}"
    );
    let (batches, m) = read_all(&out);
    let rows = concat(&batches);
    assert_eq!(rows.num_rows(), 2);
    assert_eq!(m.bad_lengths, 2);
    let report = ok(&["analyze", s(&out), "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(j["summary"]["packets"]["estimate"].as_f64(), Some(2.0));
    assert_eq!(
        j["summary"]["bytes"]["estimate"].as_f64(),
        Some(good as f64)
    );
    assert!(
        j["warnings"]
            .to_string()
            .contains("2 records of the captures had a lying wire length")
    );
    // analyze of the capture itself: the same totals.
    let direct: serde_json::Value =
        serde_json::from_str(&ok(&["analyze", s(&f), "--format", "json"])).unwrap();
    assert_eq!(
        direct["summary"]["bytes"]["estimate"].as_f64(),
        Some(good as f64)
    );
}
