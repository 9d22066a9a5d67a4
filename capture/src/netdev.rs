//! Network devices as sysfs describes them: ifindex, MAC, MTU and what the
//! TC hooks see on them (their link type), shared by live capture and inject.

use pktsample_schemas::decode::linktype;

use crate::error::CaptureError;

fn sysfs(name: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/{file}"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && !name.contains(['/', '\0'])
        && name != "."
        && name != ".."
}

/// The current ifindex of interface `name`, if it exists.
pub fn ifindex(name: &str) -> Option<u32> {
    if !valid_name(name) {
        return None;
    }
    sysfs(name, "ifindex").and_then(|s| s.parse().ok())
}

/// The names of every network device, sorted.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A device to capture on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub ifindex: u32,
    /// Link type of what the TC hooks see on it (`decode::linktype`).
    pub link_type: u32,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
}

/// The link type of what the TC hooks see on a device of ARPHRD type
/// `arphrd` (`/sys/class/net/IF/type`), as libpcap maps them:
/// Ethernet-framed devices (Ethernet, veth, bridge, VLAN, vxlan, loopback)
/// or devices whose packets start at the IP header (tun, WireGuard, ipip,
/// sit, GRE, PPP). None for any other kind.
pub fn link_type_of(arphrd: u32) -> Option<u32> {
    match arphrd {
        // ETHER, LOOPBACK
        1 | 772 => Some(linktype::ETHERNET),
        // NONE (tun, WireGuard), TUNNEL (ipip), TUNNEL6, SIT, IPGRE,
        // IP6GRE, RAWIP, PPP
        65534 | 768 | 769 | 776 | 778 | 823 | 519 | 512 => Some(linktype::RAW),
        _ => None,
    }
}

/// Look up device `name`.
pub fn device(name: &str) -> Result<Device, CaptureError> {
    let ifindex = ifindex(name).ok_or_else(|| CaptureError::UnknownInterface {
        name: name.to_string(),
    })?;
    let arphrd: u32 = sysfs(name, "type")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let link_type = link_type_of(arphrd).ok_or_else(|| CaptureError::Attach {
        name: name.to_string(),
        detail: format!(
            "device type {arphrd} (ARPHRD) is not supported; pktsample captures Ethernet-framed devices and devices without a link-layer header (tun, WireGuard, ipip, sit, GRE, PPP)"
        ),
    })?;
    Ok(Device {
        name: name.to_string(),
        ifindex,
        link_type,
        mac: sysfs(name, "address").filter(|m| m.len() == 17),
        mtu: sysfs(name, "mtu").and_then(|m| m.parse().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_sysfs() {
        for bad in ["", "../lo", "a/b", ".", "..", "0123456789abcdef"] {
            assert_eq!(ifindex(bad), None, "{bad}");
        }
    }

    #[test]
    fn device_kinds_map_to_link_types() {
        assert_eq!(link_type_of(1), Some(linktype::ETHERNET));
        assert_eq!(link_type_of(772), Some(linktype::ETHERNET));
        for l3 in [65534, 768, 769, 776, 778] {
            assert_eq!(link_type_of(l3), Some(linktype::RAW), "{l3}");
        }
        // InfiniBand, IEEE 802.11 radiotap: refused, not misread.
        assert_eq!(link_type_of(32), None);
        assert_eq!(link_type_of(803), None);
    }
}
