//! Every section of the report, defined once.
//!
//! A [`Descriptor`] says what a section is: the `--by` name it answers
//! to, the report-v1 members it fills, its estimator (in [`crate::estimate`]),
//! its SQL (in [`crate::sql`]) and the breakdowns the text, CSV, Markdown
//! and HTML renderers show. Adding a section is its own estimator, SQL and
//! row functions, and one entry in [`CATALOG`]. The order of the list is
//! the order the report shows its breakdowns and `sql` prints its
//! statements; estimators run in `--by`'s order, which is also the order
//! of their warnings.

use crate::engine::Analysis;
use crate::error::AnalyzeError;
use crate::estimate::{self, Ctx};
use crate::report::Report;
use crate::report::text::{self, Chart, TextRow, TextSection};
use crate::section::{Section, Sections};
use crate::sql::{self, Ask, Scope, Statement};

/// One breakdown as the text formats show it.
pub struct Part {
    /// The report-v1 member its rows are (`ip_protocols`).
    pub id: &'static str,
    pub title: &'static str,
    /// The names of its key columns.
    pub keys: &'static [&'static str],
    pub chart: Chart,
    /// The table format shows its last key whole (a rule's text), not cut
    /// to the width of a name.
    pub whole_last: bool,
    pub rows: fn(&Report) -> Option<Vec<TextRow>>,
}

/// A section: everything the report, the SQL and the renderers know of it.
pub struct Descriptor {
    /// What `--by` calls it; None: a part of every report whose inputs have
    /// it (the sFlow calibration check).
    pub section: Option<Section>,
    /// The report-v1 members it fills (`summary` and `ipv6_share` are in
    /// every report).
    pub members: &'static [&'static str],
    /// Fills those members.
    pub estimate: fn(&mut Ctx),
    /// Its statements, each named after the member its rows are (or
    /// `MEMBER_…` for rows inside one); None: no SQL form yet.
    pub sql: Option<fn(&Ask) -> Vec<Statement>>,
    /// The breakdowns the text formats show (none: the summary, which
    /// each renders its own way).
    pub parts: &'static [Part],
}

const fn part(
    id: &'static str,
    title: &'static str,
    keys: &'static [&'static str],
    rows: fn(&Report) -> Option<Vec<TextRow>>,
) -> Part {
    Part {
        id,
        title,
        keys,
        chart: Chart::Bars,
        whole_last: false,
        rows,
    }
}

const fn charted(mut p: Part, chart: Chart) -> Part {
    p.chart = chart;
    p
}

const fn whole_last(mut p: Part) -> Part {
    p.whole_last = true;
    p
}

/// One part, one member, one SQL function.
const fn simple(
    section: Section,
    estimate: fn(&mut Ctx),
    sql: fn(&Ask) -> Vec<Statement>,
    parts: &'static [Part],
) -> Descriptor {
    Descriptor {
        section: Some(section),
        members: &[],
        estimate,
        sql: Some(sql),
        parts,
    }
}

/// A per-AS section: its part, and the databases it read.
const fn per_as(
    section: Section,
    estimate: fn(&mut Ctx),
    sql: fn(&Ask) -> Vec<Statement>,
    parts: &'static [Part],
) -> Descriptor {
    Descriptor {
        members: &["asn_databases"],
        ..simple(section, estimate, sql, parts)
    }
}

/// A Kubernetes section: its parts, and the snapshots it read.
const fn k8s(
    section: Section,
    estimate: fn(&mut Ctx),
    sql: fn(&Ask) -> Vec<Statement>,
    parts: &'static [Part],
) -> Descriptor {
    Descriptor {
        section: Some(section),
        members: &["k8s_snapshots"],
        estimate,
        sql: Some(sql),
        parts,
    }
}

