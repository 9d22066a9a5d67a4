//! The calibration check of sFlow inputs: the sampled estimate of the
//! packets and octets an interface carried, beside the agent's own
//! interface counters over the same span, flagged when the counter falls
//! outside the estimate's 95 % interval. The sFlow maintainers recommend
//! this check (a sampler that drops or biases shows up here first); no
//! collector prints it.
//!
//! The span is from the first to the last counter sample of the data source
//! in a file; the samples counted are the data source's (any sub-agent, so
//! both directions of an exporter that sends each as its own stream) whose
//! timestamps fall after the first and up to the last. The estimate scales
//! each sample by its rate (Horvitz–Thompson: the pool spans the file, not
//! the counters' span), with the intervals analyze uses for a single
//! stratum. Octets are estimated from `pkt_len` (the frame without FCS);
//! agents whose counters include the FCS show 4 bytes a packet more.

use std::collections::BTreeMap;

use pktsample_schemas::meta::format_rfc3339_ns;
use pktsample_schemas::{Direction, FormatError, SampleColumns, read_samples};

use crate::engine::Analysis;
use crate::error::AnalyzeError;
use crate::report::CalibrationRow;
use crate::stats::{self, Design, Est};

/// Agent and data source of a stratum name (`AGENT/SUB/SOURCE[@LIFE]`),
/// without the sub-agent.
fn source_of(name: &str) -> Option<(&str, &str)> {
    let mut it = name.splitn(3, '/');
    let (agent, _sub, source) = (it.next()?, it.next()?, it.next()?);
    Some((agent, source))
}

/// Sums of the samples of one direction in a span, per rate.
#[derive(Default)]
struct Sums {
    /// rate -> (samples, Σ len, Σ len²)
    by_rate: BTreeMap<u32, (u64, f64, f64)>,
    /// The largest frame seen: what one more sample can hold at most, for
    /// the interval's upper bound (as analyze bounds a stratum by its
    /// frames).
    largest: u32,
}

impl Sums {
    fn add(&mut self, rate: u32, len: u32) {
        let e = self.by_rate.entry(rate).or_default();
        let l = f64::from(len);
        e.0 += 1;
        e.1 += l;
        e.2 += l * l;
        self.largest = self.largest.max(len);
    }

    /// (samples, packets, octets) estimates.
    fn estimates(&self) -> (u64, Est, Est) {
        let (mut n, mut pk, mut by) = (0, Est::default(), Est::default());
        for (&rate, &(k, s, s2)) in &self.by_rate {
            let d = Design {
                n: k,
                pool: None,
                rate,
            };
            n += k;
            pk.add(&stats::stratum_total(&d, k, k as f64, k as f64, 1.0));
            by.add(&stats::stratum_total(&d, k, s, s2, f64::from(self.largest)));
        }
        (n, pk, by)
    }
}

/// One span: its data source, times and the two directions' sums.
struct Span {
    agent: String,
    source: String,
    interface: String,
    start: i64,
    end: i64,
    counted: pktsample_schemas::sflow::meta::CounterDelta,
    sums: [Sums; 2],
}

/// The check's rows, for every sFlow input with counter samples.
pub(super) fn calibration(a: &Analysis) -> Result<Option<Vec<CalibrationRow>>, AnalyzeError> {
    let mut rows = Vec::new();
    for inp in a.inputs.iter().filter(|i| !i.skipped) {
        let Some(sf) = &inp.meta.sflow else {
            continue;
        };
        let mut spans: Vec<Span> = sf
            .counters
            .iter()
            .filter(|c| c.last.time_ns > c.first.time_ns)
            .filter_map(|c| {
                let (agent, source) = source_of(&c.interface)?;
                Some(Span {
                    agent: agent.into(),
                    source: source.into(),
                    interface: format!("{agent}/{source}"),
                    start: c.first.time_ns,
                    end: c.last.time_ns,
                    counted: c.delta(),
                    sums: Default::default(),
                })
            })
            .collect();
        if spans.is_empty() {
            continue;
        }
        // The spans of the last interface name seen (rows come in runs).
        let mut last: (String, Vec<usize>) = (String::new(), Vec::new());
        read_samples(&inp.path, |b| -> Result<(), FormatError> {
            let cols = SampleColumns::new(&b)?;
            for i in 0..cols.len() {
                let r = cols.row(i)?;
                let dir = match r.direction {
                    Direction::Ingress => 0,
                    Direction::Egress => 1,
                    Direction::Unknown => continue,
                };
                if last.0 != r.ifname {
                    let of = source_of(r.ifname);
                    last = (
                        r.ifname.to_string(),
                        (0..spans.len())
                            .filter(|&k| {
                                of.is_some_and(|(a, s)| spans[k].agent == a && spans[k].source == s)
                            })
                            .collect(),
                    );
                }
                for &k in &last.1 {
                    let s = &mut spans[k];
                    if r.timestamp_ns > s.start && r.timestamp_ns <= s.end {
                        s.sums[dir].add(r.sampling_rate, r.pkt_len);
                    }
                }
            }
            Ok(())
        })?;
        for s in &spans {
            let counted = [
                (s.counted.in_packets, s.counted.in_octets),
                (s.counted.out_packets, s.counted.out_octets),
            ];
            for (dir, (name, sums)) in ["in", "out"].iter().zip(&s.sums).enumerate() {
                let (n, pk, by) = sums.estimates();
                if n == 0 {
                    continue;
                }
                let packets = stats::packet_interval(&pk);
                let bytes = stats::byte_interval(&by);
                let (cp, cb) = counted[dir];
                rows.push(CalibrationRow {
                    interface: s.interface.clone(),
                    direction: (*name).into(),
                    start: format_rfc3339_ns(s.start),
                    end: format_rfc3339_ns(s.end),
                    samples: n,
                    packets_within: (packets.low..=packets.high).contains(&(cp as f64)),
                    bytes_within: (bytes.low..=bytes.high).contains(&(cb as f64)),
                    packets,
                    counter_packets: cp,
                    bytes,
                    counter_bytes: cb,
                });
            }
        }
    }
    Ok((!rows.is_empty()).then_some(rows))
}
