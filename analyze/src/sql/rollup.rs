//! `pktsample sql --rollup`: the small cells (`pk_cells`) filled from a
//! dataset's rollups (`DIR/_rollup/`, schemas/README.md "Rollups")
//! instead of its samples, so that the sections' statements, unchanged,
//! read a few rows per part rather than every sample.
//!
//! The rollups hold each set's sums on its own (a row per size class, per
//! EtherType, per minute and IP version, …), not the joint keys a sample
//! has. So each cell set is summed from the rollup sets that hold its
//! keys, chosen by the columns its key expressions read ([`sources`]),
//! and every rollup row stands for samples with the column values its set
//! and key say (a size class's smallest length, a minute's first
//! nanosecond, a protocol class's representative protocol, `other`
//! ports as 65535, which no service names): the sections' own key
//! expressions then give the same keys as over the samples, and the
//! sums are the rollup's.

use super::Dialect;
use super::Scope;
use super::query::{KEYS, bucketing, hosts_in, pools_cte, size_class};
use crate::engine::SIZE_CLASSES;

/// The rollup sets a cell set is summed from, by the sample columns its
/// keys and filter read; None when no rollup holds them.
fn sources(cols: &[&str]) -> Option<&'static [&'static str]> {
    let has = |c: &str| cols.contains(&c);
    let only = |allowed: &[&str]| cols.iter().all(|c| allowed.contains(c));
    let stratum = ["host", "ifname", "direction"];
    Some(if only(&stratum) {
        &["total"]
    } else if only(&["len"]) {
        &["size"]
    } else if only(&["ip_version"]) {
        &["ip_version"]
    } else if only(&["eth_type"]) {
        &["eth_type"]
    } else if only(&["ip_proto"]) {
        &["ip_proto", "service"]
    } else if only(&["ip_proto", "src_port", "dst_port"]) {
        &["service"]
    } else if only(&["ts", "ip_version"]) {
        &["time_version"]
    } else if has("ts") && only(&["ts", "ip_version", "ip_proto"]) {
        // Protocol classes of the IP rows, and the rows that are not IP
        // (class `non-ip`), which only the versions hold.
        &["time_class", "time_version"]
    } else {
        return None;
    })
}

/// The sample columns an expression reads (its identifiers that name one;
/// `sc` is the size class of `len`, `bucket` the time bucket of `ts`).
pub fn columns_of(expr: &str) -> Vec<&'static str> {
    const COLS: [&str; 11] = [
        "host",
        "ifname",
        "direction",
        "len",
        "ts",
        "ip_version",
        "eth_type",
        "ip_proto",
        "src_port",
        "dst_port",
        "src_addr",
    ];
    let mut out = Vec::new();
    for w in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let c = match w {
            "sc" => "len",
            "bucket" => "ts",
            "dst_addr" => "src_addr",
            w => match COLS.iter().find(|c| **c == w) {
                Some(c) => c,
                None => continue,
            },
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Representative IP protocols of the time series' classes (tcp, udp,
/// icmp, icmpv6, other IP: 47, GRE).
const CLASS_PROTO: [u8; 5] = [6, 17, 1, 58, 47];

/// The rollup rows as samples: `rr`, with every column a key expression
/// may read, `k`, `b`, `b2`, `mx` the rollup's sums, `t0`/`t1` the
/// stratum's span.
fn rows_cte(s: &Scope, ivc: Option<&str>) -> String {
    let d = s.dialect;
    let hosts = if s.hosts.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", hosts_in(s))
    };
    let lens: String = SIZE_CLASSES
        .iter()
        .enumerate()
        .map(|(i, (lo, _))| format!(" WHEN {i} THEN {lo}"))
        .collect();
    let class: String = CLASS_PROTO
        .iter()
        .enumerate()
        .map(|(i, p)| format!(" WHEN {i} THEN {p}"))
        .collect();
    let version = |k: &str| format!("(CASE {k} WHEN 1 THEN 4 WHEN 2 THEN 6 ELSE 0 END)");
    let set = d.ident("set");
    let (ivc, cross, bucket) = bucketing(d, ivc);
    format!(
        "{pl},\n{ivc}\
ru AS (SELECT host, ifname, direction, {rate} AS rate_i, {set} AS rs, k1, k2, {n} AS k, {b} AS b, {b2} AS b2, {mx} AS mx FROM rollup{hosts}),\n\
sp AS (SELECT host, ifname, direction, rate_i, min(k1) AS t0, max(k2) AS t1 FROM ru WHERE rs = 'span' GROUP BY {KEYS}),\n\
re AS (SELECT u.host AS host, u.ifname AS ifname, u.direction AS direction, u.rate_i AS rate_i, u.rs AS rs, u.k AS k, u.b AS b, u.b2 AS b2, u.mx AS mx, p.t0 AS t0, p.t1 AS t1, \
CASE WHEN u.rs IN ('time_version', 'time_class') THEN u.k1 * {base} END AS ts, \
CAST(CASE WHEN u.rs = 'size' THEN (CASE u.k1{lens} END) END AS DOUBLE) AS len, \
CASE WHEN u.rs = 'ip_version' THEN {v1} WHEN u.rs = 'time_version' THEN {v2} WHEN u.rs = 'time_class' THEN 4 END AS ip_version, \
CASE WHEN u.rs = 'eth_type' THEN u.k1 END AS eth_type, \
CASE WHEN u.rs IN ('ip_proto', 'service') THEN u.k1 WHEN u.rs = 'time_class' THEN (CASE u.k2{class} END) END AS ip_proto, \
CASE WHEN u.rs = 'service' THEN (CASE WHEN u.k2 >= 0 THEN u.k2 ELSE 65535 END) END AS src_port, \
CASE WHEN u.rs = 'service' THEN (CASE WHEN u.k2 >= 0 THEN u.k2 ELSE 65535 END) END AS dst_port \
FROM ru u LEFT JOIN sp p ON u.host = p.host AND u.ifname = p.ifname AND u.direction = p.direction AND u.rate_i = p.rate_i),\n\
rr AS (SELECT re.*, {sc} AS sc, 1 = 1 AS inw{bucket} FROM re{cross})",
        pl = pools_cte(s),
        rate = d.int("sampling_rate"),
        n = d.dbl("n"),
        b = d.dbl("bytes"),
        b2 = d.dbl("bytes2"),
        mx = d.dbl(&d.ident("max")),
        base = crate::engine::rollup::BASE_NS,
        v1 = version("u.k1"),
        v2 = version("u.k2"),
        sc = size_class("len"),
    )
}

