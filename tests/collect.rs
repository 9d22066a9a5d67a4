//! sFlow ingest: `convert` of a collector's capture and `collect` from the
//! wire give rows and exact pools equal to what simulated agents counted
//! (`pktsample_tracegen::sflow`), with every lost, late, repeated, damaged
//! or foreign datagram counted, agent restarts as new strata, IP fragments
//! put back together; tshark reads the same capture to the same lengths.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::process::Command;

use arrow_array::Array;
use pktsample_schemas::sflow::{Datagram, Sample, encode};
use pktsample_schemas::{CaptureMetadata, Direction, InterfaceMeta};
use pktsample_tracegen::sflow::{AgentSim, SourceSpec, SourceTruth};

use common::sflow::{fragments, frame, frame_to, write_frames};
use common::{bin, concat, have_cmd, need, ok, read_all, s, tmpdir, tshark, u32_col};

/// What the agents sent, what reached the collector, and the truth.
struct Scenario {
    /// The collector's capture, in arrival order (one datagram in
    /// fragments).
    frames: Vec<Vec<u8>>,
    /// The UDP payloads, in arrival order (what `collect` is sent).
    payloads: Vec<Vec<u8>>,
    /// Per stratum name: truth, and flow samples lost with dropped datagrams.
    truth: BTreeMap<String, (SourceTruth, u64)>,
    lost_datagrams: u64,
    /// Samples in the datagrams that arrived (once).
    received: u64,
    /// Σ frame length − 4 over the samples that arrived.
    pkt_len_sum: u64,
    with_gateway: u64,
}

fn flows(d: &Datagram) -> impl Iterator<Item = &pktsample_schemas::sflow::FlowSample> {
    d.samples.iter().filter_map(|s| match s {
        Sample::Flow(f) => Some(f),
        _ => None,
    })
}

fn scenario() -> Scenario {
    let spec = |index, rate, both_ways, expanded| SourceSpec {
        index,
        rate,
        both_ways,
        expanded,
    };
    let a_ip: IpAddr = "192.0.2.9".parse().unwrap();
    let b_ip: IpAddr = "2001:db8::9".parse().unwrap();
    let mut a = AgentSim::new(
        a_ip,
        0,
        1,
        &[spec(3, 64, false, false), spec(7, 128, true, true)],
    );
    let mut b = AgentSim::new(b_ip, 1, 2, &[spec(5, 32, false, true)]);
    let mut sc = Scenario {
        frames: Vec::new(),
        payloads: Vec::new(),
        truth: BTreeMap::new(),
        lost_datagrams: 0,
        received: 0,
        pkt_len_sum: 0,
        with_gateway: 0,
    };
    let mut lost_by_source: BTreeMap<(IpAddr, u32), u64> = BTreeMap::new();
    let arrive = |sc: &mut Scenario, d: &Datagram, whole: bool| {
        let bytes = encode(d);
        for f in flows(d) {
            sc.received += 1;
            sc.pkt_len_sum += u64::from(f.header.as_ref().unwrap().frame_length - 4);
            sc.with_gateway += u64::from(f.gateway.is_some());
        }
        if whole {
            sc.frames.push(frame(&bytes));
        } else {
            sc.frames.extend(fragments(&bytes, 77, 1500));
        }
        sc.payloads.push(bytes);
    };
    let mut late = None;
    for i in 1..=200u32 {
        let n = if i == 150 { 14 } else { 6 };
        let d = a.datagram(n, i % 20 == 0);
        if [50, 51, 120].contains(&i) {
            sc.lost_datagrams += 1;
            for f in flows(&d) {
                *lost_by_source.entry((a_ip, f.source.index)).or_default() += 1;
            }
            continue;
        }
        arrive(&mut sc, &d, i != 150);
        if i == 80 {
            late = Some(d);
        } else if i == 81 {
            // #80 again, after #81: late, left out.
            let bytes = encode(late.as_ref().unwrap());
            sc.frames.push(frame(&bytes));
            sc.payloads.push(bytes);
        }
        if i <= 100 {
            let db = b.datagram(5, i % 20 == 0);
            arrive(&mut sc, &db, true);
            if i == 60 {
                sc.truth.insert("2001:db8::9/1/5".into(), (b.truth()[0], 0));
                b.restart();
            }
        }
    }
    sc.truth
        .insert("2001:db8::9/1/5@2".into(), (b.truth()[0], 0));
    for (k, t) in [(3, a.truth()[0]), (7, a.truth()[1])] {
        let lost = lost_by_source.get(&(a_ip, k)).copied().unwrap_or(0);
        sc.truth.insert(format!("192.0.2.9/0/{k}"), (t, lost));
    }
    // Not sFlow 5, cut short, and not to the sFlow port.
    let mut v4 = sc.payloads[0].clone();
    v4[3] = 4;
    let cut = sc.payloads[1][..30].to_vec();
    for bad in [v4, cut] {
        sc.frames.push(frame(&bad));
        sc.payloads.push(bad);
    }
    sc.frames.push(frame_to(b"not sflow", 53));
    // The first fragment of a repeat whose other fragments never came.
    let first = fragments(&sc.payloads[5], 99, 200).remove(0);
    sc.frames.push(first);
    sc
}

fn iface<'a>(m: &'a CaptureMetadata, name: &str) -> &'a InterfaceMeta {
    m.interfaces
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no stratum {name} in {:?}", m.interfaces))
}

