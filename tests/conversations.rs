//! Which conversations (issue 28): the top address pairs and 5-tuple flows,
//! and the TCP connections opened.
//!
//! Coverage: a seeded simulation at rates 10, 100 and 1000. Each
//! population holds four flows and four address pairs expected to get
//! about 10, 30, 100 and 1,000 samples, among background traffic of many
//! small pairs. The flows are ACK-heavy TCP (66-byte frames with bursts of
//! eight 1514-byte segments, 4 % of the packets); each pair spreads over 50
//! flows of mixed sizes. Every run samples the population 1-in-N, writes
//! real samples Parquet with exact pools, runs the real analyze and finds
//! each group's row (the report's unseen bound where it has none). Pass:
//! the 95 % intervals of packets and bytes cover the truth in at least
//! 93 % of the runs at every point, within the simulation's error (the
//! point fails when the Clopper–Pearson interval of its coverage lies
//! wholly below).
//!
//! Connections: a pcapng trace of a known number of TCP handshakes (with
//! the SYN-ACKs, ACKs and data that follow, and retransmitted data
//! carrying neither SYN alone), replayed by the real sampler: exact at
//! rate 1; at 1-in-20 over 200 seeds the interval of the connections per
//! service and per remote AS covers the handshakes counted.
//!
//! Also: rows under 10 samples are marked and listed after the others; a
//! tiny memory budget (spilling the flow table) gives the same report.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use pktsample_analyze::stats::{Interval, clopper_pearson};
use pktsample_analyze::{Report, Section, Sections};
use pktsample_schemas::{
    CaptureMetadata, Direction, DirectionStats, InterfaceMeta, SampleBatchBuilder, SampleRow,
    SampleWriter, Source,
};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;

use common::{gap, query, replay_lib, tmpdir};

/// Expected samples of the groups.
const KS: [u64; 4] = [10, 30, 100, 1000];
/// Background packets, in units of N.
const BACKGROUND: u64 = 2000;
const RUNS: u64 = 300;
const T0: i64 = 1_700_000_000_000_000_000;

fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// A sample's header fields.
struct Row {
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    len: u32,
}

/// One rate's population: flows 0..4, then pairs 0..4, then background,
/// packet after packet.
struct Population {
    rate: u64,
}

impl Population {
    fn packets(&self) -> u64 {
        (2 * KS.iter().sum::<u64>() + BACKGROUND) * self.rate
    }

    /// (kind, group, index within the group): kind 0 a flow, 1 a pair, 2
    /// the background.
    fn place(&self, i: u64) -> (usize, usize, u64) {
        let mut start = 0;
        for kind in 0..2 {
            for (g, k) in KS.iter().enumerate() {
                let n = k * self.rate;
                if i < start + n {
                    return (kind, g, i - start);
                }
                start += n;
            }
        }
        (2, 0, i - start)
    }

    fn row(&self, i: u64) -> Row {
        let h = mix64(i ^ 0x5eed);
        let mixed = [64, 576, 1514, 120][(h % 4) as usize];
        match self.place(i) {
            (0, g, j) => Row {
                proto: 6,
                src: [13, 0, 0, g as u8 + 1],
                dst: [11, 0, 0, 1],
                sport: 40000 + g as u16,
                dport: 443,
                // A burst of 8 full segments in every 200 packets.
                len: if (j / 8).is_multiple_of(25) { 1514 } else { 66 },
            },
            (1, g, j) => Row {
                proto: 17,
                src: [12, 0, 0, g as u8 + 1],
                dst: [11, 0, 0, 2],
                sport: 30000 + (j % 50) as u16,
                dport: 53,
                len: mixed,
            },
            _ => {
                let a = (h >> 8) as u32 % 50_000;
                Row {
                    proto: if h.is_multiple_of(3) { 17 } else { 6 },
                    src: [14, (a >> 16) as u8, (a >> 8) as u8, a as u8],
                    dst: [11, 0, 1, (h % 200) as u8 + 1],
                    sport: 1024 + (h >> 40) as u16 % 60000,
                    dport: 80,
                    len: mixed,
                }
            }
        }
    }

    /// Per kind and group: (packets, bytes).
    fn truth(&self) -> [[(f64, f64); 4]; 2] {
        let mut t = [[(0.0, 0.0); 4]; 2];
        for i in 0..self.packets() {
            if let (kind @ 0..=1, g, _) = self.place(i) {
                t[kind][g].0 += 1.0;
                t[kind][g].1 += f64::from(self.row(i).len);
            }
        }
        t
    }
}

