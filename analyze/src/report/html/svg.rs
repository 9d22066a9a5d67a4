//! SVG charts drawn at report time. Hand-written rather than a plotting
//! crate's: the marks carry CSS classes, not colours, so the page's light
//! and dark themes (and print) restyle them; every chart has a `<title>`
//! and `<desc>` for screen readers and every mark a `<title>` for hover;
//! uncertainty (bands, error bars) is drawn the same way everywhere; and the
//! output is a few kilobytes per chart, with no script needed to draw it.

use std::fmt::Write;

use super::esc;

/// The viewBox width of every chart: two columns of charts on a desktop,
/// one on a phone, with 15-unit text readable on both.
pub const W: f64 = 560.0;
const TIME_H: f64 = 230.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 28.0;
/// Label room of the horizontal bar charts, in characters.
pub const LABEL_CHARS: usize = 26;

/// An estimate with its 95 % interval, as drawn.
#[derive(Clone, Copy, Debug)]
pub struct Est {
    pub e: f64,
    pub lo: f64,
    pub hi: f64,
}

/// How values are written on axes and in hover text.
pub type Fmt<'a> = &'a dyn Fn(f64) -> String;

fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// A round step giving about `n` ticks up to `max`.
fn nice_max(max: f64, n: f64) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / n;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    (step, (max / step).ceil() * step)
}

/// Shorten a label to `n` characters with an ellipsis.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The opening of a chart: its accessible name and description.
fn open(s: &mut String, id: &str, title: &str, desc: &str, h: f64) {
    let _ = write!(
        s,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {W} {h:.0}" role="img" aria-labelledby="{id}-t {id}-d"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        esc(title),
        esc(desc)
    );
}

/// Horizontal grid lines and value labels of a y axis from 0 to `max`.
fn y_axis(s: &mut String, max: f64, step: f64, y: &dyn Fn(f64) -> f64, fmt: Fmt) {
    let mut v = 0.0;
    while v <= max * (1.0 + 1e-9) {
        let yy = y(v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            yy + 5.0,
            esc(&fmt(v))
        );
        v += step;
    }
}

/// Time labels of an x axis spanning `[t0, t1]` (Unix seconds).
fn x_axis(s: &mut String, t0: f64, t1: f64, x: &dyn Fn(f64) -> f64, h: f64) {
    let span = (t1 - t0).max(1e-9);
    // The first label says the time in full, the others what changes.
    let (first, rest) = if span > 2.0 * 86400.0 {
        ("%Y-%m-%d", "%m-%d %H:%M")
    } else if span > 600.0 {
        ("%H:%M", "%H:%M")
    } else if span >= 10.0 {
        ("%H:%M:%S", "%H:%M:%S")
    } else {
        ("%H:%M:%S%.3f", ":%S%.3f")
    };
    let n = 3;
    for i in 0..=n {
        let t = t0 + span * i as f64 / n as f64;
        let label = chrono::DateTime::from_timestamp_nanos((t * 1e9) as i64)
            .format(if i == 0 { first } else { rest })
            .to_string();
        let anchor = match i {
            0 => "start",
            i if i == n => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r#"<text class="tick small" x="{:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
            x(t),
            h - 8.0,
            esc(&label)
        );
    }
}

/// A time series with its 95 % band: `t` are bucket starts (Unix s),
/// `width` the bucket width (s); `share` fixes the axis to [0, 1].
pub struct TimeChart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub desc: &'a str,
    pub t: &'a [f64],
    pub v: &'a [Est],
    pub width: f64,
    pub share: bool,
    pub fmt: Fmt<'a>,
}

