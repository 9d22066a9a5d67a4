//! The partitioned dataset (`DIR/date=…/host=…/part-….parquet`, the pools
//! table under `DIR/_pools`): analyze reads a root as the flat parts it
//! holds, prunes partitions by `--from/--to` and `--host` without opening
//! them, and DuckDB reads the same root with Hive partitioning, the pools
//! table joining the samples to give the exact totals analyze gives; a
//! live capture into a dataset is read the same way.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_same_report, need, ok, python, read_all, s, samples, tmpdir};
use pktsample_tracegen::parts::{PartsSpec, split};
use serde_json::Value;

fn spec(dataset: bool) -> PartsSpec {
    PartsSpec {
        rows: 8,
        hosts: 2,
        hourly: true,
        parts: None,
        // Twelve hours apart: a host's parts span several dates.
        step_hours: 12,
        dataset,
    }
}

/// The JSON report, without its list of input files (which differ
/// between a root and its flat copy).
fn report(args: &[&str]) -> Value {
    let mut a = vec!["analyze", "-q", "--format", "json"];
    a.extend_from_slice(args);
    let mut v: Value = serde_json::from_str(&ok(&a)).unwrap();
    v.as_object_mut().unwrap().remove("inputs");
    v
}

/// A flat copy of the parts and the same parts as a dataset.
fn both(dir: &Path) -> (PathBuf, PathBuf, Vec<PathBuf>) {
    let input = samples(dir, "mixed.pcapng", 10);
    let flat = dir.join("flat");
    let ds = dir.join("ds");
    split(&input, &flat, &spec(false)).unwrap();
    let parts = split(&input, &ds, &spec(true)).unwrap();
    (flat, ds, parts)
}

#[test]
fn a_dataset_reads_as_its_parts_and_prunes_partitions_unopened() {
    let dir = tmpdir();
    let (flat, ds, parts) = both(dir.path());
    assert!(parts.len() >= 10, "{} parts", parts.len());
    let rel: Vec<String> = parts
        .iter()
        .map(|p| p.strip_prefix(&ds).unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        rel.iter()
            .all(|r| r.starts_with("date=") && r.contains("/host=host-0")),
        "{rel:?}"
    );
    let dates: std::collections::BTreeSet<&str> = rel.iter().map(|r| &r[..15]).collect();
    assert!(dates.len() >= 3, "{dates:?}");
    // Every part has its pools, under _pools, which analyze does not read.
    for p in &parts {
        assert!(
            pktsample_schemas::dataset::pools_path(&ds, p)
                .unwrap()
                .is_file()
        );
    }
    assert_same_report(&report(&[s(&ds)]), &report(&[s(&flat)]), "the dataset root");

    // A window and a host: the same report as filtering the flat parts.
    let first = read_all(&parts[0]).1.time_range_ns().0.unwrap();
    let from = pktsample_schemas::meta::format_rfc3339_ns(first + 12 * 3_600_000_000_000);
    let to = pktsample_schemas::meta::format_rfc3339_ns(first + 40 * 3_600_000_000_000);
    let filt = ["--from", &from, "--to", &to, "--host", "host-01"];
    let mut a = vec![s(&ds)];
    a.extend(filt);
    let mut b = vec![s(&flat)];
    b.extend(filt);
    let pruned = report(&a);
    assert_same_report(&pruned, &report(&b), "pruned by time and host");
    assert!(pruned["summary"]["samples"].as_u64().unwrap() > 0);
    assert_eq!(pruned["filters"]["hosts"], serde_json::json!(["host-01"]));

    // Unreadable files in the partitions pruned away: never opened. The
    // same files fail the unfiltered run, so they would have been read.
    let other = ds
        .join(rel[0].split('/').next().unwrap())
        .join("host=host-00");
    std::fs::write(other.join("part-broken.parquet"), b"not parquet").unwrap();
    let late = ds.join("date=2099-01-01/host=host-01");
    std::fs::create_dir_all(&late).unwrap();
    std::fs::write(late.join("part-broken.parquet"), b"not parquet").unwrap();
    assert_same_report(
        &report(&a),
        &pruned,
        "with broken files in pruned partitions",
    );
    let e = common::fails(&["analyze", "-q", s(&ds)]);
    assert!(e.contains("part-broken.parquet"), "{e}");

    // Nothing left after pruning: one line saying so.
    let e = common::fails(&["analyze", s(&ds), "--host", "nobody"]);
    assert!(e.contains("no partition") && e.contains("--host"), "{e}");
}

