//! The command's behaviour around the estimates: filters and empty
//! selections, bad inputs, directories and globs, drops, CSV.

use super::*;

#[test]
fn filters_select_and_an_empty_selection_is_an_explicit_empty_report() {
    let t = truth("mixed.pcapng");
    let f = fixture("mixed.pcapng");
    let r = analyze_json(&[s(&f), "--interface", "eth0", "--direction", "ingress"]);
    exact(
        &r["summary"]["packets"],
        t.interface["eth0/ingress"].packets,
        "eth0 ingress",
    );
    // Half the time span: fewer packets, all exact at rate 1.
    let mid = pktsample_schemas::meta::format_rfc3339_ns((t.first_ns + t.last_ns) / 2);
    let first_half = analyze_json(&[s(&f), "--to", &mid]);
    let second_half = analyze_json(&[s(&f), "--from", &mid]);
    let p = |r: &Value| est(&r["summary"]["packets"]).0 as u64;
    assert_eq!(p(&first_half) + p(&second_half), t.total.packets);
    assert!(p(&first_half) > 0 && p(&second_half) > 0);
    // Nothing in range: an explicit empty report with a warning.
    let none = analyze_json(&[s(&f), "--from", "2030-01-01T00:00:00Z"]);
    exact(&none["summary"]["packets"], 0, "empty");
    assert!(
        none["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no samples match")
    );
    let table = ok(&["analyze", s(&f), "--from", "2030-01-01T00:00:00Z"]);
    assert!(table.contains("warning: no samples match"), "{table}");
}

