//! The policy what-if in the aggregation: each selected row's verdict
//! under `--k8s-policy` (asked of a [`PolicyCheck`] a batch at a time),
//! and the denied rows summed per stratum by connection: client and
//! server side keys, the server's protocol and port, and the rule that
//! would have allowed similar traffic.
//!
//! A row is judged on its innermost header (an overlay's pods, not its
//! nodes) and by the pods the Kubernetes columns name (a pod's veth names
//! it when its address is NATed). A reply counts with its request: its
//! client is the row's destination.

use std::net::IpAddr;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt8Type, UInt16Type};
use arrow_array::{Array, DictionaryArray, PrimitiveArray, RecordBatch};
use pktsample_schemas::policy::{End, Flow, Outcome, PolicyCheck, Verdict};
use pktsample_schemas::schema::col;
use rustc_hash::FxHashMap;

use crate::error::AnalyzeError;
use crate::stats::Cell;

use super::agg::StratumAgg;
use super::columns::dict_column;
use super::k8s::{side_text, sides};

/// A denied connection: (client side key, server side key, [`service`],
/// nearest rule id or `NO_RULE`).
pub type DeniedKey = (Box<str>, Box<str>, u32, u32);

/// [`service`]'s low bits for a protocol without ports, and for a port
/// shown as "other".
pub const NO_PORT: u32 = 0x1_0000;
pub const OTHER_PORT: u32 = 0x1_0001;
pub const NO_RULE: u32 = u32::MAX;

/// The columns the verdicts read, besides the Kubernetes ones.
pub(super) const POLICY_COLUMNS: [&str; 11] = [
    col::SRC_ADDR,
    col::DST_ADDR,
    col::INNER_SRC_ADDR,
    col::INNER_DST_ADDR,
    col::IP_PROTO,
    col::SRC_PORT,
    col::DST_PORT,
    col::TCP_FLAGS,
    col::INNER_IP_PROTO,
    col::INNER_SRC_PORT,
    col::INNER_DST_PORT,
];

/// An address column by dictionary key, each value parsed when a row
/// first needs it (a batch's dictionary may be its row group's, far more
/// values than the batch has rows).
struct Dict {
    d: Option<DictionaryArray<Int32Type>>,
    v: std::cell::RefCell<Vec<Option<Option<IpAddr>>>>,
}

impl Dict {
    fn new(b: &RecordBatch, name: &str) -> Result<Self, AnalyzeError> {
        let d = dict_column(b, name)?;
        let n = d.as_ref().map_or(0, |d| d.values().len());
        Ok(Dict {
            d,
            v: std::cell::RefCell::new(vec![None; n]),
        })
    }

    fn key(&self, i: usize) -> Option<usize> {
        let d = self.d.as_ref()?;
        d.is_valid(i).then(|| d.keys().value(i) as usize)
    }

    fn at(&self, i: usize) -> Option<IpAddr> {
        let k = self.key(i)?;
        let mut v = self.v.borrow_mut();
        *v[k].get_or_insert_with(|| {
            let s = self.d.as_ref()?.values().as_string::<i32>();
            s.is_valid(k).then(|| s.value(k).parse().ok()).flatten()
        })
    }
}

fn text(d: &Option<DictionaryArray<Int32Type>>, i: usize) -> Option<&str> {
    let d = d.as_ref()?;
    d.is_valid(i).then(|| {
        d.values()
            .as_string::<i32>()
            .value(d.keys().value(i) as usize)
    })
}

fn prim_at<T: arrow_array::ArrowPrimitiveType>(
    c: Option<&PrimitiveArray<T>>,
    i: usize,
) -> Option<T::Native> {
    c.filter(|c| c.is_valid(i)).map(|c| c.value(i))
}

