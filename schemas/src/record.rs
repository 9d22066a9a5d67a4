//! One sample as a row, and the conversion between rows and Arrow batches.
//!
//! Every producer of samples (offline replay, live capture, pcapng import)
//! hands [`SampleRow`]s to a [`SampleBatchBuilder`], which decodes the header
//! bytes once and fills the columns of [`crate::samples_schema`]. Consumers
//! that need rows back (the pcapng writer, tests) use [`SampleColumns`].

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampNanosecondType, UInt16Type, UInt32Type};
use arrow_array::{Array, ArrayRef, PrimitiveArray, RecordBatch};
use arrow_array::{BinaryArray, StringArray};
use arrow_schema::SchemaRef;

use crate::addr_text::AddrText;
use crate::columns::{Columns, Room};
use crate::decode::{decode_link, linktype};
use crate::error::FormatError;
use crate::meta::Direction;
use crate::schema::{col, samples_schema};

/// A sampled packet, as the sampler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleRow<'a> {
    /// Nanoseconds since the Unix epoch (UTC).
    pub timestamp_ns: i64,
    pub ifindex: u32,
    pub ifname: &'a str,
    pub direction: Direction,
    /// 1-in-N rate in force for this sample.
    pub sampling_rate: u32,
    /// Length of the packet as captured in its link type (for Ethernet the
    /// frame from the Ethernet header on, no FCS; for raw IP the IP packet).
    pub pkt_len: u32,
    /// The captured bytes, from the link-layer header on (`cap_len` is its length).
    pub header: &'a [u8],
    /// Link type of `header` (`decode::linktype`).
    pub link_type: u32,
    pub ingress_ifindex: Option<u32>,
    pub routed_ifindex: Option<u32>,
}

/// Builds Arrow record batches of the samples schema, row by row.
pub struct SampleBatchBuilder {
    schema: SchemaRef,
    c: Columns,
    addr_buf: AddrText,
    encap_buf: String,
    rows: usize,
}

