//! Coverage of the report's 95 % intervals where users look (issue 15): few
//! samples, skewed sizes, empty groups. A seeded simulation over a grid of
//! sampling rates (10, 100, 1000), size mixes (constant, mixed, jumbo) and
//! pools (exact, or Horvitz–Thompson without one). In each configuration a
//! fixed population holds, in each of five breakdowns (an interface, a rare
//! IP protocol, a time bucket, a top-N source, a per-AS destination), groups
//! expected to get 2, 10, 30, 100 and 1,000 samples; every run samples it
//! 1-in-N, writes real samples Parquet with its metadata, runs the real
//! analyze (with an ASN database) and checks each group's row, or, where the
//! report has none because the group got no sample, the report's bound for
//! an unseen category. The truth is the population's, counted exactly.
//!
//! Pass: coverage of at least 93 % at every point and at most 99.5 % where
//! 30 or more samples are expected (exact intervals aside), each within the
//! simulation's error (the point fails when a two-sided 95 % Clopper–Pearson
//! interval of its coverage lies wholly outside). The full table prints with
//! `--nocapture`; docs/statistics.md has it.
//!
//! Intervals stay useful: with 1,000 samples a group's byte interval is
//! narrower than half its truth on average.
//!
//! Runs per configuration: `PKTSAMPLE_GRID_RUNS` (default 400, about 45 s
//! on two cores).

mod cases;
#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use pktsample_analyze::stats::{Interval, clopper_pearson};
use pktsample_analyze::{Query, Report, Sections};
use pktsample_schemas::{
    CaptureMetadata, Direction, DirectionStats, InterfaceMeta, SampleBatchBuilder, SampleRow,
    SampleWriter, Source,
};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;

use common::{gap, tmpdir};

/// Expected samples of the groups of each breakdown.
const KS: [u64; 5] = [2, 10, 30, 100, 1000];
/// Population: this many sampling units (of N packets each).
const UNITS: u64 = 1500;
const SECTIONS: [&str; 6] = [
    "summary",
    "interface",
    "protocol",
    "time bucket",
    "top source",
    "source AS",
];
/// The rare protocols of the groups, then the rest's (TCP).
const PROTOS: [u8; 6] = [47, 1, 132, 17, 50, 6];
const T0: i64 = 1_700_000_000_000_000_000;
const SECOND: i64 = 1_000_000_000;

#[derive(Clone, Copy, PartialEq)]
enum Mix {
    Constant,
    Mixed,
    Jumbo,
    /// The mixed sizes, but the top sources' groups are ACK-heavy TCP:
    /// 66-byte frames with bursts of eight full-size 1514-byte segments
    /// (4 % of their packets, 42 % of their bytes), unlike their stratum.
    AckBursts,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::Constant => "constant",
            Mix::Mixed => "mixed",
            Mix::Jumbo => "jumbo",
            Mix::AckBursts => "ack-bursts",
        }
    }
    /// 1000 bytes; 64/576/1500 at 60/15/25 %; 64/1500/9000 at 70/25/5 %
    /// (the 9000-byte frames carry half the bytes).
    fn size(self, u: u64) -> u32 {
        let p = u % 100;
        match self {
            Mix::Constant => 1000,
            Mix::Mixed if p < 60 => 64,
            Mix::Mixed if p < 75 => 576,
            Mix::Mixed => 1500,
            Mix::Jumbo if p < 70 => 64,
            Mix::Jumbo if p < 95 => 1500,
            Mix::Jumbo => 9000,
            Mix::AckBursts => Mix::Mixed.size(u),
        }
    }
}

fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// One configuration's population: packet `i` belongs, in breakdown `b`, to
/// group `group(b, i)` (0..5 the KS groups, 5 the rest), each breakdown
/// ordering the packets by its own permutation.
struct Population {
    rate: u32,
    mix: Mix,
    packets: u64,
}

impl Population {
    /// Packet `i`'s place in breakdown `b`'s order.
    fn pos(&self, b: usize, i: u64) -> u64 {
        const MUL: [u64; 5] = [7919, 104_729, 1_299_709, 15_485_863, 179_424_673];
        (i * MUL[b] + 977 * b as u64) % self.packets
    }
    fn group(&self, b: usize, i: u64) -> usize {
        let unit = self.pos(b, i) / self.rate as u64;
        let mut end = 0;
        for (g, k) in KS.iter().enumerate() {
            end += k;
            if unit < end {
                return g;
            }
        }
        KS.len()
    }
    fn size(&self, i: u64) -> u32 {
        if self.mix == Mix::AckBursts && self.group(3, i) < KS.len() {
            // Consecutive in the source's order: a burst of 8 in 200.
            return if (self.pos(3, i) / 8).is_multiple_of(25) {
                1514
            } else {
                66
            };
        }
        self.mix.size(mix64(i ^ 0x5eed))
    }
    /// Rest packets get distinct sources; the rest of the time breakdown
    /// falls in buckets 0 and 7, so bucket 6 is an empty one inside the span.
    fn row(&self, i: u64) -> Row {
        let g = |b| self.group(b, i);
        let (iface, proto, bucket, src, dst) = (g(0), g(1), g(2), g(3), g(4));
        let bucket = match bucket {
            5 if i.is_multiple_of(2) => 0,
            5 => 7,
            b => b as i64 + 1,
        };
        let src = if src < 5 {
            [13, 0, 0, src as u8 + 1]
        } else {
            let r = (i as u32) & 0x00ff_ffff;
            [14, (r >> 16) as u8, (r >> 8) as u8, r as u8]
        };
        let dst = [11, 0, dst as u8, (i % 200) as u8 + 1];
        Row {
            ifindex: iface as u32 + 1,
            proto: PROTOS[proto],
            ts: T0 + bucket * SECOND + (mix64(i) % SECOND as u64) as i64,
            src,
            dst,
            len: self.size(i),
        }
    }
}

