//! The time series as SQL, with its per-bucket IPv6 share and protocol
//! classes: `estimate/time.rs` in SQL. The span is analyze's: the selected
//! parts' capture span from the pools table (else the samples' own),
//! clipped by `--from`/`--to`.

use std::fmt::Write;

use super::query::{
    absent_cte, base_bucketed, groups_by, intervals, parts_of_absent, parts_of_gi, v6_sums,
};
use super::{Ask, Dialect, Statement};
use crate::section::Section;
use crate::stats::sql::share_ctes;

/// analyze's automatic intervals (`engine::auto_interval`), in ns.
const STEPS: [i64; 11] = [
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    60_000_000_000,
    300_000_000_000,
    900_000_000_000,
    3_600_000_000_000,
    21_600_000_000_000,
    86_400_000_000_000,
];

/// The most buckets a time series lists when it fills the empty ones.
const MAX_BUCKETS: i64 = 100_000;

/// The interval of the time series in ns (a query of one row, column
/// `iv`): `--interval`, else analyze's choice from the span.
fn interval_cte(s: &Ask) -> String {
    if let Some(iv) = s.interval {
        return format!("ivc AS (SELECT {} AS iv)", s.dialect.int(&iv.to_string()));
    }
    let a = s
        .from
        .map_or("min(ps)".to_string(), |f| format!("coalesce({f}, min(ps))"));
    let b =
        s.to.map_or("max(pe)".to_string(), |t| format!("coalesce({t}, max(pe))"));
    let mut pick = String::from("CASE");
    for st in &STEPS[..STEPS.len() - 1] {
        let _ = write!(
            pick,
            " WHEN {} <= 60 THEN {st}",
            s.dialect.idiv("sp", &st.to_string())
        );
    }
    let _ = write!(pick, " ELSE {} END", STEPS[STEPS.len() - 1]);
    format!(
        "ivc AS (SELECT {} AS iv FROM (SELECT CASE WHEN {a} IS NOT NULL AND {b} IS NOT NULL AND {b} > {a} THEN {b} - {a} ELSE 60000000000 END AS sp FROM pl) z)",
        s.dialect.int(&pick)
    )
}

/// The CTE `span` (`s0`, `s1`: the report's start and end in ns, null
/// when unknown).
pub(super) fn span_cte(s: &Ask) -> String {
    let start = "coalesce(a.ps, b.fs)";
    let end = "coalesce(a.pe, b.ls)";
    let clip = |e: &str, lim: Option<i64>, f: &str| match lim {
        Some(x) => format!("(CASE WHEN {e} IS NULL THEN {x} ELSE {f}({e}, {x}) END)"),
        None => e.to_string(),
    };
    let sr = s.cells.borrow_mut().set(&["sc"], None);
    format!(
        ",\nspan AS (SELECT {} AS s0, {} AS s1 FROM (SELECT min(ps) AS ps, max(pe) AS pe FROM pl) a \
CROSS JOIN (SELECT min(t0) AS fs, max(t1) AS ls FROM {} WHERE {}) b)",
        clip(start, s.from, "greatest"),
        clip(end, s.to, "least"),
        sr.table,
        sr.rows(),
    )
}

/// The buckets to list (`bk`, column `k`): every bucket of the span when
/// there are at most [`MAX_BUCKETS`], and always those with samples.
fn buckets_cte(s: &Ask) -> String {
    let d = s.dialect;
    let sr = s.cells.borrow_mut().set(&["bucket"], None);
    let last = match s.to {
        Some(t) => format!("(CASE WHEN s1 = {t} THEN s1 - 1 ELSE s1 END)"),
        None => "s1".into(),
    };
    let (b0, b1) = (d.idiv("s0", "iv"), d.idiv(&last, "iv"));
    format!(
        ",\nbk AS (SELECT DISTINCT k FROM (SELECT {} AS k FROM span CROSS JOIN ivc WHERE s0 IS NOT NULL AND s1 IS NOT NULL AND {b1} >= {b0} AND {b1} - {b0} < {MAX_BUCKETS} \
UNION ALL SELECT {} AS k FROM {} WHERE {}) z)",
        d.each(&b0, &b1),
        sr.keys[0],
        sr.table,
        sr.rows(),
    )
}

/// The rows of `bk` keyed `k` (or `k`-derived) with their measures: from
/// `gi` where the group has samples, else 0 with its bound (`ab`).
fn listed_parts(key: &str, d: Dialect) -> String {
    format!(
        "SELECT {key} AS k, {} FROM gi UNION ALL SELECT ab.k AS k, {} FROM ab WHERE ab.k NOT IN (SELECT {key} FROM g)",
        parts_of_gi(d),
        parts_of_absent(d)
    )
}

/// A bucket's start in RFC 3339 with as many fractional digits as the
/// interval needs (analyze's `bucket_time`).
fn bucket_start(d: Dialect, k: &str) -> String {
    let digits = "(CASE WHEN iv % 1000000000 = 0 THEN 0 WHEN iv % 1000000 = 0 THEN 3 WHEN iv % 1000 = 0 THEN 6 ELSE 9 END)";
    d.rfc3339(&format!("({k}) * iv"), digits)
}

