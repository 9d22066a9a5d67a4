//! The queries: one shared chain of CTEs (rows, strata with their pools
//! joined from the pools table, the report's sizes pooled, each stratum's
//! largest plausible frame), then per section its groups' sums over strata
//! and their estimates and intervals, rows shaped like report-v1's.

use std::fmt::Write;

use super::Ask;
use super::cells::SetRef;
use super::dialect::Dialect;
use crate::engine::SIZE_CLASSES;
use crate::stats::sql::{
    NEWTON_MAX_SHAPE, NEWTON_STEPS, beta_start, beta_step, clopper_pearson, gamma_start,
    gamma_step, lgamma, stratum_bytes, stratum_total, tidy,
};

/// What the queries select.
#[derive(Clone, Debug)]
pub struct Scope {
    pub dialect: Dialect,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub hosts: Vec<String>,
    /// The time series' interval in ns (else analyze's automatic one).
    pub interval: Option<i64>,
    /// Every section on the innermost IP header (analyze's `--inner`).
    pub inner: bool,
    /// The small cells from the dataset's rollups, not its samples
    /// (`--rollup`; see `sql::rollup`).
    pub rollup: bool,
}

/// The columns `--inner` takes from the inner header where a sample has
/// one (the EtherType follows the inner IP version).
const INNER: [&str; 6] = [
    "ip_version",
    "src_addr",
    "dst_addr",
    "ip_proto",
    "src_port",
    "dst_port",
];

/// Whether a sample's innermost header is the inner one (analyze's
/// rule): it has one, or its stack names a tunnel.
fn tunnelled() -> String {
    use pktsample_schemas::decode::encap::Layer;
    let likes: Vec<String> = Layer::ALL
        .iter()
        .filter(|l| l.is_tunnel())
        .map(|l| format!("encap LIKE '%{}%'", l.name()))
        .collect();
    format!(
        "(inner_ip_version IS NOT NULL OR (encap IS NOT NULL AND ({})))",
        likes.join(" OR ")
    )
}

