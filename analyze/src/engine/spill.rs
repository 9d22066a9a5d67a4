//! The memory budget of the aggregation, and the address tables' spill
//! files past it.
//!
//! The state that grows with the input is the address entries (see
//! [`super::addrs`]) and, when a conversation section is asked for, the
//! flow entries ([`super::flows`]); every other sum grows with the number of strata,
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

use super::addrs::{Entry, Key, PARTS, Parts};

/// The budget shared by the worker threads.
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
    dir: PathBuf,
    /// The runs written: of address entries, and of flow entries.
    runs: Mutex<[Vec<Run>; 2]>,
    spilled: AtomicU64,
}

/// A thread's buffer of entries, by partition, that can go to a run.
pub(super) trait Spillable {
    /// Which of the budget's run lists its runs go to.
    const KIND: usize;
    /// Bytes the buffer holds (its capacity).
    fn held(&self) -> usize;
    /// Bytes its entries take (0: nothing to spill).
    fn bytes(&self) -> usize;
    /// Bytes last charged to the budget.
    fn charged(&mut self) -> &mut usize;
    /// Its entries as a run.
    fn write(&self, budget: &Budget) -> Result<Run, AnalyzeError>;
    fn clear(&mut self);
}

impl Budget {
    pub fn new(limit: usize, dir: &Path) -> Budget {
        Budget {
            limit,
            used: AtomicUsize::new(0),
            dir: dir.to_path_buf(),
            runs: Mutex::new(Default::default()),
            spilled: AtomicU64::new(0),
        }
    }

    /// Charge a buffer's growth since its last charge; past the limit,
    /// write it to a run and release what it held.
    pub(super) fn charge<B: Spillable>(&self, buf: &mut B) -> Result<(), AnalyzeError> {
        let now = buf.held();
        let before = std::mem::replace(buf.charged(), now);
        let used = if now >= before {
            self.used.fetch_add(now - before, Ordering::Relaxed) + (now - before)
        } else {
            self.used.fetch_sub(before - now, Ordering::Relaxed) - (before - now)
        };
        if used <= self.limit || buf.bytes() == 0 {
            return Ok(());
        }
        let run = buf.write(self)?;
        self.spilled
            .fetch_add(buf.bytes() as u64, Ordering::Relaxed);
        self.runs.lock().expect("spill runs")[B::KIND].push(run);
        self.used.fetch_sub(*buf.charged(), Ordering::Relaxed);
        buf.clear();
        *buf.charged() = 0;
        Ok(())
    }

    /// The runs written of one kind ([`Spillable::KIND`]), taken for the
    /// reductions.
    pub(super) fn take_runs(&self, kind: usize) -> Vec<Run> {
        std::mem::take(&mut self.runs.lock().expect("spill runs")[kind])
    }

    /// Bytes of entries written to spill files.
    pub fn spilled(&self) -> u64 {
        self.spilled.load(Ordering::Relaxed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One spill file: every set (family and side, for addresses) of every
/// partition, one after the other, and where each starts.
pub(super) struct Run {
    file: File,
    dir: PathBuf,
    /// By (set, partition): (offset, entries).
    index: Vec<(u64, u64)>,
}

impl Run {
    fn slot(set: usize, p: usize) -> usize {
        set * PARTS + p
    }

    /// A run of `sets` sets, each partition's entries encoded by
    /// `encode(set, partition, bytes)`, which returns how many it wrote.
    pub fn write_with(
        budget: &Budget,
        sets: usize,
        mut encode: impl FnMut(usize, usize, &mut Vec<u8>) -> usize,
    ) -> Result<Run, AnalyzeError> {
        let err = |e| AnalyzeError::Spill {
            dir: budget.dir.clone(),
            source: e,
        };
        let file = tempfile::tempfile_in(&budget.dir).map_err(err)?;
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        let mut index = vec![(0, 0); sets * PARTS];
        let mut off = 0u64;
        let mut bytes = Vec::new();
        for p in 0..PARTS {
            for set in 0..sets {
                let n = encode(set, p, &mut bytes);
                w.write_all(&bytes).map_err(err)?;
                index[Run::slot(set, p)] = (off, n as u64);
                off += bytes.len() as u64;
                bytes.clear();
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

    /// Entries of one partition of a set.
    pub fn count(&self, set: usize, p: usize) -> usize {
        self.index[Run::slot(set, p)].1 as usize
    }

    /// Call `f` on each entry of one partition of a set.
    pub fn read<K: Key>(
        &self,
        set: usize,
        p: usize,
        mut f: impl FnMut(&Entry<K>),
    ) -> Result<(), AnalyzeError> {
        let (off, n) = self.index[Run::slot(set, p)];
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

/// Partition `p`'s entries, encoded; how many.
pub(super) fn encode<K: Key>(parts: &Parts<K>, p: usize, bytes: &mut Vec<u8>) -> usize {
    for e in parts.parts[p].iter() {
        e.put(bytes);
    }
    parts.parts[p].len()
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
