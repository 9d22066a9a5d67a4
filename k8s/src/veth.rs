//! Host-side interface names of pods. Calico names a pod's veth by rule:
//! "cali" and the first 11 hex digits of sha1("namespace.pod") (libcalico-go
//! `VethNameForWorkload`); Cilium's `lxc…` names are not derived from the
//! pod, so they come from the agent's endpoint dump.

use sha1::{Digest, Sha1};

/// Calico's host-side interface name of a pod.
pub fn calico_veth(namespace: &str, pod: &str) -> String {
    let mut h = Sha1::new();
    h.update(namespace.as_bytes());
    h.update(b".");
    h.update(pod.as_bytes());
    let d = h.finalize();
    let mut s = String::with_capacity(15);
    s.push_str("cali");
    for b in d.iter().take(6) {
        s.push_str(&format!("{b:02x}"));
    }
    s.truncate(15);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calicos_own_test_vector() {
        // libcalico-go's converter test: VethNameForWorkload("namespace",
        // "podname") with the prefix "eni" is "eni82111e10a96".
        assert_eq!(calico_veth("namespace", "podname"), "cali82111e10a96");
        // Fifteen characters: the kernel's limit for a name (IFNAMSIZ - 1).
        assert_eq!(
            calico_veth("kube-system", "coredns-5d78c9869d-abcde").len(),
            15
        );
    }
}