/// A sample column as the sections read it: itself, or with `--inner` the
/// inner header's where a sample has one.
fn row_column(s: &Scope, c: &str) -> String {
    if !s.inner {
        return c.to_string();
    }
    let inner = tunnelled();
    if INNER.contains(&c) {
        return format!("(CASE WHEN {inner} THEN inner_{c} ELSE {c} END) AS {c}");
    }
    if c == "eth_type" {
        return format!(
            "(CASE WHEN inner_ip_version = 4 THEN 2048 WHEN inner_ip_version = 6 THEN 34525 WHEN {inner} THEN 0 ELSE eth_type END) AS eth_type"
        );
    }
    c.to_string()
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A size class's index from `len`.
pub(super) fn size_class(len: &str) -> String {
    let mut s = String::from("(CASE");
    for (i, (_, hi)) in SIZE_CLASSES.iter().enumerate().take(SIZE_CLASSES.len() - 1) {
        let _ = write!(s, " WHEN {len} <= {hi} THEN {i}");
    }
    let _ = write!(s, " ELSE {} END)", SIZE_CLASSES.len() - 1);
    s
}

/// The pooled sizes' samples in classes above class `sc` (a column):
/// the total minus the cumulative count up to it.
fn above(sc: &str) -> String {
    let mut s = format!("(tot.ptotal - CASE {sc}");
    for i in 0..SIZE_CLASSES.len() {
        let _ = write!(s, " WHEN {i} THEN cum.u{i}");
    }
    s.push_str(" END)");
    s
}

/// Whether `n` samples, all in class `sc` or below, show their group
/// smaller than the report's sizes (analyze's `smaller_than`).
fn smaller(d: Dialect, sc: &str, n: &str) -> String {
    format!(
        "(({n}) > 0 AND tot.ptotal > 0 AND {} < 0.05)",
        d.pow(&format!("(1.0 - {} / tot.ptotal)", above(sc)), n)
    )
}

pub const KEYS: &str = "host, ifname, direction, rate_i";

/// Cells `c` joined to their stratum's design `x` (`st`).
pub const ON_STRATUM: &str =
    "c.host = x.host AND c.ifname = x.ifname AND c.direction = x.direction AND c.rate_i = x.rate_i";

/// `'YYYY-MM-DD'` of a time in ns: the date partition holding it.
fn date_of(ns: i64) -> String {
    let day = pktsample_schemas::dataset::day_of(ns);
    format!("'{}'", pktsample_schemas::dataset::date_text(day))
}

/// The CTEs the cells are filled from: `pl` (the pools of the parts
/// selected), `rows_all` (their rows, with `extra` columns) and `r` (with
/// their size class `sc`, whether they are in the time window `inw` and,
/// with `ivc` (a CTE of one row, column `iv`, that may read `pl`), their
/// time `bucket`).
///
/// A time window selects parts as analyze does: a part whose capture span
/// (from its pools rows) misses the window is left out whole, rows and
/// pools; the others count all their rows in the design (`n`) and only
/// those in the window in the sums. Date partitions outside the window
/// are excluded by a predicate on the partition column, which the engines
/// use to skip them unopened.
pub fn rows_ctes(s: &Scope, extra: &[&str], ivc: Option<&str>) -> String {
    let d = s.dialect;
    let mut rows_where = Vec::new();
    if !s.hosts.is_empty() {
        rows_where.push(hosts_in(s));
    }
    let mut window = Vec::new();
    if let Some(f) = s.from {
        window.push(format!("ts >= {f}"));
        rows_where.push(format!("{} >= {}", d.text("date"), date_of(f)));
    }
    if let Some(t) = s.to {
        window.push(format!("ts < {t}"));
        rows_where.push(format!("{} <= {}", d.text("date"), date_of(t - 1)));
    }
    if !window.is_empty() {
        rows_where
            .push("(host || '/' || file_) IN (SELECT host || '/' || pname FROM pl)".to_string());
    }
    let inw = if window.is_empty() {
        "1 = 1".to_string()
    } else {
        format!("({})", window.join(" AND "))
    };
    let cols: String = ["ip_version", "eth_type", "ip_proto", "src_addr", "dst_addr"]
        .iter()
        .chain(extra)
        .map(|c| format!(", {}", row_column(s, c)))
        .collect();
    let (ivc, cross, bucket) = bucketing(d, ivc);
    let r_from = format!("rows_all{cross}");
    format!(
        "{pl},\n\
{ivc}rows_all AS (SELECT host, ifname, direction, {rate} AS rate_i, {ts} AS ts, {len} AS len{cols} FROM samples{rows_where}),\n\
r AS (SELECT rows_all.*, {sc} AS sc, {inw} AS inw{bucket} FROM {r_from})",
        pl = pools_cte(s),
        rate = d.int("sampling_rate"),
        ts = d.ts_ns("timestamp"),
        len = d.dbl("pkt_len"),
        sc = size_class("len"),
        rows_where = clause(&rows_where),
    )
}

/// With the interval CTE `ivc`: it (to put before the rows), the join
/// that brings it to the rows, and their `bucket` column; empty without.
pub(super) fn bucketing(d: Dialect, ivc: Option<&str>) -> (String, &'static str, String) {
    match ivc {
        Some(c) => (
            format!("{c},\n"),
            " CROSS JOIN ivc",
            format!(", {} AS bucket", d.idiv("ts", "ivc.iv")),
        ),
        None => (String::new(), "", String::new()),
    }
}

fn clause(v: &[String]) -> String {
    if v.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", v.join(" AND "))
    }
}

pub(super) fn hosts_in(s: &Scope) -> String {
    let list: Vec<String> = s.hosts.iter().map(|h| quote(h)).collect();
    format!("host IN ({})", list.join(", "))
}

/// `WITH pl AS (…)`: the pools of the parts selected (those whose capture
/// span meets the window).
pub(super) fn pools_cte(s: &Scope) -> String {
    let d = s.dialect;
    let mut pools_where = Vec::new();
    if !s.hosts.is_empty() {
        pools_where.push(hosts_in(s));
    }
    let end = d.ident("end");
    let (ps, pe) = (d.ts_ns("start"), d.ts_ns(&end));
    let mut overlap = Vec::new();
    if let Some(f) = s.from {
        overlap.push(format!("{pe} >= {f}"));
    }
    if let Some(t) = s.to {
        overlap.push(format!("{ps} < {t}"));
    }
    if !overlap.is_empty() {
        pools_where.push(format!(
            "(start IS NULL OR {end} IS NULL OR ({}))",
            overlap.join(" AND ")
        ));
    }
    format!(
        "WITH\npl AS (SELECT host, ifname, direction, {prate} AS rate_i, packets_seen, drops, {ps} AS ps, {pe} AS pe, {pname} AS pname FROM pools{pools_where})",
        prate = d.int("sampling_rate"),
        pname = d.basename("part"),
        pools_where = clause(&pools_where),
    )
}

