//! Files: schema 1.0 samples still read and convert, bad databases are
//! one-line errors, the fixture databases are reproducible.

use super::*;

#[test]
fn schema_1_0_files_still_read_and_convert() {
    let dir = tmpdir();
    let new = samples(dir.path(), "asn.pcapng", 1);
    let old = dir.path().join("old.parquet");
    write_v10(&new, &old);
    let db = fixture("asn/fixture-ip2asn.tsv");
    let run = |f: &Path| {
        ok(&[
            "analyze",
            s(f),
            "--asn-db",
            s(&db),
            "--format",
            "json",
            "-q",
            "--top",
            "1000",
        ])
    };
    let (a, b) = (run(&old), run(&new));
    let strip = |x: &str| {
        let mut v: Value = serde_json::from_str(x).unwrap();
        v["inputs"] = Value::Null;
        v
    };
    assert_eq!(
        strip(&a),
        strip(&b),
        "a 1.0 file analyses like its 1.1 copy"
    );
    // Converting a 1.0 file gives a 1.1 file, enriched on request.
    let up = dir.path().join("up.parquet");
    ok(&["convert", s(&old), "-o", s(&up), "--asn-db", s(&db)]);
    let (batches, meta) = read_all(&up);
    assert_eq!(meta.schema_version, pktsample_schemas::SCHEMA_VERSION);
    let b = concat(&batches);
    assert!(b.column_by_name("src_as").unwrap().null_count() < b.num_rows());
    // Without --asn-db the AS columns are null, and the metadata says so.
    let plain = dir.path().join("plain.parquet");
    ok(&["convert", s(&old), "-o", s(&plain)]);
    let (batches, meta) = read_all(&plain);
    assert!(meta.asn_databases.is_empty());
    let b = concat(&batches);
    assert_eq!(
        b.column_by_name("src_as").unwrap().null_count(),
        b.num_rows()
    );
}

#[test]
fn bad_databases_are_one_line_errors_and_write_nothing() {
    let dir = tmpdir();
    let out = dir.path().join("x.parquet");
    for (db, want) in [
        ("asn/missing.mmdb", "No such file"),
        ("broken/asn-truncated.mmdb", "no metadata marker"),
        ("broken/asn-bad-line.pfx2as", "asn-bad-line.pfx2as:3:"),
        ("broken/GeoLite2-Country-Test.mmdb", "no AS number field"),
        ("broken/asn-reversed.tsv", "after its end"),
    ] {
        for args in [
            vec![
                "analyze",
                s(&fixture("asn.pcapng")),
                "--asn-db",
                s(&fixture(db)),
            ],
            vec![
                "capture",
                "--replay",
                s(&fixture("asn.pcapng")),
                "--asn-db",
                s(&fixture(db)),
                "-o",
                s(&out),
            ],
            vec![
                "convert",
                s(&fixture("asn.pcapng")),
                "--asn-db",
                s(&fixture(db)),
                "-o",
                s(&out),
            ],
        ] {
            let e = fails(&args);
            assert!(
                e.contains(want)
                    && e.contains(Path::new(db).file_name().unwrap().to_str().unwrap()),
                "{args:?}: {e}"
            );
        }
        assert!(
            listing(dir.path()).is_empty(),
            "nothing written: {:?}",
            listing(dir.path())
        );
    }
    // Overlapping ranges load, with a counted warning in the report.
    let r = report_json(&[
        "analyze",
        s(&fixture("asn.pcapng")),
        "--asn-db",
        s(&fixture("broken/asn-overlap.tsv")),
        "--format",
        "json",
        "-q",
    ]);
    assert!(
        r["warnings"].to_string().contains("2 ranges overlap"),
        "{}",
        r["warnings"]
    );
}

/// The committed databases are what fixtures/asn/build.py writes from
/// source.json (mmdb-writer in the interop venv).
#[test]
fn fixture_databases_are_reproducible() {
    let Some(py) = python() else {
        need("the interop Python venv (mmdb-writer)", false);
        return;
    };
    let dir = tmpdir();
    let o = std::process::Command::new(py)
        .arg(fixture("asn/build.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written = listing(dir.path());
    assert_eq!(written.len(), 7, "{written:?}");
    for f in written {
        assert!(
            std::fs::read(dir.path().join(&f)).unwrap()
                == std::fs::read(fixture(&format!("asn/{f}"))).unwrap(),
            "{f} differs from fixtures/asn/build.py's output: run fixtures/regenerate.sh"
        );
    }
}
