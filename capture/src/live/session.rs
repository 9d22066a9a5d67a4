//! The output of a live capture: its parts (one file, or a new one every
//! `--rotate`), the rows written per interface slot and direction, and the
//! metadata each part gets from the kernel's counters.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use pktsample_schemas::samples::BATCH_ROWS;
use pktsample_schemas::{
    CaptureMetadata, Direction, DirectionStats, InterfaceMeta, SampleBatchBuilder, SampleRow,
    SampleWriter, WriterOptions,
};

use crate::error::CaptureError;
use crate::netdev::Device;

use super::LiveOptions;
use super::abi::Counters;
use crate::rotate::Rotate;

pub use crate::layout::part_path;
use crate::layout::{Layout, now_ns};

/// An interface slot: the device and its rate.
struct Slot {
    dev: Device,
    rate: u32,
}

/// One output file being written (no file: `--sflow` without `-o`).
struct Part {
    writer: Option<SampleWriter>,
    started: Instant,
    /// Counters when the part began (its metadata holds the difference).
    base: Vec<[Counters; 2]>,
    first_ns: Option<i64>,
    last_ns: Option<i64>,
    /// Rows written per slot and direction.
    written: Vec<[u64; 2]>,
    /// Header bytes written, a size estimate for `--rotate SIZE`.
    bytes: u64,
    /// When it was opened (wall clock, ns): a dataset's part ends at
    /// midnight.
    opened_ns: i64,
}

/// The capture's output.
pub struct Session<'a> {
    opts: &'a LiveOptions,
    template: CaptureMetadata,
    layout: Option<Layout>,
    slots: Vec<Slot>,
    /// The part being written (taken at the end).
    part: Option<Part>,
    parts: Vec<PathBuf>,
    builder: SampleBatchBuilder,
    total_written: Vec<[u64; 2]>,
    rows: u64,
    first_ns: Option<i64>,
    last_ns: Option<i64>,
}

impl<'a> Session<'a> {
    pub fn start(opts: &'a LiveOptions, template: CaptureMetadata) -> Result<Self, CaptureError> {
        let layout = opts
            .output
            .as_deref()
            .map(|o| Layout::new(o, opts.rotate.is_some()));
        let mut s = Session {
            opts,
            template,
            layout,
            slots: Vec::new(),
            part: None,
            parts: Vec::new(),
            builder: SampleBatchBuilder::new(),
            total_written: Vec::new(),
            rows: 0,
            first_ns: None,
            last_ns: None,
        };
        s.part = Some(s.open_part(1, Vec::new())?);
        Ok(s)
    }

    /// A new interface slot (its counters start at zero).
    pub fn add_slot(&mut self, dev: Device, rate: u32) {
        self.slots.push(Slot { dev, rate });
        let p = self.part_mut();
        p.base.push([Counters::default(); 2]);
        p.written.push([0; 2]);
        self.total_written.push([0; 2]);
    }

    fn part_mut(&mut self) -> &mut Part {
        self.part.as_mut().expect("a part is open until finish")
    }

    fn part(&self) -> &Part {
        self.part.as_ref().expect("a part is open until finish")
    }

    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// One sample of slot `slot`, direction index `dir`.
    pub fn row(&mut self, r: &SampleRow<'_>, slot: usize, dir: usize) -> Result<(), CaptureError> {
        let p = self.part.as_mut().expect("a part is open until finish");
        if p.writer.is_some() {
            self.builder.push(r);
        }
        p.first_ns.get_or_insert(r.timestamp_ns);
        p.last_ns = Some(r.timestamp_ns);
        self.first_ns.get_or_insert(r.timestamp_ns);
        self.last_ns = Some(r.timestamp_ns);
        p.written[slot][dir] += 1;
        self.total_written[slot][dir] += 1;
        p.bytes += r.header.len() as u64 + 64;
        self.rows += 1;
        if self.builder.len() >= BATCH_ROWS
            && let Some(w) = &mut p.writer
        {
            w.write(&self.builder.finish())?;
        }
        Ok(())
    }

    /// Time for a new part?
    pub fn due(&self) -> bool {
        let p = self.part();
        if self
            .layout
            .as_ref()
            .is_some_and(|l| l.day_ended(p.opened_ns, now_ns()))
        {
            return true;
        }
        match self.opts.rotate {
            Some(Rotate::Every(d)) => p.started.elapsed() >= d,
            Some(Rotate::Bytes(b)) => p.bytes >= b,
            None => false,
        }
    }

