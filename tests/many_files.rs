//! Analyze at scale, exactly: many files give the report of the one file
//! they were cut from, a tiny memory budget gives the in-memory report, and
//! time filters skip files and row groups without changing the answer.

mod common;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pktsample_analyze::{Query, Sections};
use pktsample_tracegen::parts::{PartsSpec, split};
use pktsample_tracegen::{Format, Mix, Spec, generate};
use serde_json::Value;

use common::{assert_same_report, fixture, ok, read_all, replay_lib, s, tmpdir};

/// A trace of the mix, replayed at 1-in-`rate`.
fn sampled(dir: &Path, mix: Mix, packets: u64, rate: u32, pcapng: bool) -> PathBuf {
    let trace = dir.join(if pcapng { "t.pcapng" } else { "t.pcap" });
    let spec = Spec {
        mix,
        packets,
        seed: 17,
        format: if pcapng {
            Format::PcapNg {
                nanos: true,
                big_endian: false,
            }
        } else {
            Format::Pcap {
                nanos: false,
                big_endian: false,
            }
        },
        snaplen: 128,
        link: Default::default(),
        wrap: Default::default(),
    };
    generate(&spec, BufWriter::new(File::create(&trace).unwrap())).unwrap();
    let out = dir.join(format!("s{rate}.parquet"));
    replay_lib(&trace, &out, rate, 5);
    std::fs::remove_file(&trace).unwrap();
    out
}

struct Run {
    inputs: Vec<PathBuf>,
    window: (Option<i64>, Option<i64>),
    limit: Option<u64>,
    temp: Option<PathBuf>,
}

fn run(r: Run) -> (Value, u64) {
    let asn = Arc::new(pktsample_asn::AsDb::load(&[fixture("asn/fixture.mmdb")]).unwrap());
    let q = Query {
        inputs: r.inputs,
        from: r.window.0,
        to: r.window.1,
        interfaces: vec![],
        hosts: vec![],
        directions: vec![],
        interval: Some(60_000_000_000),
        sections: Sections::DEFAULT.without_k8s(),
        asn: Some(asn),
        memory_limit: r.limit,
        temp_dir: r.temp,
        ignore_metadata: false,
        inner: false,
        rollups: false,
        k8s: None,
        policy: None,
    };
    let a = pktsample_analyze::run(&q, &|_| {}).unwrap();
    let mut v = serde_json::to_value(pktsample_analyze::report(&a, 50).unwrap()).unwrap();
    // The file list is what differs by construction.
    v.as_object_mut().unwrap().remove("inputs");
    (v, a.spilled)
}

fn all(inputs: Vec<PathBuf>) -> Run {
    Run {
        inputs,
        window: (None, None),
        limit: None,
        temp: None,
    }
}

#[test]
fn a_tiny_memory_budget_gives_the_in_memory_report() {
    let dir = tmpdir();
    // 300,000 rows, about 200,000 distinct addresses: tens of MiB of
    // address entries against a 256 KiB budget.
    let f = sampled(dir.path(), Mix::Edge, 300_000, 1, false);
    let (mem, spilled) = run(all(vec![f.clone()]));
    assert_eq!(spilled, 0, "the default budget holds this file");
    let spill_dir = dir.path().join("spill");
    std::fs::create_dir(&spill_dir).unwrap();
    let (tiny, spilled) = run(Run {
        limit: Some(256 << 10),
        temp: Some(spill_dir.clone()),
        ..all(vec![f.clone()])
    });
    assert!(spilled > 16 * (256 << 10), "only {spilled} bytes spilled");
    assert_same_report(&mem, &tiny, "256 KiB budget");
    assert!(mem["distinct_addresses"]["ipv4"].as_u64().unwrap() > 50_000);
    // Spill files have no name: nothing is left behind.
    assert_eq!(std::fs::read_dir(&spill_dir).unwrap().count(), 0);
    // The command line says the same.
    let cli = |extra: &[&str]| {
        let mut a = vec!["analyze", "--format", "json", "-q", s(&f)];
        a.extend_from_slice(extra);
        ok(&a)
    };
    assert_eq!(
        cli(&[]),
        cli(&["--memory-limit", "1MiB", "--temp-dir", s(&spill_dir)])
    );
}

