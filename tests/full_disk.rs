//! A full disk costs a capture only what was not complete: the file is
//! closed at its last complete Parquet row group or pcapng block, readable by
//! pktsample, DuckDB and tshark, and its metadata moves the lost samples to
//! the drops and says why. Real full disks: small tmpfs mounts (root).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::netns::*;
use common::*;
use pktsample_schemas::{
    CaptureMetadata, Direction, DirectionStats, FormatError, InterfaceMeta, SampleBatchBuilder,
    SampleRow, SampleWriter, Source, WriterOptions,
};

/// A tmpfs of `size` mounted under a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn new(size: &str) -> Tmpfs {
        let dir = tmpdir();
        sh(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "tmpfs",
            s(dir.path()),
        ]);
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn meta_with(samples: u64) -> CaptureMetadata {
    let mut m = CaptureMetadata::new(Source::Tcx { ring_bytes: None }, 128);
    m.interfaces.push(InterfaceMeta {
        ifindex: 3,
        name: "eth0".into(),
        mac: None,
        mtu: None,
        sampling_rate: 1,
        link_type: 1,
        shared_pool: false,
        directions: [(
            Direction::Ingress,
            DirectionStats {
                packets_seen: samples,
                samples,
                drops: 0,
            },
        )]
        .into_iter()
        .collect(),
    });
    m
}

/// Rows of incompressible 128-byte headers, written until the disk is full;
/// finish closes the file at what is complete.
#[test]
fn salvaging_writer_keeps_what_is_complete() {
    if !need("root (to mount a small tmpfs)", is_root()) {
        return;
    }
    let fs = Tmpfs::new("3m");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for ext in ["parquet", "pcapng"] {
        let out: PathBuf = fs.path().join(format!("s.{ext}"));
        let group = 4096;
        let mut w = SampleWriter::with_options(
            &out,
            &meta_with(0),
            WriterOptions {
                salvage: true,
                row_group_rows: Some(group),
                ..Default::default()
            },
        )
        .unwrap();
        let mut written = 0u64;
        for _ in 0..10_000 {
            let mut b = SampleBatchBuilder::new();
            for _ in 0..group {
                let mut h = [0u8; 128];
                for c in h.chunks_mut(8) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    c.copy_from_slice(&x.to_le_bytes());
                }
                b.push(&SampleRow {
                    timestamp_ns: 1_700_000_000_000_000_000 + written as i64,
                    ifindex: 3,
                    ifname: "eth0",
                    direction: Direction::Ingress,
                    sampling_rate: 1,
                    pkt_len: 1500,
                    header: &h,
                    ingress_ifindex: None,
                    routed_ifindex: None,
                    link_type: 1,
                });
                written += 1;
            }
            if w.write(&b.finish()).is_err() {
                break;
            }
        }
        let err = w.finish(&meta_with(written)).unwrap_err();
        let FormatError::DiskFull { kept, lost, .. } = &err else {
            panic!("{ext}: {err}");
        };
        let msg = err.to_string();
        assert!(
            msg.contains("No space left on device (os error 28); the file was closed"),
            "{msg}"
        );
        assert_eq!(kept + lost, written, "{ext}");
        assert!(*kept > 0, "{ext}: nothing kept");
        if ext == "parquet" {
            assert_eq!(kept % group as u64, 0, "whole row groups only");
        }
        let (batches, meta) = read_all(&out);
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        assert_eq!(rows, *kept, "{ext}");
        let st = meta.interfaces[0].directions[&Direction::Ingress];
        assert_eq!(
            (st.samples, st.drops, st.packets_seen),
            (*kept, *lost, written)
        );
        assert!(
            meta.interrupted
                .as_deref()
                .unwrap()
                .contains("the disk filled")
        );
        // Independent readers agree.
        if ext == "parquet" {
            if let Some(py) = python() {
                let n = interop(&py, &["count", s(&out)]);
                assert_eq!(n.lines().next(), Some(kept.to_string().as_str()));
            } else {
                need("the interop Python (pyarrow, DuckDB)", false);
            }
        } else if need("tshark", have_cmd("tshark")) {
            assert_eq!(tshark(&["-r", s(&out)]).lines().count() as u64, *kept);
        }
        // Nothing else is left on the disk: no temporary, no reserve.
        assert_eq!(listing(fs.path()), vec![format!("s.{ext}")]);
        std::fs::remove_file(&out).unwrap();
    }
}

/// A live capture without --rotate that fills the disk ends with a
/// one-line error and a readable file; its books still balance.
#[test]
fn live_capture_without_rotation_survives_a_full_disk() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let fs = Tmpfs::new("700k");
    let dir = tmpdir();
    let trace = small_trace(dir.path(), 200_000);
    let out = fs.path().join("run.pcapng");
    let cap = ns.capture(&[
        "-i",
        "va",
        "-r",
        "1",
        "--snaplen",
        "256",
        "-q",
        "-o",
        s(&out),
    ]);
    ns.inject(&trace, &["--pps", "100000"]);
    let (ok, _, err) = cap.wait();
    assert!(!ok, "the capture should have failed on a full disk");
    assert!(
        err.contains(
            "run.pcapng: No space left on device (os error 28); the file was closed at its last complete part"
        ),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("pktsample:")).count(),
        1,
        "{err}"
    );
    let (batches, meta) = read_all(&out);
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    assert!(rows > 1000, "{rows} rows kept");
    let st = stats(&meta, "va", Direction::Egress);
    assert_eq!(st.samples, rows);
    assert_eq!(st.samples + st.drops, st.packets_seen, "{st:?}");
    assert!(meta.interrupted.is_some());
    if need("tshark", have_cmd("tshark")) {
        assert_eq!(tshark(&["-r", s(&out)]).lines().count() as u64, rows);
    }
    assert_eq!(listing(fs.path()), vec!["run.pcapng"]);
    assert_eq!(ns.tcx_programs("va"), 0);
}
