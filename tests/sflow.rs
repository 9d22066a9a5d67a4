//! sFlow v5 datagrams as written by `pktsample_schemas::sflow::encode`,
//! decoded by tshark's sFlow dissector (a reader nobody here wrote): every
//! field reads as the value meant. Groundwork of the sFlow issue: the
//! encoder is the exporter's, and the decoder under test reads the same
//! bytes back.

mod common;

use std::net::IpAddr;

use pktsample_schemas::sflow::*;

use common::sflow::write_pcap;
use common::{have_cmd, need, s, tmpdir, tshark};

fn flow(expanded: bool, seq: u32, input: Port, output: Port, v6_hop: bool) -> Sample {
    Sample::Flow(FlowSample {
        expanded,
        sequence: seq,
        source: Source { kind: 0, index: 7 },
        sampling_rate: 4096,
        sample_pool: 3_000_000_000 + seq,
        drops: seq % 3,
        input,
        output,
        header: Some(RawHeader {
            protocol: 1,
            frame_length: 1000 + seq,
            stripped: 4,
            bytes: (0..(60 + seq % 7) as u8).collect(),
        }),
        gateway: Some(Gateway {
            next_hop: Some(if v6_hop {
                "2001:db8::1".parse().unwrap()
            } else {
                "203.0.113.1".parse().unwrap()
            }),
            router_as: 64496,
            src_as: 64500 + seq,
            src_peer_as: 64497,
            dst_as_path: vec![64498, 64510 + seq],
            communities: vec![],
            local_pref: 100,
        }),
    })
}

