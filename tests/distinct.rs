//! How many hosts (issue 28): Chao1's distinct-host estimate against the
//! truth of seeded populations. Hosts have Zipf sizes (the largest 200,000
//! packets, exponent 1.2, down to a few packets), plus a cohort of
//! one-packet scanners (none, a tenth, or as many as the other hosts).
//! Each run samples every packet 1-in-N (geometric gaps: the same Bernoulli
//! sampling as the sampler's draw per packet) at rates 1, 10, 100 and
//! 1000, 300 runs each, and estimates from the sampled counts.
//!
//! Pass: the floor (hosts seen) never above the truth; exact at rate 1;
//! where the unreliable flag is not raised, coverage of the 95 % interval
//! at least 90 % (within the simulation's error: a point fails when the
//! Clopper–Pearson interval of its coverage lies wholly below); wherever
//! coverage over all runs falls below 90 %, the flag raised in most runs;
//! where it is never raised, the interval narrower than the truth.
//! The table prints with `--nocapture`; docs/statistics.md has it.
//!
//! End to end, the real analyze counts the same frequencies as the
//! simulation from a samples file of one run, at rate 1 and rate 100,
//! overall and per AS.

mod common;

use std::collections::BTreeMap;

use pktsample_analyze::Sections;
use pktsample_analyze::stats::clopper_pearson;
use pktsample_analyze::stats::distinct::{Chao1, Freq, census, chao1};

use common::gap;
use pktsample_schemas::{
    CaptureMetadata, Direction, DirectionStats, InterfaceMeta, SampleBatchBuilder, SampleRow,
    SampleWriter, Source,
};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;

const RUNS: u64 = 300;
const RATES: [u32; 4] = [1, 10, 100, 1000];

/// Packets per host: Zipf over `zipf` hosts, then `scanners` of one packet.
fn population(zipf: u32, scanners: u32) -> Vec<u64> {
    let mut v: Vec<u64> = (1..=zipf)
        .map(|r| ((200_000.0 / f64::from(r).powf(1.2)) as u64).max(2))
        .collect();
    v.extend(std::iter::repeat_n(1, scanners as usize));
    v
}

/// Samples per host of one run, hosts' packets one after another.
fn sample(hosts: &[u64], rate: u32, seed: u64) -> Vec<u64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut counts = vec![0u64; hosts.len()];
    let (mut h, mut end) = (0usize, hosts[0]);
    let total: u64 = hosts.iter().sum();
    let mut i = gap(&mut rng, rate);
    while i < total {
        while i >= end {
            h += 1;
            end += hosts[h];
        }
        counts[h] += 1;
        i += 1 + gap(&mut rng, rate);
    }
    counts
}

fn freq(counts: &[u64]) -> Freq {
    let mut f = Freq::default();
    counts.iter().for_each(|&k| f.add(k));
    f
}

/// The estimate as analyze makes it: a census at rate 1.
fn estimate(f: &Freq, rate: u32) -> Chao1 {
    if rate == 1 { census(f) } else { chao1(f, rate) }
}

#[derive(Default)]
struct Point {
    covered: u64,
    flagged: u64,
    unflagged_covered: u64,
    width: f64,
    estimate: f64,
    singletons: f64,
}

