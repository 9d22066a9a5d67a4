//! The report's sections as `--by` names them: one enum, and a set of them.
//!
//! What each section is (its title, JSON members, estimator, SQL and
//! rendering) is said once, in [`crate::catalog`]; this module only names
//! them, so the engine can ask which columns to read without knowing more.

/// A section of the report, as `--by` spells it (`ip-versions`, `src-as`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    Summary,
    IpVersions,
    Protocols,
    Interfaces,
    TopSources,
    TopDestinations,
    /// Top (source, destination) pairs (not in the default report).
    TopPairs,
    /// Top 5-tuple flows (not in the default report).
    TopFlows,
    /// TCP connections opened (SYN without ACK), per service and remote
    /// AS (not in the default report).
    Connections,
    TimeSeries,
    PacketSizes,
    /// Packets and bytes per shim and tunnel kind.
    Encapsulations,
    /// Per-AS sections (need an ASN database).
    SrcAs,
    DstAs,
    RemoteAs,
    AsPairs,
    AsIpv6,
    /// Kubernetes sections (need `--k8s` snapshots, or samples enriched
    /// with them).
    Namespaces,
    Workloads,
    NamespacePairs,
    WorkloadPairs,
    /// Traffic leaving the cluster, per workload and destination AS.
    Leaving,
    /// What network policies would deny (`--k8s-policy`), per workload
    /// pair.
    Denied,
}

impl Section {
    /// Every section, in `--by`'s order.
    pub const EVERY: [Section; 23] = [
        Section::Summary,
        Section::IpVersions,
        Section::Protocols,
        Section::Interfaces,
        Section::TopSources,
        Section::TopDestinations,
        Section::TopPairs,
        Section::TopFlows,
        Section::Connections,
        Section::TimeSeries,
        Section::PacketSizes,
        Section::Encapsulations,
        Section::SrcAs,
        Section::DstAs,
        Section::RemoteAs,
        Section::AsPairs,
        Section::AsIpv6,
        Section::Namespaces,
        Section::Workloads,
        Section::NamespacePairs,
        Section::WorkloadPairs,
        Section::Leaving,
        Section::Denied,
    ];

    /// The `--by` names, in [`Section::EVERY`]'s order.
    const NAMES: [&'static str; 23] = [
        "summary",
        "ip-versions",
        "protocols",
        "interfaces",
        "top-sources",
        "top-destinations",
        "top-pairs",
        "top-flows",
        "connections",
        "time-series",
        "packet-sizes",
        "encapsulations",
        "src-as",
        "dst-as",
        "remote-as",
        "as-pairs",
        "as-ipv6",
        "namespaces",
        "workloads",
        "namespace-pairs",
        "workload-pairs",
        "leaving",
        "denied",
    ];