/// The CTEs every section starts from, read from the cells: `pl`, `ivc`
/// when given, the strata's designs `st` and the report's sizes pooled
/// (`tot`, `cum`). `strat` has each stratum's samples (in the window or
/// not), `pooled` the window's per size class.
pub fn base(a: &Ask) -> String {
    base_full(a, None)
}

/// [`base`] with the CTE `ivc` (the time series' interval).
pub fn base_bucketed(a: &Ask, ivc: &str) -> String {
    a.cells.borrow_mut().bucket_by(ivc.to_string());
    base_full(a, Some(ivc))
}

fn base_full(a: &Ask, ivc: Option<&str>) -> String {
    let d = a.dialect;
    let sr = a.cells.borrow_mut().set(&["sc"], None);
    let (t, gid, sc) = (sr.table, sr.gid, &sr.keys[0]);
    let cums: String = (0..SIZE_CLASSES.len())
        .map(|i| {
            format!(
                "{} AS u{i}",
                d.dbl(&format!(
                    "coalesce(sum(CASE WHEN sc <= {i} THEN c ELSE 0 END), 0)"
                ))
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let ivc = ivc.map(|c| format!(",\n{c}")).unwrap_or_default();
    format!(
        "{pl}{ivc},\n\
strat AS (SELECT {KEYS}, sum(k) AS n0 FROM {t} WHERE gid = {gid} GROUP BY {KEYS}),\n\
pool AS (SELECT host, ifname, direction, rate_i, sum(packets_seen) AS m0, sum(drops) AS drops FROM pl GROUP BY host, ifname, direction, rate_i),\n\
des AS (SELECT s.host AS host, s.ifname AS ifname, s.direction AS direction, s.rate_i AS rate_i, {drate} AS rate, {dn} AS n, CASE WHEN p.m0 > 0 AND p.m0 >= s.n0 THEN {dm} END AS m, coalesce(p.drops, 0) AS drops, p.m0 AS m0 \
FROM strat s LEFT JOIN pool p ON s.host = p.host AND s.ifname = p.ifname AND s.direction = p.direction AND s.rate_i = p.rate_i),\n\
desw AS (SELECT *, CASE WHEN m = n THEN 0.0 WHEN m > n AND n > 0 THEN m / n ELSE rate END AS w FROM des),\n\
pooled AS (SELECT {sc} AS sc, sum(k) AS c, max(mx) AS mx, sum(b) AS sb FROM {t} WHERE {rows} GROUP BY {sc}),\n\
tot AS (SELECT {total} AS ptotal, coalesce(max(mx), 0.0) AS pmax FROM pooled),\n\
cum AS (SELECT {cums} FROM pooled),\n\
sown0 AS (SELECT {KEYS}, sum(k) AS nh, max(mx) AS own FROM {t} WHERE {rows} GROUP BY {KEYS}),\n\
sown AS (SELECT *, {own_sc} AS own_sc FROM sown0),\n\
st0 AS (SELECT x.host AS host, x.ifname AS ifname, x.direction AS direction, x.rate_i AS rate_i, x.rate AS rate, x.n AS n, x.m AS m, x.drops AS drops, x.m0 AS m0, x.w AS w, coalesce(o.nh, 0.0) AS nh, {seen} AS f0 FROM desw x LEFT JOIN sown o ON x.host = o.host AND x.ifname = o.ifname AND x.direction = o.direction AND x.rate_i = o.rate_i CROSS JOIN tot CROSS JOIN cum),\n\
st AS (SELECT *, {FRAME} AS frame FROM st0)",
        pl = pools_cte(a),
        rows = sr.rows(),
        drate = d.dbl("s.rate_i"),
        dn = d.dbl("s.n0"),
        dm = d.dbl("p.m0"),
        total = d.dbl("coalesce(sum(c), 0)"),
        seen = seen_frame(d),
        own_sc = size_class("own"),
    )
}

/// A set's rows in the window as a query: per key (named `names`) and
/// stratum, the `sums` of its cells.
pub fn cell_sums(sr: &SetRef, names: &[&str], sums: &str) -> String {
    let kexpr: Vec<String> = sr
        .keys
        .iter()
        .zip(names)
        .map(|(c, n)| format!("{c} AS {n}"))
        .collect();
    let by: Vec<&str> = sr
        .keys
        .iter()
        .take(names.len())
        .map(String::as_str)
        .collect();
    format!(
        "SELECT {}, {KEYS}, {sums} FROM {} WHERE {} GROUP BY {}, {KEYS}",
        kexpr.join(", "),
        sr.table,
        sr.rows(),
        by.join(", ")
    )
}

/// A stratum's largest frame as its samples show it (`f0` of `st0`): its
/// own largest when they show it smaller than the report's sizes, else
/// the report's.
fn seen_frame(d: Dialect) -> String {
    let own = "coalesce(o.own, 0.0)";
    format!(
        "(CASE WHEN {} THEN {own} ELSE greatest(tot.pmax, {own}) END)",
        smaller(d, "coalesce(o.own_sc, 0)", "coalesce(o.nh, 0.0)")
    )
}

/// A stratum's largest plausible frame from `f0` (analyze's
/// `stratum_frame`): the largest possible (`MAX_FRAME`) when nothing was seen, at least a
/// full Ethernet frame's on fewer than 30 samples.
const FRAME: &str =
    "(CASE WHEN f0 = 0 THEN 65557.0 WHEN nh < 30 THEN greatest(f0, 1518.0) ELSE f0 END)";

/// One section's groups: `keys` (expression, name), the rows that count
/// (`filter`), the largest frame a group's packet can be (`cap`), and a
/// condition on the cells' columns (`within`) keeping only some groups.
pub struct Groups<'a> {
    pub keys: &'a [(String, &'a str)],
    pub filter: &'a str,
    pub cap: &'a str,
    pub within: Option<String>,
}

