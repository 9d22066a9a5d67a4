//! Interfaces as SQL: every interface and direction the pools list,
//! sampled or not (`estimate/interfaces.rs` in SQL).

use super::query::{base, groups_by, intervals, parts_of_absent, parts_of_gi, records};
use super::summary::unsampled_ctes;
use super::{Ask, Statement};

/// Interfaces: one row per host, interface and direction, from the strata
/// with samples and from the pools of those without (their packets known
/// exactly, their bytes bounded by the report's frame sizes).
fn interfaces_sql(s: &Ask) -> String {
    let d = s.dialect;
    // Named apart from the strata's own columns.
    let keys = [
        ("host".to_string(), "ihost"),
        ("ifname".to_string(), "iifname"),
        ("direction".to_string(), "idir"),
    ];
    let windowed = s.from.is_some() || s.to.is_some();
    let on = |a: &str, b: &str| {
        format!("{a}.host = {b}.host AND {a}.ifname = {b}.ifname AND {a}.direction = {b}.direction")
    };
    let (add_pe, add_plo, add_be, add_blo) = if windowed {
        ("0.0", "0.0", "0.0", "0.0")
    } else {
        ("u", "u", "u * fr.mean", "u * fr.small")
    };
    format!(
        "{base}{groups}{intervals}{us},\n\
ifs AS (SELECT host, ifname, direction, rate_i, 1 AS sampled, m AS seen, drops, 0.0 AS useen FROM st \
UNION ALL SELECT host, ifname, direction, rate_i, 0 AS sampled, {seen} AS seen, drops, {seen} AS useen FROM us),\n\
ifr AS (SELECT host, ifname, direction, {rates} AS sampling_rates, sum(sampled) AS strata, \
CASE WHEN sum(CASE WHEN seen IS NULL THEN 1 ELSE 0 END) = 0 THEN {iseen} END AS packets_seen, \
{idrops} AS drops, sum(useen) AS u FROM ifs GROUP BY host, ifname, direction),\n\
ab AS (SELECT x.host AS host, x.ifname AS ifname, x.direction AS direction, count(*) AS sn, max(x.w) AS wp, min(x.n) AS n1, min(x.m) AS m1, min(x.rate) AS r1, \
max(x.w * x.frame) AS wb, max(x.frame) AS fmax FROM st x GROUP BY x.host, x.ifname, x.direction),\n\
im AS (SELECT ihost AS host, iifname AS ifname, idir AS direction, {gi_parts} FROM gi \
UNION ALL SELECT ab.host AS host, ab.ifname AS ifname, ab.direction AS direction, {ab_parts} FROM ab WHERE NOT EXISTS (SELECT 1 FROM g WHERE {on_gi})),\n\
ifo AS (SELECT f.host AS host, f.ifname AS ifname, f.direction AS direction, f.sampling_rates AS sampling_rates, f.packets_seen AS packets_seen, f.drops AS drops, f.u AS u, \
coalesce(m.samples, 0) AS samples, coalesce(m.pe, 0.0) AS pe, coalesce(m.plo, 0.0) AS plo, coalesce(m.phi, 0.0) AS phi, \
coalesce(m.be, 0.0) AS be, coalesce(m.blo, 0.0) AS blo, coalesce(m.bhi, 0.0) AS bhi \
FROM ifr f LEFT JOIN im m ON {on_m}),\n\
ifm AS (SELECT host, ifname, direction, sampling_rates, packets_seen, drops, samples, \
CASE WHEN u > 0 THEN pe + {add_pe} ELSE pe END AS pe, CASE WHEN u > 0 THEN plo + {add_plo} ELSE plo END AS plo, \
CASE WHEN u > 0 THEN phi + u ELSE phi END AS phi, CASE WHEN u > 0 THEN be + {add_be} ELSE be END AS be, \
CASE WHEN u > 0 THEN blo + {add_blo} ELSE blo END AS blo, CASE WHEN u > 0 THEN bhi + u * fr.large ELSE bhi END AS bhi \
FROM ifo CROSS JOIN fr)\n\
SELECT CASE WHEN (SELECT count(DISTINCT host) FROM ifr) > 1 THEN host ELSE '' END AS host, ifname, direction, \
sampling_rates, packets_seen, drops, {records} FROM ifm ORDER BY pe DESC, host ASC, ifname ASC, direction ASC",
        base = base(s),
        groups = groups_by(s, &keys, "1 = 1"),
        intervals = intervals(d),
        us = unsampled_ctes(),
        seen = d.dbl("seen"),
        rates = d.sorted_set("rate_i"),
        iseen = d.int("sum(seen)"),
        idrops = d.int("sum(drops)"),
        gi_parts = parts_of_gi(d),
        ab_parts = parts_of_absent(d),
        on_gi = "g.ihost = ab.host AND g.iifname = ab.ifname AND g.idir = ab.direction",
        on_m = on("f", "m"),
        records = records(d, ""),
    )
}

pub fn interfaces(a: &Ask) -> Vec<Statement> {
    a.one("interfaces", interfaces_sql(a))
}
