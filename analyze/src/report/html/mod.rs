//! HTML: one self-contained page (inline CSS, SVG and a little script; no
//! request leaves it) with the report's numbers as cards, charts and
//! sortable tables. Every number shown carries the JSON path it comes from
//! (`data-r` on a row, `data-c` on a cell, `data-v` its exact value), so
//! a browser test can check the page against `--format json`.

mod page;
mod svg;
mod tables;
mod time;

use std::io::Write;

use super::{Render, Report, si};
use crate::stats::Interval;

pub struct Html;

impl Render for Html {
    fn render(&self, r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
        out.write_all(page::page(r).as_bytes())
    }
}

/// Escape text and attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A count with an SI prefix and a unit: "12.3 Mbit/s", "512 B".
fn with_unit(v: f64, unit: &str) -> String {
    let s = si(v);
    if unit.is_empty() {
        return s;
    }
    let cut = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, p) = s.split_at(cut);
    format!("{n} {p}{unit}")
}

fn count(v: f64) -> String {
    si(v)
}

fn bytes(v: f64) -> String {
    with_unit(v, "B")
}

fn bps(v: f64) -> String {
    with_unit(v, "bit/s")
}

fn pps(v: f64) -> String {
    with_unit(v, "pkt/s")
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

fn est(i: &Interval) -> svg::Est {
    svg::Est {
        e: i.estimate,
        lo: i.low,
        hi: i.high,
    }
}

/// The text of a number format, for the browser test: `pct` shares, or
/// SI counts.
fn kind(f: svg::Fmt) -> &'static str {
    if f(0.5).ends_with('%') { "pct" } else { "si" }
}

/// An interval as a span tied to its JSON path.
fn iv_span(path: &str, i: &Interval, f: svg::Fmt) -> String {
    let bounds = if i.low == i.high {
        String::new()
    } else {
        format!(" <small>[{}–{}]</small>", esc(&f(i.low)), esc(&f(i.high)))
    };
    format!(
        r#"<span class="iv" data-c="{}" data-k="{}" data-v="{}"><b>{}</b>{bounds}</span>"#,
        esc(path),
        kind(f),
        i.estimate,
        esc(&f(i.estimate))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_the_prefix() {
        assert_eq!(bps(12_345_678.0), "12.3 Mbit/s");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(pct(0.3849), "38.5%");
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