/// [`groups`] of `keys` over the rows passing `filter`, frames uncapped.
pub fn groups_by(a: &Ask, keys: &[(String, &str)], filter: &str) -> String {
    groups(
        a,
        &Groups {
            keys,
            filter,
            cap: "1e18",
            within: None,
        },
    )
}

/// The CTEs `cell` (a group's sums per stratum, from the cells), `ge` and
/// `g` (its sums over strata) of a section.
pub fn groups(a: &Ask, g: &Groups) -> String {
    let exprs: Vec<&str> = g.keys.iter().map(|(e, _)| e.as_str()).collect();
    let mut sr = a.cells.borrow_mut().set(&exprs, Some(g.filter));
    if let Some(w) = &g.within {
        sr.filter = Some(sr.filter.map_or(w.clone(), |f| format!("{f} AND {w}")));
    }
    let knames: Vec<&str> = g.keys.iter().map(|(_, n)| *n).collect();
    let ck: Vec<String> = knames.iter().map(|n| format!("c.{n}")).collect();
    let (vp, sp) = stratum_total("k", "k");
    let (vb, sb) = stratum_bytes("c.k", "b", "b2");
    format!(
        ",\ncell AS ({cell}),\n\
ge AS (SELECT {ck}, c.k, c.b, c.mx, n, m, rate, w, \
{vp} AS vp, {sp} AS sp, w * (CASE WHEN m IS NOT NULL AND c.k = n THEN 0.0 ELSE 1.0 END) AS wp, \
{vb} AS vb, {sb} AS sb, w * greatest(least(frame, {cap}), c.mx) AS wf, greatest(least(frame, {cap}), c.mx) AS gf \
FROM cell c JOIN st x ON {ON_STRATUM}),\n\
g AS (SELECT {knames}, sum(k) AS samples, sum(vp) AS vp, sum(sp) AS sp, max(wp) AS wp, count(*) AS strata, min(n) AS n1, min(m) AS m1, min(rate) AS r1, \
sum(vb) AS vb, sum(sb) AS sb, sum(b) AS ob, max(w) AS ws, max(wf) AS wf, max(mx) AS gmax, max(gf) AS gf FROM ge GROUP BY {knames})",
        cell = cell_sums(
            &sr,
            &knames,
            "sum(k) AS k, sum(b) AS b, sum(b2) AS b2, max(mx) AS mx"
        ),
        ck = ck.join(", "),
        knames = knames.join(", "),
        cap = g.cap,
    )
}

