//! `pktsample rollup DIR` and analyze from rollups: the report read from
//! the rollups is the report read from the samples, byte for byte (JSON
//! and table), for every mix of the sections rollups answer and every
//! filter they can apply; anything else reads the samples, with a note.
//! Incremental: a fresh rollup is not rewritten, a part added or replaced
//! (by `enrich`) is rolled up again, a rollup whose part is gone is
//! removed. Bad rollups (orphaned, older than their part, corrupt) are
//! ignored with a warning.
//!
//! The dataset: the AS fixture at 1-in-10 over two hosts and the mixed
//! fixture at 1-in-100 on a third, parts 12 hours apart over several
//! dates; and a copy whose parts are of schema 1.0, 1.1 and the current
//! version in turn.

mod common;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use common::datasets::{copy_dir, fixture_dataset, spec};
use common::{fixture, ok, pktsample, s, tmpdir};
use pktsample_schemas::dataset;
use pktsample_schemas::schema::col;
use pktsample_tracegen::parts::split;

const FIXED: &str = "summary,protocols,interfaces,time-series,packet-sizes";

fn build(dir: &Path) -> PathBuf {
    fixture_dataset(dir).0
}

/// Rename every `host=` directory under `dir` to `to` (a host of its own).
fn rename_hosts(dir: &Path, to: &str) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if !p.is_dir() {
            continue;
        }
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("host=")
        {
            std::fs::rename(&p, p.with_file_name(to)).unwrap();
        } else {
            rename_hosts(&p, to);
        }
    }
}

/// `analyze DS ARGS` (quiet off, so it says when it read rollups): the
/// report and stderr.
fn analyze(ds: &Path, args: &[&str]) -> (String, String) {
    let mut a = vec!["analyze", s(ds)];
    a.extend(args);
    let o = pktsample(&a);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "analyze {args:?}: {err}");
    (String::from_utf8(o.stdout).unwrap(), err)
}

const FROM_ROLLUPS: &str = "read the rollups of";

/// The report from the rollups (which must be read) equals the one from
/// the samples, byte for byte, but for the AS rows' distinct hosts, which
/// need the addresses (in JSON: taken out of the one from the samples).
fn same_from_rollups(ds: &Path, args: &[&str]) {
    let (mut r, err) = analyze(ds, args);
    assert!(
        err.contains(FROM_ROLLUPS),
        "{args:?}: rollups not read: {err}"
    );
    let mut n = args.to_vec();
    n.push("--no-rollup");
    let (mut want, err) = analyze(ds, &n);
    assert!(!err.contains(FROM_ROLLUPS), "{err}");
    if args.contains(&"json") {
        r = normalized(&r, false);
        want = normalized(&want, true);
    }
    if r != want {
        let (a, b): (Vec<_>, Vec<_>) = (r.lines().collect(), want.lines().collect());
        let i = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let from = i.saturating_sub(12);
        panic!(
            "{args:?}: the report from rollups differs at line {i}:\n{}\n--- from the samples:\n{}",
            a[from..(i + 6).min(a.len())].join("\n"),
            b[from..(i + 6).min(b.len())].join("\n")
        );
    }
}

/// A JSON report with its members in one order, and with `strip`
/// without its AS rows' `hosts` (which it must have where it has AS rows).
fn normalized(json: &str, strip: bool) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    for sec in ["source_as", "destination_as", "remote_as"]
        .into_iter()
        .filter(|_| strip)
    {
        let rows = v.get_mut(sec).and_then(|x| x.as_array_mut());
        for row in rows.into_iter().flatten() {
            let had = row.as_object_mut().unwrap().remove("hosts");
            assert!(had.is_some(), "{sec}: an AS row without its hosts");
        }
    }
    serde_json::to_string_pretty(&v).unwrap()
}

fn rollup(ds: &Path) -> String {
    ok(&["rollup", s(ds)])
}

