//! How many hosts: Chao1's lower-bound estimate of distinct addresses from
//! the sampled counts, with its log-normal 95 % interval.
//!
//! Under Bernoulli 1-in-N sampling a host with `p` packets gets a
//! Poisson(p/N) number of samples, so the hosts' sample counts are a
//! Poisson mixture, and the hosts never sampled are estimated from those
//! sampled once (`f1`) and twice (`f2`): Chao (1984, 1987), in the
//! bias-corrected form and with the variance and interval of Chao (2005,
//! "Species estimation and applications", and EstimateS's user guide).
//! Chao1 is a lower bound in expectation, and its own upper end fails on
//! heavy-tailed traffic (one-packet scanners among Zipf-sized hosts), so
//! the high end here comes from the known sampling rate instead
//! ([`unseen_bound`]). With many hosts seen once (`f1/d` high) no
//! estimator does well (Charikar, Chaudhuri, Motwani and Narasayya 2000;
//! Haas and Stokes 1998), and the estimate is flagged
//! ([`UNRELIABLE_SINGLETONS`]).

use serde::Serialize;

use super::Z95;

/// Frequency counts of one population of addresses: hosts seen, seen once,
/// seen twice, and samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Freq {
    pub d: u64,
    pub f1: u64,
    pub f2: u64,
    pub n: u64,
}

impl Freq {
    /// One host with `k` samples (none: nothing).
    #[inline]
    pub fn add(&mut self, k: u64) {
        if k == 0 {
            return;
        }
        self.d += 1;
        self.f1 += u64::from(k == 1);
        self.f2 += u64::from(k == 2);
        self.n += k;
    }

    pub fn merge(&mut self, o: &Freq) {
        self.d += o.d;
        self.f1 += o.f1;
        self.f2 += o.f2;
        self.n += o.n;
    }
}

/// Above this share of hosts seen once, the estimate is flagged: the
/// sample says little about the hosts it missed, and the interval, which
/// still covers, is many times the truth wide. Calibrated by the seeded
/// simulation in `tests/distinct.rs` (docs/statistics.md, "How many
/// hosts"): where it stays below, f1/d was at most 0.16 and the interval
/// at most 0.8 of the truth wide; where it is above, from 0.5 up, 1.1 to
/// 96 times.
pub const UNRELIABLE_SINGLETONS: f64 = 0.25;

/// The estimate of distinct hosts and what it rests on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Chao1 {
    /// Hosts seen: a hard floor.
    pub seen: u64,
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    pub singletons: u64,
    pub doubletons: u64,
    pub samples: u64,
    /// Good–Turing: the share of the traffic (by packets) from hosts no
    /// sample shows, `f1/n`.
    pub unseen_traffic_share: f64,
    /// `f1/d` above [`UNRELIABLE_SINGLETONS`].
    pub unreliable: bool,
}

/// A census (every packet sampled): the hosts seen are all there are.
pub fn census(f: &Freq) -> Chao1 {
    Chao1 {
        seen: f.d,
        estimate: f.d as f64,
        low: f.d as f64,
        high: f.d as f64,
        singletons: f.f1,
        doubletons: f.f2,
        samples: f.n,
        unseen_traffic_share: 0.0,
        unreliable: false,
    }
}

