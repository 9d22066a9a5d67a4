//! Every database format built from the same data (fixtures/asn/source.json)
//! gives every address the same origin, equal to a brute-force longest
//! prefix match over the source; MaxMind's own test database agrees with its
//! published source; overrides, labels and bad input.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use pktsample_asn::{AsDb, Origin, Unmapped, classify};
use pktsample_tracegen::asn::{bits, mask, reference_origin};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use serde_json::Value;

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(p)
}

fn source() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("asn/source.json")).unwrap()).unwrap()
}

/// The expected origin: the brute-force reference, labelled.
fn brute_force(a: IpAddr) -> Origin {
    match reference_origin(a) {
        Some(n) => Origin::As(n),
        None => Origin::None(classify(a).unwrap_or(Unmapped::Unrouted)),
    }
}

const FORMATS: [&str; 7] = [
    "asn/fixture.mmdb",
    "asn/fixture-ipinfo.mmdb",
    "asn/fixture-ip2asn.tsv",
    "asn/fixture-ip2asn.tsv.gz",
    "asn/fixture-iplocation.csv",
    "asn/fixture.pfx2as",
    "asn/fixture-pyasn.dat",
];

/// The fixture addresses, the bounds of every entry and its neighbours, and
/// random addresses in and around the covered space.
fn probe_addresses(src: &Value) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = Vec::new();
    for fam in ["v4", "v6"] {
        for a in src["addresses"][fam].as_array().unwrap() {
            v.push(a.as_str().unwrap().parse().unwrap());
        }
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    for e in src["entries"].as_array().unwrap() {
        let (lo, hi, w) = if let Some(p) = e["prefix"].as_str() {
            let (net, len) = p.split_once('/').unwrap();
            let (n, w) = bits(net.parse().unwrap());
            let (lo, hi) = mask(n, len.parse().unwrap(), w);
            (lo, hi, w)
        } else {
            let r = e["range"].as_array().unwrap();
            let (s, w) = bits(r[0].as_str().unwrap().parse().unwrap());
            (s, bits(r[1].as_str().unwrap().parse().unwrap()).0, w)
        };
        let mut xs = vec![lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)];
        for _ in 0..200 {
            let span = hi - lo;
            let r = ((rng.next_u64() as u128) << 64 | rng.next_u64() as u128)
                % (span.saturating_add(1)).max(1);
            xs.push(lo + r);
        }
        for x in xs {
            v.push(if w == 32 {
                IpAddr::V4((x as u32).into())
            } else {
                IpAddr::V6(x.into())
            });
        }
    }
    v
}

