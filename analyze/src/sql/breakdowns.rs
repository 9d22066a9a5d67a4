//! The breakdowns as SQL: IP versions, the protocol sections (services: a
//! port chosen from two), top talkers and packet sizes, each one function
//! returning the statements of one section of [`crate::catalog`]
//! (`estimate/breakdowns.rs` in SQL).

use super::query::ON_STRATUM;
use super::{Ask, Ranked, Statement, listed, names, ranked};
use crate::engine::SIZE_CLASSES;
use crate::names::service_name;
use crate::names::{eth_type_name, ip_proto_name};
use crate::stats::sql::stratum_total;

const MEASURES: &str = "samples, packets, bytes";

pub fn ip_versions(a: &Ask) -> Vec<Statement> {
    let key = "(CASE WHEN ip_version = 4 THEN '4' WHEN ip_version = 6 THEN '6' ELSE 'non-ip' END)"
        .to_string();
    let all = "SELECT '4' AS k UNION ALL SELECT '6' AS k UNION ALL SELECT 'non-ip' AS k";
    let sql = listed(
        a,
        (key, "ipv"),
        all,
        &|_| "1e18".into(),
        &[format!("k AS ip_version, {MEASURES}")],
        "rank_ DESC, k ASC",
    );
    a.one("ip_versions", sql)
}

/// EtherTypes, IP protocols and services.
pub fn protocols(a: &Ask) -> Vec<Statement> {
    let d = a.dialect;
    let eth = names("eth_type", 0..=0xffff, |k| eth_type_name(k as u16));
    let eth_types = ranked(
        a,
        &Ranked {
            keys: &[("eth_type".into(), "eth_type")],
            out: &[
                format!("{} AS eth_type", d.int("eth_type")),
                format!("{} AS name", eth),
            ],
            ..Default::default()
        },
    );
    let pr = names("ip_proto", 0..=255, |k| ip_proto_name(k as u8));
    let ip_protocols = ranked(
        a,
        &Ranked {
            keys: &[("ip_proto".into(), "ip_proto")],
            out: &[
                format!("{} AS ip_proto", d.int("ip_proto")),
                format!("{} AS name", pr),
            ],
            filter: Some("ip_proto IS NOT NULL"),
            ..Default::default()
        },
    );
    vec![
        Statement {
            section: "eth_types",
            sql: eth_types,
        },
        Statement {
            section: "ip_protocols",
            sql: ip_protocols,
        },
        Statement {
            section: "services",
            sql: services(a),
        },
    ]
}

/// The top `a.top` groups of `keys` (expression, name), address columns
/// among them, over the rows passing `filter`; `cols` the row columns the
/// keys read besides the base's. Millions of keys are ranked by their
/// point estimate alone (`top`: Σ over strata of the stratum's weight ×
/// count, as `ge` sums it), and only those ranked in have their sums and
/// intervals computed; `first` orders the rows before their rank.
pub(super) fn top_keyed(
    a: &Ask,
    keys: &[(String, &str)],
    out: &[String],
    (filter, cols): (&str, &[&str]),
    first: Option<&str>,
) -> String {
    let exprs: Vec<&str> = keys.iter().map(|(e, _)| e.as_str()).collect();
    let sr = a.cells.borrow_mut().set(&exprs, Some(filter));
    // The cells' columns but the stratum's are theirs alone: unqualified.
    let (vp, _) = stratum_total("k", "k");
    let cs = sr.keys.join(", ");
    let names: Vec<&str> = keys.iter().map(|(_, n)| *n).collect();
    let sel: Vec<String> = (sr.keys.iter().zip(&names))
        .map(|(c, n)| format!("{c} AS {n}"))
        .collect();
    let asc: Vec<String> = sr.keys.iter().map(|c| format!("{c} ASC")).collect();
    let pre = format!(
        ",\ntop AS (SELECT {sel} FROM {t} c JOIN st x ON {on} WHERE {rows} GROUP BY {cs} ORDER BY sum({vp}) DESC, {asc} LIMIT {n})",
        sel = sel.join(", "),
        t = sr.table,
        on = ON_STRATUM,
        rows = sr.rows(),
        asc = asc.join(", "),
        n = a.top,
    );
    let within = match keys.len() {
        1 => format!("{cs} IN (SELECT {} FROM top)", names[0]),
        _ => format!("({cs}) IN (SELECT {} FROM top)", names.join(", ")),
    };
    ranked(
        a,
        &Ranked {
            keys,
            out,
            filter: Some(filter),
            top: Some(a.top),
            cols,
            pre,
            within: Some(within),
            first,
            ..Default::default()
        },
    )
}

/// The top `a.top` addresses of one column.
fn talkers(a: &Ask, column: &str, section: &'static str) -> Vec<Statement> {
    let filter = format!("{column} IS NOT NULL");
    let sql = top_keyed(
        a,
        &[(column.into(), "address")],
        &["address".into()],
        (&filter, &[]),
        None,
    );
    a.one(section, sql)
}

pub fn top_sources(a: &Ask) -> Vec<Statement> {
    talkers(a, "src_addr", "top_sources")
}

pub fn top_destinations(a: &Ask) -> Vec<Statement> {
    talkers(a, "dst_addr", "top_destinations")
}

/// Every size class, sampled or not; a class bounds its frames.
pub fn packet_sizes(a: &Ask) -> Vec<Statement> {
    let d = a.dialect;
    let all: Vec<String> = (0..SIZE_CLASSES.len())
        .map(|i| format!("SELECT {i} AS k"))
        .collect();
    let mut lo = String::from("(CASE k");
    let mut hi = String::from("(CASE k");
    let mut caps = String::new();
    for (i, (l, h)) in SIZE_CLASSES.iter().enumerate() {
        lo.push_str(&format!(" WHEN {i} THEN {l}"));
        if *h != u32::MAX {
            hi.push_str(&format!(" WHEN {i} THEN {h}"));
        }
        caps.push_str(&format!(" WHEN {i} THEN {}.0", (*h).min(1_000_000_000)));
    }
    lo.push_str(" END)");
    hi.push_str(" END)");
    let sql = listed(
        a,
        ("sc".into(), "sc"),
        &all.join(" UNION ALL "),
        &|k| format!("(CASE {k}{caps} END)"),
        &[format!(
            "{} AS min, {} AS max, {MEASURES}",
            d.int(&lo),
            d.int(&hi)
        )],
        "k ASC",
    );
    a.one("packet_sizes", sql)
}

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

/// A port's service name (`port` its expression).
pub(super) fn service_names(port: &str) -> String {
    names(port, 0..=u16::MAX as u32, |p| service_name(p as u16))
}

fn services(s: &Ask) -> String {
    let d = s.dialect;
    let transport = "(CASE ip_proto WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' WHEN 132 THEN 'sctp' WHEN 136 THEN 'udplite' END)";
    let name = service_names("port");
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
