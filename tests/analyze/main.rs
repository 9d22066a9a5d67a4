//! `pktsample analyze`: exact at rate 1 (against the generator's truth,
//! tshark and DuckDB), intervals that cover the truth at their nominal rate
//! (seeded simulation), additive over files, the JSON contract, the table's
//! golden output, and bad input.

mod behaviour;
#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;

use common::*;
use pktsample_tracegen::{Format, Mix, Spec, generate};
use serde_json::Value;

fn analyze_json(args: &[&str]) -> Value {
    let mut full = vec!["analyze", "--format", "json", "-q"];
    full.extend_from_slice(args);
    serde_json::from_str(&ok(&full)).unwrap()
}

fn est(v: &Value) -> (f64, f64, f64) {
    (
        v["estimate"].as_f64().unwrap(),
        v["low"].as_f64().unwrap(),
        v["high"].as_f64().unwrap(),
    )
}

/// An exact count: estimate = low = high = `want`.
fn exact(v: &Value, want: u64, what: &str) {
    let (e, l, h) = est(v);
    assert_eq!((e, l, h), (want as f64, want as f64, want as f64), "{what}");
}

/// Rows of a section keyed by `key` -> (packets, bytes), requiring exactness.
fn section(r: &Value, name: &str, key: impl Fn(&Value) -> String) -> BTreeMap<String, (u64, u64)> {
    r[name]
        .as_array()
        .unwrap_or_else(|| panic!("no section {name}"))
        .iter()
        .map(|row| {
            let (p, pl, ph) = est(&row["packets"]);
            let (b, bl, bh) = est(&row["bytes"]);
            assert_eq!((p, b), (pl, bl), "{name}: not exact at rate 1");
            assert_eq!((p, b), (ph, bh), "{name}: not exact at rate 1");
            assert_eq!(row["samples"].as_u64().unwrap(), p as u64);
            (key(row), (p as u64, b as u64))
        })
        .collect()
}

fn counts<K: ToString>(m: &BTreeMap<K, pktsample_tracegen::Count>) -> BTreeMap<String, (u64, u64)> {
    m.iter()
        .map(|(k, c)| (k.to_string(), (c.packets, c.bytes)))
        .collect()
}

