//! Estimators and confidence intervals for sampled traffic.
//!
//! Every sample belongs to a stratum: one file, interface, direction and
//! sampling rate. Within a stratum the sampler took each packet independently
//! with probability 1/N, so, given the number of samples written `n`, they are
//! a simple random sample of the `M` packets seen.
//!
//! - When the metadata gives the exact pool `M` (`packets_seen`), a subset's
//!   total is estimated with the ratio estimator `M/n · Σz` and the variance
//!   `M²(1 − n/M) s²/n` of simple random sampling without replacement (`s²`
//!   the sample variance of `z` over the stratum's `n` samples). Totals over
//!   the whole stratum are then exact, and samples lost to drops do not bias
//!   anything (they are missing at random).
//! - Otherwise, Horvitz–Thompson with weight `N`: `N·Σz`, variance
//!   `N(N−1)·Σz²` (Bernoulli sampling).
//!
//! Strata are independent, so estimates and variances add. Intervals are 95 %:
//! for a count from one stratum, exact (Clopper–Pearson for a known pool,
//! Garwood's Poisson interval otherwise); for sums over several strata and
//! for bytes, normal, never below what was observed; for shares, Wilson's
//! score interval on the effective sample size (never outside [0, 1], never
//! of zero width while the share is uncertain).

use serde::Serialize;
use statrs::distribution::{Beta, ChiSquared, ContinuousCDF};

/// z for a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;
const ALPHA: f64 = 0.05;

/// Sums over the samples of one stratum that fall in one group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    /// Samples.
    pub n: u64,
    /// Σ pkt_len.
    pub bytes: u64,
    /// Σ pkt_len².
    pub bytes2: u64,
}

impl Cell {
    #[inline]
    pub fn add(&mut self, len: u32) {
        let l = len as u64;
        self.n += 1;
        self.bytes += l;
        self.bytes2 += l * l;
    }

    #[inline]
    pub fn merge(&mut self, o: &Cell) {
        self.n += o.n;
        self.bytes += o.bytes;
        self.bytes2 += o.bytes2;
    }
}

/// How a stratum's samples scale to the traffic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Design {
    /// Samples written in the stratum (before any time filter).
    pub n: u64,
    /// The exact pool, when the metadata has it.
    pub pool: Option<u64>,
    /// 1-in-N.
    pub rate: u32,
}

/// An estimate with its variance, additive over strata.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Est {
    pub value: f64,
    pub var: f64,
    /// Samples behind it.
    pub n: u64,
    /// What was observed directly (a floor for the interval).
    pub observed: f64,
    /// Strata contributing; `single` describes the only one when there is one.
    pub strata: u32,
    pub single: Option<Design>,
}

impl Est {
    pub fn add(&mut self, o: &Est) {
        self.value += o.value;
        self.var += o.var;
        self.n += o.n;
        self.observed += o.observed;
        self.single = match (self.strata, o.strata) {
            (0, _) => o.single,
            (_, 0) => self.single,
            _ => None,
        };
        self.strata += o.strata;
    }
}

/// Estimate of a subset total from one stratum: `sum`/`sum2` are Σz and Σz²
/// over the stratum's samples in the subset, `n` how many those are.
pub fn stratum_total(d: &Design, n: u64, sum: f64, sum2: f64) -> Est {
    if d.n == 0 || n == 0 {
        return Est {
            strata: 1,
            single: Some(*d),
            ..Default::default()
        };
    }
    let (value, var) = match d.pool {
        Some(m) if m >= d.n => {
            let (m, nh) = (m as f64, d.n as f64);
            let value = m / nh * sum;
            let var = if d.n > 1 {
                let s2 = ((sum2 - sum * sum / nh) / (nh - 1.0)).max(0.0);
                m * m * (1.0 - nh / m) * s2 / nh
            } else {
                // One sample: no spread to measure; fall back to Bernoulli.
                let w = m;
                w * (w - 1.0) * sum2
            };
            (value, var)
        }
        _ => {
            let w = d.rate as f64;
            (w * sum, w * (w - 1.0) * sum2)
        }
    };
    Est {
        value,
        var,
        n,
        observed: sum,
        strata: 1,
        single: Some(*d),
    }
}

/// Packets of a group in one stratum.
pub fn packets(d: &Design, c: &Cell) -> Est {
    stratum_total(d, c.n, c.n as f64, c.n as f64)
}

/// Bytes of a group in one stratum.
pub fn bytes(d: &Design, c: &Cell) -> Est {
    stratum_total(d, c.n, c.bytes as f64, c.bytes2 as f64)
}

/// A 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// Snap a float that is an integer up to rounding error (M/n·c sums) to it,
/// so an exact count prints as 177, not 177.00000000000003.
fn tidy(x: f64) -> f64 {
    let r = x.round();
    if (x - r).abs() <= 1e-9 * x.abs().max(1.0) {
        r
    } else {
        x
    }
}