fn mtimes(ds: &Path) -> Vec<(PathBuf, SystemTime)> {
    dataset::parts(&ds.join(dataset::ROLLUP_DIR))
        .unwrap()
        .into_iter()
        .map(|p| {
            let t = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, t)
        })
        .collect()
}

#[test]
fn reports_from_rollups_equal_reports_from_samples() {
    let dir = tmpdir();
    let ds = build(dir.path());
    let parts = dataset::parts(&ds).unwrap();
    assert!(parts.len() >= 6, "{parts:?}");
    let out = rollup(&ds);
    assert!(
        out.starts_with(&format!("rolled up {} parts", parts.len())),
        "{out}"
    );
    let by = ["--by", FIXED];
    for args in [
        &[&by[..], &["--format", "json"]].concat()[..],
        &[&by[..], &["--format", "table"]].concat(),
        &["--by", FIXED, "--interval", "5m", "--format", "json"],
        &["--by", FIXED, "--interval", "1m", "--format", "json"],
        // The time series without the protocols: no protocol classes.
        &["--by", "summary,time-series", "--format", "json"],
        &["--by", "summary,packet-sizes", "--format", "csv"],
        &["--by", FIXED, "--host", "host-00", "--format", "json"],
        &["--by", FIXED, "--direction", "ingress", "--format", "json"],
        &["--by", FIXED, "--interface", "eth0", "--format", "json"],
    ] {
        same_from_rollups(&ds, args);
    }
    // Schema versions mixed: parts as 1.0, 1.1 and current.
    let drift = dir.path().join("drift");
    copy_dir(&ds, &drift);
    std::fs::remove_dir_all(drift.join(dataset::ROLLUP_DIR)).unwrap();
    for (i, p) in dataset::parts(&drift).unwrap().iter().enumerate() {
        match i % 3 {
            0 => common::write_without(p, p, &col::ADDED_SINCE_1_0, "1.0"),
            1 => common::write_without(p, p, &[col::LINK_TYPE], "1.1"),
            _ => {}
        }
    }
    rollup(&drift);
    same_from_rollups(&drift, &["--by", FIXED, "--format", "json"]);
}

#[test]
fn what_rollups_cannot_answer_reads_the_samples_with_a_note() {
    let dir = tmpdir();
    let ds = build(dir.path());
    // Never rolled up: no word about rollups.
    let (_, err) = analyze(&ds, &["--by", FIXED, "--format", "json"]);
    assert!(!err.contains("rollup"), "{err}");
    rollup(&ds);
    let json = |r: &str| -> serde_json::Value { serde_json::from_str(r).unwrap() };
    // A bucket not a multiple of a minute; a window: the samples, a note,
    // and otherwise the samples' report.
    for (args, note) in [
        (
            &["--interval", "90s"][..],
            "not a multiple of the rollups' 60 s",
        ),
        (&["--from", "2023-11-15T00:00:00Z"], "--from/--to"),
    ] {
        let mut a = vec!["--by", FIXED, "--format", "json"];
        a.extend(args);
        let (r, err) = analyze(&ds, &a);
        assert!(!err.contains(FROM_ROLLUPS), "{err}");
        let mut r = json(&r);
        let w = r["warnings"].as_array_mut().unwrap();
        let i = w
            .iter()
            .position(|x| x.as_str().unwrap().contains(note))
            .unwrap_or_else(|| panic!("{args:?}: no note in {w:?}"));
        w.remove(i);
        a.push("--no-rollup");
        assert_eq!(r, json(&analyze(&ds, &a).0), "{args:?}");
    }
    // Sections that need the addresses: the samples, without a note.
    let (r, err) = analyze(&ds, &["--format", "json"]);
    assert!(!err.contains(FROM_ROLLUPS), "{err}");
    assert!(!r.contains("rollups not used"), "{r}");
}

