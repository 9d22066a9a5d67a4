//! The estimators against exact answers and seeded simulation.

use super::*;

#[test]
fn clopper_pearson_known_values() {
    // Independent values: bisection on the binomial tails,
    // P(X >= 5 | 20, lo) = 0.025 and P(X <= 5 | 20, hi) = 0.025.
    let (lo, hi) = clopper_pearson(5, 20);
    assert!((lo - 0.086_571_469).abs() < 1e-8, "{lo}");
    assert!((hi - 0.491_045_872).abs() < 1e-8, "{hi}");
    assert_eq!(clopper_pearson(0, 10).0, 0.0);
    assert_eq!(clopper_pearson(10, 10).1, 1.0);
}

#[test]
fn garwood_known_values() {
    // Independent values: lo = -ln(0.975); hi solves e^-u (1 + u) = 0.025.
    let (lo, hi) = garwood(1);
    assert!((lo - 0.02531781).abs() < 1e-6, "{lo}");
    assert!((hi - 5.57164339).abs() < 1e-6, "{hi}");
    let (lo0, hi0) = garwood(0);
    assert_eq!(lo0, 0.0);
    assert!((hi0 - 3.688879).abs() < 1e-5, "{hi0}");
}

#[test]
fn wilson_stays_in_range_and_has_width() {
    let (lo, hi) = wilson(0.0, 1.0);
    assert_eq!(lo, 0.0);
    assert!(hi > 0.5);
    let (lo, hi) = wilson(1.0, 3.0);
    assert!(lo > 0.0 && lo < 1.0 && hi == 1.0);
    // R: prop.test(30, 100, correct = FALSE)$conf.int = 0.2189489 0.3958485
    let (lo, hi) = wilson(0.3, 100.0);
    assert!((lo - 0.2189489).abs() < 1e-6 && (hi - 0.3958485).abs() < 1e-6);
}

#[test]
fn ratio_estimator_is_exact_for_the_whole_pool() {
    let d = Design {
        n: 100,
        pool: Some(10_000),
        rate: 100,
    };
    let mut c = Cell::default();
    for _ in 0..100 {
        c.add(1000);
    }
    let e = packets(&d, &c);
    assert_eq!(e.value, 10_000.0);
    assert_eq!(e.var, 0.0);
    assert_eq!(packet_interval(&e), Interval::exact(10_000.0));
    // Its bytes are not: the unsampled packets' sizes are unknown, even
    // when every sample has the same size.
    let b = byte_interval(&bytes(&d, &c, 1500));
    assert_eq!(b.estimate, 10_000_000.0);
    assert!(b.low == b.estimate && b.high > b.estimate, "{b:?}");
    // A census is exact in both.
    let census = Design {
        n: 100,
        pool: Some(100),
        rate: 1,
    };
    assert_eq!(
        byte_interval(&bytes(&census, &c, 1500)),
        Interval::exact(100_000.0)
    );
}

#[test]
fn horvitz_thompson_without_pool() {
    let d = Design {
        n: 10,
        pool: None,
        rate: 10,
    };
    let mut c = Cell::default();
    for _ in 0..10 {
        c.add(100);
    }
    let e = packets(&d, &c);
    assert_eq!(e.value, 100.0);
    assert_eq!(e.var, 10.0 * 9.0 * 10.0);
    let i = packet_interval(&e);
    assert!(i.low >= 10.0 && i.low < 100.0 && i.high > 100.0);
    let b = bytes(&d, &c, 100);
    assert_eq!(b.value, 10_000.0);
}

#[test]
fn single_sample_interval_has_width_and_no_negative_bound() {
    let d = Design {
        n: 50,
        pool: Some(5000),
        rate: 100,
    };
    let mut c = Cell::default();
    c.add(60);
    let p = packet_interval(&packets(&d, &c));
    assert!(p.low >= 1.0 && p.high > p.estimate && p.estimate == 100.0);
    let b = byte_interval(&bytes(&d, &c, 1500));
    assert!(b.low >= 60.0 && b.high > b.estimate);
}

