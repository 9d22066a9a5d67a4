//! Column access for the row pass: typed views of a batch's columns,
//! null bitmaps, selections, and dictionaries of directions and addresses.

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, DictionaryArray, RecordBatch};
use pktsample_schemas::Direction;

use crate::error::AnalyzeError;

use super::addrs::AddrKey;

/// A primitive column of the batch, or a schema error naming it.
pub(super) fn prim<'b, T: arrow_array::ArrowPrimitiveType>(
    b: &'b RecordBatch,
    name: &str,
) -> Result<&'b arrow_array::PrimitiveArray<T>, AnalyzeError> {
    b.column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<T>())
        .ok_or_else(|| {
            AnalyzeError::Schema(format!("column '{name}' is missing or of the wrong type"))
        })
}

/// Validity as raw bits: a null buffer's bitmap and offset (None: no nulls).
pub(super) type Bits<'a> = Option<(&'a [u8], usize)>;

/// A column's validity as [`Bits`].
pub(super) fn bits(n: Option<&arrow_buffer::NullBuffer>) -> Bits<'_> {
    n.filter(|n| n.null_count() > 0)
        .map(|n| (n.inner().values(), n.inner().offset()))
}

/// `if c { a } else { b }` without a branch (the conditions are random from
/// row to row, so a branch would mispredict half the time).
#[inline(always)]
pub(super) fn select(c: bool, a: u16, b: u16) -> u16 {
    b ^ ((a ^ b) & 0u16.wrapping_sub(c as u16))
}

/// Whether bit i of a validity bitmap is set (no bitmap: valid).
#[inline(always)]
pub(super) fn valid(b: Bits, i: usize) -> bool {
    b.is_none_or(|(v, o)| arrow_buffer::bit_util::get_bit(v, o + i))
}

/// Call `f(row, stratum)` for the selected rows: all rows of stratum 0 when
/// there is no selection vector, else the rows whose entry is not skipped.
#[inline(always)]
pub(super) fn each(n: usize, sel: Option<&[u32]>, mut f: impl FnMut(usize, usize)) {
    match sel {
        None => (0..n).for_each(|i| f(i, 0)),
        Some(sel) => {
            for (i, &s) in sel.iter().enumerate() {
                if s != u32::MAX {
                    f(i, s as usize);
                }
            }
        }
    }
}

/// Direction of each dictionary value.
pub(super) fn directions(d: &DictionaryArray<Int32Type>) -> Vec<Direction> {
    let v = d.values().as_string::<i32>();
    (0..v.len())
        .map(|i| Direction::parse(v.value(i)).unwrap_or(Direction::Unknown))
        .collect()
}

/// Parse each dictionary value of an address column once.
pub(super) fn addresses(d: &DictionaryArray<Int32Type>, out: &mut Vec<Option<AddrKey>>) {
    let v = d.values().as_string::<i32>();
    out.clear();
    out.extend((0..v.len()).map(|i| v.is_valid(i).then(|| AddrKey::parse(v.value(i))).flatten()));
}

pub(super) fn dict_column(
    b: &RecordBatch,
    name: &str,
) -> Result<Option<DictionaryArray<Int32Type>>, AnalyzeError> {
    let Some(c) = b.column_by_name(name) else {
        return Ok(None);
    };
    if let Some(d) = c.as_dictionary_opt::<Int32Type>() {
        return Ok(Some(d.clone()));
    }
    // A plain string column (pcap input): make it a dictionary.
    let d = arrow_cast_dictionary(c.as_ref())?;
    Ok(Some(d))
}

pub(super) fn arrow_cast_dictionary(
    a: &dyn Array,
) -> Result<DictionaryArray<Int32Type>, AnalyzeError> {
    let s = a
        .as_string_opt::<i32>()
        .ok_or_else(|| AnalyzeError::Schema("address column is not a string".into()))?;
    let mut b = arrow_array::builder::StringDictionaryBuilder::<Int32Type>::new();
    for i in 0..s.len() {
        if s.is_valid(i) {
            b.append_value(s.value(i));
        } else {
            b.append_null();
        }
    }
    Ok(b.finish())
}
