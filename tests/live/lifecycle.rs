//! How a live capture ends and what it refuses: interfaces that go away,
//! bad arguments, no privileges, a stale object, --count, --duration and
//! SIGTERM, a full disk; and the routed interface of the FIB lookup.

use super::*;

#[test]
fn interface_that_disappears_ends_with_a_valid_file() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let dir = tmpdir();
    let out = dir.path().join("live.parquet");
    let cap = ns.capture(&["-i", "va", "-r", "1", "-q", "-o", s(&out)]);
    ns.inject(&fixture("mixed.pcap"), &[]);
    std::thread::sleep(Duration::from_millis(300));
    sh(&["ip", "-n", &ns.name, "link", "del", "va"]);
    let (ok, _, err) = cap.wait();
    assert!(!ok);
    assert!(
        err.contains("interface 'va' disappeared during capture; the samples up to then are in"),
        "{err}"
    );
    let (batches, meta) = read_all(&out);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 400);
    assert_eq!(stats(&meta, "va", Direction::Egress).packets_seen, 400);
}

#[test]
fn bad_live_arguments_fail_cleanly() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let dir = tmpdir();
    let out = dir.path().join("x.parquet");
    let run = |args: &[&str]| {
        let mut full = vec![bin(), "capture"];
        full.extend_from_slice(args);
        let o = ns.cmd(&full).output().unwrap();
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"));
        err
    };
    let e = run(&["-i", "nope0", "-r", "1", "-o", s(&out)]);
    assert!(e.contains("interface 'nope0' not found"), "{e}");
    let e = run(&["-i", "va", "-r", "0", "-o", s(&out)]);
    assert!(e.contains("--sampling-rate: must be at least 1"), "{e}");
    let e = run(&["-i", "va", "-r", "1", "--snaplen", "300", "-o", s(&out)]);
    assert!(
        e.contains("--snaplen: 300 is out of range; use 14 to 256"),
        "{e}"
    );
    let e = run(&["-i", "va", "-r", "1", "--ring-size", "5000", "-o", s(&out)]);
    assert!(
        e.contains("--ring-size: 5000 bytes is not a power of two"),
        "{e}"
    );
    assert!(listing(dir.path()).is_empty());
    assert_eq!(ns.tcx_programs("va"), 0);
}

#[test]
fn unprivileged_capture_is_refused() {
    if !privileged() || !need("setpriv", Path::new("/usr/bin/setpriv").exists()) {
        return;
    }
    let dir = tmpdir();
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .args([bin(), "capture", "-i", "lo", "-r", "1", "-o"])
        .arg(dir.path().join("x.parquet"))
        .output()
        .unwrap();
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("live capture needs root, or CAP_BPF and CAP_NET_ADMIN"),
        "{err}"
    );
}

/// The committed object is what clang-19 makes of the committed source.
#[test]
fn bpf_object_is_not_stale() {
    let tools = have_cmd("clang-19") && have_cmd("llvm-strip-19");
    if !need(
        "clang-19 and llvm-strip-19 (apt-get install clang-19 llvm-19 libbpf-dev)",
        tools,
    ) {
        return;
    }
    let dir = tmpdir();
    let fresh = dir.path().join("fresh.o");
    let st = Command::new(root().join("ebpf/build.sh"))
        .arg(&fresh)
        .status()
        .unwrap();
    assert!(st.success(), "ebpf/build.sh failed");
    assert!(
        std::fs::read(&fresh).unwrap()
            == std::fs::read(root().join("ebpf/pktsample.bpf.o")).unwrap(),
        "ebpf/pktsample.bpf.o is stale: run `just ebpf` and commit it"
    );
}

/// `--count` stops after that many samples; what the kernel selected beyond
/// them is accounted as drops, so the identity still holds at 1-in-1.
#[test]
fn count_stops_the_capture_and_keeps_the_books() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let dir = tmpdir();
    let out = dir.path().join("c.parquet");
    let cap = ns.capture(&[
        "-i",
        "va",
        "--direction",
        "egress",
        "-r",
        "1",
        "--count",
        "150",
        "-q",
        "-o",
        s(&out),
    ]);
    ns.inject(&fixture("mixed.pcap"), &["--pps", "20000"]);
    let (ok, _, err) = cap.wait();
    assert!(ok, "{err}");
    let (batches, meta) = read_all(&out);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 150);
    let st = stats(&meta, "va", Direction::Egress);
    assert_eq!(st.samples, 150);
    assert_eq!(st.samples + st.drops, st.packets_seen);
    assert!(st.packets_seen >= 150 && st.packets_seen <= 400, "{st:?}");
    assert!(
        !meta.interfaces[0]
            .directions
            .contains_key(&Direction::Ingress)
    );
}

/// `--duration` ends the capture by itself; SIGTERM, like SIGINT, ends it
/// with a complete file.
#[test]
fn duration_and_sigterm_end_with_complete_files() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let dir = tmpdir();
    let a = dir.path().join("a.parquet");
    let t0 = Instant::now();
    let cap = ns.capture(&["-i", "vb", "-r", "1", "--duration", "1s", "-q", "-o", s(&a)]);
    ns.inject(&fixture("mixed.pcap"), &[]);
    let (ok, _, err) = cap.wait();
    assert!(ok, "{err}");
    assert!(t0.elapsed() < Duration::from_secs(15));
    assert_eq!(
        stats(&read_all(&a).1, "vb", Direction::Ingress).samples,
        400
    );

    let b = dir.path().join("b.pcapng");
    let cap = ns.capture(&["-i", "vb", "-r", "1", "-q", "-o", s(&b)]);
    ns.inject(&fixture("mixed.pcap"), &[]);
    cap.signal("TERM");
    let (ok, _, err) = cap.wait();
    assert!(ok, "{err}");
    let (batches, meta) = read_all(&b);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 400);
    assert_eq!(stats(&meta, "vb", Direction::Ingress).packets_seen, 400);
}

