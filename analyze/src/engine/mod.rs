//! The aggregation engine: reads samples files in parallel and sums, per
//! stratum (host, interface, direction, rate, across the files that continue
//! one), what every report section needs. Estimation happens afterwards, in
//! [`crate::estimate`].
//!
//! Work is split by Parquet row group (and by file for small Parquet parts
//! and pcap/pcapng), spread over threads with rayon, and each thread folds
//! into its own partial aggregate; partials are merged at the end. Only the
//! columns the chosen sections need are read. Addresses are read as
//! dictionary arrays: rows accumulate by dictionary key, each distinct
//! address is parsed once per dictionary, and the address tables sum them
//! by partition after the pass. Memory grows with the number of strata,
//! groups and time buckets; the address tables, which grow with the
//! addresses, stay within the memory budget by spilling.
//!
//! Here: the query, and the parallel run. `plan` opens the inputs, skips
//! what the time filter excludes and chooses the units of work; `sections`
//! says which sections to compute; `tables` holds the dense lookup tables
//! (size classes, ports, protocols); `columns` the typed access to a
//! batch's columns; `fold` a batch's strata and selection, `pass` the row
//! pass, `dicts` the address sums by dictionary key; `agg` what it accumulates and how
//! partials merge; `addrs` the address tables and `spill` their budget;
//! `encap` the stacks and `--inner`'s view; `k8s` the Kubernetes sums.

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use pktsample_schemas::guard::untrusted;
use pktsample_schemas::input::FileKind;
use pktsample_schemas::schema::col;
use pktsample_schemas::{Direction, FormatError, foreign, read_samples};
use rayon::prelude::*;

mod addrs;
mod agg;
mod columns;
mod dicts;
mod encap;
mod flows;
mod fold;
pub mod k8s;
mod pass;
mod plan;
pub mod policy;
pub mod rollup;
mod spill;
mod tables;

pub use crate::section::{Section, Sections};
pub use addrs::{AddrKey, AddrSummary, AddrTables, ByOrigin, DST, Finish, HOSTS, PerStratum, SRC};
pub use agg::{Aggregate, StratumAgg, StratumIds, TIME_CLASSES, TimeCell};
pub use flows::{FlowFinish, FlowKey, FlowSummary, FlowTables, PairKey, pair_ips};
pub use plan::{Input, Parts, capture_span};
pub use spill::{Budget, default_limit};
pub use tables::{ProtoSums, SIZE_CLASSES, service_port};

use agg::ThreadAcc;
use fold::Folder;
use plan::{Unit, open_input, open_parquet_input, overlaps, units};

use crate::error::AnalyzeError;
use crate::stats::Cell;
use pktsample_asn::AsDb;

/// What to analyse.
#[derive(Clone, Debug)]
pub struct Query {
    pub inputs: Vec<PathBuf>,
    /// Keep samples with `from <= timestamp < to` (ns since the epoch).
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Only these interfaces (names); empty = all.
    pub interfaces: Vec<String>,
    /// Only these hosts (the metadata's host); empty = all.
    pub hosts: Vec<String>,
    /// Only these directions; empty = all.
    pub directions: Vec<Direction>,
    /// Time series bucket width (ns); `None` = chosen from the time span.
    pub interval: Option<i64>,
    pub sections: Sections,
    /// The ASN database for the per-AS sections.
    pub asn: Option<Arc<AsDb>>,
    /// Bytes the aggregation may hold before it spills (None: half the
    /// RAM, [`default_limit`]).
    pub memory_limit: Option<u64>,
    /// Where spill files go (None: the system's temporary directory).
    pub temp_dir: Option<PathBuf>,
    /// Read Parquet inputs as rows only, as if written by another tool:
    /// Horvitz–Thompson by each row's rate, names and span from the rows.
    pub ignore_metadata: bool,
    /// Every section on the innermost IP header: the inner one behind a
    /// tunnel, the outer one where a sample has none (`--inner`).
    pub inner: bool,
    /// Cluster snapshots: the Kubernetes sections attribute each sample
    /// as it is read (None: they read the samples' Kubernetes columns).
    pub k8s: Option<Arc<dyn pktsample_schemas::Attribute>>,
    /// Network policies to judge each sample by (`--k8s-policy`; the
    /// denied section).
    pub policy: Option<Arc<dyn pktsample_schemas::PolicyCheck>>,
    /// Read a dataset's rollups instead of its samples where they serve
    /// the report ([`rollup::choose`]); false: always the samples, and no
    /// word on rollups.
    pub rollups: bool,
}

