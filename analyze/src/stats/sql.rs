//! analyze's estimators and intervals ([`super`]) as SQL expressions,
//! text built from the column names they read. SQL has no inverse gamma or
//! beta function, so each quantile starts from a closed form (Wilson and
//! Hilferty's cube root for the gamma, which analyze itself uses above a
//! shape of 1000; Paulson's for the beta, through the F distribution; the
//! small-shape tails) and, up to a shape of 40, Newton's method refines it
//! with the incomplete gamma and beta series to analyze's value (1e-9).
//! Above 40 the closed forms stand: `docs/sql.md` gives their error.

use crate::sql::Dialect;

/// The standard normal quantile at 97.5 % (statrs gives the same double).
pub const Z: &str = "1.959963984540054";

/// Gamma(shape, 1) quantile at 2.5 % (`upper` false) or 97.5 %.
pub fn gamma_q(d: Dialect, a: &str, upper: bool) -> String {
    let (z, exp) = if upper {
        (Z.to_string(), "3.6888794541139363")
    } else {
        (format!("-{Z}"), "0.025317807984289786")
    };
    let cube = d.pow(
        &format!("greatest(0.0, 1.0 - 1.0 / (9.0 * ({a})) + ({z}) * sqrt(1.0 / (9.0 * ({a}))))"),
        "3",
    );
    format!("(CASE WHEN ({a}) = 1.0 THEN {exp} ELSE ({a}) * {cube} END)")
}

/// Beta(a, b) quantile at 2.5 % or 97.5 %: Paulson's approximation of the
/// F quantile; exact when a or b is 1.
fn beta_q(d: Dialect, a: &str, b: &str, upper: bool) -> String {
    let (p, z, sign) = if upper {
        ("0.975", Z.to_string(), "+")
    } else {
        ("0.025", format!("-{Z}"), "-")
    };
    let (aa, bb, c, dd) = (
        format!("(1.0 - 1.0 / (9.0 * ({b})))"),
        format!("(1.0 - 1.0 / (9.0 * ({a})))"),
        format!("(1.0 / (9.0 * ({a})))"),
        format!("(1.0 / (9.0 * ({b})))"),
    );
    let z2 = format!("(({z}) * ({z}))");
    let den = format!("({aa} * {aa} - {z2} * {dd})");
    let disc =
        format!("greatest(0.0, {aa} * {aa} * {bb} * {bb} - {den} * ({bb} * {bb} - {z2} * {c}))");
    let u = format!("(({aa} * {bb} {sign} sqrt({disc})) / {den})");
    let f = d.pow(&u, "3");
    format!(
        "(CASE WHEN ({b}) = 1 THEN {pa} WHEN ({a}) = 1 THEN 1.0 - {pb} ELSE ({a}) * {f} / (({a}) * {f} + ({b})) END)",
        pa = d.pow(p, &format!("1.0 / ({a})")),
        pb = d.pow(&format!("(1.0 - {p})"), &format!("1.0 / ({b})"))
    )
}

/// Clopper and Pearson's interval for a proportion `x` of `n`.
pub fn clopper_pearson(d: Dialect, x: &str, n: &str) -> (String, String) {
    (
        format!(
            "(CASE WHEN ({x}) = 0 THEN 0.0 ELSE {} END)",
            beta_q(d, x, &format!("({n}) - ({x}) + 1"), false)
        ),
        format!(
            "(CASE WHEN ({x}) = ({n}) THEN 1.0 ELSE {} END)",
            beta_q(d, &format!("({x}) + 1"), &format!("({n}) - ({x})"), true)
        ),
    )
}

/// A count that is an integer up to rounding, as that integer.
pub fn tidy(x: &str) -> String {
    format!(
        "(CASE WHEN abs(({x}) - round({x})) <= 1e-9 * greatest(abs({x}), 1.0) THEN round({x}) ELSE ({x}) END)"
    )
}

/// One stratum's estimate of a subset total and its variance (columns
/// `sum`, `sum2` of the subset; the design's `n`, exact pool `m` (null
/// without one) and `rate`): the ratio estimator with a pool, else
/// Horvitz–Thompson.
pub fn stratum_total(sum: &str, sum2: &str) -> (String, String) {
    let value = format!("(CASE WHEN m IS NOT NULL THEN m / n * ({sum}) ELSE rate * ({sum}) END)");
    let var = format!(
        "(CASE WHEN m IS NOT NULL AND n > 1 THEN m * m * (1.0 - n / m) * greatest(0.0, (({sum2}) - ({sum}) * ({sum}) / n) / (n - 1.0)) / n \
         WHEN m IS NOT NULL THEN m * (m - 1.0) * ({sum2}) \
         ELSE rate * (rate - 1.0) * ({sum2}) END)"
    );
    (value, var)
}

/// [`stratum_total`] of a group's bytes (`k` samples, Σ `b`, Σ `b2`):
/// the variance as analyze's [`crate::stats::bytes`] has it, Bernoulli's
/// where few samples of a whole stratum show no spread.
pub fn stratum_bytes(k: &str, b: &str, b2: &str) -> (String, String) {
    let (value, var) = stratum_total(b, b2);
    let var = format!(
        "(CASE WHEN m IS NOT NULL AND m > n AND n < {few} AND ({k}) = n AND ({b2}) * n = ({b}) * ({b}) \
         THEN (m / n) * (m / n - 1.0) * ({b2}) ELSE {var} END)",
        few = crate::stats::FEW_SAMPLES
    );
    (value, var)
}

