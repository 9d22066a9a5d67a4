//! Decoding of captured header bytes into the schema's protocol columns.
//!
//! Samples carry only the first bytes of a frame (the snaplen), so decoding
//! must be lax: etherparse's `LaxSlicedPacket` walks Ethernet, VLAN/QinQ, IPv4
//! and IPv6 (with extension headers) and stops cleanly at a cut. Transport
//! fields are then read from the first bytes of the IP payload ourselves,
//! because etherparse only yields a transport slice for a complete TCP/UDP
//! header, while ports need only its first four bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice};

/// IP protocol numbers used for port and flag decoding.
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_SCTP: u8 = 132;
pub const IPPROTO_UDPLITE: u8 = 136;

/// The decoded protocol fields of one sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// EtherType after any VLAN tags (0 if the Ethernet header is cut).
    pub eth_type: u16,
    /// Outermost VLAN id.
    pub vlan: Option<u16>,
    /// Outermost IP header version (4 or 6).
    pub ip_version: Option<u8>,
    pub src_addr: Option<IpAddr>,
    pub dst_addr: Option<IpAddr>,
    /// IP protocol after IPv6 extension headers.
    pub ip_proto: Option<u8>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub tcp_flags: Option<u8>,
}

/// Decode an Ethernet frame's first bytes.
pub fn decode(header: &[u8]) -> Decoded {
    let mut d = Decoded::default();
    let Ok(p) = LaxSlicedPacket::from_ethernet(header) else {
        // Shorter than an Ethernet header: nothing to say.
        return d;
    };
    if let Some(LinkSlice::Ethernet2(eth)) = &p.link {
        d.eth_type = eth.ether_type().0;
    }
    for ext in &p.link_exts {
        if let LaxLinkExtSlice::Vlan(v) = ext {
            if d.vlan.is_none() {
                d.vlan = Some(u16::from(v.vlan_identifier()));
            }
            d.eth_type = v.ether_type().0;
        }
    }
    let payload = match &p.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            d.ip_version = Some(4);
            d.src_addr = Some(IpAddr::V4(Ipv4Addr::from(h.source())));
            d.dst_addr = Some(IpAddr::V4(Ipv4Addr::from(h.destination())));
            // Only the first fragment carries the transport header.
            let first_fragment = h.fragments_offset().value() == 0;
            Some((ip.payload(), first_fragment))
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            d.ip_version = Some(6);
            d.src_addr = Some(IpAddr::V6(Ipv6Addr::from(h.source())));
            d.dst_addr = Some(IpAddr::V6(Ipv6Addr::from(h.destination())));
            let first_fragment = ip.extensions().clone().into_iter().all(|e| match e {
                etherparse::Ipv6ExtensionSlice::Fragment(f) => f.fragment_offset().value() == 0,
                _ => true,
            });
            Some((ip.payload(), first_fragment))
        }
        Some(LaxNetSlice::Arp(_)) | None => None,
    };
    if let Some((pl, first_fragment)) = payload {
        let proto = pl.ip_number.0;
        d.ip_proto = Some(proto);
        let b = pl.payload;
        let has_ports = matches!(
            proto,
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | IPPROTO_UDPLITE
        );
        if has_ports && first_fragment && b.len() >= 4 {
            d.src_port = Some(u16::from_be_bytes([b[0], b[1]]));
            d.dst_port = Some(u16::from_be_bytes([b[2], b[3]]));
        }
        if proto == IPPROTO_TCP && first_fragment && b.len() >= 14 {
            d.tcp_flags = Some(b[13]);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_v6_frame() -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .single_vlan(etherparse::VlanId::try_new(42).unwrap())
            .ipv6(
                "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
                "2001:db8::2".parse::<Ipv6Addr>().unwrap().octets(),
                64,
            )
            .tcp(443, 50000, 1, 1000)
            .syn()
            .ack(5);
        let payload = [0u8; 100];
        let mut v = Vec::new();
        b.write(&mut v, &payload).unwrap();
        v
    }

    #[test]
    fn decodes_vlan_ipv6_tcp() {
        let f = tcp_v6_frame();
        let d = decode(&f);
        assert_eq!(d.eth_type, 0x86dd);
        assert_eq!(d.vlan, Some(42));
        assert_eq!(d.ip_version, Some(6));
        assert_eq!(d.src_addr.unwrap().to_string(), "2001:db8::1");
        assert_eq!(d.ip_proto, Some(6));
        assert_eq!((d.src_port, d.dst_port), (Some(443), Some(50000)));
        assert_eq!(d.tcp_flags, Some(0x12));
    }

    #[test]
    fn truncated_inside_tcp_header_still_has_ports() {
        let f = tcp_v6_frame();
        // Ethernet 14 + VLAN 4 + IPv6 40 + 6 bytes of TCP.
        let d = decode(&f[..64]);
        assert_eq!((d.src_port, d.dst_port), (Some(443), Some(50000)));
        assert_eq!(d.tcp_flags, None);
        assert_eq!(d.ip_proto, Some(6));
    }

    #[test]
    fn cut_ethernet_header_decodes_to_nothing() {
        let f = tcp_v6_frame();
        assert_eq!(decode(&f[..10]), Decoded::default());
        assert_eq!(decode(&[]), Decoded::default());
    }
}
