//! Live capture: the eBPF sampler at the TCX hooks, loaded with aya.
//!
//! The kernel program (`ebpf/pktsample.bpf.c`, compiled object committed and
//! embedded) counts every packet per interface and direction, samples
//! 1-in-N, and hands samples to user space through a BPF ring buffer; a
//! reservation that fails is counted as a drop. The parts:
//! - `preflight`: options, kernel and privileges, before anything loads;
//! - `select`: which interfaces (names, globs, all) at which rate;
//! - `program`: loading, attaching (also to interfaces that appear while
//!   capturing, seen by `watch`) and a detach after which nothing runs
//!   (`sys`);
//! - `ring`: ring records to rows, unreadable ones counted;
//! - `session`: the output parts, rotation and their metadata;
//! - this module: the loop that ties them together.

pub mod abi;
mod preflight;
mod program;
mod ring;
mod select;
mod session;
mod sys;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pktsample_schemas::{CaptureMetadata, Direction, Enrichment, Source};

use crate::error::CaptureError;
use crate::netdev::{self, Device};
pub use preflight::check_options;
use program::Program;
use ring::RingReader;
use select::Selector;
use session::Session;

use crate::sflow::export::Exporter;
pub use session::part_path;
use watch::{LinkEvent, Watch};

/// Which hooks to attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hooks {
    Both,
    Ingress,
    Egress,
}

impl Hooks {
    fn directions(self) -> &'static [Direction] {
        match self {
            Hooks::Both => &[Direction::Ingress, Direction::Egress],
            Hooks::Ingress => &[Direction::Ingress],
            Hooks::Egress => &[Direction::Egress],
        }
    }
}

use crate::rotate::Rotate;

/// The kernel's counters as the sFlow exporter takes them.
fn pools(now: &[[abi::Counters; 2]]) -> Vec<[crate::sflow::export::Pool; 2]> {
    let p = |c: &abi::Counters| crate::sflow::export::Pool {
        packets_seen: c.packets_seen,
        drops: c.drops,
    };
    now.iter().map(|[i, e]| [p(i), p(e)]).collect()
}

/// Interfaces to capture on: a name or a glob (`veth*`), at its own rate
/// or the capture's default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceSpec {
    pub pattern: String,
    pub rate: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub interfaces: Vec<IfaceSpec>,
    /// Every interface, present and future (at the default rate unless a
    /// spec names one).
    pub all_interfaces: bool,
    /// The default 1-in-N rate.
    pub sampling_rate: u32,
    pub hooks: Hooks,
    pub snaplen: u32,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub rotate: Option<Rotate>,
    /// Ring buffer size in bytes (a power of two, at least a page).
    pub ring_bytes: u32,
    /// Look up the routed egress interface of ingress samples.
    pub fib: bool,
    /// The samples file; none when only exporting (`--sflow`).
    pub output: Option<PathBuf>,
    pub force: bool,
    /// Send the samples as sFlow too.
    pub sflow: Option<crate::sflow::export::ExportOptions>,
    /// Fill the AS and Kubernetes columns (an ASN database, cluster
    /// snapshots).
    pub enrich: Enrichment,
}

/// What a capture reports while it runs; the caller decides what to show.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveEvent {
    /// The programs are attached to these interfaces (name, rate): packets
    /// from now on are in the pool.
    Started { interfaces: Vec<(String, u32)> },
    /// About once a second.
    Status {
        samples: u64,
        drops: u64,
        elapsed: Duration,
    },
    /// An interface appeared (or first matched) and is sampled from now on.
    Attached { name: String, rate: u32 },
    /// An interface disappeared; its counters stay in the metadata.
    Detached { name: String },
    /// An interface appeared but could not be taken.
    Skipped { name: String, reason: String },
    /// A part was completed (with `--rotate`).
    Part(PathBuf),
}

/// What a live capture did.
#[derive(Debug)]
pub struct LiveSummary {
    /// Files written, in order (one unless rotating).
    pub parts: Vec<PathBuf>,
    /// Totals over the whole capture.
    pub metadata: CaptureMetadata,
    pub elapsed: Duration,
    /// With `--sflow`: the agent address and what was sent.
    pub export: Option<(std::net::IpAddr, crate::sflow::export::ExportStats)>,
}

/// Longest a sample waits in the ring before user space reads it.
const POLL_MS: i32 = 10;

/// The running capture: program, ring, output and interfaces.
struct Capture<'a> {
    opts: &'a LiveOptions,
    select: Selector,
    program: Program,
    ring: RingReader,
    session: Session<'a>,
    export: Option<Exporter>,
    /// The interface of each counter slot.
    slots: Vec<SlotState>,
}

