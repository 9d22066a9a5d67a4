//! The Kubernetes sections as SQL, from the samples' Kubernetes columns
//! (schema 1.5, filled by `enrich --k8s`): `estimate/k8s.rs` in SQL. A
//! side's key is spelled as `engine::k8s::side_key` spells it, so the rows
//! are analyze's: `namespace/kind/name` for a workload or service,
//! `(label)` for an address no workload holds, `(unattributed)` without
//! context.

use super::per_as::origin;
use super::{Ask, Dialect, Ranked, Statement, ranked};

const K8S_COLS: [&str; 4] = [
    "src_namespace",
    "src_workload",
    "dst_namespace",
    "dst_workload",
];

/// A side's workload key (`src` or `dst`).
fn side(p: &str) -> String {
    format!(
        "(CASE WHEN {p}_namespace IS NOT NULL AND {p}_workload IS NOT NULL THEN {p}_namespace || '/' || {p}_workload \
WHEN {p}_namespace IS NOT NULL THEN {p}_namespace || '/(unknown)' \
WHEN {p}_workload IS NOT NULL THEN '(' || {p}_workload || ')' ELSE '(unattributed)' END)"
    )
}

/// A side's namespace key: the namespace, or the label as in [`side`].
fn namespace(p: &str) -> String {
    format!(
        "(CASE WHEN {p}_namespace IS NOT NULL THEN {p}_namespace \
WHEN {p}_workload IS NOT NULL THEN '(' || {p}_workload || ')' ELSE '(unattributed)' END)"
    )
}

/// The far end: the source of ingress rows, the destination of egress ones.
fn remote(key: fn(&str) -> String) -> String {
    format!(
        "(CASE direction WHEN 'ingress' THEN {} WHEN 'egress' THEN {} END)",
        key("src"),
        key("dst")
    )
}

/// Whether a key is the cluster's: a workload's, or a node's address.
fn in_cluster(d: Dialect, k: &str) -> String {
    let e = format!("({k} NOT LIKE '(%' OR {k} = '(node)')");
    match d {
        Dialect::ClickHouse => format!("CAST({e}, 'Bool')"),
        _ => e,
    }
}

/// Rows keyed by one expression, with `in_cluster`.
fn rows(s: &Ask, key: String, filter: Option<&str>, top: usize) -> String {
    ranked(
        s,
        &Ranked {
            keys: &[(key, "name")],
            out: &[
                "name".into(),
                format!("{} AS in_cluster", in_cluster(s.dialect, "name")),
            ],
            filter,
            top: Some(top),
            cols: &K8S_COLS,
            ..Default::default()
        },
    )
}

fn pairs(s: &Ask, key: fn(&str) -> String, top: usize) -> String {
    ranked(
        s,
        &Ranked {
            keys: &[(key("src"), "source"), (key("dst"), "destination")],
            out: &["source".into(), "destination".into()],
            top: Some(top),
            cols: &K8S_COLS,
            ..Default::default()
        },
    )
}

const DIRECTED: &str = "direction IN ('ingress', 'egress')";

fn by_end(a: &Ask, key: fn(&str) -> String, names: [&'static str; 3]) -> Vec<Statement> {
    let s = a;
    vec![
        Statement {
            section: names[0],
            sql: rows(s, key("src"), None, a.top),
        },
        Statement {
            section: names[1],
            sql: rows(s, key("dst"), None, a.top),
        },
        Statement {
            section: names[2],
            sql: rows(s, remote(key), Some(DIRECTED), a.top),
        },
    ]
}

pub fn namespaces(a: &Ask) -> Vec<Statement> {
    let names = [
        "source_namespaces",
        "destination_namespaces",
        "remote_namespaces",
    ];
    by_end(a, namespace, names)
}

pub fn workloads(a: &Ask) -> Vec<Statement> {
    let names = [
        "source_workloads",
        "destination_workloads",
        "remote_workloads",
    ];
    by_end(a, side, names)
}

pub fn namespace_pairs(a: &Ask) -> Vec<Statement> {
    a.one("namespace_pairs", pairs(a, namespace, a.top))
}

pub fn workload_pairs(a: &Ask) -> Vec<Statement> {
    a.one("workload_pairs", pairs(a, side, a.top))
}

/// From the cluster's (a workload, service or node) to an address none
/// holds.
const LEAVES: &str = "(src_namespace IS NOT NULL OR src_workload = 'node') \
AND dst_namespace IS NULL AND dst_workload IS NOT NULL AND dst_workload <> 'node'";

/// Traffic leaving the cluster per workload, and per workload and
/// destination AS (from the AS columns).
pub fn leaving(a: &Ask) -> Vec<Statement> {
    let s = a;
    let d = s.dialect;
    let (dl, dn, dnm) = origin(d, "dst");
    let filter = format!("{LEAVES} AND {dl} IS NOT NULL");
    let mut cols = K8S_COLS.to_vec();
    cols.extend(["dst_as", "dst_as_name"]);
    let by_as = ranked(
        s,
        &Ranked {
            keys: &[
                (side("src"), "source"),
                (dl, "dlabel"),
                (dn, "dasn"),
                (dnm, "dname"),
            ],
            out: &[
                "source".into(),
                format!("{} AS destination", d.as_ref("dasn", "dlabel", "dname")),
            ],
            filter: Some(&filter),
            top: Some(a.top),
            cols: &cols,
            ..Default::default()
        },
    );
    vec![
        Statement {
            section: "leaving_workloads",
            sql: rows(s, side("src"), Some(LEAVES), a.top),
        },
        Statement {
            section: "leaving_as",
            sql: by_as,
        },
    ]
}