#[test]
fn rollups_are_incremental() {
    let dir = tmpdir();
    let ds = build(dir.path());
    let parts = dataset::parts(&ds).unwrap();
    rollup(&ds);
    let before = mtimes(&ds);
    assert_eq!(before.len(), parts.len());
    // Fresh rollups are not read or written again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = rollup(&ds);
    assert!(
        out.starts_with(&format!(
            "rolled up 0 parts (0 samples); {} already fresh",
            parts.len()
        )),
        "{out}"
    );
    assert_eq!(mtimes(&ds), before);
    // A part added later: only it.
    let extra = dir.path().join("extra");
    let r = dir.path().join("r10.parquet");
    let mut sp = spec(1);
    sp.step_hours = 7;
    split(&r, &extra, &sp).unwrap();
    rename_hosts(&extra, "host=late");
    let added = dataset::parts(&extra).unwrap();
    copy_dir(&extra, &ds);
    let all = dataset::parts(&ds).unwrap();
    let new = all.len() - parts.len();
    assert_eq!(new, added.len());
    let out = rollup(&ds);
    assert!(out.starts_with(&format!("rolled up {new} parts")), "{out}");
    let after = mtimes(&ds);
    for (p, t) in &before {
        assert!(
            after.contains(&(p.clone(), *t)),
            "{} rewritten",
            p.display()
        );
    }
    same_from_rollups(&ds, &["--by", FIXED, "--format", "json"]);
    // Enriched: every part replaced, every rollup stale until rolled up
    // again; meanwhile analyze reads the samples and says why.
    ok(&[
        "enrich",
        s(&ds),
        "--asn-db",
        s(&fixture("asn/fixture-ip2asn.tsv")),
    ]);
    let (r, err) = analyze(&ds, &["--by", FIXED, "--format", "json"]);
    assert!(!err.contains(FROM_ROLLUPS), "{err}");
    assert!(r.contains("older than its part"), "{r}");
    let out = rollup(&ds);
    assert!(
        out.starts_with(&format!("rolled up {} parts", all.len())),
        "{out}"
    );
    same_from_rollups(&ds, &["--by", FIXED, "--format", "json"]);
    // A part removed: its rollup goes with the next run.
    std::fs::remove_file(&all[0]).unwrap();
    let (r, _) = analyze(&ds, &["--by", FIXED, "--format", "json"]);
    assert!(r.contains("has no samples part"), "{r}");
    let out = rollup(&ds);
    assert!(out.contains("; 1 orphaned rollups removed"), "{out}");
    assert!(!dataset::rollup_path(&all[0]).unwrap().exists());
    same_from_rollups(&ds, &["--by", FIXED, "--format", "json"]);
}

