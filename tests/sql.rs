//! `pktsample sql` on the engines users run: the generated queries on
//! DuckDB, ClickHouse (chDB, the embedded engine) and Spark (`local[2]`,
//! one session for all of them) over a partitioned dataset give the rows
//! of `pktsample analyze --format json`: every key and sample count, every
//! estimate to 1e-9, and every interval bound within the documented bound
//! of the quantile approximations (docs/sql.md).
//!
//! The dataset: two hosts at 1-in-10 and a third at 1-in-100, several parts
//! per host over several dates, IPv4 and IPv6, one stratum with drops,
//! enriched with AS and Kubernetes columns. Three scenarios, every section in each: the
//! whole dataset (with the per-AS sections); a time window cutting parts
//! and two of the hosts (partitions pruned by both); and a copy whose parts
//! are of schema 1.0, 1.1 and the current version mixed. Spark and
//! ClickHouse plan each query for seconds: see each scenario for what runs
//! where.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::datasets::{copy_dir, fixture_dataset, spec};
use common::{fixture, need, ok, python, read_all, replay, root, s, tmpdir};
use pktsample_analyze::catalog;
use pktsample_schemas::schema::col;
use pktsample_schemas::{SampleWriter, dataset};
use pktsample_tracegen::parts::{PartsSpec, split};

/// The bound the approximated quantiles keep to (docs/sql.md), relative
/// to analyze's bound.
const BOUND: &str = "2e-4";

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

/// The fixture dataset: `asn.pcapng` at 1-in-10 over two hosts and
/// `mixed.pcapng` at 1-in-100 on a third, parts 12 hours apart over
/// several dates, one stratum with drops, enriched with the fixture AS
/// database and the fixture cluster (its pods' addresses are in the
/// traces: the Kubernetes sections have workloads, labels and
/// unattributed rows).
fn build(dir: &Path) -> PathBuf {
    let (ds, parts) = fixture_dataset(dir);
    add_drops(&ds, &parts[1]);
    let k8s = fixture("k8s/cluster-2200.json");
    let t = "2023-11-14T22:00:00Z";
    ok(&[
        "enrich",
        s(&ds),
        "--asn-db",
        s(&asn_db()),
        "--k8s",
        s(&k8s),
        "--k8s-time",
        t,
    ]);
    ds
}

fn asn_db() -> PathBuf {
    fixture("asn/fixture-ip2asn.tsv")
}

/// A copy of the dataset whose parts are, in turn, as schema 1.0 (no AS
/// columns, no link type), 1.1 (no link type) and the current version
/// wrote them.
fn drifted(ds: &Path, to: &Path) {
    copy_dir(ds, to);
    let mut parts = dataset::parts(to).unwrap();
    parts.sort();
    for (i, p) in parts.iter().enumerate() {
        let drop: &[&str] = match i % 3 {
            0 => &col::ADDED_SINCE_1_0,
            1 => &[col::LINK_TYPE],
            _ => continue,
        };
        let version = if i % 3 == 0 { "1.0" } else { "1.1" };
        common::write_without(p, p, drop, version);
    }
}

/// A dataset of tunnelled traffic (every shim and tunnel, and plain
/// frames) at 1-in-10, in parts.
fn overlay(dir: &Path) -> PathBuf {
    let trace = dir.join("overlay.pcap");
    let spec = pktsample_tracegen::Spec {
        mix: pktsample_tracegen::Mix::Asn,
        packets: 6000,
        seed: 9,
        format: pktsample_tracegen::Format::Pcap {
            nanos: false,
            big_endian: false,
        },
        snaplen: 65535,
        link: Default::default(),
        wrap: pktsample_tracegen::encap::Wrap::Mixed,
    };
    let f = std::io::BufWriter::new(std::fs::File::create(&trace).unwrap());
    pktsample_tracegen::generate(&spec, f).unwrap();
    let samples = dir.join("overlay.parquet");
    replay(s(&trace), &["-r", "10", "--seed", "2", "-o", s(&samples)]);
    let ds = dir.join("overlay").join("ds");
    split(&samples, &ds, &spec_parts()).unwrap();
    ds
}

fn spec_parts() -> PartsSpec {
    PartsSpec {
        rows: 200,
        ..spec(1)
    }
}

/// Every engine.
const ALL: &[&str] = &["duckdb", "chdb", "spark"];
/// The engines that run every section within seconds each.
const FAST: &[&str] = &["duckdb", "chdb"];

/// Whether Spark runs every section too (PKTSAMPLE_SQL_SPARK_ALL).
fn spark_all() -> bool {
    std::env::var_os("PKTSAMPLE_SQL_SPARK_ALL").is_some()
}