#[test]
fn bad_inputs_fail_with_one_line() {
    let dir = tmpdir();
    let e = fails(&["analyze", s(&fixture("broken/truncated.pcap"))]);
    assert!(
        e.contains("truncated.pcap: truncated at byte offset 4575"),
        "{e}"
    );
    let e = fails(&["analyze", s(&fixture("broken/not-a-capture.txt"))]);
    assert!(
        e.contains("not-a-capture.txt: not a pcap, pcapng or Parquet file"),
        "{e}"
    );
    let e = fails(&["analyze", s(&fixture("broken/empty.pcap"))]);
    assert!(e.contains("empty.pcap: the file is empty"), "{e}");
    // A Parquet file cut in half.
    let pq = samples(dir.path(), "mixed.pcap", 1);
    let cut = dir.path().join("cut.parquet");
    cut_in_half(&pq, &cut);
    let e = fails(&["analyze", s(&cut)]);
    assert!(
        e.contains("cut.parquet: not a readable Parquet file"),
        "{e}"
    );
    // A newer schema.
    let newer = dir.path().join("newer.parquet");
    with_schema_version(&pq, &newer, "2.1");
    let e = fails(&["analyze", s(&newer)]);
    assert!(
        e.contains("newer.parquet: written with samples schema 2.1"),
        "{e}"
    );
    // Nothing matches.
    let empty_dir = dir.path().join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    let e = fails(&["analyze", s(&empty_dir)]);
    assert!(e.contains("empty: matches no file"), "{e}");
    let pattern = format!("{}/*.nothing", dir.path().display());
    let e = fails(&["analyze", &pattern]);
    assert!(e.contains("matches no file"), "{e}");
    // A section --by does not know: clap's usage error (exit 2), which
    // names the flag and lists the sections, on one line.
    let o = pktsample(&["analyze", s(&pq), "--by", "summary,colours"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.starts_with("pktsample: "), "{e}");
    assert!(e.contains("invalid value 'colours' for '--by"), "{e}");
    assert!(e.contains("ip-versions") && e.contains("as-ipv6"), "{e}");
    // An existing report is not replaced without --force.
    let out = dir.path().join("r.txt");
    std::fs::write(&out, "keep").unwrap();
    let e = fails(&["analyze", s(&pq), "-o", s(&out)]);
    assert!(e.contains("r.txt: already exists; pass --force"), "{e}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep");
}

/// Directories and globs expand to the sample files they hold.
#[test]
fn directories_and_globs() {
    let dir = tmpdir();
    for (n, rate) in [("a.parquet", "2"), ("b.parquet", "3")] {
        replay(
            s(&fixture("mixed.pcap")),
            &["-r", rate, "--seed", "1", "-o", s(&dir.path().join(n))],
        );
    }
    let by_dir = analyze_json(&[s(dir.path())]);
    let pattern = format!("{}/*.parquet", dir.path().display());
    let by_glob = analyze_json(&[&pattern]);
    assert_eq!(by_dir["inputs"].as_array().unwrap().len(), 2);
    assert_eq!(by_dir["summary"], by_glob["summary"]);
    exact(&by_dir["summary"]["packets"], 800, "two exact pools of 400");
}

/// Drops: the exact pool corrects the estimate (samples written are a random
/// subset of those selected), and material drops are shown with a warning.
#[test]
fn drops_are_corrected_by_the_pool_and_reported() {
    use pktsample_schemas::{
        CaptureMetadata, Direction, DirectionStats, InterfaceMeta, SampleBatchBuilder, SampleRow,
        SampleWriter, Source,
    };
    let dir = tmpdir();
    let f = dir.path().join("drops.parquet");
    let frame = std::fs::read(fixture("mixed.pcapng")).unwrap();
    let hdr = &frame[200..328];
    let mut meta = CaptureMetadata::new(
        Source::Tcx {
            ring_bytes: Some(16384),
        },
        128,
    );
    let mut dirs = std::collections::BTreeMap::new();
    // At 1-in-1, 150 packets were seen; the ring dropped 50 of them.
    dirs.insert(
        Direction::Ingress,
        DirectionStats {
            packets_seen: 150,
            samples: 100,
            drops: 50,
        },
    );
    meta.interfaces.push(InterfaceMeta {
        ifindex: 3,
        name: "veth0".into(),
        mac: None,
        mtu: None,
        sampling_rate: 1,
        link_type: 1,
        shared_pool: false,
        directions: dirs,
    });
    meta.set_time_range(Some(1_000_000_000), Some(2_000_000_000));
    let mut w = SampleWriter::create(&f, false, &meta).unwrap();
    let mut b = SampleBatchBuilder::new();
    for i in 0..100 {
        b.push(&SampleRow {
            timestamp_ns: 1_000_000_000 + i * 10_000_000,
            ifindex: 3,
            ifname: "veth0",
            direction: Direction::Ingress,
            sampling_rate: 1,
            pkt_len: 1000,
            header: hdr,
            ingress_ifindex: Some(3),
            routed_ifindex: None,
            link_type: 1,
        });
    }
    w.write(&b.finish()).unwrap();
    w.finish(&meta).unwrap();
    let r = analyze_json(&[s(&f)]);
    exact(&r["summary"]["packets"], 150, "pool-corrected total");
    // Every sample is 1000 bytes: the estimate is 150 x 1000, but the 50
    // dropped packets could have been larger (up to the stratum's frame,
    // at least an Ethernet frame's 1518 with so few samples), so only the
    // low end is exact.
    let (e, l, h) = est(&r["summary"]["bytes"]);
    assert_eq!((e, l), (150_000.0, 150_000.0));
    assert!(h > e && h < 150_000.0 + 50.0 * 1518.0, "{h}");
    assert_eq!(r["summary"]["drops"], 50);
    assert!((r["summary"]["drop_share"].as_f64().unwrap() - 50.0 / 150.0).abs() < 1e-12);
    assert!(
        r["warnings"][0]
            .as_str()
            .unwrap()
            .contains("50 selected packets (33.3%) were dropped"),
        "{}",
        r["warnings"]
    );
    let table = ok(&["analyze", s(&f)]);
    assert!(
        table.contains("drops     50 (33.33% of selected)"),
        "{table}"
    );
}

/// The CSV report parses with a real CSV reader, AS names with a comma, a
/// quote, a carriage return and a line feed included, and its numbers equal
/// the JSON report's.
#[test]
fn csv_is_rfc4180_and_equals_json() {
    let dir = tmpdir();
    let prefixes = dir.path().join("prefixes.txt");
    let names = dir.path().join("names.json");
    std::fs::write(&prefixes, "192.0.2.0/24 64496\n198.51.100.0/24 64497\n").unwrap();
    let evil = "Evil, \"Inc\"\r\nsecond line";
    std::fs::write(
        &names,
        serde_json::json!({"64496": evil, "64497": "Plain"}).to_string(),
    )
    .unwrap();
    let args = |fmt: &str| {
        ok(&[
            "analyze",
            s(&fixture("mixed.pcap")),
            "--asn-db",
            s(&prefixes),
            "--asn-db",
            s(&names),
            "--format",
            fmt,
            "-q",
        ])
    };
    let csv_text = args("csv");
    let json: serde_json::Value = serde_json::from_str(&args("json")).unwrap();
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        r.headers().unwrap().len(),
        17,
        "17 columns, low_confidence last"
    );
    assert_eq!(&r.headers().unwrap()[16], "low_confidence");
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    let evil_row = rows
        .iter()
        .find(|x| &x[0] == "source_as" && x[1].ends_with(evil))
        .unwrap_or_else(|| panic!("no source_as row for the quoted name:\n{csv_text}"));
    let want = json["source_as"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == evil)
        .unwrap();
    assert_eq!(
        evil_row[3].parse::<f64>().unwrap(),
        want["packets"]["estimate"].as_f64().unwrap()
    );
    assert_eq!(
        evil_row[6].parse::<f64>().unwrap(),
        want["bytes"]["estimate"].as_f64().unwrap()
    );
    let total = rows.iter().find(|x| &x[0] == "summary").unwrap();
    assert_eq!(
        total[3].parse::<f64>().unwrap(),
        json["summary"]["packets"]["estimate"].as_f64().unwrap()
    );
    // Distinct hosts: their own columns, as in the JSON.
    let hosts = json["distinct_hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 8);
    for h in hosts {
        let key = format!("{} IPv{}", h["hosts"].as_str().unwrap(), h["ip_version"]);
        let row = rows
            .iter()
            .find(|x| &x[0] == "distinct_hosts" && x[1] == key)
            .unwrap_or_else(|| panic!("no CSV row for {key}"));
        assert_eq!(row[3], *"", "no packets on a hosts row");
        for (col, k) in [(12, "estimate"), (13, "low"), (14, "high")] {
            assert_eq!(row[col].parse::<f64>().unwrap(), h[k].as_f64().unwrap());
        }
        assert_eq!(row[15], h["unreliable"].to_string());
    }
}
