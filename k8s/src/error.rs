//! Errors of loading cluster snapshots. Each names the file and what was
//! wrong with it, and says what was expected.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum K8sError {
    #[error("cannot read Kubernetes snapshot {}: {source} (check the --k8s path)", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("Kubernetes snapshot {}: not JSON ({source}); expected what `kubectl get pods -A -o json` writes (is the file truncated?)", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("Kubernetes snapshot {}: {what}; expected a list of pods, services, nodes, namespaces, ReplicaSets, Jobs, network policies or CNI endpoints (kubectl get ... -o json)", path.display())]
    Foreign { path: PathBuf, what: String },

    #[error("Kubernetes snapshot {}: item {index} ({kind}): {source}", path.display())]
    Item {
        path: PathBuf,
        index: usize,
        kind: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("Kubernetes snapshot {}: {what}", path.display())]
    Conflict { path: PathBuf, what: String },

    #[error("network policy {policy} in {}: {what}; fix or leave out the policy (kubectl apply would refuse it too)", path.display())]
    Policy {
        path: PathBuf,
        policy: String,
        what: String,
    },

    #[error("--k8s-policy {}: {what}", path.display())]
    NoPolicies { path: PathBuf, what: String },

    #[error("--k8s-time: {what}")]
    Time { what: String },
}
