//! The report's sections against their one list (`catalog::CATALOG`):
//! each `--by` value fills exactly the report-v1 members its descriptor
//! names, every member is in the JSON schema, the text formats show
//! exactly its parts, and `sql --by` prints statements named after them.

mod common;

use std::collections::BTreeSet;

use common::*;
use pktsample_analyze::Section;
use pktsample_analyze::catalog::{self, CATALOG};

/// Members every report has, whatever `--by` says.
const ALWAYS: [&str; 7] = [
    "report_version",
    "tool_version",
    "inputs",
    "filters",
    "summary",
    "ipv6_share",
    "warnings",
];

fn schema_members() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("schemas/report-v1.schema.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["properties"]
        .as_object()
        .expect("the schema lists the report's members")
        .keys()
        .cloned()
        .collect()
}

fn by_args(sec: Section) -> Vec<String> {
    let mut a = vec![
        "analyze".to_string(),
        s(&fixture("asn.pcapng")).to_string(),
        "--by".into(),
        sec.name().into(),
    ];
    // Leaving the cluster per destination AS, and connections per remote
    // AS, need the AS database too.
    if sec.per_as() || sec == Section::Leaving || sec == Section::Connections {
        a.extend([
            "--asn-db".into(),
            s(&fixture("asn/fixture.mmdb")).to_string(),
        ]);
    }
    if sec.per_k8s() {
        a.extend([
            "--k8s".into(),
            s(&fixture("k8s/cluster-2200.json")).to_string(),
            "--k8s-time".into(),
            "2023-11-14T22:00:00Z".into(),
        ]);
    }
    if sec == Section::Denied {
        a.extend([
            "--k8s-policy".into(),
            s(&fixture("k8s/netpol-shop.json")).to_string(),
        ]);
    }
    a
}

fn run(args: &[String], extra: &[&str]) -> String {
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend(extra);
    ok(&a)
}

#[test]
fn every_section_fills_its_members_and_shows_its_parts() {
    let schema = schema_members();
    let mut names = BTreeSet::new();
    for s in Section::EVERY {
        let d = catalog::descriptor(s);
        assert!(names.insert(s.name()), "{} twice", s.name());
        let args = by_args(s);
        let json: serde_json::Value =
            serde_json::from_str(&run(&args, &["--format", "json"])).unwrap();
        let got: BTreeSet<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| !ALWAYS.contains(k))
            .collect();
        let want: BTreeSet<&str> = d.all_members().filter(|k| !ALWAYS.contains(k)).collect();
        assert_eq!(got, want, "--by {}: report members", s.name());
        for m in d.all_members() {
            assert!(
                schema.contains(m),
                "{m} of {} is not in the JSON schema",
                s.name()
            );
        }
        // CSV: one section column value per part with rows, or a member
        // of the section's own (distinct hosts), none other.
        let csv = run(&args, &["--format", "csv"]);
        let parts: BTreeSet<&str> = d.parts.iter().map(|p| p.id).collect();
        for line in csv.lines().skip(1) {
            let id = line.split(',').next().unwrap();
            assert!(
                parts.contains(id)
                    || d.members.contains(&id)
                    || ["summary", "ipv6_share"].contains(&id),
                "--by {}: CSV row of {id}",
                s.name()
            );
        }
        // The table titles every part, and no other's.
        let table = run(&args, &[]);
        for p in CATALOG.iter().flat_map(|d| d.parts) {
            let shown = table.lines().any(|l| l.trim() == p.title);
            assert_eq!(
                shown,
                parts.contains(p.id),
                "--by {}: {}",
                s.name(),
                p.title
            );
        }
    }
    // The help lists each of them.
    let help = ok(&["analyze", "--help"]);
    for n in &names {
        assert!(help.contains(n), "analyze --help lacks {n}");
    }
}

#[test]
fn sql_statements_are_named_after_the_members() {
    for s in Section::EVERY {
        let d = catalog::descriptor(s);
        let o = pktsample(&[
            "sql",
            "--dialect",
            "duckdb",
            "ds",
            "--by",
            s.name(),
            "--format",
            "json",
        ]);
        let text = String::from_utf8_lossy(&o.stdout);
        if d.sql.is_none() {
            assert!(
                !o.status.success(),
                "--by {}: should have no SQL form",
                s.name()
            );
            let e = String::from_utf8_lossy(&o.stderr);
            assert!(e.contains("has no SQL form yet"), "{e}");
            continue;
        }
        assert!(
            o.status.success(),
            "sql --by {}: {}",
            s.name(),
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let got: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["section"].as_str().unwrap())
            .filter(|x| *x != "setup")
            .collect();
        let members: Vec<&str> = d.all_members().collect();
        for g in &got {
            assert!(
                members
                    .iter()
                    .any(|m| g == m || g.starts_with(&format!("{m}_"))),
                "sql --by {}: statement {g} is none of {members:?}",
                s.name()
            );
        }
        // Every part the text shows has its statement.
        for p in d.parts {
            assert!(
                got.contains(&p.id),
                "sql --by {}: no statement for {}",
                s.name(),
                p.id
            );
        }
    }
}
