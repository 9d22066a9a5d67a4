//! The terminal table: aligned, within 80 columns.

use std::io::Write;

use super::{Render, Report, interval_text, share_text, text_sections, unseen_text};

pub struct Table;

/// Widest key column before it is cut.
const KEY_WIDTH: usize = 24;

fn cut(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(w - 1).collect();
        t.push('…');
        t
    }
}

fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(w.saturating_sub(n)))
}

fn rpad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    format!("{}{s}", " ".repeat(w.saturating_sub(n)))
}

/// Word-wrap to `width` columns, continuation lines indented.
fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut fresh = true;
    for word in text.split_whitespace() {
        if !fresh && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut cur, indent.to_string()));
            fresh = true;
        }
        if !fresh {
            cur.push(' ');
        }
        cur.push_str(word);
        fresh = false;
    }
    if !fresh {
        lines.push(cur);
    }
    lines
}

impl Render for Table {
    fn render(&self, r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
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
        for sec in text_sections(r) {
            writeln!(out)?;
            writeln!(out, "{}", sec.title)?;
            let nk = sec.key_names.len();
            let mut widths: Vec<usize> = sec.key_names.iter().map(|k| k.len()).collect();
            let cells: Vec<(Vec<String>, String, String, String)> = sec
                .rows
                .iter()
                .map(|row| {
                    let keys: Vec<String> = row.key.iter().map(|k| cut(k, KEY_WIDTH)).collect();
                    (
                        keys,
                        row.m.samples.to_string(),
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
                    widths[i] = widths[i].max(k.chars().count());
                }
            }
            let ws = cells.iter().map(|c| c.1.len()).max().unwrap_or(0).max(7);
            let wp = cells
                .iter()
                .map(|c| c.2.chars().count())
                .max()
                .unwrap_or(0)
                .max(7);
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
