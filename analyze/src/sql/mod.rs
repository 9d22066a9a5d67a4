//! `pktsample sql`: the report's sections as SQL for the engines users
//! already run on a partitioned dataset (DuckDB, ClickHouse, Spark), with
//! analyze's estimators: strata (host, interface, direction, rate) with
//! their exact pools joined from the pools table, per-stratum sums, and the
//! interval formulas (`stats`). Each query returns rows shaped like the
//! report-v1 JSON section of the same name (`packets` and `bytes` as
//! `{estimate, low, high}` records), so an engine's JSON output of them
//! is the section (docs/sql.md maps each statement onto its report-v1
//! path). Every section analyze has: the summary with its span, rates,
//! pools and unseen bound, the IPv6 share, IP versions, EtherTypes, IP
//! protocols, services, interfaces, top sources and destinations, the time
//! series (with its per-bucket IPv6 share and protocol classes), packet
//! sizes, and the per-AS sections from the enrichment columns.

mod dialect;
mod query;
mod sections;
mod share;
mod stats;
mod timeline;

pub use dialect::Dialect;
pub use query::Scope;

use crate::engine::{SIZE_CLASSES, Sections};
use crate::names::{eth_type_name, ip_proto_name};
use query::{Groups, absent, absent_cte, base, groups, intervals, measures};

/// One statement to run: the setup of the views, or a section's query.
#[derive(Clone, Debug)]
pub struct Statement {
    /// `setup`, or the report-v1 section the rows belong to.
    pub section: &'static str,
    pub sql: String,
}

/// `CASE key WHEN … THEN 'name' … END` from a name table.
fn names(
    key: &str,
    range: std::ops::RangeInclusive<u32>,
    f: impl Fn(u32) -> Option<&'static str>,
) -> String {
    let mut s = format!("(CASE {key}");
    for k in range {
        if let Some(n) = f(k) {
            s.push_str(&format!(" WHEN {k} THEN '{n}'"));
        }
    }
    s.push_str(" END)");
    s
}

/// A section whose rows are groups with samples, largest first: `keys`
/// (expression, name) over the rows passing `filter`, the base's `cols`
/// besides its own, the output columns `out` before the measures. More
/// CTEs (`ctes`) may come before the intervals, with `gsrc` the groups
/// with more columns (ClickHouse evaluates the intervals' long
/// expressions very slowly through a join after them).
#[derive(Default)]
struct Ranked<'a> {
    keys: &'a [(String, &'a str)],
    out: &'a [String],
    filter: &'a str,
    top: Option<usize>,
    cols: &'a [&'a str],
    ctes: String,
    gsrc: &'a str,
}

fn ranked(s: &Scope, r: &Ranked) -> String {
    let order: Vec<String> = r.keys.iter().map(|(_, n)| format!("{n} ASC")).collect();
    let limit = r.top.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    format!(
        "{}{}{}{}\nSELECT {}{} FROM gi ORDER BY rank_ DESC, {}{limit}",
        query::base_with(s, r.cols),
        groups(
            s,
            &Groups {
                keys: r.keys,
                filter: if r.filter.is_empty() {
                    "1 = 1"
                } else {
                    r.filter
                },
                cap: "1e18"
            }
        ),
        r.ctes,
        query::intervals_from(s.dialect, if r.gsrc.is_empty() { "g" } else { r.gsrc }),
        r.out.iter().map(|o| format!("{o}, ")).collect::<String>(),
        measures(s.dialect),
        order.join(", ")
    )
}

/// A section listing every key of `all` (a query of one column `k`):
/// groups with samples by estimate, the others with 0 and their bound;
/// `cap` gives the largest frame of a key's packets from its expression.
fn listed(
    s: &Scope,
    key: (String, &str),
    all: &str,
    cap: &dyn Fn(&str) -> String,
    out: &[String],
    order: &str,
) -> String {
    let keys = [key];
    let name = keys[0].1;
    format!(
        "{}{}{}{}\nSELECT {} FROM (\nSELECT {name} AS k, {} FROM gi\nUNION ALL\nSELECT ab.k AS k, {} FROM ab WHERE ab.k NOT IN (SELECT {name} FROM g)) t ORDER BY {order}",
        base(s),
        groups(
            s,
            &Groups {
                keys: &keys,
                filter: "1 = 1",
                cap: &cap(&format!("c.{name}")),
            }
        ),
        intervals(s.dialect),
        absent_cte(all, &cap("kk.k")),
        out.join(", "),
        measures(s.dialect),
        absent(s.dialect)
    )
}

