//! Sections beyond single-column breakdowns: services (a port chosen from
//! two), the per-AS sections (from the dataset's enrichment columns) and
//! interfaces (every interface and direction the pools list, sampled or
//! not).

use super::query::{
    G_COLS, base_with, groups_by, intervals, parts_of_absent, parts_of_gi, records,
};
use super::share::share_ctes;
use super::{Ask, Dialect, Scope, Statement};
use super::{Ranked, names, ranked};
use crate::names::service_name;

/// The service port of a transport row, as analyze picks it: the named
/// port of the two (destination first), else the lower one below 1024;
/// null ("other") without one or without ports.
fn service_port() -> String {
    let known: Vec<String> = (0..=u16::MAX)
        .filter(|&p| service_name(p).is_some())
        .map(|p| p.to_string())
        .collect();
    let known = known.join(", ");
    "(CASE WHEN src_port IS NULL OR dst_port IS NULL THEN NULL \
WHEN dst_port IN (K) THEN dst_port WHEN src_port IN (K) THEN src_port \
WHEN least(src_port, dst_port) < 1024 THEN least(src_port, dst_port) END)"
        .replace("K", &known)
}

pub(super) fn services(s: &Scope) -> String {
    let d = s.dialect;
    let transport = "(CASE ip_proto WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' WHEN 132 THEN 'sctp' WHEN 136 THEN 'udplite' END)";
    let name = names("port", 0..=u16::MAX as u32, |p| service_name(p as u16));
    ranked(
        s,
        &Ranked {
            keys: &[
                (transport.to_string(), "transport"),
                (service_port(), "port"),
            ],
            out: &[
                "transport".into(),
                format!("{} AS port", d.int("port")),
                format!("{name} AS name"),
            ],
            filter: Some("ip_proto IN (6, 17, 132, 136)"),
            cols: &["src_port", "dst_port"],
            ..Default::default()
        },
    )
}

/// An address's origin from the enrichment columns of `side` (`src` or
/// `dst`): (label, AS number, AS name). The label is `AS` and the number,
/// or the class of an address without one (`private`, `unrouted`, …);
/// null where the part was not enriched.
fn origin(d: Dialect, side: &str) -> (String, String, String) {
    (
        format!(
            "(CASE WHEN {side}_as IS NOT NULL THEN 'AS' || {} ELSE {} END)",
            d.text(&format!("{side}_as")),
            d.text(&format!("{side}_as_name"))
        ),
        d.int(&format!("{side}_as")),
        format!(
            "(CASE WHEN {side}_as IS NOT NULL THEN {} END)",
            d.text(&format!("{side}_as_name"))
        ),
    )
}

/// The remote side's origin: sources of ingress rows, destinations of
/// egress rows, none otherwise.
fn remote(d: Dialect) -> (String, String, String) {
    let (s, dd) = (origin(d, "src"), origin(d, "dst"));
    let pick = |a: &str, b: &str| {
        format!("(CASE direction WHEN 'ingress' THEN {a} WHEN 'egress' THEN {b} END)")
    };
    (pick(&s.0, &dd.0), pick(&s.1, &dd.1), pick(&s.2, &dd.2))
}

const AS_COLS: [&str; 4] = ["src_as", "dst_as", "src_as_name", "dst_as_name"];

/// `source_as`, `destination_as` or `remote_as`.
fn per_as(s: &Scope, which: &str, top: usize) -> String {
    let d = s.dialect;
    let (l, n, nm) = match which {
        "source_as" => origin(d, "src"),
        "destination_as" => origin(d, "dst"),
        _ => remote(d),
    };
    let filter = format!("{l} IS NOT NULL");
    ranked(
        s,
        &Ranked {
            keys: &[(l, "label"), (n, "asn"), (nm, "asname")],
            out: &["asn".into(), "label".into(), "asname AS name".into()],
            filter: Some(&filter),
            top: Some(top),
            cols: &AS_COLS,
            ..Default::default()
        },
    )
}