#[test]
fn every_format_matches_brute_force() {
    let src = source();
    let addrs = probe_addresses(&src);
    assert!(addrs.len() > 2000);
    for f in FORMATS {
        let db = AsDb::load(&[fixture(f)]).unwrap_or_else(|e| panic!("{f}: {e}"));
        let mut mismatches = Vec::new();
        for &a in &addrs {
            let (got, want) = (db.lookup(a), brute_force(a));
            if got != want {
                mismatches.push(format!("{a}: got {got:?}, want {want:?}"));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{f}: {} mismatches, e.g. {:?}",
            mismatches.len(),
            &mismatches[..mismatches.len().min(5)]
        );
        // Names come with every format but the prefix-only ones.
        if !f.ends_with(".pfx2as") && !f.ends_with(".dat") {
            assert_eq!(db.name(64496), Some("Example Transit, Inc."), "{f}");
            assert_eq!(db.name(64503), Some("Odd Range IPv6"), "{f}");
        }
    }
    // The multi-origin prefix is reported, not silent.
    let db = AsDb::load(&[fixture("asn/fixture.pfx2as")]).unwrap();
    let w = db.warnings();
    assert!(
        w.iter()
            .any(|w| w.contains("1 prefixes have several origins") && w.contains("line 20")),
        "{w:?}"
    );
}

#[test]
fn labels_are_not_ases() {
    let db = AsDb::load(&[fixture("asn/fixture.pfx2as")]).unwrap();
    let l = |s: &str| db.lookup(s.parse().unwrap());
    assert_eq!(l("10.1.1.1"), Origin::None(Unmapped::Private));
    assert_eq!(l("192.0.2.5"), Origin::None(Unmapped::Documentation));
    assert_eq!(l("2001:db8::1"), Origin::None(Unmapped::Documentation));
    assert_eq!(l("100.64.1.1"), Origin::None(Unmapped::Shared));
    assert_eq!(l("fe80::1"), Origin::None(Unmapped::LinkLocal));
    // Explicit AS 0 and no match are both unrouted.
    assert_eq!(l("13.0.5.5"), Origin::None(Unmapped::Unrouted));
    assert_eq!(l("15.1.1.1"), Origin::None(Unmapped::Unrouted));
    // IPv4-mapped IPv6 is looked up as IPv4.
    assert_eq!(l("::ffff:11.1.2.3"), Origin::As(64498));
    for o in [
        Origin::As(7),
        Origin::As(u32::MAX),
        Origin::None(Unmapped::Private),
    ] {
        assert_eq!(Origin::from_key(o.key()), o);
    }
}

/// MaxMind's GeoLite2-ASN test database against the JSON it was built from:
/// the first and last address of every network.
#[test]
fn geolite2_test_database_matches_its_source() {
    let db = AsDb::load(&[fixture("asn/GeoLite2-ASN-Test.mmdb")]).unwrap();
    let src: Value =
        serde_json::from_slice(&std::fs::read(fixture("asn/GeoLite2-ASN-Test.json")).unwrap())
            .unwrap();
    let mut n = 0;
    for rec in src.as_array().unwrap() {
        for (net, v) in rec.as_object().unwrap() {
            let (a, len) = net.split_once('/').unwrap();
            let (x, w) = bits(a.parse().unwrap());
            let (lo, hi) = mask(x, len.parse().unwrap(), w);
            let asn = v["autonomous_system_number"].as_u64().unwrap() as u32;
            for y in [lo, hi] {
                let ip = if w == 32 {
                    IpAddr::V4((y as u32).into())
                } else {
                    IpAddr::V6(y.into())
                };
                assert_eq!(db.lookup(ip), Origin::As(asn), "{net} at {ip}");
                n += 1;
            }
            if let Some(name) = v["autonomous_system_organization"].as_str() {
                assert!(db.name(asn).is_some(), "AS{asn} has a name");
                let _ = name;
            }
        }
    }
    assert!(n > 1000, "{n}");
    assert_eq!(db.name(1221), Some("Telstra Pty Ltd"));
}

#[test]
fn later_files_override_the_same_prefix() {
    let dir = tempfile();
    let over = dir.join("override.txt");
    std::fs::write(
        &over,
        "# local override\n11.1.2.0/24 64511 Our Own\n15.0.0.0/8 64510\n",
    )
    .unwrap();
    let db = AsDb::load(&[fixture("asn/fixture.pfx2as"), over.clone()]).unwrap();
    let l = |s: &str| db.lookup(s.parse().unwrap());
    assert_eq!(l("11.1.2.3"), Origin::As(64511));
    // The more specific /25 of the base still wins inside it.
    assert_eq!(l("11.1.2.200"), Origin::As(64496));
    assert_eq!(l("11.1.3.1"), Origin::As(64497));
    assert_eq!(l("15.1.1.1"), Origin::As(64510));
    assert_eq!(db.name(64511), Some("Our Own"));
    // The other order: the base overrides the same /24 back.
    let db = AsDb::load(&[over, fixture("asn/fixture.pfx2as")]).unwrap();
    assert_eq!(db.lookup("11.1.2.3".parse().unwrap()), Origin::As(64498));
    std::fs::remove_dir_all(dir).ok();
}

fn tempfile() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "pktsample-asn-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn err(p: PathBuf) -> String {
    let e = AsDb::load(&[p]).expect_err("must fail").to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

#[test]
fn bad_databases_fail_with_file_and_line() {
    let e = err(fixture("asn/does-not-exist.mmdb"));
    assert!(
        e.contains("does-not-exist.mmdb") && e.contains("No such file"),
        "{e}"
    );
    let e = err(fixture("broken/asn-truncated.mmdb"));
    assert!(
        e.contains("asn-truncated.mmdb") && e.contains("no metadata marker"),
        "{e}"
    );
    let e = err(fixture("broken/MaxMind-DB-test-broken-pointers-24.mmdb"));
    assert!(
        e.contains("broken-pointers") && e.contains("corrupt"),
        "{e}"
    );
    let e = err(fixture("broken/asn-truncated.tsv.gz"));
    assert!(
        e.contains("asn-truncated.tsv.gz") && e.contains("gzip"),
        "{e}"
    );
    let e = err(fixture("broken/asn-bad-line.pfx2as"));
    assert!(
        e.contains("asn-bad-line.pfx2as:3:") && e.contains("sixteen"),
        "{e}"
    );
    let e = err(fixture("broken/asn-reversed.tsv"));
    assert!(
        e.contains("asn-reversed.tsv:2:") && e.contains("after its end"),
        "{e}"
    );
    let e = err(fixture("broken/asn-mixed-family.csv"));
    assert!(
        e.contains("asn-mixed-family.csv:1:") && e.contains("mixes IPv4 and IPv6"),
        "{e}"
    );
    let e = err(fixture("broken/GeoLite2-Country-Test.mmdb"));
    assert!(
        e.contains("GeoLite2-Country") && e.contains("no AS number field"),
        "{e}"
    );
    let e = err(fixture("broken/not-a-capture.txt"));
    assert!(e.contains("not-a-capture.txt:1:"), "{e}");
    let e = err(fixture("broken/empty.pcap"));
    assert!(e.contains("empty"), "{e}");
    let e = err(fixture("mixed.pcap"));
    assert!(
        e.contains("mixed.pcap") && e.contains("neither a MaxMind DB"),
        "{e}"
    );
}

#[test]
fn overlapping_ranges_are_counted_and_reported() {
    let db = AsDb::load(&[fixture("broken/asn-overlap.tsv")]).unwrap();
    let w = db.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("2 ranges overlap") && w[0].contains("line 2"),
        "{w:?}"
    );
    // Where they overlap, the more specific prefix wins.
    assert_eq!(db.lookup("11.0.0.200".parse().unwrap()), Origin::As(64497));
    assert_eq!(db.lookup("11.0.1.5".parse().unwrap()), Origin::As(64498));
    assert_eq!(db.lookup("11.0.0.5".parse().unwrap()), Origin::As(64496));
}

