//! The layer walk: from the link header through shims (VLAN, MPLS, PPPoE,
//! PPP) and tunnels (GRE and its kin, VXLAN, Geneve, IP in IP, GTP-U,
//! L2TP, Teredo) to the innermost IP header.
//!
//! Written by hand because no crate walks these: etherparse (used here for
//! the IP headers themselves) stops at MPLS, PPPoE and every tunnel, and
//! the dissectors that know them (Wireshark, nDPI) are not libraries we can
//! link. The rules follow Wireshark's dissectors: MPLS's payload by the
//! first nibble after the bottom of the stack (4 and 6 IP, 0 a pseudowire
//! control word and Ethernet, 1 an associated channel, anything else
//! Ethernet without a control word); VXLAN and Geneve by their destination
//! port; GTP-U, L2TP and Teredo by either port; each header checked for its
//! version before it is believed. The walk is bounded (at most
//! [`MAX_LAYERS`](super::encap::MAX_LAYERS) layers, four IP headers and a
//! fixed number of steps), and a header the bytes end inside is recorded
//! as [`Layer::Cut`], never guessed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::LaxIpSlice;
use etherparse::err::ip::LaxHeaderSliceError;

use super::encap::Layer;
use super::{
    Decoded, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, IpFields, ipv6_first_fragment,
};

/// IP headers decoded at most (the outer one and three inside tunnels).
const MAX_IPS: u8 = 4;
/// Steps of the walk at most (each consumes a header or stops).
const MAX_STEPS: usize = 32;

pub(super) const ETH_P_IP: u16 = 0x0800;
pub(super) const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_MPLS: u16 = 0x8847;
const ETH_P_MPLS_MC: u16 = 0x8848;
const ETH_P_PPPOE_SESSION: u16 = 0x8864;
const ETH_P_TEB: u16 = 0x6558;
const ETH_P_ERSPAN2: u16 = 0x88be;
const ETH_P_ERSPAN3: u16 = 0x22eb;
const ETH_P_PPP: u16 = 0x880b;

