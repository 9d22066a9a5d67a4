//! Names for numbers: EtherTypes, IP protocols, well-known service ports.
//! Short tables of what operators meet daily; everything else prints as a
//! number.

pub fn eth_type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        0x0800 => "IPv4",
        0x0806 => "ARP",
        0x86dd => "IPv6",
        0x8100 => "802.1Q",
        0x88a8 => "802.1ad",
        0x8847 => "MPLS",
        0x8848 => "MPLS multicast",
        0x8863 => "PPPoE discovery",
        0x8864 => "PPPoE session",
        0x88cc => "LLDP",
        0x88e5 => "MACsec",
        0x8809 => "Slow protocols (LACP)",
        0x88f7 => "PTP",
        0x8035 => "RARP",
        0x22f3 => "TRILL",
        0x893a => "IEEE 1905",
        _ => return None,
    })
}

pub fn ip_proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        0 => "HOPOPT",
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPv4-in-IP",
        6 => "TCP",
        17 => "UDP",
        41 => "IPv6-in-IP",
        43 => "IPv6-Route",
        44 => "IPv6-Frag",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "ICMPv6",
        59 => "IPv6-NoNxt",
        60 => "IPv6-Opts",
        88 => "EIGRP",
        89 => "OSPF",
        103 => "PIM",
        112 => "VRRP",
        115 => "L2TP",
        132 => "SCTP",
        136 => "UDP-Lite",
        137 => "MPLS-in-IP",
        _ => return None,
    })
}

/// Transport protocol label for service rows.
pub fn transport_name(p: u8) -> &'static str {
    match p {
        6 => "tcp",
        17 => "udp",
        132 => "sctp",
        136 => "udplite",
        _ => "ip",
    }
}

pub fn service_name(port: u16) -> Option<&'static str> {
    Some(match port {
        20 | 21 => "ftp",
        22 => "ssh",
        23 => "telnet",
        25 => "smtp",
        53 => "dns",
        67 | 68 => "dhcp",
        69 => "tftp",
        80 => "http",
        110 => "pop3",
        123 => "ntp",
        137..=139 => "netbios",
        143 => "imap",
        161 | 162 => "snmp",
        179 => "bgp",
        389 => "ldap",
        443 => "https",
        445 => "smb",
        465 => "smtps",
        500 => "ike",
        514 => "syslog",
        546 | 547 => "dhcpv6",
        587 => "submission",
        636 => "ldaps",
        853 => "dns-over-tls",
        993 => "imaps",
        995 => "pop3s",
        1194 => "openvpn",
        1812 | 1813 => "radius",
        2055 => "netflow",
        3306 => "mysql",
        3389 => "rdp",
        3478 => "stun",
        4500 => "ipsec-nat-t",
        4739 => "ipfix",
        4789 => "vxlan",
        5353 => "mdns",
        5432 => "postgresql",
        6081 => "geneve",
        6343 => "sflow",
        6379 => "redis",
        8080 => "http-alt",
        8443 => "https-alt",
        9092 => "kafka",
        51820 => "wireguard",
        _ => return None,
    })
}