struct SlotState {
    ifindex: u32,
    name: String,
    rate: u32,
    /// Still there (not deleted during the capture).
    live: bool,
}

impl Capture<'_> {
    /// Take device `dev` at `rate` into the next slot.
    fn attach(&mut self, dev: Device, rate: u32) -> Result<(), CaptureError> {
        if self.slots.len() >= abi::MAX_IFACES {
            return Err(CaptureError::Device {
                name: dev.name,
                detail: format!("at most {} interfaces per capture", abi::MAX_IFACES),
            });
        }
        let slot = self.slots.len() as u32;
        self.program
            .attach(&dev, slot, rate, self.opts.snaplen, self.opts.fib)?;
        self.ring.add(dev.ifindex, &dev.name, dev.link_type);
        if let Some(e) = &mut self.export {
            e.add_slot(dev.ifindex, &dev.name, dev.link_type);
        }
        self.slots.push(SlotState {
            ifindex: dev.ifindex,
            name: dev.name.clone(),
            rate,
            live: true,
        });
        self.session.add_slot(dev, rate);
        Ok(())
    }

    /// Take what is in the ring (at most `limit` samples) into the file
    /// and the sFlow export.
    fn drain(&mut self, limit: Option<u64>) -> Result<(), CaptureError> {
        let Capture {
            ring,
            session,
            export,
            ..
        } = self;
        ring.drain(limit, &mut |r, slot, dir| {
            if let Some(e) = export.as_mut() {
                e.sample(r, slot);
            }
            session.row(r, slot, dir)
        })
    }

    fn taken(&self, ifindex: u32) -> bool {
        self.slots.iter().any(|s| s.ifindex == ifindex && s.live)
    }

    /// An interface by that name exists now and matches: take it.
    fn consider(&mut self, name: &str, events: &mut dyn FnMut(LiveEvent)) {
        let Some(rate) = self.select.rate_for(name) else {
            return;
        };
        let attached = netdev::device(name).and_then(|dev| {
            if self.taken(dev.ifindex) {
                return Ok(false);
            }
            self.attach(dev, rate).map(|_| true)
        });
        match attached {
            Ok(true) => events(LiveEvent::Attached {
                name: name.to_string(),
                rate,
            }),
            Ok(false) => {}
            // Gone again before we got to it: nothing to take.
            Err(CaptureError::UnknownInterface { .. }) => {}
            Err(e) => events(LiveEvent::Skipped {
                name: name.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Interface `ifindex` is gone; returns its name if it was named
    /// exactly (which ends the capture).
    fn gone(&mut self, ifindex: u32, events: &mut dyn FnMut(LiveEvent)) -> Option<String> {
        let s = self
            .slots
            .iter_mut()
            .find(|s| s.ifindex == ifindex && s.live)?;
        s.live = false;
        let name = s.name.clone();
        self.program.forget(ifindex);
        events(LiveEvent::Detached { name: name.clone() });
        self.select.is_named(&name).then_some(name)
    }

    /// Follow link notifications; returns an exactly named interface that
    /// went away.
    fn follow(
        &mut self,
        watch: &mut Watch,
        events: &mut dyn FnMut(LiveEvent),
    ) -> Result<Option<String>, CaptureError> {
        let mut ended = None;
        for ev in watch.events()? {
            match ev {
                LinkEvent::New { name, .. } => self.consider(&name, events),
                LinkEvent::Gone { ifindex } => {
                    ended = ended.or(self.gone(ifindex, events));
                }
                LinkEvent::Rescan => {
                    let live: Vec<(u32, String)> = self
                        .slots
                        .iter()
                        .filter(|s| s.live)
                        .map(|s| (s.ifindex, s.name.clone()))
                        .collect();
                    for (i, n) in live {
                        if netdev::ifindex(&n) != Some(i) {
                            ended = ended.or(self.gone(i, events));
                        }
                    }
                    for n in netdev::names() {
                        self.consider(&n, events);
                    }
                }
            }
        }
        Ok(ended)
    }
}

/// Capture until `stop` is set, the duration or count is reached, or an
/// error; `events` hears what happens along the way.
pub fn capture_live(
    opts: &LiveOptions,
    stop: Arc<AtomicBool>,
    events: &mut dyn FnMut(LiveEvent),
) -> Result<LiveSummary, CaptureError> {
    check_options(opts)?;
    let select = Selector::new(&opts.interfaces, opts.all_interfaces, opts.sampling_rate)?;
    preflight::check_kernel()?;
    preflight::check_privileges()?;
    // Subscribe first, so that no interface appears unseen while we list them.
    let mut watch = Watch::open()?;
    let mut initial: Vec<(Device, u32)> = Vec::new();
    for name in select.names() {
        initial.push((netdev::device(name)?, select.rate_for(name).unwrap_or(1)));
    }
    for name in netdev::names() {
        if let Some(rate) = select.rate_for(&name)
            && !select.is_named(&name)
            && let Ok(dev) = netdev::device(&name)
            && !initial.iter().any(|(d, _)| d.ifindex == dev.ifindex)
        {
            initial.push((dev, rate));
        }
    }
    let started = Instant::now();
    let (program, ring) = Program::load(opts.ring_bytes, opts.hooks)?;
    let template = CaptureMetadata::new(
        Source::Tcx {
            ring_bytes: Some(opts.ring_bytes as u64),
        },
        opts.snaplen,
    );
    let mut c = Capture {
        opts,
        select,
        program,
        ring: RingReader::new(ring, sys::monotonic_to_utc()?),
        session: Session::start(opts, template)?,
        export: opts.sflow.as_ref().map(Exporter::new).transpose()?,
        slots: Vec::new(),
    };
    for (dev, rate) in initial {
        c.attach(dev, rate)?;
    }
    events(LiveEvent::Started {
        interfaces: c.slots.iter().map(|s| (s.name.clone(), s.rate)).collect(),
    });
    let result = run(&mut c, &mut watch, &stop, started, events);
    // Detach everything (nothing runs after this), take what is left in the
    // ring, then the final counters.
    c.program.detach_all()?;
    let mut gone = None;
    let result = result.and_then(|g| {
        gone = g;
        let left = opts.count.map(|n| n.saturating_sub(c.session.rows()));
        c.drain(left)
    });
    let now = c.program.counters(c.session.slots())?;
    if let Some(e) = &mut c.export {
        e.flush(&pools(&now), true);
    }
    if let Err(e) = result {
        // A writer that failed (a full disk) closes its file at what is
        // complete, and says so; other errors leave nothing half-written.
        return Err(match e {
            CaptureError::Format(_) => c.session.finish(&now).err().unwrap_or(e),
            e => e,
        });
    }
    let bad_records = c.ring.bad_records;
    let (parts, mut metadata) = c.session.finish(&now)?;
    metadata.bad_records = bad_records;
    if let Some(name) = gone {
        return Err(CaptureError::InterfaceGone {
            name,
            kept: parts.last().cloned().unwrap_or_default(),
        });
    }
    Ok(LiveSummary {
        parts,
        metadata,
        elapsed: started.elapsed(),
        export: c.export.map(|e| (e.agent(), e.stats)),
    })
}

/// The capture loop; returns the exactly named interface that went away,
/// if one did.
fn run(
    c: &mut Capture<'_>,
    watch: &mut Watch,
    stop: &AtomicBool,
    started: Instant,
    events: &mut dyn FnMut(LiveEvent),
) -> Result<Option<String>, CaptureError> {
    let opts = c.opts;
    let mut last_status = Instant::now();
    loop {
        let mut fds = [
            libc::pollfd {
                fd: c.ring.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: watch.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // The kernel wakes us only when the ring is an eighth full, so poll
        // on a short timer too: samples wait at most this long.
        sys::poll(&mut fds, POLL_MS)?;
        let left = opts.count.map(|n| n.saturating_sub(c.session.rows()));
        c.drain(left)?;
        if c.export.as_ref().is_some_and(|e| !e.idle()) {
            let now = c.program.counters(c.session.slots())?;
            if let Some(e) = &mut c.export {
                e.flush(&pools(&now), false);
            }
        }
        if fds[1].revents != 0
            && let Some(name) = c.follow(watch, events)?
        {
            return Ok(Some(name));
        }
        if stop.load(Ordering::Relaxed)
            || opts.duration.is_some_and(|d| started.elapsed() >= d)
            || opts.count.is_some_and(|n| c.session.rows() >= n)
        {
            return Ok(None);
        }
        if c.session.due() {
            let now = c.program.counters(c.session.slots())?;
            events(LiveEvent::Part(c.session.rotate(&now)?));
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            let now = c.program.counters(c.session.slots())?;
            events(LiveEvent::Status {
                samples: c.session.rows(),
                drops: now.iter().flatten().map(|x| x.drops).sum(),
                elapsed: started.elapsed(),
            });
            last_status = Instant::now();
        }
    }
}
