//! The summary: totals, rates and the bound for an unseen category, and
//! the warnings about the inputs.

use std::collections::{BTreeMap, BTreeSet};

use pktsample_schemas::meta::format_rfc3339_ns;

use crate::engine::Analysis;
use crate::report::Summary;

use super::group::{GroupEst, Pooled, Stratum};
use super::interfaces::{add_unsampled, unsampled};
use super::time::per_second;

/// The summary and the span it covers (start, end in ns).
pub(super) fn summary(
    a: &Analysis,
    st: &[Stratum],
    pooled: &Pooled,
    warnings: &mut Vec<String>,
) -> (Summary, Option<i64>, Option<i64>) {
    let q = &a.query;
    let mut total = GroupEst::default();
    for s in st {
        total.add(s, &s.agg.total);
    }
    let first = st.iter().filter_map(|s| s.agg.first_ns).min();
    let last = st.iter().filter_map(|s| s.agg.last_ns).max();
    // The span the pool covers: the capture's, from the metadata, clipped by
    // the filter; else the samples' own.
    let (meta_start, meta_end) = crate::engine::capture_span(&a.inputs);
    let start = match (meta_start.or(first), q.from) {
        (Some(s), Some(f)) => Some(s.max(f)),
        (s, f) => s.or(f),
    };
    let end = match (meta_end.or(last), q.to) {
        (Some(e), Some(t)) => Some(e.min(t)),
        (e, t) => e.or(t),
    };
    let duration = match (start, end) {
        (Some(s), Some(e)) if e > s => (e - s) as f64 / 1e9,
        _ => 0.0,
    };
    let windowed = q.from.is_some() || q.to.is_some();
    let mut m = total.measures();
    // Interfaces and directions without a sample: their pools count.
    let unsampled = unsampled(a);
    let unseen_pool: u64 = unsampled.iter().map(|u| u.seen).sum();
    add_unsampled(&mut m, unseen_pool, pooled, windowed);
    let (pk, by) = (m.packets, m.bytes);
    let mut rates: BTreeSet<u32> = st.iter().map(|s| s.key.rate).collect();
    rates.extend(unsampled.iter().map(|u| u.rate));
    let all_pools = !st.is_empty() && st.iter().all(|s| s.seen.is_some());
    let seen: u64 = st.iter().filter_map(|s| s.seen).sum::<u64>() + unseen_pool;
    let drops: u64 =
        st.iter().map(|s| s.drops).sum::<u64>() + unsampled.iter().map(|u| u.drops).sum::<u64>();
    let written: u64 = st.iter().map(|s| s.agg.rows).sum();
    let drop_share = if drops + written > 0 {
        drops as f64 / (drops + written) as f64
    } else {
        0.0
    };
    if drop_share > 0.01 {
        warnings.push(format!(
            "{drops} selected packets ({:.1}%) were dropped by the capture; estimates use the exact pool, so they stay unbiased if drops were random, but rest on fewer samples",
            100.0 * drop_share
        ));
    }
    if total.samples == 0 {
        warnings.push("no samples match the inputs and filters: the report is empty".into());
    }
    input_warnings(a, !all_pools && !st.is_empty(), warnings);
    let summary = Summary {
        start: start.map(format_rfc3339_ns),
        end: end.map(format_rfc3339_ns),
        duration_seconds: duration,
        samples: total.samples,
        packets: pk,
        bytes: by,
        pps: (duration > 0.0).then(|| per_second(&pk, duration)),
        bps: (duration > 0.0).then(|| per_second(&by, duration).scale(8.0)),
        sampling_rates: rates.into_iter().collect(),
        packets_seen: all_pools.then_some(seen),
        drops,
        drop_share,
        packets_exact: all_pools && !windowed && pk.low == pk.high,
        unseen: GroupEst::absent(st, u32::MAX).measures(),
        bad_records: a.inputs.iter().map(|i| i.meta.bad_lengths).sum(),
    };
    (summary, start, end)
}