impl Default for SampleBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SampleBatchBuilder {
    pub fn new() -> Self {
        SampleBatchBuilder {
            schema: samples_schema(),
            c: Columns::with_room(Room::default()),
            addr_buf: AddrText::default(),
            encap_buf: String::new(),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Append one sample; the protocol columns are decoded from its header.
    pub fn push(&mut self, r: &SampleRow<'_>) {
        self.push_with_as(r, None);
    }

    /// Append one sample whose source and destination AS are known to
    /// whoever sampled it (an sFlow router's BGP view).
    pub fn push_with_as(&mut self, r: &SampleRow<'_>, asns: Option<(u32, u32)>) {
        let cap_len = u16::try_from(r.header.len()).expect("snaplen is at most 65535");
        let c = &mut self.c;
        c.timestamp.append_value(r.timestamp_ns);
        c.ifindex.append_value(r.ifindex);
        c.ifname.append(r.ifname);
        c.direction.append(r.direction.as_str());
        c.sampling_rate.append_value(r.sampling_rate);
        c.pkt_len.append_value(r.pkt_len);
        c.cap_len.append_value(cap_len);
        c.ingress_ifindex.append_option(r.ingress_ifindex);
        c.routed_ifindex.append_option(r.routed_ifindex);
        let d = decode_link(r.link_type, r.header);
        c.eth_type.append_value(d.eth_type);
        c.vlan.append_option(d.vlan);
        c.ip_version.append_option(d.ip_version);
        for (addr, b) in [(d.src_addr, &mut c.src_addr), (d.dst_addr, &mut c.dst_addr)] {
            match addr {
                Some(a) => b.append_value(self.addr_buf.format(a)),
                None => b.append_null(),
            }
        }
        c.ip_proto.append_option(d.ip_proto);
        c.src_port.append_option(d.src_port);
        c.dst_port.append_option(d.dst_port);
        c.tcp_flags.append_option(d.tcp_flags);
        c.header.append_value(r.header);
        // Link types are 16 bits in pcap and pcapng.
        c.link_type.append_value(r.link_type as u16);
        c.src_as.append_option(asns.map(|a| a.0));
        c.dst_as.append_option(asns.map(|a| a.1));
        if d.encap.is_empty() {
            c.encap.append_null();
        } else {
            d.encap.write_to(&mut self.encap_buf);
            c.encap.append(&self.encap_buf);
        }
        c.mpls_label.append_option(d.mpls_label);
        c.pppoe_session.append_option(d.pppoe_session);
        c.tunnel_id.append_option(d.tunnel_id);
        let inner = d.inner;
        c.inner_ip_version.append_option(inner.map(|f| f.version));
        for (addr, b) in [
            (inner.map(|f| f.src), &mut c.inner_src_addr),
            (inner.map(|f| f.dst), &mut c.inner_dst_addr),
        ] {
            match addr {
                Some(a) => b.append_value(self.addr_buf.format(a)),
                None => b.append_null(),
            }
        }
        c.inner_ip_proto.append_option(inner.map(|f| f.proto));
        c.inner_src_port
            .append_option(inner.and_then(|f| f.src_port));
        c.inner_dst_port
            .append_option(inner.and_then(|f| f.dst_port));
        self.rows += 1;
    }

    /// Take the rows so far as a batch and start afresh, with the room
    /// this batch took.
    pub fn finish(&mut self) -> RecordBatch {
        let room = self.c.room(self.rows);
        let mut c = std::mem::replace(&mut self.c, Columns::with_room(room));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(c.timestamp.finish()),
            Arc::new(c.ifindex.finish()),
            Arc::new(c.ifname.finish()),
            Arc::new(c.direction.finish()),
            Arc::new(c.sampling_rate.finish()),
            Arc::new(c.pkt_len.finish()),
            Arc::new(c.cap_len.finish()),
            Arc::new(c.ingress_ifindex.finish()),
            Arc::new(c.routed_ifindex.finish()),
            Arc::new(c.eth_type.finish()),
            Arc::new(c.vlan.finish()),
            Arc::new(c.ip_version.finish()),
            Arc::new(c.src_addr.finish()),
            Arc::new(c.dst_addr.finish()),
            Arc::new(c.ip_proto.finish()),
            Arc::new(c.src_port.finish()),
            Arc::new(c.dst_port.finish()),
            Arc::new(c.tcp_flags.finish()),
            Arc::new(c.header.finish()),
        ];
        // The AS names stay null unless a writer enriches the batch.
        let n = self.rows;
        let mut cols = cols;
        let mut encap = Some(std::mem::take(&mut c.encap));
        for f in &self.schema.fields()[cols.len()..] {
            cols.push(match f.name().as_str() {
                col::LINK_TYPE => Arc::new(c.link_type.finish()),
                col::SRC_AS => Arc::new(c.src_as.finish()),
                col::DST_AS => Arc::new(c.dst_as.finish()),
                col::ENCAP => encap.take().expect("one encap column").finish(n),
                col::MPLS_LABEL => Arc::new(c.mpls_label.finish()),
                col::PPPOE_SESSION => Arc::new(c.pppoe_session.finish()),
                col::TUNNEL_ID => Arc::new(c.tunnel_id.finish()),
                col::INNER_IP_VERSION => Arc::new(c.inner_ip_version.finish()),
                col::INNER_SRC_ADDR => Arc::new(c.inner_src_addr.finish()),
                col::INNER_DST_ADDR => Arc::new(c.inner_dst_addr.finish()),
                col::INNER_IP_PROTO => Arc::new(c.inner_ip_proto.finish()),
                col::INNER_SRC_PORT => Arc::new(c.inner_src_port.finish()),
                col::INNER_DST_PORT => Arc::new(c.inner_dst_port.finish()),
                _ => arrow_array::new_null_array(f.data_type(), n),
            });
        }
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), cols).expect("builder matches the schema")
    }
}

