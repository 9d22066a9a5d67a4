//! The summary as SQL (its span, rates per second, pools, drops, the
//! unseen bound) and the report's IPv6 share: `estimate/summary.rs` in SQL.
//! The span is analyze's (see [`super::time`]).

use std::fmt::Write;

use super::query::{absent_cte, base, groups_by, intervals, parts_of_absent, parts_of_gi, v6_sums};
use super::time::span_cte;
use super::{Ask, Statement};
use crate::engine::SIZE_CLASSES;
use crate::stats::sql::share_ctes;

/// The lower bound of the smallest size class with a sample (over `cum`).
fn smallest_class() -> String {
    let mut s = String::from("(CASE");
    for (i, (lo, _)) in SIZE_CLASSES.iter().enumerate() {
        let _ = write!(s, " WHEN cum.u{i} > 0 THEN {lo}.0");
    }
    s.push_str(" ELSE 0.0 END)");
    s
}

/// The strata the pools list without a sample, and the report's frame
/// sizes for their packets (analyze's `add_unsampled`).
pub fn unsampled_ctes() -> String {
    format!(
        ",\nus AS (SELECT p.host AS host, p.ifname AS ifname, p.direction AS direction, p.rate_i AS rate_i, sum(p.packets_seen) AS seen, sum(p.drops) AS drops FROM pl p \
LEFT JOIN strat t ON p.host = t.host AND p.ifname = t.ifname AND p.direction = t.direction AND p.rate_i = t.rate_i \
WHERE t.n0 IS NULL GROUP BY p.host, p.ifname, p.direction, p.rate_i),\n\
fr AS (SELECT CASE WHEN tot.ptotal > 0 THEN {} ELSE 0.0 END AS small, \
CASE WHEN tot.ptotal > 0 THEN (SELECT sum(sb) FROM pooled) / tot.ptotal ELSE 0.0 END AS mean, \
CASE WHEN tot.ptotal > 0 THEN tot.pmax ELSE greatest(tot.pmax, 65557.0) END AS large FROM tot CROSS JOIN cum)",
        smallest_class()
    )
}

