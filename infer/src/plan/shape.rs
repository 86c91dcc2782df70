//! Shape arithmetic for lowering: numpy broadcasting, axis normalisation, ONNX `Reshape`.

use super::{CompileError, err};
use crate::limits::{MAX_RANK, MAX_TENSOR_ELEMENTS};
use crate::onnx::pb;

/// Number of elements of a tensor of shape `dims`; `usize::MAX` when the product overflows
/// (never a wrapped value: every caller compares it with a limit or an actual length).
pub(super) fn numel(dims: &[usize]) -> usize {
    dims.iter().fold(1usize, |n, d| n.saturating_mul(*d))
}

/// Largest tensor a broadcast may create: a small crafted file could otherwise declare a
/// broadcast of 2⁴⁰ elements and abort the host on allocation failure.
const MAX_BROADCAST_ELEMENTS: usize = MAX_TENSOR_ELEMENTS;

/// Numpy broadcast of two shapes (right-aligned); `None` when incompatible or larger than
/// [`MAX_BROADCAST_ELEMENTS`].
pub(super) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let shape = broadcast_shapes_unbounded(a, b)?;
    let n = shape.iter().try_fold(1usize, |n, d| n.checked_mul(*d))?;
    (n <= MAX_BROADCAST_ELEMENTS).then_some(shape)
}

fn broadcast_shapes_unbounded(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let pad = |s: &[usize]| -> Vec<usize> {
        std::iter::repeat_n(1, r - s.len())
            .chain(s.iter().copied())
            .collect()
    };
    pad(a)
        .into_iter()
        .zip(pad(b))
        .map(|(x, y)| match (x, y) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// For each element of a tensor of shape `to`, the flat index of the element of the
/// (right-aligned, broadcastable) tensor of shape `from` it reads.
pub(super) fn broadcast_map(from: &[usize], to: &[usize]) -> Vec<u32> {
    let r = to.len();
    let from: Vec<usize> = std::iter::repeat_n(1, r.saturating_sub(from.len()))
        .chain(from.iter().copied())
        .collect();
    let mut strides = vec![0usize; r];
    let mut s = 1;
    for (st, d) in strides.iter_mut().zip(&from).rev() {
        *st = if *d == 1 { 0 } else { s };
        s = s.saturating_mul(*d);
    }
    let n = numel(to);
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; r];
    for _ in 0..n {
        out.push(idx.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>() as u32);
        for (i, d) in idx.iter_mut().zip(to).rev() {
            *i += 1;
            if *i < *d {
                break;
            }
            *i = 0;
        }
    }
    out
}

/// `axis` (negative counts from the end) as an index into a shape of rank `rank`.
pub(super) fn normalize_axis(axis: i64, rank: usize) -> Result<usize, CompileError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        err(format!("axis {axis} out of range for rank {rank}"))
    }
}
/// ONNX Reshape semantics (0 copies the input dimension, one -1 is inferred).
pub(super) fn resolve_reshape(input: &[usize], shape: &[i64]) -> Result<Vec<usize>, CompileError> {
    if shape.len() > MAX_RANK {
        return err(format!(
            "Reshape to rank {} (the limit is {MAX_RANK})",
            shape.len()
        ));
    }
    let total = numel(input);
    if total == usize::MAX {
        return err(format!("cannot Reshape {input:?}: too many elements"));
    }
    let mut out = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, d) in shape.iter().enumerate() {
        match *d {
            0 => out.push(
                input
                    .get(i)
                    .copied()
                    .map_or_else(|| err("Reshape 0 out of range"), Ok)?,
            ),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            d if d > 0 => out.push(d as usize),
            _ => return err(format!("invalid Reshape shape {shape:?}")),
        }
    }
    let known = numel(&out);
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return err(format!("cannot Reshape {input:?} to {shape:?}"));
        }
        if let Some(x) = out.get_mut(i) {
            *x = total / known;
        }
    }
    if numel(&out) != total {
        return err(format!("cannot Reshape {input:?} to {shape:?}"));
    }
    Ok(out)
}
/// A declared shape (graph output or `value_info`) against the computed one. A per-event
/// tensor (`batched`) is declared `[N, dims...]` with a symbolic (or unknown) batch `N`, a
/// constant `[dims...]`; every other dimension is unknown or equal to the computed one. tract
/// trusts these declarations, so a wrong one would make it compute something else.
pub(super) fn check_declared(
    vi: &pb::ValueInfoProto,
    dims: &[usize],
    batched: bool,
) -> Result<(), CompileError> {
    use pb::tensor_shape_proto::dimension::Value;
    let Some(pb::type_proto::Value::TensorType(t)) =
        vi.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Ok(());
    };
    let Some(shape) = &t.shape else {
        return Ok(());
    };
    let show = |d: &pb::tensor_shape_proto::Dimension| match &d.value {
        Some(Value::DimValue(v)) => v.to_string(),
        Some(Value::DimParam(p)) => p.clone(),
        None => "?".to_owned(),
    };
    let declared: Vec<String> = shape.dim.iter().map(show).collect();
    let computed: Vec<String> = batched
        .then(|| "N".to_owned())
        .into_iter()
        .chain(dims.iter().map(ToString::to_string))
        .collect();
    let mismatch = || {
        err(format!(
            "{:?} is declared with shape [{}] but computed as [{}]",
            vi.name,
            declared.join(", "),
            computed.join(", ")
        ))
    };
    if shape.dim.len() != dims.len() + usize::from(batched) {
        return mismatch();
    }
    let mut it = shape.dim.iter();
    if batched && let Some(Some(Value::DimValue(_))) = it.next().map(|d| &d.value) {
        return mismatch();
    }
    for (d, actual) in it.zip(dims) {
        match &d.value {
            None => {}
            Some(Value::DimValue(v)) if usize::try_from(*v) == Ok(*actual) => {}
            Some(_) => return mismatch(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_helpers() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]), Some(vec![3, 4]));
        assert_eq!(broadcast_shapes(&[3], &[4]), None);
        // A crafted 2²⁰ × 2²⁰ broadcast is refused instead of aborting on allocation.
        assert_eq!(broadcast_shapes(&[1 << 20, 1], &[1 << 20]), None);
        assert_eq!(broadcast_shapes(&[usize::MAX, 1], &[2]), None);
        assert_eq!(broadcast_map(&[2, 1], &[2, 3]), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(broadcast_map(&[3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_map(&[], &[2]), vec![0, 0]);
        assert_eq!(resolve_reshape(&[6], &[-1, 3]).unwrap(), vec![2, 3]);
        assert_eq!(resolve_reshape(&[2, 3], &[0, 3]).unwrap(), vec![2, 3]);
        assert!(resolve_reshape(&[6], &[4, -1]).is_err());
        assert!(resolve_reshape(&[6], &[1; 17]).is_err());
        // Shapes whose product overflows saturate instead of wrapping to a small number.
        assert_eq!(numel(&[1 << 32, 1 << 32]), usize::MAX);
        assert_eq!(numel(&[1 << 32, 1 << 32, 0]), 0);
        assert_eq!(numel(&[3, 4]), 12);
        assert!(resolve_reshape(&[1 << 32, 1 << 32], &[-1]).is_err());
        assert!(resolve_reshape(&[16], &[1 << 62, 1 << 62, -1]).is_err());
    }
}
