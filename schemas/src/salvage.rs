//! Closing a file the disk filled, at what was complete.
//!
//! A live capture cannot be made again, so a full disk must not cost the
//! samples already written. A writer that salvages sets aside a little room
//! next to its file when it starts ([`Reserve`]). When a write fails for a
//! full disk, it frees that room and closes the file at its last complete
//! part: for Parquet, the row groups whose bytes are all on disk, followed
//! by a footer written from their metadata; for pcapng, the blocks whose
//! bytes are all on disk, followed by a metadata block. The rows kept are
//! then counted per interface and direction from the file itself, the
//! metadata moves the rest from samples to drops and says why
//! (`interrupted`), and the file is renamed into place like any other.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use parquet::arrow::{ARROW_SCHEMA_META_KEY, ArrowSchemaConverter, encode_arrow_schema};
use parquet::file::metadata::{
    FileMetaData, KeyValue, ParquetMetaData, ParquetMetaDataWriter, RowGroupMetaData,
};
use tempfile::NamedTempFile;

use crate::error::FormatError;
use crate::meta::{CaptureMetadata, Direction, METADATA_KEY};
use crate::pcapng::metadata_block;
use crate::record::SampleColumns;
use crate::samples::read_samples;
use crate::schema::samples_schema;
use crate::writer::{Inner, SyncWriter};