#[test]
fn chao1_covers_where_it_is_not_flagged() {
    use rayon::prelude::*;
    let mut failures = Vec::new();
    println!(
        "| Zipf hosts | scanners | rate | hosts | seen (mean) | estimate (mean) | coverage | flagged | coverage unflagged | width/true | f1/d (mean) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (zipf, scanners) in [
        (2_000u32, 0u32),
        (2_000, 200),
        (2_000, 2_000),
        (20_000, 0),
        (20_000, 20_000),
    ] {
        let hosts = population(zipf, scanners);
        let truth = hosts.len() as f64;
        for rate in RATES {
            let runs: Vec<Chao1> = (0..RUNS)
                .into_par_iter()
                .map(|run| {
                    let seed = run * 7_919 + u64::from(rate) * 104_729 + u64::from(scanners + zipf);
                    estimate(&freq(&sample(&hosts, rate, seed)), rate)
                })
                .collect();
            let mut p = Point::default();
            let mut seen = 0.0;
            for c in &runs {
                assert!(c.seen as f64 <= truth, "the floor is above the truth");
                if rate == 1 {
                    assert_eq!((c.estimate, c.low, c.high), (truth, truth, truth));
                }
                let cov = c.low <= truth && truth <= c.high;
                p.covered += u64::from(cov);
                p.flagged += u64::from(c.unreliable);
                p.unflagged_covered += u64::from(cov && !c.unreliable);
                p.width += (c.high - c.low) / truth;
                p.estimate += c.estimate;
                p.singletons += c.singletons as f64 / c.seen.max(1) as f64;
                seen += c.seen as f64;
            }
            let unflagged = RUNS - p.flagged;
            let pc = |x: u64, of: u64| {
                if of == 0 {
                    "–".to_string()
                } else {
                    format!("{:.1} %", 100.0 * x as f64 / of as f64)
                }
            };
            println!(
                "| {zipf} | {scanners} | {rate} | {truth} | {:.0} | {:.0} | {} | {} | {} | {:.2} | {:.2} |",
                seen / RUNS as f64,
                p.estimate / RUNS as f64,
                pc(p.covered, RUNS),
                pc(p.flagged, RUNS),
                pc(p.unflagged_covered, unflagged),
                p.width / RUNS as f64,
                p.singletons / RUNS as f64
            );
            let what = format!("{zipf} Zipf hosts, {scanners} scanners, rate {rate}");
            if unflagged >= 20 && clopper_pearson(p.unflagged_covered, unflagged).1 < 0.90 {
                failures.push(format!(
                    "{what}: unflagged coverage {}",
                    pc(p.unflagged_covered, unflagged)
                ));
            }
            // Unflagged, the interval says something: narrower than the truth.
            if rate > 1 && p.flagged == 0 && p.width / RUNS as f64 > 1.0 {
                failures.push(format!("{what}: unflagged, yet wider than the truth"));
            }
            if clopper_pearson(p.covered, RUNS).1 < 0.90 && 2 * p.flagged < RUNS {
                failures.push(format!(
                    "{what}: coverage {} but flagged in {}",
                    pc(p.covered, RUNS),
                    pc(p.flagged, RUNS)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One run written as real samples (each host a source address, one
/// destination) and read back by analyze: its frequencies of the sources
/// are the simulation's, and the estimate is the estimator's.
#[test]
fn analyze_counts_what_was_sampled() {
    let dir = common::tmpdir();
    let prefixes = dir.path().join("prefixes.dat");
    std::fs::write(&prefixes, "198.18.0.0/16\t64500\n192.0.2.0/24\t64501\n").unwrap();
    let asn = std::sync::Arc::new(pktsample_asn::AsDb::load(&[prefixes]).unwrap());
    let hosts = population(2_000, 500);
    for rate in [1u32, 100] {
        let counts = sample(&hosts, rate, 42);
        let want = estimate(&freq(&counts), rate);
        let out = dir.path().join(format!("r{rate}.parquet"));
        write(&counts, &hosts, rate, &out);
        let q = common::query(
            vec![out.clone()],
            Sections::DEFAULT.without_k8s(),
            Some(asn.clone()),
            None,
        );
        let a = pktsample_analyze::run(&q, &|_| {}).unwrap();
        let r = pktsample_analyze::report(&a, 10).unwrap();
        let rows = r.distinct_hosts.expect("distinct hosts");
        let got = |hosts: &str| {
            rows.iter()
                .find(|h| h.hosts == hosts && h.ip_version == 4)
                .unwrap()
                .c
        };
        assert_eq!(got("sources"), want, "rate {rate}");
        // Ingress: the sources are the remote hosts.
        assert_eq!(got("remote"), want, "rate {rate}");
        // One destination besides them.
        assert_eq!(got("any").seen, want.seen + 1);
        // Per AS: every source is in AS64500, and they are remote.
        for rows in [&r.source_as, &r.remote_as] {
            let row = rows
                .as_ref()
                .unwrap()
                .iter()
                .find(|x| x.origin.asn == Some(64500));
            assert_eq!(row.unwrap().hosts, Some(want), "rate {rate}");
        }
        let dst = r.destination_as.as_ref().unwrap();
        let one = dst.iter().find(|x| x.origin.asn == Some(64501)).unwrap();
        assert_eq!(one.hosts.unwrap().seen, 1);
        if rate == 1 {
            assert_eq!(want.estimate, hosts.len() as f64);
        }
    }
}

/// Samples `counts[h]` of host h (198.18.x.y by index) to one destination.
fn write(counts: &[u64], hosts: &[u64], rate: u32, out: &std::path::Path) {
    let mut b = SampleBatchBuilder::new();
    let mut n = 0u64;
    for (h, &k) in counts.iter().enumerate() {
        let src = [198, 18, (h >> 8) as u8, h as u8];
        let mut hdr = vec![2, 0, 0x5e, 0, 0x53, 2, 2, 0, 0x5e, 0, 0x53, 1, 8, 0];
        hdr.extend_from_slice(&[0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        hdr.extend_from_slice(&src);
        hdr.extend_from_slice(&[192, 0, 2, 1]);
        hdr.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 26, 0, 0]);
        for _ in 0..k {
            b.push(&SampleRow {
                timestamp_ns: 1_700_000_000_000_000_000 + n as i64,
                ifindex: 1,
                ifname: "eth0",
                direction: Direction::Ingress,
                sampling_rate: rate,
                pkt_len: 60,
                header: &hdr,
                link_type: 1,
                ingress_ifindex: Some(1),
                routed_ifindex: None,
            });
            n += 1;
        }
    }
    let mut meta = CaptureMetadata::new(
        Source::Replay {
            input: "population".into(),
            seed: 42,
            sampling_rate: rate,
        },
        128,
    );
    meta.interfaces.push(InterfaceMeta {
        ifindex: 1,
        name: "eth0".into(),
        mac: None,
        mtu: None,
        sampling_rate: rate,
        link_type: 1,
        shared_pool: false,
        directions: BTreeMap::from([(
            Direction::Ingress,
            DirectionStats {
                packets_seen: hosts.iter().sum(),
                samples: n,
                drops: 0,
            },
        )]),
    });
    meta.set_time_range(
        Some(1_700_000_000_000_000_000),
        Some(1_700_000_001_000_000_000),
    );
    let mut w = SampleWriter::create(out, true, &meta).unwrap();
    w.write(&b.finish()).unwrap();
    w.finish(&meta).unwrap();
}