/// Typed views of a samples batch's stored (not decoded) columns.
pub struct SampleColumns<'a> {
    timestamp: &'a PrimitiveArray<TimestampNanosecondType>,
    ifindex: &'a PrimitiveArray<UInt32Type>,
    ifname_keys: &'a PrimitiveArray<Int32Type>,
    ifname_values: &'a StringArray,
    direction_keys: &'a PrimitiveArray<Int32Type>,
    direction_values: &'a StringArray,
    sampling_rate: &'a PrimitiveArray<UInt32Type>,
    pkt_len: &'a PrimitiveArray<UInt32Type>,
    ingress_ifindex: &'a PrimitiveArray<UInt32Type>,
    routed_ifindex: &'a PrimitiveArray<UInt32Type>,
    header: &'a BinaryArray,
    /// Absent or null in files before 1.2: Ethernet.
    link_type: Option<&'a PrimitiveArray<UInt16Type>>,
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, FormatError> {
    b.column_by_name(name)
        .ok_or_else(|| FormatError::Schema(format!("missing column '{name}'")))
}

macro_rules! typed {
    ($b:expr, $name:expr, $t:ty) => {
        column($b, $name)?
            .as_primitive_opt::<$t>()
            .ok_or_else(|| FormatError::Schema(format!("column '{}' has the wrong type", $name)))?
    };
}

fn dict<'a>(
    b: &'a RecordBatch,
    name: &str,
) -> Result<(&'a PrimitiveArray<Int32Type>, &'a StringArray), FormatError> {
    let d = column(b, name)?
        .as_dictionary_opt::<Int32Type>()
        .ok_or_else(|| FormatError::Schema(format!("column '{name}' is not a dictionary")))?;
    let v = d
        .values()
        .as_string_opt::<i32>()
        .ok_or_else(|| FormatError::Schema(format!("column '{name}' has non-string values")))?;
    Ok((d.keys(), v))
}

impl<'a> SampleColumns<'a> {
    pub fn new(b: &'a RecordBatch) -> Result<Self, FormatError> {
        let (ifname_keys, ifname_values) = dict(b, col::IFNAME)?;
        let (direction_keys, direction_values) = dict(b, col::DIRECTION)?;
        Ok(SampleColumns {
            timestamp: typed!(b, col::TIMESTAMP, TimestampNanosecondType),
            ifindex: typed!(b, col::IFINDEX, UInt32Type),
            ifname_keys,
            ifname_values,
            direction_keys,
            direction_values,
            sampling_rate: typed!(b, col::SAMPLING_RATE, UInt32Type),
            pkt_len: typed!(b, col::PKT_LEN, UInt32Type),
            ingress_ifindex: typed!(b, col::INGRESS_IFINDEX, UInt32Type),
            routed_ifindex: typed!(b, col::ROUTED_IFINDEX, UInt32Type),
            header: column(b, col::HEADER)?
                .as_binary_opt::<i32>()
                .ok_or_else(|| FormatError::Schema("column 'header' has the wrong type".into()))?,
            link_type: match b.column_by_name(col::LINK_TYPE) {
                Some(c) => Some(c.as_primitive_opt::<UInt16Type>().ok_or_else(|| {
                    FormatError::Schema("column 'link_type' has the wrong type".into())
                })?),
                None => None,
            },
        })
    }

    pub fn len(&self) -> usize {
        self.timestamp.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn opt(a: &PrimitiveArray<UInt32Type>, i: usize) -> Option<u32> {
        a.is_valid(i).then(|| a.value(i))
    }

    pub fn row(&self, i: usize) -> Result<SampleRow<'a>, FormatError> {
        let direction = self
            .direction_values
            .value(self.direction_keys.value(i) as usize);
        Ok(SampleRow {
            timestamp_ns: self.timestamp.value(i),
            ifindex: self.ifindex.value(i),
            ifname: self.ifname_values.value(self.ifname_keys.value(i) as usize),
            direction: Direction::parse(direction).ok_or_else(|| {
                FormatError::Schema(format!("row {i}: unknown direction '{direction}'"))
            })?,
            sampling_rate: self.sampling_rate.value(i),
            pkt_len: self.pkt_len.value(i),
            header: self.header.value(i),
            ingress_ifindex: Self::opt(self.ingress_ifindex, i),
            routed_ifindex: Self::opt(self.routed_ifindex, i),
            link_type: self
                .link_type
                .filter(|a| a.is_valid(i))
                .map_or(linktype::ETHERNET, |a| u32::from(a.value(i))),
        })
    }
}