#[test]
fn parts_give_the_report_of_the_file_they_were_cut_from() {
    let dir = tmpdir();
    // Edge-shaped traffic, and a mix of interfaces and directions.
    for (name, mix, pcapng) in [("edge", Mix::Edge, false), ("mixed", Mix::Mixed, true)] {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        let f = sampled(&d, mix, 400_000, 10, pcapng);
        let spec = PartsSpec {
            rows: 997,
            hosts: 1,
            hourly: false,
            parts: None,
            step_hours: 1,
            dataset: false,
        };
        let parts = split(&f, &d.join("parts"), &spec).unwrap();
        assert!(parts.len() > 30, "{} parts", parts.len());
        let (one, _) = run(all(vec![f.clone()]));
        let (many, _) = run(all(parts.clone()));
        assert_same_report(&one, &many, name);
        // The pools add up: the exact-pool total is still exact.
        let (_, meta) = read_all(&f);
        let pool: u64 = meta
            .interfaces
            .iter()
            .flat_map(|i| i.directions.values())
            .map(|d| d.packets_seen)
            .sum();
        let p = &many["summary"]["packets"];
        assert_eq!(
            (p["estimate"].as_f64(), p["high"].as_f64()),
            (Some(pool as f64), Some(pool as f64)),
            "{name}"
        );
    }
}

/// Overwrite the middle of every column chunk of the row groups `rgs`: a
/// read of any of them fails.
fn corrupt_row_groups(path: &Path, rgs: &[usize]) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let r = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    for &rg in rgs {
        for c in r.metadata().row_group(rg).columns() {
            let (off, len) = c.byte_range();
            let (a, b) = (off as usize, (off + len) as usize);
            bytes[a..b].fill(0xA5);
        }
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn time_filters_skip_files_and_row_groups() {
    const HOUR: i64 = 3_600_000_000_000;
    let dir = tmpdir();
    let f = sampled(dir.path(), Mix::Edge, 120_000, 10, false);
    // Twelve hourly parts of one host.
    let spec = PartsSpec {
        rows: 1000,
        hosts: 1,
        hourly: true,
        parts: Some(12),
        step_hours: 1,
        dataset: false,
    };
    let parts = split(&f, &dir.path().join("parts"), &spec).unwrap();
    assert_eq!(parts.len(), 12);
    let (_, meta) = read_all(&parts[0]);
    let h0 = meta.time_range_ns().0.unwrap().div_euclid(HOUR) * HOUR;
    let window = (Some(h0 + 3 * HOUR), Some(h0 + 6 * HOUR));
    let report = |inputs: Vec<PathBuf>| {
        run(Run {
            window,
            ..all(inputs)
        })
        .0
    };
    let clean = report(parts.clone());
    // Row groups outside the window (one stratum each) are counted from
    // their statistics, not read: the same parts in one file of one row
    // group per hour.
    let one = dir.path().join("one.parquet");
    let (_, mut m) = read_all(&parts[0]);
    let mut batches = Vec::new();
    let (mut seen, mut samples) = (0, 0);
    for p in &parts {
        let (b, pm) = read_all(p);
        batches.extend(b);
        seen += pm.interfaces[0]
            .directions
            .values()
            .map(|d| d.packets_seen)
            .sum::<u64>();
        samples += pm.interfaces[0]
            .directions
            .values()
            .map(|d| d.samples)
            .sum::<u64>();
    }
    for d in m.interfaces[0].directions.values_mut() {
        (d.packets_seen, d.samples) = (seen, samples);
    }
    m.set_time_range(
        meta.time_range_ns().0,
        read_all(&parts[11]).1.time_range_ns().1,
    );
    let opts = pktsample_schemas::WriterOptions {
        row_group_rows: Some(1000),
        ..Default::default()
    };
    let mut w = pktsample_schemas::SampleWriter::with_options(&one, &m, opts).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.finish(&m).unwrap();
    // Files outside the window are not read: their rows may be garbage.
    for (i, p) in parts.iter().enumerate() {
        if !(3..6).contains(&i) {
            corrupt_row_groups(p, &[0]);
        }
    }
    assert_same_report(
        &clean,
        &report(parts.clone()),
        "corrupt files outside the window",
    );
    assert_eq!(clean["summary"]["samples"].as_u64(), Some(3000));
    let before = report(vec![one.clone()]);
    let outside: Vec<usize> = (0..12).filter(|i| !(3..6).contains(i)).collect();
    corrupt_row_groups(&one, &outside);
    assert_same_report(
        &before,
        &report(vec![one]),
        "corrupt row groups outside the window",
    );
    assert_eq!(before["summary"]["samples"].as_u64(), Some(3000));
}
