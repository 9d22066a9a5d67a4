//! `capture --sflow HOST:PORT`: the live samples as sFlow v5, for any
//! collector (sFlow-RT, akvorado, pmacct, nfdump, goflow2).
//!
//! Fixing, on our side of the wire, what today's agents get wrong:
//! - `sample_pool` is the kernel's exact `packets_seen` of the interface
//!   and direction (not the sum of the rates of the samples that arrived),
//!   read at every flush (each 10 ms poll): the samples since the previous
//!   read share its growth and the last carries the counter itself; `drops`
//!   likewise, the kernel's counted drops (not 0);
//! - `frame_length` is the length on the wire plus the 4-byte FCS, with
//!   `stripped` = 4 (not the Ethernet header counted twice).
//!
//! Each direction of an interface is its own data source stream: sub-agent
//! 0 carries ingress samples (input = the interface; output = the routed
//! interface with `--fib`, else 0, unknown), sub-agent 1 egress samples
//! (output = the interface; input = where the packet came in, when known),
//! so that each direction's exact pool reaches the collector. The newest
//! sample of each stream waits (at most [`HOLD`]) for the next one, so the
//! last datagram of a capture carries the final pools. Counter samples
//! (generic interface counters from sysfs) go out every `--sflow-counters`.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use pktsample_schemas::decode::linktype;
use pktsample_schemas::sflow::{
    CounterSample, Datagram, EthCounters, FlowSample, IfCounters, Port, RawHeader, Sample, Skipped,
    Source, encode,
};
use pktsample_schemas::{Direction, SampleRow};

use crate::CaptureError;

/// Longest the newest sample of a stream waits for the next.
pub const HOLD: Duration = Duration::from_secs(1);

/// A data source's pool and drops so far (per interface and direction),
/// as whatever counts them gives them: the exporter's own type, so sFlow
/// does not depend on the kernel program's layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pool {
    pub packets_seen: u64,
    pub drops: u64,
}

/// Where and how to send.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub targets: Vec<SocketAddr>,
    /// The agent address in the datagrams (default: the address this host
    /// reaches the first collector from).
    pub agent: Option<IpAddr>,
    pub counters_every: Duration,
    /// Largest datagram (UDP payload) to send.
    pub mtu: usize,
}

/// What was sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub datagrams: u64,
    pub flow_samples: u64,
    pub counter_samples: u64,
    /// Datagrams the system refused to send (counted, never fatal).
    pub send_errors: u64,
}

struct Iface {
    ifindex: u32,
    name: String,
    link_type: u32,
}

/// One direction's stream (sub-agent).
#[derive(Default)]
struct Stream {
    sequence: u32,
    /// Flow sample sequence per interface slot.
    sample_seq: Vec<u32>,
    /// The newest sample of each slot, waiting, and when it came.
    held: Vec<Option<(FlowSample, usize, Instant)>>,
    /// Samples to send, with their slot.
    queue: Vec<(FlowSample, usize)>,
    /// The pool and drops the last sample sent of each slot carried.
    sent: Vec<(u64, u64)>,
}

/// The exporter of a live capture.
pub struct Exporter {
    socks: Vec<(UdpSocket, SocketAddr)>,
    agent: IpAddr,
    mtu: usize,
    counters_every: Duration,
    last_counters: Option<Instant>,
    started: Instant,
    ifaces: Vec<Iface>,
    streams: [Stream; 2],
    pub stats: ExportStats,
}

/// Bytes of a datagram's header with this agent.
fn datagram_header(agent: &IpAddr) -> usize {
    if agent.is_ipv4() { 28 } else { 40 }
}

/// Bytes of a compact flow sample with a raw header of `n` bytes.
fn flow_size(n: usize) -> usize {
    8 + 32 + 8 + 16 + n.div_ceil(4) * 4
}

impl Exporter {
    pub fn new(opts: &ExportOptions) -> Result<Self, CaptureError> {
        let mut socks = Vec::new();
        for t in &opts.targets {
            let bind: SocketAddr = if t.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let err = |source| CaptureError::Export {
                addr: t.to_string(),
                source,
            };
            let s = UdpSocket::bind(bind).map_err(err)?;
            s.set_nonblocking(true).map_err(err)?;
            socks.push((s, *t));
        }
        let agent = match opts.agent {
            Some(a) => a,
            None => primary_address(&opts.targets),
        };
        Ok(Exporter {
            socks,
            agent,
            mtu: opts.mtu.max(256),
            counters_every: opts.counters_every,
            last_counters: None,
            started: Instant::now(),
            ifaces: Vec::new(),
            streams: Default::default(),
            stats: ExportStats::default(),
        })
    }