    /// Close the current part at counters `now` and open the next.
    pub fn rotate(&mut self, now: &[[Counters; 2]]) -> Result<PathBuf, CaptureError> {
        let n = self.parts.len() as u32 + 2;
        let next = self.open_part(n, now.to_vec())?;
        let done = self
            .part
            .replace(next)
            .expect("a part is open until finish");
        let path = self.close_part(done, now, false)?;
        self.parts.extend(path.clone());
        Ok(path.unwrap_or_default())
    }

    /// Close the last part at the final counters; return the parts and the
    /// metadata of the whole capture.
    pub fn finish(
        mut self,
        now: &[[Counters; 2]],
    ) -> Result<(Vec<PathBuf>, CaptureMetadata), CaptureError> {
        let part = self.part.take().expect("a part is open until finish");
        let path = self.close_part(part, now, true)?;
        self.parts.extend(path);
        let zero = vec![[Counters::default(); 2]; now.len()];
        let meta = self.metadata(
            now,
            &zero,
            &self.total_written,
            true,
            self.first_ns,
            self.last_ns,
        );
        Ok((self.parts, meta))
    }

    /// Metadata for counters `now` minus `base`, with `written` rows per
    /// slot and direction. `samples` is what reached the file; at the end of
    /// a capture (`last_part`), selected samples never written (left in the
    /// ring when `--count` stopped the capture, or unreadable records) count
    /// as drops, so that `samples + drops` is every packet selected.
    fn metadata(
        &self,
        now: &[[Counters; 2]],
        base: &[[Counters; 2]],
        written: &[[u64; 2]],
        last_part: bool,
        first: Option<i64>,
        last: Option<i64>,
    ) -> CaptureMetadata {
        let mut m = self.template.clone();
        m.set_time_range(first, last);
        m.interfaces = self
            .slots
            .iter()
            .enumerate()
            .map(|(slot, s)| {
                let mut directions = BTreeMap::new();
                for d in self.opts.hooks.directions() {
                    let k = usize::from(*d != Direction::Ingress);
                    let zero = Counters::default();
                    let n = now.get(slot).map_or(zero, |c| c[k]);
                    let b = base.get(slot).map_or(zero, |c| c[k]);
                    let w = written.get(slot).map_or(0, |c| c[k]);
                    let unwritten = if last_part {
                        (n.samples - b.samples).saturating_sub(w)
                    } else {
                        0
                    };
                    directions.insert(
                        *d,
                        DirectionStats {
                            packets_seen: n.packets_seen - b.packets_seen,
                            samples: w,
                            drops: n.drops - b.drops + unwritten,
                        },
                    );
                }
                InterfaceMeta {
                    ifindex: s.dev.ifindex,
                    name: s.dev.name.clone(),
                    mac: s.dev.mac.clone(),
                    mtu: s.dev.mtu,
                    sampling_rate: s.rate,
                    link_type: s.dev.link_type,
                    shared_pool: false,
                    directions,
                }
            })
            .collect();
        m
    }

    fn open_part(&self, n: u32, base: Vec<[Counters; 2]>) -> Result<Part, CaptureError> {
        let written = vec![[0; 2]; base.len()];
        let meta = self.metadata(&base, &base, &written, false, None, None);
        let opened_ns = now_ns();
        let writer = match &self.layout {
            Some(layout) => {
                let path = layout.part(&self.template.host, n, opened_ns)?;
                // A capture cannot be made again: on a full disk, keep what
                // is complete.
                Some(SampleWriter::with_options(
                    &path,
                    &meta,
                    WriterOptions {
                        force: self.opts.force,
                        enrich: self.opts.enrich.clone(),
                        salvage: true,
                        row_group_rows: None,
                    },
                )?)
            }
            None => None,
        };
        Ok(Part {
            writer,
            started: Instant::now(),
            base,
            first_ns: None,
            last_ns: None,
            written,
            bytes: 0,
            opened_ns,
        })
    }

    fn close_part(
        &mut self,
        mut part: Part,
        now: &[[Counters; 2]],
        last_part: bool,
    ) -> Result<Option<PathBuf>, CaptureError> {
        let Some(mut writer) = part.writer.take() else {
            return Ok(None);
        };
        let pending = if self.builder.is_empty() {
            Ok(())
        } else {
            writer.write(&self.builder.finish())
        };
        let meta = self.metadata(
            now,
            &part.base,
            &part.written,
            last_part,
            part.first_ns,
            part.last_ns,
        );
        // A writer that failed says why (and salvages) at finish.
        let done = writer.finish(&meta)?;
        pending?;
        if let Some(l) = &self.layout {
            l.committed(&done, &meta, self.opts.force)?;
        }
        Ok(Some(done))
    }
}
