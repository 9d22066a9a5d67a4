//! collect over UDP: what it receives equals what convert reads, and
//! the calibration intervals cover the agents' counters.

use super::*;

#[test]
fn collect_receives_what_convert_reads() {
    let sc = scenario();
    let dir = tmpdir();
    let out = dir.path().join("collected.parquet");
    let mut cmd = Command::new(bin());
    cmd.args([
        "collect",
        "--listen",
        "127.0.0.1:0",
        "--listen",
        "[::1]:0",
        "-o",
        s(&out),
        "--count",
        &sc.payloads.len().to_string(),
        "--duration",
        "60s",
    ]);
    let (child, addrs) = common::start_collect(cmd);
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    // The IPv4 agent's datagrams to the IPv4 socket, the IPv6 agent's to
    // the IPv6 one, paced so that none waits long in the socket.
    let v4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let v6 = UdpSocket::bind("[::1]:0").unwrap();
    for p in &sc.payloads {
        let from_v6 = p.len() > 8 && u32::from_be_bytes(p[4..8].try_into().unwrap()) == 2;
        if from_v6 {
            v6.send_to(p, addrs[1]).unwrap();
        } else {
            v4.send_to(p, addrs[0]).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "collect failed");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("received  {} datagrams", sc.payloads.len())),
        "{text}"
    );
    check_file(&out, &sc);
}

/// The calibration check: each data source's counters beside the sampled
/// estimate over the same span. Over seeded agents (a known truth: the
/// counters count every packet the pools do), the counters fall inside the
/// 95 % intervals about 95 % of the time, and the counted values are the
/// truth's.
#[test]
fn calibration_intervals_cover_the_counters() {
    let dir = tmpdir();
    let (mut rows, mut packets_in, mut bytes_in) = (0u32, 0u32, 0u32);
    for seed in 0..60u64 {
        let spec = |index, both_ways| SourceSpec {
            index,
            rate: 64,
            both_ways,
            expanded: false,
        };
        let mut a = AgentSim::new(
            "192.0.2.7".parse().unwrap(),
            0,
            seed,
            &[spec(1, false), spec(2, true)],
        );
        // Counters at the 10th and the 90th datagram: the span between.
        let mut datagrams = Vec::new();
        let mut at_first = Vec::new();
        for i in 1..=100u32 {
            let counters = i == 10 || i == 90;
            datagrams.push(encode(&a.datagram(4, counters)));
            if i == 10 {
                at_first = a.truth();
            }
            if i == 90 {
                let t = a.truth();
                at_first = t
                    .iter()
                    .zip(&at_first)
                    .map(|(b, f)| SourceTruth {
                        packets: [b.packets[0] - f.packets[0], b.packets[1] - f.packets[1]],
                        octets: [b.octets[0] - f.octets[0], b.octets[1] - f.octets[1]],
                        ..*b
                    })
                    .collect();
            }
        }
        let pcap = dir.path().join(format!("c{seed}.pcap"));
        common::sflow::write_pcap(&pcap, &datagrams);
        let out = dir.path().join(format!("c{seed}.parquet"));
        ok(&["convert", s(&pcap), "-o", s(&out)]);
        let json = ok(&["analyze", s(&out), "--format", "json", "--by", "summary"]);
        let r: serde_json::Value = serde_json::from_str(&json).unwrap();
        let cal = r["calibration"].as_array().expect("a calibration section");
        for c in cal {
            let k = if c["interface"] == "192.0.2.7/1" {
                0
            } else {
                1
            };
            let d = usize::from(c["direction"] == "out");
            assert_eq!(c["counter_packets"], at_first[k].packets[d], "{c}");
            assert_eq!(c["counter_bytes"], at_first[k].octets[d], "{c}");
            rows += 1;
            packets_in += u32::from(c["packets_within"] == true);
            bytes_in += u32::from(c["bytes_within"] == true);
        }
        assert_eq!(cal.len(), 3, "in for both sources, out for the second");
    }
    let (p, b) = (
        packets_in as f64 / rows as f64,
        bytes_in as f64 / rows as f64,
    );
    eprintln!("calibration coverage: packets {p:.3}, bytes {b:.3} over {rows} spans");
    // The agent's skips are uniform (less spread than Bernoulli sampling's
    // geometric ones): the intervals may over-cover, never badly under.
    assert!(
        p >= 0.90 && b >= 0.90,
        "coverage packets {p}, bytes {b} over {rows}"
    );
}

