//! The terminal table: aligned, within 80 columns.

use std::io::Write;

use super::{Render, Report, TextSection, interval_text, share_text, si, unseen_text};
use crate::catalog::text_sections;
use crate::stats::distinct::UNRELIABLE_SINGLETONS;

pub struct Table;

/// Widest key column before it is cut.
const KEY_WIDTH: usize = 24;

/// Terminal columns of a cell (an AS name may be CJK, or carry combining
/// marks): its display width, not its chars.
fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// At most `w` columns, `…` marking a cut.
fn cut(s: &str, w: usize) -> String {
    if width(s) <= w {
        return s.to_string();
    }
    let mut t = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw > w - 1 {
            break;
        }
        used += cw;
        t.push(c);
    }
    t.push('…');
    t
}

fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

fn rpad(s: &str, w: usize) -> String {
    format!("{}{s}", " ".repeat(w.saturating_sub(width(s))))
}

/// Word-wrap to `width` columns, continuation lines indented; a word
/// longer than a line (a path) stays whole.
fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let o = textwrap::Options::new(width)
        .subsequent_indent(indent)
        .break_words(false)
        .word_separator(textwrap::WordSeparator::AsciiSpace);
    textwrap::wrap(text, o)
        .into_iter()
        .map(|l| l.into_owned())
        .collect()
}

impl Render for Table {
    fn render(&self, r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
        summary(r, out)?;
        for sec in text_sections(r) {
            writeln!(out)?;
            section(&sec, out)?;
        }
        if let Some(t) = &r.time_series {
            let d = std::time::Duration::from_secs_f64(t.interval_seconds);
            writeln!(out, "  (buckets of {})", humantime::format_duration(d))?;
        }
        for w in &r.warnings {
            writeln!(out)?;
            for line in wrap(&format!("warning: {w}"), 80, "         ") {
                writeln!(out, "{line}")?;
            }
        }
        Ok(())
    }
}

fn summary(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let s = &r.summary;
    writeln!(out, "Summary (95% intervals in brackets)")?;
    if let (Some(a), Some(b)) = (&s.start, &s.end) {
        writeln!(out, "  from      {a}")?;
        writeln!(out, "  to        {b} ({:.3} s)", s.duration_seconds)?;
    }
    let rates: Vec<String> = s
        .sampling_rates
        .iter()
        .map(|r| format!("1-in-{r}"))
        .collect();
    writeln!(out, "  samples   {} at {}", s.samples, rates.join(", "))?;
    let exact = if s.packets_exact { " (exact)" } else { "" };
    writeln!(out, "  packets   {}{exact}", interval_text(&s.packets))?;
    writeln!(out, "  bytes     {}", interval_text(&s.bytes))?;
    if let (Some(p), Some(b)) = (&s.pps, &s.bps) {
        writeln!(
            out,
            "  rate      {} pps, {} bit/s",
            interval_text(p),
            interval_text(b)
        )?;
    }
    writeln!(
        out,
        "  IPv6      {} of IP packets, {} of IP bytes",
        share_text(&r.ipv6_share.packets),
        share_text(&r.ipv6_share.bytes)
    )?;
    if let Some(d) = &r.distinct_addresses {
        writeln!(
            out,
            "  addresses {} IPv4, {} IPv6 seen (lower bounds)",
            d.ipv4, d.ipv6
        )?;
    }
    let hosts: Vec<_> = r
        .distinct_hosts
        .iter()
        .flatten()
        .filter(|h| h.c.samples > 0)
        .collect();
    for h in &hosts {
        let c = &h.c;
        writeln!(
            out,
            "  hosts     {:<12} IPv{} {} [{}–{}], {} seen, {:.0}% pkts unseen{}",
            h.hosts,
            h.ip_version,
            si(c.estimate),
            si(c.low),
            si(c.high),
            si(c.seen as f64),
            100.0 * c.unseen_traffic_share,
            if c.unreliable { " !" } else { "" }
        )?;
    }
    if !hosts.is_empty() {
        writeln!(
            out,
            "            (Chao1, 95%; ! unreliable: over {:.0}% of hosts seen once)",
            100.0 * UNRELIABLE_SINGLETONS
        )?;
    }
    writeln!(
        out,
        "  unseen    a category with no sample: {}",
        unseen_text(s)
    )?;
    if s.drops > 0 {
        writeln!(
            out,
            "  drops     {} ({:.2}% of selected)",
            s.drops,
            100.0 * s.drop_share
        )?;
    }
    if s.bad_records > 0 {
        writeln!(
            out,
            "  skipped   {} records with a lying wire length (in no estimate)",
            s.bad_records
        )?;
    }
    Ok(())
}

