//! Dense lookup tables of the row pass: size classes, IP versions,
//! service ports, transports, and the dense protocol sums of a stratum.

use crate::stats::Cell;

use super::columns::select;

/// Size classes of the packet-size distribution (RMON-style, jumbo last).
pub const SIZE_CLASSES: [(u32, u32); 8] = [
    (0, 63),
    (64, 64),
    (65, 127),
    (128, 255),
    (256, 511),
    (512, 1023),
    (1024, 1518),
    (1519, u32::MAX),
];

/// IP version byte -> 0 (not IP), 1 (IPv4), 2 (IPv6).
pub(super) static VERSION_INDEX: [u8; 256] = {
    let mut t = [0u8; 256];
    t[4] = 1;
    t[6] = 2;
    t
};

/// Packet length -> index in [`SIZE_CLASSES`], by table, built from those
/// classes (lengths past 1518 share the last).
pub(super) static SIZE_INDEX: [u8; 1520] = {
    let mut t = [0u8; 1520];
    let mut l = 0;
    while l < 1520 {
        let mut c = 0;
        while (l as u32) > SIZE_CLASSES[c].1 {
            c += 1;
        }
        t[l] = c as u8;
        l += 1;
    }
    t
};

#[inline(always)]
pub(super) fn size_index(len: u32) -> usize {
    SIZE_INDEX[(len as usize).min(1519)] as usize
}

#[cfg(test)]
#[test]
pub(super) fn port_slots_match_the_port_list() {
    let t = ports();
    for (slot, &p) in t.port.iter().enumerate() {
        assert_eq!(t.slot(p) as usize, slot, "port {p}");
    }
}

#[cfg(test)]
#[test]
pub(super) fn size_table_matches_classes() {
    for l in 0..3000u32 {
        let (lo, hi) = SIZE_CLASSES[size_index(l)];
        assert!((lo..=hi).contains(&l), "{l}");
    }
}

/// Ports as dense slots: every port below 1024, then the named ports above,
/// then one slot for "other". Built once.
pub(super) struct PortTable {
    /// One bit per port: has a service name (8 KiB, stays in L1).
    known: Vec<u64>,
    /// Slot -> port.
    port: Vec<u16>,
    /// Named ports of 1024 and above before each 64-port word: with the
    /// bitmap, the rank of a named high port (2 KiB, stays in L1).
    rank: Vec<u16>,
}

impl PortTable {
    #[inline(always)]
    pub(super) fn is_known(&self, p: u16) -> bool {
        self.known[(p >> 6) as usize] & (1 << (p & 63)) != 0
    }

    /// Slot of a port below 1024 or a named one: the port itself below
    /// 1024, else 1024 + its rank among the named high ports. Arithmetic on
    /// L1-resident tables, no branch.
    #[inline(always)]
    pub(super) fn slot(&self, p: u16) -> u16 {
        let w = (p >> 6) as usize;
        let below = self.known[w] & ((1u64 << (p & 63)) - 1);
        let high = 1024 + self.rank[w] + below.count_ones() as u16;
        select(p < 1024, p, high)
    }
}

pub(super) fn ports() -> &'static PortTable {
    static T: std::sync::OnceLock<PortTable> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut known = vec![0u64; 1024];
        for p in 0..=u16::MAX {
            if crate::names::service_name(p).is_some() {
                known[(p >> 6) as usize] |= 1 << (p & 63);
            }
        }
        let mut port: Vec<u16> = (0..1024).collect();
        port.extend((1024..=u16::MAX).filter(|&p| known[(p >> 6) as usize] & (1 << (p & 63)) != 0));
        let mut rank = vec![0u16; 1024];
        let mut count = 0u16;
        for (w, r) in rank.iter_mut().enumerate() {
            *r = count;
            if w >= 16 {
                count += known[w].count_ones() as u16;
            }
        }
        PortTable { known, port, rank }
    })
}

/// Slots per transport: the named/low ports and "other".
pub(super) fn port_slots() -> usize {
    ports().port.len() + 1
}

/// Well-known service of a TCP/UDP/SCTP packet: the named port of the two
/// (destination first), else the lower one if it is below 1024.
pub fn service_port(sport: u16, dport: u16) -> Option<u16> {
    service_port_in(ports(), sport, dport)
}

#[inline(always)]
pub(super) fn service_port_in(t: &PortTable, sport: u16, dport: u16) -> Option<u16> {
    if t.is_known(dport) {
        Some(dport)
    } else if t.is_known(sport) {
        Some(sport)
    } else {
        let m = sport.min(dport);
        (m < 1024).then_some(m)
    }
}

/// Transports with ports, in slot order.
pub(super) const TRANSPORTS: [u8; 4] = [6, 17, 132, 136];

/// IP protocol -> index in TRANSPORTS, or u8::MAX.
pub(super) static TRANSPORT_INDEX: [u8; 256] = {
    let mut t = [u8::MAX; 256];
    t[6] = 0;
    t[17] = 1;
    t[132] = 2;
    t[136] = 3;
    t
};

/// Dense protocol sums of one stratum over one batch: what the row pass
/// adds to (a table lookup per row), then drained into the stratum's
/// [`ProtoSums`] and reused.
#[derive(Clone, Debug)]
pub struct Protocols {
    /// Few distinct EtherTypes: a short list searched linearly.
    pub(super) eth_type: Vec<(u16, Cell)>,
    pub(super) ip_proto: Vec<Cell>,
    /// transport index * port_slots() + slot.
    pub(super) service: Vec<Cell>,
}

impl Default for Protocols {
    fn default() -> Self {
        Protocols {
            eth_type: Vec::new(),
            ip_proto: vec![Cell::default(); 256],
            service: vec![Cell::default(); TRANSPORTS.len() * port_slots()],
        }
    }
}

