//! One scan per report. The samples are read once, by one query, into a
//! small table of sufficient statistics (`pk_cells`): per
//! stratum (host, interface, direction, rate), whether the row is in the
//! time window, and each section's key, the count, Σ len, Σ len², the
//! largest frame and the first and last timestamp. Every section's
//! statement then reads only that table and the pools; the address
//! sections (top talkers), whose keys number in the millions, have a table
//! of their own (`pk_addrs`), also filled in one pass. Without this each
//! statement scanned the samples several times (the strata, the pooled
//! sizes, the per-stratum largest frame, the cells), and engines that
//! inline CTEs scanned again per reference: 7–25× the engines' own plain
//! `GROUP BY` queries.
//!
//! The sets are not written by hand: each section asks for the keys and
//! the filter it groups by ([`Cells::set`]) while its statement is built,
//! and the setup is generated afterwards from what was asked. A key
//! expression is one column (`c0`, `c1`, …) shared by every set that
//! groups by it; a filter is a boolean column of its set. A row of the
//! table belongs to one set, told by `gid`.

use super::Dialect;
use super::Scope;
use super::query::{KEYS, rows_ctes};

/// The table of the small sets, and that of the address sets.
pub const CELLS: &str = "pk_cells";
pub const ADDRS: &str = "pk_addrs";

/// The sets the sections asked for, and the row columns their keys read.
#[derive(Debug, Default)]
pub struct Cells {
    /// Distinct key expressions: column `c{i}`.
    exprs: Vec<String>,
    /// Each set: its columns (indices into `exprs`).
    sets: Vec<Vec<usize>>,
    /// Row columns the keys read besides the base's.
    cols: Vec<String>,
    /// The interval CTE `ivc`, when a key reads the time bucket.
    ivc: Option<String>,
}

/// Where a section reads its set: the table, the set's `gid`, each key's
/// column and the filter's column, if any.
pub struct SetRef {
    pub table: &'static str,
    pub gid: usize,
    pub keys: Vec<String>,
    pub filter: Option<String>,
}

impl SetRef {
    /// The condition selecting the set's rows in the window (the filter: a
    /// boolean column, or a key's `IS NOT NULL`).
    pub fn rows(&self) -> String {
        let f = self
            .filter
            .as_ref()
            .map(|f| format!(" AND {f}"))
            .unwrap_or_default();
        format!("gid = {} AND inw{f}", self.gid)
    }
}

/// Whether a key reads addresses (a set of millions of rows).
fn wide(expr: &str) -> bool {
    matches!(expr, "src_addr" | "dst_addr")
}

/// The table of the address sets (`wide`) or of the small ones.
fn table_of(wide: bool) -> &'static str {
    if wide { ADDRS } else { CELLS }
}

impl Cells {
    fn column(&mut self, expr: &str) -> usize {
        match self.exprs.iter().position(|e| e == expr) {
            Some(i) => i,
            None => {
                self.exprs.push(expr.to_string());
                self.exprs.len() - 1
            }
        }
    }

    /// The set grouped by `keys` (expressions over a sample's columns)
    /// over the rows passing `filter` (`None`: every row).
    pub fn set(&mut self, keys: &[&str], filter: Option<&str>) -> SetRef {
        let mut cols: Vec<usize> = keys.iter().map(|k| self.column(k)).collect();
        let filter = filter.map(str::trim).filter(|f| *f != "1 = 1");
        // "KEY IS NOT NULL" needs no column of its own: the key's says it
        // (a grouped-out key is told apart by `gid`, not by its null).
        let on_key = filter.and_then(|f| {
            let k = f.strip_suffix(" IS NOT NULL")?;
            keys.iter()
                .position(|x| *x == k)
                .map(|i| format!("c{} IS NOT NULL", cols[i]))
        });
        let fcol = filter
            .filter(|_| on_key.is_none())
            .map(|f| self.column(&format!("({f})")));
        cols.extend(fcol);
        let is_wide = keys.iter().any(|k| wide(k));
        let mut sorted = cols.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let gid = match self.sets.iter().position(|c| *c == sorted) {
            Some(i) => i,
            None => {
                self.sets.push(sorted);
                self.sets.len() - 1
            }
        };
        SetRef {
            table: table_of(is_wide),
            gid,
            keys: cols[..keys.len()].iter().map(|i| format!("c{i}")).collect(),
            filter: on_key.or(fcol.map(|i| format!("c{i}"))),
        }
    }

    /// Row columns a section's keys read (besides the base's).
    pub fn need(&mut self, cols: &[&str]) {
        for c in cols {
            if !self.cols.iter().any(|x| x == c) {
                self.cols.push(c.to_string());
            }
        }
    }

