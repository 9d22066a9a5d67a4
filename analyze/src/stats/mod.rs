//! Estimators and confidence intervals for sampled traffic.
//!
//! Every sample belongs to a stratum: one host, interface, direction and
//! sampling rate (over the files that continue it). Within a stratum the sampler took each packet independently
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
    /// The largest pkt_len.
    pub max: u32,
}

impl Cell {
    #[inline]
    pub fn add(&mut self, len: u32) {
        let l = len as u64;
        self.n += 1;
        self.bytes += l;
        self.bytes2 += l * l;
        self.max = self.max.max(len);
    }

    #[inline]
    pub fn merge(&mut self, o: &Cell) {
        self.n += o.n;
        self.bytes += o.bytes;
        self.bytes2 += o.bytes2;
        self.max = self.max.max(o.max);
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
    /// Fay & Feuer's largest weight: the most one more sample could add to
    /// the estimate (a sample's weight times the largest value it can hold),
    /// over the contributing strata; 0 where the value is known exactly.
    pub wmax: f64,
}

impl Est {
    pub fn add(&mut self, o: &Est) {
        self.value += o.value;
        self.var += o.var;
        self.n += o.n;
        self.observed += o.observed;
        self.wmax = self.wmax.max(o.wmax);
        self.single = match (self.strata, o.strata) {
            (0, _) => o.single,
            (_, 0) => self.single,
            _ => None,
        };
        self.strata += o.strata;
    }

