//! Which report sections to compute, and so which columns to read.

/// Which sections to compute (and so which columns to read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sections {
    pub summary: bool,
    pub ip_versions: bool,
    pub protocols: bool,
    pub interfaces: bool,
    pub top_sources: bool,
    pub top_destinations: bool,
    pub time_series: bool,
    pub packet_sizes: bool,
    /// Packets and bytes per shim and tunnel kind.
    pub encapsulations: bool,
    /// Per-AS sections (need an ASN database).
    pub src_as: bool,
    pub dst_as: bool,
    pub remote_as: bool,
    pub as_pairs: bool,
    pub as_ipv6: bool,
}

impl Sections {
    pub const ALL: Sections = Sections {
        summary: true,
        ip_versions: true,
        protocols: true,
        interfaces: true,
        top_sources: true,
        top_destinations: true,
        time_series: true,
        packet_sizes: true,
        encapsulations: true,
        src_as: true,
        dst_as: true,
        remote_as: true,
        as_pairs: true,
        as_ipv6: true,
    };
    pub const NAMES: [&'static str; 14] = [
        "summary",
        "ip-versions",
        "protocols",
        "interfaces",
        "top-sources",
        "top-destinations",
        "time-series",
        "packet-sizes",
        "encapsulations",
        "src-as",
        "dst-as",
        "remote-as",
        "as-pairs",
        "as-ipv6",
    ];

    pub fn none() -> Sections {
        Sections {
            summary: false,
            ip_versions: false,
            protocols: false,
            interfaces: false,
            top_sources: false,
            top_destinations: false,
            time_series: false,
            packet_sizes: false,
            encapsulations: false,
            src_as: false,
            dst_as: false,
            remote_as: false,
            as_pairs: false,
            as_ipv6: false,
        }
    }

    /// Whether any per-AS section is on.
    pub fn any_as(&self) -> bool {
        self.src_as || self.dst_as || self.remote_as || self.as_pairs || self.as_ipv6
    }

    /// Turn the per-AS sections off (no ASN database).
    pub fn without_as(mut self) -> Sections {
        self.src_as = false;
        self.dst_as = false;
        self.remote_as = false;
        self.as_pairs = false;
        self.as_ipv6 = false;
        self
    }

    /// Enable a section by its name in [`Sections::NAMES`].
    pub fn enable(&mut self, name: &str) -> bool {
        let f = match name {
            "summary" => &mut self.summary,
            "ip-versions" => &mut self.ip_versions,
            "protocols" => &mut self.protocols,
            "interfaces" => &mut self.interfaces,
            "top-sources" => &mut self.top_sources,
            "top-destinations" => &mut self.top_destinations,
            "time-series" => &mut self.time_series,
            "packet-sizes" => &mut self.packet_sizes,
            "encapsulations" => &mut self.encapsulations,
            "src-as" => &mut self.src_as,
            "dst-as" => &mut self.dst_as,
            "remote-as" => &mut self.remote_as,
            "as-pairs" => &mut self.as_pairs,
            "as-ipv6" => &mut self.as_ipv6,
            _ => return false,
        };
        *f = true;
        true
    }

    pub fn addresses(&self) -> bool {
        self.top_sources || self.top_destinations || self.ip_versions || self.any_as()
    }
}
