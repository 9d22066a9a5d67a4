//! Coverage and width of the 95 % intervals of one group's packets and
//! bytes, by seeded simulation at the estimator level: a fixed population
//! (a group that is a tenth of its stratum), Bernoulli 1-in-N sampling, the
//! report's estimators and intervals. Prints a Markdown table (for
//! docs/statistics.md). Runs where the group got no sample are counted
//! apart (the report has no row for them).
//!
//! `cargo run --release -p pktsample-analyze --example interval_grid [RUNS]`

use pktsample_analyze::stats::{
    Cell, Design, Est, Interval, byte_interval, bytes, packet_interval, packets,
};
use statrs::distribution::{ContinuousCDF, Gamma};

/// The candidate for issue 15, measured beside today's interval: Fay &
/// Feuer's gamma interval for weighted Poisson sums, its added weight `w`
/// being the largest weight one sample can carry (the weight of a sample
/// times the largest frame of the stratum).
fn gamma_interval(e: &Est, w: f64) -> Interval {
    let (t, v) = (e.value, e.var.max(0.0));
    let q = |shape: f64, scale: f64, p: f64| {
        Gamma::new(shape, 1.0 / scale)
            .map(|g| g.inverse_cdf(p))
            .unwrap_or(f64::NAN)
    };
    let low = if t > 0.0 && v > 0.0 {
        q(t * t / v, v / t, 0.025).max(e.observed)
    } else {
        t
    };
    let high = q(
        (t + w) * (t + w) / (v + w * w),
        (v + w * w) / (t + w),
        0.975,
    );
    Interval {
        estimate: t,
        low,
        high: high.max(t),
    }
}

/// xorshift64*: a fast seeded generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Packets skipped before the next one taken at 1-in-n.
    fn gap(&mut self, n: u32) -> u64 {
        if n == 1 {
            return 0;
        }
        let p = 1.0 / n as f64;
        ((1.0 - self.unit()).ln() / (1.0 - p).ln()).floor() as u64
    }
}

fn sizes(kind: &str, g: usize, r: &mut Rng) -> Vec<u32> {
    (0..g)
        .map(|_| {
            let u = r.unit();
            match kind {
                "constant" => 1000,
                "mixed" => {
                    if u < 0.6 {
                        64
                    } else if u < 0.75 {
                        576
                    } else {
                        1500
                    }
                }
                _ => {
                    if u < 0.7 {
                        64
                    } else if u < 0.95 {
                        1500
                    } else {
                        9000
                    }
                }
            }
        })
        .collect()
}

fn main() {
    let runs: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400);
    println!(
        "| rate | sizes | samples | pool | packets cov | bytes cov | bytes width/true | no sample |"
    );
    println!("|---:|---|---:|---|---:|---:|---:|---:|");
    for rate in [10u32, 100, 1000] {
        for kind in ["constant", "mixed", "jumbo"] {
            for k in [2u64, 10, 30, 100, 1000] {
                let mut r = Rng(0x9e37_79b9_7f4a_7c15 ^ (rate as u64 * 1_000_003 + k));
                let g = (k * rate as u64) as usize;
                let pop = sizes(kind, g, &mut r);
                let truth_b: f64 = pop.iter().map(|&s| s as f64).sum();
                let largest = f64::from(*pop.iter().max().unwrap_or(&0));
                let m = g as u64 * 10;
                for pool in [true, false] {
                    let (mut cg, mut wg) = (0u64, 0.0);
                    let (mut cp, mut cb, mut w, mut used, mut empty) =
                        (0u64, 0u64, 0.0, 0u64, 0u64);
                    for _ in 0..runs {
                        let mut c = Cell::default();
                        let mut i = r.gap(rate);
                        while (i as usize) < g {
                            c.add(pop[i as usize]);
                            i += 1 + r.gap(rate);
                        }
                        let mut rest = 0u64;
                        let mut j = r.gap(rate);
                        while j < m - g as u64 {
                            rest += 1;
                            j += 1 + r.gap(rate);
                        }
                        if c.n == 0 {
                            empty += 1;
                            continue;
                        }
                        let d = Design {
                            n: c.n + rest,
                            pool: pool.then_some(m),
                            rate,
                        };
                        let (pe, be) = (packets(&d, &c), bytes(&d, &c));
                        let (pi, bi) = (packet_interval(&pe), byte_interval(&be, &pe));
                        cp += u64::from(pi.low <= g as f64 && g as f64 <= pi.high);
                        cb += u64::from(bi.low <= truth_b && truth_b <= bi.high);
                        w += (bi.high - bi.low) / truth_b;
                        let weight = if pool {
                            m as f64 / d.n as f64
                        } else {
                            rate as f64
                        };
                        let gi = gamma_interval(&be, weight * largest);
                        cg += u64::from(gi.low <= truth_b && truth_b <= gi.high);
                        wg += (gi.high - gi.low) / truth_b;
                        used += 1;
                    }
                    let pct = |x: u64| 100.0 * x as f64 / used.max(1) as f64;
                    println!(
                        "| {rate} | {kind} | {k} | {} | {:.1} % | {:.1} % | {:.2} | {:.1} % | {:.2} | {:.1} % |",
                        if pool { "exact" } else { "HT" },
                        pct(cp),
                        pct(cb),
                        w / used.max(1) as f64,
                        pct(cg),
                        wg / used.max(1) as f64,
                        100.0 * empty as f64 / runs as f64
                    );
                }
            }
        }
    }
}
