//! The data tables beside the charts: every row and number of a section,
//! sortable by any column (the page's script), each cell tied to its JSON
//! path.

use std::fmt::Write;

use super::svg::Fmt;
use super::{bytes, count, esc, iv_span, pct};
use crate::report::{Measures, TextSection};
use crate::stats::Interval;

/// The header of a sortable table.
pub(super) fn head(caption: &str, cols: &[&str]) -> String {
    let mut s = format!(
        r#"<div class="tw"><table class="sortable"><caption>{}</caption><thead><tr>"#,
        esc(caption)
    );
    for c in cols {
        let _ = write!(
            s,
            r#"<th scope="col"><button type="button">{}</button></th>"#,
            esc(c)
        );
    }
    s.push_str("</tr></thead><tbody>");
    s
}

pub(super) const FOOT: &str = "</tbody></table></div>";

/// A text cell.
pub(super) fn td(text: &str) -> String {
    format!("<td>{}</td>", esc(text))
}

/// A count cell tied to the row's `path` field.
pub(super) fn td_count(path: &str, v: u64) -> String {
    format!(
        r#"<td class="n" data-c="{path}" data-k="si" data-v="{v}">{}</td>"#,
        count(v as f64)
    )
}

/// An interval cell tied to the row's `path` field.
pub(super) fn td_iv(path: &str, i: &Interval, f: Fmt) -> String {
    format!(r#"<td class="n">{}</td>"#, iv_span(path, i, f))
}

/// Samples, packets and bytes of a row.
pub(super) fn measures(m: &Measures) -> String {
    format!(
        "{}{}{}",
        td_count("samples", m.samples),
        td_iv("packets", &m.packets, &count),
        td_iv("bytes", &m.bytes, &bytes)
    )
}

/// A breakdown section's table: its key columns, then samples, packets
/// and bytes (and the IPv6 share where the section has one).
pub(super) fn breakdown(sec: &TextSection) -> String {
    let share = sec.rows.iter().any(|r| r.share.is_some());
    let mut cols = sec.key_names.to_vec();
    cols.extend(["samples", "packets [95% interval]", "bytes [95% interval]"]);
    if share {
        cols.push("IPv6 share of IP packets");
    }
    let mut s = head(sec.title, &cols);
    for (i, row) in sec.rows.iter().enumerate() {
        let low = match row.low {
            true => format!(
                r#" class="low" title="fewer than {} samples: low confidence, listed last""#,
                crate::estimate::LOW_CONFIDENCE
            ),
            false => String::new(),
        };
        let _ = write!(s, r#"<tr data-r="{}.{i}"{low}>"#, sec.id);
        for k in &row.key {
            s.push_str(&td(k));
        }
        s.push_str(&measures(&row.m));
        if let Some(sh) = &row.share {
            s.push_str(&td_iv("share_packets", sh, &pct));
        }
        s.push_str("</tr>");
    }
    s.push_str(FOOT);
    if sec.rows.iter().any(|r| r.low) {
        let _ = write!(
            s,
            r#"<p class="note">Shaded rows rest on fewer than {} samples: low confidence, listed after the others (their rank is not exact).</p>"#,
            crate::estimate::LOW_CONFIDENCE
        );
    }
    s
}