    /// Known without sampling error: a census, or a whole stratum's count
    /// with its exact pool.
    pub fn is_exact(&self) -> bool {
        self.var <= 0.0 && self.wmax <= 0.0
    }
}

/// What one sample of a stratum stands for: `M/n` with an exact pool (the
/// ratio estimator), else the rate; 0 for a census (every packet sampled).
/// A stratum without samples but with a pool stands for up to its pool:
/// the rate, as without one.
pub fn weight(d: &Design) -> f64 {
    match d.pool {
        Some(m) if m == d.n => 0.0,
        Some(m) if m > d.n && d.n > 0 => m as f64 / d.n as f64,
        _ => d.rate as f64,
    }
}

/// Estimate of a subset total from one stratum: `sum`/`sum2` are Σz and Σz²
/// over the stratum's samples in the subset, `n` how many those are, and
/// `largest` the largest z one sample of the subset can hold (for the
/// interval's upper bound, see [`gamma`]).
pub fn stratum_total(d: &Design, n: u64, sum: f64, sum2: f64, largest: f64) -> Est {
    let wmax = weight(d) * largest;
    if d.n == 0 || n == 0 {
        return Est {
            strata: 1,
            single: Some(*d),
            wmax,
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
        wmax,
    }
}

/// Packets of a group in one stratum. A group that holds every sample of a
/// stratum with an exact pool is the pool itself: exact.
pub fn packets(d: &Design, c: &Cell) -> Est {
    let whole = d.pool.is_some() && c.n == d.n && c.n > 0;
    let largest = if whole { 0.0 } else { 1.0 };
    stratum_total(d, c.n, c.n as f64, c.n as f64, largest)
}

/// Bytes of a group in one stratum; `largest` is the largest frame one of
/// the group's packets can plausibly be (see [`largest_frame`]).
///
/// Sizes that agree on few samples are not known to agree: where the
/// group is a whole stratum with an exact pool and its fewer than
/// [`FEW_SAMPLES`] samples are all one size, their spread (0) says nothing
/// of the unseen packets' and the variance is Bernoulli's, as with one
/// sample (else the interval would be that one size times the pool).
pub fn bytes(d: &Design, c: &Cell, largest: u32) -> Est {
    let mut e = stratum_total(d, c.n, c.bytes as f64, c.bytes2 as f64, f64::from(largest));
    let same = u128::from(c.bytes2) * u128::from(c.n) == u128::from(c.bytes).pow(2);
    if matches!(d.pool, Some(m) if m > d.n) && c.n == d.n && c.n > 1 && c.n < FEW_SAMPLES && same {
        let w = weight(d);
        e.var = w * (w - 1.0) * c.bytes2 as f64;
    }
    e
}

/// The chance below which a stratum is taken to be smaller than the
/// report's sizes (see [`smaller_than`]; groups use [`bounded_by_own`]).
pub const TAIL_MISS: f64 = 0.05;

/// Below this many samples, a stratum's largest sampled frame is not taken
/// as its largest frame.
pub const FEW_SAMPLES: u64 = 30;

/// A full-size Ethernet frame with a VLAN tag, without FCS.
pub const ETHERNET_FRAME: u32 = 1518;

/// The largest frame when nothing was sampled: an IP packet of 65,535
/// bytes in an Ethernet frame with two VLAN tags.
pub const MAX_FRAME: u32 = 65_535 + 22;

/// The largest frame a stratum's packets can plausibly be, for the upper
/// bound of a group's bytes: the largest of all the report's samples
/// (`pooled`, by size class) unless the stratum's own show it is smaller
/// ([`smaller_than`]), then its own largest; with fewer than
/// [`FEW_SAMPLES`] samples (which say little of the largest frames) at least
/// a full-size Ethernet frame; with none at all, [`MAX_FRAME`].
pub fn stratum_frame(classes: &[(u32, u32)], sizes: &[Cell], pooled: &[Cell]) -> u32 {
    let largest = |c: &[Cell]| c.iter().map(|s| s.max).max().unwrap_or(0);
    let n: u64 = sizes.iter().map(|s| s.n).sum();
    let own = largest(sizes);
    let frame = if n > 0 && smaller_than(own, n, classes, pooled) {
        own
    } else {
        largest(pooled).max(own)
    };
    match frame {
        0 => MAX_FRAME,
        f if n < FEW_SAMPLES => f.max(ETHERNET_FRAME),
        f => f,
    }
}

/// Whether a group's `n` samples, all at most `max` bytes, show that it is
/// not sized like `sizes` (samples by size class, `classes` their bounds):
/// drawn like them, all would have been at most `max` with probability
/// `(1 − T)^n`, `T` the share of `sizes` in larger classes; below
/// [`TAIL_MISS`] the group is taken to hold no larger frames.
pub fn smaller_than(max: u32, n: u64, classes: &[(u32, u32)], sizes: &[Cell]) -> bool {
    let total: u64 = sizes.iter().map(|s| s.n).sum();
    if total == 0 {
        return false;
    }
    let above: u64 = classes
        .iter()
        .zip(sizes)
        .filter(|((lo, _), _)| *lo > max)
        .map(|(_, s)| s.n)
        .sum();
    let t = above as f64 / total as f64;
    (1.0 - t).powf(n as f64) < TAIL_MISS
}

/// Sampled bytes per byte of room above a group's largest sampled frame
/// from which that frame bounds the group's unseen packets (see
/// [`bounded_by_own`]).
pub const ROOM: f64 = 10.0;

/// Whether a group's own largest sampled frame `max` bounds its unseen
/// packets, rather than its strata's largest plausible `frame`. A group
/// unlike its stratum is not therefore without large frames: an ACK-heavy
/// source shows none in most of its 30 samples, yet 5 % of its packets,
/// 40 % of its bytes, are full-size segments. With `n` samples none above
/// `max`, the share of larger packets is below 3/n (the rule of three, at
/// 95 %); they could add up to `3 (frame − max)` sampled bytes' worth.
/// The own largest is taken when that is at most 30 % of the `sampled`
/// bytes, `ROOM · (frame − max) ≤ sampled`: the interval's other terms
/// (the gamma's spread, one more sample of the largest weight) cover a
/// shortfall that size, and a tighter room made the intervals of groups
/// with hundreds of samples over-cover (99 % at 400 samples).
pub fn bounded_by_own(max: u32, frame: u32, sampled: f64) -> bool {
    frame <= max || ROOM * f64::from(frame - max) <= sampled
}

/// The largest frame a group's unseen packets can plausibly hold, in a
/// report of one stratum: the group's own largest if its samples bound
/// them ([`bounded_by_own`]), else the stratum's ([`stratum_frame`]),
/// never above `cap` (a size class's bound).
pub fn largest_frame(c: &Cell, classes: &[(u32, u32)], sizes: &[Cell], cap: u32) -> u32 {
    let frame = stratum_frame(classes, sizes, sizes).min(cap).max(c.max);
    if c.n > 0 && bounded_by_own(c.max, frame, c.bytes as f64) {
        c.max
    } else {
        frame
    }
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
    if e.is_exact() {
        return Interval::exact(e.value);
    }
    if e.strata == 1
        && let Some(d) = e.single
    {
        match d.pool {
            Some(m) if m >= d.n => {
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
    gamma(e)
}

/// Quantile `p` of the gamma distribution with this shape and scale. Above
/// a shape of 1000, Wilson and Hilferty's cube-root normal approximation
/// (relative error below 1e-6 there), which also stays fast.
fn gamma_quantile(shape: f64, scale: f64, p: f64) -> f64 {
    if !(shape > 0.0 && scale > 0.0) {
        return 0.0;
    }
    if shape > 1000.0 {
        use statrs::distribution::Normal;
        let z = Normal::standard().inverse_cdf(p);
        let c = 1.0 / (9.0 * shape);
        return shape * scale * (1.0 - c + z * c.sqrt()).powi(3);
    }
    statrs::distribution::Gamma::new(shape, 1.0)
        .map(|g| g.inverse_cdf(p) * scale)
        .unwrap_or(f64::INFINITY)
}

/// Fay & Feuer's (1997) gamma interval for a weighted sum of Poisson
/// counts, with the sum `t`, its variance `v` and the largest weight `w`:
/// the low end is the 2.5 % quantile of the gamma with mean `t` and
/// variance `v`, the high end the 97.5 % quantile of the gamma with mean
/// `t + w` and variance `v + w²` (one more sample of the largest weight: the
/// term that keeps it conservative with few samples and unequal weights).
/// Never below what was observed. With no sample, `[0, 3.69·w]`: the
/// rule of three of the stratum that weighs most.
pub fn gamma(e: &Est) -> Interval {
    let (t, v, w) = (e.value.max(0.0), e.var.max(0.0), e.wmax.max(0.0));
    let low = if t > 0.0 && v > 0.0 {
        gamma_quantile(t * t / v, v / t, ALPHA / 2.0)
    } else {
        t
    };
    let (tw, vw) = (t + w, v + w * w);
    let high = if tw > 0.0 && vw > 0.0 {
        gamma_quantile(tw * tw / vw, vw / tw, 1.0 - ALPHA / 2.0)
    } else {
        t
    };
    Interval {
        estimate: e.value,
        low: low.min(t).max(e.observed),
        high: high.max(t),
    }
}

/// Interval for estimated bytes (or any sum of sizes): Fay & Feuer's gamma
/// interval, see [`gamma`]; exact only for a census.
pub fn byte_interval(e: &Est) -> Interval {
    if e.is_exact() {
        return Interval::exact(e.value).tidy();
    }
    gamma(e).tidy()
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
        xt += stratum_total(d, s.nx, s.x, s.x2, 0.0).value;
        yt += stratum_total(d, s.nx, s.y, s.y2, 0.0).value;
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
        var += stratum_total(d, s.nx, sz, sz2.max(0.0), 0.0).var;
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

pub mod distinct;
pub mod sql;
#[cfg(test)]
mod tests;
