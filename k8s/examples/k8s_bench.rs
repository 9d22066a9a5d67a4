//! Load time and single-core lookups/s of a cluster snapshot
//! (bench/k8s.sh): `k8s_bench CLUSTER.json`. Lookups of pod addresses,
//! of addresses outside the cluster, and of pods' Calico interfaces,
//! each answer checked before it is timed.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use pktsample_k8s::{Cluster, Source, Who, calico_veth};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: k8s_bench CLUSTER.json");
    let t = Instant::now();
    let c = Cluster::load(&[Source {
        path: path.into(),
        time: Some(0),
    }])
    .expect("the snapshot loads");
    let load = t.elapsed();
    let pods = c.pods().len();
    println!("load {:.3} s: {}", load.as_secs_f64(), c.describe()[0]);
    // Pod addresses as the generator makes them past its first 1,024
    // (from 100.64.0.0 on).
    let inside: Vec<IpAddr> = (0..65536u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x6440_0000 + i)))
        .collect();
    let outside: Vec<IpAddr> = (0..65536u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i * 251)))
        .collect();
    assert!(inside.iter().all(|ip| matches!(c.who(*ip, 0), Who::Pod(_))));
    assert!(outside.iter().all(|ip| !c.who(*ip, 0).in_cluster()));
    let names: Vec<String> = c.pods()[..pods.min(65536)]
        .iter()
        .map(|p| calico_veth(&p.namespace, &p.name))
        .collect();
    assert!(names.iter().all(|n| c.pod_on(n, 0).is_some()));
    let rounds = 20;
    let time = |what: &str, n: usize, f: &dyn Fn() -> usize| {
        let t = Instant::now();
        let mut hits = 0;
        for _ in 0..rounds {
            hits += f();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "{what}: {:.1} M lookups/s ({hits} answers)",
            (n * rounds) as f64 / s / 1e6
        );
    };
    time("pod addresses", inside.len(), &|| {
        inside
            .iter()
            .filter(|ip| c.who(**ip, 0).pod().is_some())
            .count()
    });
    time("outside addresses", outside.len(), &|| {
        outside
            .iter()
            .filter(|ip| !c.who(**ip, 0).in_cluster())
            .count()
    });
    time("Calico interfaces", names.len(), &|| {
        names.iter().filter(|n| c.pod_on(n, 0).is_some()).count()
    });
}