impl Protocols {
    #[inline(always)]
    pub(super) fn add_eth(&mut self, t: u16, l: u32) {
        // Almost always the first or second entry.
        if let Some((k, c)) = self.eth_type.first_mut()
            && *k == t
        {
            c.add(l);
            return;
        }
        match self.eth_type.iter_mut().find(|(k, _)| *k == t) {
            Some((_, c)) => c.add(l),
            None => {
                let mut c = Cell::default();
                c.add(l);
                self.eth_type.push((t, c));
            }
        }
    }

    pub(super) fn add_eth_cell(&mut self, t: u16, c: &Cell) {
        add_keyed(&mut self.eth_type, t, c);
    }
}

fn add_keyed<K: PartialEq>(v: &mut Vec<(K, Cell)>, k: K, c: &Cell) {
    match v.iter_mut().find(|(x, _)| *x == k) {
        Some((_, d)) => d.merge(c),
        None => v.push((k, *c)),
    }
}

/// Merge sorted (key, sums) lists.
fn merge_sorted<K: Ord + Copy>(a: &mut Vec<(K, Cell)>, b: &[(K, Cell)]) {
    if b.is_empty() {
        return;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                let mut c = x.1;
                c.merge(&y.1);
                out.push((x.0, c));
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                out.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                out.push(*y);
                j += 1;
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
    *a = out;
}

/// The protocol sums a stratum keeps: only what occurred (a dense table per
/// stratum was 200 KiB, which thousands of strata cannot afford).
#[derive(Clone, Debug, Default)]
pub struct ProtoSums {
    eth_type: Vec<(u16, Cell)>,
    /// By IP protocol, sorted.
    ip_proto: Vec<(u8, Cell)>,
    /// By transport index * port_slots() + slot, sorted.
    service: Vec<(u32, Cell)>,
}

impl ProtoSums {
    /// Move a batch's dense sums in, leaving `d` zeroed for the next one.
    pub(super) fn take_from(&mut self, d: &mut Protocols) {
        for (t, c) in d.eth_type.drain(..) {
            add_keyed(&mut self.eth_type, t, &c);
        }
        let take = |v: &mut [Cell]| -> Vec<(usize, Cell)> {
            v.iter_mut()
                .enumerate()
                .filter(|(_, c)| c.n > 0)
                .map(|(i, c)| (i, std::mem::take(c)))
                .collect()
        };
        let p: Vec<(u8, Cell)> = take(&mut d.ip_proto)
            .into_iter()
            .map(|(i, c)| (i as u8, c))
            .collect();
        merge_sorted(&mut self.ip_proto, &p);
        let s: Vec<(u32, Cell)> = take(&mut d.service)
            .into_iter()
            .map(|(i, c)| (i as u32, c))
            .collect();
        merge_sorted(&mut self.service, &s);
    }

    pub(super) fn merge(&mut self, o: &ProtoSums) {
        for (t, c) in &o.eth_type {
            add_keyed(&mut self.eth_type, *t, c);
        }
        merge_sorted(&mut self.ip_proto, &o.ip_proto);
        merge_sorted(&mut self.service, &o.service);
    }

    /// The sums by service as (IP protocol, port or None = other), the
    /// inverse of [`ProtoSums::from_parts`] (a rollup's rows).
    pub(super) fn from_parts(
        eth_type: Vec<(u16, Cell)>,
        mut ip_proto: Vec<(u8, Cell)>,
        service: &[((u8, Option<u16>), Cell)],
    ) -> Option<ProtoSums> {
        let (t, n) = (ports(), port_slots());
        let mut sv = Vec::with_capacity(service.len());
        for &((proto, port), c) in service {
            let ti = TRANSPORT_INDEX[proto as usize];
            let slot = match port {
                Some(p) if p < 1024 || crate::names::service_name(p).is_some() => {
                    t.slot(p) as usize
                }
                Some(_) => return None,
                None => n - 1,
            };
            if ti == u8::MAX {
                return None;
            }
            sv.push(((ti as usize * n + slot) as u32, c));
        }
        sv.sort_by_key(|e| e.0);
        ip_proto.sort_by_key(|e| e.0);
        Some(ProtoSums {
            eth_type,
            ip_proto,
            service: sv,
        })
    }

    /// The sums by IP protocol of the rows not counted by service (the
    /// stored form; [`ProtoSums::ip_protos`] adds the services back).
    pub(super) fn ip_proto_own(&self) -> &[(u8, Cell)] {
        &self.ip_proto
    }

    pub fn eth_types(&self) -> Vec<(u16, Cell)> {
        self.eth_type.clone()
    }

    pub fn ip_protos(&self) -> Vec<(u8, Cell)> {
        let mut all = [Cell::default(); 256];
        for (p, c) in &self.ip_proto {
            all[*p as usize].merge(c);
        }
        let n = port_slots();
        for (i, c) in &self.service {
            all[TRANSPORTS[*i as usize / n] as usize].merge(c);
        }
        all.iter()
            .enumerate()
            .filter(|(_, c)| c.n > 0)
            .map(|(p, c)| (p as u8, *c))
            .collect()
    }

    /// ((IP protocol, service port or None = other), sums).
    pub fn services(&self) -> Vec<((u8, Option<u16>), Cell)> {
        let t = ports();
        let n = port_slots();
        self.service
            .iter()
            .map(|(i, c)| {
                let (ti, slot) = (*i as usize / n, *i as usize % n);
                ((TRANSPORTS[ti], t.port.get(slot).copied()), *c)
            })
            .collect()
    }
}
