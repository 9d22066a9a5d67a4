//! The fixture dataset several tests share: the AS fixture at 1-in-10 over
//! two hosts and the mixed fixture at 1-in-100 on a third, parts 12 hours
//! apart over several dates.

use std::path::{Path, PathBuf};

use pktsample_tracegen::parts::{PartsSpec, split};

use super::{fixture, replay, s};

/// Parts of `rows` rows over `hosts` hosts, hourly, 12 hours apart.
pub fn spec(hosts: usize) -> PartsSpec {
    PartsSpec {
        rows: 8,
        hosts,
        hourly: true,
        parts: None,
        step_hours: 12,
        dataset: true,
    }
}

/// The dataset under `dir/ds`, and the 1-in-10 hosts' parts.
pub fn fixture_dataset(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    let r10 = dir.join("r10.parquet");
    let r100 = dir.join("r100.parquet");
    replay(
        s(&fixture("asn.pcapng")),
        &["-r", "10", "--seed", "1", "-o", s(&r10)],
    );
    replay(
        s(&fixture("mixed.pcapng")),
        &["-r", "100", "--seed", "5", "-o", s(&r100)],
    );
    let ds = dir.join("ds");
    let parts = split(&r10, &ds, &spec(2)).unwrap();
    let other = dir.join("other");
    split(&r100, &other, &spec(1)).unwrap();
    copy_dir(&other, &ds);
    (ds, parts)
}

/// Copy every file under `from` to the same relative place under `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let q = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &q);
        } else {
            std::fs::copy(&p, &q).unwrap();
        }
    }
}
