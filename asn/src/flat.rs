//! The lookup form of the prefix table: the trie flattened into disjoint
//! address intervals, searched by a direct index on the top 16 bits and a
//! binary search within the bucket.
//!
//! Why by hand: prefix-trie builds the table (insertion with override,
//! nesting, ordered iteration) and is the reference the tests compare with,
//! but its lookup walks a pointer-linked trie: 22–25 M IPv4 and 18 M IPv6
//! lookups/s per core on the pyasn table here, against the 20 M/s target
//! with no margin. Flattened, a lookup touches the 256 KiB index and a few
//! neighbouring entries of one bucket (BENCHMARKS.md has the figures).

use prefix_trie::{Prefix, PrefixMap};

/// No origin (outside every prefix).
pub const NONE: u32 = u32::MAX;

/// Unsigned address integers (u32 for IPv4, u128 for IPv6).
pub trait Addr: Copy + Ord + std::fmt::Debug {
    const BITS: u32;
    fn top16(self) -> usize;
    fn from_top16(b: usize) -> Self;
    /// The 8 bits after the top 16.
    fn next8(self) -> usize;
    /// The first address of (top 16 bits, next 8 bits).
    fn from_top24(b: usize, j: usize) -> Self;
    fn checked_succ(self) -> Option<Self>;
    fn zero() -> Self;
}

impl Addr for u32 {
    const BITS: u32 = 32;
    fn top16(self) -> usize {
        (self >> 16) as usize
    }
    fn from_top16(b: usize) -> Self {
        (b as u32) << 16
    }
    fn next8(self) -> usize {
        ((self >> 8) & 0xff) as usize
    }
    fn from_top24(b: usize, j: usize) -> Self {
        ((b as u32) << 16) | ((j as u32) << 8)
    }
    fn checked_succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn zero() -> Self {
        0
    }
}

impl Addr for u128 {
    const BITS: u32 = 128;
    fn top16(self) -> usize {
        (self >> 112) as usize
    }
    fn from_top16(b: usize) -> Self {
        (b as u128) << 112
    }
    fn next8(self) -> usize {
        ((self >> 104) & 0xff) as usize
    }
    fn from_top24(b: usize, j: usize) -> Self {
        ((b as u128) << 112) | ((j as u128) << 104)
    }
    fn checked_succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn zero() -> Self {
        0
    }
}

/// Disjoint intervals covering the whole address space: interval i is
/// `starts[i] ..= starts[i + 1] - 1` with origin `values[i]` (or [`NONE`]).
pub struct Flat<K: Addr> {
    starts: Vec<K>,
    values: Vec<u32>,
    /// For each top-16-bit bucket b, the interval holding its first address;
    /// one more entry for the end.
    first: Vec<u32>,
    /// Crowded buckets (IPv6's 2001::/16, 2a00::/12 ...) get a second level
    /// on the next 8 bits: bucket -> offset of its 257 entries in `sub`
    /// (u32::MAX: none).
    sub_of: Vec<u32>,
    sub: Vec<u32>,
}

/// Buckets with more intervals than this get a second-level index.
const CROWDED: u32 = 32;

/// The interval of `starts` holding address `a`, searching from `i` on.
fn holding<K: Addr>(starts: &[K], mut i: usize, a: K) -> usize {
    while i + 1 < starts.len() && starts[i + 1] <= a {
        i += 1;
    }
    i
}

impl<K: Addr> Flat<K> {
    /// Flatten `(first address, last address, value)` prefixes given in
    /// prefix order (by first address, then shorter before longer): each
    /// address gets the value of its longest prefix.
    pub fn build(prefixes: impl Iterator<Item = (K, K, u32)>) -> Flat<K> {
        let mut starts: Vec<K> = vec![K::zero()];
        let mut values: Vec<u32> = vec![NONE];
        // The value from `pos` on is `v`: a later call at the same position
        // wins; equal neighbours merge.
        let mut emit = |pos: K, v: u32| {
            let n = starts.len();
            if starts[n - 1] == pos {
                values[n - 1] = v;
                if n >= 2 && values[n - 2] == v {
                    starts.pop();
                    values.pop();
                }
            } else if values[n - 1] != v {
                starts.push(pos);
                values.push(v);
            }
        };
        // Open prefixes, innermost last: (last address, value).
        let mut open: Vec<(K, u32)> = Vec::new();
        for (s, e, v) in prefixes {
            while let Some(&(end, _)) = open.last() {
                if end >= s {
                    break;
                }
                open.pop();
                if let Some(p) = end.checked_succ() {
                    emit(p, open.last().map_or(NONE, |o| o.1));
                }
            }
            emit(s, v);
            open.push((e, v));
        }
        while let Some((end, _)) = open.pop() {
            if let Some(p) = end.checked_succ() {
                emit(p, open.last().map_or(NONE, |o| o.1));
            }
        }
        let mut first = Vec::with_capacity(65537);
        let mut i = 0usize;
        for b in 0..65536usize {
            i = holding(&starts, i, K::from_top16(b));
            first.push(i as u32);
        }
        first.push((starts.len() - 1) as u32);
        let mut sub_of = vec![u32::MAX; 65536];
        let mut sub = Vec::new();
        for b in 0..65536usize {
            if first[b + 1] - first[b] <= CROWDED {
                continue;
            }
            sub_of[b] = sub.len() as u32;
            let mut i = first[b] as usize;
            for j in 0..256usize {
                i = holding(&starts, i, K::from_top24(b, j));
                sub.push(i as u32);
            }
            sub.push(first[b + 1]);
        }
        Flat {
            starts,
            values,
            first,
            sub_of,
            sub,
        }
    }

