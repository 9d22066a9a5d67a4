//! Where a replay's samples go, part by part: one file; numbered parts
//! with `--rotate`; or, with `-o DIR/`, the partitioned dataset of
//! [`pktsample_schemas::dataset`], cut at midnight UTC of the capture's
//! own clock (not the replaying machine's) so a date partition holds
//! exactly that day's samples.
//!
//! Each part carries the pools of the packets seen while it was open, so
//! a dataset's `packets_seen` is exact part by part, as a live capture's
//! is: the replay keeps running totals per interface and direction, and a
//! part's are the totals at its close less those at its opening.

use std::path::PathBuf;

use pktsample_schemas::dataset::{DAY_NS, day_of};
use pktsample_schemas::{
    CaptureMetadata, Direction, DirectionStats, Enrichment, SampleBatchBuilder, SampleWriter,
};

use super::IfaceState;
use crate::error::CaptureError;
use crate::layout::Layout;
use crate::rotate::Rotate;

/// What the parts are made of and where they go.
pub(super) struct Parts {
    layout: Layout,
    rotate: Option<Rotate>,
    force: bool,
    enrich: Enrichment,
    /// Source, snaplen and host of every part.
    template: CaptureMetadata,
    /// The next part's number.
    n: u32,
    open: Option<Open>,
    /// Parts complete, in order.
    pub written: Vec<PathBuf>,
}

struct Open {
    writer: SampleWriter,
    /// The packet that opened the part (None: the one file, opened
    /// before the first packet).
    first_ns: Option<i64>,
    /// The totals when the part opened, per interface and direction.
    base: Vec<[DirectionStats; 3]>,
}

/// The span of capture time a part takes packets from: `[start, end)`,
/// held as its start and length so that a packet costs one compare.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    start: i64,
    len: u64,
}

impl Span {
    /// No part open: the next packet opens one.
    pub const NONE: Span = Span { start: 0, len: 0 };

    pub fn new(start: i64, end: i64) -> Span {
        Span {
            start,
            len: end.wrapping_sub(start) as u64,
        }
    }

    #[inline]
    pub fn holds(&self, ts: i64) -> bool {
        (ts.wrapping_sub(self.start) as u64) < self.len
    }
}

impl Parts {
    pub fn new(
        layout: Layout,
        rotate: Option<Rotate>,
        (force, enrich): (bool, Enrichment),
        template: CaptureMetadata,
        first_part: u32,
    ) -> Self {
        Parts {
            layout,
            rotate,
            force,
            enrich,
            template,
            n: first_part,
            open: None,
            written: Vec::new(),
        }
    }

    /// One file is opened before the first packet, so that an output in
    /// the way is refused before anything is read; parts open with their
    /// first packet, which names them.
    pub fn start(&mut self, ifaces: &[IfaceState]) -> Result<Span, CaptureError> {
        match self.layout {
            Layout::File(_) => self.open_part(ifaces, 0),
            _ => Ok(Span::NONE),
        }
    }

    /// A packet at `ts` falls outside the open part's span: close it
    /// (its last packet at `last`), and open the part `ts` belongs to.
    pub fn next(
        &mut self,
        ifaces: &[IfaceState],
        ts: i64,
        last: Option<i64>,
    ) -> Result<Span, CaptureError> {
        self.close(ifaces, (None, last), None)?;
        self.open_part(ifaces, ts)
    }

    fn open_part(&mut self, ifaces: &[IfaceState], ts: i64) -> Result<Span, CaptureError> {
        let file = matches!(self.layout, Layout::File(_));
        let path = self.layout.part(&self.template.host, self.n, ts)?;
        self.n += 1;
        let writer =
            SampleWriter::create_enriched(&path, self.force, &self.template, self.enrich.clone())?;
        self.open = Some(Open {
            writer,
            first_ns: (!file).then_some(ts),
            base: ifaces.iter().map(|i| i.stats).collect(),
        });
        let (mut start, mut end) = (i64::MIN, i64::MAX);
        if let Layout::Dataset(_) = self.layout {
            let day = day_of(ts);
            (start, end) = (day * DAY_NS, (day + 1) * DAY_NS);
        }
        if let Some(Rotate::Every(d)) = self.rotate
            && !file
        {
            let d = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX).max(1);
            end = end.min(ts.saturating_add(d));
        }
        if file {
            // Every packet: the whole range (a length of 2^64 - 1 misses
            // only i64::MAX itself, which no capture holds).
            return Ok(Span {
                start: i64::MIN,
                len: u64::MAX,
            });
        }
        Ok(Span::new(start, end))
    }

    /// The built samples to the open part.
    pub fn write(&mut self, b: &mut SampleBatchBuilder) -> Result<(), CaptureError> {
        if let Some(o) = &mut self.open {
            o.writer.write(&b.finish())?;
        }
        Ok(())
    }

    /// With `--rotate SIZE` into parts: the header bytes at which a part
    /// is full (else never).
    pub fn size_limit(&self) -> u64 {
        match (self.rotate, &self.layout) {
            (_, Layout::File(_)) => u64::MAX,
            (Some(Rotate::Bytes(max)), _) => max.max(1),
            _ => u64::MAX,
        }
    }

    /// Close the open part with its share of the totals, its time range
    /// (`first`: the whole input's, for the one file) and, from `whole`,
    /// what the reader counted of the whole input (skipped records).
    pub fn close(
        &mut self,
        ifaces: &[IfaceState],
        (first, last): (Option<i64>, Option<i64>),
        whole: Option<&CaptureMetadata>,
    ) -> Result<(), CaptureError> {
        let Some(o) = self.open.take() else {
            return Ok(());
        };
        let mut meta = self.template.clone();
        if let Some(l) = whole {
            meta.skipped_link_types = l.skipped_link_types.clone();
            meta.bad_lengths = l.bad_lengths;
            meta.foreign_custom = l.foreign_custom;
        }
        meta.set_time_range(o.first_ns.or(first), last);
        meta.interfaces = ifaces
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let mut m = s.meta.clone();
                for d in Direction::ALL {
                    let base = o.base.get(k).map(|b| b[d.index()]).unwrap_or_default();
                    let now = s.stats[d.index()];
                    let part = DirectionStats {
                        packets_seen: now.packets_seen - base.packets_seen,
                        samples: now.samples - base.samples,
                        drops: now.drops - base.drops,
                    };
                    if part.packets_seen > 0 {
                        m.directions.insert(d, part);
                    }
                }
                m
            })
            .collect();
        let path = o.writer.finish(&meta)?;
        self.layout.committed(&path, &meta, self.force)?;
        self.written.push(path);
        Ok(())
    }

    /// The next part's number, for a replay of another input into the
    /// same dataset.
    pub fn next_number(&self) -> u32 {
        self.n
    }
}