    /// Keys may read `bucket`, the time bucket by the interval of `ivc`.
    pub fn bucket_by(&mut self, ivc: String) {
        self.ivc = Some(ivc);
    }

    /// Whether a set (its columns) is an address set.
    fn is_wide(&self, set: &[usize]) -> bool {
        set.iter().any(|i| wide(&self.exprs[*i]))
    }

    /// The statements filling the tables (after the views).
    /// With `s.rollup`, the small table from the rollups (Err: a key
    /// none holds, an address set).
    pub fn setup(&self, s: &Scope) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for w in [false, true] {
            if !self.sets.iter().any(|c| self.is_wide(c) == w) {
                continue;
            }
            let q = match (s.rollup, w) {
                (false, _) => self.fill(s, w),
                (true, false) => self.rollup_fill(s)?,
                (true, true) => return Err("the address sections need the samples".into()),
            };
            out.extend(materialise(s.dialect, table_of(w), &q));
        }
        Ok(out)
    }

    /// The small sets (or the address sets), and the columns they use.
    fn sets_of(&self, wide: bool) -> (Vec<(usize, &Vec<usize>)>, Vec<usize>) {
        let sets: Vec<(usize, &Vec<usize>)> = self
            .sets
            .iter()
            .enumerate()
            .filter(|(_, c)| self.is_wide(c) == wide)
            .collect();
        let mut used: Vec<usize> = sets.iter().flat_map(|(_, c)| c.iter().copied()).collect();
        used.sort_unstable();
        used.dedup();
        (sets, used)
    }

    fn rollup_fill(&self, s: &Scope) -> Result<String, String> {
        let (sets, used) = self.sets_of(false);
        super::rollup::fill(s, &self.exprs, &sets, &used, self.ivc.as_deref())
    }

    /// The query of one table: the rows read once, every set of the table
    /// grouped in one `GROUPING SETS`, each row's set in `gid`.
    fn fill(&self, s: &Scope, wide: bool) -> String {
        let d = s.dialect;
        let (sets, used) = self.sets_of(wide);
        let cols: Vec<&str> = self.cols.iter().map(String::as_str).collect();
        let keys: String = used
            .iter()
            .map(|i| format!(", {} AS c{i}", self.exprs[*i]))
            .collect();
        let grouping: String = used
            .iter()
            .map(|i| format!(", grouping(c{i}) AS g{i}"))
            .collect();
        let names: String = used.iter().map(|i| format!(", c{i}")).collect();
        let sets_sql: Vec<String> = sets
            .iter()
            .map(|(_, c)| {
                let k: String = c.iter().map(|i| format!(", c{i}")).collect();
                format!("({KEYS}, inw{k})")
            })
            .collect();
        // A row is set j's when exactly set j's columns are grouped.
        let mut gid = String::from("CASE");
        for (j, c) in &sets {
            let mut conds: Vec<String> = used
                .iter()
                .map(|i| format!("g{i} = {}", if c.contains(i) { 0 } else { 1 }))
                .collect();
            if conds.is_empty() {
                conds.push("1 = 1".into());
            }
            gid.push_str(&format!(" WHEN {} THEN {j}", conds.join(" AND ")));
        }
        gid.push_str(" END");
        // The small sets' keys together take far fewer values than there
        // are rows: the rows are grouped once by all of them (`fine`) and
        // the sets summed from that, which an engine does much faster
        // than a dozen grouping sets over every row (measured on DuckDB:
        // half the time on 100 M rows). The address sets' keys do not
        // shrink that way (one cell per address and stratum), so they
        // are grouped from the rows.
        // The span (`t0`, `t1`) is read from the small sets only: the
        // address cells, tens of millions of rows, go without.
        let span = if wide {
            ""
        } else {
            ", min(ts) AS t0, max(ts) AS t1"
        };
        let sums = format!(
            "{} AS k, sum(len) AS b, sum(len * len) AS b2, max(len) AS mx{span}",
            d.dbl("count(*)")
        );
        let (fine, from, sums) = if wide {
            (String::new(), "rk", sums)
        } else {
            (
                format!(",\nfine AS (SELECT {KEYS}, inw{names}, {sums} FROM rk GROUP BY {KEYS}, inw{names})"),
                "fine",
                "sum(k) AS k, sum(b) AS b, sum(b2) AS b2, max(mx) AS mx, min(t0) AS t0, max(t1) AS t1"
                    .to_string(),
            )
        };
        // The address sets read neither the time nor its bucket: without
        // them the engines skip the timestamp column (unless a window
        // needs it for `inw`).
        let (ts, ivc) = if wide {
            ("", None)
        } else {
            (" ts,", self.ivc.as_deref())
        };
        format!(
            "{rows},\n\
rk AS (SELECT {KEYS}, inw,{ts} len{keys} FROM r){fine},\n\
gs AS (SELECT {KEYS}, inw{names}{grouping}, {sums} FROM {from} GROUP BY GROUPING SETS ({sets}))\n\
SELECT {KEYS}, inw{names}, {gid} AS gid, k, b, b2, mx{cols} FROM gs",
            cols = if wide { "" } else { ", t0, t1" },
            rows = rows_ctes(s, &cols, ivc),
            sets = sets_sql.join(", "),
        )
    }
}