/// An Ethernet + IPv4 + TCP/UDP header for a row, cut to its length.
fn header(r: &Row) -> Vec<u8> {
    let mut h = vec![2, 0, 0x5e, 0, 0x53, 2, 2, 0, 0x5e, 0, 0x53, 1, 8, 0];
    let ip_len = (r.len - 14) as u16;
    h.extend_from_slice(&[0x45, 0]);
    h.extend_from_slice(&ip_len.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x40, 0, 64, r.proto, 0, 0]);
    h.extend_from_slice(&r.src);
    h.extend_from_slice(&r.dst);
    h.extend_from_slice(&r.sport.to_be_bytes());
    h.extend_from_slice(&r.dport.to_be_bytes());
    match r.proto {
        6 => h.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 4, 0, 0, 0, 0, 0]),
        _ => h.extend_from_slice(&[0, 8, 0, 0]),
    }
    h.truncate(r.len as usize);
    h
}

/// Sample the population 1-in-N into a samples file with exact pools.
fn sample(p: &Population, seed: u64, out: &Path) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut b = SampleBatchBuilder::new();
    let rate = p.rate as u32;
    let mut samples = 0;
    let mut i = gap(&mut rng, rate);
    while i < p.packets() {
        let r = p.row(i);
        b.push(&SampleRow {
            timestamp_ns: T0 + i as i64 * 1000,
            ifindex: 1,
            ifname: "eth1",
            direction: Direction::Ingress,
            sampling_rate: rate,
            pkt_len: r.len,
            header: &header(&r),
            link_type: 1,
            ingress_ifindex: Some(1),
            routed_ifindex: None,
        });
        samples += 1;
        i += 1 + gap(&mut rng, rate);
    }
    let mut meta = CaptureMetadata::new(
        Source::Replay {
            input: "population".into(),
            seed,
            sampling_rate: rate,
        },
        128,
    );
    meta.interfaces.push(InterfaceMeta {
        ifindex: 1,
        name: "eth1".into(),
        mac: None,
        mtu: None,
        sampling_rate: rate,
        link_type: 1,
        shared_pool: false,
        directions: BTreeMap::from([(
            Direction::Ingress,
            DirectionStats {
                packets_seen: p.packets(),
                samples,
                drops: 0,
            },
        )]),
    });
    meta.set_time_range(Some(T0), Some(T0 + p.packets() as i64 * 1000));
    let mut w = SampleWriter::create(out, true, &meta).unwrap();
    w.write(&b.finish()).unwrap();
    w.finish(&meta).unwrap();
}

fn conversations() -> Sections {
    Sections::of(&[Section::Summary, Section::TopPairs, Section::TopFlows])
}

fn analyze(path: &Path, sections: Sections, memory: Option<u64>) -> Report {
    let mut q = query(vec![path.to_path_buf()], sections, None, None);
    q.memory_limit = memory;
    let a = pktsample_analyze::run(&q, &|_| {}).unwrap();
    pktsample_analyze::report(&a, 1_000_000).unwrap()
}

/// Each group's (packets, bytes) intervals: flows then pairs.
fn rows(r: &Report) -> [[(Interval, Interval); 4]; 2] {
    let unseen = (r.summary.unseen.packets, r.summary.unseen.bytes);
    let flows = r.top_flows.as_ref().unwrap();
    let pairs = r.top_pairs.as_ref().unwrap();
    std::array::from_fn(|kind| {
        std::array::from_fn(|g| {
            let m = match kind {
                0 => flows
                    .iter()
                    .find(|f| f.source == format!("13.0.0.{}", g + 1))
                    .map(|f| {
                        assert_eq!(
                            (f.ip_proto, f.source_port, f.destination_port),
                            (Some(6), Some(40000 + g as u16), Some(443))
                        );
                        &f.m
                    }),
                _ => pairs
                    .iter()
                    .find(|p| p.source == format!("12.0.0.{}", g + 1))
                    .map(|p| &p.m),
            };
            m.map_or(unseen, |m| (m.packets, m.bytes))
        })
    })
}

fn covers(i: &Interval, t: f64) -> bool {
    let e = 1e-9 * t.max(1.0);
    i.low <= t + e && t - e <= i.high
}