/// The time series' buckets: `time_series.buckets` of report-v1 (and
/// `interval_seconds`, the same on every row), without their protocol
/// classes (the section `time_series_protocols`).
fn time_series_sql(s: &Ask) -> String {
    let d = s.dialect;
    let keys = [("bucket".to_string(), "bucket")];
    let secs = "(iv / 1e9)";
    let per = |e: &str, k: &str| format!("{e} * (1.0 / {secs}){k}");
    let rec = |p: &str, k: &str| {
        d.estimate(
            &per(&format!("t.{p}e"), k),
            &per(&format!("t.{p}lo"), k),
            &per(&format!("t.{p}hi"), k),
        )
    };
    format!(
        "{base}{span}{groups}{intervals}{bk}{ab}{shp}{shb},\n\
tl AS ({listed})\n\
SELECT {start} AS start, {secs} AS interval_seconds, t.samples, {p} AS packets, {b} AS bytes, {pps} AS pps, {bps} AS bps, \
{share} AS ipv6_share FROM tl t CROSS JOIN ivc LEFT JOIN shp ON t.k = shp.bucket LEFT JOIN shb ON t.k = shb.bucket ORDER BY t.k",
        base = base_bucketed(s, &interval_cte(s)),
        span = span_cte(s),
        groups = groups_by(s, &keys, "1 = 1"),
        intervals = intervals(d),
        bk = buckets_cte(s),
        ab = absent_cte("SELECT k FROM bk", "1e18"),
        shp = share_ctes(
            "shp",
            &v6_sums(s, "bucket", "bucket", "1 = 1", false),
            &["bucket"],
            true
        ),
        shb = share_ctes(
            "shb",
            &v6_sums(s, "bucket", "bucket", "1 = 1", true),
            &["bucket"],
            true
        ),
        listed = listed_parts("bucket", d),
        start = bucket_start(d, "t.k"),
        p = d.estimate("t.pe", "t.plo", "t.phi"),
        b = d.estimate("t.be", "t.blo", "t.bhi"),
        pps = rec("p", ""),
        bps = rec("b", " * 8.0"),
        share = d.share_pair(
            &d.estimate(
                "coalesce(shp.shp_e, 0.0)",
                "coalesce(shp.shp_l, 0.0)",
                "coalesce(shp.shp_h, 1.0)"
            ),
            &d.estimate(
                "coalesce(shb.shb_e, 0.0)",
                "coalesce(shb.shb_l, 0.0)",
                "coalesce(shb.shb_h, 1.0)"
            ),
        ),
    )
}

/// The protocol classes of each bucket (report-v1's
/// `time_series.buckets[].protocols`, with the bucket's `start`): every
/// class of every listed bucket, in analyze's order.
fn time_series_protocols(s: &Ask) -> String {
    let d = s.dialect;
    let class = "(CASE WHEN ip_proto IS NOT NULL THEN (CASE ip_proto WHEN 6 THEN 0 WHEN 17 THEN 1 WHEN 1 THEN 2 WHEN 58 THEN 3 ELSE 4 END) \
WHEN ip_version IS NULL OR ip_version NOT IN (4, 6) THEN 5 END)";
    let key = format!("(bucket * 8 + {class})");
    let keys = [(key, "bc")];
    let names = "(CASE t.k % 8 WHEN 0 THEN 'tcp' WHEN 1 THEN 'udp' WHEN 2 THEN 'icmp' WHEN 3 THEN 'icmpv6' WHEN 4 THEN 'other-ip' ELSE 'non-ip' END)";
    format!(
        "{base}{span}{groups}{intervals}{bk},\n\
bcl AS (SELECT bk.k * 8 + c.c AS k FROM bk CROSS JOIN (SELECT 0 AS c UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5) c){ab},\n\
tl AS ({listed})\n\
SELECT {start} AS start, {names} AS class, t.samples, {p} AS packets, {b} AS bytes FROM tl t CROSS JOIN ivc ORDER BY t.k",
        base = base_bucketed(s, &interval_cte(s)),
        span = span_cte(s),
        groups = groups_by(s, &keys, &format!("{class} IS NOT NULL")),
        intervals = intervals(d),
        bk = buckets_cte(s),
        ab = absent_cte("SELECT k FROM bcl", "1e18"),
        listed = listed_parts("bc", d),
        start = bucket_start(d, &d.idiv("t.k", "8")),
        p = d.estimate("t.pe", "t.plo", "t.phi"),
        b = d.estimate("t.be", "t.blo", "t.bhi"),
    )
}

/// The buckets, and their protocol classes with the protocol sections.
pub fn time_series(a: &Ask) -> Vec<Statement> {
    let mut v = a.one("time_series", time_series_sql(a));
    if a.sections.has(Section::Protocols) {
        v.push(Statement {
            section: "time_series_protocols",
            sql: time_series_protocols(a),
        });
    }
    v
}
