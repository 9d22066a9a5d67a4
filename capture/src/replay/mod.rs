//! Offline replay: apply the live sampler to an existing capture, into
//! one file, numbered parts (`--rotate`) or a dataset (`-o DIR/`, see
//! `parts.rs`).
//!
//! Every packet of the input is counted in the pool of its interface and
//! direction (so `packets_seen` is exact), the sampler decides, and a selected
//! packet is cut to the snaplen and handed to the samples writer. Unselected
//! packets cost a record-header walk and one random number: nothing is decoded
//! or copied for them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pktsample_schemas::input::{CaptureReader, Interface, Packet, Visitor};
use pktsample_schemas::{
    CaptureMetadata, Direction, DirectionStats, InterfaceMeta, SampleBatchBuilder, SampleRow,
    Source,
};

use crate::error::CaptureError;
use crate::layout::Layout;
use crate::options::check_rate_and_snaplen;
use crate::rotate::Rotate;
use crate::sampler::Sampler;
use parts::{Parts, Span};
use pktsample_schemas::Enrichment;

mod parts;

/// Largest snaplen offline (the `cap_len` column is 16 bits).
pub const MAX_REPLAY_SNAPLEN: u32 = 65535;

#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    pub sampling_rate: u32,
    pub seed: u64,
    pub snaplen: u32,
    pub force: bool,
    /// Fill the AS and Kubernetes columns (an ASN database, cluster
    /// snapshots).
    pub enrich: Enrichment,
    /// New parts at this size or span of capture time (numbered beside
    /// the output, or in a dataset).
    pub rotate: Option<Rotate>,
    /// The first part's number (a replay of a further input into the same
    /// dataset goes on from the last one's [`ReplaySummary::next_part`]).
    pub first_part: u32,
    /// What the metadata says the samples came from (None: a replay of
    /// the input at the sampling rate).
    pub source: Option<Source>,
}

/// What a replay did.
#[derive(Clone, Debug)]
pub struct ReplaySummary {
    /// The file, or the first part (None: a dataset from an input without
    /// packets, which has no part).
    pub output: Option<PathBuf>,
    /// Every part written (one for a single file).
    pub parts: Vec<PathBuf>,
    pub next_part: u32,
    /// Packets sampled from (of a link type pktsample decodes).
    pub packets_seen: u64,
    pub bytes_seen: u64,
    pub samples: u64,
    pub elapsed: Duration,
    pub metadata: CaptureMetadata,
}

struct IfaceState {
    meta: InterfaceMeta,
    /// Running totals of the whole input.
    stats: [DirectionStats; 3],
}

struct Replay<'a> {
    sampler: Sampler,
    snaplen: usize,
    ifaces: Vec<IfaceState>,
    builder: SampleBatchBuilder,
    /// Header bytes of the open part, for `--rotate SIZE` (a size
    /// estimate, as a live capture's), and where it is full.
    part_bytes: u64,
    size_limit: u64,
    parts: Parts,
    /// The capture time the open part takes packets from.
    span: Span,
    first_ns: Option<i64>,
    last_ns: Option<i64>,
    packets: u64,
    bytes: u64,
    samples: u64,
    progress: &'a mut dyn FnMut(Progress),
    total: u64,
    input: &'a Path,
}