/// The fill of `pk_cells` from the rollups: each set summed from its
/// sources, the sets one after the other (`UNION ALL`), in the columns
/// `used` of the table (`exprs[i]` as `c{i}`, null outside its set).
/// Err: the expression no rollup holds.
pub fn fill(
    s: &Scope,
    exprs: &[String],
    sets: &[(usize, &Vec<usize>)],
    used: &[usize],
    ivc: Option<&str>,
) -> Result<String, String> {
    let mut parts = Vec::new();
    for (gid, set) in sets {
        let read: Vec<&str> = set.iter().flat_map(|i| columns_of(&exprs[*i])).collect();
        let src = sources(&read).ok_or_else(|| {
            let e: Vec<&str> = set.iter().map(|i| exprs[*i].as_str()).collect();
            format!("no rollup holds the keys {}", e.join(", "))
        })?;
        let cols: String = used
            .iter()
            .map(|i| {
                if set.contains(i) {
                    format!(", {} AS c{i}", exprs[*i])
                } else {
                    format!(", NULL AS c{i}")
                }
            })
            .collect();
        let group: String = set.iter().map(|i| format!(", {}", exprs[*i])).collect();
        let rs: Vec<String> = src.iter().map(|r| format!("'{r}'")).collect();
        parts.push(format!(
            "SELECT {KEYS}, inw{cols}, {gid} AS gid, sum(k) AS k, sum(b) AS b, sum(b2) AS b2, max(mx) AS mx, min(t0) AS t0, max(t1) AS t1 FROM rr WHERE rs IN ({}) GROUP BY {KEYS}, inw{group}",
            rs.join(", ")
        ));
    }
    Ok(format!(
        "{},\nun AS ({})\nSELECT * FROM un",
        rows_cte(s, ivc),
        parts.join(" UNION ALL ")
    ))
}

/// The view `rollup` over the dataset's rollups at `root`.
pub fn view(d: Dialect, root: &str) -> String {
    let root = root.trim_end_matches('/').replace('\'', "''");
    let glob = format!("{root}/_rollup/date=*/host=*/*.parquet");
    match d {
        Dialect::DuckDb => format!(
            "CREATE OR REPLACE VIEW rollup AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"
        ),
        Dialect::ClickHouse => format!(
            "CREATE VIEW rollup AS SELECT * FROM file('{glob}', Parquet) SETTINGS use_hive_partitioning = 1"
        ),
        Dialect::Spark => format!(
            "CREATE OR REPLACE TEMPORARY VIEW rollup AS SELECT * FROM parquet.`{root}/_rollup`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_an_expression_reads() {
        assert_eq!(columns_of("sc"), vec!["len"]);
        assert_eq!(
            columns_of(
                "(bucket * 8 + (CASE WHEN ip_proto IS NOT NULL THEN 1 WHEN ip_version IS NULL THEN 5 END))"
            ),
            vec!["ts", "ip_proto", "ip_version"]
        );
        assert_eq!(columns_of("CAST('all' AS VARCHAR)"), Vec::<&str>::new());
        assert_eq!(
            sources(&["ts", "ip_proto", "ip_version"]),
            Some(&["time_class", "time_version"][..])
        );
        assert_eq!(sources(&["src_addr"]), None);
        assert_eq!(sources(&[]), Some(&["total"][..]));
    }
}
