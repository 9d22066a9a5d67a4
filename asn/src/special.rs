//! Special-purpose address ranges (IANA's IPv4 and IPv6 special-purpose
//! registries, RFC 6890 and successors), so that traffic from addresses no
//! database maps is labelled for what it is — private, documentation,
//! loopback — instead of being lumped with "unrouted" or with real ASes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address has no origin AS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unmapped {
    /// Public space that no database maps, or that one maps to AS 0.
    Unrouted,
    /// RFC 1918 and IPv6 unique local addresses (fc00::/7).
    Private,
    /// RFC 6598 shared address space (carrier-grade NAT, 100.64.0.0/10).
    Shared,
    /// RFC 5737 / RFC 3849 / RFC 9637 documentation ranges.
    Documentation,
    Loopback,
    LinkLocal,
    Multicast,
    /// Everything else the registries set aside: "this network", reserved
    /// (240/4), benchmarking, the IPv6 unspecified and discard prefixes.
    Reserved,
}

impl Unmapped {
    pub const ALL: [Unmapped; 8] = [
        Unmapped::Unrouted,
        Unmapped::Private,
        Unmapped::Shared,
        Unmapped::Documentation,
        Unmapped::Loopback,
        Unmapped::LinkLocal,
        Unmapped::Multicast,
        Unmapped::Reserved,
    ];

    /// The label used in reports and in the `*_as_name` columns.
    pub fn label(self) -> &'static str {
        match self {
            Unmapped::Unrouted => "unrouted",
            Unmapped::Private => "private",
            Unmapped::Shared => "shared",
            Unmapped::Documentation => "documentation",
            Unmapped::Loopback => "loopback",
            Unmapped::LinkLocal => "link-local",
            Unmapped::Multicast => "multicast",
            Unmapped::Reserved => "reserved",
        }
    }

    pub fn from_label(s: &str) -> Option<Unmapped> {
        Unmapped::ALL.into_iter().find(|u| u.label() == s)
    }
}

fn in4(a: u32, net: [u8; 4], len: u32) -> bool {
    let n = u32::from_be_bytes(net);
    len == 0 || (a ^ n) >> (32 - len) == 0
}

fn in6(a: u128, net: Ipv6Addr, len: u32) -> bool {
    let n = u128::from(net);
    len == 0 || (a ^ n) >> (128 - len) == 0
}

/// The special-purpose class of an IPv4 address, if any.
pub fn classify_v4(a: Ipv4Addr) -> Option<Unmapped> {
    use Unmapped::*;
    let x = u32::from(a);
    const T: [([u8; 4], u32, Unmapped); 16] = [
        ([0, 0, 0, 0], 8, Reserved),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, Shared),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Documentation),
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 168, 0, 0], 16, Private),
        ([198, 18, 0, 0], 15, Reserved),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([224, 0, 0, 0], 4, Multicast),
        ([240, 0, 0, 0], 4, Reserved),
        ([255, 255, 255, 255], 32, Reserved),
    ];
    T.iter()
        .filter(|(n, l, _)| in4(x, *n, *l))
        .map(|t| t.2)
        .next_back()
}

/// The special-purpose class of an IPv6 address, if any (IPv4-mapped
/// addresses are classified as their IPv4 address).
pub fn classify_v6(a: Ipv6Addr) -> Option<Unmapped> {
    use Unmapped::*;
    if let Some(v4) = a.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let x = u128::from(a);
    // Almost every public address is in 2000::/3, where only the
    // documentation and benchmarking prefixes are special.
    if x >> 125 == 1 && x >> 96 != 0x2001_0db8 && x >> 80 != 0x2001_0002_0000 && x >> 108 != 0x3fff0
    {
        return None;
    }
    const T: [(Ipv6Addr, u32, Unmapped); 10] = [
        (Ipv6Addr::UNSPECIFIED, 128, Reserved),
        (Ipv6Addr::LOCALHOST, 128, Loopback),
        (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, Reserved),
        (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, Reserved),
        (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48, Reserved),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            Documentation,
        ),
        (
            Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
            20,
            Documentation,
        ),
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, Private),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, LinkLocal),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Multicast),
    ];
    T.iter().find(|(n, l, _)| in6(x, *n, *l)).map(|t| t.2)
}

pub fn classify(a: IpAddr) -> Option<Unmapped> {
    match a {
        IpAddr::V4(a) => classify_v4(a),
        IpAddr::V6(a) => classify_v6(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let c = |s: &str| classify(s.parse().unwrap());
        assert_eq!(c("10.1.2.3"), Some(Unmapped::Private));
        assert_eq!(c("172.31.255.255"), Some(Unmapped::Private));
        assert_eq!(c("172.32.0.0"), None);
        assert_eq!(c("192.0.2.77"), Some(Unmapped::Documentation));
        assert_eq!(c("192.0.3.1"), None);
        assert_eq!(c("100.127.255.255"), Some(Unmapped::Shared));
        assert_eq!(c("100.128.0.0"), None);
        assert_eq!(c("239.1.1.1"), Some(Unmapped::Multicast));
        assert_eq!(c("255.255.255.255"), Some(Unmapped::Reserved));
        assert_eq!(c("8.8.8.8"), None);
        assert_eq!(c("2001:db8:ffff::1"), Some(Unmapped::Documentation));
        assert_eq!(c("2001:db9::1"), None);
        assert_eq!(c("3fff:fff::1"), Some(Unmapped::Documentation));
        assert_eq!(c("3fff:1000::1"), None);
        assert_eq!(c("fd00::1"), Some(Unmapped::Private));
        assert_eq!(c("fe80::1"), Some(Unmapped::LinkLocal));
        assert_eq!(c("::1"), Some(Unmapped::Loopback));
        assert_eq!(c("::ffff:10.0.0.1"), Some(Unmapped::Private));
        assert_eq!(c("2a00::1"), None);
        for u in Unmapped::ALL {
            assert_eq!(Unmapped::from_label(u.label()), Some(u));
        }
    }
}
