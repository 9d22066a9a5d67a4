//! A group's estimate summed over strata, and the strata of an analysis
//! with their designs.

use pktsample_schemas::DirectionStats;

use crate::engine::{Analysis, SIZE_CLASSES, StratumAgg, StratumKey};
use crate::report::Measures;
use crate::stats::{self, Cell, Design, Est, byte_interval, packet_interval};

/// The report's samples by size class, pooled over strata: what a group's
/// or a stratum's sizes are compared with (see [`stats::smaller_than`]).
pub(super) type Pooled = [Cell; SIZE_CLASSES.len()];

/// Packets and bytes of one group, summed over strata.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct GroupEst {
    pub samples: u64,
    pub packets: Est,
    /// Its `wmax` is set when measured, from `w_frame` and `w_sample`.
    pub bytes: Est,
    /// The same over the strata where the group has no sample: they add
    /// nothing to the estimate, and bound it only when no stratum has one.
    absent_packets: Est,
    absent_bytes: Est,
    /// The largest frame of those strata.
    absent_frame: u32,
    /// The group's largest frame, and the largest its strata allow.
    max: u32,
    frame: u32,
    /// Over the strata with samples: the largest weight times the
    /// stratum's largest frame, and the largest weight.
    w_frame: f64,
    w_sample: f64,
}

impl GroupEst {
    pub fn add(&mut self, s: &Stratum, c: &Cell) {
        self.add_capped(s, c, u32::MAX);
    }

    /// Add a stratum's cell of a group whose frames are at most `cap` bytes
    /// by definition (a size class).
    pub fn add_capped(&mut self, s: &Stratum, c: &Cell, cap: u32) {
        let frame = s.frame.min(cap).max(c.max);
        let p = stats::packets(&s.design, c);
        if c.n == 0 {
            self.absent_packets.add(&p);
            self.absent_bytes.add(&stats::bytes(&s.design, c, frame));
            self.absent_frame = self.absent_frame.max(frame);
            return;
        }
        let w = stats::weight(&s.design);
        self.samples += c.n;
        self.packets.add(&p);
        self.bytes.add(&stats::bytes(&s.design, c, 0));
        self.max = self.max.max(c.max);
        self.frame = self.frame.max(frame);
        self.w_frame = self.w_frame.max(w * f64::from(frame));
        self.w_sample = self.w_sample.max(w);
    }

    /// A group no stratum sampled: 0, with the upper bound every stratum
    /// allows.
    pub fn absent(st: &[Stratum], cap: u32) -> GroupEst {
        let mut g = GroupEst::default();
        for s in st {
            g.add_capped(s, &Cell::default(), cap);
        }
        g
    }

    /// The estimates and intervals: the group's unseen packets may be as
    /// large as its strata's largest frames unless its samples bound them
    /// by its own largest ([`stats::bounded_by_own`]).
    pub fn measures(&self) -> Measures {
        if self.samples == 0 {
            // No more bytes than the packets' bound of the largest frames.
            let packets = packet_interval(&self.absent_packets);
            let mut bytes = byte_interval(&self.absent_bytes);
            bytes.high = bytes.high.min(packets.high * f64::from(self.absent_frame));
            return Measures {
                samples: 0,
                packets,
                bytes,
            };
        }
        let mut bytes = self.bytes;
        bytes.wmax = if stats::bounded_by_own(self.max, self.frame, self.bytes.observed) {
            self.w_sample * f64::from(self.max)
        } else {
            self.w_frame
        };
        Measures {
            samples: self.samples,
            packets: packet_interval(&self.packets),
            bytes: byte_interval(&bytes),
        }
    }
}

pub(super) struct Stratum<'a> {
    pub key: &'a StratumKey,
    pub agg: &'a StratumAgg,
    pub design: Design,
    pub host: &'a str,
    pub ifname: String,
    pub seen: Option<u64>,
    pub drops: u64,
    /// The largest frame its packets can plausibly be (see
    /// [`stats::stratum_frame`]).
    pub frame: u32,
}

/// The strata of an analysis, by key, and their samples by size class
/// pooled.
pub(super) fn strata(a: &Analysis) -> (Vec<Stratum<'_>>, Pooled) {
    let mut pooled = Pooled::default();
    for s in a.agg.strata.values() {
        for (p, c) in pooled.iter_mut().zip(&s.size) {
            p.merge(c);
        }
    }
    let mut v: Vec<Stratum> = a
        .agg
        .strata
        .iter()
        .map(|(k, agg)| {
            let meta = &a.inputs[k.file as usize].meta;
            let im = meta.interface(k.ifindex, k.rate);
            // Pools and drops of every file the stratum spans (a part that
            // lists the interface but not the direction saw none of it).
            let mut st = Some(DirectionStats::default());
            for (f, ifindex) in a.parts.members(k) {
                let m = a.inputs[f as usize].meta.interface(ifindex, k.rate);
                st = st.zip(m).map(|(mut t, m)| {
                    if let Some(d) = m.directions.get(&k.direction) {
                        t.packets_seen += d.packets_seen;
                        t.drops += d.drops;
                    }
                    t
                });
            }
            let pool = st
                .map(|s| s.packets_seen)
                .filter(|&m| m > 0 && m >= agg.rows);
            Stratum {
                key: k,
                agg,
                design: Design {
                    n: agg.rows,
                    pool,
                    rate: k.rate,
                },
                host: &meta.host,
                ifname: im.map_or_else(|| format!("if{}", k.ifindex), |i| i.name.clone()),
                seen: pool,
                drops: st.map_or(0, |s| s.drops),
                frame: stats::stratum_frame(&SIZE_CLASSES, &agg.size, &pooled),
            }
        })
        .collect();
    v.sort_by(|a, b| a.key.cmp(b.key));
    (v, pooled)
}
