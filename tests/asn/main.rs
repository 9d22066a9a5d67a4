//! Per-AS analysis and enrichment, black-box: the per-AS sections at rate 1
//! equal the generator's truth mapped through a brute-force longest-prefix
//! match over the fixture data, for every database format; the enriched
//! Parquet agrees with DuckDB; files of schema 1.0 still read; bad
//! databases fail cleanly.

#[path = "../common/mod.rs"]
mod common;
mod coverage;
mod files;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use arrow_array::Array;
use common::*;
use pktsample_asn::{Unmapped, classify};
use pktsample_tracegen::asn::reference_origin;
use serde_json::Value;

/// Every fixture database, built from the same data (fixtures/asn/build.py),
/// and whether it carries AS names.
const DATABASES: [(&str, bool); 7] = [
    ("asn/fixture.mmdb", true),
    ("asn/fixture-ipinfo.mmdb", true),
    ("asn/fixture-ip2asn.tsv", true),
    ("asn/fixture-ip2asn.tsv.gz", true),
    ("asn/fixture-iplocation.csv", true),
    ("asn/fixture.pfx2as", false),
    ("asn/fixture-pyasn.dat", false),
];

/// The expected label of an address: "AS<n>" from the brute-force
/// reference, else its special-purpose class or "unrouted".
fn label(a: &str) -> String {
    let ip: IpAddr = a.parse().unwrap();
    match reference_origin(ip) {
        Some(n) => format!("AS{n}"),
        None => classify(ip)
            .unwrap_or(Unmapped::Unrouted)
            .label()
            .to_string(),
    }
}

/// (packets, bytes) per key.
type Counts = BTreeMap<String, (u64, u64)>;

fn by_label(
    m: &BTreeMap<String, pktsample_tracegen::Count>,
    key: impl Fn(&str) -> String,
) -> Counts {
    let mut out = Counts::new();
    for (a, c) in m {
        let e = out.entry(key(a)).or_default();
        e.0 += c.packets;
        e.1 += c.bytes;
    }
    out
}

fn exact(v: &Value) -> u64 {
    let (e, lo, hi) = (
        v["estimate"].as_f64().unwrap(),
        v["low"].as_f64().unwrap(),
        v["high"].as_f64().unwrap(),
    );
    assert!(e == lo && e == hi, "rate 1 must be exact: {v}");
    e as u64
}

/// A per-AS section of the JSON report as counts by label (or pair of
/// labels), checking every row is exact.
fn section(r: &Value, name: &str, key: impl Fn(&Value) -> String) -> Counts {
    r[name]
        .as_array()
        .unwrap_or_else(|| panic!("no section {name}"))
        .iter()
        .map(|row| {
            let p = exact(&row["packets"]);
            assert_eq!(row["samples"].as_u64().unwrap(), p);
            (key(row), (p, exact(&row["bytes"])))
        })
        .collect()
}

fn report_json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).unwrap()
}

