//! Reading one snapshot file: what `kubectl get … -o json` writes (a `List`
//! of items of any kind, a typed `PodList`, or one object), and the CNI
//! endpoint dumps that name each pod's host-side interface (Cilium's
//! `cilium-dbg endpoint list -o json`, Calico's
//! `calicoctl get workloadendpoints -A -o json`).
//!
//! Each item is classified by its `kind` before it is deserialised into
//! its Kubernetes type, so a file mixing pods and services (`kubectl get
//! pods,svc -A -o json`) is read in one pass; kinds of no use here are
//! counted and skipped, and a file holding none of use is refused.

use std::path::Path;

use crate::api::{NetworkPolicy, Node, Owned, Pod, Service};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::K8sError;

/// A pod's host-side interface, from a CNI's endpoint dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub namespace: String,
    pub pod: String,
    pub interface: String,
}

/// What one file holds.
#[derive(Default)]
pub(crate) struct Content {
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    pub nodes: Vec<Node>,
    pub replica_sets: Vec<Owned>,
    pub jobs: Vec<Owned>,
    /// Namespaces: their labels, for policies' namespace selectors.
    pub namespaces: Vec<Owned>,
    pub policies: Vec<NetworkPolicy>,
    pub endpoints: Vec<Endpoint>,
    /// Items of other kinds, skipped.
    pub skipped: usize,
    /// Their kinds.
    pub skipped_kinds: std::collections::BTreeSet<String>,
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct CiliumEndpoint {
    status: Option<CiliumStatus>,
}

#[derive(Deserialize)]
struct CiliumStatus {
    #[serde(rename = "external-identifiers")]
    ids: Option<CiliumIds>,
    networking: Option<CiliumNetworking>,
}

#[derive(Deserialize)]
struct CiliumIds {
    #[serde(rename = "k8s-namespace")]
    namespace: Option<String>,
    #[serde(rename = "k8s-pod-name")]
    pod: Option<String>,
    /// "namespace/pod" (older agents have only this).
    #[serde(rename = "pod-name")]
    pod_name: Option<String>,
}

#[derive(Deserialize)]
struct CiliumNetworking {
    #[serde(rename = "interface-name")]
    interface: Option<String>,
}

#[derive(Deserialize)]
struct CalicoEndpoint {
    metadata: CalicoMeta,
    spec: CalicoSpec,
}

#[derive(Deserialize)]
struct CalicoMeta {
    namespace: Option<String>,
}

#[derive(Deserialize)]
struct CalicoSpec {
    pod: Option<String>,
    #[serde(rename = "interfaceName")]
    interface: Option<String>,
}

impl CiliumEndpoint {
    fn endpoint(self) -> Option<Endpoint> {
        let s = self.status?;
        let ids = s.ids?;
        let interface = s.networking?.interface?;
        let (namespace, pod) = match (ids.namespace, ids.pod, ids.pod_name) {
            (Some(n), Some(p), _) => (n, p),
            (_, _, Some(np)) => {
                let (n, p) = np.split_once('/')?;
                (n.to_string(), p.to_string())
            }
            _ => return None,
        };
        Some(Endpoint {
            namespace,
            pod,
            interface,
        })
    }
}

/// Read one file.
pub(crate) fn load(path: &Path) -> Result<Content, K8sError> {
    let text = std::fs::read_to_string(path).map_err(|source| K8sError::Io {
        path: path.into(),
        source,
    })?;
    parse(path, &text)
}

fn json_err(path: &Path) -> impl Fn(serde_json::Error) -> K8sError + '_ {
    move |source| K8sError::Json {
        path: path.into(),
        source,
    }
}

/// Parse a file's text (see [`load`]).
pub(crate) fn parse(path: &Path, text: &str) -> Result<Content, K8sError> {
    let foreign = |what: String| K8sError::Foreign {
        path: path.into(),
        what,
    };
    let mut c = Content::default();
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        // Cilium's agent: a bare array of endpoints.
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(json_err(path))?;
        for (index, raw) in items.iter().enumerate() {
            let e: CiliumEndpoint = item(path, index, "Cilium endpoint", raw)?;
            match e.endpoint() {
                Some(e) => c.endpoints.push(e),
                None => c.skipped += 1,
            }
        }
        if c.endpoints.is_empty() && !items.is_empty() {
            return Err(foreign(
                "an array, but not of Cilium endpoints with a pod and an interface".into(),
            ));
        }
        return Ok(c);
    }
    if !trimmed.starts_with('{') {
        return Err(foreign("neither a JSON object nor an array".into()));
    }
    let head: Head = serde_json::from_str(text).map_err(json_err(path))?;
    let list_kind = head.kind.as_deref().unwrap_or("");
    let Some(items) = head.items else {
        if list_kind.is_empty() {
            return Err(foreign("a JSON object without 'kind' or 'items'".into()));
        }
        // One object, as `kubectl get pod NAME -o json` writes it.
        let raw: &RawValue = serde_json::from_str(text).map_err(json_err(path))?;
        add(path, &mut c, 0, list_kind, raw)?;
        return match c.skipped {
            0 => Ok(c),
            _ => Err(foreign(format!("a single object of kind '{list_kind}'"))),
        };
    };
    let default_kind = list_kind.strip_suffix("List").unwrap_or("");
    for (index, raw) in items.iter().enumerate() {
        #[derive(Deserialize)]
        struct Kind<'a> {
            #[serde(borrow, default)]
            kind: Option<std::borrow::Cow<'a, str>>,
        }
        let k: Kind = item(path, index, "item", raw)?;
        let kind = k.kind.as_deref().unwrap_or(default_kind);
        add(path, &mut c, index, kind, raw)?;
    }
    if c.skipped == items.len() && !items.is_empty() {
        let kinds: Vec<&str> = c.skipped_kinds.iter().map(String::as_str).collect();
        return Err(foreign(format!(
            "a list of {} items of no use here (kind {})",
            items.len(),
            kinds.join(", ")
        )));
    }
    if list_kind.is_empty() && items.is_empty() {
        return Err(foreign("an object without a kind".into()));
    }
    Ok(c)
}