    /// The `--by` name (`ip-versions`).
    pub const fn name(self) -> &'static str {
        Section::NAMES[self as usize]
    }

    /// Whether the section needs an ASN database.
    pub const fn per_as(self) -> bool {
        matches!(
            self,
            Section::SrcAs
                | Section::DstAs
                | Section::RemoteAs
                | Section::AsPairs
                | Section::AsIpv6
        )
    }

    /// Whether the section needs Kubernetes context.
    pub const fn per_k8s(self) -> bool {
        matches!(
            self,
            Section::Namespaces
                | Section::Workloads
                | Section::NamespacePairs
                | Section::WorkloadPairs
                | Section::Leaving
                | Section::Denied
        )
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A set of sections: which to compute, and so which columns to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Sections(u32);

impl Sections {
    pub const ALL: Sections = Sections::of(&Section::EVERY);

    /// The conversation sections: a table entry per 5-tuple (spilled past
    /// the memory budget like the addresses), so only on `--by`.
    pub const CONVERSATIONS: Sections =
        Sections::of(&[Section::TopPairs, Section::TopFlows, Section::Connections]);

    /// The default report: every section but the conversations.
    pub const DEFAULT: Sections = Sections::ALL.minus(Sections::CONVERSATIONS);

    /// The set of these sections.
    pub const fn of(list: &[Section]) -> Sections {
        let mut bits = 0;
        let mut i = 0;
        while i < list.len() {
            bits |= list[i].bit();
            i += 1;
        }
        Sections(bits)
    }

    /// The sections of either set.
    pub const fn union(self, o: Sections) -> Sections {
        Sections(self.0 | o.0)
    }

    /// No section.
    pub const fn none() -> Sections {
        Sections(0)
    }

    pub const fn has(self, s: Section) -> bool {
        self.0 & s.bit() != 0
    }

    /// Whether every section of `o` is in the set.
    pub const fn contains(self, o: Sections) -> bool {
        o.0 & !self.0 == 0
    }

    pub fn insert(&mut self, s: Section) {
        self.0 |= s.bit();
    }

    /// The set without the sections of `o`.
    pub const fn minus(self, o: Sections) -> Sections {
        Sections(self.0 & !o.0)
    }

    pub const fn without(self, s: Section) -> Sections {
        Sections(self.0 & !s.bit())
    }

    /// The sections of the set, in `--by`'s order.
    pub fn iter(self) -> impl Iterator<Item = Section> {
        Section::EVERY.into_iter().filter(move |s| self.has(*s))
    }

    /// Whether any per-AS section is on.
    pub fn any_as(self) -> bool {
        self.iter().any(Section::per_as)
    }

    /// Turn the per-AS sections off (no ASN database).
    pub fn without_as(self) -> Sections {
        self.iter().filter(|s| !s.per_as()).collect()
    }

    /// Whether any Kubernetes section is on.
    pub fn any_k8s(self) -> bool {
        self.iter().any(Section::per_k8s)
    }

    /// Turn the Kubernetes sections off (no snapshots).
    pub fn without_k8s(self) -> Sections {
        self.iter().filter(|s| !s.per_k8s()).collect()
    }

    /// Whether any section reads the address columns.
    pub fn addresses(self) -> bool {
        self.has(Section::TopSources)
            || self.has(Section::TopDestinations)
            || self.has(Section::IpVersions)
            || self.any_as()
            || self.flows()
    }

    /// Whether any section reads the flow table (pairs, flows, connections).
    pub fn flows(self) -> bool {
        self.0 & Sections::CONVERSATIONS.0 != 0
    }
}

/// `--by` takes a section by its name (clap lists the names in its help
/// and errors).
impl clap::ValueEnum for Section {
    fn value_variants<'a>() -> &'a [Section] {
        &Section::EVERY
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl FromIterator<Section> for Sections {
    fn from_iter<I: IntoIterator<Item = Section>>(it: I) -> Sections {
        let mut s = Sections::none();
        for x in it {
            s.insert(x);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kebab_case_and_unique() {
        let names: Vec<&str> = Section::EVERY.iter().map(|s| s.name()).collect();
        assert_eq!(names[1], "ip-versions");
        assert_eq!(names[16], "as-ipv6");
        let mut d = names.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), names.len());
        // EVERY is the enum, in order.
        for (i, s) in Section::EVERY.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }

    #[test]
    fn set_operations() {
        let all = Sections::ALL;
        assert_eq!(all.iter().count(), 23);
        assert_eq!(Sections::DEFAULT.iter().count(), 20);
        assert!(!Sections::DEFAULT.flows() && all.flows());
        assert!(all.any_k8s() && !all.without_k8s().any_k8s());
        assert!(all.any_as());
        let no_as = all.without_as();
        assert!(!no_as.any_as() && no_as.has(Section::Protocols));
        assert_eq!(no_as.iter().count(), 18);
        let one: Sections = [Section::TopSources].into_iter().collect();
        assert!(one.addresses() && !one.has(Section::Summary));
        assert!(!Sections::none().addresses());
        assert_eq!(all.without(Section::Summary).iter().count(), 22);
    }
}