#[test]
fn per_as_sections_equal_the_truth_for_every_database_format() {
    let t = truth("asn.pcapng");
    let src = by_label(&t.src_addr, label);
    let dst = by_label(&t.dst_addr, label);
    let remote = by_label(&t.remote_addr, label);
    let pairs = by_label(&t.addr_pair, |p| {
        let (a, b) = p.split_once(' ').unwrap();
        format!("{} {}", label(a), label(b))
    });
    // Nested prefixes and odd ranges are really exercised.
    for l in [
        "AS64496",
        "AS64497",
        "AS64498",
        "AS64499",
        "AS64503",
        "unrouted",
        "private",
        "documentation",
    ] {
        assert!(src.contains_key(l), "the fixture has sources in {l}");
    }
    let v6 = |a: &str| a.contains(':');
    let mut reports = Vec::new();
    for (db, names) in DATABASES {
        let r = report_json(&[
            "analyze",
            s(&fixture("asn.pcapng")),
            "--asn-db",
            s(&fixture(db)),
            "--format",
            "json",
            "--top",
            "1000",
            "-q",
        ]);
        let lab = |row: &Value| row["label"].as_str().unwrap().to_string();
        assert_eq!(section(&r, "source_as", lab), src, "{db}: source AS");
        assert_eq!(
            section(&r, "destination_as", lab),
            dst,
            "{db}: destination AS"
        );
        assert_eq!(section(&r, "remote_as", lab), remote, "{db}: remote AS");
        let pair = |row: &Value| {
            format!(
                "{} {}",
                row["source"]["label"].as_str().unwrap(),
                row["destination"]["label"].as_str().unwrap()
            )
        };
        assert_eq!(section(&r, "as_pairs", pair), pairs, "{db}: AS pairs");
        // IPv6 share per remote AS: IPv6 packets of the AS over its IP packets.
        let mut want: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (a, c) in &t.remote_addr {
            let e = want.entry(label(a)).or_default();
            e.1 += c.packets;
            if v6(a) {
                e.0 += c.packets;
            }
        }
        let rows = r["as_ipv6"].as_array().unwrap();
        assert_eq!(
            rows.len(),
            want.values().filter(|w| w.0 > 0).count(),
            "{db}"
        );
        for row in rows {
            let (v6p, all) = want[row["label"].as_str().unwrap()];
            assert_eq!(exact(&row["packets"]), v6p, "{db}: {row}");
            let share = row["share_packets"]["estimate"].as_f64().unwrap();
            assert!(
                (share - v6p as f64 / all as f64).abs() < 1e-12,
                "{db}: {row}"
            );
        }
        // AS numbers and names travel with the rows; labels are not ASes.
        for row in r["source_as"].as_array().unwrap() {
            let l = row["label"].as_str().unwrap();
            match l.strip_prefix("AS") {
                Some(n) => {
                    assert_eq!(row["asn"].as_u64().unwrap().to_string(), n);
                    assert_eq!(row["name"].is_string(), names, "{db}: {row}");
                }
                None => assert!(row["asn"].is_null() && row["name"].is_null(), "{row}"),
            }
        }
        if names {
            let t = r["source_as"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["asn"] == 64496)
                .unwrap();
            assert_eq!(t["name"], "Example Transit, Inc.");
        }
        // The multi-origin prefix is reported for pfx2as.
        let warned = r["warnings"].to_string().contains("several origins");
        assert_eq!(warned, db.ends_with(".pfx2as"), "{db}: {}", r["warnings"]);
        reports.push(r);
    }
    // Every format gives every section the same numbers (names aside: the
    // prefix formats carry none).
    let names_free: Vec<Value> = reports
        .iter()
        .map(|r| {
            let mut r = r.clone();
            for k in ["inputs", "asn_databases", "warnings"] {
                r[k] = Value::Null;
            }
            without_names(&mut r);
            r
        })
        .collect();
    assert!(
        names_free.windows(2).all(|w| w[0] == w[1]),
        "formats differ"
    );
}

/// Remove every "name" field, at any depth.
fn without_names(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("name");
            m.values_mut().for_each(without_names);
        }
        Value::Array(a) => a.iter_mut().for_each(without_names),
        _ => {}
    }
}

#[test]
fn sections_render_in_every_format() {
    let db = fixture("asn/fixture.mmdb");
    let run = |format: &str| {
        ok(&[
            "analyze",
            s(&fixture("asn.pcapng")),
            "--asn-db",
            s(&db),
            "-q",
            "--format",
            format,
        ])
    };
    let table = run("table");
    for title in [
        "Source AS",
        "Destination AS",
        "Remote AS",
        "AS pairs",
        "IPv6 by remote AS",
    ] {
        assert!(table.contains(title), "table has {title}:\n{table}");
    }
    assert!(table.contains("AS64497 Example Access"), "{table}");
    for l in table.lines() {
        assert!(l.chars().count() <= 80, "wider than 80 columns: {l}");
    }
    let md = run("markdown");
    assert!(
        md.contains("## Source AS") && md.contains("| IPv6 share |"),
        "{md}"
    );
    let csv = run("csv");
    let header = csv.lines().next().unwrap();
    let ncol = header.split(',').count();
    assert!(
        csv.lines()
            .any(|l| l.starts_with("source_as,AS64497 Example Access,")),
        "{csv}"
    );
    assert!(csv.lines().any(|l| l.starts_with("as_ipv6,")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("as_pairs,")), "{csv}");
    // Quoted fields aside, every row has the header's columns.
    for l in csv.lines().filter(|l| !l.contains('"')) {
        assert_eq!(l.split(',').count(), ncol, "{l}");
    }
    // Without a database the per-AS sections are absent, and asking for one
    // says what is missing.
    let plain = ok(&["analyze", s(&fixture("asn.pcapng")), "-q"]);
    assert!(!plain.contains("Source AS"));
    let e = fails(&["analyze", s(&fixture("asn.pcapng")), "--by", "src-as"]);
    assert!(e.contains("--asn-db"), "{e}");
}

/// Counts by label from a DuckDB query over the samples file (view `s`):
/// rows of (label, samples, bytes).
fn duckdb_counts(f: &Path, sql: &str) -> Counts {
    let py = python().expect("checked by need");
    let out = interop(&py, &["sql", s(f), sql]);
    let rows: Vec<(String, u64, u64)> = serde_json::from_str(&out).unwrap();
    rows.into_iter().map(|(l, n, b)| (l, (n, b))).collect()
}