#[test]
fn pairs_and_flows_intervals_cover_the_truth() {
    use rayon::prelude::*;
    let dir = tmpdir();
    let mut table = Vec::new();
    let mut failed = Vec::new();
    for rate in [10u64, 100, 1000] {
        let p = Population { rate };
        let t = p.truth();
        // Per kind, group: (packet hits, byte hits).
        let hits: Vec<[[(u64, u64); 4]; 2]> = (0..RUNS)
            .into_par_iter()
            .map(|run| {
                let out = dir.path().join(format!("{rate}-{run}.parquet"));
                sample(&p, run * 7_919 + rate, &out);
                let r = analyze(&out, conversations(), None);
                std::fs::remove_file(&out).unwrap();
                let rs = rows(&r);
                std::array::from_fn(|k| {
                    std::array::from_fn(|g| {
                        let (pi, bi) = rs[k][g];
                        (covers(&pi, t[k][g].0) as u64, covers(&bi, t[k][g].1) as u64)
                    })
                })
            })
            .collect();
        for (k, kind) in ["flow", "pair"].iter().enumerate() {
            for (g, ks) in KS.iter().enumerate() {
                let (hp, hb) = hits
                    .iter()
                    .fold((0, 0), |a, h| (a.0 + h[k][g].0, a.1 + h[k][g].1));
                for (what, h) in [("packets", hp), ("bytes", hb)] {
                    let c = h as f64 / RUNS as f64;
                    table.push(format!(
                        "1-in-{rate} {kind} ~{ks} samples {what}: {:.1}%",
                        100.0 * c
                    ));
                    if clopper_pearson(h, RUNS).1 < 0.93 {
                        failed.push(table.last().unwrap().clone());
                    }
                }
            }
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(failed.is_empty(), "coverage below 93%: {failed:?}");
}

#[test]
fn low_confidence_rows_come_last_and_spilling_changes_nothing() {
    let dir = tmpdir();
    let p = Population { rate: 100 };
    let out = dir.path().join("s.parquet");
    sample(&p, 42, &out);
    let r = analyze(&out, conversations(), None);
    for rows in [
        r.top_pairs
            .as_ref()
            .unwrap()
            .iter()
            .map(|x| (x.m.samples, x.m.packets.estimate, x.low_confidence))
            .collect::<Vec<_>>(),
        r.top_flows
            .as_ref()
            .unwrap()
            .iter()
            .map(|x| (x.m.samples, x.m.packets.estimate, x.low_confidence))
            .collect(),
    ] {
        assert!(rows.iter().any(|x| x.2) && rows.iter().any(|x| !x.2));
        let first_low = rows.iter().position(|x| x.2).unwrap();
        assert!(rows[first_low..].iter().all(|x| x.2), "low rows last");
        for (i, x) in rows.iter().enumerate() {
            assert_eq!(x.2, x.0 < 10, "row {i}: {x:?}");
            if i > 0 && rows[i - 1].2 == x.2 {
                assert!(rows[i - 1].1 >= x.1, "ranked by packets");
            }
        }
    }
    // The same with the flow table spilled to temporary files.
    let small = analyze(&out, conversations(), Some(64 << 10));
    let j = |r: &Report| serde_json::to_value(r).unwrap();
    common::assert_same_report(&j(&r), &j(&small), "spilled flow table");
    // The table and CSV mark the low rows.
    let table = common::ok(&["analyze", common::s(&out), "--by", "top-pairs"]);
    assert!(table.contains("~ fewer than 10 samples"), "{table}");
    let csv = common::ok(&[
        "analyze",
        common::s(&out),
        "--by",
        "top-flows",
        "--format",
        "csv",
    ]);
    let low = csv.lines().filter(|l| l.ends_with(",true")).count();
    let want = r
        .top_flows
        .as_ref()
        .unwrap()
        .iter()
        .take(10)
        .filter(|f| f.low_confidence)
        .count();
    assert_eq!(low, want, "{csv}");
}

/// A pcapng of `n` TCP handshakes to two services, from clients of two
/// remote ASes; returns the handshakes per (port, client AS).
fn handshakes(path: &Path, n: u32) -> BTreeMap<(u16, u32), u64> {
    use etherparse::PacketBuilder;
    use pcap_file::DataLink;
    use pcap_file::pcapng::PcapNgWriter;
    use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use std::borrow::Cow;
    use std::time::Duration;
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapNgWriter::new(f).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![],
    })
    .unwrap();
    let mut truth = BTreeMap::new();
    let mut t = 0u64;
    let mac = ([2, 0, 0x5e, 0, 0x53, 1], [2, 0, 0x5e, 0, 0x53, 2]);
    let server = [203, 0, 113, 10];
    for c in 0..n {
        // Clients in 192.0.2.0/24 (AS 64500) and 198.51.100.0/24 (AS 64501).
        let (client, asn) = match c % 3 {
            0 => ([198, 51, 100, (c % 250) as u8 + 1], 64501),
            _ => ([192, 0, 2, (c % 250) as u8 + 1], 64500),
        };
        let port = if c % 4 == 0 { 22 } else { 443 };
        *truth.entry((port, asn)).or_default() += 1;
        let sport = 10_000 + (c % 50_000) as u16;
        // (inbound, flags: syn, ack, psh, payload).
        let mut steps = vec![
            (true, (true, false, false), 0),
            (false, (true, true, false), 0),
            (true, (false, true, false), 0),
        ];
        for k in 0..(c % 7) {
            steps.push((k % 2 == 0, (false, true, true), 200 + 100 * k as usize));
        }
        for (inbound, (syn, ack, psh), payload) in steps {
            let (src, dst, sp, dp, macs) = match inbound {
                true => (client, server, sport, port, mac),
                false => (server, client, port, sport, (mac.1, mac.0)),
            };
            let b = PacketBuilder::ethernet2(macs.0, macs.1)
                .ipv4(src, dst, 64)
                .tcp(sp, dp, 1, 1024);
            let b = if syn { b.syn() } else { b };
            let b = if ack { b.ack(1) } else { b };
            let b = if psh { b.psh() } else { b };
            let mut bytes = Vec::new();
            b.write(&mut bytes, &vec![0u8; payload]).unwrap();
            t += 1000;
            let len = bytes.len() as u32;
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_nanos(T0 as u64 + t),
                original_len: len,
                data: Cow::Owned(bytes),
                options: vec![EnhancedPacketOption::Flags(if inbound { 1 } else { 2 })],
            })
            .unwrap();
        }
    }
    truth
}

