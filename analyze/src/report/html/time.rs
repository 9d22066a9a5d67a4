//! The time panels: bit/s, packets/s and the IPv6 share with their bands,
//! protocols stacked, and their tables. Long series are merged for drawing
//! (and, past a limit, in the table), and the page says how.

use std::fmt::Write;

use super::svg::{self, Est, TimeChart};
use super::tables::{FOOT, head, td, td_iv};
use super::{bps, bytes, count, esc, est, pct, pps};
use crate::report::{BucketRow, TimeSeries};

/// The most points a time chart draws.
pub const MAX_POINTS: usize = 600;
/// The most rows the time series table lists one bucket per row.
pub const MAX_ROWS: usize = 1000;

/// Bucket starts as Unix seconds.
fn starts(b: &[BucketRow]) -> Vec<f64> {
    b.iter()
        .map(|b| {
            chrono::DateTime::parse_from_rfc3339(&b.start)
                .map(|t| t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9)
                .unwrap_or(0.0)
        })
        .collect()
}

/// Merge every `k` consecutive values: the mean estimate, the lowest low,
/// the highest high.
fn merge(v: &[Est], k: usize) -> Vec<Est> {
    v.chunks(k)
        .map(|c| Est {
            e: c.iter().map(|x| x.e).sum::<f64>() / c.len() as f64,
            lo: c.iter().map(|x| x.lo).fold(f64::INFINITY, f64::min),
            hi: c.iter().map(|x| x.hi).fold(0.0, f64::max),
        })
        .collect()
}

/// The time panels' HTML (empty when the series has no bucket).
pub(super) fn panels(ts: &TimeSeries) -> String {
    let b = &ts.buckets;
    if b.is_empty() {
        return String::new();
    }
    let t = starts(b);
    let k = b.len().div_ceil(MAX_POINTS);
    let tk: Vec<f64> = t.iter().step_by(k).copied().collect();
    let width = ts.interval_seconds * k as f64;
    let draw = |v: Vec<Est>| merge(&v, k);
    let bits = draw(b.iter().map(|x| est(&x.bps)).collect());
    let pkts = draw(b.iter().map(|x| est(&x.pps)).collect());
    let share: Option<Vec<Est>> = b
        .iter()
        .map(|x| x.ipv6_share.as_ref().map(|s| est(&s.packets)))
        .collect::<Option<Vec<_>>>()
        .map(draw);
    let iv = humantime::format_duration(std::time::Duration::from_secs_f64(ts.interval_seconds));
    let merged = if k > 1 {
        format!(
            " Drawn {k} buckets of {iv} per point ({} buckets): the line is their mean, the band runs from their lowest low to their highest high.",
            b.len()
        )
    } else {
        String::new()
    };
    let mut s = String::new();
    let peak = |v: &[Est], f: svg::Fmt| {
        let m = v.iter().map(|x| x.e).fold(0.0, f64::max);
        format!("Buckets of {iv}; peak {}.{merged}", f(m))
    };
    let _ = write!(
        s,
        r#"<section class="panel wide" id="sec-time"><h2>Traffic over time</h2><p class="cap">95% intervals shaded; buckets of {iv}.{}</p><div class="charts">"#,
        esc(&merged)
    );
    let charts = [
        (
            "chart-bps",
            "Bits per second",
            &bits,
            false,
            &bps as svg::Fmt,
        ),
        (
            "chart-pps",
            "Packets per second",
            &pkts,
            false,
            &pps as svg::Fmt,
        ),
    ];
    for (id, title, v, sh, f) in charts {
        let desc = peak(v, f);
        let c = TimeChart {
            id,
            title,
            desc: &desc,
            t: &tk,
            v,
            width,
            share: sh,
            fmt: f,
        };
        let _ = write!(
            s,
            "<figure><figcaption>{}</figcaption>{}</figure>",
            esc(title),
            c.svg()
        );
    }
    if let Some(v) = &share {
        let desc = format!("IPv6 share of IP packets per bucket of {iv}.{merged}");
        let c = TimeChart {
            id: "chart-ipv6",
            title: "IPv6 share of IP packets",
            desc: &desc,
            t: &tk,
            v,
            width,
            share: true,
            fmt: &pct,
        };
        let _ = write!(
            s,
            "<figure><figcaption>IPv6 share of IP packets</figcaption>{}</figure>",
            c.svg()
        );
    }
    if let Some(c) = protocols_chart(b, &tk, k, ts.interval_seconds, width, &iv.to_string()) {
        s.push_str(&c);
    }
    s.push_str("</div>");
    s.push_str(&table(ts, &iv.to_string()));
    s.push_str("</section>");
    s
}