#[test]
fn rate_one_every_section_equals_truth() {
    let dir = tmpdir();
    for name in [
        "mixed.pcapng",
        "mixed-us-be.pcapng",
        "mixed.pcap",
        "mixed-ns-be.pcap",
        "snap96.pcap",
    ] {
        let t = truth(name);
        // The capture itself (a plain capture counts as rate 1) and a rate-1
        // samples file made from it must both be exact.
        let pq = dir.path().join(format!("{name}.parquet"));
        replay(s(&fixture(name)), &["-r", "1", "-o", s(&pq)]);
        for input in [fixture(name), pq.clone()] {
            let r = analyze_json(&[s(&input)]);
            let ctx = format!("{name} via {}", input.display());
            exact(&r["summary"]["packets"], t.total.packets, &ctx);
            exact(&r["summary"]["bytes"], t.total.bytes, &ctx);
            assert_eq!(r["summary"]["packets_exact"], true, "{ctx}");
            let mut want_ver = counts(&t.ip_version);
            if let Some(v) = want_ver.remove("none") {
                want_ver.insert("non-ip".into(), v);
            }
            assert_eq!(
                section(&r, "ip_versions", |x| x["ip_version"]
                    .as_str()
                    .unwrap()
                    .into()),
                want_ver,
                "{ctx}"
            );
            assert_eq!(
                section(&r, "ip_protocols", |x| x["ip_proto"].to_string()),
                counts(&t.ip_proto),
                "{ctx}"
            );
            assert_eq!(
                section(&r, "eth_types", |x| x["eth_type"].to_string()),
                counts(&t.eth_type),
                "{ctx}"
            );
            assert_eq!(
                section(&r, "interfaces", |x| format!(
                    "{}/{}",
                    x["ifname"].as_str().unwrap(),
                    x["direction"].as_str().unwrap()
                )),
                counts(&t.interface),
                "{ctx}"
            );
            let v6 = t.ip_version["6"];
            let v4 = t.ip_version["4"];
            let share = v6.packets as f64 / (v4.packets + v6.packets) as f64;
            let (e, l, h) = est(&r["ipv6_share"]["packets"]);
            assert!(
                (e - share).abs() < 1e-12 && l == e && h == e,
                "{ctx}: share {e} {l} {h} vs {share}"
            );
            let bshare = v6.bytes as f64 / (v4.bytes + v6.bytes) as f64;
            assert!(
                (est(&r["ipv6_share"]["bytes"]).0 - bshare).abs() < 1e-12,
                "{ctx}"
            );
            // Sizes and time buckets add up to the total.
            let sizes = section(&r, "packet_sizes", |x| x["min"].to_string());
            assert_eq!(sizes.values().map(|v| v.0).sum::<u64>(), t.total.packets);
            let buckets: u64 = r["time_series"]["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["samples"].as_u64().unwrap())
                .sum();
            assert_eq!(buckets, t.total.packets, "{ctx}");
        }
    }
}

/// Top talkers at rate 1 equal DuckDB's group-by on the same samples.
#[test]
fn rate_one_top_talkers_equal_duckdb() {
    let Some(py) = python() else {
        need("Python with duckdb", false);
        return;
    };
    let dir = tmpdir();
    let pq = samples(dir.path(), "mixed.pcapng", 1);
    let r = analyze_json(&[s(&pq), "--top", "15"]);
    for (sec, col) in [
        ("top_sources", "src_addr"),
        ("top_destinations", "dst_addr"),
    ] {
        let q = format!(
            "SELECT {col}, count(*), sum(pkt_len) FROM s WHERE {col} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 15"
        );
        let duck: Vec<Vec<Value>> =
            serde_json::from_str(&interop(&py, &["sql", s(&pq), &q])).unwrap();
        let ours: Vec<(String, u64, u64)> = r[sec]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["address"].as_str().unwrap().to_string(),
                    est(&x["packets"]).0 as u64,
                    est(&x["bytes"]).0 as u64,
                )
            })
            .collect();
        let theirs: Vec<(String, u64, u64)> = duck
            .iter()
            .map(|row| {
                (
                    row[0].as_str().unwrap().to_string(),
                    row[1].as_u64().unwrap(),
                    row[2]
                        .as_str()
                        .map_or_else(|| row[2].as_u64().unwrap(), |s| s.parse().unwrap()),
                )
            })
            .collect();
        // Ties in packet counts may order differently: compare as sets of
        // the rows above the 15th count.
        let cut = theirs.last().unwrap().1;
        let a: std::collections::BTreeSet<_> = ours.iter().filter(|r| r.1 > cut).collect();
        let b: std::collections::BTreeSet<_> = theirs.iter().filter(|r| r.1 > cut).collect();
        assert_eq!(a, b, "{sec}");
        assert!(!a.is_empty());
    }
}