fn as_pairs_sql(s: &Scope, top: usize) -> String {
    let d = s.dialect;
    let (sl, sn, snm) = origin(d, "src");
    let (dl, dn, dnm) = origin(d, "dst");
    let filter = format!("{sl} IS NOT NULL AND {dl} IS NOT NULL");
    ranked(
        s,
        &Ranked {
            keys: &[
                (sl, "slabel"),
                (dl, "dlabel"),
                (sn, "sasn"),
                (snm, "sname"),
                (dn, "dasn"),
                (dnm, "dname"),
            ],
            out: &[
                format!("{} AS source", d.as_ref("sasn", "slabel", "sname")),
                format!("{} AS destination", d.as_ref("dasn", "dlabel", "dname")),
            ],
            filter: Some(&filter),
            top: Some(top),
            cols: &AS_COLS,
            ..Default::default()
        },
    )
}

/// The IPv6 traffic of each remote AS with its share of the AS's IP
/// traffic (by packets and by bytes).
fn as_ipv6_sql(s: &Scope, top: usize) -> String {
    let d = s.dialect;
    let (l, n, nm) = remote(d);
    let filter = format!("ip_version = 6 AND {l} IS NOT NULL");
    let known = format!("{l} IS NOT NULL");
    let src = |bytes: bool| super::timeline::v6_sums(d, &l, "slabel", &known, bytes);
    let gcols: String = ["label", "asn", "asname"]
        .iter()
        .chain(G_COLS.iter())
        .map(|c| format!("g.{c} AS {c}, "))
        .collect();
    let ctes = format!(
        "{}{},\ngx AS (SELECT {gcols}shp.shp_e AS shp_e, shp.shp_l AS shp_l, shp.shp_h AS shp_h, \
shb.shb_e AS shb_e, shb.shb_l AS shb_l, shb.shb_h AS shb_h FROM g JOIN shp ON g.label = shp.slabel JOIN shb ON g.label = shb.slabel)",
        share_ctes("shp", &src(false), &["slabel"], false),
        share_ctes("shb", &src(true), &["slabel"], false)
    );
    ranked(
        s,
        &Ranked {
            keys: &[(l, "label"), (n, "asn"), (nm, "asname")],
            out: &[
                "asn".into(),
                "label".into(),
                "asname AS name".into(),
                format!("{} AS share_packets", d.estimate("shp_e", "shp_l", "shp_h")),
                format!("{} AS share_bytes", d.estimate("shb_e", "shb_l", "shb_h")),
            ],
            filter: Some(&filter),
            top: Some(top),
            cols: &AS_COLS,
            ctes,
            gsrc: Some("gx"),
        },
    )
}

/// Interfaces: one row per host, interface and direction, from the strata
/// with samples and from the pools of those without (their packets known
/// exactly, their bytes bounded by the report's frame sizes).
fn interfaces_sql(s: &Scope) -> String {
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
        base = base_with(s, &[]),
        groups = groups_by(s, &keys, "1 = 1"),
        intervals = intervals(d),
        us = super::timeline::unsampled_ctes(),
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
    a.one("interfaces", interfaces_sql(a.scope))
}

pub fn source_as(a: &Ask) -> Vec<Statement> {
    a.one("source_as", per_as(a.scope, "source_as", a.top))
}

pub fn destination_as(a: &Ask) -> Vec<Statement> {
    a.one("destination_as", per_as(a.scope, "destination_as", a.top))
}

pub fn remote_as(a: &Ask) -> Vec<Statement> {
    a.one("remote_as", per_as(a.scope, "remote_as", a.top))
}

pub fn as_pairs(a: &Ask) -> Vec<Statement> {
    a.one("as_pairs", as_pairs_sql(a.scope, a.top))
}

pub fn as_ipv6(a: &Ask) -> Vec<Statement> {
    a.one("as_ipv6", as_ipv6_sql(a.scope, a.top))
}