fn summary_sql(s: &Ask) -> String {
    let d = s.dialect;
    let windowed = s.from.is_some() || s.to.is_some();
    let keys = [(d.text("'all'"), "grp")];
    let (ape, aplo, abe, ablo) = if windowed {
        ("pe", "plo", "be", "blo")
    } else {
        (
            "pe + u",
            "plo + u",
            "be + u * fr.mean",
            "blo + u * fr.small",
        )
    };
    let per_s = |e: &str| format!("{e} * (1.0 / dur)");
    let rec = |p: &str| {
        d.estimate(
            &format!("tt.{p}e"),
            &format!("tt.{p}lo"),
            &format!("tt.{p}hi"),
        )
    };
    let rate_rec = |p: &str, k: &str| {
        format!(
            "CASE WHEN dur > 0 THEN {} END",
            d.estimate(
                &format!("{}{k}", per_s(&format!("tt.{p}e"))),
                &format!("{}{k}", per_s(&format!("tt.{p}lo"))),
                &format!("{}{k}", per_s(&format!("tt.{p}hi")))
            )
        )
    };
    format!(
        "{base}{groups}{intervals}{ab}{span}{us},\n\
sm AS (SELECT {gi_parts} FROM gi UNION ALL SELECT {ab_parts} FROM ab WHERE NOT EXISTS (SELECT 1 FROM g)),\n\
un AS (SELECT {ab_parts} FROM ab),\n\
sa AS (SELECT count(*) AS nst, sum(CASE WHEN m IS NULL THEN 1 ELSE 0 END) AS nopool, sum(m) AS mm, sum(drops) AS dr, sum(n) AS written FROM st),\n\
ua AS (SELECT coalesce(sum(seen), 0) AS u, coalesce(sum(drops), 0) AS udr FROM us),\n\
rt AS (SELECT {rates} AS sampling_rates FROM (SELECT rate_i FROM st UNION ALL SELECT rate_i FROM us) x),\n\
tt AS (SELECT sm.samples AS samples, CASE WHEN u > 0 THEN {ape} ELSE pe END AS pe, CASE WHEN u > 0 THEN {aplo} ELSE plo END AS plo, \
CASE WHEN u > 0 THEN phi + u ELSE phi END AS phi, CASE WHEN u > 0 THEN {abe} ELSE be END AS be, \
CASE WHEN u > 0 THEN {ablo} ELSE blo END AS blo, CASE WHEN u > 0 THEN bhi + u * fr.large ELSE bhi END AS bhi, \
span.s0, span.s1, CASE WHEN span.s1 > span.s0 THEN (span.s1 - span.s0) / 1e9 ELSE 0.0 END AS dur, \
sa.nst, sa.nopool, sa.mm, sa.dr + ua.udr AS drops, sa.written, ua.u \
FROM sm CROSS JOIN ua CROSS JOIN fr CROSS JOIN span CROSS JOIN sa)\n\
SELECT CASE WHEN s0 IS NOT NULL THEN {start} END AS start, CASE WHEN s1 IS NOT NULL THEN {end} END AS {end_col}, \
dur AS duration_seconds, tt.samples AS samples, {p} AS packets, {b} AS bytes, {pps} AS pps, {bps} AS bps, rt.sampling_rates, \
CASE WHEN nst > 0 AND nopool = 0 THEN {seen} END AS packets_seen, {drops} AS drops, \
CASE WHEN drops + written > 0 THEN drops / (drops + written) ELSE 0.0 END AS drop_share, \
{exact} AS packets_exact, \
{unseen} AS unseen FROM tt CROSS JOIN rt CROSS JOIN un",
        base = base(s),
        groups = groups_by(s, &keys, "1 = 1"),
        intervals = intervals(d),
        ab = absent_cte(&format!("SELECT {} AS k", d.text("'all'")), "1e18"),
        span = span_cte(s),
        us = unsampled_ctes(),
        gi_parts = parts_of_gi(d),
        ab_parts = parts_of_absent(d),
        rates = d.sorted_set("rate_i"),
        start = d.rfc3339("s0", "9"),
        end = d.rfc3339("s1", "9"),
        end_col = d.ident("end"),
        p = rec("p"),
        b = rec("b"),
        pps = rate_rec("p", ""),
        bps = rate_rec("b", " * 8.0"),
        seen = d.int("mm + u"),
        drops = d.int("drops"),
        exact = d.boolean(&format!(
            "(nst > 0 AND nopool = 0 AND {} AND tt.plo = tt.phi)",
            if windowed { "1 = 0" } else { "1 = 1" }
        )),
        unseen = d.measures_rec(
            "un.samples",
            &d.estimate("un.pe", "un.plo", "un.phi"),
            &d.estimate("un.be", "un.blo", "un.bhi")
        ),
    )
}

/// The report's IPv6 share of IP packets and bytes.
fn ipv6_share(s: &Ask) -> String {
    let d = s.dialect;
    let all = d.text("'all'");
    format!(
        "{}{}{}\nSELECT {} AS packets, {} AS bytes FROM shp JOIN shb ON shp.grp = shb.grp",
        base(s),
        share_ctes(
            "shp",
            &v6_sums(s, &all, "grp", "1 = 1", false),
            &["grp"],
            true
        ),
        share_ctes(
            "shb",
            &v6_sums(s, &all, "grp", "1 = 1", true),
            &["grp"],
            true
        ),
        d.estimate("shp_e", "shp_l", "shp_h"),
        d.estimate("shb_e", "shb_l", "shb_h"),
    )
}

/// The summary and the report's IPv6 share.
pub fn summary(a: &Ask) -> Vec<Statement> {
    vec![
        Statement {
            section: "summary",
            sql: summary_sql(a),
        },
        Statement {
            section: "ipv6_share",
            sql: ipv6_share(a),
        },
    ]
}
