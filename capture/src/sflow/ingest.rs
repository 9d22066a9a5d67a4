//! From sFlow datagrams to sample rows and the pools that scale them.
//!
//! A stratum is a data source (agent, sub-agent, source id) at one rate, in
//! one life of its agent. Each flow sample carries the data source's
//! cumulative `sample_pool` and `drops` (32-bit, wrapping): the difference
//! from the previous sample of the same source is the packets (and drops)
//! the sample stands for, so a stratum's pool over a file is the sum of its
//! samples' differences, the first value's difference taken from the
//! previous sample (the previous file's, when rotating) or, for the first
//! sample heard, from 0 when its sequence number is 1 (the agent started
//! while we listened) and else one sampling interval (we joined
//! mid-stream). Gaps in flow sample sequence numbers are samples lost in
//! transit: their packets are in the next sample's difference, and they
//! count as drops. Gaps in datagram sequence numbers are lost datagrams.
//! An agent whose sequence or uptime goes back started again: its data
//! sources begin new strata (named `…@2`, `…@3`).
//!
//! Written by hand: no collector library keeps exact pools (they scale by
//! the rate alone).

use std::collections::BTreeMap;
use std::net::IpAddr;

use pktsample_schemas::sflow::meta::{AgentMeta, CounterPoint, CounterSpan, SflowMeta};
use pktsample_schemas::sflow::{self, Datagram, FlowSample, Port, Sample, Source};
use pktsample_schemas::{Direction, DirectionStats, InterfaceMeta, SampleRow};
use rustc_hash::FxHashMap;

/// A datagram whose sequence number went back by fewer than this many,
/// within [`LATE_MS`] of uptime, came late; further back, the agent
/// started again.
const LATE_DATAGRAMS: u32 = 64;
const LATE_MS: u32 = 2_000;
/// Errors kept, word for word, per file.
const ERRORS_KEPT: usize = 10;