#[test]
fn bad_rollups_are_ignored_with_a_warning() {
    let dir = tmpdir();
    let ds = build(dir.path());
    rollup(&ds);
    let parts = dataset::parts(&ds).unwrap();
    let by = ["--by", FIXED, "--format", "json"];
    let (want, _) = analyze(&ds, &[&by[..], &["--no-rollup"]].concat());
    let want: serde_json::Value = serde_json::from_str(&want).unwrap();
    let check = |what: &str, note: &str| {
        let (r, err) = analyze(&ds, &by);
        assert!(!err.contains(FROM_ROLLUPS), "{what}: {err}");
        let mut r: serde_json::Value = serde_json::from_str(&r).unwrap();
        let w = r["warnings"].as_array_mut().unwrap();
        assert!(
            w.iter().any(|x| x.as_str().unwrap().contains(note)),
            "{what}: {w:?}"
        );
        w.retain(|x| !x.as_str().unwrap().contains("rollup"));
        assert_eq!(r, want, "{what}");
    };
    // Older than its part: the part touched since.
    let p = &parts[1];
    let f = std::fs::File::options().append(true).open(p).unwrap();
    f.set_modified(SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(f);
    check("a part touched since", "older than its part");
    rollup(&ds);
    // Corrupt: truncated.
    let r = dataset::rollup_path(&parts[2]).unwrap();
    let bytes = std::fs::read(&r).unwrap();
    std::fs::write(&r, &bytes[..bytes.len() / 2]).unwrap();
    check("a truncated rollup", "unreadable");
    rollup(&ds);
    // Orphaned (a rollup under a name no part has): warned of, and the
    // other rollups still serve.
    let orphan = r.with_file_name("part-20000101T000000Z-0001.parquet");
    std::fs::copy(&r, &orphan).unwrap();
    let (rep, err) = analyze(&ds, &by);
    assert!(err.contains(FROM_ROLLUPS), "{err}");
    assert!(rep.contains("has no samples part"), "{rep}");
    // Not a dataset directory.
    let e = common::fails(&["rollup", s(&dir.path().join("nope"))]);
    assert!(e.contains("not a dataset directory"), "{e}");
}

#[test]
fn sql_rollup_refuses_what_rollups_cannot_answer() {
    let dir = tmpdir();
    let ds = dir.path().join("ds");
    std::fs::create_dir_all(&ds).unwrap();
    let sql = |extra: &[&str]| {
        let mut a = vec!["sql", s(&ds), "--dialect", "duckdb", "--rollup"];
        a.extend(extra);
        common::fails(&a)
    };
    let e = sql(&["--by", "summary,top-sources"]);
    assert!(e.contains("top-sources section needs the samples"), "{e}");
    let e = sql(&["--by", "summary", "--from", "2023-11-15T00:00:00Z"]);
    assert!(e.contains("--from/--to"), "{e}");
    let e = sql(&["--by", "summary,time-series"]);
    assert!(e.contains("--interval"), "{e}");
    let e = sql(&["--by", "time-series", "--interval", "90s"]);
    assert!(e.contains("not a multiple of the rollups' minute"), "{e}");
    let e = sql(&["--by", "summary", "--inner"]);
    assert!(e.contains("--inner"), "{e}");
    // What it answers, it prints: the rollup view and no samples scan.
    let q = ok(&[
        "sql",
        s(&ds),
        "--dialect",
        "duckdb",
        "--rollup",
        "--by",
        FIXED,
        "--interval",
        "1m",
    ]);
    assert!(q.contains("_rollup/date=*/host=*/*.parquet"), "{q}");
    assert!(
        !q.contains("FROM samples"),
        "the rollup form reads no sample"
    );
}

#[test]
fn per_as_sections_from_rollups_made_with_the_same_database() {
    let dir = tmpdir();
    let ds = build(dir.path());
    let db = fixture("asn/fixture-ip2asn.tsv");
    let by = format!("{FIXED},src-as,dst-as,remote-as,as-pairs,as-ipv6");
    let args = ["--by", &by, "--asn-db", s(&db), "--format", "json"];
    // Rolled up without a database: the per-AS report reads the samples,
    // and says why.
    rollup(&ds);
    let (r, err) = analyze(&ds, &args);
    assert!(!err.contains(FROM_ROLLUPS), "{err}");
    assert!(r.contains("rolled up without this --asn-db"), "{r}");
    // With it: only the parts without its sums are rolled up again (all).
    let parts = dataset::parts(&ds).unwrap();
    let out = ok(&["rollup", s(&ds), "--asn-db", s(&db)]);
    assert!(
        out.starts_with(&format!("rolled up {} parts", parts.len())),
        "{out}"
    );
    let out = ok(&["rollup", s(&ds), "--asn-db", s(&db)]);
    assert!(out.starts_with("rolled up 0 parts"), "{out}");
    same_from_rollups(&ds, &args);
    same_from_rollups(&ds, &["--by", &by, "--asn-db", s(&db), "--format", "table"]);
    // The fixed-key report needs no database: the same rollups serve it.
    same_from_rollups(&ds, &["--by", FIXED, "--format", "json"]);
    // Another database (a copy: another file) is not this one.
    let other = dir.path().join("other.tsv");
    std::fs::copy(&db, &other).unwrap();
    let (_, err) = analyze(
        &ds,
        &["--by", &by, "--asn-db", s(&other), "--format", "json"],
    );
    assert!(!err.contains(FROM_ROLLUPS), "{err}");
}
