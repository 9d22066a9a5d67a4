//! What the row pass accumulates: per-stratum sums, their merge, and
//! each worker thread's partial aggregate.

use std::sync::Mutex;

use pktsample_schemas::CaptureMetadata;
use rustc_hash::FxHashMap;

use crate::stats::Cell;

use super::StratumKey;
use super::addrs::{AddrBuf, AddrKey};
use super::flows::FlowBuf;
use super::tables::{ProtoSums, Protocols, SIZE_CLASSES};

/// Protocol classes drawn over time: TCP, UDP, ICMP, ICMPv6, other IP.
pub const TIME_CLASSES: [&str; 5] = ["tcp", "udp", "icmp", "icmpv6", "other-ip"];

/// IP protocol -> index into [`TIME_CLASSES`].
pub(super) const TIME_CLASS: [u8; 256] = {
    let mut t = [4u8; 256];
    t[6] = 0;
    t[17] = 1;
    t[1] = 2;
    t[58] = 3;
    t
};

/// One time bucket's sums: by IP version (index as
/// [`StratumAgg::ip_version`]; their sum is the bucket's total), and by
/// protocol class of the IP rows (only when the protocol columns are read).
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeCell {
    pub version: [Cell; 3],
    pub class: [Cell; TIME_CLASSES.len()],
}

impl TimeCell {
    pub fn total(&self) -> Cell {
        let mut c = self.version[0];
        c.merge(&self.version[1]);
        c.merge(&self.version[2]);
        c
    }

    pub(super) fn merge(&mut self, o: &TimeCell) {
        for (a, b) in self.version.iter_mut().zip(&o.version) {
            a.merge(b);
        }
        for (a, b) in self.class.iter_mut().zip(&o.class) {
            a.merge(b);
        }
    }
}

/// Sums that merge.
trait Merge {
    fn merge_from(&mut self, o: &Self);
}

impl Merge for Cell {
    fn merge_from(&mut self, o: &Self) {
        self.merge(o);
    }
}

impl Merge for TimeCell {
    fn merge_from(&mut self, o: &Self) {
        self.merge(o);
    }
}

/// Sums of one stratum.
#[derive(Clone, Debug, Default)]
pub struct StratumAgg {
    /// Samples in the stratum before the time filter (the design's n).
    pub rows: u64,
    pub total: Cell,
    /// Index 0: not IP, 1: IPv4, 2: IPv6.
    pub ip_version: [Cell; 3],
    /// EtherTypes, IP protocols and services (when asked for).
    pub protocols: Option<ProtoSums>,
    pub size: [Cell; SIZE_CLASSES.len()],
    /// Bucket index (timestamp / interval) -> sums.
    pub time: FxHashMap<i64, TimeCell>,
    /// (source origin key, destination origin key) -> sums; see
    /// `Origin::key`.
    pub as_pairs: FxHashMap<(u64, u64), Cell>,
    /// Pair sums by the folder's origin slots (packed src << 32 | dst),
    /// while a unit is being read; moved to `as_pairs` at its end.
    pub(super) pair_slots: FxHashMap<u64, Cell>,
    /// `encap` stack ("" for none) -> sums (when the section is asked for).
    pub encap: FxHashMap<Box<str>, Cell>,
    /// (source, destination) Kubernetes side keys -> sums (see
    /// `engine::k8s::side_key`; when a Kubernetes section is asked for).
    pub k8s_pairs: FxHashMap<(Box<str>, Box<str>), Cell>,
    /// (source side key, destination origin key) -> sums of the traffic
    /// leaving the cluster (with an ASN database).
    pub k8s_leaving_as: FxHashMap<(Box<str>, u64), Cell>,
    /// What `--k8s-policy` would deny, by connection (see
    /// `engine::policy`), and what it could not judge (to or from a
    /// service's virtual IP).
    pub denied: FxHashMap<super::policy::DeniedKey, Cell>,
    pub unjudged: Cell,
    /// TCP SYN-without-ACK samples (connections opened) by destination
    /// port, and by the remote address's origin key (with a database and
    /// a direction); TCP samples with no flags to tell.
    pub syn_services: FxHashMap<u16, Cell>,
    pub syn_remote: FxHashMap<u64, Cell>,
    pub syn_unknown: Cell,
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
}

fn merge_map<K: std::hash::Hash + Eq, V: Merge + Default, S: std::hash::BuildHasher>(
    a: &mut std::collections::HashMap<K, V, S>,
    b: std::collections::HashMap<K, V, S>,
) {
    if a.is_empty() {
        *a = b;
        return;
    }
    for (k, c) in b {
        a.entry(k).or_default().merge_from(&c);
    }
}

