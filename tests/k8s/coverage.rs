//! The Kubernetes sections' intervals at 1-in-100, by seeded simulation.

use super::common::*;
use super::trace::*;

/// The intervals of the Kubernetes sections hold the truth about 95 % of
/// the time at 1-in-100, on an ACK-heavy mixture with bursts of full-size
/// frames (the same estimator as every breakdown, on its own keys).
#[test]
fn coverage_at_1_in_100() {
    use rand_xoshiro::Xoshiro256PlusPlus;
    use rand_xoshiro::rand_core::{Rng, SeedableRng};
    let d = tmpdir();
    let trace = d.path().join("mix.pcapng");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(26);
    let mut want: Vec<((Ctx, Ctx), u32)> = Vec::new();
    let mut frames = Vec::new();
    for g in groups() {
        let mut burst = 0;
        for i in 0..g.n * 100 {
            // Mostly bare ACKs, now and then a burst of full-size frames.
            if burst == 0 && rng.next_u32() % 20 == 0 {
                burst = 1 + rng.next_u32() % 12;
            }
            let payload = match burst {
                0 => (rng.next_u32() % 3 * 6) as usize,
                _ => {
                    burst -= 1;
                    1448
                }
            };
            let bytes = group_frame(&g, payload);
            want.push((g.want, bytes.len() as u32));
            let ts = T0_NS + g.at * 1_000_000_000 + i as i64 * 10_000;
            frames.push(Out {
                ts,
                iface: g.iface,
                dir: g.dir,
                bytes,
            });
        }
    }
    write_pcapng(&trace, frames.into_iter());
    let pair = |c: &(Ctx, Ctx)| format!("{} -> {}", workload_key(&c.0), workload_key(&c.1));
    let pairs = counts(&want, |c| Some(pair(c)));
    let to_ns = counts(&want, |c| Some(namespace_key(&c.1)));
    let leaving = counts(&want, |c| (c.1 == OUTSIDE).then(|| workload_key(&c.0)));
    let fa_api = "shop/deployment/frontend -> payments/service/api";
    let sources: Vec<pktsample_k8s::Source> = [("cluster-2200.json", T0), ("pods-2300.json", T1)]
        .iter()
        .map(|(f, t)| pktsample_k8s::Source {
            path: fixture(&format!("k8s/{f}")),
            time: Some(pktsample_schemas::meta::parse_rfc3339_ns(t).unwrap()),
        })
        .collect();
    let cluster = std::sync::Arc::new(pktsample_k8s::Cluster::load(&sources).unwrap());
    let sections = [
        pktsample_analyze::Section::Workloads,
        pktsample_analyze::Section::NamespacePairs,
        pktsample_analyze::Section::WorkloadPairs,
        pktsample_analyze::Section::Namespaces,
        pktsample_analyze::Section::Leaving,
    ]
    .into_iter()
    .collect();
    let runs: u64 = std::env::var("K8S_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let mut hits = [0u32; 4];
    let out = d.path().join("s.parquet");
    for seed in 0..runs {
        replay_lib(&trace, &out, 100, 2600 + seed);
        let q = query(vec![out.clone()], sections, None, Some(cluster.clone()));
        let a = pktsample_analyze::run(&q, &|_| {}).unwrap();
        let r = pktsample_analyze::report(&a, 1000).unwrap();
        let row = |v: &Option<Vec<pktsample_analyze::report::K8sRow>>, k: &str| {
            v.as_ref()
                .unwrap()
                .iter()
                .find(|x| x.name == k)
                .map(|x| x.m.clone())
        };
        let p = r
            .workload_pairs
            .as_ref()
            .unwrap()
            .iter()
            .find(|x| format!("{} -> {}", x.source, x.destination) == fa_api);
        if let Some(p) = p {
            hits[0] += covers(&p.m.packets, pairs[fa_api].0 as f64) as u32;
            hits[1] += covers(&p.m.bytes, pairs[fa_api].1 as f64) as u32;
        }
        if let Some(m) = row(&r.destination_namespaces, "payments") {
            hits[2] += covers(&m.bytes, to_ns["payments"].1 as f64) as u32;
        }
        if let Some(m) = row(&r.leaving_workloads, "shop/statefulset/cart") {
            hits[3] += covers(&m.packets, leaving["shop/statefulset/cart"].0 as f64) as u32;
        }
    }
    let names = [
        "workload pair packets",
        "workload pair bytes",
        "destination namespace bytes",
        "leaving workload packets",
    ];
    assert_coverage("Kubernetes", &names, &hits, runs);
}
