//! The Arrow schema of a samples file, defined once.
//!
//! Every writer (Parquet, pcapng round trips) and every reader (analyze, the
//! notebook contract in `schemas/README.md`) goes through [`samples_schema`].
//! A test compares [`schema_dump`] with the committed golden file
//! `schemas/samples-v1.schema.txt`, so a change to a column is a deliberate,
//! reviewed change to the public contract.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The schema version written into every file's metadata. The major number
/// changes when a column changes meaning or type (old readers must refuse the
/// file); the minor number when nullable columns are added (old readers can
/// ignore them).
pub const SCHEMA_VERSION: &str = "1.5";
/// Major part of [`SCHEMA_VERSION`].
pub const SCHEMA_MAJOR: u32 = 1;

/// Column names, in schema order.
pub mod col {
    pub const TIMESTAMP: &str = "timestamp";
    pub const IFINDEX: &str = "ifindex";
    pub const IFNAME: &str = "ifname";
    pub const DIRECTION: &str = "direction";
    pub const SAMPLING_RATE: &str = "sampling_rate";
    pub const PKT_LEN: &str = "pkt_len";
    pub const CAP_LEN: &str = "cap_len";
    pub const INGRESS_IFINDEX: &str = "ingress_ifindex";
    pub const ROUTED_IFINDEX: &str = "routed_ifindex";
    pub const ETH_TYPE: &str = "eth_type";
    pub const VLAN: &str = "vlan";
    pub const IP_VERSION: &str = "ip_version";
    pub const SRC_ADDR: &str = "src_addr";
    pub const DST_ADDR: &str = "dst_addr";
    pub const IP_PROTO: &str = "ip_proto";
    pub const SRC_PORT: &str = "src_port";
    pub const DST_PORT: &str = "dst_port";
    pub const TCP_FLAGS: &str = "tcp_flags";
    pub const HEADER: &str = "header";
    // 1.1: origin AS of each address, filled by `--asn-db` (else null).
    pub const SRC_AS: &str = "src_as";
    pub const DST_AS: &str = "dst_as";
    pub const SRC_AS_NAME: &str = "src_as_name";
    pub const DST_AS_NAME: &str = "dst_as_name";
    // 1.2: the link type of `header` (LINKTYPE_* value; null in older
    // files, which are all Ethernet).
    pub const LINK_TYPE: &str = "link_type";
    // 1.4: encapsulations. The shims and tunnels passed through, their ids,
    // and the innermost IP header behind a tunnel (null without one).
    pub const ENCAP: &str = "encap";
    pub const MPLS_LABEL: &str = "mpls_label";
    pub const PPPOE_SESSION: &str = "pppoe_session";
    pub const TUNNEL_ID: &str = "tunnel_id";
    pub const INNER_IP_VERSION: &str = "inner_ip_version";
    pub const INNER_SRC_ADDR: &str = "inner_src_addr";
    pub const INNER_DST_ADDR: &str = "inner_dst_addr";
    pub const INNER_IP_PROTO: &str = "inner_ip_proto";
    pub const INNER_SRC_PORT: &str = "inner_src_port";
    pub const INNER_DST_PORT: &str = "inner_dst_port";
    // 1.5: the Kubernetes context of each address, filled by `--k8s` (else
    // null): namespace, workload (`kind/name`, or a label such as `node`,
    // `public`, `private` for an address no workload holds), pod, node.
    pub const SRC_NAMESPACE: &str = "src_namespace";
    pub const SRC_WORKLOAD: &str = "src_workload";
    pub const SRC_POD: &str = "src_pod";
    pub const SRC_NODE: &str = "src_node";
    pub const DST_NAMESPACE: &str = "dst_namespace";
    pub const DST_WORKLOAD: &str = "dst_workload";
    pub const DST_POD: &str = "dst_pod";
    pub const DST_NODE: &str = "dst_node";

    /// The columns added in 1.5, source side then destination side.
    pub const ADDED_IN_1_5: [&str; 8] = [
        SRC_NAMESPACE,
        SRC_WORKLOAD,
        SRC_POD,
        SRC_NODE,
        DST_NAMESPACE,
        DST_WORKLOAD,
        DST_POD,
        DST_NODE,
    ];

    /// The columns added in 1.4.
    pub const ADDED_IN_1_4: [&str; 10] = [
        ENCAP,
        MPLS_LABEL,
        PPPOE_SESSION,
        TUNNEL_ID,
        INNER_IP_VERSION,
        INNER_SRC_ADDR,
        INNER_DST_ADDR,
        INNER_IP_PROTO,
        INNER_SRC_PORT,
        INNER_DST_PORT,
    ];

    /// The columns added in 1.1 and 1.2.
    const ADDED_1_1_TO_1_2: [&str; 5] = [SRC_AS, DST_AS, SRC_AS_NAME, DST_AS_NAME, LINK_TYPE];

    /// The columns added in 1.1 to 1.4.
    const ADDED_1_1_TO_1_4: [&str; 15] = concat(ADDED_1_1_TO_1_2, ADDED_IN_1_4);

    /// Columns added after 1.0: files written before lack them, and readers
    /// treat them as null.
    pub const ADDED_SINCE_1_0: [&str; 23] = concat(ADDED_1_1_TO_1_4, ADDED_IN_1_5);

