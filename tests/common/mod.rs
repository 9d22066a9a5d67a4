//! Helpers shared by the black-box CLI tests.
#![allow(dead_code)]

pub mod blocks;
pub mod datasets;
pub mod netns;
pub mod sflow;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt8Type, UInt16Type, UInt32Type};
use arrow_array::{PrimitiveArray, RecordBatch};
use pktsample_schemas::{CaptureMetadata, FormatError, read_samples};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pktsample")
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

pub fn pktsample(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run pktsample")
}

pub fn ok(args: &[&str]) -> String {
    let o = pktsample(args);
    assert!(
        o.status.success(),
        "pktsample {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Run a command expected to fail; return its single stderr line after
/// checking the contract: non-zero exit, exactly one line, prefixed, no panic.
pub fn fails(args: &[&str]) -> String {
    let o = pktsample(args);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(!o.status.success(), "pktsample {args:?} should fail");
    assert_eq!(o.status.code(), Some(1), "exit code for {args:?}: {err}");
    assert!(!err.contains("panicked"), "panic for {args:?}: {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "one line expected for {args:?}: {err}"
    );
    assert!(err.starts_with("pktsample: "), "{err}");
    err
}

/// `pktsample capture --replay INPUT ARGS...`, which must succeed; its stdout.
pub fn replay(input: &str, args: &[&str]) -> String {
    ok(&replay_args(input, args))
}

/// `pktsample capture --replay INPUT ARGS...`, which must fail with one
/// line; that line.
pub fn replay_err(input: &str, args: &[&str]) -> String {
    fails(&replay_args(input, args))
}

fn replay_args<'a>(input: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["capture", "--replay", input];
    v.extend_from_slice(args);
    v
}

pub fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Files left in a directory (to check no temporary file survives).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every file of a dataset's parts below `dir` (not its pools), sorted.
pub fn dataset_parts(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("_pools") {
                    stack.push(p);
                }
            } else {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

pub fn read_all(path: &Path) -> (Vec<RecordBatch>, CaptureMetadata) {
    let mut batches = Vec::new();
    let meta = read_samples(path, |b| -> Result<(), FormatError> {
        batches.push(b);
        Ok(())
    })
    .unwrap();
    (batches, meta)
}

pub fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow_select::concat::concat_batches(&pktsample_schemas::samples_schema(), batches).unwrap()
}

/// The committed per-link-type traces (fixtures/link/).
pub const LINK_TRACES: [&str; 11] = [
    "link/sll.pcap",
    "link/sll2.pcap",
    "link/sll2.pcapng",
    "link/raw.pcap",
    "link/ipv4.pcap",
    "link/ipv6.pcapng",
    "link/null.pcap",
    "link/loop.pcapng",
    "link/ppp.pcap",
    "link/chdlc.pcap",
    "link/ppi.pcap",
];

/// A typed column of a samples batch.
pub fn u8_col<'a>(b: &'a RecordBatch, name: &str) -> &'a PrimitiveArray<UInt8Type> {
    b.column_by_name(name).unwrap().as_primitive::<UInt8Type>()
}

pub fn u16_col<'a>(b: &'a RecordBatch, name: &str) -> &'a PrimitiveArray<UInt16Type> {
    b.column_by_name(name).unwrap().as_primitive::<UInt16Type>()
}

pub fn u32_col<'a>(b: &'a RecordBatch, name: &str) -> &'a PrimitiveArray<UInt32Type> {
    b.column_by_name(name).unwrap().as_primitive::<UInt32Type>()
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A required external tool is missing: fail in CI, otherwise skip loudly.
/// Returns false when the test should stop (skip).
pub fn need(what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    let msg =
        format!("SKIPPED: {what} is not available; run .ci/run (or install it) to run this test");
    if in_ci() {
        panic!("{msg} (CI=true: a skip is a failure)");
    }
    // Written straight to stderr, past the test harness's output capture,
    // so that the skip shows in a normal `cargo test` run.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
    false
}

