//! Numbers as the text formats show them: SI counts, intervals, shares.

use super::Summary;
use crate::stats::Interval;
use crate::stats::distinct::{Chao1, UNRELIABLE_SINGLETONS};

/// Human formatting of counts: 1234567 -> "1.23M".
pub fn si(v: f64) -> String {
    let a = v.abs();
    let (d, suffix) = if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if suffix.is_empty() {
        if (x - x.round()).abs() < 1e-9 || x.abs() >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    } else if x.abs() >= 100.0 {
        format!("{x:.0}{suffix}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}{suffix}")
    } else {
        format!("{x:.2}{suffix}")
    }
}

/// "12.3k [11.9k–12.7k]", or just "12345" when exact.
pub fn interval_text(i: &Interval) -> String {
    if i.low == i.high {
        si(i.estimate)
    } else {
        format!("{} [{}–{}]", si(i.estimate), si(i.low), si(i.high))
    }
}

/// "12.3k [11.0k–14.1k] (9.87k seen; 3.1% of packets from hosts not
/// seen)", flagged when Chao1 is unreliable.
pub fn hosts_text(c: &Chao1) -> String {
    let mut s = format!(
        "{} [{}–{}] ({} seen; {:.1}% of packets from hosts not seen)",
        si(c.estimate),
        si(c.low),
        si(c.high),
        si(c.seen as f64),
        100.0 * c.unseen_traffic_share
    );
    if c.unreliable {
        s += &unreliable_text(c);
    }
    s
}

/// The flag of an unreliable distinct-host estimate.
pub fn unreliable_text(c: &Chao1) -> String {
    format!(
        " UNRELIABLE: {:.0}% of hosts seen once (above {:.0}%): the sample says little of the hosts it missed",
        100.0 * c.singletons as f64 / c.seen.max(1) as f64,
        100.0 * UNRELIABLE_SINGLETONS
    )
}

/// The summary's bound for a category without a sample.
pub fn unseen_text(s: &Summary) -> String {
    format!(
        "at most {} packets, {} bytes",
        si(s.unseen.packets.high),
        si(s.unseen.bytes.high)
    )
}

/// Percentages: "38.4% [35.1–41.8]".
pub fn share_text(i: &Interval) -> String {
    if i.low == i.high {
        format!("{:.1}%", 100.0 * i.estimate)
    } else {
        format!(
            "{:.1}% [{:.1}–{:.1}]",
            100.0 * i.estimate,
            100.0 * i.low,
            100.0 * i.high
        )
    }
}
