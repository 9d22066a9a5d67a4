//! Replays into datasets (`capture --replay … -o DIR/`, `convert … -o
//! DIR/`): parts cut at midnight UTC of the capture's own clock and at
//! `--rotate`, each part's rows inside its date partition and its pools
//! exactly the packets seen while it was open, and analyze's report of the
//! dataset the report of the same replay written as one file.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{assert_same_report, dataset_parts, fails, ok, read_all, s, tmpdir};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapTsResolution, PcapWriter};
use pktsample_schemas::dataset::{DAY_NS, day_of, parse_date};
use serde_json::Value;

/// 2023-11-14T22:00:00Z: the trace runs from two hours before a
/// midnight UTC to two after.
const START_S: u64 = 1_699_999_200;

/// The fixture's frames re-timed over four hours (400 frames, one every
/// 36 s), one of them stamped out of order across midnight (as capture
/// clocks jitter); the count of frames before midnight.
fn night_trace(dir: &Path, name: &str, offset_s: u64) -> (PathBuf, u64) {
    const FRAMES: u64 = 400;
    let f = std::fs::File::open(common::fixture("mixed.pcap")).unwrap();
    let mut r = PcapReader::new(f).unwrap();
    let path = dir.join(name);
    let header = PcapHeader {
        ts_resolution: PcapTsResolution::NanoSecond,
        ..r.header()
    };
    let mut w = PcapWriter::with_header(std::fs::File::create(&path).unwrap(), header).unwrap();
    let (mut i, mut before) = (0u64, 0);
    let midnight = (START_S + 7200) * 1_000_000_000;
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let mut ns = (START_S + offset_s) * 1_000_000_000 + i * 36_000_000_000;
        // The frame after midnight's is stamped a second before it: out of
        // order across the cut, so it goes to a part of the first day.
        if ns == midnight + 36_000_000_000 {
            ns = midnight - 1_000_000_000;
        }
        before += u64::from(ns < midnight);
        let q = PcapPacket::new(Duration::from_nanos(ns), p.orig_len(), p.data()).unwrap();
        w.write_packet(&q).unwrap();
        i += 1;
    }
    assert_eq!(i, FRAMES, "the fixture changed: mend the spacing");
    (path, before)
}

/// The JSON report, without its list of input files.
fn report(input: &Path) -> Value {
    let out = ok(&["analyze", "-q", "--format", "json", s(input)]);
    let mut v: Value = serde_json::from_str(&out).unwrap();
    v.as_object_mut().unwrap().remove("inputs");
    v
}

/// Each part: rows inside its date partition, and its pools the packets
/// seen while it was open (the samples its rows). The totals.
fn check_parts(parts: &[PathBuf]) -> (u64, u64, u64) {
    let (mut seen, mut samples, mut rows) = (0, 0, 0);
    for p in parts {
        let date = p
            .parent()
            .and_then(Path::parent)
            .and_then(|d| d.file_name()?.to_str()?.strip_prefix("date="))
            .and_then(parse_date)
            .unwrap_or_else(|| panic!("{} is not in a date partition", p.display()));
        let (batches, meta) = read_all(p);
        for b in &batches {
            let ts = b
                .column_by_name("timestamp")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow_array::TimestampNanosecondArray>()
                .unwrap();
            for t in ts.values() {
                assert_eq!(day_of(*t), date, "{}: a row of another day", p.display());
            }
            rows += b.num_rows() as u64;
        }
        let (first, last) = meta.time_range_ns();
        let (first, last) = (first.unwrap(), last.unwrap());
        assert!(
            day_of(first) == date && day_of(last) == date,
            "{}",
            p.display()
        );
        assert!(last - first < DAY_NS);
        for i in &meta.interfaces {
            for st in i.directions.values() {
                seen += st.packets_seen;
                samples += st.samples;
            }
        }
    }
    (seen, samples, rows)
}

