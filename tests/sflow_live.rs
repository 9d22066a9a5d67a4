//! `capture --sflow` end to end, in a network namespace: the export read
//! back by our own collector (the same samples and pools as the direct
//! file), and by collectors nobody here wrote — pmacct's `sfacctd` and
//! nfdump's `sfcapd` — whose per-protocol and per-address totals,
//! renormalised by the rate, equal the direct file's. Needs root, TCX,
//! sfacctd and sfcapd: skips loudly otherwise, and fails when CI=true.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::Array;
use common::netns::*;
use common::*;
use pktsample_schemas::Direction;

/// Start `pktsample collect` on the namespace's loopback; its port.
fn start_collect(ns: &Netns, out: &Path) -> (Child, u16) {
    let cmd = ns.cmd(&[
        bin(),
        "collect",
        "--listen",
        "127.0.0.1:0",
        "-o",
        s(out),
        "--duration",
        "120s",
    ]);
    let (child, addrs) = common::start_collect(cmd);
    let port = addrs.first().expect("collect did not start").port();
    (child, port)
}

fn stop(child: &mut Child, sig: &str) -> String {
    sh(&["kill", &format!("-{sig}"), &child.id().to_string()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "{sig} did not stop it");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        use std::io::Read;
        o.read_to_string(&mut out).unwrap();
    }
    out
}

fn lo_up(ns: &Netns) {
    ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
}

/// The report sections that do not depend on when rows were stamped (the
/// collector stamps arrival times): totals, protocols, addresses, sizes.
fn timeless(r: &serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::Map::new();
    for k in [
        "ipv6_share",
        "ip_versions",
        "ethertypes",
        "ip_protocols",
        "services",
        "top_sources",
        "top_destinations",
        "distinct_addresses",
        "packet_sizes",
    ] {
        v.insert(k.into(), r[k].clone());
    }
    for k in ["samples", "packets", "bytes", "packets_seen", "drops"] {
        v.insert(k.into(), r["summary"][k].clone());
    }
    serde_json::Value::Object(v)
}

#[test]
fn export_collected_equals_the_direct_file() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    lo_up(&ns);
    let dir = tmpdir();
    let collected = dir.path().join("collected.parquet");
    let direct = dir.path().join("direct.parquet");
    let (mut col, port) = start_collect(&ns, &collected);
    let target = format!("127.0.0.1:{port}");
    // The datagrams as they cross loopback, for tshark.
    let wire = dir.path().join("export.pcap");
    let mut dump = ns
        .cmd(&[
            "tcpdump",
            "-i",
            "lo",
            "-U",
            "-w",
            s(&wire),
            "udp",
            "port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Listening once it says so; then keep its stderr drained.
    {
        use std::io::{BufRead, BufReader};
        let mut err = BufReader::new(dump.stderr.take().unwrap());
        let mut line = String::new();
        while err.read_line(&mut line).unwrap() > 0 && !line.contains("listening on") {
            line.clear();
        }
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    }
    let cap = ns.capture(&[
        "-i",
        "va",
        "-i",
        "vb",
        "-r",
        "4",
        "-o",
        s(&direct),
        "--sflow",
        &target,
        "--sflow-agent",
        "192.0.2.1",
        "--sflow-counters",
        "1s",
    ]);
    let trace = small_trace(dir.path(), 40_000);
    // Paced, so that neither the collector's socket nor tcpdump's buffer
    // overflows on a busy machine: every datagram must arrive.
    ns.inject(&trace, &["--pps", "50000"]);
    ns.inject(&fixture("mixed.pcapng"), &["--pps", "50000"]);
    let (stdout, _) = cap.stop();
    assert!(stdout.contains("sflow     sent"), "{stdout}");
    std::thread::sleep(Duration::from_millis(300));
    let text = stop(&mut col, "INT");
    assert!(text.contains("0 lost, 0 samples lost"), "{text}");
    // The last datagrams wait in a part-filled ring block until libpcap's
    // timeout (1 s) hands it over: give it that before the interrupt.
    std::thread::sleep(Duration::from_millis(1500));
    stop(&mut dump, "INT");

    let (_, dm) = read_all(&direct);
    let (_, cm) = read_all(&collected);
    // Same pools, samples and drops per interface and direction: ingress
    // samples travel as sub-agent 0, egress as sub-agent 1.
    for i in &dm.interfaces {
        for (d, st) in &i.directions {
            if st.samples == 0 {
                // Nothing to send: the collector cannot know of it.
                assert_eq!(st.packets_seen, 0, "{} {d:?}", i.name);
                continue;
            }
            let sub = if *d == Direction::Ingress { 0 } else { 1 };
            let name = format!("192.0.2.1/{sub}/{}", i.ifindex);
            let c = cm
                .interfaces
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("{name} not collected: {:?}", cm.interfaces));
            assert_eq!(c.directions.get(d), Some(st), "{name} {d:?}");
        }
    }
    // The same estimates, with the same intervals.
    let report = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&ok(&["analyze", s(p), "--format", "json"])).unwrap()
    };
    let (a, b) = (report(&direct), report(&collected));
    assert_same_report(&timeless(&a), &timeless(&b), "direct vs collected");
    // The counter samples arrived (one a second).
    let sf = cm.sflow.as_ref().unwrap();
    assert!(!sf.counters.is_empty(), "{sf:?}");
    tshark_reads_the_export(&wire, port, &direct);
}