pub fn have_cmd(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The interop Python (pyarrow, DuckDB, polars, pandas): `PKTSAMPLE_PYTHON`,
/// else the repo's `.venv` that `.ci/run` creates.
pub fn python() -> Option<PathBuf> {
    let p = std::env::var_os("PKTSAMPLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let ok = Command::new(&p)
        .args([
            "-c",
            "import pyarrow, duckdb, polars, pandas, jsonschema, mmdb_writer, netaddr, scipy, matplotlib, nbformat, nbclient, ipykernel, PIL",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(p)
}

/// Run the interop checker script; panics with its output on failure.
pub fn interop(py: &Path, args: &[&str]) -> String {
    let o = Command::new(py)
        .arg(root().join("tests/interop/check.py"))
        .args(args)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "interop check {args:?} failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

pub fn tshark(args: &[&str]) -> String {
    let o = Command::new("tshark").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Replay a fixture at 1-in-`rate` into `dir`; returns the samples file.
pub fn samples(dir: &Path, name: &str, rate: u32) -> PathBuf {
    let out = dir.join(format!("{name}.r{rate}.parquet"));
    let rate = rate.to_string();
    replay(
        s(&fixture(name)),
        &["-r", &rate, "--seed", "1", "-o", s(&out)],
    );
    out
}

/// Copy the first half of `src` to `dst`: a truncated file.
pub fn cut_in_half(src: &Path, dst: &Path) {
    let bytes = std::fs::read(src).unwrap();
    std::fs::write(dst, &bytes[..bytes.len() / 2]).unwrap();
}

/// Rewrite a samples file with another schema version in its metadata.
pub fn with_schema_version(src: &Path, dst: &Path, version: &str) {
    let (batches, mut meta) = read_all(src);
    meta.schema_version = version.into();
    let mut w = pktsample_schemas::SampleWriter::create(dst, false, &meta).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.finish(&meta).unwrap();
}

/// The generator's truth for a committed fixture trace.
pub fn truth(name: &str) -> pktsample_tracegen::Truth {
    let p = fixture(&format!("{name}.truth.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Replay through the library (no process per run, for simulations).
pub fn replay_lib(input: &Path, out: &Path, rate: u32, seed: u64) {
    pktsample_capture::replay(
        &pktsample_capture::ReplayOptions {
            input: input.into(),
            output: out.into(),
            sampling_rate: rate,
            seed,
            snaplen: 128,
            force: true,
            enrich: Default::default(),
            rotate: None,
            first_part: 1,
            source: None,
        },
        &mut |_| {},
    )
    .unwrap();
}

/// Analyze through the library: every section (the per-AS ones with a
/// database), `top` rows.
pub fn analyze_lib(
    inputs: Vec<PathBuf>,
    asn: Option<std::sync::Arc<pktsample_asn::AsDb>>,
    top: usize,
) -> pktsample_analyze::Report {
    let sections = match asn {
        Some(_) => pktsample_analyze::Sections::DEFAULT.without_k8s(),
        None => pktsample_analyze::Sections::DEFAULT
            .without_as()
            .without_k8s(),
    };
    let q = query(inputs, sections, asn, None);
    let a = pktsample_analyze::run(&q, &|_| {}).unwrap();
    pktsample_analyze::report(&a, top).unwrap()
}

/// A uniform draw in [0, 1).
pub fn unit(r: &mut rand_xoshiro::Xoshiro256PlusPlus) -> f64 {
    (rand_xoshiro::rand_core::Rng::next_u64(r) >> 11) as f64 / (1u64 << 53) as f64
}

/// Packets skipped before the next one taken at 1-in-n (geometric: the
/// same Bernoulli sampling as drawing for every packet, one draw a sample).
pub fn gap(r: &mut rand_xoshiro::Xoshiro256PlusPlus, n: u32) -> u64 {
    if n == 1 {
        return 0;
    }
    let p = 1.0 / f64::from(n);
    ((1.0 - unit(r)).ln() / (1.0 - p).ln()).floor() as u64
}

/// A query of every input with these sections, no filter.
pub fn query(
    inputs: Vec<PathBuf>,
    sections: pktsample_analyze::Sections,
    asn: Option<std::sync::Arc<pktsample_asn::AsDb>>,
    k8s: Option<std::sync::Arc<dyn pktsample_schemas::Attribute>>,
) -> pktsample_analyze::Query {
    pktsample_analyze::Query {
        inputs,
        from: None,
        to: None,
        interfaces: vec![],
        hosts: vec![],
        directions: vec![],
        interval: None,
        sections,
        asn,
        memory_limit: None,
        temp_dir: None,
        ignore_metadata: false,
        inner: false,
        rollups: false,
        k8s,
        policy: None,
    }
}

/// Whether a 95 % interval holds the truth.
pub fn covers(i: &pktsample_analyze::stats::Interval, truth: f64) -> bool {
    i.low <= truth && truth <= i.high
}

/// Print the coverage of each named interval over `runs` seeded runs and
/// require 92-98 % for each.
pub fn assert_coverage(what: &str, names: &[&str], hits: &[u32], runs: u64) {
    let report: Vec<String> = names
        .iter()
        .zip(hits)
        .map(|(n, h)| format!("{n}: {:.1}%", 100.0 * *h as f64 / runs as f64))
        .collect();
    eprintln!("{what} coverage over {runs} seeds: {}", report.join(", "));
    for (n, h) in names.iter().zip(hits) {
        let c = *h as f64 / runs as f64;
        assert!(
            (0.92..=0.98).contains(&c),
            "{n}: coverage {c} outside 92-98% ({})",
            report.join(", ")
        );
    }
}

/// Two JSON reports equal, section by section (the first that differs is
/// named).
pub fn assert_same_report(a: &serde_json::Value, b: &serde_json::Value, what: &str) {
    for (k, v) in a.as_object().unwrap() {
        assert_eq!(Some(v), b.get(k), "{what}: section {k} differs");
    }
    assert_eq!(a, b, "{what}");
}

/// Start `pktsample collect` (its arguments after `collect`) through `cmd`
/// (plain, or `ip netns exec`); the child and the addresses it listens on,
/// from the first line it prints.
pub fn start_collect(mut cmd: Command) -> (std::process::Child, Vec<std::net::SocketAddr>) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    err.read_line(&mut line).unwrap();
    // Keep reading what it says later (a closed pipe would fail its writes).
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let addrs = line
        .trim()
        .rsplit_once(" on ")
        .map(|(_, a)| a.split(", ").filter_map(|a| a.parse().ok()).collect())
        .unwrap_or_default();
    (child, addrs)
}

/// Rewrite the samples file `src` to `dst` without the columns `drop`, its
/// metadata saying `version`: a file as an older pktsample wrote it.
#[allow(dead_code)]
pub fn write_without(src: &Path, dst: &Path, drop: &[&str], version: &str) {
    let (batches, mut meta) = read_all(src);
    meta.schema_version = version.into();
    let full = pktsample_schemas::samples_schema();
    let keep: Vec<usize> = (0..full.fields().len())
        .filter(|&i| !drop.contains(&full.field(i).name().as_str()))
        .collect();
    let schema = std::sync::Arc::new(full.project(&keep).unwrap());
    let tmp = dst.with_extension("tmp");
    let f = std::fs::File::create(&tmp).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    for b in &batches {
        w.write(&b.project(&keep).unwrap()).unwrap();
    }
    w.append_key_value_metadata(parquet::file::metadata::KeyValue::new(
        pktsample_schemas::METADATA_KEY.into(),
        meta.to_json(),
    ));
    w.close().unwrap();
    std::fs::rename(&tmp, dst).unwrap();
}