impl Interval {
    fn tidy(self) -> Interval {
        Interval {
            estimate: tidy(self.estimate),
            low: tidy(self.low),
            high: tidy(self.high),
        }
    }

    pub fn exact(v: f64) -> Interval {
        Interval {
            estimate: v,
            low: v,
            high: v,
        }
    }

    pub fn scale(&self, k: f64) -> Interval {
        Interval {
            estimate: self.estimate * k,
            low: self.low * k,
            high: self.high * k,
        }
    }
}

/// Clopper–Pearson interval for a binomial proportion x/n.
pub fn clopper_pearson(x: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (xf, nf) = (x as f64, n as f64);
    let lo = if x == 0 {
        0.0
    } else {
        Beta::new(xf, nf - xf + 1.0)
            .map(|b| b.inverse_cdf(ALPHA / 2.0))
            .unwrap_or(0.0)
    };
    let hi = if x == n {
        1.0
    } else {
        Beta::new(xf + 1.0, nf - xf)
            .map(|b| b.inverse_cdf(1.0 - ALPHA / 2.0))
            .unwrap_or(1.0)
    };
    (lo, hi)
}

/// Garwood's exact interval for a Poisson mean from a count x.
pub fn garwood(x: u64) -> (f64, f64) {
    let xf = x as f64;
    let lo = if x == 0 {
        0.0
    } else {
        ChiSquared::new(2.0 * xf)
            .map(|c| c.inverse_cdf(ALPHA / 2.0) / 2.0)
            .unwrap_or(0.0)
    };
    let hi = ChiSquared::new(2.0 * xf + 2.0)
        .map(|c| c.inverse_cdf(1.0 - ALPHA / 2.0) / 2.0)
        .unwrap_or(f64::INFINITY);
    (lo, hi)
}

/// Interval for an estimated packet count.
pub fn packet_interval(e: &Est) -> Interval {
    packet_interval_raw(e).tidy()
}

fn packet_interval_raw(e: &Est) -> Interval {
    if e.var <= 0.0 {
        return Interval::exact(e.value);
    }
    if e.strata == 1
        && let Some(d) = e.single
    {
        match d.pool {
            Some(m) if m >= d.n && d.n > 0 => {
                let (lo, hi) = clopper_pearson(e.n, d.n);
                return Interval {
                    estimate: e.value,
                    low: (lo * m as f64).max(e.observed),
                    high: hi * m as f64,
                };
            }
            _ => {
                let (lo, hi) = garwood(e.n);
                let w = d.rate as f64;
                return Interval {
                    estimate: e.value,
                    low: (lo * w).max(e.observed),
                    high: hi * w,
                };
            }
        }
    }
    normal(e)
}

fn normal(e: &Est) -> Interval {
    let half = Z95 * e.var.max(0.0).sqrt();
    Interval {
        estimate: e.value,
        low: (e.value - half).max(e.observed),
        high: e.value + half,
    }
}

/// Interval for estimated bytes; `pk` is the same group's packet estimate,
/// whose exact relative bounds widen the normal interval when samples are
/// few (the normal approximation is poor there).
pub fn byte_interval(e: &Est, pk: &Est) -> Interval {
    byte_interval_raw(e, pk).tidy()
}

fn byte_interval_raw(e: &Est, pk: &Est) -> Interval {
    let n = normal(e);
    if e.var <= 0.0 {
        return n;
    }
    if pk.n < 30 && pk.value > 0.0 {
        let p = packet_interval(pk);
        let (rl, rh) = (p.low / pk.value, p.high / pk.value);
        return Interval {
            estimate: e.value,
            low: n.low.min(e.value * rl).max(e.observed),
            high: n.high.max(e.value * rh),
        };
    }
    n
}

