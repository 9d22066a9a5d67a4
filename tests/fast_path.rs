//! The fast paths (pcap records and pcapng enhanced packet blocks read
//! straight from the window) hand out exactly what pcap-file's reference
//! path does: the same interfaces, packets, metadata and end (stats or
//! error), on every committed trace, on generated ones in both formats,
//! byte orders and timestamp resolutions and every link type, on
//! pktsample's own pcapng samples (with its options), and on truncated and
//! corrupted copies.

mod common;

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use pktsample_schemas::input::{CaptureReader, Transcript};
use pktsample_tracegen::{Format, Link, Mix, Spec, generate};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

use common::{fixture, replay, root, s, tmpdir};

/// Both paths over the same bytes; the fast path's number of blocks.
fn same(name: &Path, bytes: &[u8]) -> u64 {
    let open = || CaptureReader::from_bytes(name, bytes.to_vec());
    let (fast, reference) = match (open(), open()) {
        (Ok(a), Ok(b)) => (Transcript::of(&a), Transcript::of(&b.reference())),
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string());
            return 0;
        }
        _ => unreachable!("the same bytes"),
    };
    assert_eq!(
        fast.events.len(),
        reference.events.len(),
        "{}",
        name.display()
    );
    for (i, (a, b)) in fast.events.iter().zip(&reference.events).enumerate() {
        assert_eq!(a, b, "{}: event {i}", name.display());
    }
    match (&fast.end, &reference.end) {
        (Some(Ok(a)), Some(Ok(b))) => {
            assert_eq!((a.packets, &a.skipped), (b.packets, &b.skipped));
            assert_eq!(b.fast_blocks, 0);
            a.fast_blocks
        }
        (a, b) => {
            assert_eq!(a, b, "{}", name.display());
            0
        }
    }
}

fn traces() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in ["fixtures", "fixtures/link", "fixtures/broken"] {
        for e in std::fs::read_dir(root().join(d)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

#[test]
fn fast_and_reference_paths_agree_on_every_committed_trace() {
    let mut fast = 0;
    for p in traces() {
        fast += same(&p, &std::fs::read(&p).unwrap());
    }
    assert!(fast > 1000, "the fast path read {fast} blocks");
}

#[test]
fn fast_and_reference_paths_agree_on_generated_traces() {
    let dir = tmpdir();
    for (i, link) in Link::ALL.into_iter().enumerate() {
        for nanos in [false, true] {
            for big_endian in [false, true] {
                let spec = Spec {
                    mix: if i == 0 { Mix::Asn } else { Mix::Mixed },
                    packets: 3000,
                    seed: 40 + i as u64,
                    format: Format::PcapNg { nanos, big_endian },
                    snaplen: if nanos { 96 } else { 65535 },
                    link,
                    wrap: Default::default(),
                };
                let mut out = Vec::new();
                generate(&spec, BufWriter::new(&mut out)).unwrap();
                let name = dir
                    .path()
                    .join(format!("{link:?}-{nanos}-{big_endian}.pcapng"));
                assert_eq!(same(&name, &out), 3000, "{}", name.display());
            }
        }
    }
}

/// pktsample's own pcapng samples: per-packet options (directions, ingress
/// and routed ifindex) and the metadata block.
#[test]
fn fast_and_reference_paths_agree_on_pktsample_pcapng() {
    let dir = tmpdir();
    let out = dir.path().join("s.pcapng");
    replay(
        s(&fixture("mixed.pcapng")),
        &["-r", "2", "--seed", "4", "-o", s(&out)],
    );
    let bytes = std::fs::read(&out).unwrap();
    assert!(same(&out, &bytes) > 100);
}

/// Truncated anywhere and corrupted anywhere: the same packets up to the
/// same error, or the same end.
#[test]
fn fast_and_reference_paths_agree_on_broken_copies() {
    for name in ["mixed-us-be.pcapng", "mixed-ns-be.pcap", "mixed.pcap"] {
        broken_copies(&fixture(name));
    }
}

fn broken_copies(p: &Path) {
    let bytes = std::fs::read(p).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(17);
    let mut next = move || rng.next_u64();
    for cut in (0..bytes.len()).step_by(37) {
        same(p, &bytes[..cut]);
    }
    for _ in 0..2000 {
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % b.len() as u64) as usize;
            b[at] = next() as u8;
        }
        same(p, &b);
    }
}

/// A peer tool's pcapng (Wireshark's `editcap`, with its own section
/// options and interface blocks, µs and ns resolutions): every packet block
/// through the fast path, the same as pcap-file, and the packets of the
/// fixture's truth.
#[test]
fn fast_path_reads_editcap_pcapng() {
    if !common::need("editcap (Wireshark)", common::have_cmd("editcap")) {
        return;
    }
    let dir = tmpdir();
    for name in ["mixed.pcap", "mixed-ns-be.pcap", "link/sll2.pcap"] {
        let out = dir.path().join("peer.pcapng");
        let st = std::process::Command::new("editcap")
            .args(["-F", "pcapng", s(&fixture(name)), s(&out)])
            .status()
            .unwrap();
        assert!(st.success(), "editcap {name}");
        let bytes = std::fs::read(&out).unwrap();
        let truth = common::truth(name);
        assert_eq!(same(&out, &bytes), truth.total.packets, "{name}");
    }
}
