//! Network namespaces of the tests' own (each with a veth pair `va` <-> `vb`,
//! IPv6 off), removed on drop, and live captures running in them.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use arrow_array::{Array, RecordBatch};
use pktsample_schemas::{CaptureMetadata, Direction, DirectionStats};
use pktsample_tracegen::Truth;

use super::*;

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

pub fn kernel_has_tcx() -> bool {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = r.trim().split(|c: char| !c.is_ascii_digit());
    let v: (u32, u32) = (
        it.next().and_then(|x| x.parse().ok()).unwrap_or(0),
        it.next().and_then(|x| x.parse().ok()).unwrap_or(0),
    );
    v >= (6, 6)
}

pub fn privileged() -> bool {
    need("root (live capture tests)", is_root())
        && need("Linux >= 6.6 with TCX", kernel_has_tcx())
        && need(
            "iproute2 (ip)",
            have_cmd("ip") || Path::new("/usr/sbin/ip").exists(),
        )
}

pub fn sh(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A network namespace with a veth pair `va` <-> `vb`, removed on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let name = format!(
            "pktsample-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.exec_ok(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ]);
        sh(&[
            "ip", "-n", &ns.name, "link", "add", "va", "type", "veth", "peer", "name", "vb",
        ]);
        for dev in ["va", "vb"] {
            sh(&[
                "ip", "-n", &ns.name, "link", "set", dev, "mtu", "9000", "up",
            ]);
        }
        ns
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        c
    }

    pub fn exec_ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Start a capture; returns once the programs are attached.
    pub fn capture(&self, args: &[&str]) -> Capture {
        let mut full = vec![bin(), "capture"];
        full.extend_from_slice(args);
        let mut child = self
            .cmd(&full)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            line.clear();
            if err.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "capture did not start: {line}{}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            if line.contains("capturing on") {
                break;
            }
        }
        let rest = std::thread::spawn(move || {
            let mut s = String::new();
            for l in err.lines() {
                s.push_str(&l.unwrap());
                s.push('\n');
            }
            s
        });
        Capture {
            child,
            stderr: Some(rest),
        }
    }

    pub fn inject(&self, trace: &Path, extra: &[&str]) {
        self.inject_on("va", trace, extra)
    }

    /// Send a trace out of `dev` with `pktsample inject`.
    pub fn inject_on(&self, dev: &str, trace: &Path, extra: &[&str]) {
        let mut args = vec![bin(), "inject", s(trace), "-i", dev];
        args.extend_from_slice(extra);
        let out = self.exec_ok(&args);
        assert!(out.starts_with("sent "), "{out}");
    }

    /// TCX programs attached to `dev` in this namespace, asked of the kernel
    /// directly (aya's query on a thread moved into the namespace).
    pub fn tcx_programs(&self, dev: &str) -> usize {
        let ns = format!("/var/run/netns/{}", self.name);
        let dev = dev.to_string();
        std::thread::spawn(move || {
            let f = File::open(ns).unwrap();
            // SAFETY: setns on this thread only, with a namespace fd.
            let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns");
            use aya::programs::tc::{SchedClassifier, TcAttachType};
            [TcAttachType::Ingress, TcAttachType::Egress]
                .into_iter()
                .map(|t| SchedClassifier::query_tcx(&dev, t).unwrap().1.len())
                .sum()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub struct Capture {
    pub child: Child,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Capture {
    pub fn signal(&self, sig: &str) {
        sh(&["kill", &format!("-{sig}"), &self.child.id().to_string()]);
    }

    /// Wait for the capture to end; (success, stdout, stderr).
    pub fn wait(mut self) -> (bool, String, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "capture did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        let ok = self.child.wait().unwrap().success();
        let mut out = String::new();
        use std::io::Read;
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let err = self.stderr.take().unwrap().join().unwrap();
        (ok, out, err)
    }

    pub fn stop(self) -> (String, String) {
        self.signal("INT");
        let (ok, out, err) = self.wait();
        assert!(ok, "capture failed: {err}");
        (out, err)
    }
}

pub fn stats(meta: &CaptureMetadata, ifname: &str, d: Direction) -> DirectionStats {
    meta.interfaces
        .iter()
        .find(|i| i.name == ifname)
        .unwrap_or_else(|| panic!("{ifname} not in metadata"))
        .directions
        .get(&d)
        .copied()
        .unwrap_or_default()
}

/// Rows per (ifname, direction) with packets and bytes, and per IP version
/// and protocol within one of them.
pub fn tally(b: &RecordBatch) -> BTreeMap<String, (u64, u64)> {
    let cols = pktsample_schemas::SampleColumns::new(b).unwrap();
    let ver = u8_col(b, "ip_version");
    let proto = u8_col(b, "ip_proto");
    let mut m: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for i in 0..b.num_rows() {
        let r = cols.row(i).unwrap();
        let key = format!("{}/{}", r.ifname, r.direction.as_str());
        let v = if ver.is_null(i) {
            "none".into()
        } else {
            ver.value(i).to_string()
        };
        let p = if proto.is_null(i) {
            "-".into()
        } else {
            proto.value(i).to_string()
        };
        for k in [key.clone(), format!("{key} v{v}"), format!("{key} p{p}")] {
            let e = m.entry(k).or_default();
            e.0 += 1;
            e.1 += r.pkt_len as u64;
        }
    }
    m
}

pub fn truth_tally(t: &Truth, key: &str) -> BTreeMap<String, (u64, u64)> {
    let mut m = BTreeMap::new();
    m.insert(key.to_string(), (t.total.packets, t.total.bytes));
    for (v, c) in &t.ip_version {
        m.insert(format!("{key} v{v}"), (c.packets, c.bytes));
    }
    for (p, c) in &t.ip_proto {
        m.insert(format!("{key} p{p}"), (c.packets, c.bytes));
    }
    let non_ip = t.ip_version.get("none").copied().unwrap_or_default();
    if non_ip.packets > 0 {
        m.insert(format!("{key} p-"), (non_ip.packets, non_ip.bytes));
    }
    m
}

/// A pcap of `packets` minimum-size frames (the `small` mix, seed 5), to
/// load an interface.
pub fn small_trace(dir: &Path, packets: u64) -> std::path::PathBuf {
    use pktsample_tracegen::{Format, Mix, Spec, generate};
    let p = dir.join(format!("small-{packets}.pcap"));
    let spec = Spec {
        mix: Mix::Small,
        packets,
        seed: 5,
        format: Format::Pcap {
            nanos: false,
            big_endian: false,
        },
        snaplen: 65535,
        link: Default::default(),
        wrap: Default::default(),
    };
    generate(&spec, std::io::BufWriter::new(File::create(&p).unwrap())).unwrap();
    p
}
