//! The Kubernetes columns of a batch (1.5): each address's namespace,
//! workload, pod and node, from an [`Attribute`] source (the cluster
//! snapshots of `--k8s`), filled on the writer thread as the AS columns
//! are.
//!
//! A tunnelled sample is attributed by its inner addresses (an overlay's
//! traffic, not its tunnel endpoints); a sample on a pod's host-side
//! interface has that pod on the side the interface faces, whatever its
//! addresses say (NAT). A dictionary column's values are resolved once per
//! batch and snapshot epoch (a plain column's row by row: a parse and a
//! lookup), and what an address resolved to has its strings interned once,
//! by its key, across batches.

use std::net::IpAddr;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampNanosecondType};
use arrow_array::{Array, ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use rustc_hash::FxHashMap;

use crate::schema::col;

/// What an address or interface was: every part optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context<'a> {
    /// What it is as a number, unique within the source: equal keys are
    /// equal contexts (so a writer interns each one's strings once).
    pub key: u64,
    pub namespace: Option<&'a str>,
    pub workload: Option<&'a str>,
    pub pod: Option<&'a str>,
    pub node: Option<&'a str>,
}

/// A source of Kubernetes context.
pub trait Attribute: Send + Sync + std::fmt::Debug {
    /// Samples of one epoch resolve an address alike (the snapshots valid
    /// at `t`).
    fn epoch(&self, t: i64) -> u64;
    /// What `ip` was at `t`.
    fn address(&self, ip: IpAddr, t: i64) -> Context<'_>;
    /// The pod whose host-side interface `name` is, at `t`.
    fn interface(&self, name: &str, t: i64) -> Option<Context<'_>>;
    /// The snapshots, for the file's metadata.
    fn describe(&self) -> Vec<String>;
}

type Ids = [Option<u32>; 4];

/// Contexts already resolved, kept across the batches of a writer: each
/// context's interned strings by its key.
#[derive(Default)]
pub struct AttributeCache {
    by_key: FxHashMap<u64, Ids>,
    names: Vec<String>,
    name_id: FxHashMap<String, u32>,
}

/// Contexts kept before the cache starts afresh (bounds its memory: a
/// cluster's pods, services and nodes, and a few labels).
const CACHE_MAX: usize = 1 << 22;

impl AttributeCache {
    fn intern(&mut self, s: Option<&str>) -> Option<u32> {
        let s = s?;
        if let Some(&i) = self.name_id.get(s) {
            return Some(i);
        }
        self.names.push(s.to_string());
        let i = (self.names.len() - 1) as u32;
        self.name_id.insert(s.to_string(), i);
        Some(i)
    }

    fn ids(&mut self, c: Context) -> Ids {
        if let Some(ids) = self.by_key.get(&c.key) {
            return *ids;
        }
        let ids = [
            self.intern(c.namespace),
            self.intern(c.workload),
            self.intern(c.pod),
            self.intern(c.node),
        ];
        self.by_key.insert(c.key, ids);
        ids
    }

    fn address(&mut self, a: &dyn Attribute, text: &str, t: i64) -> Ids {
        match text.parse::<IpAddr>() {
            Ok(ip) => {
                let c = a.address(ip, t);
                self.ids(c)
            }
            Err(_) => [None; 4],
        }
    }
}

/// One dictionary column from interned ids.
fn column(ids: &[Option<u32>], names: &[String]) -> ArrayRef {
    let mut key_of: FxHashMap<u32, i32> = FxHashMap::default();
    let mut values: Vec<&str> = Vec::new();
    let keys: Int32Array = ids
        .iter()
        .map(|id| {
            id.map(|id| {
                *key_of.entry(id).or_insert_with(|| {
                    values.push(&names[id as usize]);
                    (values.len() - 1) as i32
                })
            })
        })
        .collect();
    Arc::new(
        DictionaryArray::<Int32Type>::try_new(keys, Arc::new(StringArray::from(values)))
            .expect("keys index the names"),
    )
}

/// A string column of a batch, plain or dictionary-encoded, and what its
/// values resolved to in the current epoch: by dictionary key, so a
/// dictionary's rows cost an index, not a string hash (analyze reads
/// addresses as dictionaries).
struct Texts<'b, V> {
    plain: Option<&'b StringArray>,
    dict: Option<(&'b DictionaryArray<Int32Type>, &'b StringArray)>,
    memo: Vec<Option<V>>,
    epoch: u64,
}

impl<'b, V: Copy> Texts<'b, V> {
    fn new(c: Option<&'b ArrayRef>) -> Self {
        let dict = c
            .and_then(|c| c.as_dictionary_opt::<Int32Type>())
            .and_then(|d| {
                let v = d.values().as_string_opt::<i32>()?;
                Some((d, v))
            });
        Texts {
            plain: c.and_then(|c| c.as_string_opt::<i32>()),
            memo: vec![None; dict.map_or(0, |(_, v)| v.len())],
            dict,
            epoch: u64::MAX,
        }
    }

