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
