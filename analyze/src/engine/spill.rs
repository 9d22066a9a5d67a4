//! The memory budget of the aggregation, and the address tables' spill
//! files past it.
//!
//! The state that grows with the input is the address entries (see
//! [`super::addrs`]); every other sum grows with the number of strata,
//! protocols, time buckets or AS pairs. Each worker thread charges its
//! entries to the shared budget after every batch; a thread that finds the
//! budget exceeded writes its entries to a run (an unnamed temporary file,
//! gone when closed or if the process dies), partition after partition, and
//! starts again empty. After the pass each partition is read back from
//! every run, one at a time: the results are those of the in-memory run,
//! exactly.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::error::AnalyzeError;

use super::addrs::{AddrBuf, Entry, Key, PARTS, Parts};

/// The budget shared by the worker threads.
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
    dir: PathBuf,
    runs: Mutex<Vec<Run>>,
    spilled: AtomicU64,
}

impl Budget {
    pub fn new(limit: usize, dir: &Path) -> Budget {
        Budget {
            limit,
            used: AtomicUsize::new(0),
            dir: dir.to_path_buf(),
            runs: Mutex::new(Vec::new()),
            spilled: AtomicU64::new(0),
        }
    }

    /// Charge a buffer's growth since its last charge; past the limit,
    /// hand it to `spill` and release what it held.
    pub(super) fn charge(
        &self,
        buf: &mut AddrBuf,
        spill: impl FnOnce(&AddrBuf) -> Result<Run, AnalyzeError>,
    ) -> Result<(), AnalyzeError> {
        let now = buf.held();
        let before = std::mem::replace(&mut buf.charged, now);
        let used = if now >= before {
            self.used.fetch_add(now - before, Ordering::Relaxed) + (now - before)
        } else {
            self.used.fetch_sub(before - now, Ordering::Relaxed) - (before - now)
        };
        if used <= self.limit || buf.bytes == 0 {
            return Ok(());
        }
        let run = spill(buf)?;
        self.spilled.fetch_add(buf.bytes as u64, Ordering::Relaxed);
        self.runs.lock().expect("spill runs").push(run);
        self.used.fetch_sub(buf.charged, Ordering::Relaxed);
        buf.clear();
        buf.charged = 0;
        Ok(())
    }

    /// The runs written, taken for the reductions.
    pub(super) fn take_runs(&self) -> Vec<Run> {
        std::mem::take(&mut *self.runs.lock().expect("spill runs"))
    }

    /// Bytes of entries written to spill files.
    pub fn spilled(&self) -> u64 {
        self.spilled.load(Ordering::Relaxed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One spill file: every partition of every side and family, one after
/// the other, and where each starts.
pub(super) struct Run {
    file: File,
    dir: PathBuf,
    /// By (family, side, partition): (offset, entries).
    index: Vec<(u64, u64)>,
}

impl Run {
    fn slot(fam: usize, side: usize, p: usize) -> usize {
        (fam * 2 + side) * PARTS + p
    }

    pub fn write(budget: &Budget, buf: &AddrBuf) -> Result<Run, AnalyzeError> {
        let err = |e| AnalyzeError::Spill {
            dir: budget.dir.clone(),
            source: e,
        };
        let file = tempfile::tempfile_in(&budget.dir).map_err(err)?;
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        let mut index = vec![(0, 0); 4 * PARTS];
        let mut off = 0u64;
        let mut bytes = Vec::new();
        let mut put = |slot: usize, n: usize, bytes: &mut Vec<u8>| -> Result<(), AnalyzeError> {
            w.write_all(bytes).map_err(err)?;
            index[slot] = (off, n as u64);
            off += bytes.len() as u64;
            bytes.clear();
            Ok(())
        };
        fn encode<K: Key>(p: &Parts<K>, i: usize, bytes: &mut Vec<u8>) -> usize {
            for e in p.parts[i].iter() {
                e.put(bytes);
            }
            p.parts[i].len()
        }
        for side in 0..2 {
            for p in 0..PARTS {
                let n = encode(&buf.v4[side], p, &mut bytes);
                put(Run::slot(0, side, p), n, &mut bytes)?;
                let n = encode(&buf.v6[side], p, &mut bytes);
                put(Run::slot(1, side, p), n, &mut bytes)?;
            }
        }
        w.flush().map_err(err)?;
        drop(w);
        Ok(Run {
            file,
            dir: budget.dir.clone(),
            index,
        })
    }

    /// Entries of one partition.
    pub fn count(&self, fam: usize, side: usize, p: usize) -> usize {
        self.index[Run::slot(fam, side, p)].1 as usize
    }

    /// Call `f` on each entry of one partition.
    pub fn read<K: Key>(
        &self,
        fam: usize,
        side: usize,
        p: usize,
        mut f: impl FnMut(&Entry<K>),
    ) -> Result<(), AnalyzeError> {
        let (off, n) = self.index[Run::slot(fam, side, p)];
        let size = Entry::<K>::SIZE;
        let mut b = vec![0u8; n as usize * size];
        self.file
            .read_exact_at(&mut b, off)
            .map_err(|e| AnalyzeError::Spill {
                dir: self.dir.clone(),
                source: e,
            })?;
        for c in b.chunks_exact(size) {
            f(&Entry::get(c));
        }
        Ok(())
    }
}

/// Half the machine's RAM (`MemTotal` of /proc/meminfo), the default
/// `--memory-limit`; 4 GiB where it cannot be read.
pub fn default_limit() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = l.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024 / 2)
        })
        .unwrap_or(4 << 30)
}