/// What the inputs could not give: interrupted captures, skipped link
/// types, lying lengths, foreign blocks, sFlow's losses, and estimates
/// without an exact pool.
fn input_warnings(a: &Analysis, some_without_pool: bool, warnings: &mut Vec<String>) {
    for i in &a.inputs {
        if let Some(why) = &i.meta.interrupted {
            warnings.push(format!("{}: {why}", i.path.display()));
        }
    }
    let mut skipped: BTreeMap<u32, u64> = BTreeMap::new();
    for i in &a.inputs {
        for (lt, n) in &i.meta.skipped_link_types {
            *skipped.entry(*lt).or_default() += n;
        }
    }
    if !skipped.is_empty() {
        let n: u64 = skipped.values().sum();
        let each: Vec<String> = skipped
            .iter()
            .map(|(lt, k)| format!("link type {lt}: {k}"))
            .collect();
        warnings.push(format!(
            "{n} packets of unsupported link types ({}) were in the captures but not sampled; the estimates cover the rest",
            each.join(", ")
        ));
    }
    let bad: u64 = a.inputs.iter().map(|i| i.meta.bad_lengths).sum();
    if bad > 0 {
        warnings.push(format!(
            "{bad} records of the captures had a lying wire length (below the captured length, or over 256 KiB) and were skipped: they are in no estimate"
        ));
    }
    let foreign: u64 = a.inputs.iter().map(|i| i.meta.foreign_custom).sum();
    if foreign > 0 {
        warnings.push(format!(
            "{foreign} pcapng custom blocks or options of other programs were skipped"
        ));
    }
    sflow_warnings(a, warnings);
    let rows_only = a.inputs.iter().filter(|i| i.foreign).count();
    if rows_only > 0 {
        warnings.push(format!(
            "{rows_only} input file{} no pktsample metadata (written by another tool, or --ignore-metadata): {} estimated by each row's sampling rate (Horvitz-Thompson), without exact pools; drops and interfaces without samples are not known",
            if rows_only > 1 { "s have" } else { " has" },
            if rows_only > 1 { "they are" } else { "it is" },
        ));
    } else if some_without_pool {
        warnings.push(
            "some inputs lack an exact packet pool; their estimates use Horvitz-Thompson scaling by the sampling rate".into(),
        );
    }
}

/// What sFlow inputs lost or could not read, summed over the files: never
/// silent.
fn sflow_warnings(a: &Analysis, warnings: &mut Vec<String>) {
    let mut t = pktsample_schemas::sflow::meta::SflowMeta::default();
    let (mut lost_d, mut lost_s, mut restarts) = (0, 0, 0);
    for sf in a
        .inputs
        .iter()
        .filter(|i| !i.skipped)
        .filter_map(|i| i.meta.sflow.as_ref())
    {
        let (d, s) = sf.lost();
        lost_d += d;
        lost_s += s;
        t.socket_drops += sf.socket_drops;
        t.bad_datagrams += sf.bad_datagrams;
        t.skipped_samples += sf.skipped_samples;
        t.skipped_records += sf.skipped_records;
        restarts += sf.agents.iter().map(|a| a.restarts).sum::<u64>();
        for (why, n) in &sf.unusable_samples {
            *t.unusable_samples.entry(why.clone()).or_default() += n;
        }
    }
    if lost_d + lost_s > 0 {
        warnings.push(format!(
            "sFlow: {lost_d} datagrams lost between agents and collector ({lost_s} flow samples, by their sequence numbers); their packets are in the pools and the lost samples count as drops"
        ));
    }
    if t.socket_drops > 0 {
        warnings.push(format!(
            "sFlow: the collector's socket dropped {} datagrams (a full receive buffer)",
            t.socket_drops
        ));
    }
    if t.bad_datagrams > 0 {
        warnings.push(format!(
            "sFlow: {} datagrams could not be read and are not in the estimates",
            t.bad_datagrams
        ));
    }
    let unusable: u64 = t.unusable_samples.values().sum();
    if unusable > 0 {
        let why: Vec<String> = t
            .unusable_samples
            .iter()
            .map(|(w, n)| format!("{w}: {n}"))
            .collect();
        warnings.push(format!(
            "sFlow: {unusable} flow samples gave no row ({}); counted as drops",
            why.join(", ")
        ));
    }
    if t.skipped_samples + t.skipped_records > 0 {
        warnings.push(format!(
            "sFlow: {} samples and {} records of formats pktsample does not read were skipped",
            t.skipped_samples, t.skipped_records
        ));
    }
    if restarts > 0 {
        warnings.push(format!(
            "sFlow: agents restarted {restarts} times; each restart begins new strata"
        ));
    }
}
