//! sFlow ingest: `convert` of a collector's capture and `collect` from the
//! wire give rows and exact pools equal to what simulated agents counted
//! (`pktsample_tracegen::sflow`), with every lost, late, repeated, damaged
//! or foreign datagram counted, agent restarts as new strata, IP fragments
//! put back together; tshark reads the same capture to the same lengths.

#[path = "../common/mod.rs"]
mod common;
mod receive;

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