/// A full disk stops the capture with an error naming the file; parts that
/// were finished stay readable and nothing stays attached.
#[test]
fn full_disk_keeps_finished_parts() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    let dir = tmpdir();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    sh(&["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", s(&mnt)]);
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(mnt.clone());
    let trace = small_trace(dir.path(), 60_000);
    let out = mnt.join("run.pcapng");
    let cap = ns.capture(&[
        "-i",
        "va",
        "-r",
        "1",
        "--snaplen",
        "256",
        "--rotate",
        "150KB",
        "-q",
        "-o",
        s(&out),
    ]);
    ns.inject(&trace, &["--pps", "100000"]);
    let (ok, _, err) = cap.wait();
    assert!(!ok, "the capture should have failed on a full disk");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("run-0"), "{err}");
    let parts: Vec<String> = listing(&mnt)
        .into_iter()
        .filter(|n| n.starts_with("run-"))
        .collect();
    assert!(!parts.is_empty(), "{:?}", listing(&mnt));
    // Every part is readable: the finished ones hold samples, the one the
    // disk filled is closed at its last complete block and says so, and the
    // one opened just before (if any) holds the counters to the end.
    let mut rows = 0;
    let mut interrupted = 0;
    for p in &parts {
        let (batches, meta) = read_all(&mnt.join(p));
        rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        interrupted += usize::from(meta.interrupted.is_some());
    }
    assert!(rows > 0);
    assert_eq!(interrupted, 1, "{parts:?}");
    assert_eq!(ns.tcx_programs("va"), 0);
}

/// `--fib`: ingress samples carry the egress interface the kernel's FIB
/// picks for their destination (IPv4 here; forwarding on, another interface
/// owning 203.0.113.0/24, no route to 198.51.100.0/24).
#[test]
fn fib_lookup_records_the_routed_interface() {
    if !privileged() {
        return;
    }
    let ns = Netns::new();
    ns.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    // A second veth pair stands in for an uplink (this kernel has no dummy).
    sh(&[
        "ip", "-n", &ns.name, "link", "add", "vc", "type", "veth", "peer", "name", "vd",
    ]);
    // MTU as large as the jumbo frames, or the lookup answers "fragment".
    sh(&[
        "ip", "-n", &ns.name, "link", "set", "vc", "mtu", "9000", "up",
    ]);
    sh(&[
        "ip", "-n", &ns.name, "link", "set", "vd", "mtu", "9000", "up",
    ]);
    // .254: no generated destination is the local address itself.
    sh(&[
        "ip",
        "-n",
        &ns.name,
        "addr",
        "add",
        "203.0.113.254/24",
        "dev",
        "vc",
    ]);
    sh(&[
        "ip",
        "-n",
        &ns.name,
        "addr",
        "add",
        "192.0.2.1/24",
        "dev",
        "vb",
    ]);
    let idx = |d: &str| -> u32 {
        ns.exec_ok(&["cat", &format!("/sys/class/net/{d}/ifindex")])
            .trim()
            .parse()
            .unwrap()
    };
    let (vb, vc) = (idx("vb"), idx("vc"));
    let dir = tmpdir();
    let out = dir.path().join("fib.parquet");
    let cap = ns.capture(&[
        "-i",
        "vb",
        "--direction",
        "ingress",
        "-r",
        "1",
        "--fib",
        "-q",
        "-o",
        s(&out),
    ]);
    ns.inject(&fixture("mixed.pcap"), &[]);
    cap.stop();
    let (batches, _) = read_all(&out);
    let b = concat(&batches);
    let cols = pktsample_schemas::SampleColumns::new(&b).unwrap();
    let dst = b.column_by_name("dst_addr").unwrap().as_string::<i32>();
    let ver = u8_col(&b, "ip_version");
    let (mut routed, mut unrouted) = (0, 0);
    for i in 0..b.num_rows() {
        let r = cols.row(i).unwrap();
        if ver.is_null(i) || ver.value(i) != 4 {
            assert_eq!(r.routed_ifindex, None, "non-IPv4 row {i}");
            continue;
        }
        let d = dst.value(i);
        if d.starts_with("203.0.113.") {
            assert_eq!(r.routed_ifindex, Some(vc), "{d}");
            routed += 1;
        } else if d.starts_with("198.51.100.") {
            assert_eq!(r.routed_ifindex, None, "{d} has no route");
            unrouted += 1;
        } else if d == "192.0.2.1" {
            assert_eq!(
                r.routed_ifindex, None,
                "{d} is local: delivered, not routed"
            );
        } else if d.starts_with("192.0.2.") {
            assert_eq!(r.routed_ifindex, Some(vb), "{d} is on vb's own subnet");
        }
    }
    assert!(
        routed > 20 && unrouted > 20,
        "{routed} routed, {unrouted} unrouted"
    );
}