/// A stratum: samples of one interface, direction and rate of a host, in
/// one file or several that continue it (see [`Parts`]): keyed by its first
/// file and that file's ifindex.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StratumKey {
    pub file: u32,
    pub ifindex: u32,
    pub direction: Direction,
    pub rate: u32,
}

/// Everything aggregated, with the inputs it came from.
#[derive(Debug)]
pub struct Analysis {
    pub inputs: Vec<Input>,
    pub agg: Aggregate,
    /// Every address's sums, by stratum id.
    pub addrs: AddrTables,
    /// Every flow's sums, by stratum id (with a conversation section).
    pub flows: FlowTables,
    /// Stratum id -> key.
    pub stratum_keys: Vec<StratumKey>,
    /// Which files continue which.
    pub parts: Parts,
    /// Bytes of address entries spilled to temporary files.
    pub spilled: u64,
    pub interval_ns: i64,
    pub query: Query,
    /// For the report's warnings: rollups not used, and why.
    pub notes: Vec<String>,
    /// From rollups (Some exactly when the sums came from rollups): the
    /// sources' and destinations' sums by (stratum id, origin), which the
    /// address tables give otherwise.
    pub rolled_origins: Option<[ByOrigin; 2]>,
}

fn columns(q: &Query, s: Sections, constant_stratum: bool) -> Vec<&'static str> {
    let inner = q.inner;
    let mut c = vec![col::TIMESTAMP, col::PKT_LEN, col::IP_VERSION];
    if !constant_stratum {
        c.extend([col::IFINDEX, col::DIRECTION, col::SAMPLING_RATE]);
    }
    if s.has(Section::Protocols) {
        c.extend([col::ETH_TYPE, col::IP_PROTO, col::SRC_PORT, col::DST_PORT]);
    }
    if s.addresses() {
        c.extend([col::SRC_ADDR, col::DST_ADDR]);
    }
    if s.flows() {
        c.extend([col::IP_PROTO, col::SRC_PORT, col::DST_PORT, col::TCP_FLAGS]);
    }
    if s.has(Section::Encapsulations) {
        c.push(col::ENCAP);
    }
    if inner {
        c.extend(encap::inner_columns(&c));
    }
    if s.any_k8s() {
        let leaving_as = s.has(Section::Leaving) && q.asn.is_some();
        c.extend(k8s::k8s_columns(q.k8s.is_some(), leaving_as));
    }
    if s.has(Section::Denied) && q.policy.is_some() {
        c.extend(policy::POLICY_COLUMNS);
    }
    c
}

/// Choose a bucket width giving at most about 60 buckets over `span` ns.
pub fn auto_interval(span_ns: i64) -> i64 {
    const S: i64 = 1_000_000_000;
    let steps = [
        S / 1000,
        S / 100,
        S / 10,
        S,
        10 * S,
        60 * S,
        5 * 60 * S,
        15 * 60 * S,
        3600 * S,
        6 * 3600 * S,
        86400 * S,
    ];
    steps
        .into_iter()
        .find(|&st| span_ns / st <= 60)
        .unwrap_or(86400 * S)
}

/// Memory a worker thread needs besides the address entries: a row group's
/// decoded columns and its address dictionaries with their sums (about 150
/// MiB for a million rows of distinct addresses).
const READ_RESERVE: u64 = 208 << 20;

/// The address entries' share of `--memory-limit`: what reading leaves, and
/// at least half.
fn entries_budget(limit: u64, threads: usize) -> usize {
    let reserve = READ_RESERVE.saturating_mul(threads as u64);
    let b = if limit > 2 * reserve {
        limit - reserve
    } else {
        limit / 2
    };
    usize::try_from(b).unwrap_or(usize::MAX)
}

/// What every unit shares.
struct Ctx<'a> {
    q: &'a Query,
    inputs: &'a [Input],
    parts: &'a Parts,
    interval: i64,
    ids: &'a StratumIds,
    budget: &'a Budget,
    excluded: &'a (dyn Fn(&StratumKey) -> bool + Sync),
    progress: &'a (dyn Fn(u64) + Sync),
}