    pub fn agent(&self) -> IpAddr {
        self.agent
    }

    /// A new interface slot.
    pub fn add_slot(&mut self, ifindex: u32, name: &str, link_type: u32) {
        self.ifaces.push(Iface {
            ifindex,
            name: name.into(),
            link_type,
        });
        for s in &mut self.streams {
            s.sample_seq.push(0);
            s.held.push(None);
            s.sent.push((0, 0));
        }
    }

    /// One sample of interface slot `slot`.
    pub fn sample(&mut self, r: &SampleRow<'_>, slot: usize) {
        let dir = usize::from(r.direction == Direction::Egress);
        let Some(iface) = self.ifaces.get(slot) else {
            return;
        };
        let l3 = iface.link_type != linktype::ETHERNET;
        let (protocol, fcs) = match (l3, r.header.first().map(|b| b >> 4)) {
            (false, _) => (1, 4),
            (true, Some(6)) => (12, 0),
            (true, _) => (11, 0),
        };
        let port = |i: Option<u32>| Port::Index(i.unwrap_or(0));
        let (input, output) = if dir == 0 {
            (Port::Index(iface.ifindex), port(r.routed_ifindex))
        } else {
            (port(r.ingress_ifindex), Port::Index(iface.ifindex))
        };
        let st = &mut self.streams[dir];
        st.sample_seq[slot] = st.sample_seq[slot].wrapping_add(1);
        let f = FlowSample {
            expanded: false,
            sequence: st.sample_seq[slot],
            source: Source {
                kind: 0,
                index: iface.ifindex,
            },
            sampling_rate: r.sampling_rate,
            sample_pool: 0,
            drops: 0,
            input,
            output,
            header: Some(RawHeader {
                protocol,
                frame_length: r.pkt_len + fcs,
                stripped: fcs,
                bytes: r.header.to_vec(),
            }),
            gateway: None,
        };
        if let Some((old, s, _)) = st.held[slot].replace((f, slot, Instant::now())) {
            st.queue.push((old, s));
        }
    }

    /// Nothing to send at the next flush: no sample waiting, counters not
    /// due (the capture then does not read the kernel's counters).
    pub fn idle(&self) -> bool {
        self.streams
            .iter()
            .all(|s| s.queue.is_empty() && s.held.iter().all(Option::is_none))
            && self
                .last_counters
                .is_some_and(|t| t.elapsed() < self.counters_every)
    }

    /// Send what is due: queued samples, held ones older than [`HOLD`]
    /// (all of them when `last`), and counter samples when due, with the
    /// kernel's counters `now` (per slot, per direction).
    pub fn flush(&mut self, now: &[[Pool; 2]], last: bool) {
        for dir in 0..2 {
            let st = &mut self.streams[dir];
            for h in st.held.iter_mut() {
                if h.as_ref()
                    .is_some_and(|(_, _, t)| last || t.elapsed() >= HOLD)
                {
                    let (f, s, _) = h.take().expect("checked");
                    st.queue.push((f, s));
                }
            }
            self.send_queue(dir, now);
        }
        let due = self
            .last_counters
            .is_none_or(|t| t.elapsed() >= self.counters_every);
        if due || last {
            self.last_counters = Some(Instant::now());
            self.send_counters();
        }
    }

    /// Send the queued samples of stream `dir`. The kernel's counters are
    /// read once per flush, so the samples of a slot queued since the last
    /// flush share the pool's growth evenly (the last one carries the
    /// counter itself): collectors that scale each sample by its pool's
    /// difference (sfacctd) see about the rate each, and the sum is exact.
    fn send_queue(&mut self, dir: usize, now: &[[Pool; 2]]) {
        let queue = std::mem::take(&mut self.streams[dir].queue);
        let mut left = vec![0u64; self.ifaces.len()];
        for (_, slot) in &queue {
            left[*slot] += 1;
        }
        let mut batch: Vec<Sample> = Vec::new();
        let mut size = datagram_header(&self.agent);
        for (mut f, slot) in queue {
            let c = now.get(slot).map(|c| c[dir]).unwrap_or_default();
            let (pool, drops) = &mut self.streams[dir].sent[slot];
            let k = left[slot];
            *pool += c.packets_seen.saturating_sub(*pool) / k;
            *drops += c.drops.saturating_sub(*drops) / k;
            left[slot] -= 1;
            // 32-bit counters that wrap, as the spec has them.
            f.sample_pool = *pool as u32;
            f.drops = *drops as u32;
            let n = flow_size(f.header.as_ref().map_or(0, |h| h.bytes.len()));
            if !batch.is_empty() && size + n > self.mtu {
                self.send(dir, std::mem::take(&mut batch));
                size = datagram_header(&self.agent);
            }
            size += n;
            self.stats.flow_samples += 1;
            batch.push(Sample::Flow(f));
        }
        if !batch.is_empty() {
            self.send(dir, batch);
        }
    }