impl StratumAgg {
    pub(super) fn merge(&mut self, o: StratumAgg) {
        self.rows += o.rows;
        self.total.merge(&o.total);
        for i in 0..3 {
            self.ip_version[i].merge(&o.ip_version[i]);
        }
        for i in 0..SIZE_CLASSES.len() {
            self.size[i].merge(&o.size[i]);
        }
        match (&mut self.protocols, o.protocols) {
            (Some(a), Some(b)) => a.merge(&b),
            (a @ None, b) => *a = b,
            (_, None) => {}
        }
        merge_map(&mut self.time, o.time);
        merge_map(&mut self.as_pairs, o.as_pairs);
        merge_map(&mut self.encap, o.encap);
        merge_map(&mut self.k8s_pairs, o.k8s_pairs);
        merge_map(&mut self.k8s_leaving_as, o.k8s_leaving_as);
        merge_map(&mut self.denied, o.denied);
        self.unjudged.merge(&o.unjudged);
        merge_map(&mut self.syn_services, o.syn_services);
        merge_map(&mut self.syn_remote, o.syn_remote);
        self.syn_unknown.merge(&o.syn_unknown);
        self.first_ns = match (self.first_ns, o.first_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ns = match (self.last_ns, o.last_ns) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// A partial (then the final) aggregate.
#[derive(Debug, Default)]
pub struct Aggregate {
    pub strata: FxHashMap<StratumKey, StratumAgg>,
}

impl Aggregate {
    pub(super) fn merge(mut self, o: Aggregate) -> Aggregate {
        if self.strata.len() < o.strata.len() {
            return o.merge(self);
        }
        for (k, s) in o.strata {
            match self.strata.get_mut(&k) {
                Some(t) => t.merge(s),
                None => {
                    self.strata.insert(k, s);
                }
            }
        }
        self
    }
}

/// What one worker thread accumulates over the units it reads (rayon
/// folds units into one per thread, then reduces those): one set of maps
/// per thread rather than per row group keeps memory and merging small
/// when there are many addresses and AS pairs.
pub(super) struct ThreadAcc {
    pub(super) agg: Aggregate,
    /// Metadata of pcap/pcapng inputs, known once read.
    pub(super) metas: Vec<(usize, CaptureMetadata)>,
    /// Address entries not yet spilled: this accumulator's, and those of
    /// the ones merged into it.
    pub(super) addrs: AddrBuf,
    pub(super) more_addrs: Vec<AddrBuf>,
    /// Flow entries, likewise.
    pub(super) flows: FlowBuf,
    pub(super) more_flows: Vec<FlowBuf>,
    /// Vectors of flushed dictionaries, for the next ones.
    pub(super) spare_keys: Vec<Vec<Option<AddrKey>>>,
    pub(super) spare_cells: Vec<Vec<Cell>>,
    /// Dense protocol tables of the row pass, zeroed, for the next batch.
    pub(super) spare_protos: Vec<Protocols>,
    /// EtherType -> slot (u8::MAX: none yet), and slot -> EtherType.
    pub(super) eth_slot: Vec<u8>,
    pub(super) eth_keys: Vec<u16>,
    /// Origins (AS or class) met so far, as dense slots for the AS pairs:
    /// origin key -> slot, and slot -> key.
    pub(super) origin_slot: FxHashMap<u64, u32>,
    pub(super) origin_keys: Vec<u64>,
}

impl ThreadAcc {
    pub(super) fn new() -> ThreadAcc {
        ThreadAcc {
            agg: Aggregate::default(),
            metas: Vec::new(),
            addrs: AddrBuf::default(),
            more_addrs: Vec::new(),
            flows: FlowBuf::default(),
            more_flows: Vec::new(),
            spare_keys: Vec::new(),
            spare_cells: Vec::new(),
            spare_protos: Vec::new(),
            eth_slot: vec![u8::MAX; 65536],
            eth_keys: Vec::new(),
            origin_slot: FxHashMap::default(),
            origin_keys: Vec::new(),
        }
    }

    /// Re-key the AS pairs from this thread's slots to origin keys.
    pub(super) fn resolve_pairs(&mut self) {
        let keys = &self.origin_keys;
        for a in self.agg.strata.values_mut() {
            for (k, c) in a.pair_slots.drain() {
                let pair = (keys[(k >> 32) as usize], keys[(k & 0xffff_ffff) as usize]);
                a.as_pairs.entry(pair).or_default().merge(&c);
            }
        }
    }

    pub(super) fn merge(mut self, mut o: ThreadAcc) -> ThreadAcc {
        self.resolve_pairs();
        o.resolve_pairs();
        self.agg = std::mem::take(&mut self.agg).merge(o.agg);
        self.metas.extend(o.metas);
        // Address entries are not merged: the reductions read every buffer.
        self.more_addrs.push(o.addrs);
        self.more_addrs.extend(o.more_addrs);
        self.more_flows.push(o.flows);
        self.more_flows.extend(o.more_flows);
        self
    }
}

/// Dense ids of the strata, shared by the threads: the address entries
/// carry one instead of a key.
#[derive(Default)]
pub struct StratumIds {
    inner: Mutex<(FxHashMap<StratumKey, u32>, Vec<StratumKey>)>,
}

impl StratumIds {
    pub fn id(&self, k: &StratumKey) -> u32 {
        let mut g = self.inner.lock().expect("stratum ids");
        if let Some(&i) = g.0.get(k) {
            return i;
        }
        let i = g.1.len() as u32;
        g.0.insert(k.clone(), i);
        g.1.push(k.clone());
        i
    }

    /// Id -> key.
    pub fn into_keys(self) -> Vec<StratumKey> {
        self.inner.into_inner().expect("stratum ids").1
    }
}