/// Wilson score interval for proportion p with (effective) sample size n.
pub fn wilson(p: f64, n: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Sums for a share y/x where the numerator's samples are a subset of the
/// denominator's, from one stratum: (Σx, Σx², Σy, Σy², samples in x).
#[derive(Clone, Copy, Debug, Default)]
pub struct ShareSums {
    pub x: f64,
    pub x2: f64,
    pub y: f64,
    pub y2: f64,
    pub nx: u64,
}

/// The share Y/X over strata with a Wilson interval on the effective sample
/// size (variance by linearisation: z = y − R·x, with Σxy = Σy² because y is
/// x restricted to a subset).
pub fn share(parts: &[(Design, ShareSums)]) -> Interval {
    let (mut xt, mut yt, mut n) = (0.0, 0.0, 0u64);
    for (d, s) in parts {
        xt += stratum_total(d, s.nx, s.x, s.x2).value;
        yt += stratum_total(d, s.nx, s.y, s.y2).value;
        n += s.nx;
    }
    if xt <= 0.0 {
        return Interval {
            estimate: 0.0,
            low: 0.0,
            high: 1.0,
        };
    }
    let r = yt / xt;
    // Variance of the estimated Y − R·X, i.e. of Σ z with z = y − R x.
    let mut var = 0.0;
    for (d, s) in parts {
        let sz = s.y - r * s.x;
        let sz2 = s.y2 - 2.0 * r * s.y2 + r * r * s.x2;
        var += stratum_total(d, s.nx, sz, sz2.max(0.0)).var;
    }
    let var_r = var / (xt * xt);
    let n_eff = if var_r > 0.0 && r > 0.0 && r < 1.0 {
        (r * (1.0 - r) / var_r).min(n as f64 * 1e6)
    } else {
        n as f64
    };
    if var <= 0.0
        && parts
            .iter()
            .all(|(d, _)| matches!(d.pool, Some(m) if m == d.n))
    {
        // Every packet was seen (rate 1 with exact pools): no uncertainty.
        return Interval::exact(r);
    }
    let (lo, hi) = wilson(r, n_eff);
    Interval {
        estimate: r,
        low: lo.min(r),
        high: hi.max(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_known_values() {
        // Independent values: bisection on the binomial tails,
        // P(X >= 5 | 20, lo) = 0.025 and P(X <= 5 | 20, hi) = 0.025.
        let (lo, hi) = clopper_pearson(5, 20);
        assert!((lo - 0.086_571_469).abs() < 1e-8, "{lo}");
        assert!((hi - 0.491_045_872).abs() < 1e-8, "{hi}");
        assert_eq!(clopper_pearson(0, 10).0, 0.0);
        assert_eq!(clopper_pearson(10, 10).1, 1.0);
    }

    #[test]
    fn garwood_known_values() {
        // Independent values: lo = -ln(0.975); hi solves e^-u (1 + u) = 0.025.
        let (lo, hi) = garwood(1);
        assert!((lo - 0.02531781).abs() < 1e-6, "{lo}");
        assert!((hi - 5.57164339).abs() < 1e-6, "{hi}");
        let (lo0, hi0) = garwood(0);
        assert_eq!(lo0, 0.0);
        assert!((hi0 - 3.688879).abs() < 1e-5, "{hi0}");
    }

    #[test]
    fn wilson_stays_in_range_and_has_width() {
        let (lo, hi) = wilson(0.0, 1.0);
        assert_eq!(lo, 0.0);
        assert!(hi > 0.5);
        let (lo, hi) = wilson(1.0, 3.0);
        assert!(lo > 0.0 && lo < 1.0 && hi == 1.0);
        // R: prop.test(30, 100, correct = FALSE)$conf.int = 0.2189489 0.3958485
        let (lo, hi) = wilson(0.3, 100.0);
        assert!((lo - 0.2189489).abs() < 1e-6 && (hi - 0.3958485).abs() < 1e-6);
    }

    #[test]
    fn ratio_estimator_is_exact_for_the_whole_pool() {
        let d = Design {
            n: 100,
            pool: Some(10_000),
            rate: 100,
        };
        let c = Cell {
            n: 100,
            bytes: 0,
            bytes2: 0,
        };
        let e = packets(&d, &c);
        assert_eq!(e.value, 10_000.0);
        assert_eq!(e.var, 0.0);
        assert_eq!(packet_interval(&e), Interval::exact(10_000.0));
    }

    #[test]
    fn horvitz_thompson_without_pool() {
        let d = Design {
            n: 10,
            pool: None,
            rate: 10,
        };
        let mut c = Cell::default();
        for _ in 0..10 {
            c.add(100);
        }
        let e = packets(&d, &c);
        assert_eq!(e.value, 100.0);
        assert_eq!(e.var, 10.0 * 9.0 * 10.0);
        let i = packet_interval(&e);
        assert!(i.low >= 10.0 && i.low < 100.0 && i.high > 100.0);
        let b = bytes(&d, &c);
        assert_eq!(b.value, 10_000.0);
    }

    #[test]
    fn single_sample_interval_has_width_and_no_negative_bound() {
        let d = Design {
            n: 50,
            pool: Some(5000),
            rate: 100,
        };
        let c = Cell {
            n: 1,
            bytes: 60,
            bytes2: 3600,
        };
        let p = packet_interval(&packets(&d, &c));
        assert!(p.low >= 1.0 && p.high > p.estimate && p.estimate == 100.0);
        let b = byte_interval(&bytes(&d, &c), &packets(&d, &c));
        assert!(b.low >= 60.0 && b.high > b.estimate);
    }
}