/// The file's strata and sFlow section against the scenario's truth.
fn check_file(path: &Path, sc: &Scenario) {
    let (batches, m) = read_all(path);
    let b = concat(&batches);
    assert_eq!(
        b.num_rows() as u64,
        sc.received,
        "rows: one per flow sample"
    );
    for (name, (t, lost)) in &sc.truth {
        let i = iface(&m, name);
        let both = name.ends_with("/7");
        assert_eq!(i.shared_pool, both, "{name}");
        let want = if both {
            Direction::Unknown
        } else {
            Direction::Ingress
        };
        assert_eq!(i.directions.keys().collect::<Vec<_>>(), [&want], "{name}");
        let st = i.directions[&want];
        assert_eq!(st.packets_seen, t.pool, "{name}: the exact pool");
        assert_eq!(
            st.drops,
            t.drops + lost,
            "{name}: agent drops + lost samples"
        );
        assert_eq!(
            st.samples,
            t.samples[0] + t.samples[1] - lost,
            "{name}: samples"
        );
    }
    let sf = m.sflow.as_ref().expect("sflow section");
    let a = &sf.agents[0];
    assert_eq!((a.agent.as_str(), a.sub_agent), ("192.0.2.9", 0));
    assert_eq!(a.lost_datagrams, sc.lost_datagrams);
    let lost_samples: u64 = sc.truth.values().map(|(_, l)| l).sum();
    assert_eq!(a.lost_samples, lost_samples);
    assert_eq!(a.late_datagrams, 1);
    let bagent = &sf.agents[1];
    assert_eq!((bagent.agent.as_str(), bagent.restarts), ("2001:db8::9", 1));
    assert_eq!(sf.bad_datagrams, 2);
    assert!(sf.errors[0].contains("version 4"), "{:?}", sf.errors);
    // Counter spans of every data source (A's every 20th datagram).
    assert!(sf.counters.iter().any(|c| c.interface == "192.0.2.9/0/3"));
    // Lengths: the frame less the stripped FCS; the router's ASes.
    let lens = u32_col(&b, "pkt_len");
    let sum: u64 = lens.values().iter().map(|&v| u64::from(v)).sum();
    assert_eq!(sum, sc.pkt_len_sum);
    let src_as = u32_col(&b, "src_as");
    assert_eq!((b.num_rows() - src_as.null_count()) as u64, sc.with_gateway);
    assert!(src_as.iter().flatten().all(|v| (64500..64507).contains(&v)));
}

#[test]
fn convert_reads_a_collectors_capture_exactly() {
    let sc = scenario();
    let dir = tmpdir();
    let pcap = dir.path().join("sflow.pcap");
    write_frames(&pcap, &sc.frames);
    let out = dir.path().join("sflow.parquet");
    let text = ok(&["convert", s(&pcap), "-o", s(&out)]);
    assert!(text.contains("unreadable datagrams"), "{text}");
    assert!(
        text.contains("1 packets that are not UDP to port 6343"),
        "{text}"
    );
    assert!(
        text.contains("1 fragmented datagrams whose fragments"),
        "{text}"
    );
    check_file(&out, &sc);

    // analyze: the exact pools make the packet total exact, and the losses
    // are warned about with their counts.
    let json = ok(&["analyze", s(&out), "--format", "json"]);
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    let pools: u64 = sc.truth.values().map(|(t, _)| t.pool).sum();
    assert_eq!(
        r["summary"]["packets"]["estimate"].as_f64().unwrap(),
        pools as f64
    );
    assert_eq!(r["summary"]["packets_exact"], true);
    let w = r["warnings"].to_string();
    assert!(
        w.contains(&format!("{} datagrams lost", sc.lost_datagrams)),
        "{w}"
    );
    assert!(w.contains("restarted 1 times"), "{w}");
    assert!(w.contains("2 datagrams could not be read"), "{w}");

    // A port given by hand that carries nothing: one line, naming it.
    let e = common::fails(&[
        "convert",
        s(&pcap),
        "-o",
        s(&dir.path().join("x.parquet")),
        "--sflow-port",
        "9999",
    ]);
    assert!(e.contains("no sFlow datagrams on UDP port 9999"), "{e}");
}

#[test]
fn tshark_reads_the_capture_to_the_same_samples() {
    if !need("tshark", have_cmd("tshark")) {
        return;
    }
    let sc = scenario();
    let dir = tmpdir();
    let pcap = dir.path().join("sflow.pcap");
    write_frames(&pcap, &sc.frames);
    // Every datagram tshark decodes (the late repeat included, the damaged
    // ones not): agent, sequence, and each sample's frame length.
    let out = tshark(&[
        "-r",
        s(&pcap),
        "-Y",
        "sflow",
        "-T",
        "fields",
        "-E",
        "aggregator=,",
        "-e",
        "sflow_245.sequence_number",
        "-e",
        "sflow_245.header.frame_length",
    ]);
    let mut samples = 0u64;
    let mut len = 0u64;
    let mut seen = std::collections::HashSet::new();
    for line in out.lines() {
        let (seq, lens) = line.split_once('\t').unwrap();
        if lens.is_empty() || !seen.insert((seq.to_string(), lens.to_string())) {
            continue;
        }
        for l in lens.split(',') {
            samples += 1;
            len += l.parse::<u64>().unwrap() - 4;
        }
    }
    assert_eq!(samples, sc.received, "flow samples tshark decodes");
    assert_eq!(len, sc.pkt_len_sum);
}

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
    let mut parts = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("_pools") {
                    stack.push(p);
                }
            } else {
                parts.push(p);
            }
        }
    }
    parts.sort();
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