/// Protocol classes stacked, in packets per second.
fn protocols_chart(
    b: &[BucketRow],
    tk: &[f64],
    k: usize,
    secs: f64,
    width: f64,
    iv: &str,
) -> Option<String> {
    let first = b[0].protocols.as_ref()?;
    let names: Vec<&str> = first.iter().map(|c| c.class).collect();
    let layers: Vec<(&str, Vec<f64>)> = names
        .iter()
        .enumerate()
        .map(|(j, n)| {
            let v: Vec<f64> = b
                .iter()
                .map(|x| {
                    x.protocols
                        .as_ref()
                        .map_or(0.0, |p| p[j].m.packets.estimate / secs)
                })
                .collect();
            (
                *n,
                v.chunks(k)
                    .map(|c| c.iter().sum::<f64>() / c.len() as f64)
                    .collect(),
            )
        })
        .collect();
    let desc = format!(
        "Estimated packets per second of each protocol class ({}), stacked, per bucket of {iv}. Their intervals are in the table.",
        names.join(", ")
    );
    Some(format!(
        "<figure><figcaption>Protocols over time (packets/s, stacked)</figcaption>{}</figure>",
        svg::stacked(
            "chart-protocols",
            "Protocols over time",
            &desc,
            tk,
            width,
            &layers,
            &pps
        )
    ))
}

/// The table: one row per bucket, or merged rows past [`MAX_ROWS`].
fn table(ts: &TimeSeries, iv: &str) -> String {
    let b = &ts.buckets;
    let classes: Vec<&str> = b[0]
        .protocols
        .as_ref()
        .map(|p| p.iter().map(|c| c.class).collect())
        .unwrap_or_default();
    let mut cols = vec![
        "start",
        "samples",
        "packets",
        "bytes",
        "packets/s",
        "bits/s",
        "IPv6 share of IP packets",
    ];
    let class_cols: Vec<String> = classes.iter().map(|c| format!("{c} packets")).collect();
    cols.extend(class_cols.iter().map(String::as_str));
    let mut s = String::from("<details class=\"data\"><summary>Data: every bucket</summary>");
    if b.len() > MAX_ROWS {
        let k = b.len().div_ceil(MAX_ROWS);
        let _ = write!(
            s,
            "<p class=\"cap\">{} buckets of {iv}: each row merges {k} consecutive buckets (samples and estimates summed; the bounds are the sums of the buckets' bounds, wider than the merged interval). The JSON report lists every bucket.</p>",
            b.len()
        );
        s.push_str(&head("Time series (merged rows)", &cols[..4]));
        for c in b.chunks(k) {
            let sum = |f: &dyn Fn(&BucketRow) -> f64| c.iter().map(f).sum::<f64>();
            let cell = |f: &dyn Fn(&BucketRow) -> &crate::stats::Interval, fm: svg::Fmt| {
                format!(
                    r#"<td class="n" data-v="{}">{} [{}–{}]</td>"#,
                    sum(&|x| f(x).estimate),
                    fm(sum(&|x| f(x).estimate)),
                    fm(sum(&|x| f(x).low)),
                    fm(sum(&|x| f(x).high))
                )
            };
            let _ = write!(
                s,
                r#"<tr>{}<td class="n" data-v="{}">{}</td>{}{}</tr>"#,
                td(&c[0].start),
                sum(&|x| x.m.samples as f64),
                count(sum(&|x| x.m.samples as f64)),
                cell(&|x| &x.m.packets, &count),
                cell(&|x| &x.m.bytes, &bytes)
            );
        }
    } else {
        s.push_str(&head(&format!("Time series, buckets of {iv}"), &cols));
        for (i, x) in b.iter().enumerate() {
            let _ = write!(
                s,
                r#"<tr data-r="time_series.buckets.{i}">{}"#,
                td(&x.start)
            );
            s.push_str(&super::tables::measures(&x.m));
            s.push_str(&td_iv("pps", &x.pps, &pps));
            s.push_str(&td_iv("bps", &x.bps, &bps));
            match &x.ipv6_share {
                Some(sh) => s.push_str(&td_iv("ipv6_share.packets", &sh.packets, &pct)),
                None => s.push_str("<td></td>"),
            }
            if let Some(p) = &x.protocols {
                for (j, c) in p.iter().enumerate() {
                    s.push_str(&td_iv(
                        &format!("protocols.{j}.packets"),
                        &c.m.packets,
                        &count,
                    ));
                }
            }
            s.push_str("</tr>");
        }
    }
    s.push_str(FOOT);
    s.push_str("</details>");
    s
}