/// tshark's sFlow dissector on the exported datagrams: every flow sample
/// at the rate, frame lengths of wire + 4 with 4 stripped, and each
/// stream's last `sample_pool` and `drops` the kernel's counters of its
/// interface and direction.
fn tshark_reads_the_export(wire: &Path, port: u16, direct: &Path) {
    if !need("tshark", have_cmd("tshark")) {
        return;
    }
    let decode_as = format!("udp.port=={port},sflow");
    let out = tshark(&[
        "-r",
        s(wire),
        "-d",
        &decode_as,
        "-Y",
        "sflow",
        "-T",
        "fields",
        "-E",
        "aggregator=,",
        "-e",
        "sflow_245.sub_agent_id",
        "-e",
        "sflow.flow_sample.index",
        "-e",
        "sflow.flow_sample.sampling_rate",
        "-e",
        "sflow.flow_sample.sample_pool",
        "-e",
        "sflow.flow_sample.dropped_packets",
        "-e",
        "sflow_245.header.frame_length",
        "-e",
        "sflow_245.header.payload_stripped",
    ]);
    let (batches, meta) = read_all(direct);
    let b = concat(&batches);
    let lens: u64 = u32_col(&b, "pkt_len")
        .values()
        .iter()
        .map(|&v| u64::from(v))
        .sum();
    let (mut n, mut sum) = (0u64, 0u64);
    // (sub-agent, source) -> last pool and drops.
    let mut last: BTreeMap<(u32, u32), (u64, u64)> = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[2].is_empty() {
            continue; // counter samples only
        }
        let col = |k: usize| {
            f[k].split(',')
                .map(|v| v.parse::<u64>().unwrap())
                .collect::<Vec<_>>()
        };
        let (src, rate, pool, drops, frame, stripped) =
            (col(1), col(2), col(3), col(4), col(5), col(6));
        let sub: u32 = f[0].parse().unwrap();
        for k in 0..rate.len() {
            assert_eq!((rate[k], stripped[k]), (4, 4), "{line}");
            n += 1;
            sum += frame[k] - 4;
            last.insert((sub, src[k] as u32), (pool[k], drops[k]));
        }
    }
    let datagrams = out.lines().count();
    assert_eq!(
        n as usize,
        b.num_rows(),
        "one flow sample per row ({datagrams} datagrams)"
    );
    assert_eq!(sum, lens, "frame_length - 4 = pkt_len");
    for i in &meta.interfaces {
        for (d, st) in i.directions.iter().filter(|(_, st)| st.samples > 0) {
            let sub = u32::from(*d != Direction::Ingress);
            assert_eq!(
                last[&(sub, i.ifindex)],
                (st.packets_seen % (1 << 32), st.drops % (1 << 32)),
                "{} {d:?}",
                i.name
            );
        }
    }
}

/// Σ rate and Σ rate × (pkt_len + 4) per key of the direct file.
fn truth_by(
    path: &Path,
    key: &dyn Fn(&arrow_array::RecordBatch, usize) -> String,
) -> BTreeMap<String, (u64, u64)> {
    let (batches, _) = read_all(path);
    let b = concat(&batches);
    let rate = u32_col(&b, "sampling_rate");
    let len = u32_col(&b, "pkt_len");
    let mut m: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for i in 0..b.num_rows() {
        let e = m.entry(key(&b, i)).or_default();
        let r = u64::from(rate.value(i));
        e.0 += r;
        e.1 += r * (u64::from(len.value(i)) + 4);
    }
    m
}

fn proto_key(b: &arrow_array::RecordBatch, i: usize) -> String {
    let p = u8_col(b, "ip_proto");
    if p.is_null(i) { 0 } else { p.value(i) }.to_string()
}

fn src_key(b: &arrow_array::RecordBatch, i: usize) -> String {
    use arrow_array::cast::AsArray;
    let a = b.column_by_name("src_addr").unwrap().as_string::<i32>();
    if a.is_null(i) {
        "-".into()
    } else {
        a.value(i).to_string()
    }
}