/// One comparison: the queries `pktsample sql DS ARGS` print and the
/// report `pktsample analyze DS ARGS` writes (with `analyze_only` besides).
struct Scenario {
    name: &'static str,
    ds: PathBuf,
    args: Vec<String>,
    analyze_only: Vec<String>,
    /// `sql`'s arguments besides (`--rollup`).
    sql_only: Vec<String>,
    /// The engines it runs on.
    engines: &'static [&'static str],
}

impl Scenario {
    /// Write its queries for `dialect` and analyze's report; their paths.
    fn files(&self, dialect: &str) -> (PathBuf, PathBuf) {
        let dir = self.ds.parent().unwrap();
        let q = dir.join(format!("{}-{dialect}.json", self.name));
        let r = dir.join(format!("{}-analyze.json", self.name));
        let mut a: Vec<&str> = vec![
            "sql",
            s(&self.ds),
            "--dialect",
            dialect,
            "--format",
            "json",
            "--top",
            "1000",
        ];
        a.extend(self.args.iter().map(String::as_str));
        a.extend(self.sql_only.iter().map(String::as_str));
        std::fs::write(&q, ok(&a)).unwrap();
        if !r.exists() {
            let mut a: Vec<&str> = vec![
                "analyze",
                s(&self.ds),
                "-q",
                "--format",
                "json",
                "--top",
                "1000",
                "-o",
                s(&r),
            ];
            a.extend(self.args.iter().map(String::as_str));
            a.extend(self.analyze_only.iter().map(String::as_str));
            ok(&a);
        }
        (q, r)
    }
}

fn run(py: &Path, engine: &str, dialect: &str, scenarios: &[Scenario]) -> serde_json::Value {
    let mut args: Vec<String> = vec![
        root()
            .join("tests/interop/sql_check.py")
            .display()
            .to_string(),
        engine.into(),
        BOUND.into(),
    ];
    for sc in scenarios.iter().filter(|sc| sc.engines.contains(&engine)) {
        let (q, r) = sc.files(dialect);
        args.extend([sc.name.to_string(), s(&q).into(), s(&r).into()]);
    }
    let o = Command::new(py).args(&args).output().unwrap();
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

/// RFC 3339 of a point `f` of the way through the report's span.
fn within(report: &Path, f: f64) -> String {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let t = |k: &str| {
        pktsample_schemas::meta::parse_rfc3339_ns(r["summary"][k].as_str().unwrap()).unwrap()
    };
    let (a, b) = (t("start"), t("end"));
    let x = a + ((b - a) as f64 * f) as i64;
    pktsample_schemas::meta::format_rfc3339_ns(x / 1_000_000_000 * 1_000_000_000)
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
    if std::env::var_os("PKTSAMPLE_SQL_KEEP").is_some() {
        eprintln!("kept {}", dir.path().display());
    }
    let drift = dir.path().join("drift").join("ds");
    drifted(&ds, &drift);
    // Every section with an SQL form (encapsulations has none yet).
    let names: Vec<&str> = catalog::with_sql().iter().map(|s| s.name()).collect();
    let every: Vec<String> = vec!["--by".into(), names.join(",")];
    let asn = vec!["--asn-db".to_string(), s(&asn_db()).to_string()];
    let full = Scenario {
        name: "full",
        ds: ds.clone(),
        args: every,
        analyze_only: asn.clone(),
        sql_only: vec![],
        engines: if spark_all() { ALL } else { FAST },
    };
    let (_, report) = full.files("duckdb");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["summary"]["sampling_rates"], serde_json::json!([10, 100]));
    assert!(r["summary"]["drops"].as_u64().unwrap() >= 3);
    assert!(r["remote_as"].as_array().unwrap().len() > 3);
    // Spark plans each query for 10-50 s (its analyzer and code generator
    // on the interval formulas): in CI it runs the statements that hold
    // every construct its dialect writes differently (records, time
    // formatting, bucket ranges, sorted sets, shares, the views with file
    // names and partitions), not the sections whose SQL differs from those
    // only in a key expression. PKTSAMPLE_SQL_SPARK_ALL=1 runs every
    // section there too.
    let spark_full = Scenario {
        name: "full-spark",
        ds: ds.clone(),
        args: vec!["--by".into(), "summary,time-series,as-pairs,as-ipv6".into()],
        analyze_only: asn,
        sql_only: vec![],
        // On a standalone cluster (a master and two workers, each its own
        // JVM: sql_check.py's Cluster); the same dialect on `local[2]`
        // runs the window and drift scenarios below.
        engines: &["spark-cluster"],
    };
    // A window cutting parts, and two of the three hosts: analyze prunes
    // partitions and parts, the SQL the same by its predicates.
    let cut = vec![
        "--from".to_string(),
        within(&report, 0.3),
        "--to".into(),
        within(&report, 0.8),
        "--host".into(),
        "host-00".into(),
        "--host".into(),
        host_of_r100(&r),
    ];
    // Every section on DuckDB; on the others (seconds per query) the
    // summary, which reads every row and pool the window and hosts select.
    let window = Scenario {
        name: "window",
        ds: ds.clone(),
        args: cut.clone(),
        analyze_only: vec![],
        sql_only: vec![],
        engines: &["duckdb"],
    };
    let window_light = Scenario {
        name: "window-summary",
        ds: ds.clone(),
        args: [cut, vec!["--by".into(), "summary".into()]].concat(),
        analyze_only: vec![],
        sql_only: vec![],
        // chdb-mergetree: the views over MergeTree tables, as docs/sql.md
        // has them on a ClickHouse cluster (partitions, hosts and file
        // names as columns).
        engines: &["chdb", "chdb-mergetree", "spark"],
    };
    // The mixed versions must read everywhere: every section on DuckDB,
    // the summary (every row of every part) on the others.
    let drifted = Scenario {
        name: "drift",
        ds: drift.clone(),
        args: vec![],
        analyze_only: vec![],
        sql_only: vec![],
        engines: &["duckdb"],
    };
    let drift_light = Scenario {
        name: "drift-summary",
        ds: drift,
        args: vec!["--by".into(), "summary".into()],
        analyze_only: vec![],
        sql_only: vec![],
        engines: &["chdb", "chdb-mergetree", "spark"],
    };
    // Overlay traffic with --inner: the sections on the inner headers.
    let inner = Scenario {
        name: "inner",
        ds: overlay(dir.path()),
        args: vec![
            "--inner".into(),
            "--by".into(),
            "summary,ip-versions,protocols,top-sources,top-destinations,time-series".into(),
        ],
        analyze_only: vec![],
        sql_only: vec![],
        engines: &["duckdb"],
    };
    // The rollups' form: the cells from DIR/_rollup/ (which analyze,
    // given the same sections, reads too), on every engine.
    ok(&["rollup", s(&ds)]);
    let rolled = Scenario {
        name: "rollup",
        ds: ds.clone(),
        args: vec![
            "--by".into(),
            "summary,protocols,interfaces,time-series,packet-sizes".into(),
            "--interval".into(),
            "1h".into(),
        ],
        analyze_only: vec![],
        sql_only: vec!["--rollup".into()],
        engines: ALL,
    };
    let scenarios = [
        rolled,
        full,
        spark_full,
        window,
        window_light,
        drifted,
        drift_light,
        inner,
    ];
    let only = std::env::var("PKTSAMPLE_SQL_ENGINES").unwrap_or_default();
    for (engine, dialect) in [
        ("duckdb", "duckdb"),
        ("chdb", "clickhouse"),
        ("chdb-mergetree", "clickhouse"),
        ("spark", "spark"),
        ("spark-cluster", "spark"),
    ] {
        if !only.is_empty() && !only.split(',').any(|e| e == engine) {
            eprintln!("PKTSAMPLE_SQL_ENGINES: {engine} left out");
            continue;
        }
        let worst = run(&py, engine, dialect, &scenarios);
        for (name, sections) in worst.as_object().unwrap() {
            for (section, w) in sections.as_object().unwrap() {
                if section == "seconds" {
                    continue;
                }
                assert!(
                    w["estimate"].as_f64().unwrap() <= 1e-9,
                    "{engine} {name} {section}: {w}"
                );
            }
        }
        eprintln!("{engine}: largest deviations by scenario and section {worst}");
    }
    if std::env::var_os("PKTSAMPLE_SQL_KEEP").is_some() {
        std::mem::forget(dir);
    }
}

