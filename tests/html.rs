//! The HTML report (`analyze --format html` / `--html`) in a real browser:
//! headless Chromium, started in its own network namespace, loads each page
//! from disk and `tests/interop/html_check.py` checks it against the JSON
//! report of the same analysis (no console error, no request, every chart
//! drawn with marks and inside its box, every number shown equal to the
//! JSON's, tables sortable, dark theme, screenshots at 1280 and 390 px
//! against the committed golden images in `docs/img`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, have_cmd, need, ok, python, root, s, samples, tmpdir};
use serde_json::Value;

/// The tools the browser checks need; false (after a loud skip) without them.
fn browser() -> Option<PathBuf> {
    let py = python();
    let chromium = have_cmd("chromium") && have_cmd("unshare");
    if !need(
        "headless chromium (apt-get install chromium) and the interop Python",
        py.is_some() && chromium,
    ) {
        return None;
    }
    py
}

/// Analyze `args` to HTML and JSON in `dir` (as `name.html`, `name.json`).
fn reports(dir: &Path, name: &str, args: &[&str]) -> (PathBuf, Value) {
    let html = dir.join(format!("{name}.html"));
    let json = dir.join(format!("{name}.json"));
    let mut a = vec!["analyze", "-q"];
    a.extend_from_slice(args);
    let mut h = a.clone();
    h.extend(["--format", "html", "-o", s(&html)]);
    ok(&h);
    let mut j = a;
    j.extend(["--format", "json", "-o", s(&json)]);
    ok(&j);
    let v = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (html, v)
}