/// Read every input and aggregate.
pub fn run(q: &Query, progress: &(dyn Fn(u64) + Sync)) -> Result<Analysis, AnalyzeError> {
    if q.inputs.is_empty() {
        return Err(AnalyzeError::NoInputs);
    }
    let window = (q.from, q.to);
    let mut inputs: Vec<Input> = q
        .inputs
        .par_iter()
        .map(|p| open_input(p, window, q.ignore_metadata))
        .collect::<Result<_, _>>()?;
    // Files of other hosts are not read (a dataset's host partitions were
    // not even opened).
    if !q.hosts.is_empty() {
        for inp in &mut inputs {
            if inp.kind == FileKind::Parquet && !inp.foreign && !q.hosts.contains(&inp.meta.host) {
                inp.skipped = true;
            }
        }
    }
    // The time span, for the automatic interval: from the metadata where the
    // files have it, clipped by the filter.
    let (start, end) = capture_span(&inputs);
    let span = match (q.from.or(start), q.to.or(end)) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => 60_000_000_000,
    };
    let interval = q.interval.unwrap_or_else(|| auto_interval(span));
    let parts = Parts::new(&inputs);
    let limit = q.memory_limit.unwrap_or_else(default_limit);
    let dir = q.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let budget = Budget::new(entries_budget(limit, rayon::current_num_threads()), &dir);
    let ids = StratumIds::default();
    // Interface names come from the metadata of the stratum's first file; a
    // pcap's is known only after reading, so its strata are filtered by name
    // at the end (below).
    let excluded = |k: &StratumKey| -> bool {
        if !q.directions.is_empty() && !q.directions.contains(&k.direction) {
            return true;
        }
        let inp = &inputs[k.file as usize];
        if q.interfaces.is_empty() || inp.kind != FileKind::Parquet || inp.foreign {
            return false;
        }
        !inp.meta
            .interface(k.ifindex, k.rate)
            .is_some_and(|i| q.interfaces.contains(&i.name))
    };
    let ctx = Ctx {
        q,
        inputs: &inputs,
        parts: &parts,
        interval,
        ids: &ids,
        budget: &budget,
        excluded: &excluded,
        progress,
    };
    // Each worker thread folds its units into its own accumulator: one per
    // thread, not one per rayon split (with thousands of small files there
    // would be hundreds, each with its own tables).
    let accs: Vec<Mutex<ThreadAcc>> = (0..rayon::current_num_threads())
        .map(|_| Mutex::new(ThreadAcc::new()))
        .collect();
    let (rolled, notes) = rolled_up(q, &inputs, interval);
    let mut rolled_origins: Option<[ByOrigin; 2]> = None;
    match rolled {
        Some(rolled) => {
            let acc = &mut accs[0].lock().expect("accumulator");
            rolled_origins = Some(merge_rolled(
                q,
                rolled,
                (&parts, &ids),
                &excluded,
                interval,
                acc,
                progress,
            ));
        }
        None => units(&inputs).par_iter().try_for_each(|u| {
            let i = rayon::current_thread_index().unwrap_or(0) % accs.len();
            let mut acc = accs[i].lock().expect("accumulator");
            read_unit(&ctx, u, &mut acc)
        })?,
    }
    let mut acc = accs
        .into_iter()
        .map(|m| m.into_inner().expect("accumulator"))
        .reduce(ThreadAcc::merge)
        .expect("one thread at least");
    acc.resolve_pairs();
    for (fi, m) in std::mem::take(&mut acc.metas) {
        inputs[fi].meta = m;
    }
    let mut bufs = acc.more_addrs;
    bufs.push(acc.addrs);
    let addrs = AddrTables {
        bufs,
        runs: budget.take_runs(0),
    };
    let mut bufs = acc.more_flows;
    bufs.push(acc.flows);
    let flows = FlowTables {
        bufs,
        runs: budget.take_runs(1),
    };
    let mut agg = acc.agg;
    // Name filters for inputs whose metadata came at the end.
    if !q.hosts.is_empty() {
        agg.strata
            .retain(|k, _| q.hosts.contains(&inputs[k.file as usize].meta.host));
    }
    if !q.interfaces.is_empty() {
        agg.strata.retain(|k, _| {
            inputs[k.file as usize]
                .meta
                .interface(k.ifindex, k.rate)
                .is_some_and(|i| q.interfaces.contains(&i.name))
        });
    }
    Ok(Analysis {
        inputs,
        agg,
        addrs,
        flows,
        stratum_keys: ids.into_keys(),
        spilled: budget.spilled(),
        parts,
        interval_ns: interval,
        query: q.clone(),
        notes,
        rolled_origins,
    })
}

impl Analysis {
    /// Whether the sums came from rollups rather than the samples.
    pub fn from_rollups(&self) -> bool {
        self.rolled_origins.is_some()
    }
}

