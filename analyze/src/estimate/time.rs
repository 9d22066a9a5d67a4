//! The time series: every bucket's packets, bytes and rates, the IPv6 share
//! of its IP traffic and its protocol classes, each with its interval.

use crate::engine::{Analysis, StratumAgg, TIME_CLASSES, TimeCell};
use crate::report::{BucketClass, BucketRow, Ipv6Share, TimeSeries};
use crate::stats::{Cell, Interval};

use super::Ctx;
use super::group::{GroupEst, Stratum};
use super::{groups, share_of};

/// The most buckets a time series lists when it fills the empty ones.
const MAX_BUCKETS: i64 = 100_000;

/// A bucket's start in RFC 3339 with as many fractional digits as the
/// interval needs (it is a multiple of the interval, so this is exact).
fn bucket_time(ns: i64, interval: i64) -> String {
    use chrono::SecondsFormat::*;
    let f = if interval % 1_000_000_000 == 0 {
        Secs
    } else if interval % 1_000_000 == 0 {
        Millis
    } else if interval % 1000 == 0 {
        Micros
    } else {
        Nanos
    };
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(f, true)
}

pub(super) fn per_second(i: &Interval, secs: f64) -> Interval {
    i.scale(1.0 / secs)
}

/// A stratum's cell of bucket `b` (empty where it has none).
fn bucket_cell(a: &StratumAgg, b: i64) -> TimeCell {
    a.time.get(&b).copied().unwrap_or_default()
}

/// The time series over `span` (the report's first and last sample).
pub(super) fn series(
    a: &Analysis,
    st: &[Stratum],
    (start, end): (Option<i64>, Option<i64>),
    warnings: &mut Vec<String>,
) -> TimeSeries {
    let q = &a.query;
    let iv = a.interval_ns;
    let secs = iv as f64 / 1e9;
    let mut g = groups(st, |a| {
        a.time.iter().map(|(k, c)| (*k, c.total())).collect()
    });
    // Every bucket of the span is listed: one without a sample is 0 with an
    // upper bound.
    if let (Some(s), Some(e)) = (start, end) {
        let last = if q.to == Some(e) { e - 1 } else { e };
        let (b0, b1) = (s.div_euclid(iv), last.div_euclid(iv));
        if b1 >= b0 && b1 - b0 < MAX_BUCKETS {
            let absent = GroupEst::absent(st, u32::MAX);
            for b in b0..=b1 {
                g.entry(b).or_insert(absent);
            }
        } else if b1 >= b0 {
            warnings.push(format!(
                "the time series spans {} buckets: only those with samples are listed (pass a longer --interval to see the empty ones)",
                b1 - b0 + 1
            ));
        }
    }
    let classes = q.sections.has(crate::section::Section::Protocols);
    TimeSeries {
        interval_seconds: secs,
        buckets: g
            .into_iter()
            .map(|(b, g)| {
                let m = g.measures();
                let ip = move |a: &StratumAgg| {
                    let c = bucket_cell(a, b);
                    let mut ip = c.version[1];
                    ip.merge(&c.version[2]);
                    ip
                };
                let v6 = move |a: &StratumAgg| bucket_cell(a, b).version[2];
                BucketRow {
                    start: bucket_time(b * iv, iv),
                    pps: per_second(&m.packets, secs),
                    bps: per_second(&m.bytes, secs).scale(8.0),
                    m,
                    ipv6_share: Some(Ipv6Share {
                        packets: share_of(st, ip, v6, false),
                        bytes: share_of(st, ip, v6, true),
                    }),
                    protocols: classes.then(|| bucket_classes(st, b)),
                }
            })
            .collect(),
    }
}

/// A bucket's protocol classes, then its non-IP traffic.
fn bucket_classes(st: &[Stratum], b: i64) -> Vec<BucketClass> {
    let cell = |s: &Stratum, k: usize| -> Cell {
        let c = bucket_cell(s.agg, b);
        if k < TIME_CLASSES.len() {
            c.class[k]
        } else {
            c.version[0]
        }
    };
    (0..=TIME_CLASSES.len())
        .map(|k| {
            let mut g = GroupEst::default();
            for s in st {
                g.add(s, &cell(s, k));
            }
            BucketClass {
                class: TIME_CLASSES.get(k).copied().unwrap_or("non-ip"),
                m: g.measures(),
            }
        })
        .collect()
}

pub fn time_series(c: &mut Ctx) {
    let ts = series(c.a, &c.st, c.span, &mut c.r.warnings);
    c.r.time_series = Some(ts);
}
