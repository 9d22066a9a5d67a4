//! CSV: one long table, a row per breakdown row of every section, so that a
//! spreadsheet or `read_csv` gets everything with one header.

use std::io::Write;

use super::{Render, Report, text_sections};

pub struct Csv;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Render for Csv {
    fn render(&self, r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "section,key,samples,packets,packets_low,packets_high,bytes,bytes_low,bytes_high,share,share_low,share_high"
        )?;
        let s = &r.summary;
        writeln!(
            out,
            "summary,total,{},{},{},{},{},{},{},,,",
            s.samples,
            s.packets.estimate,
            s.packets.low,
            s.packets.high,
            s.bytes.estimate,
            s.bytes.low,
            s.bytes.high
        )?;
        let sh = &r.ipv6_share;
        writeln!(
            out,
            "ipv6_share,of IP,,{},{},{},{},{},{},,,",
            sh.packets.estimate,
            sh.packets.low,
            sh.packets.high,
            sh.bytes.estimate,
            sh.bytes.low,
            sh.bytes.high
        )?;
        for sec in text_sections(r) {
            for row in &sec.rows {
                let m = &row.m;
                let share = row
                    .share
                    .map(|s| format!("{},{},{}", s.estimate, s.low, s.high))
                    .unwrap_or_else(|| ",,".into());
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{share}",
                    sec.id,
                    field(&row.key.join(" ")),
                    m.samples,
                    m.packets.estimate,
                    m.packets.low,
                    m.packets.high,
                    m.bytes.estimate,
                    m.bytes.low,
                    m.bytes.high
                )?;
            }
        }
        Ok(())
    }
}
