//! The README's main job on its bundled trace (`fixtures/demo/`): the trace
//! is what the generator makes, and the report is one worth reading: a
//! five-minute span, per-AS sections from the bundled table, a time series
//! of tens of buckets, and narrow intervals that hold the truth.

mod common;

use common::*;
use pktsample_tracegen::{Format, Link, Mix, Spec, Truth, demo, generate};

fn spec() -> Spec {
    Spec {
        mix: Mix::Demo,
        packets: 130_000,
        seed: 1,
        format: Format::PcapNg {
            nanos: false,
            big_endian: false,
        },
        snaplen: 96,
        link: Link::Ethernet,
        wrap: Default::default(),
    }
}

/// The trace's truth, regenerated (the 18 MB truth file is not bundled);
/// checks the bundled bytes against it on the way.
fn truth() -> Truth {
    let mut bytes = Vec::new();
    let t = generate(&spec(), &mut bytes).unwrap();
    let bundled = std::fs::read(fixture("demo/edge.pcapng.zst")).unwrap();
    let bundled = zstd::decode_all(&bundled[..]).unwrap();
    assert!(
        bytes == bundled,
        "fixtures/demo/edge.pcapng.zst is not the generator's trace; run fixtures/regenerate.sh"
    );
    t
}

/// The README's two commands, as it gives them.
fn readme_job() -> (String, String) {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains("capture --replay fixtures/demo/edge.pcapng.zst --sampling-rate 10 --seed 1 -o target/demo.parquet --force && cargo run --release -- analyze target/demo.parquet --asn-db fixtures/demo/asn.tsv --html target/demo.html --force"),
        "the README's main job is not the one tested here"
    );
    let dir = tmpdir();
    let pq = dir.path().join("demo.parquet");
    let html = dir.path().join("demo.html");
    let trace = fixture("demo/edge.pcapng.zst");
    replay(
        s(&trace),
        &["--sampling-rate", "10", "--seed", "1", "-o", s(&pq)],
    );
    let asn = fixture("demo/asn.tsv");
    let table = ok(&["analyze", s(&pq), "--asn-db", s(&asn), "--html", s(&html)]);
    let json = ok(&["analyze", s(&pq), "--asn-db", s(&asn), "--format", "json"]);
    assert!(std::fs::metadata(&html).unwrap().len() > 100_000);
    (table, json)
}

#[test]
fn the_bundled_demo_is_the_generators_and_its_table_is_current() {
    assert_eq!(
        std::fs::read_to_string(fixture("demo/asn.tsv")).unwrap(),
        demo::asn_table(),
        "fixtures/demo/asn.tsv is not the generator's; run fixtures/regenerate.sh"
    );
    let size = std::fs::metadata(fixture("demo/edge.pcapng.zst"))
        .unwrap()
        .len();
    assert!(size < 5 << 20, "the demo trace is {size} bytes");
    let t = truth();
    let (table, json) = readme_job();
    let golden = root().join("tests/golden/demo.txt");
    if std::env::var_os("PKTSAMPLE_BLESS").is_some() {
        std::fs::write(&golden, &table).unwrap();
    }
    assert_eq!(
        table,
        std::fs::read_to_string(&golden).unwrap(),
        "the demo's table changed; rerun with PKTSAMPLE_BLESS=1 if intended"
    );
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sum = &r["summary"];
    // A few minutes, every packet counted exactly (the pools).
    let span = sum["duration_seconds"].as_f64().unwrap();
    assert!((240.0..400.0).contains(&span), "{span} s");
    assert_eq!(
        sum["packets"]["estimate"].as_f64().unwrap(),
        t.total.packets as f64
    );
    // Bytes: within the interval, and the interval within ±3 %.
    let b = &sum["bytes"];
    let (e, lo, hi) = (
        b["estimate"].as_f64().unwrap(),
        b["low"].as_f64().unwrap(),
        b["high"].as_f64().unwrap(),
    );
    assert!(
        lo <= t.total.bytes as f64 && t.total.bytes as f64 <= hi,
        "{b}"
    );
    assert!((hi - lo) / e < 0.06, "bytes interval {lo}..{hi}");
    // The IPv6 share holds the truth's.
    let v6 = t.ip_version["6"].packets as f64;
    let ip = v6 + t.ip_version["4"].packets as f64;
    let sh = &r["ipv6_share"]["packets"];
    assert!(sh["low"].as_f64().unwrap() <= v6 / ip && v6 / ip <= sh["high"].as_f64().unwrap());
    // Per-AS sections with named networks, both directions.
    for k in [
        "source_as",
        "destination_as",
        "remote_as",
        "as_pairs",
        "as_ipv6",
    ] {
        let rows = r[k].as_array().unwrap_or_else(|| panic!("no {k}"));
        assert_eq!(rows.len(), 10, "{k}");
    }
    assert!(r["remote_as"][0]["name"].as_str().is_some());
    let dirs: Vec<&str> = r["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["direction"].as_str().unwrap())
        .collect();
    assert!(
        dirs.contains(&"ingress") && dirs.contains(&"egress"),
        "{dirs:?}"
    );
    // A time series of tens of buckets, and services beyond two.
    let buckets = r["time_series"]["buckets"].as_array().unwrap().len();
    assert!(buckets >= 20, "{buckets} buckets");
    assert!(r["services"].as_array().unwrap().len() >= 6);
    for l in table.lines() {
        assert!(l.chars().count() <= 80, "wider than 80 columns: {l}");
    }
}
