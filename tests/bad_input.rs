//! Bad input: each case gets one line naming the file (and byte offset where
//! it applies), exit code 1, no panic, and no output or temporary file left.

mod common;

use std::path::Path;

use common::*;

/// Replay `input` into a fresh directory; return the error line after checking
/// that nothing was left behind.
fn replay_fails(input: &Path, extra: &[&str]) -> String {
    let dir = tmpdir();
    let out = dir.path().join("out.parquet");
    let mut args = vec!["-o", s(&out)];
    args.extend_from_slice(if extra.contains(&"-r") {
        &[]
    } else {
        &["-r", "1"]
    });
    args.extend_from_slice(extra);
    let err = replay_err(s(input), &args);
    assert!(
        listing(dir.path()).is_empty(),
        "left behind: {:?}",
        listing(dir.path())
    );
    err
}

#[test]
fn truncated_pcap() {
    let f = fixture("broken/truncated.pcap");
    let err = replay_fails(&f, &[]);
    assert!(
        err.contains("broken/truncated.pcap: truncated at byte offset 4575"),
        "{err}"
    );
}

#[test]
fn truncated_pcapng() {
    let err = replay_fails(&fixture("broken/truncated.pcapng"), &[]);
    assert!(
        err.contains("broken/truncated.pcapng: truncated at byte offset 4868"),
        "{err}"
    );
}

#[test]
fn impossible_record_length() {
    let err = replay_fails(&fixture("broken/bad-record-length.pcap"), &[]);
    assert!(
        err.contains("bad-record-length.pcap: corrupt at byte offset 24"),
        "{err}"
    );
}

#[test]
fn bad_block_length() {
    let err = replay_fails(&fixture("broken/bad-block-length.pcapng"), &[]);
    assert!(
        err.contains("bad-block-length.pcapng: corrupt at byte offset 28"),
        "{err}"
    );
    assert!(err.contains("not a multiple of 4"), "{err}");
}

#[test]
fn empty_file() {
    let err = replay_fails(&fixture("broken/empty.pcap"), &[]);
    assert!(
        err.contains("broken/empty.pcap: the file is empty"),
        "{err}"
    );
}

#[test]
fn text_file() {
    let err = replay_fails(&fixture("broken/not-a-capture.txt"), &[]);
    assert!(
        err.contains("not-a-capture.txt: not a pcap, pcapng or Parquet file"),
        "{err}"
    );
}

#[test]
fn unsupported_link_type() {
    let err = replay_fails(&fixture("broken/ieee80211.pcap"), &[]);
    assert!(
        err.contains("ieee80211.pcap: no packets of a link type pktsample reads (link type 105)"),
        "{err}"
    );
}

#[test]
fn parquet_given_as_capture() {
    let dir = tmpdir();
    let pq = samples(dir.path(), "mixed.pcap", 1);
    let err = replay_fails(&pq, &[]);
    assert!(
        err.contains(
            "mixed.pcap.r1.parquet: this is a Parquet file, expected a pcap or pcapng capture"
        ),
        "{err}"
    );
}

#[test]
fn missing_input() {
    let err = replay_fails(Path::new("/nonexistent/in.pcap"), &[]);
    assert!(
        err.contains("/nonexistent/in.pcap: No such file or directory"),
        "{err}"
    );
}

#[test]
fn foreign_parquet_is_refused_by_convert() {
    use std::sync::Arc;
    let dir = tmpdir();
    let foreign = dir.path().join("foreign.parquet");
    let schema = Arc::new(arrow_schema_for_test());
    let batch = arrow_array::RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(arrow_array::Int64Array::from(vec![1, 2, 3]))],
    )
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&foreign).unwrap(),
        schema,
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let out = dir.path().join("out.pcapng");
    let err = fails(&["convert", s(&foreign), "-o", s(&out)]);
    assert!(
        err.contains("foreign.parquet: not a pktsample samples file: no 'pktsample' metadata"),
        "{err}"
    );
    assert_eq!(listing(dir.path()), vec!["foreign.parquet"]);
}

fn arrow_schema_for_test() -> arrow_schema::Schema {
    arrow_schema::Schema::new(vec![arrow_schema::Field::new(
        "x",
        arrow_schema::DataType::Int64,
        false,
    )])
}

#[test]
fn truncated_parquet_is_refused_by_convert() {
    let dir = tmpdir();
    let pq = samples(dir.path(), "mixed.pcap", 1);
    let cut = dir.path().join("cut.parquet");
    cut_in_half(&pq, &cut);
    let err = fails(&["convert", s(&cut), "-o", s(&dir.path().join("x.pcapng"))]);
    assert!(
        err.contains("cut.parquet: not a readable Parquet file"),
        "{err}"
    );
}