/// The CTEs from `g` to `gi`: each group's largest weight for bytes
/// (`wb`), the four quantiles of its intervals (packets low and high,
/// bytes low and high: gamma or beta, started from a closed form and
/// refined by Newton's method, one layer per step) and the intervals
/// (`pl`, `ph`, `bl`, `bh`).
pub fn intervals(d: Dialect) -> String {
    intervals_from(d, "g")
}

/// The columns of `g` besides the group's keys.
pub const G_COLS: [&str; 15] = [
    "samples", "vp", "sp", "wp", "strata", "n1", "m1", "r1", "vb", "sb", "ob", "ws", "wf", "gmax",
    "gf",
];

/// [`intervals`] of the groups in the CTE `src`: `g`'s columns, maybe
/// more.
pub fn intervals_from(d: Dialect, src: &str) -> String {
    let (twp, vwp) = ("(vp + wp)", "(sp + wp * wp)");
    let (twb, vwb) = ("(vb + wb)", "(sb + wb * wb)");
    let exact_b = "(sb <= 0 AND wb <= 0)";
    let pk = "(CASE WHEN sp <= 0 AND wp <= 0 THEN 0 WHEN strata = 1 AND m1 IS NOT NULL THEN 1 WHEN strata = 1 THEN 2 ELSE 3 END)";
    // Problem i: kind k_i (0 none, 1 gamma, 2 beta), shapes a_i, b_i.
    let problems = format!(
        "{pk} AS pk, \
CASE {pk} WHEN 1 THEN 2 WHEN 2 THEN 1 WHEN 3 THEN (CASE WHEN vp > 0 AND sp > 0 THEN 1 ELSE 0 END) ELSE 0 END AS k1, \
CASE {pk} WHEN 3 THEN vp * vp / greatest(sp, 1e-300) ELSE samples END AS a1, \
CASE {pk} WHEN 1 THEN n1 - samples + 1.0 ELSE 1.0 END AS b1, \
CASE {pk} WHEN 1 THEN (CASE WHEN samples < n1 THEN 2 ELSE 0 END) WHEN 2 THEN 1 WHEN 3 THEN (CASE WHEN {twp} > 0 AND {vwp} > 0 THEN 1 ELSE 0 END) ELSE 0 END AS k2, \
CASE {pk} WHEN 3 THEN {twp} * {twp} / greatest({vwp}, 1e-300) ELSE samples + 1.0 END AS a2, \
CASE {pk} WHEN 1 THEN greatest(n1 - samples, 1.0) ELSE 1.0 END AS b2, \
CASE WHEN NOT {exact_b} AND vb > 0 AND sb > 0 THEN 1 ELSE 0 END AS k3, \
vb * vb / greatest(sb, 1e-300) AS a3, 1.0 AS b3, \
CASE WHEN NOT {exact_b} AND {twb} > 0 AND {vwb} > 0 THEN 1 ELSE 0 END AS k4, \
{twb} * {twb} / greatest({vwb}, 1e-300) AS a4, 1.0 AS b4"
    );
    let upper = |i: usize| i.is_multiple_of(2);
    let mut logs = Vec::new();
    let mut starts = Vec::new();
    for i in 1..=4 {
        let (a, b) = (format!("a{i}"), format!("b{i}"));
        logs.push(format!(
            "CASE WHEN k{i} = 2 THEN {la} + {lb} - {lab} ELSE {la} END AS l{i}",
            la = lgamma(&a),
            lb = lgamma(&b),
            lab = lgamma(&format!("{a} + {b}"))
        ));
        starts.push(format!(
            "CASE k{i} WHEN 1 THEN {g} WHEN 2 THEN {bt} ELSE 0.0 END AS x{i}_0",
            g = gamma_start(
                d,
                &a,
                &format!("l{i}"),
                &format!("(l{i} + ln({a}))"),
                upper(i)
            ),
            bt = beta_start(d, &a, &b, &format!("l{i}"), upper(i))
        ));
    }
    let mut layers = format!(
        ",\ngw AS (SELECT {src}.*, CASE WHEN gf <= gmax OR {room:.1} * (gf - gmax) <= ob THEN ws * gmax ELSE wf END AS wb FROM {src}),\n\
q0 AS (SELECT gw.*, {problems} FROM gw),\n\
ql AS (SELECT q0.*, {logs} FROM q0),\n\
qs0 AS (SELECT ql.*, {starts} FROM ql)",
        room = crate::stats::ROOM,
        logs = logs.join(", "),
        starts = starts.join(", "),
    );
    newton_steps(d, &mut layers);
    let n = NEWTON_STEPS;
    let (x1, x2, x3, x4) = (
        format!("x1_{n}"),
        format!("x2_{n}"),
        format!("x3_{n}"),
        format!("x4_{n}"),
    );
    let _ = write!(
        layers,
        ",\ngi AS (SELECT qs{n}.*, \
CASE pk WHEN 0 THEN vp WHEN 1 THEN greatest({x1} * m1, samples) WHEN 2 THEN greatest({x1} * r1, samples) \
ELSE greatest(least(CASE WHEN k1 = 1 THEN {x1} * (sp / vp) ELSE vp END, vp), samples) END AS pl, \
CASE pk WHEN 0 THEN vp WHEN 1 THEN (CASE WHEN k2 = 2 THEN {x2} ELSE 1.0 END) * m1 WHEN 2 THEN {x2} * r1 \
ELSE greatest(CASE WHEN k2 = 1 THEN {x2} * ({vwp} / {twp}) ELSE vp END, vp) END AS ph, \
CASE WHEN {exact_b} THEN vb ELSE greatest(least(CASE WHEN k3 = 1 THEN {x3} * (sb / vb) ELSE vb END, vb), ob) END AS bl, \
CASE WHEN {exact_b} THEN vb ELSE greatest(CASE WHEN k4 = 1 THEN {x4} * ({vwb} / {twb}) ELSE vb END, vb) END AS bh FROM qs{n})"
    );
    layers
}

