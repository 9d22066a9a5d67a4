//! Writing a datagram: the structures of [`super`] as XDR, the layout
//! [`super::decode`] reads.

use std::net::IpAddr;

use super::*;

fn put(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_address(out: &mut Vec<u8>, a: &IpAddr) {
    match a {
        IpAddr::V4(a) => {
            put(out, 1);
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            put(out, 2);
            out.extend_from_slice(&a.octets());
        }
    }
}

/// A (format, length) section around what `body` writes.
fn section(out: &mut Vec<u8>, format: u32, body: impl FnOnce(&mut Vec<u8>)) {
    put(out, format);
    let at = out.len();
    put(out, 0);
    body(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn compact_port(p: Port) -> u32 {
    match p {
        Port::Index(i) => i & 0x3FFF_FFFF,
        Port::Internal => INTERNAL,
        Port::Discard(r) => (1 << 30) | (r & 0x3FFF_FFFF),
        Port::Multiple(n) => (2 << 30) | (n & 0x3FFF_FFFF),
    }
}

fn expanded_port(p: Port) -> (u32, u32) {
    match p {
        Port::Index(i) => (0, i),
        Port::Internal => (0, INTERNAL),
        Port::Discard(r) => (1, r),
        Port::Multiple(n) => (2, n),
    }
}

fn put_source(out: &mut Vec<u8>, s: Source, expanded: bool) {
    if expanded {
        put(out, s.kind);
        put(out, s.index);
    } else {
        put(out, (s.kind << 24) | (s.index & 0x00FF_FFFF));
    }
}

fn flow_sample(out: &mut Vec<u8>, f: &FlowSample) {
    put(out, f.sequence);
    put_source(out, f.source, f.expanded);
    for v in [f.sampling_rate, f.sample_pool, f.drops] {
        put(out, v);
    }
    if f.expanded {
        let (a, b) = (expanded_port(f.input), expanded_port(f.output));
        for v in [a.0, a.1, b.0, b.1] {
            put(out, v);
        }
    } else {
        put(out, compact_port(f.input));
        put(out, compact_port(f.output));
    }
    put(
        out,
        u32::from(f.header.is_some()) + u32::from(f.gateway.is_some()),
    );
    if let Some(h) = &f.header {
        section(out, 1, |o| {
            for v in [h.protocol, h.frame_length, h.stripped, h.bytes.len() as u32] {
                put(o, v);
            }
            o.extend_from_slice(&h.bytes);
            o.resize(o.len() + (4 - h.bytes.len() % 4) % 4, 0);
        });
    }
    if let Some(g) = &f.gateway {
        section(out, 1003, |o| {
            put_address(o, &g.next_hop.unwrap_or(IpAddr::V4(0.into())));
            for v in [g.router_as, g.src_as, g.src_peer_as] {
                put(o, v);
            }
            if g.dst_as_path.is_empty() {
                put(o, 0);
            } else {
                // One AS_SEQUENCE segment.
                put(o, 1);
                put(o, 2);
                put(o, g.dst_as_path.len() as u32);
                for a in &g.dst_as_path {
                    put(o, *a);
                }
            }
            put(o, g.communities.len() as u32);
            for c in &g.communities {
                put(o, *c);
            }
            put(o, g.local_pref);
        });
    }
}

fn counter_sample(out: &mut Vec<u8>, s: &CounterSample) {
    put(out, s.sequence);
    put_source(out, s.source, s.expanded);
    put(
        out,
        u32::from(s.interface.is_some()) + u32::from(s.ethernet.is_some()),
    );
    if let Some(e) = &s.ethernet {
        section(out, 2, |o| {
            for v in e.0 {
                put(o, v);
            }
        });
    }
    if let Some(i) = &s.interface {
        section(out, 1, |o| {
            let w = |o: &mut Vec<u8>, v: u64| o.extend_from_slice(&v.to_be_bytes());
            put(o, i.if_index);
            put(o, i.if_type);
            w(o, i.if_speed);
            put(o, i.if_direction);
            put(o, i.if_status);
            w(o, i.in_octets);
            for v in [
                i.in_ucast,
                i.in_multicast,
                i.in_broadcast,
                i.in_discards,
                i.in_errors,
                i.in_unknown_protos,
            ] {
                put(o, v);
            }
            w(o, i.out_octets);
            for v in [
                i.out_ucast,
                i.out_multicast,
                i.out_broadcast,
                i.out_discards,
                i.out_errors,
                i.promiscuous,
            ] {
                put(o, v);
            }
        });
    }
}

/// Write one datagram (a UDP payload). `skipped` is not written.
pub fn encode(d: &Datagram) -> Vec<u8> {
    let mut out = Vec::with_capacity(1400);
    put(&mut out, 5);
    put_address(&mut out, &d.agent);
    for v in [d.sub_agent, d.sequence, d.uptime_ms, d.samples.len() as u32] {
        put(&mut out, v);
    }
    for s in &d.samples {
        match s {
            Sample::Flow(f) => section(&mut out, if f.expanded { 3 } else { 1 }, |o| {
                flow_sample(o, f)
            }),
            Sample::Counters(c) => section(&mut out, if c.expanded { 4 } else { 2 }, |o| {
                counter_sample(o, c)
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_datagram(v6: bool) -> Datagram {
        let agent: IpAddr = if v6 {
            "2001:db8::5".parse().unwrap()
        } else {
            "192.0.2.5".parse().unwrap()
        };
        let flow = |expanded, input, output| {
            Sample::Flow(FlowSample {
                expanded,
                sequence: 77,
                source: Source { kind: 0, index: 3 },
                sampling_rate: 1000,
                sample_pool: 4_000_000_000,
                drops: 2,
                input,
                output,
                header: Some(RawHeader {
                    protocol: 1,
                    frame_length: 1518,
                    stripped: 4,
                    bytes: (0..129u8).collect(),
                }),
                gateway: Some(Gateway {
                    next_hop: Some("198.51.100.1".parse().unwrap()),
                    router_as: 64496,
                    src_as: 64497,
                    src_peer_as: 64498,
                    dst_as_path: vec![64499, 64500],
                    communities: vec![0xFDE8_0001],
                    local_pref: 100,
                }),
            })
        };
        Datagram {
            agent,
            sub_agent: 1,
            sequence: 42,
            uptime_ms: 123_456,
            samples: vec![
                flow(false, Port::Index(3), Port::Internal),
                flow(true, Port::Index(70_000_000), Port::Multiple(4)),
                flow(false, Port::Index(1), Port::Discard(258)),
                Sample::Counters(CounterSample {
                    expanded: false,
                    sequence: 9,
                    source: Source { kind: 0, index: 3 },
                    interface: Some(IfCounters {
                        if_index: 3,
                        if_speed: 10_000_000_000,
                        in_octets: 1 << 40,
                        in_ucast: 12345,
                        out_octets: 99,
                        ..Default::default()
                    }),
                    ethernet: Some(EthCounters(std::array::from_fn(|k| k as u32 * 3))),
                }),
            ],
            skipped: Skipped::default(),
        }
    }

    #[test]
    fn datagrams_round_trip() {
        for v6 in [false, true] {
            let d = sample_datagram(v6);
            let b = encode(&d);
            assert_eq!(b.len() % 4, 0);
            assert_eq!(decode(&b).unwrap(), d);
        }
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let b = encode(&sample_datagram(true));
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "{n} bytes read as a datagram");
        }
    }

    #[test]
    fn unknown_records_and_samples_are_skipped_and_counted() {
        let mut d = sample_datagram(false);
        d.samples.truncate(1);
        let mut b = encode(&d);
        // One more sample of an unknown enterprise, 8 bytes of body.
        b[27] += 1;
        b.extend_from_slice(&((7 << 12) | 5u32).to_be_bytes());
        b.extend_from_slice(&8u32.to_be_bytes());
        b.extend_from_slice(&[0; 8]);
        let got = decode(&b).unwrap();
        assert_eq!(got.samples.len(), 1);
        assert_eq!(
            got.skipped,
            Skipped {
                samples: 1,
                records: 0
            }
        );
    }

    #[test]
    fn bad_datagrams_are_errors() {
        let mut b = encode(&sample_datagram(false));
        b[3] = 4;
        assert_eq!(decode(&b), Err(SflowError::Version(4)));
        let mut b = encode(&sample_datagram(false));
        // An absurd sample count.
        b[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode(&b), Err(SflowError::Overrun { .. })));
        let mut b = encode(&sample_datagram(false));
        b[7] = 3;
        assert!(matches!(
            decode(&b),
            Err(SflowError::AddressType { kind: 3, .. })
        ));
    }
}