#[test]
fn duckdb_reads_the_dataset_and_its_pools_give_the_exact_totals() {
    let Some(py) = python() else {
        need("the interop Python (DuckDB)", false);
        return;
    };
    let dir = tmpdir();
    let (_, ds, parts) = both(dir.path());
    // What the metadata says, part by part.
    let (mut seen, mut rows, mut drops) = (0u64, 0u64, 0u64);
    for p in &parts {
        for i in read_all(p).1.interfaces {
            let t = i.total();
            seen += t.packets_seen;
            rows += t.samples;
            drops += t.drops;
        }
    }
    let r = report(&[s(&ds), "--by", "summary"]);
    assert_eq!(r["summary"]["packets_exact"], true);
    let root = s(&ds);
    let sql = format!(
        r#"
import duckdb, json
c = duckdb.connect()
samples = "read_parquet('{root}/date=*/host=*/*.parquet', hive_partitioning = true)"
pools = "read_parquet('{root}/_pools/date=*/host=*/*.parquet')"
n, hosts = c.execute(f"SELECT count(*), list(DISTINCT host ORDER BY host) FROM {{samples}}").fetchone()
seen, written, dropped, per_part = c.execute(f"SELECT sum(packets_seen), sum(samples), sum(drops), count(DISTINCT part) FROM {{pools}}").fetchone()
# The exact-pool total: each stratum's pool, joined to its samples.
exact = c.execute(f'''
  WITH s AS (SELECT host, ifname, direction, sampling_rate, count(*) AS n FROM {{samples}} GROUP BY ALL),
       p AS (SELECT host, ifname, direction, sampling_rate, sum(packets_seen) AS pool FROM {{pools}} GROUP BY ALL)
  SELECT sum(p.pool), sum(s.n) FROM p LEFT JOIN s USING (host, ifname, direction, sampling_rate)
''').fetchone()
print(json.dumps(dict(rows=n, hosts=hosts, seen=int(seen), written=int(written), drops=int(dropped), parts=per_part, exact=[int(exact[0]), int(exact[1] or 0)])))
"#
    );
    let o = Command::new(&py).args(["-c", &sql]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["rows"], rows);
    assert_eq!(d["written"], rows);
    assert_eq!(d["seen"], seen);
    assert_eq!(d["drops"], drops);
    assert_eq!(d["parts"], parts.len() as u64);
    assert_eq!(d["hosts"], serde_json::json!(["host-00", "host-01"]));
    assert_eq!(
        d["exact"][0].as_f64(),
        r["summary"]["packets"]["estimate"].as_f64()
    );
    assert_eq!(d["exact"][1], rows);
}

#[test]
fn enrich_fills_the_as_columns_of_every_part_in_place() {
    let dir = tmpdir();
    let input = dir.path().join("asn.parquet");
    common::replay(
        s(&common::fixture("asn.pcapng")),
        &["-r", "1", "--seed", "1", "-o", s(&input)],
    );
    let ds = dir.path().join("ds");
    let parts = split(&input, &ds, &spec(true)).unwrap();
    let db = common::fixture("asn/fixture-ip2asn.tsv");
    let out = ok(&["enrich", s(&ds), "--asn-db", s(&db)]);
    assert!(
        out.contains(&format!("enriched {} parts", parts.len())),
        "{out}"
    );
    // Each part: the rows of `convert --asn-db` of the same part before
    // (the flat copy), its pools rewritten, nothing left beside it.
    let flat = dir.path().join("flat");
    let originals = split(&input, &flat, &spec(false)).unwrap();
    for (p, o) in parts.iter().zip(&originals) {
        let want = dir.path().join("want.parquet");
        ok(&[
            "convert",
            s(o),
            "-o",
            s(&want),
            "--asn-db",
            s(&db),
            "--force",
        ]);
        let (got_rows, got_meta) = read_all(p);
        let (want_rows, want_meta) = read_all(&want);
        assert_eq!(
            common::concat(&got_rows),
            common::concat(&want_rows),
            "{}",
            p.display()
        );
        assert_eq!(got_meta.asn_databases, want_meta.asn_databases);
        assert!(!got_meta.asn_databases.is_empty());
        let pools = pktsample_schemas::dataset::pools_path(&ds, p).unwrap();
        assert!(
            pools.metadata().unwrap().modified().unwrap()
                >= p.metadata().unwrap().modified().unwrap()
        );
    }
    let leftovers: Vec<_> = walkdir(&ds)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".enrich."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The AS columns are there for the engines: analyze reads them too.
    let r = report(&[s(&ds), "--asn-db", s(&db), "--by", "src-as"]);
    assert!(!r["source_as"].as_array().unwrap().is_empty());
    let e = common::fails(&["enrich", s(&dir.path().join("nothing")), "--asn-db", s(&db)]);
    assert!(e.contains("not a dataset directory"), "{e}");
}