    fn text(&self, i: usize) -> Option<&'b str> {
        match (self.plain, self.dict) {
            (Some(p), _) => p.is_valid(i).then(|| p.value(i)),
            (None, Some((d, v))) => {
                let k = d.keys();
                (k.is_valid(i) && v.is_valid(k.value(i) as usize))
                    .then(|| v.value(k.value(i) as usize))
            }
            (None, None) => None,
        }
    }

    /// What row `i`'s value resolves to in epoch `e` (None: null).
    fn resolve(&mut self, i: usize, e: u64, f: impl FnOnce(&str) -> V) -> Option<V> {
        let Some((d, v)) = self.dict else {
            return self.text(i).map(f);
        };
        let keys = d.keys();
        if !keys.is_valid(i) {
            return None;
        }
        let k = keys.value(i) as usize;
        if self.epoch != e {
            self.memo.iter_mut().for_each(|m| *m = None);
            self.epoch = e;
        }
        if let Some(x) = self.memo[k] {
            return Some(x);
        }
        let x = f(v.is_valid(k).then(|| v.value(k))?);
        self.memo[k] = Some(x);
        Some(x)
    }
}

/// A string column's value at a row, whether plain or a dictionary.
pub fn text_at(c: Option<&ArrayRef>, i: usize) -> Option<&str> {
    let c = c?;
    if c.is_null(i) {
        return None;
    }
    if let Some(s) = c.as_string_opt::<i32>() {
        return Some(s.value(i));
    }
    let d = c.as_dictionary_opt::<Int32Type>()?;
    let v = d.values().as_string_opt::<i32>()?;
    Some(v.value(d.keys().value(i) as usize))
}

/// Fill the Kubernetes columns of a batch: replaced where the batch has
/// them, appended where it does not (a projection that read only what
/// attribution needs). A batch without timestamps is returned as it is.
pub fn attribute(b: &RecordBatch, a: &dyn Attribute, cache: &mut AttributeCache) -> RecordBatch {
    if cache.names.len() > CACHE_MAX {
        *cache = AttributeCache::default();
    }
    let Some(ts) = b
        .column_by_name(col::TIMESTAMP)
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
    else {
        return b.clone();
    };
    let get = |n| Texts::new(b.column_by_name(n));
    let (mut src, mut dst) = (get(col::SRC_ADDR), get(col::DST_ADDR));
    let (mut isrc, mut idst) = (get(col::INNER_SRC_ADDR), get(col::INNER_DST_ADDR));
    let mut ifname: Texts<Option<Ids>> = Texts::new(b.column_by_name(col::IFNAME));
    let dir: Texts<()> = Texts::new(b.column_by_name(col::DIRECTION));
    let n = b.num_rows();
    let mut out: [Vec<Option<u32>>; 8] = Default::default();
    for i in 0..n {
        let t = ts.value(i);
        let e = a.epoch(t);
        let mut side = |inner: &mut Texts<Ids>, outer: &mut Texts<Ids>| {
            inner
                .resolve(i, e, |s| cache.address(a, s, t))
                .or_else(|| outer.resolve(i, e, |s| cache.address(a, s, t)))
                .unwrap_or([None; 4])
        };
        let mut s = side(&mut isrc, &mut src);
        let mut d = side(&mut idst, &mut dst);
        let pod = ifname.resolve(i, e, |name| a.interface(name, t).map(|c| cache.ids(c)));
        match (pod.flatten(), dir.text(i)) {
            (Some(p), Some("ingress")) => s = p,
            (Some(p), Some("egress")) => d = p,
            _ => {}
        }
        for k in 0..4 {
            out[k].push(s[k]);
            out[4 + k].push(d[k]);
        }
    }
    let schema = b.schema();
    let mut fields: Vec<arrow_schema::FieldRef> = schema.fields().iter().cloned().collect();
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    for (k, ids) in out.iter().enumerate() {
        let c = column(ids, &cache.names);
        match schema.index_of(col::ADDED_IN_1_5[k]) {
            Ok(j) => cols[j] = c,
            Err(_) => {
                let f = arrow_schema::Field::new(col::ADDED_IN_1_5[k], c.data_type().clone(), true);
                fields.push(Arc::new(f));
                cols.push(c);
            }
        }
    }
    let schema = match fields.len() == schema.fields().len() {
        // Every column was there: the batch keeps its schema (the writer's).
        true => schema,
        false => Arc::new(arrow_schema::Schema::new_with_metadata(
            fields,
            schema.metadata().clone(),
        )),
    };
    RecordBatch::try_new(schema, cols).expect("columns of the batch's length")
}
