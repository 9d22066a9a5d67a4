//! Shares as SQL (the IPv6 share of IP traffic, overall, per time bucket
//! and per remote AS): analyze's `stats::share`, the ratio of two
//! stratified totals with its variance by linearisation and a Wilson
//! interval on the effective sample size.

use super::stats::{Z, stratum_total};

/// The CTEs computing, per group (`keys`), the share y/x from `src`: a
/// query with the group keys, a stratum's keys (host, ifname, direction,
/// rate_i) and that stratum's sums `nx` (samples in x), `x`, `x2`, `y`,
/// `y2`. The last CTE, `{name}`, has the keys and `{name}_e`, `{name}_l`,
/// `{name}_h`. `all_strata`: whether "every packet seen" (no
/// uncertainty) is judged over every stratum of the report (analyze's
/// overall and per-bucket shares) or over the group's own.
pub fn share_ctes(name: &str, src: &str, keys: &[&str], all_strata: bool) -> String {
    let k = keys.join(", ");
    // Window sums over the group, not joins: engines that inline CTEs
    // (ClickHouse) would evaluate a joined CTE once per reference.
    let over = if keys.is_empty() {
        "OVER ()".to_string()
    } else {
        format!("OVER (PARTITION BY {k})")
    };
    let sel_k = |t: &str| -> String { keys.iter().map(|c| format!("{t}.{c} AS {c}, ")).collect() };
    let gk = if keys.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {k}")
    };
    let (vx, _) = stratum_total("x", "x2");
    let (vy, _) = stratum_total("y", "y2");
    let (_, vz) = stratum_total("sz", "sz2");
    let exact = if all_strata {
        "(SELECT min(CASE WHEN m = n THEN 1 ELSE 0 END) FROM st)".to_string()
    } else {
        format!("min(CASE WHEN m = n THEN 1 ELSE 0 END) {over}")
    };
    let p = name;
    let kc = if keys.is_empty() {
        String::new()
    } else {
        format!("{k}, ")
    };
    format!(
        ",\n{p}0 AS (SELECT {sa}s.nx AS nx, s.x AS x, s.x2 AS x2, s.y AS y, s.y2 AS y2, t.n AS n, t.m AS m, t.rate AS rate, \
CASE WHEN s.nx > 0 THEN {vx} ELSE 0.0 END AS xv, CASE WHEN s.nx > 0 THEN {vy} ELSE 0.0 END AS yv \
FROM ({src}) s JOIN st t ON s.host = t.host AND s.ifname = t.ifname AND s.direction = t.direction AND s.rate_i = t.rate_i),\n\
{p}1 AS (SELECT {p}0.*, sum(xv) {over} AS xt, sum(yv) {over} AS yt, sum(nx) {over} AS nn, {exact} AS allx FROM {p}0),\n\
{p}2 AS (SELECT {p}1.*, CASE WHEN xt > 0 THEN yt / xt ELSE 0.0 END AS r FROM {p}1),\n\
{p}3 AS (SELECT {p}2.*, y - r * x AS sz, greatest(y2 - 2.0 * r * y2 + r * r * x2, 0.0) AS sz2 FROM {p}2),\n\
{p}4 AS (SELECT {kc}sum(CASE WHEN nx > 0 THEN {vz} ELSE 0.0 END) AS var, min(xt) AS xt, min(nn) AS nn, min(allx) AS allx, min(r) AS r FROM {p}3{gk}),\n\
{p}5 AS (SELECT {p}4.*, CASE WHEN xt > 0 AND var > 0 AND r > 0 AND r < 1 THEN least(r * (1.0 - r) / (var / (xt * xt)), nn * 1e6) ELSE nn END AS ne FROM {p}4),\n\
{p}6 AS (SELECT {p}5.*, (r + {z2} / (2.0 * ne)) / (1.0 + {z2} / ne) AS ctr, \
{Z} * sqrt(r * (1.0 - r) / ne + {z2} / (4.0 * ne * ne)) / (1.0 + {z2} / ne) AS half FROM {p}5),\n\
{p} AS (SELECT {kc}\
CASE WHEN xt <= 0 THEN 0.0 ELSE r END AS {p}_e, \
CASE WHEN xt <= 0 THEN 0.0 WHEN var <= 0 AND allx = 1 THEN r WHEN ne <= 0 THEN least(0.0, r) ELSE least(greatest(ctr - half, 0.0), r) END AS {p}_l, \
CASE WHEN xt <= 0 THEN 1.0 WHEN var <= 0 AND allx = 1 THEN r WHEN ne <= 0 THEN greatest(1.0, r) ELSE greatest(least(ctr + half, 1.0), r) END AS {p}_h \
FROM {p}6)",
        sa = sel_k("s"),
        z2 = format!("({Z} * {Z})"),
    )
}