fn item<'a, T: Deserialize<'a>>(
    path: &Path,
    index: usize,
    kind: &str,
    raw: &'a RawValue,
) -> Result<T, K8sError> {
    serde_json::from_str(raw.get()).map_err(|source| K8sError::Item {
        path: path.into(),
        index,
        kind: kind.into(),
        source,
    })
}

fn add(path: &Path, c: &mut Content, i: usize, kind: &str, raw: &RawValue) -> Result<(), K8sError> {
    match kind {
        "Pod" => c.pods.push(item(path, i, kind, raw)?),
        "Service" => c.services.push(item(path, i, kind, raw)?),
        "Node" => c.nodes.push(item(path, i, kind, raw)?),
        "ReplicaSet" => c.replica_sets.push(item(path, i, kind, raw)?),
        "Job" => c.jobs.push(item(path, i, kind, raw)?),
        "Namespace" => c.namespaces.push(item(path, i, kind, raw)?),
        "NetworkPolicy" => c.policies.push(item(path, i, kind, raw)?),
        "WorkloadEndpoint" => {
            let w: CalicoEndpoint = item(path, i, kind, raw)?;
            match (w.metadata.namespace, w.spec.pod, w.spec.interface) {
                (Some(namespace), Some(pod), Some(interface)) => c.endpoints.push(Endpoint {
                    namespace,
                    pod,
                    interface,
                }),
                _ => c.skipped += 1,
            }
        }
        _ => {
            c.skipped += 1;
            c.skipped_kinds
                .insert(if kind.is_empty() { "none" } else { kind }.to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Content, K8sError> {
        parse(Path::new("snap.json"), text)
    }

    #[test]
    fn a_mixed_list_a_typed_list_and_one_object() {
        let c = p(r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x"}},
            {"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"}},
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}]}"#)
        .unwrap();
        assert_eq!((c.pods.len(), c.services.len(), c.skipped), (1, 1, 1));
        let c = p(
            r#"{"kind":"PodList","items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}"#,
        )
        .unwrap();
        assert_eq!(c.pods.len(), 2);
        let c = p(r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}"#).unwrap();
        assert_eq!(c.nodes.len(), 1);
    }

    #[test]
    fn endpoint_dumps_of_both_cnis() {
        let c = p(r#"[{"id":1,"status":{"external-identifiers":{"k8s-namespace":"x","k8s-pod-name":"a"},"networking":{"interface-name":"lxc12ab"}}},
                      {"id":2,"status":{"external-identifiers":{"pod-name":"y/b"},"networking":{"interface-name":"lxc34cd"}}}]"#).unwrap();
        assert_eq!(
            c.endpoints[1],
            Endpoint {
                namespace: "y".into(),
                pod: "b".into(),
                interface: "lxc34cd".into()
            }
        );
        let c = p(r#"{"kind":"WorkloadEndpointList","apiVersion":"projectcalico.org/v3","items":[
            {"kind":"WorkloadEndpoint","metadata":{"namespace":"x"},"spec":{"pod":"a","interfaceName":"cali0123456789a"}}]}"#).unwrap();
        assert_eq!(c.endpoints[0].interface, "cali0123456789a");
    }

    #[test]
    fn bad_files_are_named_and_said_what_is_wrong() {
        for (text, want) in [
            (
                r#"{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"#,
                "not JSON",
            ),
            (
                r#"{"kind":"ConfigMapList","items":[{"metadata":{"name":"c"}}]}"#,
                "no use here",
            ),
            (
                r#"{"kind":"Deployment","metadata":{"name":"d"}}"#,
                "single object of kind 'Deployment'",
            ),
            (
                r#"{"kind":"List","items":[{"kind":"Pod","spec":{"hostNetwork":"yes"}}]}"#,
                "item 0 (Pod)",
            ),
            ("hello", "neither a JSON object"),
            ("{}", "without 'kind' or 'items'"),
            (r#"[{"a":1}]"#, "not of Cilium endpoints"),
        ] {
            let e = p(text)
                .err()
                .unwrap_or_else(|| panic!("{text} was accepted"))
                .to_string();
            assert!(e.contains("snap.json") && e.contains(want), "{text}: {e}");
        }
    }
}