/// Merge rollups' strata into an accumulator as the row pass would have
/// (same strata, the sections' view of them), and their sums by origin by
/// (stratum id, origin).
fn merge_rolled(
    q: &Query,
    rolled: Rolled,
    (parts, ids): (&Parts, &StratumIds),
    excluded: &dyn Fn(&StratumKey) -> bool,
    interval: i64,
    acc: &mut ThreadAcc,
    progress: &(dyn Fn(u64) + Sync),
) -> [ByOrigin; 2] {
    let mut origins: [ByOrigin; 2] = Default::default();
    for (fi, strata) in rolled {
        for r in strata {
            let (ifindex, d, rate) = r.key;
            let k = parts.key(fi as u32, ifindex, d, rate);
            if excluded(&k) {
                continue;
            }
            progress(r.agg.rows);
            if q.sections.any_as() {
                let id = ids.id(&k);
                for (side, o) in r.origins.iter().enumerate() {
                    for (&key, (c, c6)) in o {
                        let e: &mut (Cell, Cell) = origins[side].entry((id, key)).or_default();
                        e.0.merge(c);
                        e.1.merge(c6);
                    }
                }
            }
            let a = rollup::fit(r.agg, q.sections, interval);
            acc.agg.strata.entry(k).or_default().merge(a);
        }
    }
    origins
}

/// The rollups' strata by input, where they serve the query (see
/// [`rollup::choose`]), and the notes on why not.
type Rolled = Vec<(usize, Vec<rollup::RolledStratum>)>;

fn rolled_up(q: &Query, inputs: &[Input], interval: i64) -> (Option<Rolled>, Vec<String>) {
    if !q.rollups {
        return (None, Vec::new());
    }
    let c = rollup::choose(q, inputs, interval);
    let mut notes = c.notes;
    let Some(files) = c.files else {
        return (None, notes);
    };
    match rollup::read_all(files) {
        Ok(r) => (Some(r), notes),
        Err(n) => {
            notes.push(n);
            (None, notes)
        }
    }
}

/// Fold one unit into a thread's accumulator.
fn read_unit(c: &Ctx, u: &Unit, acc: &mut ThreadAcc) -> Result<(), AnalyzeError> {
    let q = c.q;
    let fi = match u {
        Unit::RowGroups(f, _) | Unit::File(f) => *f,
    };
    let inp = &c.inputs[fi];
    let mut folder = Folder {
        file: fi as u32,
        q,
        interval: c.interval,
        excluded: c.excluded,
        parts: c.parts,
        sections: q.sections,
        acc,
        addr_cache: None,
        k8s_cache: Default::default(),
        ids: c.ids,
        budget: c.budget,
        constant: None,
    };
    let Unit::RowGroups(_, rgs) = u else {
        // Interface filters need names: collect unfiltered by name, filter
        // by stratum afterwards.
        let each = |b: RecordBatch| -> Result<(), AnalyzeError> {
            folder.fold(&b)?;
            (c.progress)(b.num_rows() as u64);
            Ok(())
        };
        let meta = if inp.foreign {
            let cols = columns(q, q.sections, false);
            foreign::read_rows(&inp.path, Some(&cols), 64 * 1024, each)?
        } else {
            read_samples(&inp.path, each)?
        };
        folder.finish()?;
        acc.metas.push((fi, meta));
        return Ok(());
    };
    let md = match &inp.parquet {
        Some(md) => md.clone(),
        None => open_parquet_input(&inp.path)?.0,
    };
    let perr = |e| FormatError::Parquet {
        path: inp.path.clone(),
        err: e,
    };
    for rg in rgs.clone() {
        let g = &inp.groups[rg];
        let outside = g.span.is_some_and(|s| !overlaps(s, (q.from, q.to)));
        folder.constant = g.constant;
        folder.sections = q.sections;
        if outside {
            // No row in the window: only its rows by stratum count (the
            // design's n). Known from the statistics when it is one stratum.
            if let Some((ifindex, d, rate)) = g.constant {
                let k = c.parts.key(fi as u32, ifindex, d, rate);
                if !(c.excluded)(&k) {
                    folder.acc.agg.strata.entry(k).or_default().rows += g.rows;
                }
                (c.progress)(g.rows);
                continue;
            }
            folder.sections = Sections::none();
        }
        let f = File::open(&inp.path).map_err(|e| FormatError::io(&inp.path, e))?;
        let b = ParquetRecordBatchReaderBuilder::new_with_metadata(f, md.clone());
        let mask = ProjectionMask::columns(
            b.parquet_schema(),
            columns(q, folder.sections, folder.constant.is_some()),
        );
        let mut reader = b
            .with_row_groups(vec![rg])
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(perr)?;
        // The parquet crate panics on some corrupt pages.
        while let Some(batch) = untrusted(|| reader.next()).map_err(perr)? {
            let batch = batch.map_err(|e| perr(e.into()))?;
            folder.fold(&batch)?;
            (c.progress)(batch.num_rows() as u64);
        }
    }
    folder.finish()
}
