//! The address tables' tests: entry encoding, dotted quads parsed as std
//! parses them, counts past u32, and how partitions spread addresses.

use super::*;

#[test]
fn entries_round_trip_through_bytes() {
    let e = Entry::<u128> {
        key: 0x2001_0db8_0000_0000_0000_0000_0000_0001,
        stratum: 7,
        n: 3,
        max: 1514,
        bytes: 3000,
        bytes2: 3_000_000,
    };
    let mut b = Vec::new();
    e.put(&mut b);
    assert_eq!(b.len(), Entry::<u128>::SIZE);
    let d = Entry::<u128>::get(&b);
    assert_eq!(
        (d.key, d.stratum, d.n, d.max, d.bytes, d.bytes2),
        (e.key, 7, 3, 1514, 3000, 3_000_000)
    );
}

#[test]
fn dotted_quads_parse_as_std_does() {
    use rand_xoshiro::Xoshiro256PlusPlus;
    use rand_xoshiro::rand_core::{Rng, SeedableRng};
    let mut r = Xoshiro256PlusPlus::seed_from_u64(7);
    let std = |s: &str| s.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
    for _ in 0..200_000 {
        let a = r.next_u32();
        let t = std::net::Ipv4Addr::from(a).to_string();
        assert_eq!(dotted_quad(t.as_bytes()), Some(a), "{t}");
    }
    // Near misses, each as std says.
    let odd = [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",
        "1.2.3.04",
        "0.0.0.0",
        "255.255.255.255",
        "256.1.1.1",
        "1.2.3.256",
        "1..2.3",
        ".1.2.3",
        "1.2.3.",
        "1.2.3.4 ",
        "1.2.3.a",
        "1234.1.1.1",
        "00.1.1.1",
        "::1",
        "1.2.3.-4",
        "+1.2.3.4",
        "1.2.3.1000",
    ];
    for t in odd {
        assert_eq!(dotted_quad(t.as_bytes()), std(t), "{t:?}");
    }
    // Random short strings of digits and dots.
    for _ in 0..200_000 {
        let n = 1 + (r.next_u32() % 16) as usize;
        let t: String = (0..n)
            .map(|_| b"0123456789.."[(r.next_u32() % 12) as usize] as char)
            .collect();
        assert_eq!(dotted_quad(t.as_bytes()), std(&t), "{t:?}");
    }
}

#[test]
fn counts_past_u32_add_up() {
    let mut b = AddrBuf::default();
    let key = AddrKey::parse("2001:db8::7").unwrap();
    let big = Cell {
        n: u64::from(u32::MAX) + 5,
        bytes: 9_000_000_000_000,
        bytes2: 1 << 60,
        max: 1514,
    };
    b.push(SRC, key, 0, &big);
    b.push(
        SRC,
        key,
        0,
        &Cell {
            n: 1,
            bytes: 60,
            bytes2: 3600,
            max: 60,
        },
    );
    let t = AddrTables {
        bufs: vec![b],
        runs: Vec::new(),
    };
    let f = Finish {
        weight: &[Some(1.0)],
        place: &[Some(0)],
        top: 1,
        origins: None,
        remote: &[],
    };
    let s = t.summarize(&f).unwrap();
    assert_eq!(s.distinct, [0, 1]);
    let (ip, cells) = &s.top[SRC][0];
    assert_eq!(*ip, key.ip());
    let c = cells[0].1;
    assert_eq!(
        (c.n, c.bytes, c.bytes2, c.max),
        (big.n + 1, big.bytes + 60, big.bytes2 + 3600, 1514)
    );
}

#[test]
fn partitions_spread_similar_addresses() {
    // Addresses differing in their last bits (one /64, one /24) fill
    // every partition.
    let mut seen = [false; PARTS];
    for i in 0..20_000u128 {
        seen[(0x2001_0db8u128 << 96 | i).part()] = true;
        seen[(0xc000_0200u32 | (i as u32 & 0xff) << 8 | (i as u32 >> 8)).part()] = true;
    }
    assert!(seen.iter().all(|&s| s));
}