    /// The value of the interval holding `x`.
    #[inline]
    pub fn get(&self, x: K) -> u32 {
        let b = x.top16();
        let (lo, hi) = match self.sub_of[b] {
            u32::MAX => (self.first[b] as usize, self.first[b + 1] as usize),
            off => {
                let k = off as usize + x.next8();
                (self.sub[k] as usize, self.sub[k + 1] as usize)
            }
        };
        // The last interval of lo..=hi starting at or before x.
        let s = &self.starts[lo..=hi];
        let i = s.partition_point(|&st| st <= x);
        self.values[lo + i - 1]
    }

    pub fn intervals(&self) -> usize {
        self.starts.len()
    }
}

/// A trie's prefixes as (first, last, value), in prefix order.
pub fn prefixes_of<'a, P, K>(
    m: &'a PrefixMap<P, u32>,
    to_int: impl Fn(&P) -> K + 'a,
) -> impl Iterator<Item = (K, K, u32)> + 'a
where
    P: Prefix,
    K: Addr
        + std::ops::BitOr<Output = K>
        + std::ops::Not<Output = K>
        + std::ops::Shr<u32, Output = K>,
{
    m.iter().map(move |(p, v)| {
        let start = to_int(&p);
        let len = p.prefix_len() as u32;
        let host = if len == K::BITS {
            K::zero()
        } else if len == 0 {
            !K::zero()
        } else {
            (!K::zero()) >> len
        };
        (start, start | host, *v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::Ipv4Net;
    use std::net::Ipv4Addr;

    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// Random nested tables: the flat lookup equals the trie's
    /// longest-prefix match at every prefix boundary and random addresses.
    #[test]
    fn flat_equals_trie() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        for round in 0..20 {
            let mut m: PrefixMap<Ipv4Net, u32> = PrefixMap::new();
            let n = 1 + (rng(&mut seed) % 3000) as usize;
            for _ in 0..n {
                let len = (rng(&mut seed) % 33) as u8;
                // Cluster addresses so prefixes nest.
                let a = (rng(&mut seed) as u32) & 0x0301_ffff;
                let net = Ipv4Net::new(Ipv4Addr::from(a), len).unwrap().trunc();
                m.insert(net, (rng(&mut seed) % 50) as u32);
            }
            if round == 0 {
                m.insert("0.0.0.0/0".parse().unwrap(), 7);
                m.insert("255.255.255.255/32".parse().unwrap(), 8);
            }
            let flat = Flat::<u32>::build(prefixes_of(&m, |p: &Ipv4Net| u32::from(p.network())));
            let trie = |x: u32| {
                m.get_lpm(&Ipv4Net::from(Ipv4Addr::from(x)))
                    .map_or(NONE, |(_, v)| *v)
            };
            let mut probes: Vec<u32> = Vec::new();
            for (p, _) in m.iter() {
                let s = u32::from(p.network());
                let e = u32::from(p.broadcast());
                probes.extend([s, e, s.wrapping_sub(1), e.wrapping_add(1)]);
            }
            probes.extend((0..20_000).map(|_| rng(&mut seed) as u32));
            probes.extend([0, u32::MAX, 1 << 16, (1 << 16) - 1]);
            for x in probes {
                assert_eq!(flat.get(x), trie(x), "round {round}, {}", Ipv4Addr::from(x));
            }
        }
    }

    /// The same for IPv6, with prefixes up to /128 and in several buckets.
    #[test]
    fn flat_equals_trie_v6() {
        use ipnet::Ipv6Net;
        use std::net::Ipv6Addr;
        let mut seed = 0x0fed_cba9_8765_4321u64;
        for round in 0..10 {
            let mut m: PrefixMap<Ipv6Net, u32> = PrefixMap::new();
            for _ in 0..2000 {
                let len = (rng(&mut seed) % 129) as u8;
                let hi = 0x2001_0000_0000_0000u64 | (rng(&mut seed) & 0x000f_00ff_0000_0000);
                let a = (hi as u128) << 64 | rng(&mut seed) as u128;
                let net = Ipv6Net::new(Ipv6Addr::from(a), len).unwrap().trunc();
                m.insert(net, (rng(&mut seed) % 50) as u32);
            }
            let flat = Flat::<u128>::build(prefixes_of(&m, |p: &Ipv6Net| u128::from(p.network())));
            let trie = |x: u128| {
                m.get_lpm(&Ipv6Net::from(Ipv6Addr::from(x)))
                    .map_or(NONE, |(_, v)| *v)
            };
            for (p, _) in m.iter() {
                let s = u128::from(p.network());
                let e = u128::from(p.broadcast());
                for x in [s, e, s.wrapping_sub(1), e.wrapping_add(1)] {
                    assert_eq!(flat.get(x), trie(x), "round {round}, {}", Ipv6Addr::from(x));
                }
            }
        }
    }

    #[test]
    fn empty_and_full() {
        let f = Flat::<u128>::build(std::iter::empty());
        assert_eq!(f.get(0), NONE);
        assert_eq!(f.get(u128::MAX), NONE);
        let f = Flat::<u128>::build([(0, u128::MAX, 3)].into_iter());
        assert_eq!(f.get(0), 3);
        assert_eq!(f.get(u128::MAX), 3);
        assert_eq!(f.intervals(), 1);
    }
}