/// The statements for `sections` on the dataset at `root`.
pub fn queries(scope: &Scope, root: &str, sections: Sections, top: usize) -> Vec<Statement> {
    let d = scope.dialect;
    let mut v: Vec<Statement> = d
        .prelude(root)
        .into_iter()
        .map(|sql| Statement {
            section: "setup",
            sql,
        })
        .collect();
    let mut push = |section, sql| v.push(Statement { section, sql });
    let m = "samples, packets, bytes";
    if sections.summary {
        push("summary", timeline::summary(scope));
        push("ipv6_share", timeline::ipv6_share(scope));
    }
    if sections.ip_versions {
        let key =
            "(CASE WHEN ip_version = 4 THEN '4' WHEN ip_version = 6 THEN '6' ELSE 'non-ip' END)"
                .to_string();
        let all = "SELECT '4' AS k UNION ALL SELECT '6' AS k UNION ALL SELECT 'non-ip' AS k";
        let sql = listed(
            scope,
            (key, "ipv"),
            all,
            &|_| "1e18".into(),
            &[format!("k AS ip_version, {m}")],
            "rank_ DESC, k ASC",
        );
        push("ip_versions", sql);
    }
    if sections.protocols {
        let eth = names("eth_type", 0..=0xffff, |k| eth_type_name(k as u16));
        let sql = ranked(
            scope,
            &Ranked {
                keys: &[("eth_type".into(), "eth_type")],
                out: &[
                    format!("{} AS eth_type", d.int("eth_type")),
                    format!("{} AS name", eth),
                ],
                ..Default::default()
            },
        );
        push("eth_types", sql);
        let pr = names("ip_proto", 0..=255, |k| ip_proto_name(k as u8));
        let sql = ranked(
            scope,
            &Ranked {
                keys: &[("ip_proto".into(), "ip_proto")],
                out: &[
                    format!("{} AS ip_proto", d.int("ip_proto")),
                    format!("{} AS name", pr),
                ],
                filter: "ip_proto IS NOT NULL",
                ..Default::default()
            },
        );
        push("ip_protocols", sql);
        push("services", sections::services(scope));
    }
    if sections.top_sources {
        let sql = ranked(
            scope,
            &Ranked {
                keys: &[("src_addr".into(), "address")],
                out: &["address".into()],
                filter: "src_addr IS NOT NULL",
                top: Some(top),
                ..Default::default()
            },
        );
        push("top_sources", sql);
    }
    if sections.top_destinations {
        let sql = ranked(
            scope,
            &Ranked {
                keys: &[("dst_addr".into(), "address")],
                out: &["address".into()],
                filter: "dst_addr IS NOT NULL",
                top: Some(top),
                ..Default::default()
            },
        );
        push("top_destinations", sql);
    }
    if sections.packet_sizes {
        let all: Vec<String> = (0..SIZE_CLASSES.len())
            .map(|i| format!("SELECT {i} AS k"))
            .collect();
        let mut lo = String::from("(CASE k");
        let mut hi = String::from("(CASE k");
        let mut caps = String::new();
        for (i, (a, b)) in SIZE_CLASSES.iter().enumerate() {
            lo.push_str(&format!(" WHEN {i} THEN {a}"));
            if *b != u32::MAX {
                hi.push_str(&format!(" WHEN {i} THEN {b}"));
            }
            caps.push_str(&format!(" WHEN {i} THEN {}.0", (*b).min(1_000_000_000)));
        }
        lo.push_str(" END)");
        hi.push_str(" END)");
        let sql = listed(
            scope,
            ("sc".into(), "sc"),
            &all.join(" UNION ALL "),
            &|k| format!("(CASE {k}{caps} END)"),
            &[format!("{} AS min, {} AS max, {m}", d.int(&lo), d.int(&hi))],
            "k ASC",
        );
        push("packet_sizes", sql);
    }
    if sections.interfaces {
        push("interfaces", sections::interfaces(scope));
    }
    if sections.time_series {
        push("time_series", timeline::time_series(scope));
        if sections.protocols {
            push(
                "time_series_protocols",
                timeline::time_series_protocols(scope),
            );
        }
    }
    if sections.src_as {
        push("source_as", sections::per_as(scope, "source_as", top));
    }
    if sections.dst_as {
        push(
            "destination_as",
            sections::per_as(scope, "destination_as", top),
        );
    }
    if sections.remote_as {
        push("remote_as", sections::per_as(scope, "remote_as", top));
    }
    if sections.as_pairs {
        push("as_pairs", sections::as_pairs(scope, top));
    }
    if sections.as_ipv6 {
        push("as_ipv6", sections::as_ipv6(scope, top));
    }
    v
}