#[test]
fn newer_schema_major_is_refused() {
    let dir = tmpdir();
    let pq = samples(dir.path(), "mixed.pcap", 1);
    // Rewrite the file with schema_version 2.0 in its metadata.
    let newer = dir.path().join("newer.parquet");
    with_schema_version(&pq, &newer, "2.0");
    let err = fails(&["convert", s(&newer), "-o", s(&dir.path().join("x.pcapng"))]);
    assert!(err.contains("newer.parquet: written with samples schema 2.0, newer than this pktsample reads (1.x); upgrade pktsample"), "{err}");
}

#[test]
fn existing_output_is_kept_without_force() {
    let dir = tmpdir();
    let out = dir.path().join("out.parquet");
    std::fs::write(&out, b"precious").unwrap();
    let err = replay_err(s(&fixture("mixed.pcap")), &["-r", "1", "-o", s(&out)]);
    assert!(
        err.contains("out.parquet: already exists; pass --force to overwrite it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    assert_eq!(listing(dir.path()), vec!["out.parquet"]);
    // With --force it is replaced by a valid file.
    replay(
        s(&fixture("mixed.pcap")),
        &["-r", "1", "-o", s(&out), "--force"],
    );
    assert_eq!(concat(&read_all(&out).0).num_rows(), 400);
    assert_eq!(listing(dir.path()), vec!["out.parquet"]);
}

#[test]
fn failed_run_does_not_clobber_existing_output_even_with_force() {
    let dir = tmpdir();
    let out = dir.path().join("out.parquet");
    std::fs::write(&out, b"precious").unwrap();
    let err = replay_err(
        s(&fixture("broken/truncated.pcap")),
        &["-r", "1", "-o", s(&out), "--force"],
    );
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    assert_eq!(listing(dir.path()), vec!["out.parquet"]);
}

#[test]
fn unknown_output_extension() {
    let dir = tmpdir();
    let out = dir.path().join("out.csv");
    let err = replay_err(s(&fixture("mixed.pcap")), &["-r", "1", "-o", s(&out)]);
    assert!(
        err.contains("out.csv: unknown output extension; use .parquet or .pcapng"),
        "{err}"
    );
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn unwritable_output_directory() {
    // Root may write anywhere on a normal file system; /proc refuses everyone.
    let err = replay_err(
        s(&fixture("mixed.pcap")),
        &["-r", "1", "-o", "/proc/out.parquet"],
    );
    assert!(
        err.contains("/proc/out.parquet: cannot create a file in /proc"),
        "{err}"
    );
    let err = replay_err(
        s(&fixture("mixed.pcap")),
        &["-r", "1", "-o", "/nonexistent/out.parquet"],
    );
    assert!(
        err.contains("/nonexistent/out.parquet: directory /nonexistent does not exist"),
        "{err}"
    );
}

#[test]
fn zero_rate_and_absurd_snaplen() {
    let err = replay_fails(&fixture("mixed.pcap"), &["-r", "0"]);
    assert!(err.contains("--sampling-rate: must be at least 1"), "{err}");
    let err = replay_fails(&fixture("mixed.pcap"), &["--snaplen", "70000"]);
    assert!(err.contains("--snaplen: 70000 is out of range"), "{err}");
    let err = replay_fails(&fixture("mixed.pcap"), &["--snaplen", "4"]);
    assert!(err.contains("--snaplen: 4 is out of range"), "{err}");
}

#[test]
fn convert_onto_its_input() {
    let dir = tmpdir();
    let pq = samples(dir.path(), "mixed.pcap", 1);
    let before = std::fs::read(&pq).unwrap();
    let err = fails(&["convert", s(&pq), "-o", s(&pq), "--force"]);
    assert!(err.contains("input and output are the same file"), "{err}");
    assert_eq!(std::fs::read(&pq).unwrap(), before);
}

/// A full disk mid-write: the error names the output, the partial file is
/// removed and the previous file stays. Needs root to mount a tiny tmpfs.
#[test]
fn full_disk() {
    let is_root = unsafe_geteuid() == 0;
    if !need("root (to mount a small tmpfs)", is_root) {
        return;
    }
    let dir = tmpdir();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs", s(&mnt)])
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);
    let out = mnt.join("out.pcapng");
    std::fs::write(&out, b"old").unwrap();
    let err = replay_err(
        s(&fixture("mixed.pcapng")),
        &["-r", "1", "--snaplen", "65535", "-o", s(&out), "--force"],
    );
    assert!(err.contains("out.pcapng: writing failed"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"old");
    assert_eq!(listing(&mnt), vec!["out.pcapng"]);
}

fn unsafe_geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Live-capture options are checked before privileges and the kernel:
/// these errors come the same for any user, on any machine.
#[test]
fn live_options_are_checked_first() {
    let dir = tmpdir();
    let out = dir.path().join("x.parquet");
    for (args, want) in [
        (
            vec!["-i", "lo", "-r", "0"],
            "--sampling-rate: must be at least 1",
        ),
        (vec!["-i", "lo=0"], "--sampling-rate: must be at least 1"),
        (
            vec!["-i", "lo", "-r", "1", "--snaplen", "300"],
            "--snaplen: 300 is out of range; use 14 to 256",
        ),
        (
            vec!["-i", "lo", "-r", "1", "--ring-size", "5000"],
            "--ring-size: 5000 bytes is not a power of two",
        ),
        (
            vec!["-i", "lo", "--rotate", "0s"],
            "--rotate: must be longer than 0s",
        ),
        (
            vec!["-i", "veth[", "-r", "1"],
            "-i: 'veth[' is not a valid pattern",
        ),
        (
            vec!["-i", "lo", "-i", "lo"],
            "-i: interface 'lo' given twice",
        ),
        (vec!["-r", "1"], "-i: give at least one interface"),
    ] {
        let mut full = vec!["capture"];
        full.extend_from_slice(&args);
        full.extend_from_slice(&["-o", s(&out)]);
        let err = fails(&full);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(listing(dir.path()).is_empty());
}

/// Fuzzing found Parquet files that make the parquet crate panic (a data
/// page whose dictionary is missing) and an IPv6 extension chain that made
/// etherparse read past its bytes: each is a one-line error or a clean
/// decode now, for every command that reads them.
#[test]
fn fuzz_findings_stay_fixed() {
    let f = fixture("broken/fuzz-samples-missing-dictionary.parquet");
    let dir = tmpdir();
    for args in [
        vec!["analyze", s(&f)],
        vec!["convert", s(&f), "-o", s(&dir.path().join("x.pcapng"))],
    ] {
        let err = fails(&args);
        assert!(
            err.contains("fuzz-samples-missing-dictionary.parquet: not a readable Parquet file"),
            "{args:?}: {err}"
        );
    }
    assert!(listing(dir.path()).is_empty());
}

/// A reader that goes away (`pktsample … | head -1`) ends the command
/// quietly: no panic, no error line, success.
#[test]
fn closed_stdout_is_not_an_error() {
    let dir = tmpdir();
    let pq = dir.path().join("s.parquet");
    let ng = dir.path().join("s.pcapng");
    let fx = fixture("mixed.pcapng");
    for args in [
        vec![
            "capture",
            "--replay",
            s(&fx),
            "-r",
            "10",
            "--seed",
            "1",
            "-o",
            s(&pq),
        ],
        vec!["convert", s(&pq), "-o", s(&ng)],
        vec!["analyze", s(&fx)],
    ] {
        let mut child = std::process::Command::new(bin())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// sFlow arguments and collector faults: one line naming the flag and the
/// address, before anything runs.
#[test]
fn sflow_arguments_fail_cleanly() {
    let dir = tmpdir();
    let out = dir.path().join("c.parquet");
    // A port another program holds.
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let e = fails(&["collect", "--listen", &addr, "-o", s(&out)]);
    assert!(e.contains(&format!("--listen {addr}")), "{e}");
    assert!(e.contains("another program"), "{e}");
    assert!(!out.exists());
    // Not an address.
    let o = pktsample(&["collect", "--listen", "nowhere", "-o", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("'nowhere' is not an address"),
        "{err}"
    );
    // Export needs a live capture, and a capture needs an output or a
    // collector.
    let fx = fixture("mixed.pcapng");
    let e = fails(&[
        "capture",
        "--replay",
        s(&fx),
        "--sflow",
        "127.0.0.1:6343",
        "-o",
        s(&out),
    ]);
    assert!(e.contains("--sflow applies to live capture"), "{e}");
    let e = fails(&["capture", "--replay", s(&fx)]);
    assert!(e.contains("-o: give the output file"), "{e}");
    // A capture without sFlow given as one.
    let e = fails(&["convert", s(&fx), "-o", s(&out), "--sflow-port", "6343"]);
    assert!(e.contains("no sFlow datagrams on UDP port 6343"), "{e}");
    assert!(!out.exists());
}

/// Usage errors (flags clap refuses) are one line too, naming the flag,
/// with exit code 2; help still prints in full.
#[test]
fn usage_errors_are_one_line() {
    for (args, want) in [
        (
            &["analyze", "x.parquet", "--bogus"][..],
            "unexpected argument '--bogus'",
        ),
        (&["analyze"][..], "<INPUT>"),
        (
            &["capture", "--replay", "a.pcap", "--sampling-rate", "x"][..],
            "'--sampling-rate <N>'",
        ),
        (
            &["analyze", "x.parquet", "--by", "colours"][..],
            "possible values: summary",
        ),
    ] {
        let o = pktsample(args);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
        assert!(
            e.starts_with("pktsample: ") && e.contains(want),
            "{args:?}: {e}"
        );
    }
    let o = pktsample(&["analyze", "--help"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("--by"));
}
