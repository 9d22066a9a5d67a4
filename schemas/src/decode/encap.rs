//! The shims and tunnels a decoded packet passed through, in order: the
//! `encap` column's vocabulary.
//!
//! A packet's stack is a handful of small codes held inline ([`Encap`] is
//! `Copy`), so decoding allocates nothing; it becomes text (`vlan/pppoe`,
//! `vxlan/eth`) only when a writer fills the column. Every token is listed
//! in [`Layer::ALL`] with its name, and `schemas/README.md` documents them.

/// One shim or tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Layer {
    /// An 802.1Q or 802.1ad tag (each tag is one layer).
    Vlan = 1,
    /// One MPLS label stack entry.
    Mpls,
    /// A pseudowire control word after the MPLS stack.
    Pw,
    /// An Ethernet header inside a tunnel or pseudowire.
    Eth,
    /// A PPPoE session header (with its PPP protocol field).
    Pppoe,
    /// GRE (RFC 2784/2890), PPTP's enhanced GRE included.
    Gre,
    /// NVGRE: GRE with a key carrying Ethernet (RFC 7637).
    Nvgre,
    /// ERSPAN type II (GRE protocol 0x88be).
    Erspan2,
    /// ERSPAN type III (GRE protocol 0x22eb).
    Erspan3,
    /// VXLAN (UDP 4789, and Linux's older default 8472).
    Vxlan,
    /// Geneve (UDP 6081).
    Geneve,
    /// IP in IP: 4in4, 6in4, 4in6, 6in6 (IP protocols 4 and 41).
    Ipip,
    /// GTP-U (UDP 2152), G-PDUs.
    Gtpu,
    /// L2TPv2 data (UDP 1701), PPP inside.
    L2tp,
    /// Teredo (UDP 3544): IPv6 in UDP.
    Teredo,
    /// The bytes ended inside a shim or tunnel (the snap length): what
    /// follows is not known, and nothing was guessed.
    Cut,
}

impl Layer {
    pub const ALL: [Layer; 16] = [
        Layer::Vlan,
        Layer::Mpls,
        Layer::Pw,
        Layer::Eth,
        Layer::Pppoe,
        Layer::Gre,
        Layer::Nvgre,
        Layer::Erspan2,
        Layer::Erspan3,
        Layer::Vxlan,
        Layer::Geneve,
        Layer::Ipip,
        Layer::Gtpu,
        Layer::L2tp,
        Layer::Teredo,
        Layer::Cut,
    ];

    /// The token in the `encap` column.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Vlan => "vlan",
            Layer::Mpls => "mpls",
            Layer::Pw => "pw",
            Layer::Eth => "eth",
            Layer::Pppoe => "pppoe",
            Layer::Gre => "gre",
            Layer::Nvgre => "nvgre",
            Layer::Erspan2 => "erspan2",
            Layer::Erspan3 => "erspan3",
            Layer::Vxlan => "vxlan",
            Layer::Geneve => "geneve",
            Layer::Ipip => "ipip",
            Layer::Gtpu => "gtpu",
            Layer::L2tp => "l2tp",
            Layer::Teredo => "teredo",
            Layer::Cut => "cut",
        }
    }

    /// A token back to its layer.
    pub fn from_name(s: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.name() == s)
    }

    /// Whether the layer is a tunnel: an IP header inside it is the inner
    /// one (shims only wrap the outer IP header).
    pub fn is_tunnel(self) -> bool {
        matches!(
            self,
            Layer::Gre
                | Layer::Nvgre
                | Layer::Erspan2
                | Layer::Erspan3
                | Layer::Vxlan
                | Layer::Geneve
                | Layer::Ipip
                | Layer::Gtpu
                | Layer::L2tp
                | Layer::Teredo
        )
    }

    fn from_code(c: u8) -> Layer {
        Layer::ALL[usize::from(c) - 1]
    }
}

/// Most layers recorded for one packet; decoding stops there (a bound on
/// the work an adversarial packet can ask for).
pub const MAX_LAYERS: usize = 12;

/// The layers of one packet, outermost first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Encap {
    codes: [u8; MAX_LAYERS],
    len: u8,
}

impl Encap {
    /// Add a layer; false (and nothing added) when the stack is full.
    pub fn push(&mut self, l: Layer) -> bool {
        let n = usize::from(self.len);
        if n == MAX_LAYERS {
            return false;
        }
        self.codes[n] = l as u8;
        self.len += 1;
        true
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn layers(&self) -> impl Iterator<Item = Layer> + '_ {
        self.codes[..self.len()]
            .iter()
            .map(|&c| Layer::from_code(c))
    }

    /// Whether a tunnel was passed through.
    pub fn tunnelled(&self) -> bool {
        self.layers().any(Layer::is_tunnel)
    }

    /// Whether the bytes ended inside a shim or tunnel.
    pub fn cut(&self) -> bool {
        self.layers().any(|l| l == Layer::Cut)
    }

    /// The column's text: tokens joined by `/` (empty for no layer).
    pub fn write_to(&self, out: &mut String) {
        out.clear();
        for (i, l) in self.layers().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(l.name());
        }
    }

    /// The column's text as a new string.
    pub fn text(&self) -> String {
        let mut s = String::new();
        self.write_to(&mut s);
        s
    }
}

/// The distinct layers named in an `encap` value, in [`Layer::ALL`] order
/// (unknown tokens, from a newer writer, are left out).
pub fn kinds(text: &str) -> Vec<Layer> {
    let mut v: Vec<Layer> = text.split('/').filter_map(Layer::from_name).collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_stack_is_bounded() {
        for l in Layer::ALL {
            assert_eq!(Layer::from_name(l.name()), Some(l));
            assert_eq!(Layer::from_code(l as u8), l);
        }
        let mut e = Encap::default();
        assert!(e.push(Layer::Vlan) && e.push(Layer::Mpls) && e.push(Layer::Mpls));
        assert_eq!(e.text(), "vlan/mpls/mpls");
        assert!(!e.tunnelled());
        e.push(Layer::Vxlan);
        assert!(e.tunnelled());
        while e.push(Layer::Mpls) {}
        assert_eq!(e.len(), MAX_LAYERS);
        assert_eq!(
            kinds("mpls/mpls/vxlan/eth/x"),
            vec![Layer::Mpls, Layer::Eth, Layer::Vxlan]
        );
    }
}
