//! The per-AS sections as SQL, from the dataset's enrichment columns:
//! `estimate/per_as.rs` in SQL.

use super::query::{G_COLS, v6_sums};
use super::{Ask, Dialect, Statement};
use super::{Ranked, ranked};
use crate::stats::sql::share_ctes;

/// An address's origin from the enrichment columns of `side` (`src` or
/// `dst`): (label, AS number, AS name). The label is `AS` and the number,
/// or the class of an address without one (`private`, `unrouted`, …);
/// null where the part was not enriched.
pub(super) fn origin(d: Dialect, side: &str) -> (String, String, String) {
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
fn per_as(s: &Ask, which: &str, top: usize) -> String {
    per_as_of(s, which, top, None, &[])
}

/// [`per_as`] of the rows passing `only` too, which reads `cols`.
pub(super) fn per_as_of(
    s: &Ask,
    which: &str,
    top: usize,
    only: Option<&str>,
    cols: &[&str],
) -> String {
    let d = s.dialect;
    let (l, n, nm) = match which {
        "source_as" => origin(d, "src"),
        "destination_as" => origin(d, "dst"),
        _ => remote(d),
    };
    let filter = match only {
        Some(f) => format!("{l} IS NOT NULL AND {f}"),
        None => format!("{l} IS NOT NULL"),
    };
    let cols: Vec<&str> = AS_COLS.iter().chain(cols).copied().collect();
    ranked(
        s,
        &Ranked {
            keys: &[(l, "label"), (n, "asn"), (nm, "asname")],
            out: &["asn".into(), "label".into(), "asname AS name".into()],
            filter: Some(&filter),
            top: Some(top),
            cols: &cols,
            ..Default::default()
        },
    )
}

fn as_pairs_sql(s: &Ask, top: usize) -> String {
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
fn as_ipv6_sql(s: &Ask, top: usize) -> String {
    let d = s.dialect;
    let (l, n, nm) = remote(d);
    let filter = format!("ip_version = 6 AND {l} IS NOT NULL");
    let known = format!("{l} IS NOT NULL");
    let src = |bytes: bool| v6_sums(s, &l, "slabel", &known, bytes);
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
            ..Default::default()
        },
    )
}

pub fn source_as(a: &Ask) -> Vec<Statement> {
    a.one("source_as", per_as(a, "source_as", a.top))
}

pub fn destination_as(a: &Ask) -> Vec<Statement> {
    a.one("destination_as", per_as(a, "destination_as", a.top))
}

pub fn remote_as(a: &Ask) -> Vec<Statement> {
    a.one("remote_as", per_as(a, "remote_as", a.top))
}

pub fn as_pairs(a: &Ask) -> Vec<Statement> {
    a.one("as_pairs", as_pairs_sql(a, a.top))
}

pub fn as_ipv6(a: &Ask) -> Vec<Statement> {
    a.one("as_ipv6", as_ipv6_sql(a, a.top))
}