#[test]
fn enriched_parquet_matches_duckdb_and_the_reference() {
    if !need(
        "the interop Python venv (pyarrow, duckdb)",
        python().is_some(),
    ) {
        return;
    }
    let dir = tmpdir();
    let cap = dir.path().join("cap.parquet");
    let conv = dir.path().join("conv.parquet");
    let db = fixture("asn/fixture.mmdb");
    // Capture path (replay) with the mmdb; convert path with the pfx2as.
    replay(
        s(&fixture("asn.pcapng")),
        &[
            "-r",
            "1",
            "--seed",
            "1",
            "-q",
            "--asn-db",
            s(&db),
            "-o",
            s(&cap),
        ],
    );
    ok(&[
        "convert",
        s(&fixture("asn.pcapng")),
        "-o",
        s(&conv),
        "--asn-db",
        s(&fixture("asn/fixture.pfx2as")),
    ]);

    // Row by row: the AS columns equal the reference, in both files.
    for (f, names) in [(&cap, true), (&conv, false)] {
        let (batches, meta) = read_all(f);
        assert_eq!(meta.schema_version, pktsample_schemas::SCHEMA_VERSION);
        assert_eq!(meta.asn_databases.len(), 1, "{:?}", meta.asn_databases);
        let b = concat(&batches);
        let cols = |n: &str| b.column_by_name(n).unwrap().clone();
        use arrow_array::cast::AsArray;
        let (sa, da) = (cols("src_addr"), cols("dst_addr"));
        let (sa, da) = (sa.as_string::<i32>(), da.as_string::<i32>());
        let (sas, das) = (cols("src_as"), cols("dst_as"));
        let (sas, das) = (
            sas.as_primitive::<arrow_array::types::UInt32Type>(),
            das.as_primitive::<arrow_array::types::UInt32Type>(),
        );
        let name = cols("src_as_name");
        let name = arrow_cast_strings(&name);
        for (i, row_name) in name.iter().enumerate().take(b.num_rows()) {
            for (a, asn) in [(sa, sas), (da, das)] {
                if a.is_null(i) {
                    assert!(asn.is_null(i));
                    continue;
                }
                let want = reference_origin(a.value(i).parse().unwrap());
                let got = (!asn.is_null(i)).then(|| asn.value(i));
                assert_eq!(got, want, "{}: row {i} {}", f.display(), a.value(i));
            }
            if !sa.is_null(i) {
                let l = label(sa.value(i));
                match (row_name, l.starts_with("AS")) {
                    (Some(n), false) => assert_eq!(n, &l),
                    (n, true) => assert_eq!(n.is_some(), names, "row {i}"),
                    (None, false) => panic!("row {i}: no label for {l}"),
                }
            }
        }
    }

    // DuckDB's group-by on the AS columns equals analyze's sections.
    let r = report_json(&[
        "analyze",
        s(&cap),
        "--asn-db",
        s(&db),
        "--format",
        "json",
        "--top",
        "1000",
        "-q",
    ]);
    let label_of = |k: &str| format!("coalesce('AS' || {k}_as::VARCHAR, {k}_as_name)");
    for (k, sec) in [("src", "source_as"), ("dst", "destination_as")] {
        let duck = duckdb_counts(
            &cap,
            &format!(
                "SELECT {}, count(*), sum(pkt_len) FROM s WHERE {k}_addr IS NOT NULL GROUP BY ALL",
                label_of(k)
            ),
        );
        let ours = section(&r, sec, |row| row["label"].as_str().unwrap().to_string());
        assert_eq!(ours, duck, "{sec} vs DuckDB");
    }
    let duck = duckdb_counts(
        &cap,
        &format!(
            "SELECT {} || ' ' || {}, count(*), sum(pkt_len) FROM s WHERE src_addr IS NOT NULL GROUP BY ALL",
            label_of("src"),
            label_of("dst")
        ),
    );
    let ours = section(&r, "as_pairs", |row| {
        format!(
            "{} {}",
            row["source"]["label"].as_str().unwrap(),
            row["destination"]["label"].as_str().unwrap()
        )
    });
    assert_eq!(ours, duck, "AS pairs vs DuckDB");
}

fn arrow_cast_strings(a: &arrow_array::ArrayRef) -> Vec<Option<String>> {
    use arrow_array::cast::AsArray;
    let d = a.as_dictionary::<arrow_array::types::Int32Type>();
    let v = d.values().as_string::<i32>();
    (0..d.len())
        .map(|i| d.key(i).map(|k| v.value(k).to_string()))
        .collect()
}

/// A samples file as schema 1.0 wrote it: without the AS columns.
fn write_v10(src: &Path, dst: &Path) {
    common::write_without(
        src,
        dst,
        &pktsample_schemas::schema::col::ADDED_SINCE_1_0,
        "1.0",
    );
}
