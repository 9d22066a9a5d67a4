//! `pktsample sql` on the engines users run: the generated queries on
//! DuckDB, ClickHouse (chDB, the embedded engine) and Spark (`local[2]`,
//! one session for all of them) over a partitioned dataset give the rows
//! of `pktsample analyze --format json`: every key and sample count, every
//! estimate to 1e-9, and every interval bound within the documented bound
//! of the quantile approximations (docs/sql.md).
//!
//! The dataset: two hosts at 1-in-10 and a third at 1-in-100, several parts
//! per host over several dates, IPv4 and IPv6, and one stratum with drops.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, need, ok, python, read_all, replay, root, s, tmpdir};
use pktsample_schemas::{SampleWriter, dataset};
use pktsample_tracegen::parts::{PartsSpec, split};

/// The bound the approximated quantiles keep to (docs/sql.md), relative
/// to analyze's bound.
const BOUND: &str = "2e-4";

fn spec(hosts: usize) -> PartsSpec {
    PartsSpec {
        rows: 8,
        hosts,
        hourly: true,
        parts: None,
        step_hours: 12,
        dataset: true,
    }
}

/// Move every file under `from` to the same relative place under `to`.
fn merge_into(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let q = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&q).unwrap();
            merge_into(&p, &q);
        } else {
            std::fs::rename(&p, &q).unwrap();
        }
    }
}

/// Give one part's first interface direction some drops (and the pool
/// the dropped samples' packets), and rewrite its pools.
fn add_drops(root: &Path, part: &Path) {
    let (batches, mut meta) = read_all(part);
    let im = &mut meta.interfaces[0];
    let rate = u64::from(im.sampling_rate);
    let st = im.directions.values_mut().next().unwrap();
    st.drops += 3;
    st.packets_seen += 3 * rate;
    let tmp = part.with_extension("tmp.parquet");
    let mut w = SampleWriter::create(&tmp, false, &meta).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.finish(&meta).unwrap();
    std::fs::rename(&tmp, part).unwrap();
    dataset::write_pools(root, part, &meta, true).unwrap();
}

fn build(dir: &Path) -> PathBuf {
    let input = fixture("mixed.pcapng");
    let r10 = dir.join("r10.parquet");
    let r100 = dir.join("r100.parquet");
    replay(s(&input), &["-r", "10", "--seed", "1", "-o", s(&r10)]);
    replay(s(&input), &["-r", "100", "--seed", "5", "-o", s(&r100)]);
    let ds = dir.join("ds");
    let parts = split(&r10, &ds, &spec(2)).unwrap();
    let other = dir.join("other");
    split(&r100, &other, &spec(1)).unwrap();
    merge_into(&other, &ds);
    add_drops(&ds, &parts[1]);
    ds
}

fn run(py: &Path, engine: &str, dialect: &str, ds: &Path, report: &Path) -> serde_json::Value {
    let q = ds.parent().unwrap().join(format!("{dialect}.json"));
    std::fs::write(
        &q,
        ok(&[
            "sql",
            s(ds),
            "--dialect",
            dialect,
            "--format",
            "json",
            "--top",
            "1000",
        ]),
    )
    .unwrap();
    let o = Command::new(py)
        .arg(root().join("tests/interop/sql_check.py"))
        .args([engine, s(&q), s(report), BOUND])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{engine}: {}",
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .filter(|l| !l.contains("WARN") && !l.contains("Stage"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn duckdb_chdb_and_spark_give_analyzes_numbers() {
    let Some(py) = python() else {
        need("the interop Python (DuckDB, chdb, pyspark)", false);
        return;
    };
    let have = Command::new(&py)
        .args(["-c", "import chdb, pyspark"])
        .output()
        .is_ok_and(|o| o.status.success());
    let java = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !need(
        "chdb and pyspark in the interop Python, and a Java runtime for Spark",
        have && java,
    ) {
        return;
    }
    let dir = tmpdir();
    let ds = build(dir.path());
    let report = dir.path().join("analyze.json");
    ok(&[
        "analyze",
        s(&ds),
        "-q",
        "--format",
        "json",
        "--top",
        "1000",
        "-o",
        s(&report),
    ]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["summary"]["sampling_rates"], serde_json::json!([10, 100]));
    assert!(r["summary"]["drops"].as_u64().unwrap() >= 3);
    for (engine, dialect) in [
        ("duckdb", "duckdb"),
        ("chdb", "clickhouse"),
        ("spark", "spark"),
    ] {
        let worst = run(&py, engine, dialect, &ds, &report);
        for (section, w) in worst.as_object().unwrap() {
            assert!(
                w["estimate"].as_f64().unwrap() <= 1e-9,
                "{engine} {section}: {w}"
            );
        }
        eprintln!("{engine}: largest deviations by section {worst}");
    }
}

#[test]
fn sql_names_what_it_does_not_cover() {
    let e = common::fails(&["sql", "/nonexistent", "--dialect", "oracle"]);
    assert!(e.contains("--dialect") && e.contains("duckdb"), "{e}");
    let e = common::fails(&["sql", "/x", "--dialect", "duckdb", "--by", "services"]);
    assert!(e.contains("--by") && e.contains("services"), "{e}");
}