/// The host of the 1-in-100 parts (the replay's own host name).
fn host_of_r100(r: &serde_json::Value) -> String {
    r["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["host"].as_str().unwrap().to_string())
        .find(|h| !h.starts_with("host-"))
        .unwrap()
}

#[test]
fn sql_names_what_it_does_not_cover() {
    // Values clap knows: its usage error (exit 2) names the flag and
    // lists the choices.
    let usage = |args: &[&str], want: &str, choice: &str| {
        let o = common::pktsample(args);
        let e = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert_eq!(e.lines().count(), 1, "one line: {e}");
        assert!(e.contains(want) && e.contains(choice), "{e}");
    };
    usage(
        &["sql", "/nonexistent", "--dialect", "oracle"],
        "invalid value 'oracle' for '--dialect",
        "duckdb",
    );
    usage(
        &["sql", "/x", "--dialect", "duckdb", "--by", "services"],
        "invalid value 'services' for '--by",
        "ip-versions",
    );
    usage(
        &["sql", "/x", "--dialect", "duckdb", "--format", "yaml"],
        "invalid value 'yaml' for '--format",
        "json",
    );
    let e = common::fails(&["sql", "/x", "--dialect", "duckdb", "--by", "encapsulations"]);
    assert!(
        e.contains("encapsulations section has no SQL form yet"),
        "{e}"
    );
    let e = common::fails(&["sql", "/x", "--dialect", "duckdb", "--interval", "0s"]);
    assert!(e.contains("--interval"), "{e}");
}
