//! CSV: one long table, a row per breakdown row of every section, so that a
//! spreadsheet or `read_csv` gets everything with one header. Written with
//! the `csv` crate, which quotes what RFC 4180 asks (delimiters, quotes,
//! line feeds and carriage returns in AS names, say).

use std::io::Write;

use super::{HostsRow, Render, Report};
use crate::catalog::text_sections;
use crate::stats::Interval;

pub struct Csv;

const HEADER: [&str; 17] = [
    "section",
    "key",
    "samples",
    "packets",
    "packets_low",
    "packets_high",
    "bytes",
    "bytes_low",
    "bytes_high",
    "share",
    "share_low",
    "share_high",
    "hosts",
    "hosts_low",
    "hosts_high",
    "hosts_unreliable",
    "low_confidence",
];

fn csv_err(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        k => std::io::Error::other(format!("{k:?}")),
    }
}

/// One line: estimates and bounds; absent ones empty.
fn record(
    section: &str,
    key: &str,
    samples: String,
    packets: &Interval,
    bytes: &Interval,
    share: Option<&Interval>,
) -> [String; 17] {
    let n = |x: f64| x.to_string();
    let sh = |f: fn(&Interval) -> f64| share.map(|s| n(f(s))).unwrap_or_default();
    [
        section.to_string(),
        key.to_string(),
        samples,
        n(packets.estimate),
        n(packets.low),
        n(packets.high),
        n(bytes.estimate),
        n(bytes.low),
        n(bytes.high),
        sh(|s| s.estimate),
        sh(|s| s.low),
        sh(|s| s.high),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]
}

/// A distinct-hosts line: only its own columns.
fn hosts_record(h: &HostsRow) -> [String; 17] {
    let c = &h.c;
    let mut r: [String; 17] = Default::default();
    r[0] = "distinct_hosts".into();
    r[1] = format!("{} IPv{}", h.hosts, h.ip_version);
    r[2] = c.samples.to_string();
    r[12] = c.estimate.to_string();
    r[13] = c.low.to_string();
    r[14] = c.high.to_string();
    r[15] = c.unreliable.to_string();
    r
}

impl Render for Csv {
    fn render(&self, r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
        let mut w = csv::WriterBuilder::new().flexible(false).from_writer(out);
        w.write_record(HEADER).map_err(csv_err)?;
        let s = &r.summary;
        let sh = &r.ipv6_share;
        for (section, key, samples, packets, bytes) in [
            (
                "summary",
                "total",
                s.samples.to_string(),
                &s.packets,
                &s.bytes,
            ),
            (
                "summary",
                "unseen",
                s.unseen.samples.to_string(),
                &s.unseen.packets,
                &s.unseen.bytes,
            ),
            ("ipv6_share", "of IP", String::new(), &sh.packets, &sh.bytes),
        ] {
            w.write_record(record(section, key, samples, packets, bytes, None))
                .map_err(csv_err)?;
        }
        for h in r.distinct_hosts.iter().flatten() {
            w.write_record(hosts_record(h)).map_err(csv_err)?;
        }
        for sec in text_sections(r) {
            for row in &sec.rows {
                let m = &row.m;
                let mut rec = record(
                    sec.id,
                    &row.key.join(" "),
                    m.samples.to_string(),
                    &m.packets,
                    &m.bytes,
                    row.share.as_ref(),
                );
                if row.low {
                    rec[16] = "true".into();
                }
                w.write_record(rec).map_err(csv_err)?;
            }
        }
        w.flush()
    }
}