/// A breakdown: its title, then aligned columns (keys cut to
/// [`KEY_WIDTH`], but a last one to be shown whole).
fn section(sec: &TextSection, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}", sec.title)?;
    let nk = sec.key_names.len();
    let mut widths: Vec<usize> = sec.key_names.iter().map(|k| width(k)).collect();
    let cells: Vec<(Vec<String>, String, String, String)> = sec
        .rows
        .iter()
        .map(|row| {
            let keys: Vec<String> = (row.key.iter().enumerate())
                .map(|(i, k)| match sec.whole_last && i + 1 == nk {
                    true => k.clone(),
                    false => cut(k, KEY_WIDTH),
                })
                .collect();
            (
                keys,
                match row.low {
                    true => format!("~{}", row.m.samples),
                    false => row.m.samples.to_string(),
                },
                interval_text(&row.m.packets),
                match &row.share {
                    Some(s) => share_text(s),
                    None => interval_text(&row.m.bytes),
                },
            )
        })
        .collect();
    for (keys, ..) in &cells {
        for (i, k) in keys.iter().enumerate() {
            widths[i] = widths[i].max(width(k));
        }
    }
    let ws = cells.iter().map(|c| c.1.len()).max().unwrap_or(0).max(7);
    let wp = cells.iter().map(|c| width(&c.2)).max().unwrap_or(0).max(7);
    let mut head = String::from("  ");
    for (name, w) in sec.key_names.iter().zip(&widths).take(nk) {
        head.push_str(&pad(name, *w));
        head.push(' ');
    }
    head.push_str(&rpad("samples", ws));
    head.push(' ');
    head.push_str(&pad("packets", wp));
    if sec.rows.iter().any(|r| r.share.is_some()) {
        head.push_str(" IPv6 share of packets");
    } else {
        head.push_str(" bytes");
    }
    writeln!(out, "{}", head.trim_end())?;
    for (keys, samples, p, b) in &cells {
        let mut line = String::from("  ");
        for i in 0..nk {
            line.push_str(&pad(&keys[i], widths[i]));
            line.push(' ');
        }
        line.push_str(&rpad(samples, ws));
        line.push(' ');
        line.push_str(&pad(p, wp));
        line.push(' ');
        line.push_str(b);
        writeln!(out, "{}", line.trim_end())?;
    }
    if sec.rows.is_empty() {
        writeln!(out, "  (none)")?;
    }
    if sec.rows.iter().any(|r| r.low) {
        writeln!(
            out,
            "  ~ fewer than {} samples: low confidence, listed last (its rank is not exact)",
            crate::estimate::LOW_CONFIDENCE
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_measured_in_columns() {
        // Two columns a char: cut to at most 7 columns, with its mark.
        let c = cut("日本語ネットワーク", 7);
        assert_eq!(c, "日本語…");
        assert!(width(&c) <= 7);
        assert_eq!(width(&pad("日本", 6)), 6);
        assert_eq!(rpad("é", 3), "  é");
        // A combining accent takes no column.
        assert_eq!(pad("e\u{301}", 3), "e\u{301}  ");
        assert_eq!(cut("plain ascii text", 8), "plain a…");
    }

    #[test]
    fn warnings_wrap_at_words_within_the_width() {
        let text = "warning: 45% of the packets are tunnelled: --inner computes them inside";
        let lines = wrap(text, 30, "   ");
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| width(l) <= 30), "{lines:?}");
        assert!(lines[1..].iter().all(|l| l.starts_with("   ")));
        assert_eq!(
            lines.join(" ").split_whitespace().collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
        // A word longer than the line stays whole.
        let long = wrap("see /a/very/long/path/that/does/not/fit", 10, " ");
        assert!(
            long.iter()
                .any(|l| l.contains("/a/very/long/path/that/does/not/fit"))
        );
    }
}
