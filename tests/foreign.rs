//! Samples Parquet rewritten by other tools (DuckDB, polars, pyarrow
//! without metadata): analyze reads the rows and gives the
//! Horvitz–Thompson report, the same as the original file read with
//! `--ignore-metadata`; a file without the required columns is one line.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use common::{assert_same_report, fails, fixture, need, ok, python, root, s, tmpdir};

fn rewrite(py: &Path, tool: &str, src: &Path, dst: &Path, filter: &str) {
    let o = Command::new(py)
        .arg(root().join("tests/interop/rewrite.py"))
        .args([tool, s(src), s(dst), filter])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "rewrite {tool}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn report(input: &Path, extra: &[&str]) -> Value {
    let mut a = vec![
        "analyze",
        "--format",
        "json",
        "-q",
        "--interval",
        "1s",
        s(input),
    ];
    a.extend_from_slice(extra);
    let mut v: Value = serde_json::from_str(&ok(&a)).unwrap();
    v.as_object_mut().unwrap().remove("inputs");
    v
}

#[test]
fn files_rewritten_by_other_tools_give_the_horvitz_thompson_report() {
    let Some(py) = python() else {
        need("the interop Python (pyarrow, DuckDB, polars)", false);
        return;
    };
    let dir = tmpdir();
    // Microsecond timestamps, so that DuckDB's microsecond TIMESTAMPTZ
    // keeps them; several interfaces and directions.
    let orig = dir.path().join("s.parquet");
    ok(&[
        "capture",
        "--replay",
        s(&fixture("mixed-us-be.pcapng")),
        "-r",
        "4",
        "--seed",
        "2",
        "-q",
        "-o",
        s(&orig),
    ]);
    let want = report(&orig, &["--ignore-metadata"]);
    let with_pools = report(&orig, &[]);
    // The metadata's pools make totals exact; the rows alone estimate them.
    let p = &want["summary"]["packets"];
    assert!(p["low"].as_f64() < p["high"].as_f64(), "{p}");
    assert_ne!(want["summary"], with_pools["summary"]);
    let warned = want["warnings"].as_array().unwrap();
    assert_eq!(
        warned
            .iter()
            .filter(|w| w.as_str().unwrap().contains("no pktsample metadata"))
            .count(),
        1,
        "{warned:?}"
    );
    for tool in ["duckdb", "polars", "pyarrow"] {
        let f = dir.path().join(format!("{tool}.parquet"));
        rewrite(&py, tool, &orig, &f, "");
        assert_same_report(&want, &report(&f, &[]), tool);
    }
    // The user's story: the IPv6 rows, filtered in DuckDB, analyzed.
    let v6 = dir.path().join("v6.parquet");
    rewrite(&py, "duckdb", &orig, &v6, "WHERE ip_version = 6");
    let r = report(&v6, &[]);
    let row = want["ip_versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["ip_version"] == "6")
        .unwrap();
    assert_eq!(r["summary"]["packets"], row["packets"]);
    assert_eq!(r["summary"]["samples"], row["samples"]);
    // Required columns missing: one line naming them.
    let bare = dir.path().join("bare.parquet");
    rewrite(&py, "subset", &orig, &bare, "");
    let e = fails(&["analyze", s(&bare)]);
    assert!(e.contains("bare.parquet"), "{e}");
    assert!(e.contains("ifindex, direction"), "{e}");
    // A value out of range for the schema's type: one line, never wrapped.
    let neg = dir.path().join("negative.parquet");
    rewrite(&py, "negative", &orig, &neg, "");
    let e = fails(&["analyze", s(&neg)]);
    assert!(
        e.contains("negative.parquet") && e.contains("pkt_len"),
        "{e}"
    );
}
