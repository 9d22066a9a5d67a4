//! The per-AS intervals' coverage by seeded simulation.

use super::*;

/// Seeded simulation: a 50,000-packet trace of the per-AS mix sampled at
/// 1-in-50 under 200 seeds; the 95 % intervals of per-AS estimates (source
/// AS packets, destination AS bytes, an AS pair, a remote AS's IPv6 share)
/// must cover the truth in 92-98 % of the runs.
#[test]
fn per_as_intervals_cover_the_truth() {
    use pktsample_tracegen::{Format, Mix, Spec, generate};
    let dir = tmpdir();
    let trace = dir.path().join("t.pcapng");
    let spec = Spec {
        mix: Mix::Asn,
        packets: 50_000,
        seed: 77,
        format: Format::PcapNg {
            nanos: true,
            big_endian: false,
        },
        snaplen: 128,
        link: Default::default(),
        wrap: Default::default(),
    };
    let t = generate(
        &spec,
        std::io::BufWriter::new(std::fs::File::create(&trace).unwrap()),
    )
    .unwrap();
    let src = by_label(&t.src_addr, label)["AS64497"];
    let dst = by_label(&t.dst_addr, label)["AS64498"];
    let pair = by_label(&t.addr_pair, |p| {
        let (a, b) = p.split_once(' ').unwrap();
        format!("{} {}", label(a), label(b))
    })["AS64496 AS64497"];
    let (mut v6, mut all) = (0u64, 0u64);
    for (a, c) in &t.remote_addr {
        if label(a) == "AS64497" {
            all += c.packets;
            if a.contains(':') {
                v6 += c.packets;
            }
        }
    }
    let share = v6 as f64 / all as f64;
    let db =
        std::sync::Arc::new(pktsample_asn::AsDb::load(&[fixture("asn/fixture.mmdb")]).unwrap());
    let runs = 200;
    let mut hits = [0u32; 4];
    let out = dir.path().join("s.parquet");
    for seed in 0..runs {
        replay_lib(&trace, &out, 50, 5000 + seed);
        let r = analyze_lib(vec![out.clone()], Some(db.clone()), 1000);
        let find = |v: &Option<Vec<pktsample_analyze::report::AsRow>>, l: &str| {
            v.as_ref()
                .unwrap()
                .iter()
                .find(|x| x.origin.label == l)
                .map(|x| x.m.clone())
        };
        if let Some(m) = find(&r.source_as, "AS64497") {
            hits[0] += covers(&m.packets, src.0 as f64) as u32;
        }
        if let Some(m) = find(&r.destination_as, "AS64498") {
            hits[1] += covers(&m.bytes, dst.1 as f64) as u32;
        }
        if let Some(p) = r
            .as_pairs
            .as_ref()
            .unwrap()
            .iter()
            .find(|x| x.source.label == "AS64496" && x.destination.label == "AS64497")
        {
            hits[2] += covers(&p.m.packets, pair.0 as f64) as u32;
        }
        if let Some(x) = r
            .as_ipv6
            .as_ref()
            .unwrap()
            .iter()
            .find(|x| x.origin.label == "AS64497")
        {
            hits[3] += covers(&x.share_packets, share) as u32;
        }
    }
    let names = [
        "source AS packets",
        "destination AS bytes",
        "AS pair packets",
        "remote AS IPv6 share",
    ];
    assert_coverage("per-AS", &names, &hits, runs);
}
