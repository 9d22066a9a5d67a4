//! The column builders of a samples batch, made with the room the previous
//! batch needed (at rate 1 growing them row by row was a tenth of the
//! sampler's time in copies and fresh pages), and a dictionary column for
//! the few strings of a capture (interface names, directions) that appends
//! keys without hashing every row.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, StringBuilder, TimestampNanosecondBuilder, UInt8Builder, UInt16Builder,
    UInt32Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{DictionaryArray, Int32Array, StringArray};

/// A string column of few distinct values, dictionary-encoded in the order
/// the values first appear (as arrow's dictionary builder does).
#[derive(Default)]
pub(crate) struct FewStrings {
    keys: Vec<i32>,
    values: Vec<String>,
    last: usize,
    /// Value -> key, once there are more than a few values to compare
    /// (an sFlow collector's data sources interleave row by row).
    index: rustc_hash::FxHashMap<String, usize>,
}

/// Values compared one by one before the index is used.
const SCAN: usize = 8;

impl FewStrings {
    fn with_capacity(rows: usize) -> Self {
        FewStrings {
            keys: Vec::with_capacity(rows),
            ..Default::default()
        }
    }

    #[inline]
    pub fn append(&mut self, s: &str) {
        if self.values.get(self.last).is_none_or(|v| v != s) {
            let found = if self.values.len() <= SCAN {
                self.values.iter().position(|v| v == s)
            } else {
                self.index.get(s).copied()
            };
            self.last = match found {
                Some(i) => i,
                None => {
                    self.values.push(s.to_string());
                    let i = self.values.len() - 1;
                    if self.values.len() > SCAN {
                        if self.index.is_empty() {
                            self.index = self
                                .values
                                .iter()
                                .enumerate()
                                .map(|(k, v)| (v.clone(), k))
                                .collect();
                        } else {
                            self.index.insert(s.to_string(), i);
                        }
                    }
                    i
                }
            };
        }
        self.keys.push(self.last as i32);
    }

    pub fn finish(self) -> DictionaryArray<Int32Type> {
        DictionaryArray::try_new(
            Int32Array::from(self.keys),
            Arc::new(StringArray::from(self.values)),
        )
        .expect("keys index the values")
    }
}

/// A nullable string column of few distinct values: null rows cost a key
/// and a bit, so a capture without encapsulations pays next to nothing.
#[derive(Default)]
pub(crate) struct OptFewStrings {
    strings: FewStrings,
    /// Validity per row, kept only once a value appears.
    valid: Vec<bool>,
    nulls_before: usize,
}

impl OptFewStrings {
    #[inline]
    pub fn append_null(&mut self) {
        if self.valid.is_empty() {
            self.nulls_before += 1;
        } else {
            self.valid.push(false);
            self.strings.keys.push(0);
        }
    }

    pub fn append(&mut self, s: &str) {
        if self.valid.is_empty() {
            self.valid = vec![false; self.nulls_before];
            self.strings.keys = vec![0; self.nulls_before];
        }
        self.valid.push(true);
        self.strings.append(s);
    }

    pub fn finish(self, rows: usize) -> arrow_array::ArrayRef {
        use arrow_schema::DataType;
        if self.valid.is_empty() {
            let t = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
            return arrow_array::new_null_array(&t, rows);
        }
        let keys = Int32Array::new(
            self.strings.keys.into(),
            Some(arrow_buffer::NullBuffer::from(self.valid)),
        );
        Arc::new(
            DictionaryArray::try_new(keys, Arc::new(StringArray::from(self.strings.values)))
                .expect("keys index the values"),
        )
    }
}

/// Room to make: rows, header bytes, address text bytes.
#[derive(Clone, Copy, Default)]
pub(crate) struct Room {
    pub rows: usize,
    pub header: usize,
    pub addr: usize,
}

/// Every column builder of a batch.
pub(crate) struct Columns {
    pub timestamp: TimestampNanosecondBuilder,
    pub ifindex: UInt32Builder,
    pub ifname: FewStrings,
    pub direction: FewStrings,
    pub sampling_rate: UInt32Builder,
    pub pkt_len: UInt32Builder,
    pub cap_len: UInt16Builder,
    pub ingress_ifindex: UInt32Builder,
    pub routed_ifindex: UInt32Builder,
    pub eth_type: UInt16Builder,
    pub vlan: UInt16Builder,
    pub ip_version: UInt8Builder,
    pub src_addr: StringBuilder,
    pub dst_addr: StringBuilder,
    pub ip_proto: UInt8Builder,
    pub src_port: UInt16Builder,
    pub dst_port: UInt16Builder,
    pub tcp_flags: UInt8Builder,
    pub header: BinaryBuilder,
    pub src_as: UInt32Builder,
    pub dst_as: UInt32Builder,
    pub link_type: UInt16Builder,
    /// Null where the packet has no shim or tunnel.
    pub encap: OptFewStrings,
    pub mpls_label: UInt32Builder,
    pub pppoe_session: UInt16Builder,
    pub tunnel_id: UInt32Builder,
    pub inner_ip_version: UInt8Builder,
    pub inner_src_addr: StringBuilder,
    pub inner_dst_addr: StringBuilder,
    pub inner_ip_proto: UInt8Builder,
    pub inner_src_port: UInt16Builder,
    pub inner_dst_port: UInt16Builder,
}

impl Columns {
    pub fn with_room(r: Room) -> Self {
        let n = r.rows;
        Columns {
            timestamp: TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC"),
            ifindex: UInt32Builder::with_capacity(n),
            ifname: FewStrings::with_capacity(n),
            direction: FewStrings::with_capacity(n),
            sampling_rate: UInt32Builder::with_capacity(n),
            pkt_len: UInt32Builder::with_capacity(n),
            cap_len: UInt16Builder::with_capacity(n),
            ingress_ifindex: UInt32Builder::with_capacity(n),
            routed_ifindex: UInt32Builder::with_capacity(n),
            eth_type: UInt16Builder::with_capacity(n),
            vlan: UInt16Builder::with_capacity(n),
            ip_version: UInt8Builder::with_capacity(n),
            src_addr: StringBuilder::with_capacity(n, r.addr),
            dst_addr: StringBuilder::with_capacity(n, r.addr),
            ip_proto: UInt8Builder::with_capacity(n),
            src_port: UInt16Builder::with_capacity(n),
            dst_port: UInt16Builder::with_capacity(n),
            tcp_flags: UInt8Builder::with_capacity(n),
            header: BinaryBuilder::with_capacity(n, r.header),
            src_as: UInt32Builder::with_capacity(n),
            dst_as: UInt32Builder::with_capacity(n),
            link_type: UInt16Builder::with_capacity(n),
            encap: OptFewStrings::default(),
            mpls_label: UInt32Builder::with_capacity(n),
            pppoe_session: UInt16Builder::with_capacity(n),
            tunnel_id: UInt32Builder::with_capacity(n),
            inner_ip_version: UInt8Builder::with_capacity(n),
            inner_src_addr: StringBuilder::new(),
            inner_dst_addr: StringBuilder::new(),
            inner_ip_proto: UInt8Builder::with_capacity(n),
            inner_src_port: UInt16Builder::with_capacity(n),
            inner_dst_port: UInt16Builder::with_capacity(n),
        }
    }

    /// The room these columns took.
    pub fn room(&self, rows: usize) -> Room {
        Room {
            rows,
            header: self.header.values_slice().len(),
            addr: self
                .src_addr
                .values_slice()
                .len()
                .max(self.dst_addr.values_slice().len()),
        }
    }
}