impl TimeChart<'_> {
    pub fn svg(&self) -> String {
        let mut s = String::new();
        open(&mut s, self.id, self.title, self.desc, TIME_H);
        let n = self.t.len();
        let (t0, t1) = (self.t[0], self.t[n - 1] + self.width);
        let (step, max) = if self.share {
            (0.25, 1.0)
        } else {
            nice_max(self.v.iter().map(|e| finite(e.hi)).fold(0.0, f64::max), 4.0)
        };
        let x = |t: f64| LEFT + (t - t0) / (t1 - t0).max(1e-9) * (W - LEFT - RIGHT);
        let y = |v: f64| TOP + (1.0 - finite(v) / max).clamp(0.0, 1.0) * (TIME_H - TOP - BOTTOM);
        let axis: Fmt = if self.share {
            &|v| format!("{:.0}%", 100.0 * v)
        } else {
            &|v| crate::report::si(v)
        };
        y_axis(&mut s, max, step, &y, axis);
        x_axis(&mut s, t0, t1, &x, TIME_H);
        let mid = |i: usize| x(self.t[i] + self.width / 2.0);
        let mut band = String::new();
        for i in 0..n {
            let _ = write!(
                band,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                mid(i),
                y(self.v[i].hi)
            );
        }
        for i in (0..n).rev() {
            let _ = write!(band, "L{:.1},{:.1}", mid(i), y(self.v[i].lo));
        }
        let _ = write!(s, r#"<path class="band mark" d="{band}Z"/>"#);
        let mut line = String::new();
        for i in 0..n {
            let _ = write!(
                line,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                mid(i),
                y(self.v[i].e)
            );
        }
        let _ = write!(s, r#"<path class="line mark" d="{line}"/>"#);
        if n <= 2 {
            for i in 0..n {
                let _ = write!(
                    s,
                    r#"<circle class="dot mark" cx="{:.1}" cy="{:.1}" r="4"/><line class="whisker mark" x1="{0:.1}" x2="{0:.1}" y1="{:.1}" y2="{:.1}"/>"#,
                    mid(i),
                    y(self.v[i].e),
                    y(self.v[i].lo),
                    y(self.v[i].hi)
                );
            }
        }
        if n <= 150 {
            // Hover targets: one strip per bucket with its value.
            let w = (W - LEFT - RIGHT) / n as f64;
            for i in 0..n {
                let v = self.v[i];
                let when = chrono::DateTime::from_timestamp_nanos((self.t[i] * 1e9) as i64)
                    .format("%Y-%m-%d %H:%M:%S%.3f");
                let _ = write!(
                    s,
                    r#"<rect class="hit" x="{:.1}" y="{TOP}" width="{w:.2}" height="{:.1}"><title>{when}: {} [{}–{}]</title></rect>"#,
                    mid(i) - w / 2.0,
                    TIME_H - TOP - BOTTOM,
                    esc(&(self.fmt)(v.e)),
                    esc(&(self.fmt)(v.lo)),
                    esc(&(self.fmt)(v.hi))
                );
            }
        }
        s.push_str("</svg>");
        s
    }
}

/// Stacked areas over time (estimates; their intervals are in the table).
pub fn stacked(
    id: &str,
    title: &str,
    desc: &str,
    t: &[f64],
    width: f64,
    layers: &[(&str, Vec<f64>)],
    fmt: Fmt,
) -> String {
    let mut s = String::new();
    let legend_h = 22.0;
    let h = TIME_H + legend_h;
    open(&mut s, id, title, desc, h);
    let n = t.len();
    let (t0, t1) = (t[0], t[n - 1] + width);
    let tops: Vec<f64> = (0..n)
        .map(|i| layers.iter().map(|l| finite(l.1[i])).sum())
        .collect();
    let (step, max) = nice_max(tops.iter().copied().fold(0.0, f64::max), 4.0);
    let x = |t: f64| LEFT + (t - t0) / (t1 - t0).max(1e-9) * (W - LEFT - RIGHT);
    let y = |v: f64| legend_h + TOP + (1.0 - v / max).clamp(0.0, 1.0) * (TIME_H - TOP - BOTTOM);
    y_axis(&mut s, max, step, &y, &|v| crate::report::si(v));
    x_axis(&mut s, t0, t1, &x, h);
    let mut base = vec![0.0; n];
    let mut lx = LEFT;
    for (k, (name, v)) in layers.iter().enumerate() {
        let top: Vec<f64> = (0..n).map(|i| base[i] + finite(v[i])).collect();
        let mut d = String::new();
        // Each bucket is a step: flat over its width.
        for i in 0..n {
            let (a, b) = (x(t[i]), x(t[i] + width));
            let _ = write!(
                d,
                "{}{a:.1},{:.1}L{b:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                y(top[i]),
                y(top[i])
            );
        }
        for i in (0..n).rev() {
            let (a, b) = (x(t[i]), x(t[i] + width));
            let _ = write!(d, "L{b:.1},{:.1}L{a:.1},{:.1}", y(base[i]), y(base[i]));
        }
        let total: f64 = v.iter().map(|x| finite(*x)).sum();
        let _ = write!(
            s,
            r#"<path class="area mark c{k}" d="{d}Z"><title>{}: {} on average</title></path>"#,
            esc(name),
            esc(&fmt(total / n as f64))
        );
        let _ = write!(
            s,
            r#"<rect class="area c{k}" x="{lx:.1}" y="4" width="12" height="12"/><text class="tick" x="{:.1}" y="15">{}</text>"#,
            lx + 16.0,
            esc(name)
        );
        lx += 22.0 + 8.5 * name.chars().count() as f64;
        base = top;
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars with 95 % error bars, largest first as given.
pub fn bars(id: &str, title: &str, desc: &str, rows: &[(String, Est)], fmt: Fmt) -> String {
    let mut s = String::new();
    let row_h = 24.0;
    let h = TOP + row_h * rows.len() as f64 + 8.0;
    open(&mut s, id, title, desc, h);
    let label_w = 7.6 * LABEL_CHARS as f64;
    let value_w = 64.0;
    let (x0, x1) = (label_w, W - value_w);
    let max = nice_max(rows.iter().map(|r| finite(r.1.hi)).fold(0.0, f64::max), 4.0).1;
    let x = |v: f64| x0 + (finite(v) / max).clamp(0.0, 1.0) * (x1 - x0);
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = TOP + row_h * i as f64;
        let cy = y + row_h / 2.0;
        let full = format!("{label}: {} [{}–{}]", fmt(v.e), fmt(v.lo), fmt(v.hi));
        let (xl, xh, xe) = (x(v.lo), x(v.hi), x(v.e));
        let _ = write!(
            s,
            r#"<g><title>{full}</title><text class="label small" x="{lx:.1}" y="{ty:.1}" text-anchor="end">{label}</text><rect class="bar mark" x="{x0:.1}" y="{by:.1}" width="{bw:.1}" height="{bh:.1}"/><line class="whisker mark" x1="{xl:.1}" x2="{xh:.1}" y1="{cy:.1}" y2="{cy:.1}"/><line class="whisker" x1="{xl:.1}" x2="{xl:.1}" y1="{c0:.1}" y2="{c1:.1}"/><line class="whisker" x1="{xh:.1}" x2="{xh:.1}" y1="{c0:.1}" y2="{c1:.1}"/><text class="tick" x="{vx:.1}" y="{ty:.1}">{value}</text></g>"#,
            full = esc(&full),
            lx = x0 - 6.0,
            ty = cy + 5.0,
            label = esc(&clip(label, LABEL_CHARS)),
            by = y + 4.0,
            bw = (xe - x0).max(0.5),
            bh = row_h - 8.0,
            c0 = cy - 5.0,
            c1 = cy + 5.0,
            vx = x1 + 6.0,
            value = esc(&fmt(v.e))
        );
    }
    s.push_str("</svg>");
    s
}

/// Vertical bars with error bars over named classes (a histogram).
pub fn columns(id: &str, title: &str, desc: &str, rows: &[(String, Est)], fmt: Fmt) -> String {
    let mut s = String::new();
    open(&mut s, id, title, desc, TIME_H);
    let (step, max) = nice_max(rows.iter().map(|r| finite(r.1.hi)).fold(0.0, f64::max), 4.0);
    let y = |v: f64| TOP + (1.0 - finite(v) / max).clamp(0.0, 1.0) * (TIME_H - TOP - BOTTOM);
    y_axis(&mut s, max, step, &y, &|v| crate::report::si(v));
    let w = (W - LEFT - RIGHT) / rows.len().max(1) as f64;
    for (i, (label, v)) in rows.iter().enumerate() {
        let cx = LEFT + w * (i as f64 + 0.5);
        let _ = write!(
            s,
            r#"<g><title>{}: {} [{}–{}]</title><rect class="bar mark" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/><line class="whisker mark" x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}"/><text class="tick small" x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text></g>"#,
            esc(label),
            esc(&fmt(v.e)),
            esc(&fmt(v.lo)),
            esc(&fmt(v.hi)),
            cx - w * 0.35,
            y(v.e),
            w * 0.7,
            (y(0.0) - y(v.e)).max(0.0),
            y(v.lo),
            y(v.hi),
            TIME_H - 8.0,
            esc(&clip(label, 10))
        );
    }
    s.push_str("</svg>");
    s
}

/// A matrix of (row, column) cells, shaded by their estimate.
pub fn matrix(
    id: &str,
    title: &str,
    desc: &str,
    (rows, cols): (&[String], &[String]),
    cells: &[(usize, usize, Est)],
    fmt: Fmt,
) -> String {
    let mut s = String::new();
    let label_w = 9.0 * 14.0;
    let head = 9.0 * 14.0;
    let cw = (W - label_w - RIGHT) / cols.len().max(1) as f64;
    let ch = 24.0;
    let h = head + ch * rows.len() as f64 + 6.0;
    open(&mut s, id, title, desc, h);
    for (j, c) in cols.iter().enumerate() {
        let cx = label_w + cw * (j as f64 + 0.5);
        let _ = write!(
            s,
            r#"<text class="tick small" transform="translate({cx:.1},{:.1}) rotate(-60)"><title>{}</title>{}</text>"#,
            head - 6.0,
            esc(c),
            esc(&clip(c, 14))
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(
            s,
            r#"<text class="tick small" x="{:.1}" y="{:.1}" text-anchor="end"><title>{}</title>{}</text>"#,
            label_w - 6.0,
            head + ch * i as f64 + ch / 2.0 + 5.0,
            esc(r),
            esc(&clip(r, 14))
        );
    }
    let max = cells
        .iter()
        .map(|c| finite(c.2.e))
        .fold(0.0, f64::max)
        .max(1e-300);
    for &(i, j, v) in cells {
        let _ = write!(
            s,
            r#"<rect class="cell mark" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill-opacity="{:.3}"><title>{} → {}: {} [{}–{}]</title></rect>"#,
            label_w + cw * j as f64 + 1.0,
            head + ch * i as f64 + 1.0,
            cw - 2.0,
            ch - 2.0,
            0.12 + 0.88 * (finite(v.e) / max).sqrt(),
            esc(&rows[i]),
            esc(&cols[j]),
            esc(&fmt(v.e)),
            esc(&fmt(v.lo)),
            esc(&fmt(v.hi))
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_cover_the_maximum() {
        for max in [0.0, 1e-3, 0.7, 1.0, 3.2, 99.0, 101.0, 12345.0, 7.7e12] {
            let (step, top) = nice_max(max, 4.0);
            assert!(
                top >= max && top / step <= 10.0 + 1e-9,
                "{max} -> {step} {top}"
            );
        }
        assert_eq!(nice_max(f64::NAN, 4.0).1, 1.0);
    }

    #[test]
    fn clip_keeps_short_labels_and_marks_cut_ones() {
        assert_eq!(clip("AS64496", 10), "AS64496");
        assert_eq!(clip("AS64496 A very long name", 10).chars().count(), 10);
        assert!(clip("AS64496 A very long name", 10).ends_with('…'));
    }
}