#[test]
fn gamma_interval_with_equal_weights_is_garwoods() {
    // Fay & Feuer: with every weight w, the interval is w times
    // Garwood's (checked above against independent values).
    for (x, w) in [(1u64, 10.0), (4, 100.0), (30, 1000.0), (2000, 7.0)] {
        let e = Est {
            value: w * x as f64,
            var: w * w * x as f64,
            n: x,
            strata: 2,
            wmax: w,
            ..Default::default()
        };
        let (lo, hi) = garwood(x);
        let g = gamma(&e);
        assert!((g.low / (lo * w) - 1.0).abs() < 1e-6, "{x} {w}: {g:?}");
        assert!((g.high / (hi * w) - 1.0).abs() < 1e-5, "{x} {w}: {g:?}");
    }
    // No sample: [0, w·3.689], the rule of three at 97.5 %.
    let e = Est {
        strata: 2,
        wmax: 1000.0,
        ..Default::default()
    };
    let g = gamma(&e);
    assert_eq!(g.low, 0.0);
    assert!((g.high - 3688.879).abs() < 0.01, "{g:?}");
}

fn sizes(lens: &[(u32, u64)]) -> Vec<Cell> {
    let classes = crate::engine::SIZE_CLASSES;
    let mut v = vec![Cell::default(); classes.len()];
    for &(len, k) in lens {
        let i = classes
            .iter()
            .position(|(lo, hi)| (*lo..=*hi).contains(&len));
        for _ in 0..k {
            v[i.unwrap()].add(len);
        }
    }
    v
}

#[test]
fn largest_frame_follows_the_stratum_unless_the_group_bounds_it() {
    let classes = crate::engine::SIZE_CLASSES;
    // A stratum of 64-byte frames (70 %), 1500 (25 %) and 9000 (5 %).
    let st = sizes(&[(64, 700), (1500, 250), (9000, 50)]);
    let group = |lens: &[(u32, u64)]| {
        let mut c = Cell::default();
        for &(l, k) in lens {
            for _ in 0..k {
                c.add(l);
            }
        }
        c
    };
    let l = |c: &Cell, cap| largest_frame(c, &classes, &st, cap);
    // Ten samples without a jumbo frame: up to 30 % of the group's packets
    // could be jumbo.
    assert_eq!(l(&group(&[(64, 7), (1500, 3)]), u32::MAX), 9000);
    // Thirty, unlike the stratum (0.95^30 = 0.21 alone would not say),
    // leave room for 10 % of jumbo frames, 130 % more bytes: the stratum's.
    assert_eq!(l(&group(&[(64, 21), (1500, 9)]), u32::MAX), 9000);
    // Two hundred (49 KB of 64 and 1500) leave less than 30 % (10 · 7500
    // bytes): their own.
    assert_eq!(l(&group(&[(64, 140), (1500, 60)]), u32::MAX), 1500);
    // Twenty 64-byte frames: ACK-like, full-size segments unseen.
    assert_eq!(l(&group(&[(64, 20)]), u32::MAX), 9000);
    // Two thousand (128 KB ≥ 10 · 8936): ARP-like, its own.
    assert_eq!(l(&group(&[(64, 2_000)]), u32::MAX), 64);
    // At the stratum's largest: its own.
    assert_eq!(l(&group(&[(9000, 2)]), u32::MAX), 9000);
    // A size class bounds it.
    assert_eq!(l(&group(&[(600, 2)]), 1023), 1023);
    // No sample of the group: the stratum's largest.
    assert_eq!(l(&Cell::default(), u32::MAX), 9000);
    // A stratum of few samples: at least an Ethernet frame.
    let few = sizes(&[(64, 10)]);
    assert_eq!(
        largest_frame(&group(&[(64, 1)]), &classes, &few, u32::MAX),
        ETHERNET_FRAME
    );
    // Nothing sampled at all: the largest IP packet.
    let none = sizes(&[]);
    assert_eq!(stratum_frame(&classes, &none, &none), MAX_FRAME);
    // A stratum of small frames among larger ones in the report keeps
    // its own largest once its samples show it (0.7^40 < 0.05) ...
    let small = sizes(&[(64, 40)]);
    assert_eq!(stratum_frame(&classes, &small, &st), 64);
    // ... but one sample of it could be chance: the report's largest.
    let one = sizes(&[(1500, 1)]);
    assert_eq!(stratum_frame(&classes, &one, &st), 9000);
}