#[test]
fn a_replayed_dataset_is_cut_at_midnight_and_reports_as_one_file() {
    let d = tmpdir();
    let (trace, before) = night_trace(d.path(), "night.pcap", 0);
    let one = d.path().join("one.parquet");
    let args = |out: &Path| -> Vec<String> {
        [
            "capture",
            "--replay",
            s(&trace),
            "-r",
            "4",
            "--seed",
            "11",
            "-q",
            "-o",
            s(out),
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |a: Vec<String>| ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    run(args(&one));
    let (batches, _) = read_all(&one);
    let total: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    // The day cut only, --rotate in capture time, and --rotate SIZE.
    for (name, rotate, at_least) in [
        ("day/", None, 4),
        ("hourly/", Some("1h"), 6),
        ("small/", Some("2KB"), 6),
    ] {
        let ds = d.path().join(name);
        let mut a = args(&ds);
        if let Some(r) = rotate {
            a.extend(["--rotate".into(), r.into()]);
        }
        let printed = run(a);
        let parts = dataset_parts(&ds);
        assert!(
            parts.len() >= at_least,
            "{name}: {} parts\n{printed}",
            parts.len()
        );
        assert!(
            printed.contains(&format!("wrote {} parts", parts.len())),
            "{printed}"
        );
        let (seen, samples, rows) = check_parts(&parts);
        assert_eq!((seen, samples, rows), (400, total, total), "{name}");
        // The first day's partition holds the packets before midnight.
        let first_day: u64 = parts
            .iter()
            .filter(|p| p.to_string_lossy().contains("date=2023-11-14"))
            .map(|p| {
                let (_, m) = read_all(p);
                let st = m.interfaces.iter().flat_map(|i| i.directions.values());
                st.map(|s| s.packets_seen).sum::<u64>()
            })
            .sum();
        assert_eq!(first_day, before, "{name}");
        assert_same_report(&report(&ds), &report(&one), name);
    }
}

#[test]
fn an_archive_of_captures_converts_into_one_dataset() {
    let d = tmpdir();
    // Two captures of the same night, the second a day later.
    let (a, _) = night_trace(d.path(), "a.pcap", 0);
    let (b, _) = night_trace(d.path(), "b.pcap", 86_400);
    let ds = d.path().join("archive/");
    let printed = ok(&["convert", s(&a), s(&b), "-o", s(&ds)]);
    let parts = dataset_parts(&ds);
    assert!(
        printed.contains(&format!("{} parts", parts.len())),
        "{printed}"
    );
    // Three dates; a census: every packet a sample.
    let dates: std::collections::BTreeSet<String> = parts
        .iter()
        .map(|p| p.parent().unwrap().parent().unwrap().display().to_string())
        .collect();
    assert_eq!(dates.len(), 3, "{dates:?}");
    assert_eq!(check_parts(&parts), (800, 800, 800));
    // The same as each capture converted to a file, read together.
    let (fa, fb) = (d.path().join("a.parquet"), d.path().join("b.parquet"));
    ok(&["convert", s(&a), "-o", s(&fa)]);
    ok(&["convert", s(&b), "-o", s(&fb)]);
    let flat = d.path().join("flat");
    std::fs::create_dir(&flat).unwrap();
    std::fs::rename(&fa, flat.join("a.parquet")).unwrap();
    std::fs::rename(&fb, flat.join("b.parquet")).unwrap();
    assert_same_report(&report(&ds), &report(&flat), "archive");
    // Again into the same dataset: refused, nothing overwritten.
    let e = fails(&["convert", s(&a), "-o", s(&ds)]);
    assert!(e.contains("exists") && e.contains("--force"), "{e}");
    assert_eq!(dataset_parts(&ds), parts);
    // A samples file's pools cannot be cut by day: refused, in one line.
    let e = fails(&[
        "convert",
        s(&d.path().join("flat/a.parquet")),
        "-o",
        s(&d.path().join("more/")),
    ]);
    assert!(
        e.contains("a.parquet: a samples file") && e.lines().count() == 1,
        "{e}"
    );
    assert!(!d.path().join("more").exists());
    // Several inputs need a dataset.
    let e = fails(&[
        "convert",
        s(&a),
        s(&b),
        "-o",
        s(&d.path().join("x.parquet")),
    ]);
    assert!(e.contains("-o") && e.contains("DIR/"), "{e}");
}