/// Counts per outer IP version and per IPv4 protocol agree with tshark's
/// dissection of the same capture.
#[test]
fn rate_one_matches_tshark() {
    if !need("tshark", have_cmd("tshark")) {
        return;
    }
    let trace = fixture("mixed.pcapng");
    let out = tshark(&[
        "-r",
        s(&trace),
        "-T",
        "fields",
        "-E",
        "occurrence=f",
        "-e",
        "frame.protocols",
        "-e",
        "ip.proto",
    ]);
    let mut ver: BTreeMap<String, u64> = BTreeMap::new();
    let mut v4proto: BTreeMap<String, u64> = BTreeMap::new();
    for line in out.lines() {
        let mut f = line.split('\t');
        let protos = f.next().unwrap();
        let proto = f.next().unwrap_or("");
        let outer = protos.split(':').find(|p| *p == "ip" || *p == "ipv6");
        let v = match outer {
            Some("ip") => "4",
            Some(_) => "6",
            None => "non-ip",
        };
        *ver.entry(v.into()).or_default() += 1;
        if v == "4" {
            *v4proto.entry(proto.to_string()).or_default() += 1;
        }
    }
    let r = analyze_json(&[s(&trace)]);
    let ours: BTreeMap<String, u64> = r["ip_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["ip_version"].as_str().unwrap().to_string(),
                x["samples"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ours, ver);
    // IPv4 protocols: analyze over an IPv4-only filter is not a flag, so
    // compare the protocols that only IPv4 carries in this trace.
    let protos: BTreeMap<String, u64> = r["ip_protocols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["ip_proto"].to_string(), x["samples"].as_u64().unwrap()))
        .collect();
    for p in ["1", "41"] {
        assert_eq!(protos.get(p), v4proto.get(p), "IP protocol {p}");
    }
}

/// Seeded simulation: sample a 100,000-packet trace at 1-in-100 under 200
/// seeds; each 95 % interval must cover the truth in 92-98 % of the runs.
#[test]
fn intervals_cover_the_truth() {
    let dir = tmpdir();
    let trace = dir.path().join("t.pcap");
    let spec = Spec {
        mix: Mix::Mixed,
        packets: 100_000,
        seed: 2024,
        format: Format::Pcap {
            nanos: true,
            big_endian: false,
        },
        snaplen: 128,
        link: Default::default(),
        wrap: Default::default(),
    };
    let t = generate(&spec, BufWriter::new(File::create(&trace).unwrap())).unwrap();
    let v6 = t.ip_version["6"];
    let v4 = t.ip_version["4"];
    let share = v6.packets as f64 / (v4.packets + v6.packets) as f64;
    let udp_bytes = t.ip_proto[&17].bytes as f64;
    let runs = 200;
    let mut hits = [0u32; 4];
    let out = dir.path().join("s.parquet");
    for seed in 0..runs {
        replay_lib(&trace, &out, 100, 1000 + seed);
        let r = analyze_lib(vec![out.clone()], None, 10);
        let row = |v: &str| {
            r.ip_versions
                .as_ref()
                .unwrap()
                .iter()
                .find(|x| x.ip_version == v)
                .unwrap()
                .m
                .clone()
        };
        let m6 = row("6");
        let udp = r
            .ip_protocols
            .as_ref()
            .unwrap()
            .iter()
            .find(|x| x.ip_proto == 17)
            .unwrap()
            .m
            .clone();
        hits[0] += covers(&m6.packets, v6.packets as f64) as u32;
        hits[1] += covers(&m6.bytes, v6.bytes as f64) as u32;
        hits[2] += covers(&r.ipv6_share.packets, share) as u32;
        hits[3] += covers(&udp.bytes, udp_bytes) as u32;
    }
    let names = ["IPv6 packets", "IPv6 bytes", "IPv6 share", "UDP bytes"];
    assert_coverage("", &names, &hits, runs);
}

/// Two files at different rates, analysed together, give the sum of their
/// separate estimates, and the same as one file holding both (their union).
#[test]
fn merging_files_with_different_rates_equals_their_union() {
    let dir = tmpdir();
    let a = dir.path().join("a.parquet");
    let b = dir.path().join("b.parquet");
    replay_lib(&fixture("mixed.pcapng"), &a, 5, 1);
    replay_lib(&fixture("mixed.pcap"), &b, 20, 2);
    // The union: every row of both, metadata interfaces of both.
    let u = dir.path().join("u.parquet");
    let (ba, ma) = read_all(&a);
    let (bb, mb) = read_all(&b);
    let mut mu = ma.clone();
    mu.interfaces.extend(mb.interfaces.clone());
    mu.start_time = ma.start_time.clone().min(mb.start_time.clone());
    mu.end_time = ma.end_time.clone().max(mb.end_time.clone());
    let mut w = pktsample_schemas::SampleWriter::create(&u, false, &mu).unwrap();
    for batch in ba.iter().chain(&bb) {
        w.write(batch).unwrap();
    }
    w.finish(&mu).unwrap();

    let ra = analyze_lib(vec![a.clone()], None, 10);
    let rb = analyze_lib(vec![b.clone()], None, 10);
    let both = analyze_lib(vec![a.clone(), b.clone()], None, 10);
    let union = analyze_lib(vec![u.clone()], None, 10);
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(1.0);
    for r in [&both, &union] {
        assert!(close(
            r.summary.packets.estimate,
            ra.summary.packets.estimate + rb.summary.packets.estimate
        ));
        assert!(close(
            r.summary.bytes.estimate,
            ra.summary.bytes.estimate + rb.summary.bytes.estimate
        ));
        assert_eq!(r.summary.samples, ra.summary.samples + rb.summary.samples);
        assert_eq!(r.summary.sampling_rates, vec![5, 20]);
        for v in ["4", "6"] {
            let get = |x: &pktsample_analyze::Report| {
                x.ip_versions
                    .as_ref()
                    .unwrap()
                    .iter()
                    .find(|r| r.ip_version == v)
                    .unwrap()
                    .m
                    .clone()
            };
            assert!(
                close(
                    get(r).packets.estimate,
                    get(&ra).packets.estimate + get(&rb).packets.estimate
                ),
                "v{v}"
            );
            assert!(
                close(
                    get(r).bytes.estimate,
                    get(&ra).bytes.estimate + get(&rb).bytes.estimate
                ),
                "v{v}"
            );
        }
    }
    // The two ways of merging agree on every interval too (up to the order
    // of floating-point sums).
    for (x, y) in both
        .ip_versions
        .as_ref()
        .unwrap()
        .iter()
        .zip(union.ip_versions.as_ref().unwrap())
    {
        assert_eq!(x.ip_version, y.ip_version);
        for (i, j) in [(&x.m.packets, &y.m.packets), (&x.m.bytes, &y.m.bytes)] {
            assert!(
                close(i.estimate, j.estimate) && close(i.low, j.low) && close(i.high, j.high),
                "{i:?} vs {j:?}"
            );
        }
    }
    assert_eq!(both.summary.packets, union.summary.packets);
    // Exact pools: the merged packet total is exact (1000 + 400).
    assert_eq!(both.summary.packets.estimate, 1400.0);
    assert_eq!(both.summary.packets.low, 1400.0);
}

#[test]
fn json_report_validates_against_the_schema() {
    let Some(py) = python() else {
        need("Python with jsonschema", false);
        return;
    };
    let dir = tmpdir();
    let pq = samples(dir.path(), "mixed.pcapng", 10);
    let schema = root().join("schemas/report-v1.schema.json");
    let asn_db = fixture("asn/fixture.mmdb");
    for args in [
        vec![s(&pq)],
        vec![s(&pq), "--by", "summary"],
        vec![s(&fixture("mixed.pcap"))],
        vec![s(&fixture("asn.pcapng")), "--asn-db", s(&asn_db)],
    ] {
        let out = dir.path().join("r.json");
        let mut full = vec![
            "analyze",
            "--format",
            "json",
            "-q",
            "-o",
            s(&out),
            "--force",
        ];
        full.extend(args);
        ok(&full);
        interop(&py, &["report", s(&out), s(&schema)]);
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        for k in ["summary", "ipv6_share"] {
            assert!(r[k].is_object());
        }
        for k in ["packets", "bytes"] {
            est(&r["summary"][k]);
            est(&r["ipv6_share"][k]);
        }
    }
}

/// The terminal table of a fixed input is stable (golden file); every line
/// fits 80 columns.
#[test]
fn table_output_matches_golden_file() {
    let dir = tmpdir();
    let pq = samples(dir.path(), "mixed.pcapng", 10);
    let table = ok(&["analyze", s(&pq), "--interval", "20ms"]);
    // The input path is not part of the table, so the output is stable.
    let golden = root().join("tests/golden/analyze-mixed-r10.txt");
    if std::env::var_os("PKTSAMPLE_BLESS").is_some() {
        std::fs::write(&golden, &table).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(
        table, want,
        "table changed; rerun with PKTSAMPLE_BLESS=1 if intended"
    );
    for l in table.lines() {
        assert!(l.chars().count() <= 80, "wider than 80 columns: {l}");
    }
    let md = ok(&["analyze", s(&pq), "--format", "markdown"]);
    assert!(
        md.contains("# Traffic report") && md.contains("## IP versions") && md.contains("| 6 |"),
        "{md}"
    );
    let csv = ok(&["analyze", s(&pq), "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "section,key,samples,packets,packets_low,packets_high,bytes,bytes_low,bytes_high,share,share_low,share_high,hosts,hosts_low,hosts_high,hosts_unreliable,low_confidence"
    );
    assert!(lines.all(|l| l.split(',').count() == 17));
}
