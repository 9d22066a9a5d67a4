//! Kubernetes snapshots (kubectl Lists, typed lists, single objects,
//! Cilium endpoint arrays, Calico workload endpoints) and the network
//! policies in them: a cluster or an error naming the file; never a panic.
//! Lookups on a loaded cluster answer, and its policies compile or are
//! refused, and judge connections.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use pktsample_k8s::{Cluster, Source};

fuzz_target!(|data: &[u8]| {
    let f = common::temp_file(data);
    let src = Source {
        path: f.path().to_path_buf(),
        time: Some(0),
    };
    if let Ok(c) = Cluster::load(&[src]) {
        for a in ["198.51.100.10", "2001:db8:10::a", "192.0.2.1", "203.0.113.9"] {
            let w = c.who(a.parse().unwrap(), 0);
            let _ = (w.namespace(), w.workload(), w.pod(), w.node());
        }
        for p in c.pods().iter().take(8) {
            let _ = c.pod_on(&pktsample_k8s::calico_veth(&p.namespace, &p.name), 0);
        }
        if let Ok(set) = pktsample_k8s::Policies::load(std::sync::Arc::new(c), &[]) {
            let ips = ["198.51.100.10", "198.51.100.21", "192.0.2.1", "203.0.113.9"];
            for (a, b) in ips.iter().zip(ips.iter().rev()) {
                for (proto, port) in [(6, Some(8080)), (17, Some(53)), (1, None)] {
                    let _ = set.connection(a.parse().unwrap(), b.parse().unwrap(), 0, proto, port);
                }
            }
        }
    }
});