impl Visitor for Replay<'_> {
    type Error = CaptureError;

    fn interface(&mut self, _index: usize, i: &Interface) -> Result<(), CaptureError> {
        // A file that was itself sampled at 1-in-M becomes 1-in-M*N.
        let rate = i
            .sampling_rate
            .checked_mul(self.sampler.rate())
            .ok_or_else(|| CaptureError::RateOverflow {
                input: self.input.into(),
                file_rate: i.sampling_rate,
                rate: self.sampler.rate(),
            })?;
        self.ifaces.push(IfaceState {
            meta: InterfaceMeta {
                ifindex: i.ifindex,
                name: i.name.clone(),
                mac: i.mac.clone(),
                mtu: i.mtu,
                sampling_rate: rate,
                link_type: i.linktype,
                shared_pool: false,
                directions: BTreeMap::new(),
            },
            stats: Default::default(),
        });
        Ok(())
    }

    #[inline]
    fn packet(&mut self, p: &Packet<'_>) -> Result<(), CaptureError> {
        self.packets += 1;
        self.bytes += p.orig_len as u64;
        if self.first_ns.is_none() {
            self.first_ns = Some(p.timestamp_ns);
        }
        if !self.span.holds(p.timestamp_ns) {
            self.flush()?;
            self.span = self
                .parts
                .next(&self.ifaces, p.timestamp_ns, self.last_ns)?;
            self.part_bytes = 0;
        }
        self.last_ns = Some(p.timestamp_ns);
        let st = &mut self.ifaces[p.iface];
        let d = &mut st.stats[p.direction.index()];
        d.packets_seen += 1;
        if !self.sampler.take() {
            return Ok(());
        }
        d.samples += 1;
        self.samples += 1;
        let header = &p.data[..p.data.len().min(self.snaplen)];
        self.part_bytes += header.len() as u64 + 64;
        self.builder.push(&SampleRow {
            timestamp_ns: p.timestamp_ns,
            ifindex: st.meta.ifindex,
            ifname: &st.meta.name,
            direction: p.direction,
            sampling_rate: st.meta.sampling_rate,
            pkt_len: p.orig_len,
            header,
            ingress_ifindex: p.ingress_ifindex,
            routed_ifindex: p.routed_ifindex,
            link_type: st.meta.link_type,
        });
        if self.part_bytes >= self.size_limit {
            // Full: the next packet opens the next part.
            self.flush()?;
            self.span = Span::NONE;
        } else if self.builder.len() >= pktsample_schemas::samples::BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn progress(&mut self, offset: u64) {
        (self.progress)(Progress {
            read: offset,
            total: self.total,
        });
    }
}

impl Replay<'_> {
    /// The built samples to the open part.
    fn flush(&mut self) -> Result<(), CaptureError> {
        if self.builder.is_empty() {
            return Ok(());
        }
        self.parts.write(&mut self.builder)
    }
}

/// How far a replay is: bytes of the input file read, of its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub read: u64,
    pub total: u64,
}

/// Sample `opts.input` into `opts.output`, reporting progress every few
/// thousand packets.
pub fn replay(
    opts: &ReplayOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ReplaySummary, CaptureError> {
    check_rate_and_snaplen(opts.sampling_rate, opts.snaplen, MAX_REPLAY_SNAPLEN)?;
    let start = Instant::now();
    let reader = CaptureReader::open(&opts.input)?;
    let source = opts.source.clone().unwrap_or_else(|| Source::Replay {
        input: opts
            .input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        seed: opts.seed,
        sampling_rate: opts.sampling_rate,
    });
    let mut meta = CaptureMetadata::new(source, opts.snaplen);
    let layout = Layout::new(&opts.output, opts.rotate.is_some());
    let enrich = (opts.force, opts.enrich.clone());
    let mut parts = Parts::new(layout, opts.rotate, enrich, meta.clone(), opts.first_part);
    let span = parts.start(&[])?;
    let mut r = Replay {
        sampler: Sampler::new(opts.sampling_rate, opts.seed),
        snaplen: opts.snaplen as usize,
        ifaces: Vec::new(),
        builder: SampleBatchBuilder::new(),
        part_bytes: 0,
        size_limit: parts.size_limit(),
        parts,
        span,
        first_ns: None,
        last_ns: None,
        packets: 0,
        bytes: 0,
        samples: 0,
        progress,
        total: reader.len(),
        input: &opts.input,
    };
    let stats = reader.read(&mut r)?;
    r.flush()?;
    meta.set_time_range(r.first_ns, r.last_ns);
    meta.skipped_link_types = stats.skipped;
    meta.bad_lengths = stats.bad_lengths;
    meta.foreign_custom = stats.foreign_custom;
    r.parts
        .close(&r.ifaces, (r.first_ns, r.last_ns), Some(&meta))?;
    meta.interfaces = r
        .ifaces
        .into_iter()
        .map(|mut s| {
            for d in Direction::ALL {
                let st = s.stats[d.index()];
                if st.packets_seen > 0 {
                    s.meta.directions.insert(d, st);
                }
            }
            s.meta
        })
        .collect();
    let (packets_seen, bytes_seen, samples) = (r.packets, r.bytes, r.samples);
    Ok(ReplaySummary {
        output: r.parts.written.first().cloned(),
        next_part: r.parts.next_number(),
        parts: r.parts.written,
        packets_seen,
        bytes_seen,
        samples,
        elapsed: start.elapsed(),
        metadata: meta,
    })
}