/// iptoasn's `ip2asn-v4-u32.tsv` and ip-location-db's `*-num.csv` give range
/// bounds as integers; IPv6 ones above 2^32.
#[test]
fn integer_range_bounds() {
    let dir = tempfile();
    let f = dir.join("ip2asn-u32.tsv");
    // 11.1.2.0 - 11.1.2.127 and 12.0.0.5 - 12.0.1.250; 2a01:: - 2a01::ffff:fffe.
    let v6s = u128::from("2a01::".parse::<std::net::Ipv6Addr>().unwrap());
    let v6e = u128::from("2a01::ffff:fffe".parse::<std::net::Ipv6Addr>().unwrap());
    std::fs::write(
        &f,
        format!(
            "184615424\t184615551\t64498\tZZ\tExample Hosting\n201326597\t201327098\t64499\tZZ\tOdd Range Net\n{v6s}\t{v6e}\t64503\tZZ\tOdd Range IPv6\n"
        ),
    )
    .unwrap();
    let db = AsDb::load(&[f]).unwrap();
    for (a, want) in [
        ("11.1.2.0", Some(64498)),
        ("11.1.2.127", Some(64498)),
        ("11.1.2.128", None),
        ("12.0.0.4", None),
        ("12.0.0.5", Some(64499)),
        ("12.0.1.250", Some(64499)),
        ("12.0.1.251", None),
        ("2a01::ffff:fffe", Some(64503)),
        ("2a01::ffff:ffff", None),
    ] {
        let ip: IpAddr = a.parse().unwrap();
        assert_eq!(db.lookup(ip).asn(), want, "{a}");
        if want.is_some() {
            assert_eq!(reference_origin(ip), want, "the fixture agrees at {a}");
        }
    }
    std::fs::remove_dir_all(dir).ok();
}