#[test]
fn sfacctd_and_sfcapd_agree_with_the_direct_file() {
    if !privileged()
        || !need("sfacctd (Debian pmacct)", have_cmd_v("sfacctd"))
        || !need("sfcapd (Debian nfdump-sflow)", have_cmd_v("sfcapd"))
        || !need("nfdump", have_cmd_v("nfdump"))
    {
        return;
    }
    let ns = Netns::new();
    lo_up(&ns);
    let dir = tmpdir();
    let d = dir.path();
    // sfacctd: raw sample counts (no renormalisation), by protocol and by
    // source address, printed when it stops.
    let conf = d.join("sfacctd.conf");
    std::fs::write(
        &conf,
        format!(
            "daemonize: false\nsfacctd_ip: 127.0.0.1\nsfacctd_port: 16343\n\
             sfacctd_renormalize: false\nplugins: print[proto], print[src]\n\
             aggregate[proto]: proto\naggregate[src]: src_host\n\
             print_output[proto]: csv\nprint_output[src]: csv\n\
             print_output_file[proto]: {0}/proto.csv\nprint_output_file[src]: {0}/src.csv\n\
             print_refresh_time[proto]: 3600\nprint_refresh_time[src]: 3600\n\
             sfacctd_pipe_size: 33554432\nplugin_pipe_size: 67108864\nplugin_buffer_size: 65536\n",
            d.display()
        ),
    )
    .unwrap();
    let mut sfacctd = ns
        .cmd(&["sfacctd", "-f", s(&conf)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nf = d.join("nf");
    std::fs::create_dir(&nf).unwrap();
    let mut sfcapd = ns
        .cmd(&[
            "sfcapd",
            "-b",
            "127.0.0.1",
            "-p",
            "16344",
            "-B",
            "33554432",
            "-w",
            s(&nf),
            "-t",
            "3600",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let direct = d.join("direct.parquet");
    let cap = ns.capture(&[
        "-i",
        "va",
        "-r",
        "8",
        "-o",
        s(&direct),
        "--sflow",
        "127.0.0.1:16343",
        "--sflow",
        "127.0.0.1:16344",
    ]);
    // TCP and UDP over IPv4 and IPv6 between many addresses: frames every
    // decoder reads alike (the odd ones are checked against tshark).
    // Paced, so that neither collector's socket overflows on a busy
    // machine (the comparison is exact: a lost datagram would show).
    ns.inject(&small_trace(d, 40_000), &["--pps", "20000"]);
    cap.stop();
    std::thread::sleep(Duration::from_millis(300));
    stop(&mut sfacctd, "INT");
    stop(&mut sfcapd, "TERM");

    let by_proto = truth_by(&direct, &proto_key);
    let by_src = truth_by(&direct, &src_key);
    assert_eq!(by_proto.len(), 2, "TCP and UDP: {by_proto:?}");

    // sfacctd: each sample one packet of its frame length; × the rate.
    let csv = |name: &str| -> BTreeMap<String, (u64, u64)> {
        let text = std::fs::read_to_string(d.join(name)).unwrap();
        text.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let n = f.len();
                (
                    f[0].to_string(),
                    (f[n - 2].parse().unwrap(), f[n - 1].parse().unwrap()),
                )
            })
            .collect()
    };
    let acct = csv("proto.csv");
    assert_eq!(acct.len(), by_proto.len(), "{acct:?} {by_proto:?}");
    for (k, (pk, by)) in &by_proto {
        let name = match k.as_str() {
            "6" => "tcp",
            "17" => "udp",
            _ => panic!("protocol {k} in the small trace"),
        };
        let (p, b) = acct
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("sfacctd: no {name}: {acct:?}"));
        assert_eq!((p * 8, b * 8), (*pk, *by), "sfacctd proto {k}");
    }
    let acct = csv("src.csv");
    for (k, (pk, _)) in by_src.iter().filter(|(k, _)| *k != "-") {
        let got = acct.get(k).map(|v| v.0 * 8);
        assert_eq!(got, Some(*pk), "sfacctd src {k}");
    }

    // sfcapd stores rate-scaled packets and frame bytes (FCS included).
    let dump = |agg: &str| -> BTreeMap<String, (u64, u64)> {
        let o = Command::new("nfdump")
            .args(["-R", s(&nf), "-A", agg, "-q", "-o", "csv"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        // ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,...
        text.lines()
            .map(|l| l.split(',').collect::<Vec<&str>>())
            .filter(|f| f.len() > 12 && f[0] != "ts")
            .map(|f| {
                let k = if agg == "proto" { f[7] } else { f[3] };
                (
                    k.to_string(),
                    (f[11].parse().unwrap(), f[12].parse().unwrap()),
                )
            })
            .collect()
    };
    let caps = dump("proto");
    let total: (u64, u64) = caps.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
    let want: (u64, u64) = by_proto
        .values()
        .fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
    assert_eq!(total, want, "sfcapd totals: {caps:?}");
    let caps = dump("srcip");
    for (k, (pk, by)) in by_src.iter().filter(|(k, _)| *k != "-") {
        assert_eq!(caps.get(k), Some(&(*pk, *by)), "sfcapd src {k}");
    }
}

/// A daemon that answers `-V` (sfacctd, sfcapd and nfdump take no
/// `--version`).
fn have_cmd_v(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}