/// The batch's columns a flow is read from.
struct Cols<'b> {
    addr: [Dict; 4],
    ns: [Option<DictionaryArray<Int32Type>>; 2],
    pod: [Option<DictionaryArray<Int32Type>>; 2],
    proto: [Option<&'b PrimitiveArray<UInt8Type>>; 2],
    sport: [Option<&'b PrimitiveArray<UInt16Type>>; 2],
    dport: [Option<&'b PrimitiveArray<UInt16Type>>; 2],
    flags: Option<&'b PrimitiveArray<UInt8Type>>,
    ts: &'b [i64],
}

impl<'b> Cols<'b> {
    fn new(b: &'b RecordBatch, ts: &'b [i64]) -> Result<Self, AnalyzeError> {
        let ip = |n| Dict::new(b, n);
        let u8c = |n| {
            b.column_by_name(n)
                .and_then(|c| c.as_primitive_opt::<UInt8Type>())
        };
        let u16c = |n| {
            b.column_by_name(n)
                .and_then(|c| c.as_primitive_opt::<UInt16Type>())
        };
        Ok(Cols {
            addr: [
                ip(col::SRC_ADDR)?,
                ip(col::DST_ADDR)?,
                ip(col::INNER_SRC_ADDR)?,
                ip(col::INNER_DST_ADDR)?,
            ],
            ns: [
                dict_column(b, col::SRC_NAMESPACE)?,
                dict_column(b, col::DST_NAMESPACE)?,
            ],
            pod: [dict_column(b, col::SRC_POD)?, dict_column(b, col::DST_POD)?],
            proto: [u8c(col::IP_PROTO), u8c(col::INNER_IP_PROTO)],
            sport: [u16c(col::SRC_PORT), u16c(col::INNER_SRC_PORT)],
            dport: [u16c(col::DST_PORT), u16c(col::INNER_DST_PORT)],
            flags: u8c(col::TCP_FLAGS),
            ts,
        })
    }

    /// Row `i` as a flow: on its inner header where it has one.
    fn flow(&self, i: usize) -> Flow<'_> {
        let inner = self.addr[2].key(i).is_some();
        let h = inner as usize;
        let end = |side: usize| End {
            ip: self.addr[2 * h + side].at(i),
            namespace: text(&self.ns[side], i),
            pod: text(&self.pod[side], i),
        };
        Flow {
            t: self.ts[i],
            src: end(0),
            dst: end(1),
            proto: prim_at(self.proto[h], i),
            src_port: prim_at(self.sport[h], i),
            dst_port: prim_at(self.dport[h], i),
            // The flags are the outer header's.
            tcp_flags: if inner { None } else { prim_at(self.flags, i) },
        }
    }
}

/// Judge the selected rows and sum the denied ones into their strata.
pub(super) fn fold_policy(
    b: &RecordBatch,
    sel: Option<&[u32]>,
    len: &[u32],
    ts: &[i64],
    aggs: &mut [StratumAgg],
    policy: &dyn PolicyCheck,
) -> Result<(), AnalyzeError> {
    let cols = Cols::new(b, ts)?;
    let rows: Vec<usize> = match sel {
        None => (0..len.len()).collect(),
        Some(sel) => (0..len.len()).filter(|&i| sel[i] != u32::MAX).collect(),
    };
    let flows: Vec<Flow> = rows.iter().map(|&i| cols.flow(i)).collect();
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(flows.len());
    policy.verdicts(&flows, &mut verdicts);
    let sw = dict_column(b, col::SRC_WORKLOAD)?;
    let dw = dict_column(b, col::DST_WORKLOAD)?;
    let [sn, dn] = &cols.ns;
    let mut denied: FxHashMap<(u32, u64, u64, bool, u32, u32), Cell> = FxHashMap::default();
    for ((&i, v), f) in rows.iter().zip(&verdicts).zip(&flows) {
        let s = sel.map_or(0, |sel| sel[i]);
        match v.outcome {
            Outcome::Allowed => {}
            Outcome::Unjudged(_) => aggs[s as usize].unjudged.add(len[i]),
            Outcome::Denied { rule, .. } => {
                let (src, dst) = (sides(sn, &sw, i), sides(dn, &dw, i));
                let service = service(f.proto, v.server_port, v.declared);
                let k = (s, src, dst, v.reply, service, rule.unwrap_or(NO_RULE));
                denied.entry(k).or_default().add(len[i]);
            }
        }
    }
    for ((s, src, dst, reply, service, rule), c) in denied {
        let (src, dst) = (side_text(sn, &sw, src), side_text(dn, &dw, dst));
        let (client, server) = if reply { (dst, src) } else { (src, dst) };
        let k = (client.into(), server.into(), service, rule);
        aggs[s as usize].denied.entry(k).or_default().merge(&c);
    }
    Ok(())
}

/// A connection's protocol and server port as one number: the port as it
/// is when the server's pod declares it, or it is below 1024 or a named
/// service's; else "other" (an edge trace's ephemeral ports would make a
/// row each).
pub fn service(proto: Option<u8>, port: Option<u16>, declared: bool) -> u32 {
    let p = match port {
        None => NO_PORT,
        Some(p) if declared || p < 1024 || crate::names::service_name(p).is_some() => u32::from(p),
        Some(_) => OTHER_PORT,
    };
    u32::from(proto.unwrap_or(0)) << 17 | p
}

/// The protocol of [`service`]'s number, and its port (`Err(true)`: none,
/// `Err(false)`: other).
pub fn service_parts(s: u32) -> (u8, Result<u16, bool>) {
    let port = match s & 0x1_ffff {
        NO_PORT => Err(true),
        OTHER_PORT => Err(false),
        p => Ok(p as u16),
    };
    ((s >> 17) as u8, port)
}