    /// Two lists as one, at compile time.
    const fn concat<const A: usize, const B: usize, const C: usize>(
        a: [&'static str; A],
        b: [&'static str; B],
    ) -> [&'static str; C] {
        assert!(A + B == C);
        let mut out = [""; C];
        let mut i = 0;
        while i < A {
            out[i] = a[i];
            i += 1;
        }
        while i < C {
            out[i] = b[i - A];
            i += 1;
        }
        out
    }
}

fn dict_utf8() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The samples schema: one row per sampled packet.
pub fn samples_schema() -> SchemaRef {
    use col::*;
    Arc::new(Schema::new(vec![
        Field::new(
            TIMESTAMP,
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new(IFINDEX, DataType::UInt32, false),
        Field::new(IFNAME, dict_utf8(), false),
        Field::new(DIRECTION, dict_utf8(), false),
        Field::new(SAMPLING_RATE, DataType::UInt32, false),
        Field::new(PKT_LEN, DataType::UInt32, false),
        Field::new(CAP_LEN, DataType::UInt16, false),
        Field::new(INGRESS_IFINDEX, DataType::UInt32, true),
        Field::new(ROUTED_IFINDEX, DataType::UInt32, true),
        Field::new(ETH_TYPE, DataType::UInt16, false),
        Field::new(VLAN, DataType::UInt16, true),
        Field::new(IP_VERSION, DataType::UInt8, true),
        Field::new(SRC_ADDR, DataType::Utf8, true),
        Field::new(DST_ADDR, DataType::Utf8, true),
        Field::new(IP_PROTO, DataType::UInt8, true),
        Field::new(SRC_PORT, DataType::UInt16, true),
        Field::new(DST_PORT, DataType::UInt16, true),
        Field::new(TCP_FLAGS, DataType::UInt8, true),
        Field::new(HEADER, DataType::Binary, false),
        Field::new(SRC_AS, DataType::UInt32, true),
        Field::new(DST_AS, DataType::UInt32, true),
        Field::new(SRC_AS_NAME, dict_utf8(), true),
        Field::new(DST_AS_NAME, dict_utf8(), true),
        Field::new(LINK_TYPE, DataType::UInt16, true),
        Field::new(ENCAP, dict_utf8(), true),
        Field::new(MPLS_LABEL, DataType::UInt32, true),
        Field::new(PPPOE_SESSION, DataType::UInt16, true),
        Field::new(TUNNEL_ID, DataType::UInt32, true),
        Field::new(INNER_IP_VERSION, DataType::UInt8, true),
        Field::new(INNER_SRC_ADDR, DataType::Utf8, true),
        Field::new(INNER_DST_ADDR, DataType::Utf8, true),
        Field::new(INNER_IP_PROTO, DataType::UInt8, true),
        Field::new(INNER_SRC_PORT, DataType::UInt16, true),
        Field::new(INNER_DST_PORT, DataType::UInt16, true),
        Field::new(SRC_NAMESPACE, dict_utf8(), true),
        Field::new(SRC_WORKLOAD, dict_utf8(), true),
        Field::new(SRC_POD, dict_utf8(), true),
        Field::new(SRC_NODE, dict_utf8(), true),
        Field::new(DST_NAMESPACE, dict_utf8(), true),
        Field::new(DST_WORKLOAD, dict_utf8(), true),
        Field::new(DST_POD, dict_utf8(), true),
        Field::new(DST_NODE, dict_utf8(), true),
    ]))
}

/// A stable, human-readable dump of the schema: one line per column with its
/// Arrow type and nullability. Compared against the committed golden file.
pub fn schema_dump() -> String {
    let mut out = format!("# pktsample samples schema {SCHEMA_VERSION}\n");
    for f in samples_schema().fields() {
        out.push_str(&format!(
            "{} {} {}\n",
            f.name(),
            f.data_type(),
            if f.is_nullable() {
                "nullable"
            } else {
                "required"
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_matches_committed_golden_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/samples-v1.schema.txt");
        if std::env::var_os("PKTSAMPLE_BLESS").is_some() {
            std::fs::write(path, schema_dump()).unwrap();
        }
        let golden = std::fs::read_to_string(path).unwrap();
        assert_eq!(
            schema_dump(),
            golden,
            "the samples schema changed: update schemas/samples-v1.schema.txt, \
             schemas/README.md and SCHEMA_VERSION together"
        );
    }

    /// What a 1.0 reader checks of a file: every 1.0 column present with
    /// the same type (extra columns ignored) and major version 1. The 1.0
    /// schema is kept as `samples-v1.0.schema.txt`; every later 1.x only
    /// adds nullable columns, listed in `col::ADDED_SINCE_1_0`.
    #[test]
    fn minor_versions_only_add_nullable_columns() {
        let v10 = include_str!("../samples-v1.0.schema.txt");
        let now = schema_dump();
        let now_lines: Vec<&str> = now.lines().skip(1).collect();
        let old: Vec<&str> = v10.lines().skip(1).collect();
        assert_eq!(
            &now_lines[..old.len()],
            &old[..],
            "1.0 columns unchanged, in order"
        );
        let added: Vec<&str> = now_lines[old.len()..].to_vec();
        assert_eq!(added.len(), col::ADDED_SINCE_1_0.len());
        for (line, name) in added.iter().zip(col::ADDED_SINCE_1_0) {
            assert!(line.starts_with(&format!("{name} ")), "{line}");
            assert!(line.ends_with(" nullable"), "{line}");
        }
        assert_eq!(SCHEMA_MAJOR, 1);
    }

    #[test]
    fn version_major_matches_string() {
        assert_eq!(
            SCHEMA_VERSION.split('.').next().unwrap(),
            SCHEMA_MAJOR.to_string()
        );
    }
}