    fn send_counters(&mut self) {
        let up = self.started.elapsed();
        let samples: Vec<Sample> = self
            .ifaces
            .iter()
            .enumerate()
            .map(|(k, i)| {
                Sample::Counters(CounterSample {
                    expanded: false,
                    sequence: (up.as_secs() as u32).wrapping_add(k as u32),
                    source: Source {
                        kind: 0,
                        index: i.ifindex,
                    },
                    interface: Some(sysfs_counters(i)),
                    ethernet: (i.link_type == linktype::ETHERNET).then(|| sysfs_ethernet(i)),
                })
            })
            .collect();
        self.stats.counter_samples += samples.len() as u64;
        // Counter samples of 88 bytes each: a dozen fit any datagram.
        for chunk in samples.chunks(12) {
            self.send(0, chunk.to_vec());
        }
    }

    fn send(&mut self, dir: usize, samples: Vec<Sample>) {
        let st = &mut self.streams[dir];
        st.sequence = st.sequence.wrapping_add(1);
        let d = Datagram {
            agent: self.agent,
            sub_agent: dir as u32,
            sequence: st.sequence,
            uptime_ms: self.started.elapsed().as_millis() as u32,
            samples,
            skipped: Skipped::default(),
        };
        let bytes = encode(&d);
        self.stats.datagrams += 1;
        for (s, t) in &self.socks {
            if s.send_to(&bytes, t).is_err() {
                self.stats.send_errors += 1;
            }
        }
    }
}

/// The address this host reaches the first collector from (no packet is
/// sent: a UDP connect only picks the route).
fn primary_address(targets: &[SocketAddr]) -> IpAddr {
    let fallback = IpAddr::from([0, 0, 0, 0]);
    let Some(t) = targets.first() else {
        return fallback;
    };
    let bind: SocketAddr = if t.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    UdpSocket::bind(bind)
        .and_then(|s| {
            s.connect(t)?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(fallback)
}

fn sysfs(i: &Iface, f: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/sys/class/net/{}/{f}", i.name))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// The Ethernet counters the kernel keeps: alignment (frame) errors, FCS
/// (CRC) errors, frames too long (length errors), collisions (as single
/// collisions); the others unknown (2³²−1).
fn sysfs_ethernet(i: &Iface) -> EthCounters {
    let mut e = EthCounters([u32::MAX; 13]);
    for (k, f) in [
        (0, "statistics/rx_frame_errors"),
        (1, "statistics/rx_crc_errors"),
        (2, "statistics/collisions"),
        (10, "statistics/rx_length_errors"),
    ] {
        if let Some(v) = sysfs(i, f) {
            e.0[k] = v as u32;
        }
    }
    e
}

/// The interface's counters as the kernel keeps them
/// (`/sys/class/net/NAME/statistics`); broadcast counts unknown (2³²−1,
/// as the spec has it).
fn sysfs_counters(i: &Iface) -> IfCounters {
    let read = |f: &str| sysfs(i, f).unwrap_or(0);
    let rx = read("statistics/rx_packets");
    let mc = read("statistics/multicast");
    let up = std::fs::read_to_string(format!("/sys/class/net/{}/operstate", i.name))
        .is_ok_and(|s| s.trim() != "down");
    IfCounters {
        if_index: i.ifindex,
        if_type: 6,
        if_speed: read("speed").saturating_mul(1_000_000),
        if_direction: 1,
        if_status: if up { 3 } else { 0 },
        in_octets: read("statistics/rx_bytes"),
        in_ucast: rx.saturating_sub(mc) as u32,
        in_multicast: mc as u32,
        in_broadcast: u32::MAX,
        in_discards: read("statistics/rx_dropped") as u32,
        in_errors: read("statistics/rx_errors") as u32,
        in_unknown_protos: 0,
        out_octets: read("statistics/tx_bytes"),
        out_ucast: read("statistics/tx_packets") as u32,
        out_multicast: 0,
        out_broadcast: u32::MAX,
        out_discards: read("statistics/tx_dropped") as u32,
        out_errors: read("statistics/tx_errors") as u32,
        promiscuous: 0,
    }
}
