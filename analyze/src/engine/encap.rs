//! Encapsulations in the aggregation: the `encap` column's stacks summed
//! per stratum (the encapsulations section), and the innermost-header view
//! of a batch that `--inner` folds in place of the outer headers.
//!
//! The view is built per batch by Arrow's `zip` (a selection by the inner
//! header's presence), so the row pass and the address tables stay as
//! they are: they read the classic columns, which now hold the innermost
//! header.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt8Type;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt16Array};
use arrow_schema::{Field, Schema};
use pktsample_schemas::decode::encap::kinds;
use pktsample_schemas::schema::col;

use crate::error::AnalyzeError;
use crate::stats::Cell;

use super::agg::StratumAgg;
use super::columns::dict_column;

/// Each classic column and the inner column that replaces it.
const PAIRS: [(&str, &str); 6] = [
    (col::IP_VERSION, col::INNER_IP_VERSION),
    (col::SRC_ADDR, col::INNER_SRC_ADDR),
    (col::DST_ADDR, col::INNER_DST_ADDR),
    (col::IP_PROTO, col::INNER_IP_PROTO),
    (col::SRC_PORT, col::INNER_SRC_PORT),
    (col::DST_PORT, col::INNER_DST_PORT),
];

/// The inner columns `--inner` reads besides the classic ones `outer`
/// (and the stacks, which say which samples are tunnelled).
pub(super) fn inner_columns(outer: &[&str]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = PAIRS
        .iter()
        .filter(|(o, _)| outer.contains(o))
        .map(|(_, i)| *i)
        .collect();
    if !outer.contains(&col::ENCAP) {
        v.push(col::ENCAP);
    }
    v
}

/// Per row: whether its innermost header is the inner one, because it has
/// one or because it is tunnelled (a tunnel carrying ARP, or cut short by
/// the snap length, has no IP inside: it is not the tunnel's IP either).
fn innermost_is_inner(b: &RecordBatch, iv: &dyn Array) -> Result<BooleanArray, AnalyzeError> {
    let stacks = dict_column(b, col::ENCAP)?;
    let tunnelled: Vec<bool> = match &stacks {
        Some(d) => {
            let v = d.values().as_string::<i32>();
            (0..v.len())
                .map(|k| kinds(v.value(k)).iter().any(|l| l.is_tunnel()))
                .collect()
        }
        None => Vec::new(),
    };
    Ok((0..iv.len())
        .map(|i| {
            let t = stacks
                .as_ref()
                .is_some_and(|d| d.is_valid(i) && tunnelled[d.keys().value(i) as usize]);
            Some(iv.is_valid(i) || t)
        })
        .collect())
}

/// Whether `name` is an inner address column (read as a dictionary, as the
/// outer ones are).
pub(super) fn is_inner_address(name: &str) -> bool {
    name == col::INNER_SRC_ADDR || name == col::INNER_DST_ADDR
}

fn schema_err(e: arrow_schema::ArrowError) -> AnalyzeError {
    AnalyzeError::Schema(format!("the inner header columns: {e}"))
}

/// The batch with its classic columns replaced, row by row, by the inner
/// header's where a sample is tunnelled (and the EtherType by the inner IP
/// version's). A batch without tunnels is returned as it is.
pub(super) fn inner_view(b: &RecordBatch) -> Result<RecordBatch, AnalyzeError> {
    let Some(iv) = b.column_by_name(col::INNER_IP_VERSION) else {
        return Ok(b.clone());
    };
    let mask = innermost_is_inner(b, iv.as_ref())?;
    if mask.true_count() == 0 {
        return Ok(b.clone());
    }
    let schema = b.schema();
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (outer, inner) in PAIRS {
        let (Ok(oi), Some(ic)) = (schema.index_of(outer), b.column_by_name(inner)) else {
            continue;
        };
        if ic.data_type() != cols[oi].data_type() {
            return Err(AnalyzeError::Schema(format!(
                "column '{inner}' is {}, but '{outer}' is {}",
                ic.data_type(),
                cols[oi].data_type()
            )));
        }
        cols[oi] = arrow_select::zip::zip(&mask, ic, &cols[oi]).map_err(schema_err)?;
        fields[oi] = Field::new(outer, cols[oi].data_type().clone(), true);
    }
    if let Ok(ei) = schema.index_of(col::ETH_TYPE) {
        let v = iv.as_primitive_opt::<UInt8Type>().ok_or_else(|| {
            AnalyzeError::Schema("column 'inner_ip_version' has the wrong type".into())
        })?;
        let eth = cols[ei]
            .as_primitive_opt::<arrow_array::types::UInt16Type>()
            .ok_or_else(|| AnalyzeError::Schema("column 'eth_type' has the wrong type".into()))?;
        let e: UInt16Array = (0..eth.len())
            .map(|i| {
                Some(match (mask.value(i), v.is_valid(i), v.value(i)) {
                    (true, true, 4) => 0x0800,
                    (true, true, 6) => 0x86dd,
                    // Not IP inside the tunnel (or cut): its EtherType
                    // is not known.
                    (true, _, _) => 0,
                    _ => eth.value(i),
                })
            })
            .collect();
        cols[ei] = Arc::new(e);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(schema_err)
}

/// Sum the selected rows by their `encap` stack ("" without one) into
/// their strata. `sel` gives each row's batch stratum, or `u32::MAX` for a
/// row left out; without it every row is of stratum 0.
pub(super) fn fold_encap(
    b: &RecordBatch,
    sel: Option<&[u32]>,
    len: &[u32],
    aggs: &mut [StratumAgg],
) -> Result<(), AnalyzeError> {
    let stacks = dict_column(b, col::ENCAP)?;
    let width = 1 + stacks.as_ref().map_or(0, |d| d.values().len());
    let mut cells = vec![Cell::default(); aggs.len() * width];
    for (i, &l) in len.iter().enumerate() {
        let s = match sel {
            Some(sel) if sel[i] == u32::MAX => continue,
            Some(sel) => sel[i] as usize,
            None => 0,
        };
        let k = match &stacks {
            Some(d) if d.is_valid(i) => d.keys().value(i) as usize + 1,
            _ => 0,
        };
        cells[s * width + k].add(l);
    }
    let values = stacks.as_ref().map(|d| d.values().as_string::<i32>());
    for (s, agg) in aggs.iter_mut().enumerate() {
        for (k, c) in cells[s * width..(s + 1) * width].iter().enumerate() {
            if c.n == 0 {
                continue;
            }
            let text = match (k, values) {
                (0, _) | (_, None) => "",
                (k, Some(v)) => v.value(k - 1),
            };
            match agg.encap.get_mut(text) {
                Some(e) => e.merge(c),
                None => {
                    agg.encap.insert(text.into(), *c);
                }
            }
        }
    }
    Ok(())
}