/// The Newton steps refining the four problems' starts: one CTE `qsJ` per
/// step, after `qs0`.
fn newton_steps(d: Dialect, layers: &mut String) {
    let upper = |i: usize| i.is_multiple_of(2);
    for j in 1..=NEWTON_STEPS {
        let mut cols = Vec::new();
        for i in 1..=4 {
            let (a, b, l, x) = (
                format!("a{i}"),
                format!("b{i}"),
                format!("l{i}"),
                format!("x{i}_{}", j - 1),
            );
            // Bytes (problems 3 and 4) are always gamma.
            let bt = if i <= 2 {
                format!(
                    " WHEN k{i} = 2 AND a{i} <= {NEWTON_MAX_SHAPE} THEN {}",
                    beta_step(d, &a, &b, &l, &x, upper(i))
                )
            } else {
                String::new()
            };
            cols.push(format!(
                "CASE WHEN k{i} = 1 AND a{i} <= {NEWTON_MAX_SHAPE} THEN {g}{bt} ELSE {x} END AS x{i}_{j}",
                g = gamma_step(d, &a, &l, &format!("({l} + ln({a}))"), &x, upper(i)),
            ));
        }
        let _ = write!(
            layers,
            ",\nqs{j} AS (SELECT qs{}.*, {} FROM qs{})",
            j - 1,
            cols.join(", "),
            j - 1
        );
    }
}

/// A group's measures as columns: samples, packets (`pe`, `plo`, `phi`)
/// and bytes (`be`, `blo`, `bhi`), from `gi`.
pub fn parts_of_gi(d: Dialect) -> String {
    format!(
        "{} AS samples, {} AS pe, {} AS plo, {} AS phi, {} AS be, {} AS blo, {} AS bhi",
        d.int("samples"),
        tidy("vp"),
        tidy("pl"),
        tidy("ph"),
        tidy("vb"),
        tidy("bl"),
        tidy("bh")
    )
}