/// Give a batch read from a file of an earlier minor version the columns of
/// the current schema: the columns added since are null.
pub fn conform(b: RecordBatch) -> RecordBatch {
    let schema = samples_schema();
    if b.schema().fields().len() == schema.fields().len() {
        return b;
    }
    let n = b.num_rows();
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            b.column_by_name(f.name())
                .cloned()
                .unwrap_or_else(|| arrow_array::new_null_array(f.data_type(), n))
        })
        .collect();
    RecordBatch::try_new(schema, cols).expect("conformed to the schema")
}

/// The origin AS of an address, for the enrichment columns: the AS number
/// (None when the address has none) and the AS's name (or, without an AS,
/// why: "private", "documentation", "unrouted", ...).
pub trait Enrich: Send + Sync + std::fmt::Debug {
    fn origin(&self, addr: std::net::IpAddr) -> (Option<u32>, Option<&str>);
    /// The databases, for the file's metadata.
    fn describe(&self) -> Vec<String>;
}

/// Origins of addresses already looked up, kept across the batches of a
/// writer (traffic repeats its addresses): address text -> (AS, name id).
#[derive(Default)]
pub struct EnrichCache {
    origin: rustc_hash::FxHashMap<Box<str>, (Option<u32>, Option<u32>)>,
    names: Vec<String>,
    name_id: rustc_hash::FxHashMap<String, u32>,
}

/// Entries kept before the cache starts afresh (bounds its memory).
const ENRICH_CACHE_MAX: usize = 1 << 20;