/// Chao1 with its interval at sampling rate 1-in-`rate` (the largest of
/// the report's strata): the low end Chao1's log-normal one, never below
/// what was seen; the high end from the rate ([`unseen_bound`]), since
/// Chao1's own high end assumes what heavy-tailed traffic breaks.
pub fn chao1(f: &Freq, rate: u32) -> Chao1 {
    let (d, f1, f2, n) = (f.d as f64, f.f1 as f64, f.f2 as f64, f.n as f64);
    let base = census(f);
    if f.n == 0 {
        return base;
    }
    let k = (n - 1.0) / n;
    let (est, var) = if f.f2 > 0 {
        let r = f1 / f2;
        let est = d + k * f1 * f1 / (2.0 * f2);
        let var = f2 * (k * r * r / 2.0 + k * k * r.powi(3) + k * k * r.powi(4) / 4.0);
        (est, var)
    } else {
        let est = d + k * f1 * (f1 - 1.0) / 2.0;
        let var = k * f1 * (f1 - 1.0) / 2.0 + k * k * f1 * (2.0 * f1 - 1.0).powi(2) / 4.0
            - k * k * f1.powi(4) / (4.0 * est);
        (est, var.max(0.0))
    };
    let t = est - d;
    // The log-normal low end (Chao 1987); none above the floor without
    // a host seen once.
    let low = if t > 0.0 && var > 0.0 {
        d + t / (Z95 * (1.0 + var / (t * t)).ln().sqrt()).exp()
    } else {
        d
    };
    let high = d + unseen_bound(f.f1, rate);
    // Chao1 above the bound (many hosts seen once, few twice): the
    // estimate is the bound, and the low end keeps its place relative to
    // it.
    let (est, low) = if est > high {
        (high, d + (low - d) * (high - d) / (est - d))
    } else {
        (est, low)
    };
    Chao1 {
        estimate: est,
        low: low.max(d),
        high,
        unseen_traffic_share: f1 / n,
        unreliable: f1 / d > UNRELIABLE_SINGLETONS,
        ..base
    }
}

/// A 97.5 % upper bound on the hosts no sample shows, from those seen once
/// (`f1`) at 1-in-`rate`. A host of `p` packets goes unseen with chance
/// (1 − q)^p and is seen once with p·q·(1 − q)^(p−1), q = 1/rate: the
/// ratio (rate − 1)/p is at most rate − 1, every host having a packet. So
/// `E[f0] ≤ (rate − 1)·E[f1]` whatever the hosts' sizes; with f1 at
/// Garwood's upper bound, the margin exceeds two standard deviations of
/// f0 as well. Sampling knows its rate, which species counts do not.
pub fn unseen_bound(f1: u64, rate: u32) -> f64 {
    let r = f64::from(rate.max(1)) - 1.0;
    r * super::garwood(f1).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chao1_of_known_counts() {
        // 10 hosts: 4 seen once, 2 twice, 4 three times: n = 4 + 4 + 12
        // (f1/d = 0.4: flagged).
        let mut f = Freq::default();
        for k in [1, 1, 1, 1, 2, 2, 3, 3, 3, 3] {
            f.add(k);
        }
        assert_eq!((f.d, f.f1, f.f2, f.n), (10, 4, 2, 20));
        let c = chao1(&f, 100);
        // d + (n−1)/n · f1²/(2 f2) = 10 + 0.95 · 4.
        assert!((c.estimate - 13.8).abs() < 1e-12);
        assert!(c.low >= 10.0 && c.low < c.estimate && c.high > c.estimate);
        assert!((c.unseen_traffic_share - 0.2).abs() < 1e-12);
        assert!(c.unreliable);
        // The high end: 99 unseen per host seen once, at most.
        assert!((c.high - (10.0 + 99.0 * crate::stats::garwood(4).1)).abs() < 1e-9);
        // Every host seen once: flagged, the bias-corrected form.
        let mut s = Freq::default();
        (0..5).for_each(|_| s.add(1));
        let c = chao1(&s, 100);
        assert!((c.estimate - (5.0 + 0.8 * 10.0)).abs() < 1e-12);
        assert!(c.unreliable && c.low >= 5.0);
        // No singleton: the floor, and room for the rule of three's
        // hosts at the rate.
        let mut m = Freq::default();
        (0..5).for_each(|_| m.add(10));
        let c = chao1(&m, 10);
        assert_eq!((c.estimate, c.low), (5.0, 5.0));
        assert!((c.high - (5.0 + 9.0 * crate::stats::garwood(0).1)).abs() < 1e-9);
        // Nothing: zero.
        assert_eq!(chao1(&Freq::default(), 10).high, 0.0);
    }
}