struct Row {
    ifindex: u32,
    proto: u8,
    ts: i64,
    src: [u8; 4],
    dst: [u8; 4],
    len: u32,
}

/// An Ethernet + IPv4 header (and ports for TCP/UDP/SCTP) for a row.
fn header(r: &Row) -> Vec<u8> {
    let mut h = vec![2, 0, 0x5e, 0, 0x53, 2, 2, 0, 0x5e, 0, 0x53, 1, 8, 0];
    let ip_len = (r.len - 14).min(65535) as u16;
    h.extend_from_slice(&[0x45, 0]);
    h.extend_from_slice(&ip_len.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x40, 0, 64, r.proto, 0, 0]);
    h.extend_from_slice(&r.src);
    h.extend_from_slice(&r.dst);
    h.extend_from_slice(&[0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 0]);
    if r.proto == 6 {
        h.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x10, 4, 0, 0, 0, 0, 0]);
    }
    h.truncate(r.len as usize);
    h
}

/// Per breakdown and group: (packets, bytes) of the population.
type Truth = [[(f64, f64); 6]; 5];

fn truth(p: &Population) -> (Truth, (f64, f64)) {
    let mut t = [[(0.0, 0.0); 6]; 5];
    let mut total = (0.0, 0.0);
    for i in 0..p.packets {
        let l = f64::from(p.size(i));
        total.0 += 1.0;
        total.1 += l;
        for (b, tb) in t.iter_mut().enumerate() {
            let g = p.group(b, i);
            tb[g].0 += 1.0;
            tb[g].1 += l;
        }
    }
    (t, total)
}

/// Sample the population and write a samples file with its metadata (the
/// exact pools, or none).
fn sample(p: &Population, pools: bool, seed: u64, out: &Path) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut b = SampleBatchBuilder::new();
    let mut per_if: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for i in 0..p.packets {
        per_if.entry(p.group(0, i) as u32 + 1).or_default().0 += 1;
    }
    let mut i = gap(&mut rng, p.rate);
    while i < p.packets {
        let r = p.row(i);
        let name = format!("eth{}", r.ifindex);
        b.push(&SampleRow {
            timestamp_ns: r.ts,
            ifindex: r.ifindex,
            ifname: &name,
            direction: Direction::Ingress,
            sampling_rate: p.rate,
            pkt_len: r.len,
            header: &header(&r),
            link_type: 1,
            ingress_ifindex: Some(r.ifindex),
            routed_ifindex: None,
        });
        per_if.entry(r.ifindex).or_default().1 += 1;
        i += 1 + gap(&mut rng, p.rate);
    }
    let mut meta = CaptureMetadata::new(
        Source::Replay {
            input: "population".into(),
            seed,
            sampling_rate: p.rate,
        },
        128,
    );
    for (&ifindex, &(seen, samples)) in &per_if {
        // Without pools, a producer lists what it sampled and nothing else.
        if !pools && samples == 0 {
            continue;
        }
        meta.interfaces.push(InterfaceMeta {
            ifindex,
            name: format!("eth{ifindex}"),
            mac: None,
            mtu: None,
            sampling_rate: p.rate,
            link_type: 1,
            shared_pool: false,
            directions: BTreeMap::from([(
                Direction::Ingress,
                DirectionStats {
                    packets_seen: if pools { seen } else { 0 },
                    samples,
                    drops: 0,
                },
            )]),
        });
    }
    meta.set_time_range(Some(T0), Some(T0 + 8 * SECOND - 1));
    let mut w = SampleWriter::create(out, true, &meta).unwrap();
    w.write(&b.finish()).unwrap();
    w.finish(&meta).unwrap();
}

fn analyze(path: &Path, asn: &Arc<pktsample_asn::AsDb>) -> Report {
    let q = Query {
        inputs: vec![path.to_path_buf()],
        from: None,
        to: None,
        interfaces: vec![],
        hosts: vec![],
        directions: vec![],
        interval: Some(SECOND),
        sections: Sections::DEFAULT.without_k8s(),
        asn: Some(asn.clone()),
        memory_limit: None,
        temp_dir: None,
        ignore_metadata: false,
        inner: false,
        rollups: false,
        k8s: None,
        policy: None,
    };
    let a = pktsample_analyze::run(&q, &|_| {}).unwrap();
    pktsample_analyze::report(&a, 1_000_000).unwrap()
}

