//! Link types (tcpdump.org LINKTYPE_* values, as in pcap and pcapng files).

/// BSD loopback: a 4-byte address family in the capturing host's byte order.
pub const NULL: u32 = 0;
/// Ethernet II (also Linux loopback, whose frames carry an Ethernet header).
pub const ETHERNET: u32 = 1;
/// PPP (RFC 1661): the protocol field, HDLC address and control bytes
/// optional.
pub const PPP: u32 = 9;
/// PPP in HDLC-like framing (RFC 1662).
pub const PPP_HDLC: u32 = 50;
/// Raw IP: the packet starts with an IPv4 or IPv6 header.
pub const RAW: u32 = 101;
/// Cisco HDLC: address, control and an EtherType.
pub const C_HDLC: u32 = 104;
/// OpenBSD loopback: a 4-byte address family in network byte order.
pub const LOOP: u32 = 108;
/// Linux cooked capture v1 (`tcpdump -i any` before libpcap 1.10).
pub const LINUX_SLL: u32 = 113;
/// Per-Packet Information: a little-endian header naming the link type of
/// the packet that follows it.
pub const PPI: u32 = 192;
/// Raw IPv4 only.
pub const IPV4: u32 = 228;
/// Raw IPv6 only.
pub const IPV6: u32 = 229;
/// Linux cooked capture v2 (`tcpdump -i any`, libpcap 1.10 and later).
pub const LINUX_SLL2: u32 = 276;

/// Every link type pktsample decodes (new ones are appended: the fuzz
/// targets pick a link type by its position).
pub const SUPPORTED: [u32; 12] = [
    NULL, ETHERNET, RAW, LOOP, LINUX_SLL, IPV4, IPV6, LINUX_SLL2, PPP, PPP_HDLC, C_HDLC, PPI,
];

pub fn is_supported(lt: u32) -> bool {
    SUPPORTED.contains(&lt)
}

/// The LINKTYPE_ name, for messages and reports.
pub fn name(lt: u32) -> &'static str {
    match lt {
        NULL => "NULL",
        ETHERNET => "ETHERNET",
        PPP => "PPP",
        PPP_HDLC => "PPP_HDLC",
        RAW => "RAW",
        C_HDLC => "C_HDLC",
        LOOP => "LOOP",
        LINUX_SLL => "LINUX_SLL",
        PPI => "PPI",
        IPV4 => "IPV4",
        IPV6 => "IPV6",
        LINUX_SLL2 => "LINUX_SLL2",
        _ => "unsupported",
    }
}

/// A pcap file header's link-type field, as the pcap specification lays it
/// out: the link type in the low 16 bits, and in the top bits the length
/// of a frame check sequence each packet ends with (in 16-bit words, valid
/// when the F bit, 0x04000000, is set). Returns the link type and the FCS
/// length in bytes.
pub fn split_pcap_field(field: u32) -> (u32, u32) {
    let lt = field & 0xffff;
    let fcs = if field & 0x0400_0000 != 0 {
        2 * (field >> 28)
    } else {
        0
    };
    (lt, fcs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_field_bits() {
        // tshark reads 0x300000E5 as raw IPv6: FCS bits without the F bit.
        assert_eq!(split_pcap_field(0x3000_00e5), (IPV6, 0));
        // Ethernet with a 4-byte FCS (two 16-bit words, F set).
        assert_eq!(split_pcap_field(0x2400_0001), (ETHERNET, 4));
        assert_eq!(split_pcap_field(1), (ETHERNET, 0));
    }
}