/// The statements making `table` from `query` on an engine: a temporary
/// table (DuckDB), a `Memory` table (ClickHouse), a Parquet table in the
/// session's warehouse (Spark). Measured, Spark does not use a cached view
/// (`CACHE TABLE … AS`) under the sections' references: their executed
/// plans recomputed the fill from the samples, and ran out of aggregation
/// memory; a table is read as a table.
fn materialise(d: Dialect, table: &str, query: &str) -> Vec<String> {
    match d {
        Dialect::DuckDb => vec![format!("CREATE OR REPLACE TEMP TABLE {table} AS {query}")],
        Dialect::ClickHouse => vec![format!(
            "CREATE OR REPLACE TABLE {table} ENGINE = Memory AS {query}"
        )],
        Dialect::Spark => vec![
            format!("DROP TABLE IF EXISTS {table}"),
            format!("CREATE TABLE {table} USING parquet AS {query}"),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            dialect: Dialect::DuckDb,
            from: None,
            to: None,
            hosts: vec![],
            interval: None,
            inner: false,
            rollup: false,
        }
    }

    #[test]
    fn a_set_asked_twice_is_one_set_and_a_key_one_column() {
        let mut c = Cells::default();
        let a = c.set(&["ip_proto", "sc"], None);
        let b = c.set(&["sc", "ip_proto"], Some("1 = 1"));
        assert_eq!(a.gid, b.gid, "the same keys in another order");
        assert_eq!(a.keys, vec!["c0", "c1"]);
        assert_eq!(b.keys, vec!["c1", "c0"]);
        let f = c.set(&["ip_proto"], Some("ip_version = 6"));
        assert_ne!(f.gid, a.gid, "a filter makes another set");
        assert_eq!(f.keys, vec!["c0"]);
        assert_eq!(f.filter.as_deref(), Some("c2"));
        assert_eq!(f.rows(), format!("gid = {} AND inw AND c2", f.gid));
        assert_eq!(a.table, CELLS);
    }

    #[test]
    fn address_sets_have_their_own_table_and_pass() {
        let mut c = Cells::default();
        let small = c.set(&["ip_version"], None);
        let src = c.set(&["src_addr"], None);
        let dst = c.set(&["dst_addr"], None);
        assert_eq!((src.table, dst.table), (ADDRS, ADDRS));
        let setup = c.setup(&scope()).unwrap();
        assert_eq!(setup.len(), 2, "{setup:#?}");
        assert!(setup[0].contains("pk_cells") && setup[0].contains("ip_version AS c0"));
        assert!(!setup[0].contains("src_addr AS"), "{}", setup[0]);
        assert!(setup[1].contains("pk_addrs") && setup[1].contains("src_addr AS c1"));
        let seen = c.set(&["src_addr"], Some("src_addr IS NOT NULL"));
        assert_eq!(seen.gid, src.gid, "a key's own IS NOT NULL is no column");
        assert_eq!(
            seen.rows(),
            format!("gid = {} AND inw AND c1 IS NOT NULL", src.gid)
        );
        // Each row's set by which columns are grouped: exactly the set's.
        assert!(setup[1].contains(&format!("WHEN g1 = 0 AND g2 = 1 THEN {}", src.gid)));
        assert!(setup[1].contains(&format!("WHEN g1 = 1 AND g2 = 0 THEN {}", dst.gid)));
        assert!(setup[0].contains(&format!("WHEN g0 = 0 THEN {}", small.gid)));
        assert_eq!(setup[0].matches("FROM samples").count(), 1, "one scan");
    }

    #[test]
    fn spark_writes_the_cells_as_a_table() {
        let mut c = Cells::default();
        c.set(&["sc"], None);
        let s = Scope {
            dialect: Dialect::Spark,
            ..scope()
        };
        let setup = c.setup(&s).unwrap();
        assert_eq!(setup[0], "DROP TABLE IF EXISTS pk_cells");
        assert!(setup[1].starts_with("CREATE TABLE pk_cells USING parquet AS "));
    }
}