/// Run the browser check; returns its summary.
fn check(py: &Path, html: &Path, extra: &[&str]) -> Value {
    let json = html.with_extension("json");
    let o = Command::new(py)
        .arg(root().join("tests/interop/html_check.py"))
        .args([s(html), s(&json)])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "browser check of {} failed:\n{}",
        html.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn page(html: &Path) -> String {
    std::fs::read_to_string(html).unwrap()
}

/// The page asks for nothing outside itself.
fn assert_self_contained(text: &str) {
    for bad in ["http://", "https://", "src=", "@import", "url(", "<link"] {
        assert!(!text.contains(bad), "the page contains {bad:?}");
    }
}

#[test]
fn default_report_in_a_browser_matches_the_json_and_the_golden_images() {
    let Some(py) = browser() else { return };
    let dir = tmpdir();
    let input = samples(dir.path(), "mixed.pcapng", 10);
    let (html, json) = reports(dir.path(), "demo", &[s(&input)]);
    let text = page(&html);
    assert_self_contained(&text);
    assert!(
        text.len() < 400 * 1024,
        "a default report is {} bytes",
        text.len()
    );
    let shots = dir.path().join("shots");
    std::fs::create_dir(&shots).unwrap();
    let r = check(
        &py,
        &html,
        &[
            "--shots",
            s(&shots),
            "--golden",
            s(&root().join("docs/img")),
        ],
    );
    let charts: Vec<&str> = r["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "chart-bps",
        "chart-pps",
        "chart-ipv6",
        "chart-protocols",
        "chart-ip-versions",
        "chart-ip-protocols",
        "chart-services",
        "chart-interfaces",
        "chart-top-sources",
        "chart-top-destinations",
        "chart-packet-sizes",
    ] {
        assert!(charts.contains(&c), "{c} missing from {charts:?}");
    }
    // Every bucket's and every row's numbers were compared with the JSON.
    let buckets = json["time_series"]["buckets"].as_array().unwrap().len() as u64;
    assert!(r["numbers_checked"].as_u64().unwrap() > 10 * buckets, "{r}");
    let shown = r["text"].as_str().unwrap();
    assert!(shown.contains("What the intervals mean"));
    assert!(r["sorted_rows"].as_u64().unwrap() > 2);
    for tag in ["1280", "390"] {
        let png = r[format!("png_{tag}")].as_u64().unwrap();
        assert!(
            png > 10_000 && png < 400_000,
            "screenshot at {tag} px: {png} bytes"
        );
    }
}

#[test]
fn per_as_report_with_very_long_names_fits_at_phone_width() {
    let Some(py) = browser() else { return };
    let dir = tmpdir();
    // The fixture's ranges database with names of 200 characters.
    let db = dir.path().join("long-names.tsv");
    let src = std::fs::read_to_string(fixture("asn/fixture-ip2asn.tsv")).unwrap();
    let long: String = src
        .lines()
        .map(|l| {
            let mut f: Vec<String> = l.split('\t').map(String::from).collect();
            if f.len() == 5 {
                f[4] = format!(
                    "{} {}",
                    f[4],
                    "Very Long Organisation Name Holdings ".repeat(6)
                );
            }
            f.join("\t") + "\n"
        })
        .collect();
    std::fs::write(&db, long).unwrap();
    let asn = fixture("asn.pcapng");
    let (html, json) = reports(dir.path(), "asn", &[s(&asn), "--asn-db", s(&db)]);
    let name = json["source_as"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| r["name"].as_str())
        .unwrap();
    assert!(name.len() > 200, "{name}");
    let text = page(&html);
    // The full name is there (in hover titles and tables), however charts clip it.
    assert!(text.contains(name.trim()));
    let r = check(&py, &html, &[]);
    let charts = r["charts"].to_string();
    for c in [
        "chart-source-as",
        "chart-destination-as",
        "chart-remote-as",
        "chart-as-pairs",
        "chart-as-ipv6",
    ] {
        assert!(charts.contains(c), "{c} missing from {charts}");
    }
}

#[test]
fn empty_selection_says_so_and_draws_no_broken_chart() {
    let Some(py) = browser() else { return };
    let dir = tmpdir();
    let input = samples(dir.path(), "mixed.pcapng", 10);
    let (html, json) = reports(
        dir.path(),
        "empty",
        &[s(&input), "--from", "2030-01-01T00:00:00Z"],
    );
    assert_eq!(json["summary"]["samples"], 0);
    let r = check(&py, &html, &[]);
    assert!(
        r["text"]
            .as_str()
            .unwrap()
            .contains("No samples in this selection"),
        "{r}"
    );
    assert!(
        !r["charts"].to_string().contains("chart-bps"),
        "a time chart without a bucket: {r}"
    );
}

#[test]
fn single_sample_draws_its_point() {
    let Some(py) = browser() else { return };
    let dir = tmpdir();
    let input = dir.path().join("one.parquet");
    common::replay(
        s(&fixture("mixed.pcapng")),
        &["-r", "1000", "--seed", "2", "-o", s(&input)],
    );
    let (html, json) = reports(dir.path(), "one", &[s(&input), "--interval", "1s"]);
    assert_eq!(
        json["summary"]["samples"], 1,
        "seed 2 keeps one of the fixture's 1,000 packets at 1-in-1000"
    );
    let r = check(&py, &html, &[]);
    assert!(r["charts"].to_string().contains("chart-bps"), "{r}");
    assert!(
        page(&html).contains(r#"class="dot mark""#),
        "the one sample is a dot"
    );
}

#[test]
fn thousands_of_buckets_are_merged_for_drawing_and_the_table_says_so() {
    let Some(py) = browser() else { return };
    let dir = tmpdir();
    let input = samples(dir.path(), "mixed.pcapng", 10);
    let (html, json) = reports(dir.path(), "many", &[s(&input), "--interval", "20us"]);
    let n = json["time_series"]["buckets"].as_array().unwrap().len();
    assert!(n > 4000, "{n} buckets");
    let text = page(&html);
    assert!(
        text.contains(&format!("({n} buckets)")),
        "the charts say they merge"
    );
    assert!(text.contains("each row merges"), "the table says it merges");
    // The drawn line has at most 600 points.
    let line = text.split(r#"<path class="line mark" d=""#).nth(1).unwrap();
    let points = line[..line.find('"').unwrap()].matches('L').count() + 1;
    assert!(points <= 600, "{points} points drawn");
    assert!(text.len() < 2 * 1024 * 1024, "{} bytes", text.len());
    check(&py, &html, &[]);
}

#[test]
fn html_beside_the_table_and_never_over_an_existing_file() {
    let dir = tmpdir();
    let input = samples(dir.path(), "mixed.pcapng", 10);
    let html = dir.path().join("r.html");
    let o = common::pktsample(&["analyze", s(&input), "--html", s(&html)]);
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("packets"),
        "the table still goes to stdout"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(s(&html)),
        "says where the page is"
    );
    assert!(page(&html).starts_with("<!doctype html>"));
    let e = common::fails(&["analyze", s(&input), "--html", s(&html)]);
    assert!(e.contains("r.html") && e.contains("--force"), "{e}");
}
