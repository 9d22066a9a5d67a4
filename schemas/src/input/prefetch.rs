//! Page faults off the parser's thread: a mapped file is read into memory a
//! little ahead of the parser by a thread of its own
//! (`MADV_POPULATE_READ`, Linux 5.14), so the walk finds its pages mapped.
//! Faulting them in one by one was a third of a 1-in-1000 replay. It stays
//! at most [`AHEAD`] bytes ahead, so a file larger than memory is still read
//! once, in order.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use memmap2::{Advice, Mmap};

/// Bytes populated at a time.
const STEP: usize = 4 << 20;
/// How far ahead of the parser.
const AHEAD: u64 = 64 << 20;
/// Files smaller than this are not worth a thread.
pub(super) const MIN_FILE: usize = 16 << 20;

/// Populate `map` ahead of `reached` until the end or `done`.
pub(super) fn run(map: &Mmap, reached: &AtomicU64, done: &AtomicBool) {
    let mut at = 0;
    while at < map.len() && !done.load(Ordering::Relaxed) {
        if at as u64 > reached.load(Ordering::Relaxed) + AHEAD {
            std::thread::park_timeout(Duration::from_micros(500));
            continue;
        }
        let len = STEP.min(map.len() - at);
        // An older kernel refuses the advice: the parser faults as before.
        if map.advise_range(Advice::PopulateRead, at, len).is_err() {
            return;
        }
        at += len;
    }
}