/// Where the walk goes next.
#[derive(Clone, Copy)]
pub(super) enum Next<'a> {
    /// A payload of this EtherType.
    Ether(u16, &'a [u8]),
    /// An Ethernet header inside a tunnel or pseudowire.
    Eth(&'a [u8]),
    /// An IP header of either version.
    Ip(&'a [u8]),
    /// A PPP protocol field (HDLC address and control bytes, if any, first).
    Ppp(&'a [u8]),
    Stop,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be24(b: &[u8]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

/// Walk from `start`, filling `d`.
pub(super) fn walk(start: Next<'_>, d: &mut Decoded) {
    let mut w = Walker { d, ips: 0 };
    let mut next = start;
    for _ in 0..MAX_STEPS {
        next = match next {
            Next::Ether(t, b) => w.ether(t, b),
            Next::Eth(b) => w.eth(b),
            Next::Ip(b) => w.ip(b),
            Next::Ppp(b) => w.ppp(b),
            Next::Stop => return,
        };
    }
}

struct Walker<'d> {
    d: &'d mut Decoded,
    /// IP headers decoded so far.
    ips: u8,
}

impl Walker<'_> {
    /// Before the outer IP header: shims still describe the outer packet.
    fn outer(&self) -> bool {
        self.ips == 0
    }

    /// Record a layer; Stop when the stack is full.
    fn push(&mut self, l: Layer) -> bool {
        self.d.encap.push(l)
    }

    /// The bytes ended inside a layer: recorded (when inside a shim or
    /// tunnel; a plain packet cut short is just a short header).
    fn cut(&mut self) -> Next<'static> {
        if !self.d.encap.is_empty() {
            self.d.encap.push(Layer::Cut);
        }
        Next::Stop
    }

    fn ether<'a>(&mut self, t: u16, b: &'a [u8]) -> Next<'a> {
        if self.outer() {
            self.d.eth_type = t;
        }
        match t {
            0x8100 | 0x88a8 | 0x9100 => {
                if !self.push(Layer::Vlan) {
                    return Next::Stop;
                }
                if b.len() < 4 {
                    return self.cut();
                }
                if self.outer() && self.d.vlan.is_none() {
                    self.d.vlan = Some(be16(b) & 0x0fff);
                }
                Next::Ether(be16(&b[2..]), &b[4..])
            }
            ETH_P_MPLS | ETH_P_MPLS_MC => self.mpls(b),
            ETH_P_PPPOE_SESSION => self.pppoe(b),
            ETH_P_IP | ETH_P_IPV6 => Next::Ip(b),
            _ => Next::Stop,
        }
    }

    fn eth<'a>(&mut self, b: &'a [u8]) -> Next<'a> {
        if !self.push(Layer::Eth) {
            return Next::Stop;
        }
        if b.len() < 14 {
            return self.cut();
        }
        Next::Ether(be16(&b[12..]), &b[14..])
    }

    fn mpls<'a>(&mut self, mut b: &'a [u8]) -> Next<'a> {
        loop {
            if !self.push(Layer::Mpls) {
                return Next::Stop;
            }
            if b.len() < 4 {
                return self.cut();
            }
            let e = be32(b);
            if self.outer() && self.d.mpls_label.is_none() {
                self.d.mpls_label = Some(e >> 12);
            }
            b = &b[4..];
            if e & 0x100 != 0 {
                break;
            }
        }
        match b.first().map(|v| v >> 4) {
            None => self.cut(),
            Some(4) => Next::Ether(ETH_P_IP, b),
            Some(6) => Next::Ether(ETH_P_IPV6, b),
            Some(0) => {
                if !self.push(Layer::Pw) {
                    return Next::Stop;
                }
                if b.len() < 4 {
                    return self.cut();
                }
                Next::Eth(&b[4..])
            }
            // An associated channel (OAM, BFD): no traffic inside.
            Some(1) => Next::Stop,
            Some(_) => Next::Eth(b),
        }
    }

    fn pppoe<'a>(&mut self, b: &'a [u8]) -> Next<'a> {
        if !self.push(Layer::Pppoe) {
            return Next::Stop;
        }
        if b.len() < 6 {
            return self.cut();
        }
        // Version 1, type 1, code 0 (session data).
        if b[0] != 0x11 || b[1] != 0 {
            return Next::Stop;
        }
        if self.outer() && self.d.pppoe_session.is_none() {
            self.d.pppoe_session = Some(be16(&b[2..]));
        }
        Next::Ppp(&b[6..])
    }

    fn ppp<'a>(&mut self, mut b: &'a [u8]) -> Next<'a> {
        // HDLC-like framing (RFC 1662): address 0xff, control 0x03.
        if b.len() >= 2 && b[0] == 0xff && b[1] == 0x03 {
            b = &b[2..];
        }
        let (proto, rest) = match b.first() {
            None => return self.cut(),
            // Protocol field compression: one byte, odd.
            Some(&p) if p & 1 == 1 => (u16::from(p), &b[1..]),
            Some(_) if b.len() >= 2 => (be16(b), &b[2..]),
            Some(_) => return self.cut(),
        };
        match proto {
            0x0021 => Next::Ether(ETH_P_IP, rest),
            0x0057 => Next::Ether(ETH_P_IPV6, rest),
            0x0281 => Next::Ether(ETH_P_MPLS, rest),
            0x0283 => Next::Ether(ETH_P_MPLS_MC, rest),
            _ => Next::Stop,
        }
    }

    fn ip<'a>(&mut self, b: &'a [u8]) -> Next<'a> {
        if self.ips >= MAX_IPS {
            return Next::Stop;
        }
        let ip = match LaxIpSlice::from_slice(b) {
            Ok((ip, _)) => ip,
            Err(LaxHeaderSliceError::Len(_)) => return self.cut(),
            Err(LaxHeaderSliceError::Content(_)) => return Next::Stop,
        };
        let (version, src, dst, first) = match &ip {
            LaxIpSlice::Ipv4(v4) => {
                let h = v4.header();
                (
                    4,
                    IpAddr::V4(Ipv4Addr::from(h.source())),
                    IpAddr::V4(Ipv4Addr::from(h.destination())),
                    h.fragments_offset().value() == 0,
                )
            }
            LaxIpSlice::Ipv6(v6) => {
                let h = v6.header();
                (
                    6,
                    IpAddr::V6(Ipv6Addr::from(h.source())),
                    IpAddr::V6(Ipv6Addr::from(h.destination())),
                    ipv6_first_fragment(h.next_header().0, v6.extensions().slice()),
                )
            }
        };
        let pl = ip.payload();
        let proto = pl.ip_number.0;
        let b = pl.payload;
        let has_ports = matches!(
            proto,
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP | IPPROTO_UDPLITE
        );
        let ports = (has_ports && first && b.len() >= 4).then(|| (be16(b), be16(&b[2..])));
        let f = IpFields {
            version,
            src,
            dst,
            proto,
            src_port: ports.map(|p| p.0),
            dst_port: ports.map(|p| p.1),
            tcp_flags: (proto == IPPROTO_TCP && first && b.len() >= 14).then(|| b[13]),
        };
        if self.outer() {
            self.d.set_outer(&f);
        } else {
            self.d.inner = Some(f);
        }
        self.ips += 1;
        if !first {
            return Next::Stop;
        }
        match proto {
            4 | 41 => {
                if !self.push(Layer::Ipip) {
                    return Next::Stop;
                }
                Next::Ip(b)
            }
            47 => self.gre(b),
            IPPROTO_UDP => match ports {
                Some((s, d)) => self.udp(s, d, b),
                None => Next::Stop,
            },
            _ => Next::Stop,
        }
    }

    fn tunnel_id(&mut self, id: u32) {
        if self.d.tunnel_id.is_none() {
            self.d.tunnel_id = Some(id);
        }
    }

    /// A tunnel over UDP, known by its port.
    fn udp<'a>(&mut self, sport: u16, dport: u16, b: &'a [u8]) -> Next<'a> {
        let either = |p: u16| sport == p || dport == p;
        let body = b.get(8..).unwrap_or(&[]);
        let short = b.len() < 8;
        if dport == 4789 || dport == 8472 {
            self.vxlan(body, short)
        } else if dport == 6081 {
            self.geneve(body, short)
        } else if either(2152) {
            self.gtpu(body, short)
        } else if either(1701) {
            self.l2tp(body, short)
        } else if either(3544) {
            self.teredo(body)
        } else {
            Next::Stop
        }
    }

    /// Push `l`, then stop as cut when `need` bytes of `b` are not there.
    fn enter(&mut self, l: Layer, b: &[u8], need: usize) -> Result<(), Next<'static>> {
        if !self.push(l) {
            return Err(Next::Stop);
        }
        if b.len() < need {
            return Err(self.cut());
        }
        Ok(())
    }

    fn vxlan<'a>(&mut self, b: &'a [u8], short: bool) -> Next<'a> {
        // The I flag says the VNI is valid; without it this is not VXLAN.
        if !short && b.first().is_some_and(|f| f & 0x08 == 0) {
            return Next::Stop;
        }
        if let Err(n) = self.enter(Layer::Vxlan, if short { &[] } else { b }, 8) {
            return n;
        }
        self.tunnel_id(be24(&b[4..]));
        Next::Eth(&b[8..])
    }

    fn geneve<'a>(&mut self, b: &'a [u8], short: bool) -> Next<'a> {
        if !short && b.first().is_some_and(|v| v >> 6 != 0) {
            return Next::Stop;
        }
        if let Err(n) = self.enter(Layer::Geneve, if short { &[] } else { b }, 8) {
            return n;
        }
        self.tunnel_id(be24(&b[4..]));
        let opts = usize::from(b[0] & 0x3f) * 4;
        let Some(body) = b.get(8 + opts..) else {
            return self.cut();
        };
        match be16(&b[2..]) {
            ETH_P_TEB => Next::Eth(body),
            ETH_P_IP | ETH_P_IPV6 => Next::Ip(body),
            _ => Next::Stop,
        }
    }

    fn gtpu<'a>(&mut self, b: &'a [u8], short: bool) -> Next<'a> {
        // Version 1, protocol type GTP.
        if !short && b.first().is_some_and(|f| f >> 5 != 1 || f & 0x10 == 0) {
            return Next::Stop;
        }
        if let Err(n) = self.enter(Layer::Gtpu, if short { &[] } else { b }, 8) {
            return n;
        }
        self.tunnel_id(be32(&b[4..]));
        if b[1] != 0xff {
            // Not a G-PDU (echo, error indication): no user packet.
            return Next::Stop;
        }
        let mut off = 8;
        if b[0] & 0x07 != 0 {
            // Sequence number, N-PDU number, next extension header type.
            let Some(&first) = b.get(11) else {
                return self.cut();
            };
            off = 12;
            let mut next = first;
            for _ in 0..8 {
                if next == 0 {
                    break;
                }
                let Some(&units) = b.get(off) else {
                    return self.cut();
                };
                let len = usize::from(units) * 4;
                if len == 0 {
                    return Next::Stop;
                }
                let Some(&n) = b.get(off + len - 1) else {
                    return self.cut();
                };
                next = n;
                off += len;
            }
            if next != 0 {
                return Next::Stop;
            }
        }
        Next::Ip(b.get(off..).unwrap_or(&[]))
    }

    fn l2tp<'a>(&mut self, b: &'a [u8], short: bool) -> Next<'a> {
        if !short && b.len() >= 2 && b[1] & 0x0f != 2 {
            return Next::Stop;
        }
        if let Err(n) = self.enter(Layer::L2tp, if short { &[] } else { b }, 2) {
            return n;
        }
        let flags = be16(b);
        if flags & 0x8000 != 0 {
            // A control message.
            return Next::Stop;
        }
        let mut off = 2 + if flags & 0x4000 != 0 { 2 } else { 0 };
        if b.len() < off + 4 {
            return self.cut();
        }
        self.tunnel_id(be32(&b[off..]));
        off += 4;
        if flags & 0x0800 != 0 {
            off += 4;
        }
        if flags & 0x0200 != 0 {
            let Some(o) = b.get(off..off + 2) else {
                return self.cut();
            };
            off += 2 + usize::from(be16(o));
        }
        match b.get(off..) {
            Some(rest) => Next::Ppp(rest),
            None => self.cut(),
        }
    }

    fn teredo<'a>(&mut self, b: &'a [u8]) -> Next<'a> {
        let mut off = 0;
        for _ in 0..2 {
            match b.get(off..off + 2) {
                // Authentication: id and value lengths, nonce, confirmation.
                Some([0, 1]) => match b.get(off + 2..off + 4) {
                    Some(l) => off += 4 + usize::from(l[0]) + usize::from(l[1]) + 9,
                    None => break,
                },
                // Origin indication.
                Some([0, 0]) => off += 8,
                _ => break,
            }
        }
        // Only an IPv6 header makes it Teredo (the port alone is weak).
        match b.get(off) {
            Some(v) if v >> 4 == 6 => {
                if !self.push(Layer::Teredo) {
                    return Next::Stop;
                }
                Next::Ip(&b[off..])
            }
            _ => Next::Stop,
        }
    }

    fn gre<'a>(&mut self, b: &'a [u8]) -> Next<'a> {
        if b.len() < 4 {
            if !self.push(Layer::Gre) {
                return Next::Stop;
            }
            return self.cut();
        }
        let flags = be16(b);
        let proto = be16(&b[2..]);
        let (c, r, k, s) = (
            flags & 0x8000 != 0,
            flags & 0x4000 != 0,
            flags & 0x2000 != 0,
            flags & 0x1000 != 0,
        );
        let version = flags & 0x7;
        let mut off = 4;
        if version == 1 {
            // PPTP's enhanced GRE: key (payload length, call id), sequence
            // and acknowledgement numbers.
            off += 4 * (usize::from(k) + usize::from(s) + usize::from(flags & 0x0080 != 0));
        } else {
            off += 4 * (usize::from(c || r) + usize::from(k) + usize::from(s));
        }
        // The key follows the checksum word (present with C or R).
        let at = 4 + 4 * usize::from(c || r);
        let key = if k { b.get(at..at + 4).map(be32) } else { None };
        let layer = match proto {
            ETH_P_TEB if k && !c && !s && version == 0 => Layer::Nvgre,
            ETH_P_ERSPAN2 => Layer::Erspan2,
            ETH_P_ERSPAN3 => Layer::Erspan3,
            _ => Layer::Gre,
        };
        if !self.push(layer) {
            return Next::Stop;
        }
        // Source routing (RFC 1701) or an unknown version: not followed.
        if r || version > 1 {
            return Next::Stop;
        }
        let Some(body) = b.get(off..) else {
            return self.cut();
        };
        match layer {
            Layer::Nvgre => {
                // The key is the virtual subnet id and a flow id.
                self.tunnel_id(key.unwrap_or(0) >> 8);
                Next::Eth(body)
            }
            Layer::Erspan2 | Layer::Erspan3 => self.erspan(layer, s, body),
            _ => {
                if let Some(k) = key {
                    self.tunnel_id(k);
                }
                match proto {
                    ETH_P_TEB => Next::Eth(body),
                    ETH_P_IP | ETH_P_IPV6 => Next::Ip(body),
                    ETH_P_MPLS | ETH_P_MPLS_MC => Next::Ether(proto, body),
                    ETH_P_PPP => Next::Ppp(body),
                    _ => Next::Stop,
                }
            }
        }
    }

    /// ERSPAN II and III: the session id is the tunnel id; the mirrored
    /// frame follows. Type I (0x88be without a sequence number) has no
    /// header of its own.
    fn erspan<'a>(&mut self, layer: Layer, seq: bool, b: &'a [u8]) -> Next<'a> {
        if layer == Layer::Erspan2 && !seq {
            return Next::Eth(b);
        }
        let len = if layer == Layer::Erspan2 { 8 } else { 12 };
        if b.len() < len {
            return self.cut();
        }
        self.tunnel_id(u32::from(be16(&b[2..]) & 0x03ff));
        // ERSPAN III's optional platform-specific subheader (O flag).
        let extra = if layer == Layer::Erspan3 && b[11] & 1 != 0 {
            8
        } else {
            0
        };
        match b.get(len + extra..) {
            Some(rest) => Next::Eth(rest),
            None => self.cut(),
        }
    }
}
