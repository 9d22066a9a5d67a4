//! The conversation sections as SQL: the top address pairs and 5-tuple
//! flows (ranked by their point estimate, as the flow table ranks them),
//! and the TCP connections opened per service and remote AS
//! (`estimate/conversations.rs` in SQL).

use super::breakdowns::{service_names, top_keyed};
use super::per_as::per_as_of;
use super::{Ask, Statement, names};
use crate::estimate::LOW_CONFIDENCE;
use crate::names::ip_proto_name;

/// Both addresses known (an IP sample).
const BOTH: &str = "src_addr IS NOT NULL AND dst_addr IS NOT NULL";

/// A TCP SYN without ACK, by its flags byte (SYN 0x02, ACK 0x10) without
/// bit operators, which the dialects spell differently.
const SYN_ONLY: &str = "ip_proto = 6 AND tcp_flags % 4 >= 2 AND tcp_flags % 32 < 16";

fn low() -> String {
    format!("(samples < {LOW_CONFIDENCE})")
}

pub fn top_pairs(a: &Ask) -> Vec<Statement> {
    let first = format!("{} ASC", low());
    let sql = top_keyed(
        a,
        &[
            ("src_addr".into(), "source"),
            ("dst_addr".into(), "destination"),
        ],
        &[
            "source".into(),
            "destination".into(),
            format!("{} AS low_confidence", low()),
        ],
        (BOTH, &[]),
        Some(&first),
    );
    a.one("top_pairs", sql)
}

/// A nullable integer key as a group key (-1 for null: the engines' `IN`
/// never matches a null), and back.
fn keyed(col: &str) -> String {
    format!("coalesce({col}, -1)")
}

fn unkeyed(d: super::Dialect, name: &str, out: &str) -> String {
    format!(
        "(CASE WHEN {name} < 0 THEN NULL ELSE {} END) AS {out}",
        d.int(name)
    )
}

pub fn top_flows(a: &Ask) -> Vec<Statement> {
    let d = a.dialect;
    let first = format!("{} ASC", low());
    let proto = names("fp", 0..=255, |k| ip_proto_name(k as u8));
    // The ports as analyze keys them: both or neither.
    let both = "(src_port IS NOT NULL AND dst_port IS NOT NULL)";
    let port = |c: &str| keyed(&format!("(CASE WHEN {both} THEN {c} END)"));
    let sql = top_keyed(
        a,
        &[
            (keyed("ip_proto"), "fp"),
            ("src_addr".into(), "source"),
            (port("src_port"), "fs"),
            ("dst_addr".into(), "destination"),
            (port("dst_port"), "fd"),
        ],
        &[
            unkeyed(d, "fp", "ip_proto"),
            format!("{proto} AS name"),
            "source".into(),
            unkeyed(d, "fs", "source_port"),
            "destination".into(),
            unkeyed(d, "fd", "destination_port"),
            format!("{} AS low_confidence", low()),
        ],
        (BOTH, &["ip_proto", "src_port", "dst_port"]),
        Some(&first),
    );
    a.one("top_flows", sql)
}

/// Per service (the SYN's destination port) and per remote AS (from the
/// enrichment columns: none where the dataset was not enriched).
pub fn connections(a: &Ask) -> Vec<Statement> {
    let d = a.dialect;
    let cols = ["ip_proto", "tcp_flags", "dst_port"];
    let services = super::ranked(
        a,
        &super::Ranked {
            keys: &[("coalesce(dst_port, 0)".into(), "port")],
            out: &[
                "'tcp' AS transport".into(),
                format!("{} AS port", d.int("port")),
                format!("{} AS name", service_names("port")),
            ],
            filter: Some(SYN_ONLY),
            top: Some(a.top),
            cols: &cols,
            ..Default::default()
        },
    );
    vec![
        Statement {
            section: "connections",
            sql: services,
        },
        Statement {
            section: "connections_by_remote_as",
            sql: per_as_of(a, "remote_as", a.top, Some(SYN_ONLY), &cols),
        },
    ]
}