#[test]
fn tshark_reads_our_datagrams_as_meant() {
    if !need("tshark", have_cmd("tshark")) {
        return;
    }
    let agents: [IpAddr; 2] = ["192.0.2.9".parse().unwrap(), "2001:db8::9".parse().unwrap()];
    let mut datagrams = Vec::new();
    let mut expect = Vec::new();
    for (i, agent) in agents.iter().enumerate() {
        let seq = i as u32 * 10;
        let d = Datagram {
            agent: *agent,
            sub_agent: 2,
            sequence: 100 + i as u32,
            uptime_ms: 5000,
            samples: vec![
                flow(false, seq + 1, Port::Index(3), Port::Internal, false),
                flow(true, seq + 2, Port::Index(70_000), Port::Multiple(3), true),
                Sample::Counters(CounterSample {
                    expanded: false,
                    sequence: seq + 3,
                    source: Source { kind: 0, index: 7 },
                    interface: Some(IfCounters {
                        if_index: 7,
                        if_speed: 10_000_000_000,
                        in_octets: (1 << 40) + seq as u64,
                        in_ucast: 555,
                        out_octets: 777,
                        ..Default::default()
                    }),
                    ethernet: Some(EthCounters(std::array::from_fn(|k| 100 + k as u32))),
                }),
            ],
            skipped: Skipped::default(),
        };
        let b = encode(&d);
        assert_eq!(decode(&b).unwrap(), d, "our decoder");
        datagrams.push(b);
        expect.push(d);
    }
    let dir = tmpdir();
    let p = dir.path().join("sflow.pcap");
    write_pcap(&p, &datagrams);
    let fields = [
        "sflow_245.version",
        "sflow_245.agent",
        "sflow_245.agent.v6",
        "sflow_245.sub_agent_id",
        "sflow_245.sequence_number",
        "sflow_245.numsamples",
        "sflow.flow_sample.sampling_rate",
        "sflow.flow_sample.sample_pool",
        "sflow.flow_sample.dropped_packets",
        "sflow_245.header.frame_length",
        "sflow_245.header.payload_stripped",
        "sflow_245.header.sampled_header_length",
        "sflow_245.srcAS",
        "sflow_245.dstAS",
        "sflow_245.ifinoct",
        "sflow_245.ifinpkt",
        "sflow_245.ifoutoct",
        "sflow_245.dot3StatsFCSErrors",
        "sflow_245.dot3StatsSymbolErrors",
    ];
    let mut args = vec![
        "-r",
        s(&p),
        "-T",
        "fields",
        "-E",
        "aggregator=,",
        "-E",
        "separator=|",
    ];
    for f in &fields {
        args.extend(["-e", f]);
    }
    let out = tshark(&args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for (line, d) in lines.iter().zip(&expect) {
        let v: Vec<&str> = line.split('|').collect();
        let flows: Vec<&FlowSample> = d
            .samples
            .iter()
            .filter_map(|s| match s {
                Sample::Flow(f) => Some(f),
                _ => None,
            })
            .collect();
        let join = |g: &dyn Fn(&FlowSample) -> String| {
            flows.iter().map(|f| g(f)).collect::<Vec<_>>().join(",")
        };
        let h = |f: &FlowSample| f.header.clone().unwrap();
        let g = |f: &FlowSample| f.gateway.clone().unwrap();
        assert_eq!(v[0], "5");
        let agent = if d.agent.is_ipv4() { v[1] } else { v[2] };
        assert_eq!(agent.parse::<IpAddr>().unwrap(), d.agent, "{line}");
        assert_eq!(v[3], d.sub_agent.to_string());
        assert_eq!(v[4], d.sequence.to_string());
        assert_eq!(v[5], d.samples.len().to_string());
        assert_eq!(v[6], join(&|f| f.sampling_rate.to_string()), "rate: {line}");
        assert_eq!(v[7], join(&|f| f.sample_pool.to_string()), "pool: {line}");
        assert_eq!(v[8], join(&|f| f.drops.to_string()), "drops: {line}");
        assert_eq!(v[9], join(&|f| h(f).frame_length.to_string()), "{line}");
        assert_eq!(v[10], join(&|f| h(f).stripped.to_string()), "{line}");
        assert_eq!(v[11], join(&|f| h(f).bytes.len().to_string()), "{line}");
        assert_eq!(v[12], join(&|f| g(f).src_as.to_string()), "{line}");
        assert_eq!(
            v[13],
            join(&|f| g(f)
                .dst_as_path
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")),
            "{line}"
        );
        let c = d
            .samples
            .iter()
            .find_map(|s| match s {
                Sample::Counters(c) => c.interface.clone(),
                _ => None,
            })
            .unwrap();
        assert_eq!(v[14], c.in_octets.to_string());
        assert_eq!(v[15], c.in_ucast.to_string());
        assert_eq!(v[16], c.out_octets.to_string());
        // Ethernet counters: FCS errors (the 2nd), symbol errors (the 13th).
        assert_eq!((v[17], v[18]), ("101", "112"), "{line}");
    }
    // The interface encodings, as tshark shows them: the compact sample's
    // input ifIndex 3 and output "internal" (format 0, 0x3FFFFFFF); the
    // expanded sample's input 70000 and output "multiple" (format 2) to 3.
    let out = tshark(&[
        "-r",
        s(&p),
        "-T",
        "fields",
        "-E",
        "aggregator=,",
        "-e",
        "sflow.flow_sample.input_interface",
        "-e",
        "sflow.flow_sample.input_interface_value",
        "-e",
        "sflow.flow_sample.output_interface",
        "-e",
        "sflow.flow_sample.output_interface_format",
        "-e",
        "sflow.flow_sample.output_interface.format",
        "-e",
        "sflow.flow_sample.output_interface_value",
    ]);
    for line in out.lines() {
        assert_eq!(line, "3\t70000\t0x3fffffff\t0\t2\t1073741823,3");
    }
}

fn hex_fixture(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(common::fixture(&format!("sflow/{name}"))).unwrap();
    text.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

/// Datagrams from another collector's test suite (goflow2): our decoder,
/// `convert` and tshark read the same samples from them.
#[test]
fn published_datagrams() {
    use arrow_array::cast::AsArray;
    let compact = hex_fixture("goflow2-flow-compact-vlan.hex");
    let expanded = hex_fixture("goflow2-flow-expanded-5.hex");
    let drop = hex_fixture("goflow2-drop-egress-queue.hex");
    let d = decode(&compact).unwrap();
    assert_eq!(d.agent, "172.16.0.17".parse::<IpAddr>().unwrap());
    let d = decode(&expanded).unwrap();
    assert_eq!((d.samples.len(), d.skipped.records), (5, 5));
    let d = decode(&drop).unwrap();
    assert_eq!((d.samples.len(), d.skipped.samples), (0, 1));

    let dir = tmpdir();
    let pcap = dir.path().join("published.pcap");
    write_pcap(&pcap, &[compact, expanded, drop]);
    let out = dir.path().join("published.parquet");
    common::ok(&["convert", s(&pcap), "-o", s(&out)]);
    let (batches, m) = common::read_all(&out);
    let b = common::concat(&batches);
    assert_eq!(b.num_rows(), 6);
    let names: Vec<&str> = {
        let c = b.column_by_name("ifname").unwrap().as_any_dictionary();
        let v = c.values().as_string::<i32>();
        let keys = c.normalized_keys();
        keys.iter().map(|&k| v.value(k)).collect()
    };
    assert_eq!(names[0], "172.16.0.17/1/1043");
    let (a, b2) = ("1.2.3.4/0/1000100", "1.2.3.4/0/1000104");
    assert_eq!(names[1..], [a, a, b2, a, a]);
    let u32s = |c| common::u32_col(&b, c).values().to_vec();
    assert_eq!(
        u32s("sampling_rate"),
        [2048, 16383, 16383, 16383, 16383, 16383]
    );
    assert_eq!(u32s("pkt_len"), [78, 1510, 1478, 1518, 1518, 1518]);
    let vlan = common::u16_col(&b, "vlan");
    assert_eq!(
        vlan.iter().flatten().collect::<Vec<_>>(),
        [32, 30, 23, 1337, 23, 957]
    );
    let proto = common::u8_col(&b, "ip_proto");
    assert_eq!(
        proto.iter().flatten().collect::<Vec<_>>(),
        [1, 6, 6, 6, 6, 6]
    );
    // Joined mid-stream: the first sample of a source stands for one
    // interval; the next ones for their pool differences (16383 each).
    let pool = |name: &str| {
        m.interfaces
            .iter()
            .find(|i| i.name == name)
            .unwrap()
            .total()
            .packets_seen
    };
    assert_eq!(pool("172.16.0.17/1/1043"), 2048);
    assert_eq!(pool("1.2.3.4/0/1000100"), 4 * 16383);
    let sf = m.sflow.unwrap();
    assert_eq!((sf.skipped_samples, sf.skipped_records), (1, 5));

    if !need("tshark", have_cmd("tshark")) {
        return;
    }
    let out = tshark(&[
        "-r",
        s(&pcap),
        "-T",
        "fields",
        "-E",
        "aggregator=,",
        "-e",
        "sflow.flow_sample.sampling_rate",
        "-e",
        "sflow_245.header.frame_length",
        "-e",
        "vlan.id",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "2048\t82\t32", "{out}");
    assert_eq!(
        lines[1], "16383,16383,16383,16383,16383\t1514,1482,1522,1522,1522\t30,23,1337,23,957",
        "{out}"
    );
}

/// An IPv6 agent's sample of a QinQ frame, sampled on the agent's own
/// (internal) interface and sent to several: the row keeps the outer VLAN,
/// and neither interface, and its direction is unknown.
#[test]
fn ipv6_agent_qinq_internal_and_multiple() {
    use arrow_array::Array;
    let mut frame = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .double_vlan(
            etherparse::VlanId::try_new(100).unwrap(),
            etherparse::VlanId::try_new(200).unwrap(),
        )
        .ipv6(
            [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(5000, 53)
        .write(&mut frame, &[0u8; 20])
        .unwrap();
    let d = Datagram {
        agent: "2001:db8::77".parse().unwrap(),
        sub_agent: 3,
        sequence: 1,
        uptime_ms: 1000,
        samples: vec![Sample::Flow(FlowSample {
            expanded: false,
            sequence: 1,
            source: Source { kind: 0, index: 9 },
            sampling_rate: 100,
            sample_pool: 100,
            drops: 0,
            input: Port::Internal,
            output: Port::Multiple(3),
            header: Some(RawHeader {
                protocol: 1,
                frame_length: frame.len() as u32 + 4,
                stripped: 4,
                bytes: frame.clone(),
            }),
            gateway: None,
        })],
        skipped: Skipped::default(),
    };
    let dir = tmpdir();
    let pcap = dir.path().join("qinq.pcap");
    write_pcap(&pcap, &[encode(&d)]);
    let out = dir.path().join("qinq.parquet");
    common::ok(&["convert", s(&pcap), "-o", s(&out)]);
    let (batches, m) = common::read_all(&out);
    let b = common::concat(&batches);
    assert_eq!(b.num_rows(), 1);
    assert_eq!(common::u16_col(&b, "vlan").value(0), 100);
    assert_eq!(common::u8_col(&b, "ip_version").value(0), 6);
    assert_eq!(common::u32_col(&b, "pkt_len").value(0), frame.len() as u32);
    assert!(common::u32_col(&b, "ingress_ifindex").is_null(0));
    assert!(common::u32_col(&b, "routed_ifindex").is_null(0));
    let i = &m.interfaces[0];
    assert_eq!(i.name, "2001:db8::77/3/9");
    // Sequence 1: the agent started while we listened; its pool counts
    // from 0.
    assert_eq!(
        i.directions.keys().collect::<Vec<_>>(),
        [&pktsample_schemas::Direction::Unknown]
    );
    assert_eq!(i.total().packets_seen, 100);
}

/// Sampled headers of an overlay's underlay (every shim and tunnel) are
/// read through by the same decoder as a replay: `convert` of the sFlow
/// capture gives, row for row, the encapsulation and inner columns that
/// the replay of the same frames gives.
#[test]
fn tunnelled_sampled_headers_are_read_through() {
    use arrow_array::RecordBatch;
    use pktsample_tracegen::encap::Wrap;
    use pktsample_tracegen::sflow::{AgentSim, SourceSpec};
    let spec = SourceSpec {
        index: 4,
        rate: 1,
        both_ways: false,
        expanded: false,
    };
    let mut sim =
        AgentSim::new("192.0.2.9".parse().unwrap(), 0, 21, &[spec]).wrapped(Wrap::Mixed, 256);
    let datagrams: Vec<Datagram> = (0..40).map(|_| sim.datagram(8, false)).collect();
    let headers: Vec<Vec<u8>> = datagrams
        .iter()
        .flat_map(|d| d.samples.iter())
        .filter_map(|s| match s {
            Sample::Flow(f) => f.header.as_ref().map(|h| h.bytes.clone()),
            _ => None,
        })
        .collect();
    let dir = tmpdir();
    let sflow = dir.path().join("sflow.pcap");
    write_pcap(&sflow, &datagrams.iter().map(encode).collect::<Vec<_>>());
    let frames = dir.path().join("frames.pcap");
    common::sflow::write_frames(&frames, &headers);
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    common::ok(&["convert", s(&sflow), "-o", s(&a)]);
    common::ok(&[
        "capture",
        "--replay",
        s(&frames),
        "-r",
        "1",
        "--snaplen",
        "256",
        "-q",
        "-o",
        s(&b),
    ]);
    let cols = |p: &std::path::Path| -> RecordBatch {
        let b = common::concat(&common::read_all(p).0);
        let names = [
            "encap",
            "tunnel_id",
            "mpls_label",
            "pppoe_session",
            "ip_version",
            "src_addr",
        ];
        let inner = pktsample_schemas::schema::col::ADDED_IN_1_4;
        let keep: Vec<usize> = names
            .iter()
            .chain(inner[4..].iter())
            .map(|n| b.schema().index_of(n).unwrap())
            .collect();
        b.project(&keep).unwrap()
    };
    let (ra, rb) = (cols(&a), cols(&b));
    assert_eq!(ra.num_rows(), headers.len());
    assert_eq!(ra, rb);
    use arrow_array::Array;
    let inner = ra.column_by_name("inner_ip_version").unwrap();
    assert!(
        inner.len() - inner.null_count() > headers.len() / 3,
        "tunnelled rows"
    );
}
