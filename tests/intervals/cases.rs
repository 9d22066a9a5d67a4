//! The grid's cases and the zero-sample rows, run over the population
//! and sampler in `main.rs`.

use super::*;

#[test]
fn intervals_cover_the_truth_where_users_look() {
    let runs: u64 = std::env::var("PKTSAMPLE_GRID_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let dir = tmpdir();
    let asn = asn_db(dir.path());
    let mut failures = Vec::new();
    println!(
        "| rate | sizes | pool | section | expected samples | packets cov | bytes cov | bytes width/true |"
    );
    println!("|---:|---|---|---|---:|---:|---:|---:|");
    for rate in [10u32, 100, 1000] {
        for mix in [Mix::Constant, Mix::Mixed, Mix::Jumbo, Mix::AckBursts] {
            for pools in [true, false] {
                let pts = config(rate, mix, pools, runs, &asn);
                for ((sec, k), t) in pts {
                    let pool = if pools { "exact" } else { "HT" };
                    let pc = |x: u64| 100.0 * x as f64 / runs as f64;
                    println!(
                        "| {rate} | {} | {pool} | {} | {k} | {:.1} % | {:.1} % | {:.2} |",
                        mix.name(),
                        SECTIONS[sec],
                        pc(t.packets),
                        pc(t.bytes),
                        t.width / runs as f64
                    );
                    let what = format!("{rate} {} {pool} {} k={k}", mix.name(), SECTIONS[sec]);
                    if k >= 1000 && t.width / runs as f64 > 0.5 {
                        failures.push(format!("{what}: bytes interval wider than half the truth"));
                    }
                    for (m, hits, exact) in [
                        ("packets", t.packets, t.packets_exact == runs),
                        ("bytes", t.bytes, false),
                    ] {
                        let (lo, hi) = clopper_pearson(hits, runs);
                        if hi < 0.93 {
                            failures.push(format!("{what} {m}: {:.1} % < 93 %", pc(hits)));
                        }
                        if k >= 30 && !exact && lo > 0.995 {
                            failures.push(format!("{what} {m}: {:.1} % > 99.5 %", pc(hits)));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Categories the report lists get a row without a sample too, 0 with an
/// upper bound: every IP version and size class, an empty time bucket, an
/// interface and direction of the metadata that was not sampled (its pool
/// counts exactly), and an empty selection.
#[test]
fn zero_is_an_estimate() {
    use common::{ok, s};
    use serde_json::Value;
    let dir = tmpdir();
    let f = dir.path().join("z.parquet");
    let mut meta = CaptureMetadata::new(Source::Tcx { ring_bytes: None }, 128);
    for (ifindex, seen, samples) in [(1u32, 10_000u64, 100u64), (2, 50, 0)] {
        meta.interfaces.push(InterfaceMeta {
            ifindex,
            name: format!("eth{ifindex}"),
            mac: None,
            mtu: None,
            sampling_rate: 100,
            link_type: 1,
            shared_pool: false,
            directions: BTreeMap::from([(
                Direction::Ingress,
                DirectionStats {
                    packets_seen: seen,
                    samples,
                    drops: 0,
                },
            )]),
        });
    }
    meta.set_time_range(Some(T0), Some(T0 + 3 * SECOND - 1));
    let mut b = SampleBatchBuilder::new();
    for i in 0..100u64 {
        // Seconds 0 and 2: second 1 has no sample.
        let sec = if i.is_multiple_of(2) { 0 } else { 2 };
        let r = Row {
            ifindex: 1,
            proto: 6,
            ts: T0 + sec * SECOND + i as i64,
            src: [192, 0, 2, 1],
            dst: [198, 51, 100, 1],
            len: 100 + i as u32,
        };
        b.push(&SampleRow {
            timestamp_ns: r.ts,
            ifindex: 1,
            ifname: "eth1",
            direction: Direction::Ingress,
            sampling_rate: 100,
            pkt_len: r.len,
            header: &header(&r),
            link_type: 1,
            ingress_ifindex: Some(1),
            routed_ifindex: None,
        });
    }
    let mut w = SampleWriter::create(&f, false, &meta).unwrap();
    w.write(&b.finish()).unwrap();
    w.finish(&meta).unwrap();
    let json = |extra: &[&str]| -> Value {
        let mut a = vec![
            "analyze",
            "--format",
            "json",
            "-q",
            "--interval",
            "1s",
            s(&f),
        ];
        a.extend_from_slice(extra);
        serde_json::from_str(&ok(&a)).unwrap()
    };
    let zero = |m: &Value, what: &str| {
        assert_eq!(m["samples"], 0, "{what}: {m}");
        for x in ["packets", "bytes"] {
            assert_eq!(m[x]["estimate"], 0.0, "{what}: {m}");
            assert_eq!(m[x]["low"], 0.0, "{what}: {m}");
            assert!(m[x]["high"].as_f64().unwrap() > 0.0, "{what}: {m}");
        }
    };
    let r = json(&[]);
    let rows = |sec: &str| r[sec].as_array().unwrap().clone();
    // The pools: 10,000 + 50 packets, exactly.
    let p = &r["summary"]["packets"];
    assert_eq!(
        (p["estimate"].as_f64(), p["high"].as_f64()),
        (Some(10_050.0), Some(10_050.0))
    );
    assert_eq!(r["summary"]["packets_exact"], true);
    zero(&r["summary"]["unseen"], "unseen");
    // Upper bounds from the rate: 3.69 samples' worth at most.
    let unseen = r["summary"]["unseen"]["packets"]["high"].as_f64().unwrap();
    assert!((300.0..400.0).contains(&unseen), "{unseen}");
    for v in ["6", "non-ip"] {
        let row = rows("ip_versions")
            .into_iter()
            .find(|x| x["ip_version"] == v);
        zero(&row.unwrap_or_else(|| panic!("IP version {v} listed")), v);
    }
    let sizes = rows("packet_sizes");
    assert_eq!(sizes.len(), 8);
    // 64 bytes: at most 64 bytes a packet.
    let s64 = &sizes[1];
    zero(s64, "64-byte class");
    let (pk, by) = (
        s64["packets"]["high"].as_f64().unwrap(),
        s64["bytes"]["high"].as_f64().unwrap(),
    );
    assert!(by <= 64.0 * pk * 1.01, "{s64}");
    let buckets = r["time_series"]["buckets"].as_array().unwrap().len();
    assert_eq!(buckets, 3, "{}", r["time_series"]);
    zero(&r["time_series"]["buckets"][1], "empty bucket");
    let eth2 = rows("interfaces")
        .into_iter()
        .find(|x| x["ifname"] == "eth2")
        .expect("the unsampled interface is listed");
    assert_eq!(eth2["samples"], 0);
    assert_eq!(eth2["packets"]["low"], 50.0);
    assert_eq!(eth2["packets"]["high"], 50.0);
    let b2 = &eth2["bytes"];
    let (e, l, h) = (
        b2["estimate"].as_f64().unwrap(),
        b2["low"].as_f64().unwrap(),
        b2["high"].as_f64().unwrap(),
    );
    // Sizes like the report's: 100-199 bytes, classes 65-127 and 128-255.
    assert!(
        l == 50.0 * 65.0 && h == 50.0 * 199.0 && l < e && e < h,
        "{b2}"
    );
    // Too many buckets to list the empty ones: said, not silent.
    let fine: Value = serde_json::from_str(&ok(&[
        "analyze",
        "--format",
        "json",
        "-q",
        "--interval",
        "10us",
        s(&f),
    ]))
    .unwrap();
    // The samples sit in the first microsecond of seconds 0 and 2.
    assert_eq!(fine["time_series"]["buckets"].as_array().unwrap().len(), 2);
    assert!(
        fine["warnings"]
            .to_string()
            .contains("only those with samples are listed"),
        "{}",
        fine["warnings"]
    );
    // An empty selection: second 1 alone.
    let r = json(&[
        "--from",
        "2023-11-14T22:13:21Z",
        "--to",
        "2023-11-14T22:13:22Z",
    ]);
    assert_eq!(r["summary"]["samples"], 0);
    zero(&r["summary"], "empty selection");
    assert!(
        r["warnings"].to_string().contains("no samples match"),
        "{}",
        r["warnings"]
    );
}
