//! The page: header, warnings, summary cards, what the intervals mean, one
//! panel per section (chart, then its table), and the capture metadata.

use std::fmt::Write;

use super::svg::{self, Est};
use super::tables::{self, FOOT, head, td, td_count};
use super::{bps, bytes, count, esc, est, iv_span, pct, pps, time};
use crate::catalog::text_sections;
use crate::report::{Chart, Report, TextSection};

const CSS: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("script.js");
/// The most bars a bar chart draws (its table lists every row).
const MAX_BARS: usize = 15;

pub(super) fn page(r: &Report) -> String {
    let s = &r.summary;
    let span = match (&s.start, &s.end) {
        (Some(a), Some(b)) => format!("{a} – {b}"),
        _ => "no samples".to_string(),
    };
    let mut h = String::with_capacity(256 * 1024);
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark"><meta name="generator" content="pktsample {ver}"><title>Traffic report: {t}</title><style>{CSS}</style></head><body><main><header><h1>Traffic report</h1><p class="sub">{t} · {n} input{pl} · pktsample {ver}, report {rv}</p></header>"#,
        t = esc(&span),
        n = r.inputs.len(),
        pl = if r.inputs.len() == 1 { "" } else { "s" },
        ver = r.tool_version,
        rv = r.report_version
    );
    warnings(&mut h, r);
    cards(&mut h, r);
    h.push_str(NOTE);
    h.push_str(r#"<div class="panels">"#);
    if let Some(ts) = &r.time_series {
        h.push_str(&time::panels(ts));
    }
    for sec in text_sections(r) {
        if sec.chart != Chart::Timeline {
            h.push_str(&panel(&sec));
        }
    }
    h.push_str("</div>");
    metadata(&mut h, r);
    let _ = writeln!(h, "</main><script>{SCRIPT}</script></body></html>");
    h
}

const NOTE: &str = r#"<details class="note" open><summary>What the intervals mean</summary><p>These numbers are estimated from samples: the tool kept about one packet in N and scales each up by N. Every estimate comes with a <strong>95% interval</strong> in brackets, drawn as a shaded band or an error bar: the range of totals that could plausibly have produced the samples seen. If the same traffic were sampled again and again, about 95 of 100 such intervals would contain the true value. Narrow intervals come from many samples; a category with few samples has a wide one, and one with none is reported as 0 with an upper bound. A number with no brackets is exact (counted by the kernel, or every packet was kept).</p></details>"#;

