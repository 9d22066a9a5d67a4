//! `bench/asn.sh`'s measuring tool: load ASN databases, report load time,
//! memory and single-core lookups per second, and write sample lookups for
//! the script to check against pyasn.
//!
//! Usage: asn_bench CHECK_OUT FILE...   (LOOKUPS=n, default 20,000,000;
//! LOAD_ONLY=1: load once and exit, for hyperfine)

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Instant;

use pktsample_asn::AsDb;

/// A field of /proc/self/status, in KiB (VmRSS: now, VmHWM: peak).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// xorshift64*: cheap, so the loop measures lookups.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn v4(&mut self) -> IpAddr {
        let x = 0x0100_0000 + (self.next() >> 32) as u32 % (0xe000_0000 - 0x0100_0000);
        IpAddr::V4(Ipv4Addr::from(x))
    }
    /// In the first /20 of a RIR block, where announcements are dense.
    fn v6(&mut self) -> IpAddr {
        const BLOCKS: [u128; 5] = [0x2001, 0x2400, 0x2600, 0x2800, 0x2a00];
        let b = BLOCKS[(self.next() % 5) as usize];
        let hi = if b == 0x2001 {
            b
        } else {
            b + (self.next() % 16) as u128
        };
        let second = (self.next() % 0x1000) as u128;
        let lo = ((self.next() as u128) << 64 | self.next() as u128) & ((1u128 << 96) - 1);
        IpAddr::V6(Ipv6Addr::from(hi << 112 | second << 96 | lo))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check_out = PathBuf::from(&args[0]);
    let files: Vec<PathBuf> = args[1..].iter().map(PathBuf::from).collect();
    let n: usize = std::env::var("LOOKUPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000);

    if std::env::var_os("LOAD_ONLY").is_some() {
        let db = AsDb::load(&files).unwrap_or_else(|e| panic!("{e}"));
        assert!(db.prefixes().0 + db.prefixes().1 > 0);
        return;
    }
    let before = status_kib("VmRSS:");
    let t = Instant::now();
    let db = AsDb::load(&files).unwrap_or_else(|e| panic!("{e}"));
    let first = t.elapsed();
    let mem = status_kib("VmRSS:").saturating_sub(before);
    let mut loads = vec![first.as_secs_f64()];
    for _ in 0..2 {
        let t = Instant::now();
        let d = AsDb::load(&files).unwrap();
        loads.push(t.elapsed().as_secs_f64());
        drop(d);
    }
    loads.sort_by(f64::total_cmp);
    let (v4, v6) = db.prefixes();
    let (i4, i6) = db.intervals();
    println!(
        "prefixes: {v4} IPv4, {v6} IPv6 ({i4} + {i6} lookup intervals); {} AS names",
        db.name_count()
    );
    println!(
        "load: {:.3} s (median of 3; first {:.3} s); table memory {:.1} MiB (RSS growth), peak RSS {:.1} MiB",
        loads[1],
        first.as_secs_f64(),
        mem as f64 / 1024.0,
        status_kib("VmHWM:") as f64 / 1024.0
    );

    // Addresses first, so the timed loop is lookups only.
    for (fam, make) in [
        ("IPv4", Rng::v4 as fn(&mut Rng) -> IpAddr),
        ("IPv6", Rng::v6),
    ] {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let addrs: Vec<IpAddr> = (0..n).map(|_| make(&mut r)).collect();
        let mut best = f64::MAX;
        let mut hits = 0;
        for _ in 0..3 {
            let t = Instant::now();
            hits = addrs
                .iter()
                .filter(|a| db.lookup(**a).asn().is_some())
                .count();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "lookups {fam}: {:.1} M/s on one core ({n} random addresses, {:.1}% with an AS)",
            n as f64 / best / 1e6,
            100.0 * hits as f64 / n as f64
        );
    }

    // Sample lookups for the cross-check against pyasn.
    let mut r = Rng(42);
    let mut f = std::io::BufWriter::new(std::fs::File::create(check_out).unwrap());
    for i in 0..20_000 {
        let a = if i % 2 == 0 { r.v4() } else { r.v6() };
        let asn = db
            .lookup(a)
            .asn()
            .map_or("None".to_string(), |n| n.to_string());
        writeln!(f, "{a} {asn}").unwrap();
    }
}