fn asn_db(dir: &Path) -> Arc<pktsample_asn::AsDb> {
    let f = dir.join("prefixes.dat");
    std::fs::write(&f, "192.0.2.0/24\t64500\n198.51.100.0/24\t64501\n").unwrap();
    Arc::new(pktsample_asn::AsDb::load(&[f]).unwrap())
}

fn connections(path: &Path, db: &Arc<pktsample_asn::AsDb>) -> Report {
    let s = Sections::of(&[Section::Summary, Section::Connections]);
    let q = query(vec![path.to_path_buf()], s, Some(db.clone()), None);
    let a = pktsample_analyze::run(&q, &|_| {}).unwrap();
    pktsample_analyze::report(&a, 100).unwrap()
}

/// (per port, per AS) intervals of the connections.
fn counted(r: &Report) -> (BTreeMap<u16, Interval>, BTreeMap<u32, Interval>) {
    let ports = r
        .connections
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.port.unwrap(), c.m.packets))
        .collect();
    let ases = r
        .connections_by_remote_as
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.origin.asn.unwrap(), c.m.packets))
        .collect();
    (ports, ases)
}

#[test]
fn connections_opened_match_the_handshakes() {
    use rayon::prelude::*;
    let dir = tmpdir();
    let trace = dir.path().join("handshakes.pcapng");
    let truth = handshakes(&trace, 6000);
    let mut per_port: BTreeMap<u16, f64> = BTreeMap::new();
    let mut per_as: BTreeMap<u32, f64> = BTreeMap::new();
    for ((port, asn), n) in &truth {
        *per_port.entry(*port).or_default() += *n as f64;
        *per_as.entry(*asn).or_default() += *n as f64;
    }
    let db = asn_db(dir.path());
    // Rate 1: exact.
    let out = dir.path().join("all.parquet");
    replay_lib(&trace, &out, 1, 1);
    let (ports, ases) = counted(&connections(&out, &db));
    assert_eq!(
        ports.keys().collect::<Vec<_>>(),
        per_port.keys().collect::<Vec<_>>()
    );
    for (p, i) in &ports {
        assert_eq!(
            (i.estimate, i.low, i.high),
            (per_port[p], per_port[p], per_port[p])
        );
    }
    for (a, i) in &ases {
        assert_eq!(i.estimate, per_as[a], "AS{a}");
    }
    // 1-in-20, 200 seeds.
    let runs = 200u64;
    let hits: Vec<Vec<bool>> = (0..runs)
        .into_par_iter()
        .map(|seed| {
            let out = dir.path().join(format!("{seed}.parquet"));
            replay_lib(&trace, &out, 20, seed + 1);
            let (ports, ases) = counted(&connections(&out, &db));
            std::fs::remove_file(&out).unwrap();
            let hit = |i: Option<&Interval>, t: f64| i.is_some_and(|i| covers(i, t));
            per_port
                .iter()
                .map(|(p, t)| hit(ports.get(p), *t))
                .chain(per_as.iter().map(|(a, t)| hit(ases.get(a), *t)))
                .collect()
        })
        .collect();
    let names: Vec<String> = per_port
        .keys()
        .map(|p| format!("port {p}"))
        .chain(per_as.keys().map(|a| format!("AS{a}")))
        .collect();
    for (j, name) in names.iter().enumerate() {
        let h = hits.iter().filter(|v| v[j]).count() as u64;
        eprintln!("connections {name}: {:.1}%", 100.0 * h as f64 / runs as f64);
        let (lo, hi) = clopper_pearson(h, runs);
        assert!(hi >= 0.93 && lo <= 0.995, "{name}: {h} of {runs}");
    }
}