/// Room set aside beside an output, freed to close it when the disk fills.
pub struct Reserve(#[allow(dead_code)] NamedTempFile);

impl Reserve {
    /// Set aside room next to `path`: as much as the disk gives of 4 MiB
    /// (enough for the footer of a thousand row groups), 1 MiB, 128 KiB or
    /// 16 KiB; none on a disk that has not even that.
    pub fn create(path: &Path) -> Option<Reserve> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = path.file_name()?.to_string_lossy().into_owned();
        let f = tempfile::Builder::new()
            .prefix(&format!(".{name}.reserve."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .ok()?;
        use std::os::fd::AsRawFd;
        for size in [4 << 20, 1 << 20, 128 << 10, 16 << 10] {
            // SAFETY: a valid descriptor; allocates real blocks.
            if unsafe { libc::posix_fallocate(f.as_file().as_raw_fd(), 0, size) } == 0 {
                return Some(Reserve(f));
            }
        }
        None
    }
}

/// Where a row group's bytes end.
fn group_end(g: &RowGroupMetaData) -> u64 {
    g.columns()
        .iter()
        .map(|c| {
            let (start, len) = c.byte_range();
            start + len
        })
        .max()
        .unwrap_or(0)
}

/// What closes the file after its last complete part.
enum Tail {
    Parquet(Vec<RowGroupMetaData>),
    Pcapng,
}

fn tail_bytes(tail: &Tail, meta: &CaptureMetadata) -> Result<Vec<u8>, String> {
    match tail {
        Tail::Pcapng => Ok(metadata_block(meta)),
        Tail::Parquet(groups) => {
            let schema = samples_schema();
            let descr = ArrowSchemaConverter::new()
                .convert(&schema)
                .map_err(|e| e.to_string())?;
            let rows = groups.iter().map(|g| g.num_rows()).sum();
            let kv = vec![
                KeyValue::new(ARROW_SCHEMA_META_KEY.into(), encode_arrow_schema(&schema)),
                KeyValue::new(METADATA_KEY.into(), meta.to_json()),
            ];
            let fm = FileMetaData::new(
                1,
                rows,
                Some(format!("pktsample {}", env!("CARGO_PKG_VERSION"))),
                Some(kv),
                Arc::new(descr),
                None,
            );
            let md = ParquetMetaData::new(fm, groups.clone());
            let mut out = Vec::new();
            ParquetMetaDataWriter::new(&mut out, &md)
                .finish()
                .map_err(|e| e.to_string())?;
            Ok(out)
        }
    }
}

/// Cut the file at `end` and write the tail.
fn close_at(file: &mut std::fs::File, end: u64, tail: &[u8]) -> std::io::Result<()> {
    file.set_len(end)?;
    file.seek(SeekFrom::Start(end))?;
    file.write_all(tail)?;
    file.flush()
}

/// Rows per (ifindex, rate, direction) in a samples file.
fn count_rows(path: &Path) -> Result<HashMap<(u32, u32, Direction), u64>, FormatError> {
    let mut n = HashMap::new();
    read_samples(path, |b| -> Result<(), FormatError> {
        let cols = SampleColumns::new(&b)?;
        for i in 0..cols.len() {
            let r = cols.row(i)?;
            *n.entry((r.ifindex, r.sampling_rate, r.direction))
                .or_insert(0) += 1;
        }
        Ok(())
    })?;
    Ok(n)
}

/// Close `w`'s file at its last complete part after `error` (a full disk);
/// returns the error to report: [`FormatError::DiskFull`] when the file was
/// kept, else `error` (nothing kept, as without salvage).
pub(crate) fn salvage(
    mut w: SyncWriter,
    meta: &CaptureMetadata,
    error: FormatError,
) -> FormatError {
    // Let what is buffered reach the disk as far as it fits (the reserve
    // still held: it is for the tail).
    let reserve = w.reserve.take();
    let on_disk = |w: &SyncWriter| w.file.written_len().unwrap_or(0);
    let (end, tail) = match &mut w.inner {
        Inner::Parquet(pw) => {
            let _ = pw.inner_mut().flush();
            let len = on_disk(&w);
            let Inner::Parquet(pw) = &w.inner else {
                unreachable!()
            };
            let keep: Vec<RowGroupMetaData> = pw
                .flushed_row_groups()
                .iter()
                .take_while(|g| group_end(g) <= len)
                .cloned()
                .collect();
            // After the leading magic "PAR1" when no group is whole.
            (keep.last().map_or(4, group_end), Tail::Parquet(keep))
        }
        Inner::Pcapng(nw) => {
            let _ = nw.get_mut().flush();
            let len = on_disk(&w);
            let Inner::Pcapng(nw) = &w.inner else {
                unreachable!()
            };
            match nw.block_end_within(len) {
                Some(end) => (end, Tail::Pcapng),
                None => return error,
            }
        }
    };
    // Now the room for the tail.
    drop(reserve);
    let Ok(mut file) = w.file.handle() else {
        return error;
    };
    let path = w.file.path().to_path_buf();
    let tmp = w.file.tmp_path().to_path_buf();
    // First with the metadata as it stands, to read the kept rows back;
    // then with the counts moved.
    let Ok(bytes) = tail_bytes(&tail, meta) else {
        return error;
    };
    if close_at(&mut file, end, &bytes).is_err() {
        return error;
    }
    let Ok(kept) = count_rows(&tmp) else {
        return error;
    };
    let mut m = meta.clone();
    let (mut kept_total, mut lost_total) = (0, 0);
    for i in &mut m.interfaces {
        for (d, st) in &mut i.directions {
            let k = kept
                .get(&(i.ifindex, i.sampling_rate, *d))
                .copied()
                .unwrap_or(0);
            let lost = st.samples.saturating_sub(k);
            st.samples = k;
            st.drops += lost;
            kept_total += k;
            lost_total += lost;
        }
    }
    m.interrupted = Some(format!(
        "the disk filled: the file ends at its last complete part; {lost_total} samples written after it were lost and are counted as drops"
    ));
    let Ok(bytes) = tail_bytes(&tail, &m) else {
        return error;
    };
    if close_at(&mut file, end, &bytes).is_err() {
        return error;
    }
    drop(file);
    // The encoder may still buffer bytes: they go nowhere.
    w.discard.store(true, std::sync::atomic::Ordering::Relaxed);
    let SyncWriter {
        file: atomic,
        inner,
        ..
    } = w;
    drop(inner);
    let source = match error {
        FormatError::Write {
            source: Some(e), ..
        }
        | FormatError::Io { err: e, .. } => e,
        e => return e,
    };
    match atomic.commit_written() {
        Ok(_) => FormatError::DiskFull {
            path,
            kept: kept_total,
            lost: lost_total,
            source,
        },
        Err(e) => e,
    }
}