/// The same columns for a key no stratum sampled (from `ab`, the
/// aggregate of the strata it could have come from): 0 with its bound.
pub fn parts_of_absent(d: Dialect) -> String {
    let (ph, bh) = absent_bounds(d);
    format!(
        "{} AS samples, 0.0 AS pe, 0.0 AS plo, {ph} AS phi, 0.0 AS be, 0.0 AS blo, {bh} AS bhi",
        d.int("0"),
    )
}

/// The upper bounds of packets and bytes of a key without samples.
fn absent_bounds(d: Dialect) -> (String, String) {
    let (_, cph) = clopper_pearson(d, "0", "ab.n1");
    let ph = format!(
        "(CASE WHEN ab.wp <= 0 THEN 0.0 WHEN ab.sn = 1 AND ab.m1 IS NOT NULL THEN {cph} * ab.m1 \
         WHEN ab.sn = 1 THEN 3.6888794541139363 * ab.r1 ELSE 3.6888794541139363 * ab.wp END)"
    );
    let bh = format!(
        "(CASE WHEN ab.wb <= 0 THEN 0.0 ELSE least({}, {} * ab.fmax) END)",
        tidy("3.6888794541139363 * ab.wb"),
        tidy(&ph)
    );
    (tidy(&ph), bh)
}

/// The records of measure columns (prefixed by `t.`, or nothing):
/// `samples, packets, bytes` as report-v1 has them.
pub fn records(d: Dialect, t: &str) -> String {
    format!(
        "{t}samples AS samples, {} AS packets, {} AS bytes",
        d.estimate(&format!("{t}pe"), &format!("{t}plo"), &format!("{t}phi")),
        d.estimate(&format!("{t}be"), &format!("{t}blo"), &format!("{t}bhi"))
    )
}

/// The measures of a group of `gi`: samples, packets and bytes records.
pub fn measures(d: Dialect) -> String {
    format!(
        "{samples} AS samples, {p} AS packets, {b} AS bytes, vp AS rank_",
        samples = d.int("samples"),
        p = d.estimate(&tidy("vp"), &tidy("pl"), &tidy("ph")),
        b = d.estimate(&tidy("vb"), &tidy("bl"), &tidy("bh")),
    )
}

/// The measures of a listed key no stratum sampled, as records.
pub fn absent(d: Dialect) -> String {
    let (ph, bh) = absent_bounds(d);
    format!(
        "{} AS samples, {} AS packets, {} AS bytes, 0.0 AS rank_",
        d.int("0"),
        d.estimate("0.0", "0.0", &ph),
        d.estimate("0.0", "0.0", &bh),
    )
}

/// The CTE `ab`: per listed key (`keys`, a query of one column `k`), what
/// every stratum allows a key without samples, frames capped by `cap`.
pub fn absent_cte(keys: &str, cap: &str) -> String {
    format!(
        ",\nab AS (SELECT kk.k, count(*) AS sn, max(x.w) AS wp, min(x.n) AS n1, min(x.m) AS m1, min(x.rate) AS r1, \
max(x.w * least(x.frame, {cap})) AS wb, max(least(x.frame, {cap})) AS fmax FROM ({keys}) kk CROSS JOIN st x GROUP BY kk.k)"
    )
}

/// Per group (`name`, from `key` over the rows passing `filter`) and
/// stratum: the sums of the IPv6 share of IP traffic, by packets or by
/// bytes (a query for `stats::sql::share_ctes`).
pub fn v6_sums(a: &Ask, key: &str, name: &str, filter: &str, bytes: bool) -> String {
    let d = a.dialect;
    let sr = a.cells.borrow_mut().set(
        &[key, "ip_version"],
        Some(&format!("ip_version IN (4, 6) AND {filter}")),
    );
    let v = &sr.keys[1];
    let (x, x2) = if bytes { ("b", "b2") } else { ("k", "k") };
    let sums = format!(
        "{} AS nx, {} AS x, {} AS x2, {} AS y, {} AS y2",
        d.dbl("sum(k)"),
        d.dbl(&format!("sum({x})")),
        d.dbl(&format!("sum({x2})")),
        d.dbl(&format!("sum(CASE WHEN {v} = 6 THEN {x} ELSE 0.0 END)")),
        d.dbl(&format!("sum(CASE WHEN {v} = 6 THEN {x2} ELSE 0.0 END)")),
    );
    cell_sums(&sr, &[name], &sums)
}