/// Every section, in display order.
pub const CATALOG: &[Descriptor] = &[
    Descriptor {
        section: Some(Section::Summary),
        members: &["summary", "ipv6_share"],
        estimate: estimate::nothing,
        sql: Some(sql::summary),
        parts: &[],
    },
    Descriptor {
        members: &["distinct_addresses", "distinct_hosts"],
        ..simple(
            Section::IpVersions,
            estimate::ip_versions,
            sql::ip_versions,
            &[part(
                "ip_versions",
                "IP versions",
                &["version"],
                text::ip_versions,
            )],
        )
    },
    simple(
        Section::Protocols,
        estimate::protocols,
        sql::protocols,
        &[
            part("eth_types", "EtherTypes", &["ethertype"], text::eth_types),
            part(
                "ip_protocols",
                "IP protocols",
                &["protocol"],
                text::ip_protocols,
            ),
            part("services", "Services", &["service"], text::services),
        ],
    ),
    simple(
        Section::Interfaces,
        estimate::interfaces,
        sql::interfaces,
        &[part(
            "interfaces",
            "Interfaces",
            &["interface", "direction"],
            text::interfaces,
        )],
    ),
    Descriptor {
        section: None,
        members: &[],
        // Estimated by `Ctx::finish`, for every report.
        estimate: estimate::nothing,
        sql: None,
        parts: &[charted(
            part(
                "calibration",
                "sFlow calibration: estimate over each counter span beside the agent's counters",
                &[
                    "data source",
                    "dir",
                    "counted packets",
                    "counted bytes",
                    "within",
                ],
                text::calibration,
            ),
            Chart::TableOnly,
        )],
    },
    simple(
        Section::TopSources,
        estimate::top_sources,
        sql::top_sources,
        &[part(
            "top_sources",
            "Top sources",
            &["source"],
            text::top_sources,
        )],
    ),
    simple(
        Section::TopDestinations,
        estimate::top_destinations,
        sql::top_destinations,
        &[part(
            "top_destinations",
            "Top destinations",
            &["destination"],
            text::top_destinations,
        )],
    ),
    Descriptor {
        section: Some(Section::TopPairs),
        members: &[],
        estimate: estimate::top_pairs,
        sql: Some(sql::top_pairs),
        parts: &[part(
            "top_pairs",
            "Top address pairs",
            &["source", "destination"],
            text::top_pairs,
        )],
    },
    Descriptor {
        section: Some(Section::TopFlows),
        members: &[],
        estimate: estimate::top_flows,
        sql: Some(sql::top_flows),
        parts: &[part(
            "top_flows",
            "Top flows",
            &["protocol", "source", "destination"],
            text::top_flows,
        )],
    },
    Descriptor {
        section: Some(Section::Connections),
        members: &[],
        estimate: estimate::connections,
        sql: Some(sql::connections),
        parts: &[
            part(
                "connections",
                "TCP connections opened (SYN without ACK: packets are connections), per service",
                &["port"],
                text::connections,
            ),
            part(
                "connections_by_remote_as",
                "TCP connections opened, per remote AS",
                &["remote AS"],
                text::connections_by_remote_as,
            ),
        ],
    },
    per_as(
        Section::SrcAs,
        estimate::source_as,
        sql::source_as,
        &[part(
            "source_as",
            "Source AS",
            &["source AS"],
            text::source_as,
        )],
    ),
    per_as(
        Section::DstAs,
        estimate::destination_as,
        sql::destination_as,
        &[part(
            "destination_as",
            "Destination AS",
            &["destination AS"],
            text::destination_as,
        )],
    ),
    per_as(
        Section::RemoteAs,
        estimate::remote_as,
        sql::remote_as,
        &[part(
            "remote_as",
            "Remote AS (source of ingress, destination of egress)",
            &["remote AS"],
            text::remote_as,
        )],
    ),
    per_as(
        Section::AsPairs,
        estimate::as_pairs,
        sql::as_pairs,
        &[charted(
            part(
                "as_pairs",
                "AS pairs",
                &["source AS", "destination AS"],
                text::as_pairs,
            ),
            Chart::Matrix("ASes"),
        )],
    ),
    per_as(
        Section::AsIpv6,
        estimate::as_ipv6,
        sql::as_ipv6,
        &[part(
            "as_ipv6",
            "IPv6 by remote AS",
            &["remote AS"],
            text::as_ipv6,
        )],
    ),
    k8s(
        Section::Namespaces,
        estimate::namespaces,
        sql::namespaces,
        &[
            part(
                "source_namespaces",
                "Source namespaces",
                &["namespace"],
                text::source_namespaces,
            ),
            part(
                "destination_namespaces",
                "Destination namespaces",
                &["namespace"],
                text::destination_namespaces,
            ),
            part(
                "remote_namespaces",
                "Remote namespaces (source of ingress, destination of egress)",
                &["namespace"],
                text::remote_namespaces,
            ),
        ],
    ),
    k8s(
        Section::Workloads,
        estimate::workloads,
        sql::workloads,
        &[
            part(
                "source_workloads",
                "Source workloads",
                &["workload"],
                text::source_workloads,
            ),
            part(
                "destination_workloads",
                "Destination workloads",
                &["workload"],
                text::destination_workloads,
            ),
            part(
                "remote_workloads",
                "Remote workloads (source of ingress, destination of egress)",
                &["workload"],
                text::remote_workloads,
            ),
        ],
    ),
    k8s(
        Section::NamespacePairs,
        estimate::namespace_pairs,
        sql::namespace_pairs,
        &[charted(
            part(
                "namespace_pairs",
                "Namespace pairs",
                &["source namespace", "destination namespace"],
                text::namespace_pairs,
            ),
            Chart::Matrix("namespaces"),
        )],
    ),
    k8s(
        Section::WorkloadPairs,
        estimate::workload_pairs,
        sql::workload_pairs,
        &[charted(
            part(
                "workload_pairs",
                "Workload pairs",
                &["source workload", "destination workload"],
                text::workload_pairs,
            ),
            Chart::Matrix("workloads"),
        )],
    ),
    k8s(
        Section::Leaving,
        estimate::leaving,
        sql::leaving,
        &[
            part(
                "leaving_workloads",
                "Leaving the cluster, by workload",
                &["workload"],
                text::leaving_workloads,
            ),
            part(
                "leaving_as",
                "Leaving the cluster, by workload and destination AS",
                &["workload", "destination AS"],
                text::leaving_as,
            ),
        ],
    ),
    Descriptor {
        section: Some(Section::Denied),
        members: &["k8s_snapshots", "policies"],
        estimate: estimate::denied,
        sql: None,
        parts: &[
            part(
                "denied_total",
                "Denied by the network policies",
                &["traffic", "pkt/s", "share of packets"],
                text::denied_total,
            ),
            charted(
                part(
                    "denied_pairs",
                    "Denied by the network policies, per client and server",
                    &["client", "server", "pkt/s"],
                    text::denied_pairs,
                ),
                Chart::Matrix("workloads"),
            ),
            whole_last(part(
                "denied",
                "Denied by the network policies, per service and the rule that would allow similar traffic",
                &["client", "server", "service", "nearest rule"],
                text::denied,
            )),
        ],
    },
    simple(
        Section::PacketSizes,
        estimate::packet_sizes,
        sql::packet_sizes,
        &[charted(
            part(
                "packet_sizes",
                "Packet sizes",
                &["bytes"],
                text::packet_sizes,
            ),
            Chart::Columns,
        )],
    ),
    Descriptor {
        section: Some(Section::Encapsulations),
        members: &[],
        estimate: estimate::encapsulations,
        sql: None,
        parts: &[part(
            "encapsulations",
            "Encapsulations",
            &["encapsulation"],
            text::encapsulations,
        )],
    },
    simple(
        Section::TimeSeries,
        estimate::time_series,
        sql::time_series,
        &[charted(
            part("time_series", "Time series", &["start"], text::time_series),
            Chart::Timeline,
        )],
    ),
];

