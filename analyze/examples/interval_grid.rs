//! Coverage and width of the 95 % intervals of one group's packets and
//! bytes, by seeded simulation at the estimator level: a fixed population,
//! Bernoulli 1-in-N sampling, the report's estimators and intervals. Prints
//! a Markdown table (for docs/statistics.md).
//!
//! Two kinds of group: `like` is a tenth of its stratum drawn with the
//! stratum's sizes (a protocol, an address, a time bucket); `small` holds
//! only 64-byte frames in a stratum of the same mix (ARP, TCP ACKs), to
//! show the width where a group differs from its stratum. Runs where the
//! group got no sample use the report's zero row (0 with an upper bound).
//!
//! `cargo run --release -p pktsample-analyze --example interval_grid [RUNS]`

use pktsample_analyze::engine::SIZE_CLASSES;
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

use pktsample_analyze::stats::{
    Cell, Design, Est, byte_interval, bytes, largest_frame, packet_interval, packets,
};

/// A uniform draw in [0, 1).
fn unit(r: &mut Xoshiro256PlusPlus) -> f64 {
    (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Packets skipped before the next one taken at 1-in-n (geometric: the
/// same Bernoulli sampling as drawing for every packet, one draw a sample).
fn gap(r: &mut Xoshiro256PlusPlus, n: u32) -> u64 {
    if n == 1 {
        return 0;
    }
    let p = 1.0 / f64::from(n);
    ((1.0 - unit(r)).ln() / (1.0 - p).ln()).floor() as u64
}

fn size(kind: &str, r: &mut Xoshiro256PlusPlus) -> u32 {
    let u = unit(r);
    match kind {
        "constant" => 1000,
        "mixed" if u < 0.6 => 64,
        "mixed" if u < 0.75 => 576,
        "mixed" => 1500,
        _ if u < 0.7 => 64,
        _ if u < 0.95 => 1500,
        _ => 9000,
    }
}

fn class(len: u32) -> usize {
    SIZE_CLASSES
        .iter()
        .position(|(lo, hi)| (*lo..=*hi).contains(&len))
        .unwrap_or(SIZE_CLASSES.len() - 1)
}

#[derive(Default)]
struct Tally {
    used: u64,
    packets: u64,
    bytes: u64,
    width: f64,
    empty: u64,
}

fn main() {
    let runs: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400);
    println!(
        "| rate | sizes | group | samples | pool | packets cov | bytes cov | bytes width/true | no sample |"
    );
    println!("|---:|---|---|---:|---|---:|---:|---:|---:|");
    for rate in [10u32, 100, 1000] {
        for kind in ["constant", "mixed", "jumbo"] {
            for group in ["like", "small"] {
                if group == "small" && kind == "constant" {
                    continue;
                }
                for k in [1u64, 3, 10, 30, 100, 1000] {
                    line(rate, kind, group, k, runs);
                }
            }
        }
    }
}

fn line(rate: u32, kind: &str, group: &str, k: u64, runs: u64) {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(rate as u64 * 1_000_003 + k);
    let g = (k * rate as u64) as usize;
    let m = g * 10;
    // The stratum: the group first, then the rest.
    let pop: Vec<u32> = (0..m)
        .map(|i| {
            if i < g && group == "small" {
                64
            } else {
                size(kind, &mut r)
            }
        })
        .collect();
    let truth_b: f64 = pop[..g].iter().map(|&s| s as f64).sum();
    for pool in [true, false] {
        let mut t = Tally::default();
        for _ in 0..runs {
            let (mut c, mut sizes) = (Cell::default(), [Cell::default(); SIZE_CLASSES.len()]);
            let mut rows = 0u64;
            let mut i = gap(&mut r, rate) as usize;
            while i < m {
                if i < g {
                    c.add(pop[i]);
                }
                sizes[class(pop[i])].add(pop[i]);
                rows += 1;
                i += 1 + gap(&mut r, rate) as usize;
            }
            let d = Design {
                n: rows,
                pool: pool.then_some(m as u64),
                rate,
            };
            let largest = largest_frame(&c, &SIZE_CLASSES, &sizes, u32::MAX);
            let (pe, be): (Est, Est) = (packets(&d, &c), bytes(&d, &c, largest));
            let (pi, bi) = (packet_interval(&pe), byte_interval(&be));
            t.empty += u64::from(c.n == 0);
            t.packets += u64::from(pi.low <= g as f64 && g as f64 <= pi.high);
            t.bytes += u64::from(bi.low <= truth_b && truth_b <= bi.high);
            t.width += (bi.high - bi.low) / truth_b;
            t.used += 1;
        }
        let pct = |x: u64| 100.0 * x as f64 / t.used.max(1) as f64;
        println!(
            "| {rate} | {kind} | {group} | {k} | {} | {:.1} % | {:.1} % | {:.2} | {:.1} % |",
            if pool { "exact" } else { "HT" },
            pct(t.packets),
            pct(t.bytes),
            t.width / t.used.max(1) as f64,
            pct(t.empty),
        );
    }
}
