//! The interfaces section: one row per host, interface and direction,
//! including those the metadata lists but no sample came from.

use std::collections::{BTreeMap, BTreeSet};

use pktsample_schemas::Direction;

use crate::engine::{Analysis, SIZE_CLASSES};
use crate::report::{InterfaceRow, Measures};
use crate::stats::Interval;

use super::Ctx;
use super::group::{GroupEst, Pooled, Stratum};

/// One row while it is summed.
#[derive(Default)]
struct Acc {
    est: GroupEst,
    rates: BTreeSet<u32>,
    /// The exact pool, while every stratum has one.
    seen: Option<u64>,
    drops: u64,
    /// Strata with samples (in the files; maybe none in a time window).
    strata: u32,
    /// Packets seen by strata without a sample.
    unsampled: u64,
}

/// Frame sizes over the report's samples (`pooled` by size class):
/// (smallest size class's lower bound, mean, largest frame), for strata
/// without a sample.
fn frame_range(pooled: &Pooled) -> (f64, f64, f64) {
    let n: u64 = pooled.iter().map(|c| c.n).sum();
    let max = pooled.iter().map(|c| c.max).max().unwrap_or(0);
    if n == 0 {
        return (0.0, 0.0, f64::from(max.max(crate::stats::MAX_FRAME)));
    }
    let bytes: u64 = pooled.iter().map(|c| c.bytes).sum();
    let lo = pooled
        .iter()
        .position(|c| c.n > 0)
        .map_or(0, |i| SIZE_CLASSES[i].0);
    (f64::from(lo), bytes as f64 / n as f64, f64::from(max))
}

fn plus(i: Interval, est: f64, low: f64, high: f64) -> Interval {
    Interval {
        estimate: i.estimate + est,
        low: i.low + low,
        high: i.high + high,
    }
}

/// An interface and direction the metadata lists but no sample came from.
pub(super) struct Unsampled {
    pub host: String,
    pub ifname: String,
    pub direction: Direction,
    pub rate: u32,
    pub seen: u64,
    pub drops: u64,
}

/// Those of the selection (interface and direction filters).
pub(super) fn unsampled(a: &Analysis) -> Vec<Unsampled> {
    let q = &a.query;
    let mut v = Vec::new();
    for (fi, inp) in a.inputs.iter().enumerate() {
        if inp.skipped {
            continue;
        }
        for im in &inp.meta.interfaces {
            if !q.interfaces.is_empty() && !q.interfaces.contains(&im.name) {
                continue;
            }
            for (d, stats) in &im.directions {
                let key = a.parts.key(fi as u32, im.ifindex, *d, im.sampling_rate);
                if (!q.directions.is_empty() && !q.directions.contains(d))
                    || a.agg.strata.contains_key(&key)
                {
                    continue;
                }
                v.push(Unsampled {
                    host: inp.meta.host.clone(),
                    ifname: im.name.clone(),
                    direction: *d,
                    rate: im.sampling_rate,
                    seen: stats.packets_seen,
                    drops: stats.drops,
                });
            }
        }
    }
    v
}

/// Add `seen` packets of unsampled strata to an estimate: exactly that many
/// (within a time window, up to that many), of sizes like the report's
/// frames.
pub(super) fn add_unsampled(m: &mut Measures, seen: u64, pooled: &Pooled, windowed: bool) {
    if seen == 0 {
        return;
    }
    let u = seen as f64;
    let (small, mean, large) = frame_range(pooled);
    if windowed {
        m.packets = plus(m.packets, 0.0, 0.0, u);
        m.bytes = plus(m.bytes, 0.0, 0.0, u * large);
    } else {
        m.packets = plus(m.packets, u, u, u);
        m.bytes = plus(m.bytes, u * mean, u * small, u * large);
    }
}

/// The rows, by estimated packets.
pub(super) fn interface_rows(a: &Analysis, st: &[Stratum], pooled: &Pooled) -> Vec<InterfaceRow> {
    let q = &a.query;
    let mut m: BTreeMap<(String, String, Direction), Acc> = BTreeMap::new();
    let new = || Acc {
        seen: Some(0),
        ..Default::default()
    };
    for s in st {
        let e = m
            .entry((s.host.to_string(), s.ifname.clone(), s.key.direction))
            .or_insert_with(new);
        e.est.add(s, &s.agg.total);
        e.strata += 1;
        e.rates.insert(s.key.rate);
        e.seen = e.seen.zip(s.seen).map(|(a, b)| a + b);
        e.drops += s.drops;
    }
    // Interfaces and directions of the metadata without a sample: their
    // pools say how many packets they saw.
    for u in unsampled(a) {
        let e = m.entry((u.host, u.ifname, u.direction)).or_insert_with(new);
        e.rates.insert(u.rate);
        e.seen = e.seen.map(|x| x + u.seen);
        e.drops += u.drops;
        e.unsampled += u.seen;
    }
    let windowed = q.from.is_some() || q.to.is_some();
    let multi_host = m.keys().map(|k| &k.0).collect::<BTreeSet<_>>().len() > 1;
    let mut rows: Vec<InterfaceRow> = m
        .into_iter()
        .map(|((host, ifname, d), e)| {
            let mut mm: Measures = if e.strata == 0 {
                Measures {
                    samples: 0,
                    packets: Interval::exact(0.0),
                    bytes: Interval::exact(0.0),
                }
            } else {
                e.est.measures()
            };
            add_unsampled(&mut mm, e.unsampled, pooled, windowed);
            InterfaceRow {
                host: if multi_host { host } else { String::new() },
                ifname,
                direction: d.as_str().to_string(),
                sampling_rates: e.rates.into_iter().collect(),
                packets_seen: e.seen,
                drops: e.drops,
                m: mm,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.m.packets
            .estimate
            .total_cmp(&a.m.packets.estimate)
            .then_with(|| {
                (&a.host, &a.ifname, &a.direction).cmp(&(&b.host, &b.ifname, &b.direction))
            })
    });
    rows
}

pub fn interfaces(c: &mut Ctx) {
    c.r.interfaces = Some(interface_rows(c.a, &c.st, &c.pooled));
}