/// Where rows go: a row and, from an extended gateway record, its source
/// and destination AS.
pub trait RowSink {
    fn row(&mut self, r: &SampleRow<'_>, asns: Option<(u32, u32)>);
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct SourceKey {
    agent: IpAddr,
    sub_agent: u32,
    source: Source,
}

struct Agent {
    sequence: u32,
    uptime_ms: u32,
    /// Lives so far (0 for the first).
    epoch: u32,
    /// This file's counts.
    meta: AgentMeta,
}

/// A data source in its agent's current life.
struct SourceState {
    epoch: u32,
    ifindex: u32,
    name: String,
    /// The last flow sample's sequence, pool and drops.
    last: Option<(u32, u32, u32)>,
    /// The first counter sample of this file and the latest.
    counters: Option<(CounterPoint, CounterPoint)>,
}

/// A data source at one rate: this file's counts.
#[derive(Default)]
struct Stratum {
    ifindex: u32,
    name: String,
    rate: u32,
    link_type: u32,
    pool: u64,
    drops: u64,
    /// Rows per direction.
    rows: [u64; 3],
}

/// The ingest state of a collector or a conversion; [`Ingest::take_part`]
/// ends a file.
#[derive(Default)]
pub struct Ingest {
    agents: FxHashMap<(IpAddr, u32), Agent>,
    agent_order: Vec<(IpAddr, u32)>,
    sources: FxHashMap<SourceKey, SourceState>,
    /// The name of each data source's ifindex (strata take it).
    names: FxHashMap<u32, String>,
    strata: Vec<Stratum>,
    stratum_of: FxHashMap<(u32, u32), usize>,
    next_ifindex: u32,
    meta: SflowMeta,
    rows: u64,
}

/// The strata and sFlow section of one file.
pub struct Part {
    pub interfaces: Vec<InterfaceMeta>,
    pub sflow: SflowMeta,
    pub rows: u64,
}

impl Ingest {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows given to the sink since the file began.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Read one datagram that arrived at `time_ns`. A datagram that cannot
    /// be read is counted (and its error kept) and gives no rows.
    pub fn datagram(&mut self, bytes: &[u8], time_ns: i64, sink: &mut dyn RowSink) {
        match sflow::decode(bytes) {
            Ok(d) => self.read(&d, time_ns, sink),
            Err(e) => {
                self.meta.bad_datagrams += 1;
                if self.meta.errors.len() < ERRORS_KEPT {
                    self.meta.errors.push(e.to_string());
                }
            }
        }
    }

    fn read(&mut self, d: &Datagram, time_ns: i64, sink: &mut dyn RowSink) {
        self.meta.skipped_samples += u64::from(d.skipped.samples);
        self.meta.skipped_records += u64::from(d.skipped.records);
        let Some(epoch) = self.sequence(d) else {
            return;
        };
        for s in &d.samples {
            match s {
                Sample::Flow(f) => self.flow(d, epoch, f, time_ns, sink),
                Sample::Counters(c) => {
                    if let Some(ifc) = &c.interface {
                        let p = CounterPoint::new(time_ns, ifc, c.ethernet);
                        let st = self.source(d, epoch, c.source);
                        match &mut st.counters {
                            Some((_, last)) => *last = p,
                            None => st.counters = Some((p.clone(), p)),
                        }
                    }
                }
            }
        }
    }

    /// Check the datagram's sequence number: its agent's life, or `None`
    /// for a datagram that came late.
    fn sequence(&mut self, d: &Datagram) -> Option<u32> {
        let key = (d.agent, d.sub_agent);
        let Some(a) = self.agents.get_mut(&key) else {
            self.agent_order.push(key);
            self.agents.insert(
                key,
                Agent {
                    sequence: d.sequence,
                    uptime_ms: d.uptime_ms,
                    epoch: 0,
                    meta: agent_meta(d),
                },
            );
            return Some(0);
        };
        a.meta.datagrams += 1;
        let ahead = d.sequence.wrapping_sub(a.sequence);
        let back = a.sequence.wrapping_sub(d.sequence);
        let uptime_back = a.uptime_ms.wrapping_sub(d.uptime_ms);
        let uptime_went_back = uptime_back != 0 && uptime_back < 1 << 31;
        if ahead != 0 && ahead < 1 << 31 && !(uptime_went_back && uptime_back > LATE_MS) {
            a.meta.lost_datagrams += u64::from(ahead - 1);
        } else if back < LATE_DATAGRAMS && (!uptime_went_back || uptime_back <= LATE_MS) {
            a.meta.late_datagrams += 1;
            return None;
        } else {
            a.epoch += 1;
            a.meta.restarts += 1;
        }
        a.sequence = d.sequence;
        a.uptime_ms = d.uptime_ms;
        Some(a.epoch)
    }

    /// The data source's state in this life of its agent.
    fn source(&mut self, d: &Datagram, epoch: u32, source: Source) -> &mut SourceState {
        let key = SourceKey {
            agent: d.agent,
            sub_agent: d.sub_agent,
            source,
        };
        let st = self.sources.entry(key).or_insert_with(|| SourceState {
            epoch,
            ifindex: 0,
            name: String::new(),
            last: None,
            counters: None,
        });
        if st.ifindex == 0 || st.epoch != epoch {
            self.next_ifindex += 1;
            *st = SourceState {
                epoch,
                ifindex: self.next_ifindex,
                name: source_name(&key, epoch),
                last: None,
                counters: None,
            };
            self.names.insert(st.ifindex, st.name.clone());
        }
        st
    }

    fn flow(
        &mut self,
        d: &Datagram,
        epoch: u32,
        f: &FlowSample,
        time_ns: i64,
        sink: &mut dyn RowSink,
    ) {
        let agent_key = (d.agent, d.sub_agent);
        let st = self.source(d, epoch, f.source);
        let (pool, drops, lost) = match st.last {
            None if f.sequence == 1 => (f.sample_pool, f.drops, 0),
            None => (f.sampling_rate, 0, 0),
            Some((seq, p, dr)) => {
                let ahead = f.sequence.wrapping_sub(seq);
                if ahead == 0 || ahead >= 1 << 31 {
                    // A sample already stood for: a repeat.
                    return;
                }
                (
                    f.sample_pool.wrapping_sub(p),
                    f.drops.wrapping_sub(dr),
                    ahead - 1,
                )
            }
        };
        st.last = Some((f.sequence, f.sample_pool, f.drops));
        let (ifindex, source_index) = (st.ifindex, f.source.index);
        let direction = match (f.source.kind, f.input, f.output) {
            (0, Port::Index(i), _) if i == source_index => Direction::Ingress,
            (0, _, Port::Index(o)) if o == source_index => Direction::Egress,
            _ => Direction::Unknown,
        };
        if let Some(a) = self.agents.get_mut(&agent_key) {
            a.meta.lost_samples += u64::from(lost);
        }
        let usable = match &f.header {
            None => Err("no raw packet header record"),
            Some(_) if f.sampling_rate == 0 => Err("sampling rate 0"),
            Some(h) => sflow::link_type(h.protocol)
                .map(|lt| (h, lt))
                .ok_or("header protocol not decoded"),
        };
        let link_type = usable.as_ref().map_or(0, |u| u.1);
        let k = self.stratum(ifindex, f.sampling_rate, link_type);
        let s = &mut self.strata[k];
        s.pool += u64::from(pool);
        s.drops += u64::from(drops) + u64::from(lost);
        let (h, link_type) = match usable {
            Ok(u) => u,
            Err(why) => {
                s.drops += 1;
                *self.meta.unusable_samples.entry(why.into()).or_default() += 1;
                return;
            }
        };
        s.rows[direction.index()] += 1;
        self.rows += 1;
        let port = |p: Port| match p {
            Port::Index(i) => Some(i),
            _ => None,
        };
        let r = SampleRow {
            timestamp_ns: time_ns,
            ifindex,
            ifname: &self.strata[k].name,
            direction,
            sampling_rate: f.sampling_rate,
            pkt_len: pkt_len(h.frame_length, h.stripped, h.bytes.len()),
            header: &h.bytes[..h.bytes.len().min(usize::from(u16::MAX))],
            link_type,
            ingress_ifindex: port(f.input),
            routed_ifindex: port(f.output),
        };
        let asns = f.gateway.as_ref().map(|g| (g.src_as, g.dst_as()));
        sink.row(&r, asns);
    }

    fn stratum(&mut self, ifindex: u32, rate: u32, link_type: u32) -> usize {
        if let Some(&k) = self.stratum_of.get(&(ifindex, rate)) {
            return k;
        }
        let name = self.names.get(&ifindex).cloned().unwrap_or_default();
        self.strata.push(Stratum {
            ifindex,
            name,
            rate,
            link_type,
            ..Default::default()
        });
        self.stratum_of
            .insert((ifindex, rate), self.strata.len() - 1);
        self.strata.len() - 1
    }

    /// End a file: its strata (a data source seen in one direction keeps
    /// its pool under that direction; seen in several, under `unknown`
    /// with `shared_pool`) and its sFlow section. Counts start again from
    /// here; sequence numbers and pools carry on into the next file.
    pub fn take_part(&mut self) -> Part {
        let mut interfaces = Vec::new();
        for s in std::mem::take(&mut self.strata) {
            let seen: Vec<Direction> = Direction::ALL
                .into_iter()
                .filter(|d| s.rows[d.index()] > 0)
                .collect();
            let (direction, shared) = match seen[..] {
                [d] => (d, false),
                [] => (Direction::Unknown, false),
                _ => (Direction::Unknown, true),
            };
            let stats = DirectionStats {
                packets_seen: s.pool,
                samples: s.rows.iter().sum(),
                drops: s.drops,
            };
            interfaces.push(InterfaceMeta {
                ifindex: s.ifindex,
                name: s.name,
                mac: None,
                mtu: None,
                sampling_rate: s.rate,
                link_type: s.link_type,
                directions: BTreeMap::from([(direction, stats)]),
                shared_pool: shared,
            });
        }
        self.stratum_of.clear();
        let mut meta = std::mem::take(&mut self.meta);
        for key in &self.agent_order {
            if let Some(a) = self.agents.get_mut(key) {
                let m = std::mem::replace(&mut a.meta, agent_meta_of(key));
                if m.datagrams > 0 {
                    meta.agents.push(m);
                }
            }
        }
        let mut sources: Vec<&mut SourceState> = self.sources.values_mut().collect();
        sources.sort_by_key(|s| s.ifindex);
        for s in sources {
            if let Some((first, last)) = s.counters.take() {
                meta.counters.push(CounterSpan {
                    interface: s.name.clone(),
                    first,
                    // The next file's span starts where this one ended.
                    last: last.clone(),
                });
                s.counters = Some((last.clone(), last));
            }
        }
        Part {
            interfaces,
            sflow: meta,
            rows: std::mem::take(&mut self.rows),
        }
    }
}

fn agent_meta(d: &Datagram) -> AgentMeta {
    AgentMeta {
        datagrams: 1,
        ..agent_meta_of(&(d.agent, d.sub_agent))
    }
}

fn agent_meta_of(key: &(IpAddr, u32)) -> AgentMeta {
    AgentMeta {
        agent: key.0.to_string(),
        sub_agent: key.1,
        ..Default::default()
    }
}

/// `192.0.2.1/0/3`: agent, sub-agent and data source (`vlan7`, `ent9`
/// for the VLAN and entity kinds), `@2` from the agent's second life.
fn source_name(k: &SourceKey, epoch: u32) -> String {
    let kind = match k.source.kind {
        0 => "",
        1 => "vlan",
        2 => "ent",
        _ => "src",
    };
    let mut s = format!("{}/{}/{kind}{}", k.agent, k.sub_agent, k.source.index);
    if epoch > 0 {
        s.push_str(&format!("@{}", epoch + 1));
    }
    s
}

/// The packet's length as pktsample counts it: the frame length less the
/// stripped bytes (the FCS, for Ethernet), never less than the header
/// bytes given.
pub fn pkt_len(frame_length: u32, stripped: u32, header: usize) -> u32 {
    frame_length
        .saturating_sub(stripped)
        .max(u32::try_from(header).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pktsample_schemas::sflow::{Datagram, FlowSample, RawHeader, Skipped, encode};

    struct Count(u64);
    impl RowSink for Count {
        fn row(&mut self, _: &SampleRow<'_>, _: Option<(u32, u32)>) {
            self.0 += 1;
        }
    }

    fn datagram(seq: u32, uptime_ms: u32, samples: &[(u32, u32)]) -> Vec<u8> {
        let flow = |&(sequence, sample_pool): &(u32, u32)| {
            Sample::Flow(FlowSample {
                expanded: false,
                sequence,
                source: Source { kind: 0, index: 4 },
                sampling_rate: 64,
                sample_pool,
                drops: 0,
                input: Port::Index(4),
                output: Port::Internal,
                header: Some(RawHeader {
                    protocol: 1,
                    frame_length: 68,
                    stripped: 4,
                    bytes: vec![0; 64],
                }),
                gateway: None,
            })
        };
        encode(&Datagram {
            agent: "192.0.2.1".parse().unwrap(),
            sub_agent: 0,
            sequence: seq,
            uptime_ms,
            samples: samples.iter().map(flow).collect(),
            skipped: Skipped::default(),
        })
    }

    /// Joined mid-stream, with the pool wrapping past 2³²: the first
    /// sample stands for one interval, each later one for its difference.
    #[test]
    fn pool_wraps_and_a_late_join_counts_one_interval() {
        let mut ing = Ingest::new();
        let mut sink = Count(0);
        let start = u32::MAX - 100;
        for k in 0..10u32 {
            let pool = start.wrapping_add(64 * k);
            ing.datagram(
                &datagram(500 + k, 9_000_000 + k, &[(1000 + k, pool)]),
                0,
                &mut sink,
            );
        }
        let p = ing.take_part();
        let st = p.interfaces[0].directions[&Direction::Ingress];
        assert_eq!((st.packets_seen, st.samples, st.drops), (64 * 10, 10, 0));
        assert_eq!(sink.0, 10);
        // The next file carries on from the last sample.
        ing.datagram(
            &datagram(510, 9_000_010, &[(1010, start.wrapping_add(64 * 10))]),
            0,
            &mut sink,
        );
        let p = ing.take_part();
        assert_eq!(
            p.interfaces[0].directions[&Direction::Ingress].packets_seen,
            64
        );
        assert_eq!(p.sflow.agents[0].lost_datagrams, 0);
    }

    /// Uptime going back with the sequence going forward is a restart too:
    /// a new stratum whose pool counts from zero.
    #[test]
    fn uptime_going_back_starts_a_new_stratum() {
        let mut ing = Ingest::new();
        let mut sink = Count(0);
        ing.datagram(&datagram(7, 9_000_000, &[(1, 100), (2, 200)]), 0, &mut sink);
        ing.datagram(&datagram(9, 3_000, &[(1, 50)]), 0, &mut sink);
        let p = ing.take_part();
        let names: Vec<&str> = p.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["192.0.2.1/0/4", "192.0.2.1/0/4@2"]);
        let pools: Vec<u64> = p
            .interfaces
            .iter()
            .map(|i| i.directions[&Direction::Ingress].packets_seen)
            .collect();
        assert_eq!(pools, [200, 50]);
        assert_eq!(p.sflow.agents[0].restarts, 1);
        assert_eq!(p.sflow.agents[0].lost_datagrams, 0);
    }
}
