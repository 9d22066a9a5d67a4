//! The workload a pod belongs to, by its ownerReferences: Pod → ReplicaSet
//! → Deployment, StatefulSet, DaemonSet, Job → CronJob, or the pod itself.
//!
//! A pods dump does not hold the ReplicaSets and Jobs in between. When the
//! snapshots include them (`kubectl get rs,jobs -A -o json`) their own
//! owners are read; otherwise the link is made as the controllers name
//! their objects: a Deployment's ReplicaSet is `<deployment>-<hash>` where
//! the pod carries the same `pod-template-hash` label (exact), and a
//! CronJob's Job is `<cronjob>-<minutes since the epoch>` (eight digits
//! of a plausible schedule time: a heuristic, used only without the Job).

use crate::api::{ObjectMeta, OwnerReference};
use rustc_hash::FxHashMap;

/// The owner of a ReplicaSet or Job, by (namespace, name): (kind, name).
pub(crate) type Owners = FxHashMap<(String, String), (String, String)>;

/// The controlling owner of an object (the one with `controller: true`,
/// else the first).
pub(crate) fn controller(m: &ObjectMeta) -> Option<&OwnerReference> {
    let refs = m.owner_references.as_deref()?;
    refs.iter()
        .find(|r| r.controller == Some(true))
        .or_else(|| refs.first())
}

/// A CronJob's scheduled Job: `<cronjob>-<minutes>` with the minutes of a
/// time between 2001 and 2099.
fn cronjob_of(job: &str) -> Option<&str> {
    let (base, minutes) = job.rsplit_once('-')?;
    let ok = minutes.len() == 8
        && minutes.bytes().all(|b| b.is_ascii_digit())
        && (16_000_000..68_000_000).contains(&minutes.parse::<u64>().ok()?);
    (ok && !base.is_empty()).then_some(base)
}

/// The workload of a pod, as `kind/name` with the kind in lower case
/// (`deployment/frontend`, `statefulset/db`, `cronjob/backup`,
/// `pod/debug` for a pod without an owner).
pub(crate) fn workload_of(pod: &ObjectMeta, owners: &Owners) -> String {
    let name = pod.name.as_deref().unwrap_or("");
    let ns = pod.namespace.clone().unwrap_or_default();
    let Some(o) = controller(pod) else {
        return format!("pod/{name}");
    };
    let (kind, oname) = (o.kind.as_str(), o.name.as_str());
    if let Some((k, n)) = owners.get(&(ns, oname.to_string())) {
        return format!("{}/{n}", k.to_ascii_lowercase());
    }
    match kind {
        "ReplicaSet" => {
            let hash = pod.labels.as_ref().and_then(|l| l.get("pod-template-hash"));
            match hash.and_then(|h| oname.strip_suffix(h.as_str())?.strip_suffix('-')) {
                Some(d) if !d.is_empty() => format!("deployment/{d}"),
                _ => format!("replicaset/{oname}"),
            }
        }
        "Job" => match cronjob_of(oname) {
            Some(c) => format!("cronjob/{c}"),
            None => format!("job/{oname}"),
        },
        k => format!("{}/{oname}", k.to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, owner: Option<(&str, &str)>, hash: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("shop".into()),
            owner_references: owner.map(|(k, n)| {
                vec![OwnerReference {
                    kind: k.into(),
                    name: n.into(),
                    controller: Some(true),
                }]
            }),
            labels: hash.map(|h| [("pod-template-hash".to_string(), h.to_string())].into()),
            ..Default::default()
        }
    }

    #[test]
    fn owner_chains_without_the_objects_in_between() {
        let none = Owners::default();
        let cases = [
            (
                meta("web-5d8f-x", Some(("ReplicaSet", "web-5d8f")), Some("5d8f")),
                "deployment/web",
            ),
            // A ReplicaSet whose name does not end in the pod's hash is
            // not taken for a Deployment's.
            (
                meta("rs-x", Some(("ReplicaSet", "rs-abc")), Some("5d8f")),
                "replicaset/rs-abc",
            ),
            (
                meta("db-0", Some(("StatefulSet", "db")), None),
                "statefulset/db",
            ),
            (
                meta("agent-q", Some(("DaemonSet", "agent")), None),
                "daemonset/agent",
            ),
            (
                meta("b-29000000-x", Some(("Job", "backup-29000000")), None),
                "cronjob/backup",
            ),
            (
                meta("m-x", Some(("Job", "migrate-2024")), None),
                "job/migrate-2024",
            ),
            (meta("debug", None, None), "pod/debug"),
        ];
        for (m, want) in cases {
            assert_eq!(workload_of(&m, &none), want, "{:?}", m.name);
        }
    }

    #[test]
    fn owners_from_the_snapshot_win() {
        let mut o = Owners::default();
        o.insert(
            ("shop".into(), "nightly".into()),
            ("CronJob".into(), "report".into()),
        );
        let m = meta("nightly-x", Some(("Job", "nightly")), None);
        assert_eq!(workload_of(&m, &o), "cronjob/report");
    }
}
