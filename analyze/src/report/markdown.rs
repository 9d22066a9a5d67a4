//! Markdown: a heading and a table per section, for tickets and wikis.

use std::io::Write;

use super::{Render, Report, hosts_text, interval_text, share_text, unseen_text};
use crate::catalog::text_sections;

pub struct Markdown;

impl Render for Markdown {
    fn render(&self, r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
        let s = &r.summary;
        writeln!(out, "# Traffic report\n")?;
        writeln!(out, "| | estimate [95% interval] |")?;
        writeln!(out, "|---|---|")?;
        if let (Some(a), Some(b)) = (&s.start, &s.end) {
            writeln!(out, "| time | {a} – {b} ({:.3} s) |", s.duration_seconds)?;
        }
        writeln!(out, "| samples | {} |", s.samples)?;
        writeln!(out, "| packets | {} |", interval_text(&s.packets))?;
        writeln!(out, "| bytes | {} |", interval_text(&s.bytes))?;
        if let (Some(p), Some(b)) = (&s.pps, &s.bps) {
            writeln!(out, "| packets/s | {} |", interval_text(p))?;
            writeln!(out, "| bits/s | {} |", interval_text(b))?;
        }
        writeln!(
            out,
            "| IPv6 share of IP packets | {} |",
            share_text(&r.ipv6_share.packets)
        )?;
        writeln!(
            out,
            "| IPv6 share of IP bytes | {} |",
            share_text(&r.ipv6_share.bytes)
        )?;
        if let Some(d) = &r.distinct_addresses {
            writeln!(
                out,
                "| distinct addresses seen (lower bound) | {} IPv4, {} IPv6 |",
                d.ipv4, d.ipv6
            )?;
        }
        for h in r
            .distinct_hosts
            .iter()
            .flatten()
            .filter(|h| h.c.samples > 0)
        {
            writeln!(
                out,
                "| distinct {} IPv{} (Chao1, 95%) | {} |",
                h.hosts,
                h.ip_version,
                hosts_text(&h.c)
            )?;
        }
        writeln!(out, "| a category with no sample | {} |", unseen_text(s))?;
        writeln!(
            out,
            "| drops | {} ({:.2}%) |",
            s.drops,
            100.0 * s.drop_share
        )?;
        for sec in text_sections(r) {
            writeln!(out, "\n## {}\n", sec.title)?;
            let share = sec.rows.iter().any(|r| r.share.is_some());
            writeln!(
                out,
                "| {} | samples | packets | bytes |{}",
                sec.key_names.join(" | "),
                if share { " IPv6 share |" } else { "" }
            )?;
            writeln!(
                out,
                "|{}---:|---|---|{}",
                "---|".repeat(sec.key_names.len()),
                if share { "---|" } else { "" }
            )?;
            for row in &sec.rows {
                let extra = row
                    .share
                    .map(|s| format!(" {} |", share_text(&s)))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "| {} | {} | {} | {} |{extra}",
                    row.key.join(" | ").replace('|', "\\|"),
                    match row.low {
                        true => format!("~{}", row.m.samples),
                        false => row.m.samples.to_string(),
                    },
                    interval_text(&row.m.packets),
                    interval_text(&row.m.bytes)
                )?;
            }
            if sec.rows.iter().any(|r| r.low) {
                writeln!(
                    out,
                    "\n~ fewer than {} samples: low confidence, listed last (the rank is not exact).",
                    crate::estimate::LOW_CONFIDENCE
                )?;
            }
        }
        for w in &r.warnings {
            writeln!(out, "\n> **warning:** {w}")?;
        }
        Ok(())
    }
}