/// `collect --rotate`: parts whose pools add up to the one file's, and an
/// analyze of the parts that equals the one file's.
/// Run `collect -o OUT EXTRA…` for the scenario's datagrams, sent paced
/// over loopback; it must succeed.
fn collect_scenario(sc: &Scenario, out: &std::ffi::OsStr, extra: &[&str]) {
    let mut cmd = Command::new(bin());
    cmd.args(["collect", "--listen", "127.0.0.1:0", "-o"])
        .arg(out)
        .args([
            "--count",
            &sc.payloads.len().to_string(),
            "--duration",
            "60s",
        ])
        .args(extra);
    let (child, addrs) = common::start_collect(cmd);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for p in &sc.payloads {
        tx.send_to(p, addrs[0]).unwrap();
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn collect_rotates_into_parts_that_add_up() {
    let sc = scenario();
    let dir = tmpdir();
    let run = |name: &str, extra: &[&str]| -> Vec<std::path::PathBuf> {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).unwrap();
        collect_scenario(&sc, sub.join("c.parquet").as_os_str(), extra);
        let mut parts: Vec<_> = std::fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        parts.sort();
        parts
    };
    let one = run("one", &[]);
    let parts = run("parts", &["--rotate", "100KB"]);
    assert_eq!(one.len(), 1);
    assert!(parts.len() >= 3, "{parts:?}");
    let pools = |files: &[std::path::PathBuf]| {
        let mut m: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for f in files {
            for i in read_all(f).1.interfaces {
                let t = i.total();
                let e = m.entry(i.name).or_default();
                e.0 += t.packets_seen;
                e.1 += t.samples;
                e.2 += t.drops;
            }
        }
        m
    };
    assert_eq!(pools(&parts), pools(&one));
    let packets = |p: &Path| -> serde_json::Value {
        let r: serde_json::Value = serde_json::from_str(&ok(&[
            "analyze",
            s(p),
            "--format",
            "json",
            "--by",
            "summary",
        ]))
        .unwrap();
        r["summary"]["packets"].clone()
    };
    assert_eq!(packets(&dir.path().join("parts")), packets(&one[0]));
}

/// The rows of a pools file: (ifname, direction) -> (rate, packets_seen,
/// samples, drops, lost datagrams, host, part).
type PoolRows = BTreeMap<(String, String), (i64, i64, i64, i64, Option<i64>, String, String)>;

fn pool_rows(path: &Path) -> PoolRows {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    let f = std::fs::File::open(path).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut m = PoolRows::new();
    for b in r {
        let b = b.unwrap();
        let st = |c: &str| b[c].as_string::<i32>().clone();
        let int = |c: &str| b[c].as_primitive::<Int64Type>().clone();
        let (host, ifname, dir, part) = (st("host"), st("ifname"), st("direction"), st("part"));
        let (rate, seen, n, drops, lost) = (
            int("sampling_rate"),
            int("packets_seen"),
            int("samples"),
            int("drops"),
            int("lost_datagrams"),
        );
        for i in 0..b.num_rows() {
            m.insert(
                (ifname.value(i).into(), dir.value(i).into()),
                (
                    rate.value(i),
                    seen.value(i),
                    n.value(i),
                    drops.value(i),
                    lost.is_valid(i).then(|| lost.value(i)),
                    host.value(i).into(),
                    part.value(i).into(),
                ),
            );
        }
    }
    m
}

#[test]
fn collect_writes_a_partitioned_dataset_with_pools_per_part() {
    let sc = scenario();
    let dir = tmpdir();
    let root = dir.path().join("ds");
    let out = format!("{}/", root.display());
    collect_scenario(&sc, std::ffi::OsStr::new(&out), &["--rotate", "100KB"]);
    // Parts in their date= and host= partitions, each with its pools.
    let parts = common::dataset_parts(&root);
    assert!(parts.len() >= 3, "{parts:?}");
    let mut lost_total = 0;
    for p in &parts {
        let rel = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let meta = read_all(p).1;
        let host = pktsample_schemas::dataset::escape(&meta.host);
        assert!(
            rel.starts_with("date=") && rel.contains(&format!("/host={host}/part-")),
            "{rel}"
        );
        let pools = pool_rows(&pktsample_schemas::dataset::pools_path(&root, p).unwrap());
        let mut want = PoolRows::new();
        let agents = &meta.sflow.as_ref().unwrap().agents;
        for im in &meta.interfaces {
            let agent = im.name.split('/').next().unwrap();
            let lost: u64 = agents
                .iter()
                .filter(|a| a.agent == agent)
                .map(|a| a.lost_datagrams)
                .sum();
            for (d, st) in &im.directions {
                want.insert(
                    (im.name.clone(), d.as_str().to_string()),
                    (
                        i64::from(im.sampling_rate),
                        st.packets_seen as i64,
                        st.samples as i64,
                        st.drops as i64,
                        Some(lost as i64),
                        meta.host.clone(),
                        rel.clone(),
                    ),
                );
            }
        }
        assert_eq!(pools, want, "{rel}");
        lost_total += agents.iter().map(|a| a.lost_datagrams).sum::<u64>();
    }
    assert!(
        lost_total > 0,
        "the scenario loses datagrams, and the pools say so"
    );
    // analyze reads the root, and not the pools table.
    let r: serde_json::Value = serde_json::from_str(&ok(&[
        "analyze",
        s(&root),
        "-q",
        "--format",
        "json",
        "--by",
        "summary",
    ]))
    .unwrap();
    let samples: u64 = parts
        .iter()
        .map(|p| {
            read_all(p)
                .1
                .interfaces
                .iter()
                .map(|i| i.total().samples)
                .sum::<u64>()
        })
        .sum();
    assert_eq!(r["summary"]["samples"], samples);
    assert_eq!(r["inputs"].as_array().unwrap().len(), parts.len());
}