fn walkdir(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Live capture into a dataset: `capture -o DIR/ --rotate` at TCX in a
/// namespace writes date/host partitions whose pools, summed over the
/// parts, are every packet sent on each interface and direction, whose
/// samples are the counted ones; analyze reads the root with an exact
/// total, and the generated SQL on DuckDB gives analyze's summary and
/// interfaces.
#[test]
fn live_capture_writes_a_dataset_every_engine_reads() {
    use common::netns::{Netns, privileged, small_trace};
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let dir = tmpdir();
    let m = 3000u64;
    let trace = small_trace(dir.path(), m);
    let root = dir.path().join("ds");
    let out = format!("{}/", root.display());
    let cap = ns.capture(&[
        "-i", "va", "-i", "vb", "-r", "10", "--rotate", "1s", "-q", "-o", &out,
    ]);
    // 3000 packets at 1000/s: about three seconds, so several parts.
    ns.inject(&trace, &["--pps", "1000"]);
    cap.stop();
    let parts = pktsample_schemas::dataset::parts(&root).unwrap();
    assert!(parts.len() >= 2, "parts: {parts:?}");
    let mut seen: std::collections::BTreeMap<(String, String), u64> = Default::default();
    let mut rows = 0u64;
    for p in &parts {
        let rel = p.strip_prefix(&root).unwrap().to_string_lossy().to_string();
        let segs: Vec<&str> = rel.split('/').collect();
        assert!(
            segs.len() == 3 && segs[0].starts_with("date=") && segs[1].starts_with("host="),
            "{rel}"
        );
        assert!(root.join("_pools").join(&rel).is_file(), "{rel}: no pools");
        let (batches, meta) = read_all(p);
        let n: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        rows += n;
        let mut counted = 0;
        for im in &meta.interfaces {
            for (d, st) in &im.directions {
                *seen
                    .entry((im.name.clone(), d.as_str().into()))
                    .or_default() += st.packets_seen;
                counted += st.samples;
            }
        }
        assert_eq!(counted, n, "{rel}: the samples counted are the rows");
    }
    assert_eq!(seen[&("va".to_string(), "egress".to_string())], m);
    assert_eq!(seen[&("vb".to_string(), "ingress".to_string())], m);
    assert!(rows > 0);
    let by = ["--by", "summary,interfaces"];
    let r = report(&[s(&root), by[0], by[1]]);
    assert_eq!(r["summary"]["packets_seen"], serde_json::json!(2 * m));
    assert_eq!(
        r["summary"]["packets"]["estimate"].as_f64(),
        Some(2.0 * m as f64)
    );
    assert_eq!(r["summary"]["packets_exact"], serde_json::json!(true));
    let Some(py) = python() else {
        need("the interop Python (DuckDB)", false);
        return;
    };
    let q = dir.path().join("q.json");
    let rp = dir.path().join("r.json");
    std::fs::write(
        &q,
        ok(&[
            "sql",
            s(&root),
            "--dialect",
            "duckdb",
            "--format",
            "json",
            by[0],
            by[1],
        ]),
    )
    .unwrap();
    ok(&[
        "analyze",
        s(&root),
        "-q",
        "--format",
        "json",
        by[0],
        by[1],
        "-o",
        s(&rp),
    ]);
    let o = Command::new(&py)
        .arg(common::root().join("tests/interop/sql_check.py"))
        .args(["duckdb", "2e-4", "live", s(&q), s(&rp)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