/// The report's row of group `g` in each breakdown: (packets, bytes, an
/// exact interval?), the unseen bound where there is no row.
fn rows(r: &Report, g: usize) -> [(Interval, Interval); 5] {
    let unseen = (r.summary.unseen.packets, r.summary.unseen.bytes);
    let m = |x: Option<&pktsample_analyze::report::Measures>| {
        x.map_or(unseen, |m| (m.packets, m.bytes))
    };
    let ifname = format!("eth{}", g + 1);
    let bucket = chrono_free_bucket(g as i64 + 1);
    let src = format!("13.0.0.{}", g + 1);
    let asn = 64500 + g as u32;
    [
        m(r.interfaces
            .as_ref()
            .unwrap()
            .iter()
            .find(|x| x.ifname == ifname)
            .map(|x| &x.m)),
        m(r.ip_protocols
            .as_ref()
            .unwrap()
            .iter()
            .find(|x| x.ip_proto == PROTOS[g])
            .map(|x| &x.m)),
        m(r.time_series
            .as_ref()
            .unwrap()
            .buckets
            .iter()
            .find(|x| x.start == bucket)
            .map(|x| &x.m)),
        m(r.top_sources
            .as_ref()
            .unwrap()
            .iter()
            .find(|x| x.address == src)
            .map(|x| &x.m)),
        m(r.destination_as
            .as_ref()
            .unwrap()
            .iter()
            .find(|x| x.origin.asn == Some(asn))
            .map(|x| &x.m)),
    ]
}

/// RFC 3339 start of bucket `b` (T0 is 2023-11-14T22:13:20Z).
fn chrono_free_bucket(b: i64) -> String {
    format!("2023-11-14T22:13:{:02}Z", 20 + b)
}

/// Hits and widths of one grid point.
#[derive(Default, Clone, Copy)]
struct Tally {
    packets: u64,
    bytes: u64,
    /// Runs whose interval was exact (a census or a whole pool).
    packets_exact: u64,
    width: f64,
}

fn covers(i: &Interval, t: f64) -> bool {
    // Relative slack for the float sums of the estimators.
    let e = 1e-9 * t.max(1.0);
    i.low <= t + e && t - e <= i.high
}

/// Point -> tally, for one configuration.
type Points = BTreeMap<(usize, u64), Tally>;

fn config(rate: u32, mix: Mix, pools: bool, runs: u64, asn: &Arc<pktsample_asn::AsDb>) -> Points {
    use rayon::prelude::*;
    let p = Population {
        rate,
        mix,
        packets: UNITS * rate as u64,
    };
    let (t, total) = truth(&p);
    let dir = tmpdir();
    let per_run: Vec<Points> = (0..runs)
        .into_par_iter()
        .map(|run| {
            let out = dir.path().join(format!("{run}.parquet"));
            sample(&p, pools, run * 1_000_003 + rate as u64, &out);
            let r = analyze(&out, asn);
            std::fs::remove_file(&out).unwrap();
            let mut pts = Points::new();
            let mut tally = |key, (pi, bi): (Interval, Interval), (tp, tb): (f64, f64)| {
                let e: &mut Tally = pts.entry(key).or_default();
                e.packets += covers(&pi, tp) as u64;
                e.bytes += covers(&bi, tb) as u64;
                e.packets_exact += (pi.low == pi.high) as u64;
                e.width += (bi.high - bi.low) / tb;
            };
            tally((0, UNITS), (r.summary.packets, r.summary.bytes), total);
            for (g, k) in KS.iter().enumerate() {
                let rs = rows(&r, g);
                for (b, row) in rs.into_iter().enumerate() {
                    tally((b + 1, *k), row, t[b][g]);
                }
            }
            // The empty bucket inside the span is listed, 0 with a bound.
            let empty = r
                .time_series
                .as_ref()
                .unwrap()
                .buckets
                .iter()
                .find(|x| x.start == chrono_free_bucket(6))
                .expect("the empty bucket is listed");
            assert_eq!((empty.m.samples, empty.m.packets.estimate), (0, 0.0));
            assert!(empty.m.packets.high > 0.0 && empty.m.bytes.high > 0.0);
            pts
        })
        .collect();
    let mut all = Points::new();
    for pts in per_run {
        for (k, v) in pts {
            let e = all.entry(k).or_default();
            e.packets += v.packets;
            e.bytes += v.bytes;
            e.packets_exact += v.packets_exact;
            e.width += v.width;
        }
    }
    all
}

fn asn_db(dir: &Path) -> Arc<pktsample_asn::AsDb> {
    let f = dir.join("prefixes.dat");
    let mut s = String::new();
    for g in 0..6 {
        s += &format!("11.0.{g}.0/24\t{}\n", 64500 + g);
    }
    std::fs::write(&f, s).unwrap();
    Arc::new(pktsample_asn::AsDb::load(&[f]).unwrap())
}
