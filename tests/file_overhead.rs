//! What each file costs analyze, in bytes allocated (not time): thousands
//! of hourly parts must cost a few KiB each, whatever else they hold.
//!
//! A counting allocator records the peak of live heap bytes while analyze
//! reads N1 and then N2 parts of the same shape; the difference over
//! N2 − N1 is the cost per file (its metadata, its row-group summary, its
//! share of the strata and address entries).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use pktsample_analyze::{Query, Sections};
use pktsample_tracegen::parts::{PartsSpec, split};
use pktsample_tracegen::{Format, Mix, Spec, generate};

use common::{replay_lib, tmpdir};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only
// the byte counts are recorded.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + (new - l.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap bytes above the live bytes at the start, for analyzing these
/// files (every section but the per-AS ones) and building the report.
fn peak_bytes(inputs: &[PathBuf]) -> usize {
    let q = Query {
        inputs: inputs.to_vec(),
        from: None,
        to: None,
        interfaces: vec![],
        hosts: vec![],
        directions: vec![],
        interval: None,
        sections: Sections::DEFAULT.without_as().without_k8s(),
        asn: None,
        memory_limit: None,
        temp_dir: None,
        ignore_metadata: false,
        inner: false,
        rollups: false,
        k8s: None,
        policy: None,
    };
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let a = pktsample_analyze::run(&q, &|_| {}).unwrap();
    let r = pktsample_analyze::report(&a, 10).unwrap();
    assert_eq!(r.summary.samples, 10 * inputs.len() as u64);
    drop((a, r));
    PEAK.load(Ordering::Relaxed) - base
}

/// Bytes per file over N1 and N2 parts of ten rows each, spread over
/// `hosts` hosts.
fn per_file(hosts: usize) -> usize {
    let dir = tmpdir();
    let trace = dir.path().join("t.pcapng");
    let spec = Spec {
        mix: Mix::Mixed,
        packets: 24_000,
        seed: 3,
        format: Format::PcapNg {
            nanos: true,
            big_endian: false,
        },
        snaplen: 128,
        link: Default::default(),
        wrap: Default::default(),
    };
    generate(&spec, BufWriter::new(File::create(&trace).unwrap())).unwrap();
    let f = dir.path().join("s.parquet");
    replay_lib(&trace, &f, 1, 1);
    // Hourly parts, ten rows each (several interfaces and directions per
    // part).
    let spec = PartsSpec {
        rows: 10,
        hosts,
        hourly: true,
        parts: Some(2400),
        step_hours: 1,
        dataset: false,
    };
    let parts = split(&f, &dir.path().join("parts"), &spec).unwrap();
    assert_eq!(parts.len(), 2400);
    let (n1, n2) = (200, 2400);
    // Once first, so that one-time tables (ports, the thread pool) are
    // counted in neither.
    peak_bytes(&parts[..n1]);
    let small = peak_bytes(&parts[..n1]);
    let large = peak_bytes(&parts[..n2]);
    let per_file = large.saturating_sub(small) / (n2 - n1);
    eprintln!(
        "{hosts} hosts: peak heap {n1} files {small} bytes, {n2} files {large} bytes: {per_file} bytes per file"
    );
    per_file
}

/// One test, the two shapes in turn: the counters are the process's, and a
/// second test running beside this one would count its allocations here.
/// A fleet's hourly parts (ten hosts, each part continuing its host's
/// strata) cost a few KiB a file; parts each from another host bring their
/// own strata (interfaces, directions), which must stay small too.
#[test]
fn files_and_strata_cost_a_few_kib() {
    let fleet = per_file(10);
    assert!(fleet < 8 << 10, "ten hosts: {fleet} bytes per file");
    let own = per_file(2400);
    assert!(own < 32 << 10, "a host per part: {own} bytes per file");
}
