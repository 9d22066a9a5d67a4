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
//! sizes, the per-AS sections from the enrichment columns and the
//! Kubernetes sections from the Kubernetes columns.

mod breakdowns;
mod cells;
mod conversations;
mod dialect;
mod interfaces;
mod k8s;
mod per_as;
mod query;
mod rollup;
mod summary;
mod time;

pub(crate) use breakdowns::*;
pub(crate) use conversations::{connections, top_flows, top_pairs};
pub use dialect::Dialect;
pub(crate) use interfaces::interfaces;
pub(crate) use k8s::{leaving, namespace_pairs, namespaces, workload_pairs, workloads};
pub(crate) use per_as::{as_ipv6, as_pairs, destination_as, remote_as, source_as};
pub use query::Scope;
pub(crate) use summary::summary;
pub(crate) use time::time_series;

use std::cell::RefCell;

use crate::section::Sections;
use cells::Cells;
use query::{Groups, absent, absent_cte, base, groups, intervals, measures};

/// What a section's statements are asked for: the dataset's scope, the
/// rows of the top-N sections, and the other sections asked for with it;
/// the cells the statements read, gathered as they are built.
pub struct Ask<'a> {
    pub scope: &'a Scope,
    pub top: usize,
    pub sections: Sections,
    cells: RefCell<Cells>,
}

impl<'a> Ask<'a> {
    pub fn new(scope: &'a Scope, top: usize, sections: Sections) -> Self {
        Ask {
            scope,
            top,
            sections,
            cells: RefCell::default(),
        }
    }

    fn one(&self, section: &'static str, sql: String) -> Vec<Statement> {
        vec![Statement { section, sql }]
    }

    /// The setup, once every section's statements are built: the views
    /// over the dataset at `root`, then the cells the statements read,
    /// filled in one scan of the samples (and one of their addresses).
    /// With `--rollup`, Err names a key no rollup holds.
    pub fn setup(&self, root: &str) -> Result<Vec<Statement>, String> {
        let d = self.dialect;
        let rollup = self.scope.rollup.then(|| rollup::view(d, root));
        Ok(d.prelude(root)
            .into_iter()
            .chain(rollup)
            .chain(self.cells.borrow().setup(self.scope)?)
            .map(|sql| Statement {
                section: "setup",
                sql,
            })
            .collect())
    }
}

impl std::ops::Deref for Ask<'_> {
    type Target = Scope;
    fn deref(&self) -> &Scope {
        self.scope
    }
}

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
/// (expression, name) over the rows passing `filter` (every row without
/// one), the base's `cols` besides its own, the output columns `out`
/// before the measures. More CTEs (`ctes`) may come before the
/// intervals, with `gsrc` the groups with more columns (ClickHouse
/// evaluates the intervals' long expressions very slowly through a join
/// after them; `g` without).
#[derive(Default)]
struct Ranked<'a> {
    keys: &'a [(String, &'a str)],
    out: &'a [String],
    filter: Option<&'a str>,
    top: Option<usize>,
    cols: &'a [&'a str],
    ctes: String,
    gsrc: Option<&'a str>,
    /// CTEs after the base, before the groups (which `within` may read).
    pre: String,
    within: Option<String>,
    /// Ordered by this first (the low-confidence rows last).
    first: Option<&'a str>,
}

fn ranked(a: &Ask, r: &Ranked) -> String {
    let order: Vec<String> = r
        .first
        .map(str::to_string)
        .into_iter()
        .chain(std::iter::once("rank_ DESC".to_string()))
        .chain(r.keys.iter().map(|(_, n)| format!("{n} ASC")))
        .collect();
    let limit = r.top.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    format!(
        "{}{}{}{}\nSELECT {}{} FROM gi ORDER BY {}{limit}",
        {
            a.cells.borrow_mut().need(r.cols);
            base(a) + &r.pre
        },
        groups(
            a,
            &Groups {
                keys: r.keys,
                filter: r.filter.unwrap_or("1 = 1"),
                cap: "1e18",
                within: r.within.clone(),
            }
        ),
        r.ctes,
        query::intervals_from(a.dialect, r.gsrc.unwrap_or("g")),
        r.out.iter().map(|o| format!("{o}, ")).collect::<String>(),
        measures(a.dialect),
        order.join(", ")
    )
}

/// A section listing every key of `all` (a query of one column `k`):
/// groups with samples by estimate, the others with 0 and their bound;
/// `cap` gives the largest frame of a key's packets from its expression.
fn listed(
    s: &Ask,
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
                within: None,
            }
        ),
        intervals(s.dialect),
        absent_cte(all, &cap("kk.k")),
        out.join(", "),
        measures(s.dialect),
        absent(s.dialect)
    )
}