/// Newton steps refining a quantile: enough from the starting points
/// below for 1e-12 over the shapes they are used for.
pub const NEWTON_STEPS: usize = 5;
/// Terms of the incomplete gamma and beta series.
const TERMS: usize = 64;
/// Above this shape the starting approximations stand (as in analyze,
/// whose own is Wilson–Hilferty above 1000).
pub const NEWTON_MAX_SHAPE: &str = "40.0";

/// ln Γ(z) for z > 0: Stirling's series after a shift of 6 (no engine
/// function: Spark has none).
pub fn lgamma(z: &str) -> String {
    let w = format!("(({z}) + 6.0)");
    format!(
        "(({w} - 0.5) * ln({w}) - {w} + 0.9189385332046728 + 1.0 / (12.0 * {w}) - 1.0 / (360.0 * {w} * {w} * {w}) \
         + 1.0 / (1260.0 * {w} * {w} * {w} * {w} * {w}) - 1.0 / (1680.0 * {w} * {w} * {w} * {w} * {w} * {w} * {w}) \
         - ln(({z}) * (({z}) + 1.0) * (({z}) + 2.0) * (({z}) + 3.0) * (({z}) + 4.0) * (({z}) + 5.0)))"
    )
}

/// 1 + Σ_k Π_{j≤k} x·(c + j)/(a + j), j from 1: the series of the
/// incomplete gamma (c absent: Π x/(a+j)) and beta (c = a + b − 1), as
/// Horner's rule folded over j = TERMS…1 (a fold keeps the text short).
fn series(d: Dialect, a: &str, c: Option<&str>, x: &str) -> String {
    let num = match c {
        Some(c) => format!("({x}) * (({c}) + j_)"),
        None => format!("({x})"),
    };
    d.fold(TERMS, &format!("1.0 + {num} / (({a}) + j_) * acc_"))
}

/// The starting point of a gamma(a) quantile (`lga`, `lga1`: ln Γ(a),
/// ln Γ(a+1)).
pub fn gamma_start(d: Dialect, a: &str, lga: &str, lga1: &str, upper: bool) -> String {
    let wh = gamma_q(d, a, upper);
    if upper {
        // Small shapes: the tail's fixed point x = −ln(0.025·Γ(a)) + (a−1)·ln x.
        let mut x = String::from("1.0");
        for _ in 0..3 {
            x = format!("(3.6888794541139363 - {lga} + (({a}) - 1.0) * ln({x}))");
        }
        format!("(CASE WHEN ({a}) < 2.0 THEN greatest({x}, 1e-3) ELSE greatest({wh}, 1e-3) END)")
    } else {
        format!(
            "(CASE WHEN ({a}) < 3.0 THEN exp((ln(0.025) + {lga1}) / ({a})) ELSE greatest({wh}, 1e-300) END)"
        )
    }
}

/// One Newton step of a gamma(a) quantile from `x`.
pub fn gamma_step(d: Dialect, a: &str, lga: &str, lga1: &str, x: &str, upper: bool) -> String {
    let p = if upper { "0.975" } else { "0.025" };
    let big_p = format!(
        "exp(({a}) * ln({x}) - ({x}) - {lga1}) * {}",
        series(d, a, None, x)
    );
    let f = format!("exp((({a}) - 1.0) * ln({x}) - ({x}) - {lga})");
    format!("greatest(({x}) - ({big_p} - {p}) / {f}, ({x}) / 10.0)")
}

/// The starting point of a beta(a, b) quantile (`lbeta`: ln B(a, b)).
pub fn beta_start(d: Dialect, a: &str, b: &str, lbeta: &str, upper: bool) -> String {
    let paulson = beta_q(d, a, b, upper);
    if upper {
        format!("least(greatest({paulson}, 1e-300), 0.999999)")
    } else {
        format!(
            "(CASE WHEN ({a}) < 3.0 THEN least(exp((ln(0.025 * ({a})) + {lbeta}) / ({a})), 0.5) ELSE least(greatest({paulson}, 1e-300), 0.999999) END)"
        )
    }
}

/// One Newton step of a beta(a, b) quantile from `x` (the series in x
/// below 1/2, in 1 − x above).
pub fn beta_step(d: Dialect, a: &str, b: &str, lbeta: &str, x: &str, upper: bool) -> String {
    let p = if upper { "0.975" } else { "0.025" };
    let c = format!("(({a}) + ({b}) - 1.0)");
    let y = format!("(1.0 - ({x}))");
    let low = format!(
        "exp(({a}) * ln({x}) + ({b}) * ln({y}) - ln({a}) - {lbeta}) * {}",
        series(d, a, Some(&c), x)
    );
    let high = format!(
        "(1.0 - exp(({b}) * ln({y}) + ({a}) * ln({x}) - ln({b}) - {lbeta}) * {})",
        series(d, b, Some(&c), &y)
    );
    let f = format!("exp((({a}) - 1.0) * ln({x}) + (({b}) - 1.0) * ln({y}) - {lbeta})");
    format!(
        "least(greatest(({x}) - ((CASE WHEN ({x}) < 0.5 THEN {low} ELSE {high} END) - {p}) / {f}, ({x}) / 10.0), (1.0 + ({x})) / 2.0)"
    )
}

// Shares: `super::share`, the ratio of two stratified totals with its
// variance by linearisation and a Wilson interval on the effective sample
// size (the IPv6 share of IP traffic, overall, per time bucket and per
// remote AS).

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