/// Fill the AS columns of a batch from its address columns. Each distinct
/// address is parsed and looked up once per `cache`.
pub fn enrich(b: &RecordBatch, e: &dyn Enrich, cache: &mut EnrichCache) -> RecordBatch {
    use arrow_array::cast::AsArray;
    use arrow_array::{DictionaryArray, Int32Array, UInt32Array};
    use rustc_hash::FxHashMap;
    if cache.origin.len() > ENRICH_CACHE_MAX {
        *cache = EnrichCache::default();
    }
    let n = b.num_rows();
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    let schema = b.schema();
    for (addr, as_col, name_col) in [
        (col::SRC_ADDR, col::SRC_AS, col::SRC_AS_NAME),
        (col::DST_ADDR, col::DST_AS, col::DST_AS_NAME),
    ] {
        let (Ok(ai), Ok(asi), Ok(ni)) = (
            schema.index_of(addr),
            schema.index_of(as_col),
            schema.index_of(name_col),
        ) else {
            continue;
        };
        let Some(a) = b.column(ai).as_string_opt::<i32>() else {
            continue;
        };
        // The batch's name dictionary: name id -> key.
        let mut key_of: FxHashMap<u32, i32> = FxHashMap::default();
        let mut values: Vec<u32> = Vec::new();
        let mut asn: Vec<Option<u32>> = Vec::with_capacity(n);
        let mut keys: Vec<Option<i32>> = Vec::with_capacity(n);
        let EnrichCache {
            origin,
            names,
            name_id,
        } = &mut *cache;
        for i in 0..n {
            if a.is_null(i) {
                asn.push(None);
                keys.push(None);
                continue;
            }
            let s = a.value(i);
            let (x, id) = match origin.get(s) {
                Some(v) => *v,
                None => {
                    let (x, y) = match s.parse() {
                        Ok(ip) => e.origin(ip),
                        Err(_) => (None, None),
                    };
                    let id = y.map(|y| match name_id.get(y) {
                        Some(id) => *id,
                        None => {
                            names.push(y.to_string());
                            name_id.insert(y.to_string(), (names.len() - 1) as u32);
                            (names.len() - 1) as u32
                        }
                    });
                    origin.insert(s.into(), (x, id));
                    (x, id)
                }
            };
            asn.push(x);
            keys.push(id.map(|id| {
                *key_of.entry(id).or_insert_with(|| {
                    values.push(id);
                    (values.len() - 1) as i32
                })
            }));
        }
        cols[asi] = Arc::new(UInt32Array::from(asn));
        let values: ArrayRef = Arc::new(StringArray::from_iter_values(
            values.iter().map(|&id| names[id as usize].as_str()),
        ));
        cols[ni] = Arc::new(
            DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values)
                .expect("keys index the names"),
        );
    }
    RecordBatch::try_new(schema, cols).expect("same schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::UInt32Type;

    /// Maps 192.0.2.x to AS x (named "AS x" when x is even), others to no AS.
    #[derive(Debug)]
    struct ByLastOctet(Vec<String>);

    impl Enrich for ByLastOctet {
        fn origin(&self, a: std::net::IpAddr) -> (Option<u32>, Option<&str>) {
            match a {
                std::net::IpAddr::V4(v) if v.octets()[..3] == [192, 0, 2] => {
                    let x = v.octets()[3] as u32;
                    (
                        Some(x),
                        x.is_multiple_of(2).then(|| self.0[x as usize].as_str()),
                    )
                }
                _ => (None, Some("documentation")),
            }
        }
        fn describe(&self) -> Vec<String> {
            vec!["test".into()]
        }
    }

    fn batch(addrs: &[Option<&str>]) -> RecordBatch {
        let b = {
            let mut b = SampleBatchBuilder::new();
            for _ in addrs {
                b.push(&SampleRow {
                    timestamp_ns: 0,
                    ifindex: 1,
                    ifname: "eth0",
                    direction: Direction::Ingress,
                    sampling_rate: 1,
                    pkt_len: 60,
                    header: &[0u8; 14],
                    ingress_ifindex: None,
                    routed_ifindex: None,
                    link_type: linktype::ETHERNET,
                });
            }
            b.finish()
        };
        let mut cols = b.columns().to_vec();
        let a: ArrayRef = Arc::new(StringArray::from(addrs.to_vec()));
        cols[b.schema().index_of(col::SRC_ADDR).unwrap()] = a.clone();
        cols[b.schema().index_of(col::DST_ADDR).unwrap()] = a;
        RecordBatch::try_new(b.schema(), cols).unwrap()
    }

    /// Across batches (and after the cache starts afresh) every row gets its
    /// own origin, and the name column's dictionary holds only its names.
    #[test]
    fn enrich_across_batches() {
        let e = ByLastOctet((0..256).map(|i| format!("AS {i}")).collect());
        let mut cache = EnrichCache::default();
        let rows = [
            Some("192.0.2.4"),
            None,
            Some("192.0.2.7"),
            Some("198.51.100.1"),
            Some("192.0.2.4"),
        ];
        for round in 0..3 {
            if round == 2 {
                cache = EnrichCache::default();
            }
            let b = enrich(&batch(&rows), &e, &mut cache);
            for (asn_col, name_col) in [
                (col::SRC_AS, col::SRC_AS_NAME),
                (col::DST_AS, col::DST_AS_NAME),
            ] {
                let asn = b
                    .column_by_name(asn_col)
                    .unwrap()
                    .as_primitive::<UInt32Type>()
                    .clone();
                let d = b
                    .column_by_name(name_col)
                    .unwrap()
                    .as_dictionary::<Int32Type>()
                    .clone();
                let v = d.values().as_string::<i32>().clone();
                let got: Vec<(Option<u32>, Option<String>)> = (0..b.num_rows())
                    .map(|i| {
                        (
                            asn.is_valid(i).then(|| asn.value(i)),
                            d.key(i).map(|k| v.value(k).to_string()),
                        )
                    })
                    .collect();
                assert_eq!(
                    got,
                    vec![
                        (Some(4), Some("AS 4".into())),
                        (None, None),
                        (Some(7), None),
                        (None, Some("documentation".into())),
                        (Some(4), Some("AS 4".into())),
                    ],
                    "round {round}"
                );
                assert_eq!(v.len(), 2, "only the names used");
            }
        }
    }
}
