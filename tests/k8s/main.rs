//! Kubernetes context: the fixture cluster's two snapshots (fixtures/k8s)
//! and a trace written here between its pods, services and nodes, whose
//! every frame's expected context is known. Checked: the Kubernetes
//! columns capture writes, row by row; the analyze sections at rate 1
//! against the trace's counts; analyze --k8s on plain samples against
//! analyze of the enriched ones; bad snapshots refused with one line and
//! nothing written.
//!
//! `trace` holds the trace and its truth; `offline` the columns, the
//! sections and bad input; `coverage` the intervals at 1-in-100; `policy`
//! the policy what-if's denied traffic against its truth; `live` a Calico
//! veth in a network namespace.

#[path = "../common/mod.rs"]
mod common;

mod coverage;
mod live;
mod offline;
mod policy;
mod trace;