/// The descriptor of a section.
pub fn descriptor(s: Section) -> &'static Descriptor {
    CATALOG
        .iter()
        .find(|d| d.section == Some(s))
        .expect("every section is in the catalog")
}

impl Descriptor {
    /// Every report-v1 member the section fills: its parts' and its own.
    pub fn all_members(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.parts
            .iter()
            .map(|p| p.id)
            .chain(self.members.iter().copied())
    }
}

/// The sections with an SQL form.
pub fn with_sql() -> Sections {
    Section::EVERY
        .into_iter()
        .filter(|s| descriptor(*s).sql.is_some())
        .collect()
}

/// Build the report of an analysis: each section asked for, then the
/// calibration check.
pub fn report(a: &Analysis, top: usize) -> Result<Report, AnalyzeError> {
    let mut c = Ctx::new(a, top)?;
    for s in a.query.sections.iter() {
        (descriptor(s).estimate)(&mut c);
    }
    c.finish()
}

/// The statements for `sections` on the dataset at `root`: the setup, then
/// each section's (those without an SQL form are left out).
/// Err (with `--rollup`): a key no rollup holds.
pub fn queries(
    scope: &Scope,
    root: &str,
    sections: Sections,
    top: usize,
) -> Result<Vec<Statement>, String> {
    let ask = Ask::new(scope, top, sections);
    let mut v = Vec::new();
    for d in CATALOG {
        if let (Some(s), Some(f)) = (d.section, d.sql)
            && sections.has(s)
        {
            v.extend(f(&ask));
        }
    }
    // The setup fills the cells the statements were built to read.
    let mut all = ask.setup(root)?;
    all.extend(v);
    Ok(all)
}

/// The breakdowns of a report, in display order: those it has.
pub fn text_sections(r: &Report) -> Vec<TextSection> {
    CATALOG
        .iter()
        .flat_map(|d| d.parts)
        .filter_map(|p| {
            (p.rows)(r).map(|rows| TextSection {
                id: p.id,
                title: p.title,
                key_names: p.keys,
                chart: p.chart,
                whole_last: p.whole_last,
                rows,
            })
        })
        .collect()
}
