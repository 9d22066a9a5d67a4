//! Every subcommand that writes to standard output, on a pipe whose reader
//! goes away: `| head -c 1` (exit 0, or 141 from SIGPIPE), and a pipe
//! closed before the first write (every write fails with EPIPE). Neither
//! may panic or print an error: the reader chose to stop.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use pktsample_tracegen::parts::{PartsSpec, split};

/// The commands, each writing its output to standard output.
fn commands(dir: &Path) -> Vec<Vec<String>> {
    let pq = samples(dir, "mixed.pcapng", 10);
    let ds = dir.join("ds");
    // A dataset for enrich (and sql, which only names it).
    let spec = PartsSpec {
        rows: 8,
        hosts: 2,
        hourly: true,
        parts: None,
        step_hours: 12,
        dataset: true,
    };
    split(&pq, &ds, &spec).unwrap();
    let mmdb = fixture("asn/fixture.mmdb");
    let mut v: Vec<Vec<&str>> = vec![
        vec!["--help"],
        vec!["analyze", "--help"],
        vec!["--version"],
        vec![
            "capture", "--replay", "FIXTURE", "-r", "10", "--seed", "1", "-o", "OUT", "--force",
        ],
        vec!["convert", "PQ", "-o", "OUT.pcapng", "--force"],
        vec!["sql", "--dialect", "duckdb", "DS"],
        vec!["sql", "--dialect", "spark", "DS", "--format", "json"],
        vec!["enrich", "DS", "--asn-db", "MMDB"],
    ];
    for f in ["table", "json", "csv", "markdown", "html"] {
        v.push(vec!["analyze", "PQ", "--format", f]);
    }
    let out = dir.join("o.parquet");
    let out_ng = dir.join("o");
    v.into_iter()
        .map(|c| {
            c.into_iter()
                .map(|a| match a {
                    "FIXTURE" => s(&fixture("mixed.pcapng")).to_string(),
                    "OUT" => s(&out).to_string(),
                    "OUT.pcapng" => format!("{}.pcapng", out_ng.display()),
                    "PQ" => s(&pq).to_string(),
                    "DS" => s(&ds).to_string(),
                    "MMDB" => s(&mmdb).to_string(),
                    a => a.to_string(),
                })
                .collect()
        })
        .collect()
}

fn quiet(what: &str, stderr: &[u8]) {
    let e = String::from_utf8_lossy(stderr);
    assert!(!e.contains("panicked"), "{what}: {e}");
    assert!(!e.contains("Broken pipe"), "{what}: {e}");
    assert!(
        !e.contains("pktsample:"),
        "{what}: an error on a closed pipe: {e}"
    );
}

#[test]
fn head_c_1_ends_every_command_quietly() {
    let dir = tmpdir();
    for c in commands(dir.path()) {
        let line = c
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "'{}' {line} | head -c 1 > /dev/null; echo \"${{PIPESTATUS[0]}}\"",
            bin()
        );
        let o = Command::new("bash").args(["-c", &script]).output().unwrap();
        let code = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert!(code == "0" || code == "141", "{line}: exit {code}");
        quiet(&line, &o.stderr);
    }
}

#[test]
fn a_pipe_closed_before_the_first_write_ends_every_command_quietly() {
    let dir = tmpdir();
    for c in commands(dir.path()) {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(bin())
            .args(&c)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let what = c.join(" ");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        quiet(&what, &o.stderr);
    }
}
