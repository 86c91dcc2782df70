//! Initializer and constant decoding: ONNX tensors to `f32` or `i64` values at compile time.
//!
//! Weights may be stored as float32, float64 or float16 (converted to float32 here, once);
//! indices, axes and shapes as int64 or int32. Data may be in `raw_data` (little-endian) or
//! in the typed fields; external data is refused, and so are NaN and infinite values (a
//! corrupted or diverged weight), naming the tensor.

use std::borrow::Cow;
use std::sync::Arc;

use half::slice::HalfFloatSliceExt;

use super::shape::numel;
use super::{CompileError, err};
use crate::onnx::pb;
use pb::tensor_proto::DataType;

/// The values of a constant: floats (whatever their storage type) or integers. Shared, not
/// copied, when a value is read: a 64 MiB initializer read by thousands of nodes cost a copy
/// per read (a crafted 20 MB file took minutes to load).
#[derive(Debug, Clone)]
pub(super) enum ConstData {
    F(Arc<[f32]>),
    I(Arc<[i64]>),
}

/// A tensor known at compile time (initializer, `Constant`, or folded from constants).
#[derive(Debug, Clone)]
pub(super) struct Const {
    pub(super) shape: Vec<usize>,
    pub(super) data: ConstData,
}

impl Const {
    /// Number of values.
    pub(super) fn len(&self) -> usize {
        match &self.data {
            ConstData::F(v) => v.len(),
            ConstData::I(v) => v.len(),
        }
    }
    /// The values as floats: borrowed for a float constant, integers converted.
    pub(super) fn floats(&self) -> Cow<'_, [f32]> {
        match &self.data {
            ConstData::F(v) => Cow::Borrowed(v),
            ConstData::I(v) => Cow::Owned(v.iter().map(|x| *x as f32).collect()),
        }
    }
    /// As [`floats`](Self::floats), owned (a copy: the values may be shared).
    pub(super) fn into_floats(self) -> Vec<f32> {
        match self.data {
            ConstData::F(v) => v.to_vec(),
            ConstData::I(v) => v.iter().map(|x| *x as f32).collect(),
        }
    }
    /// The values as integers; an error for a float constant.
    pub(super) fn ints(&self) -> Result<Vec<i64>, CompileError> {
        match &self.data {
            ConstData::I(v) => Ok(v.to_vec()),
            ConstData::F(_) => err("expected an int64 constant"),
        }
    }
}

/// Little-endian words of `W` bytes (a trailing partial word is dropped; the length check
/// in [`load_tensor`] then refuses the tensor).
fn le_chunks<const W: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; W]> + '_ {
    raw.chunks_exact(W).map(|c| {
        let mut a = [0u8; W];
        a.copy_from_slice(c);
        a
    })
}

/// Decodes an initializer or a `Constant` value.
pub(super) fn load_tensor(t: &pb::TensorProto) -> Result<Const, CompileError> {
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
        return err(format!(
            "initializer {:?} uses external data, which is not supported",
            t.name
        ));
    }
    let shape = t
        .dims
        .iter()
        .map(|d| usize::try_from(*d))
        .collect::<Result<Vec<_>, _>>()
        .or_else(|_| err(format!("tensor {:?} has a negative dimension", t.name)))?;
    let n = numel(&shape);
    let raw = &t.raw_data;
    let data = match DataType::try_from(t.data_type) {
        Ok(DataType::Float) => ConstData::F(if raw.is_empty() {
            t.float_data.clone().into()
        } else {
            le_chunks::<4>(raw).map(f32::from_le_bytes).collect()
        }),
        Ok(DataType::Double) => ConstData::F(if raw.is_empty() {
            t.double_data.iter().map(|v| *v as f32).collect()
        } else {
            le_chunks::<8>(raw)
                .map(|b| f64::from_le_bytes(b) as f32)
                .collect()
        }),
        Ok(DataType::Float16) => {
            let bits: Vec<half::f16> = if raw.is_empty() {
                t.int32_data
                    .iter()
                    .map(|v| half::f16::from_bits(*v as u16))
                    .collect()
            } else {
                le_chunks::<2>(raw)
                    .map(|b| half::f16::from_bits(u16::from_le_bytes(b)))
                    .collect()
            };
            let mut out = vec![0.0f32; bits.len()];
            bits.as_slice().convert_to_f32_slice(&mut out);
            ConstData::F(out.into())
        }
        Ok(DataType::Int64) => ConstData::I(if raw.is_empty() {
            t.int64_data.clone().into()
        } else {
            le_chunks::<8>(raw).map(i64::from_le_bytes).collect()
        }),
        Ok(DataType::Int32) => ConstData::I(if raw.is_empty() {
            t.int32_data.iter().map(|v| i64::from(*v)).collect()
        } else {
            le_chunks::<4>(raw)
                .map(|b| i64::from(i32::from_le_bytes(b)))
                .collect()
        }),
        _ => {
            return err(format!(
                "tensor {:?} has data type {}, expected float, float16, double, int32 or int64",
                t.name, t.data_type
            ));
        }
    };
    let len = match &data {
        ConstData::F(v) => v.len(),
        ConstData::I(v) => v.len(),
    };
    if len != n {
        return err(format!(
            "tensor {:?} has {len} values for shape {shape:?}",
            t.name
        ));
    }
    if let ConstData::F(v) = &data {
        // A NaN or infinite weight would silently turn every score into NaN or ±inf.
        if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return err(format!(
                "tensor {:?} has the non-finite value {x} at index {i}: weights and constants must be finite",
                t.name
            ));
        }
    }
    Ok(Const { shape, data })
}