fn warnings(h: &mut String, r: &Report) {
    let s = &r.summary;
    let mut w: Vec<String> = Vec::new();
    if s.samples == 0 {
        w.push("No samples in this selection: there is nothing to chart. Check the time range, interfaces and directions, or the inputs.".into());
    }
    if s.drops > 0 {
        w.push(format!(
            "{} samples were dropped ({:.2}% of those taken) before they could be written; the estimates are corrected with the exact pools, but the intervals are wider.",
            s.drops,
            100.0 * s.drop_share
        ));
    }
    w.extend(r.warnings.iter().cloned());
    if w.is_empty() {
        return;
    }
    h.push_str(r#"<section class="warnings" role="alert" aria-label="Warnings">"#);
    for x in w {
        let _ = write!(h, r#"<p class="warn">⚠ {}</p>"#, esc(&x));
    }
    h.push_str("</section>");
}

fn card(h: &mut String, title: &str, body: &str) {
    let _ = write!(
        h,
        r#"<div class="card"><h3>{}</h3><p>{body}</p></div>"#,
        esc(title)
    );
}

fn cards(h: &mut String, r: &Report) {
    let s = &r.summary;
    h.push_str(r#"<section class="cards" aria-label="Summary">"#);
    card(
        h,
        "Packets",
        &iv_span("summary.packets", &s.packets, &count),
    );
    card(h, "Bytes", &iv_span("summary.bytes", &s.bytes, &bytes));
    if let (Some(p), Some(b)) = (&s.pps, &s.bps) {
        card(h, "Bit rate", &iv_span("summary.bps", b, &bps));
        card(h, "Packet rate", &iv_span("summary.pps", p, &pps));
    }
    card(
        h,
        "IPv6 share of IP packets",
        &iv_span("ipv6_share.packets", &r.ipv6_share.packets, &pct),
    );
    card(
        h,
        "IPv6 share of IP bytes",
        &iv_span("ipv6_share.bytes", &r.ipv6_share.bytes, &pct),
    );
    card(
        h,
        "Samples",
        &format!(
            r#"<span data-c="summary.samples" data-k="si" data-v="{0}">{1}</span> <small>at 1 in {2}</small>"#,
            s.samples,
            count(s.samples as f64),
            esc(&s
                .sampling_rates
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", "))
        ),
    );
    let drops = format!(
        r#"<span data-c="summary.drops" data-k="si" data-v="{}">{}</span> <small>({:.2}%)</small>"#,
        s.drops,
        count(s.drops as f64),
        100.0 * s.drop_share
    );
    let _ = write!(
        h,
        r#"<div class="card{}"><h3>Dropped samples</h3><p>{drops}</p></div>"#,
        if s.drops > 0 { " bad" } else { "" }
    );
    if let Some(d) = &r.distinct_addresses {
        card(
            h,
            "Distinct addresses seen",
            &format!(
                r#"<span data-c="distinct_addresses.ipv4" data-k="si" data-v="{0}">{1}</span> IPv4, <span data-c="distinct_addresses.ipv6" data-k="si" data-v="{2}">{3}</span> IPv6 <small>(at least)</small>"#,
                d.ipv4,
                count(d.ipv4 as f64),
                d.ipv6,
                count(d.ipv6 as f64)
            ),
        );
    }
    // Either side, per IP version; the other populations are in the
    // table, Markdown and JSON formats.
    let any: Vec<_> = r
        .distinct_hosts
        .iter()
        .flatten()
        .filter(|x| x.hosts == "any" && x.c.samples > 0)
        .collect();
    if !any.is_empty() {
        let big: Vec<String> = any
            .iter()
            .map(|x| format!("{} IPv{}", count(x.c.estimate), x.ip_version))
            .collect();
        let small: Vec<String> = any
            .iter()
            .map(|x| {
                format!(
                    "[{}–{}], {} seen",
                    count(x.c.low),
                    count(x.c.high),
                    count(x.c.seen as f64)
                )
            })
            .collect();
        let flag = if any.iter().any(|x| x.c.unreliable) {
            r#" <b class="bad" title="over a quarter of the hosts seen once: the sample says little of those it missed">unreliable</b>"#
        } else {
            ""
        };
        card(
            h,
            "Distinct hosts (Chao1, 95%)",
            &format!(
                "{} <small>({}){flag}</small>",
                big.join(", "),
                small.join("; ")
            ),
        );
    }
    h.push_str("</section>");
}

/// A breakdown section: its chart (when it has one), then its table.
fn panel(sec: &TextSection) -> String {
    let chart_id = format!("chart-{}", sec.id.replace('_', "-"));
    let shown = sec.rows.len().min(MAX_BARS);
    let more = if sec.rows.len() > shown {
        format!(
            " The {shown} largest of {} rows are drawn; the table lists all.",
            sec.rows.len()
        )
    } else {
        String::new()
    };
    let chart = if sec.rows.is_empty() {
        Some(r#"<p class="nodata">No samples in this section.</p>"#.to_string())
    } else {
        match sec.chart {
            Chart::TableOnly | Chart::Timeline => None,
            Chart::Matrix(noun) => Some(pairs_matrix(sec, &chart_id, noun)),
            Chart::Columns => {
                let rows = bar_rows(sec, sec.rows.len());
                let desc =
                    format!("Estimated packets per size class (bytes), with 95% error bars.{more}");
                Some(svg::columns(&chart_id, sec.title, &desc, &rows, &count))
            }
            Chart::Bars => {
                let rows = bar_rows(sec, shown);
                let desc = format!(
                    "Estimated packets per row, largest first, with 95% error bars. Largest: {} with {}.{more}",
                    rows[0].0,
                    count(rows[0].1.e)
                );
                Some(svg::bars(&chart_id, sec.title, &desc, &rows, &count))
            }
        }
    };
    let mut s = format!(
        r#"<section class="panel" id="sec-{}"><h2>{}</h2>"#,
        sec.id,
        esc(sec.title)
    );
    if let Some(c) = chart {
        let _ = write!(
            s,
            r#"<p class="cap">Packets, 95% error bars.{}</p>{c}"#,
            esc(&more)
        );
    }
    let open = if sec.chart == Chart::TableOnly {
        " open"
    } else {
        ""
    };
    let _ = write!(
        s,
        r#"<details class="data"{open}><summary>Data: {} rows</summary>{}</details></section>"#,
        sec.rows.len(),
        tables::breakdown(sec)
    );
    s
}

fn bar_rows(sec: &TextSection, n: usize) -> Vec<(String, Est)> {
    sec.rows
        .iter()
        .take(n)
        .map(|r| (r.key.join(" "), est(&r.m.packets)))
        .collect()
}

/// AS pairs as a matrix of the source and destination ASes of the largest
/// pairs.
/// The largest pairs of a two-key section as a matrix: sources as rows,
/// destinations as columns, ten of each at most.
fn pairs_matrix(sec: &TextSection, id: &str, noun: &str) -> String {
    let mut rows: Vec<String> = Vec::new();
    let mut cols: Vec<String> = Vec::new();
    let mut cells = Vec::new();
    fn slot(v: &mut Vec<String>, k: &str) -> Option<usize> {
        match v.iter().position(|x| x == k) {
            Some(i) => Some(i),
            None if v.len() < 10 => {
                v.push(k.to_string());
                Some(v.len() - 1)
            }
            None => None,
        }
    }
    for p in &sec.rows {
        let Some(i) = slot(&mut rows, &p.key[0]) else {
            continue;
        };
        let Some(j) = slot(&mut cols, &p.key[1]) else {
            continue;
        };
        cells.push((i, j, est(&p.m.packets)));
    }
    let desc = format!(
        "Packets between the {} source {noun} (rows) and {} destination {noun} (columns) of the largest pairs; darker is more. Each cell's title has its estimate and 95% interval.",
        rows.len(),
        cols.len()
    );
    svg::matrix(id, sec.title, &desc, (&rows, &cols), &cells, &count)
}

fn metadata(h: &mut String, r: &Report) {
    let s = &r.summary;
    h.push_str(r#"<section class="panel wide meta" id="sec-metadata"><h2>Capture</h2><dl>"#);
    let mut dd = |k: &str, v: String| {
        let _ = write!(h, "<dt>{}</dt><dd>{v}</dd>", esc(k));
    };
    dd(
        "time span",
        match (&s.start, &s.end) {
            (Some(a), Some(b)) => format!("{} – {} ({:.3} s)", esc(a), esc(b), s.duration_seconds),
            _ => "no samples".into(),
        },
    );
    dd(
        "sampling rates",
        esc(&s
            .sampling_rates
            .iter()
            .map(|r| format!("1 in {r}"))
            .collect::<Vec<_>>()
            .join(", ")),
    );
    if let Some(p) = s.packets_seen {
        dd(
            "packets seen by the sampler (exact pool)",
            format!(r#"<span data-c="summary.packets_seen" data-k="si" data-v="{p}">{p}</span>"#),
        );
    }
    dd("filters", esc(&filters(r)));
    dd(
        "inputs",
        r.inputs
            .iter()
            .map(|i| format!("<code>{}</code>", esc(i)))
            .collect::<Vec<_>>()
            .join("<br>"),
    );
    if let Some(dbs) = &r.asn_databases {
        dd(
            "ASN databases",
            dbs.iter()
                .map(|d| {
                    format!(
                        "<code>{}</code> ({}, {} IPv4 and {} IPv6 prefixes)",
                        esc(&d.path),
                        d.format,
                        d.ipv4_prefixes,
                        d.ipv6_prefixes
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>"),
        );
    }
    dd(
        "made by",
        format!(
            "pktsample {}, report version {}",
            r.tool_version, r.report_version
        ),
    );
    h.push_str("</dl>");
    if let Some(ifs) = &r.interfaces {
        hosts(h, ifs);
    }
    h.push_str("</section>");
}

/// The hosts and interfaces with their pools, drops and samples.
fn hosts(h: &mut String, ifs: &[crate::report::InterfaceRow]) {
    {
        h.push_str(&head(
            "Hosts and interfaces",
            &[
                "host",
                "interface",
                "direction",
                "rates",
                "packets seen (pool)",
                "drops",
                "samples",
            ],
        ));
        for (i, x) in ifs.iter().enumerate() {
            let _ = write!(
                h,
                r#"<tr data-r="interfaces.{i}">{}{}{}{}<td class="n">{}</td>{}{}</tr>"#,
                td(&x.host),
                td(&x.ifname),
                td(&x.direction),
                td(&x
                    .sampling_rates
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")),
                x.packets_seen
                    .map(|p| format!(
                        r#"<span data-c="packets_seen" data-k="si" data-v="{p}">{p}</span>"#
                    ))
                    .unwrap_or_else(|| "unknown".into()),
                td_count("drops", x.drops),
                td_count("samples", x.m.samples)
            );
        }
        h.push_str(FOOT);
    }
}

fn filters(r: &Report) -> String {
    let f = &r.filters;
    let mut v = Vec::new();
    if let Some(a) = &f.from {
        v.push(format!("from {a}"));
    }
    if let Some(b) = &f.to {
        v.push(format!("to {b}"));
    }
    if !f.interfaces.is_empty() {
        v.push(format!("interfaces {}", f.interfaces.join(", ")));
    }
    if !f.directions.is_empty() {
        v.push(format!("directions {}", f.directions.join(", ")));
    }
    if !f.hosts.is_empty() {
        v.push(format!("hosts {}", f.hosts.join(", ")));
    }
    if v.is_empty() {
        "none".into()
    } else {
        v.join("; ")
    }
}
