//! Operators that move values around: constants, shape changes (Reshape, Flatten, Squeeze,
//! Unsqueeze), selections (Gather, Slice, Concat) and reductions.
//!
//! A shape change of a per-event tensor keeps its buffer; a selection becomes one `Gather`
//! step with an index map computed here; a reduction over axes that are not the trailing ones
//! first gathers them to the end. On constants everything is folded.

use super::{Builder, Val, attr, attr_int};
use crate::kernels::{BinOp, ReduceOp};
use crate::onnx::pb;
use crate::plan::ir::{Buf, ConcatPart, PartSrc, Step};
use crate::plan::shape::{normalize_axis, numel, resolve_reshape};
use crate::plan::tensor::{Const, ConstData, load_tensor};
use crate::plan::{CompileError, err};
use std::borrow::Cow;

/// Largest constant `ConstantOfShape` may create (64 MiB of f32).
const MAX_CONST_ELEMENTS: usize = 1 << 24;

/// A `Const` with the same data and another shape.
fn reshaped(c: Const, shape: Vec<usize>) -> Val {
    Val::Const(Const {
        shape,
        data: c.data,
    })
}

/// The elements of `data` at the flat indices `idx`.
fn take(data: &ConstData, idx: &[usize]) -> ConstData {
    match data {
        ConstData::F(v) => ConstData::F(
            idx.iter()
                .map(|i| v.get(*i).copied().unwrap_or(0.0))
                .collect(),
        ),
        ConstData::I(v) => ConstData::I(
            idx.iter()
                .map(|i| v.get(*i).copied().unwrap_or(0))
                .collect(),
        ),
    }
}

/// Row-major strides of `dims`.
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        if let (Some(next), Some(d)) = (s.get(i + 1).copied(), dims.get(i + 1))
            && let Some(si) = s.get_mut(i)
        {
            *si = next * d;
        }
    }
    s
}

/// Flat indices (into a tensor of shape `dims`) of the cartesian product of `sel`, one list
/// of indices per axis, in row-major order.
fn select_map(dims: &[usize], sel: &[Vec<usize>]) -> Vec<usize> {
    let st = strides(dims);
    let mut out = vec![0usize];
    for (axis, list) in sel.iter().enumerate() {
        let s = st.get(axis).copied().unwrap_or(0);
        out = out
            .iter()
            .flat_map(|base| list.iter().map(move |i| base + i * s))
            .collect();
    }
    out
}

/// Every index of each axis of `dims`.
fn full(dims: &[usize]) -> Vec<Vec<usize>> {
    dims.iter().map(|d| (0..*d).collect()).collect()
}

/// [`full`], with `list` as the selection of axis `a` (the whole range of that axis, which a
/// huge constant's first axis can be, is never built).
fn full_but(dims: &[usize], a: usize, list: Vec<usize>) -> Vec<Vec<usize>> {
    let mut list = Some(list);
    dims.iter()
        .enumerate()
        .map(|(i, d)| {
            if i == a {
                list.take().unwrap_or_default()
            } else {
                (0..*d).collect()
            }
        })
        .collect()
}

/// Flat indices of `dims` read in the axis order `order` (a transpose).
fn permute_map(dims: &[usize], order: &[usize]) -> Vec<usize> {
    let st = strides(dims);
    let pd: Vec<usize> = order
        .iter()
        .map(|a| dims.get(*a).copied().unwrap_or(1))
        .collect();
    let ps: Vec<usize> = order
        .iter()
        .map(|a| st.get(*a).copied().unwrap_or(0))
        .collect();
    let mut out = vec![0usize];
    for (d, s) in pd.iter().zip(&ps) {
        out = out
            .iter()
            .flat_map(|base| (0..*d).map(move |i| base + i * s))
            .collect();
    }
    out
}

/// Normalised, sorted, deduplicated axes.
fn norm_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>, CompileError> {
    let mut ax = axes
        .iter()
        .map(|a| normalize_axis(*a, rank))
        .collect::<Result<Vec<_>, _>>()?;
    ax.sort_unstable();
    ax.dedup();
    Ok(ax)
}

/// The indices Slice selects along an axis of length `dim` (ONNX clamping rules).
fn slice_indices(dim: usize, start: i64, end: i64, step: i64) -> Result<Vec<usize>, CompileError> {
    if step == 0 {
        return err("Slice step 0");
    }
    let d = dim as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (start, end) = (norm(start), norm(end));
    let mut out = Vec::new();
    if step > 0 {
        let (mut i, e) = (start.clamp(0, d), end.clamp(0, d));
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (mut i, e) = (start.clamp(0, d - 1), end.clamp(-1, d - 1));
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    Ok(out)
}

impl Builder {
    pub(super) fn lower_constant(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let f = |shape, data| Ok(Val::Const(Const { shape, data }));
        if let Some(t) = attr(node, "value").and_then(|a| a.t.as_ref()) {
            Ok(Val::Const(load_tensor(t)?))
        } else if let Some(a) = attr(node, "value_float") {
            f(vec![], ConstData::F(vec![a.f].into()))
        } else if let Some(a) = attr(node, "value_floats") {
            f(vec![a.floats.len()], ConstData::F(a.floats.clone().into()))
        } else if let Some(a) = attr(node, "value_int") {
            f(vec![], ConstData::I(vec![a.i].into()))
        } else if let Some(a) = attr(node, "value_ints") {
            f(vec![a.ints.len()], ConstData::I(a.ints.clone().into()))
        } else {
            err("Constant without a supported value attribute")
        }
    }

    /// Identity, and Dropout, which is the identity at inference.
    pub(super) fn lower_identity(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        if node.op_type == "Dropout" {
            let training = match self.opt_input(node, 2)? {
                Some(Val::Const(c)) => c.floats().iter().any(|v| *v != 0.0),
                Some(Val::Dyn { .. }) => true,
                None => false,
            };
            if training {
                return err("Dropout in training mode");
            }
        }
        self.input(node, 0)
    }

    pub(super) fn lower_constant_of_shape(
        &mut self,
        node: &pb::NodeProto,
    ) -> Result<Val, CompileError> {
        let shape = self
            .const_input(node, 0)?
            .ints()?
            .iter()
            .map(|d| usize::try_from(*d))
            .collect::<Result<Vec<_>, _>>()
            .or_else(|_| err("ConstantOfShape with a negative dimension"))?;
        let n = shape
            .iter()
            .try_fold(1usize, |n, d| n.checked_mul(*d))
            .filter(|n| *n <= MAX_CONST_ELEMENTS)
            .map_or_else(
                || err(format!("ConstantOfShape {shape:?} is too large")),
                Ok,
            )?;
        let data = match attr(node, "value").and_then(|a| a.t.as_ref()) {
            None => ConstData::F(vec![0.0; n].into()),
            Some(t) => match load_tensor(t)?.data {
                ConstData::F(v) => ConstData::F(vec![v.first().copied().unwrap_or(0.0); n].into()),
                ConstData::I(v) => ConstData::I(vec![v.first().copied().unwrap_or(0); n].into()),
            },
        };
        Ok(Val::Const(Const { shape, data }))
    }

    pub(super) fn lower_reshape(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let shape = self.const_input(node, 1)?.ints()?;
        if attr_int(node, "allowzero", 0) != 0 && shape.contains(&0) {
            return err("Reshape with allowzero = 1 and a 0 in the shape");
        }
        match self.input(node, 0)? {
            Val::Const(c) => {
                let dims = resolve_reshape(&c.shape, &shape)?;
                Ok(reshaped(c, dims))
            }
            Val::Dyn { buf, dims } => {
                match shape.first() {
                    Some(0) => {}
                    Some(-1) if !shape.iter().skip(1).any(|d| *d == -1) => {}
                    _ => {
                        return err(format!(
                            "Reshape to {shape:?} must keep the batch dimension (0 or -1 first)"
                        ));
                    }
                }
                let rest = shape.get(1..).unwrap_or_default();
                // Resolve against the per-event dims (index shifted by the batch axis).
                let new = resolve_reshape(&dims, rest)?;
                Ok(Val::Dyn { buf, dims: new })
            }
        }
    }

    pub(super) fn lower_flatten(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let x = self.input(node, 0)?;
        let rank = match &x {
            Val::Const(c) => c.shape.len(),
            Val::Dyn { dims, .. } => dims.len() + 1,
        };
        // Flatten's axis may equal the rank.
        let axis = attr_int(node, "axis", 1);
        let a = normalize_axis(axis, rank + 1)?;
        match x {
            Val::Const(c) => {
                let (l, r) = c.shape.split_at(a.min(c.shape.len()));
                let shape = vec![numel(l), numel(r)];
                Ok(reshaped(c, shape))
            }
            Val::Dyn { buf, dims } => {
                if a == 0 || numel(dims.get(..a - 1).unwrap_or_default()) != 1 {
                    return err(format!(
                        "Flatten on axis {axis} of [N, {dims:?}] would merge the batch with other axes"
                    ));
                }
                let rest = numel(dims.get(a - 1..).unwrap_or_default());
                Ok(Val::Dyn {
                    buf,
                    dims: vec![rest],
                })
            }
        }
    }

    pub(super) fn lower_squeeze(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let axes = self.ints_from(node, 1, "axes")?.unwrap_or_default();
        let x = self.input(node, 0)?;
        let full_dims = match &x {
            Val::Const(c) => c.shape.clone(),
            // The batch dimension is symbolic: never squeezed without explicit axes.
            Val::Dyn { dims, .. } => [&[0], dims.as_slice()].concat(),
        };
        let ax = norm_axes(&axes, full_dims.len())?;
        let mut out = Vec::new();
        for (i, d) in full_dims.iter().enumerate() {
            let listed = ax.contains(&i);
            if listed && *d != 1 {
                return err(format!(
                    "Squeeze of axis {i}, which has size {}",
                    if matches!(x, Val::Dyn { .. }) && i == 0 {
                        "N (the batch)".to_owned()
                    } else {
                        d.to_string()
                    }
                ));
            }
            if !(listed || (ax.is_empty() && *d == 1)) {
                out.push(*d);
            }
        }
        Ok(match x {
            Val::Const(c) => reshaped(c, out),
            Val::Dyn { buf, .. } => Val::Dyn {
                buf,
                dims: out.get(1..).unwrap_or_default().to_vec(),
            },
        })
    }

    pub(super) fn lower_unsqueeze(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let Some(axes) = self.ints_from(node, 1, "axes")? else {
            return err("Unsqueeze without axes");
        };
        let x = self.input(node, 0)?;
        let full_dims = match &x {
            Val::Const(c) => c.shape.clone(),
            Val::Dyn { dims, .. } => [&[0], dims.as_slice()].concat(),
        };
        let rank = full_dims.len() + axes.len();
        let ax = norm_axes(&axes, rank)?;
        if ax.len() != axes.len() {
            return err(format!("Unsqueeze with repeated axes {axes:?}"));
        }
        let mut rest = full_dims.iter();
        let out: Vec<usize> = (0..rank)
            .map(|i| {
                if ax.contains(&i) {
                    1
                } else {
                    rest.next().copied().unwrap_or(1)
                }
            })
            .collect();
        match x {
            Val::Const(c) => Ok(reshaped(c, out)),
            Val::Dyn { .. } if ax.first() == Some(&0) => {
                err("Unsqueeze on axis 0 would move the batch dimension")
            }
            Val::Dyn { buf, .. } => Ok(Val::Dyn {
                buf,
                dims: out.get(1..).unwrap_or_default().to_vec(),
            }),
        }
    }

    pub(super) fn lower_gather(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let idx = match self.input(node, 1)? {
            Val::Const(c) => c,
            Val::Dyn { .. } => return err("Gather with per-event indices is not supported"),
        };
        let x = self.input(node, 0)?;
        let full_dims = match &x {
            Val::Const(c) => c.shape.clone(),
            Val::Dyn { dims, .. } => [&[0], dims.as_slice()].concat(),
        };
        let a = normalize_axis(attr_int(node, "axis", 0), full_dims.len())?;
        if a == 0 && matches!(x, Val::Dyn { .. }) {
            return err("Gather on axis 0 would select events");
        }
        let d = full_dims.get(a).copied().unwrap_or(0);
        let list = idx
            .ints()?
            .iter()
            .map(|i| {
                let j = if *i < 0 { i + d as i64 } else { *i };
                if (0..d as i64).contains(&j) {
                    Ok(j as usize)
                } else {
                    err(format!("Gather index {i} out of range for dimension {d}"))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut out_dims = full_dims.get(..a).unwrap_or_default().to_vec();
        out_dims.extend(&idx.shape);
        out_dims.extend(full_dims.get(a + 1..).unwrap_or_default());
        match x {
            Val::Const(c) => {
                let sel = full_but(&c.shape, a, list);
                let data = take(&c.data, &select_map(&c.shape, &sel));
                Ok(Val::Const(Const {
                    shape: out_dims,
                    data,
                }))
            }
            Val::Dyn { buf, dims } => {
                let sel = full_but(&dims, a - 1, list);
                let map = select_map(&dims, &sel);
                let dims = out_dims.get(1..).unwrap_or_default().to_vec();
                Ok(self.gather(buf, &map, dims))
            }
        }
    }

    /// A Gather step reading `map` from `buf`; the result has per-event dims `dims`.
    fn gather(&mut self, buf: Buf, map: &[usize], dims: Vec<usize>) -> Val {
        Val::Dyn {
            buf: self.gather_buf(buf, map),
            dims,
        }
    }

    fn gather_buf(&mut self, buf: Buf, map: &[usize]) -> Buf {
        // Selecting every value in order (the exporter's column selection when no column is
        // transformed) is the buffer itself: no copy. Steps never write their inputs, so
        // sharing the buffer is safe.
        if map.len() == buf.len && map.iter().enumerate().all(|(i, j)| i == *j) {
            return buf;
        }
        let dst = self.new_buf(map.len());
        self.push(Step::Gather {
            src: buf,
            idx: map.iter().map(|i| *i as u32).collect(),
            dst,
        });
        dst
    }

    pub(super) fn lower_slice(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let need = |v: Option<Vec<i64>>, what: &str| {
            v.map_or_else(|| err(format!("Slice without {what}")), Ok)
        };
        let starts = need(self.ints_from(node, 1, "starts")?, "starts")?;
        let ends = need(self.ints_from(node, 2, "ends")?, "ends")?;
        let x = self.input(node, 0)?;
        let is_dyn = matches!(x, Val::Dyn { .. });
        let full_dims = match &x {
            Val::Const(c) => c.shape.clone(),
            Val::Dyn { dims, .. } => [&[0], dims.as_slice()].concat(),
        };
        let rank = full_dims.len();
        let axes = self
            .ints_from(node, 3, "axes")?
            .unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = self
            .ints_from(node, 4, "steps")?
            .unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return err("Slice starts, ends, axes and steps of different lengths");
        }
        let mut sel = full(&full_dims);
        for (((s, e), a), st) in starts.iter().zip(&ends).zip(&axes).zip(&steps) {
            let a = normalize_axis(*a, rank)?;
            if a == 0 && is_dyn {
                // Only "every event" is a valid slice of the batch axis.
                if *s == 0 && *e >= i64::from(i32::MAX) && *st == 1 {
                    continue;
                }
                return err(format!(
                    "Slice of the batch axis ({s}..{e} step {st}) would select events"
                ));
            }
            let d = full_dims.get(a).copied().unwrap_or(0);
            if let Some(x) = sel.get_mut(a) {
                *x = slice_indices(d, *s, *e, *st)?;
            }
        }
        match x {
            Val::Const(c) => {
                let shape = sel.iter().map(Vec::len).collect();
                let data = take(&c.data, &select_map(&c.shape, &sel));
                Ok(Val::Const(Const { shape, data }))
            }
            Val::Dyn { buf, dims } => {
                let per_event = sel.get(1..).unwrap_or_default();
                let out: Vec<usize> = per_event.iter().map(Vec::len).collect();
                if out == dims {
                    return Ok(Val::Dyn { buf, dims });
                }
                let map = select_map(&dims, per_event);
                Ok(self.gather(buf, &map, out))
            }
        }
    }

    pub(super) fn lower_concat(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let vals = (0..node.input.len())
            .map(|i| self.input(node, i))
            .collect::<Result<Vec<_>, _>>()?;
        let axis = attr(node, "axis").map_or_else(|| err("Concat without axis"), |a| Ok(a.i))?;
        let Some(rank) = vals.iter().find_map(|v| match v {
            Val::Dyn { dims, .. } => Some(dims.len() + 1),
            Val::Const(_) => None,
        }) else {
            let consts: Vec<Const> = vals
                .into_iter()
                .filter_map(|v| match v {
                    Val::Const(c) => Some(c),
                    Val::Dyn { .. } => None,
                })
                .collect();
            return concat_consts(&consts, axis).map(Val::Const);
        };
        let axis = normalize_axis(axis, rank)?;
        if axis == 0 {
            return err("Concat on the batch axis");
        }
        let per_event: Vec<(Vec<usize>, PartSrc)> = vals
            .into_iter()
            .map(|v| match v {
                Val::Dyn { buf, dims } => Ok((dims, PartSrc::Buf(buf))),
                Val::Const(c) if c.shape.len() == rank && c.shape.first() == Some(&1) => Ok((
                    c.shape.get(1..).unwrap_or_default().to_vec(),
                    PartSrc::Const(c.into_floats()),
                )),
                Val::Const(c) => err(format!("Concat of a constant of shape {:?}", c.shape)),
            })
            .collect::<Result<_, _>>()?;
        let a = axis - 1;
        let mut out_dims = per_event.first().map(|p| p.0.clone()).unwrap_or_default();
        let mut total = 0;
        for (d, _) in &per_event {
            let same = d.len() == out_dims.len()
                && d.iter()
                    .zip(&out_dims)
                    .enumerate()
                    .all(|(i, (x, y))| i == a || x == y);
            if !same {
                return err(format!(
                    "Concat inputs of per-event shapes {d:?} and {out_dims:?}"
                ));
            }
            total += d.get(a).copied().unwrap_or(0);
        }
        if let Some(x) = out_dims.get_mut(a) {
            *x = total;
        }
        // A Concat of one per-event tensor is that tensor (the exporter's single input group).
        if let [(_, PartSrc::Buf(buf))] = per_event.as_slice() {
            return Ok(Val::Dyn {
                buf: *buf,
                dims: out_dims,
            });
        }
        let outer = numel(out_dims.get(..a).unwrap_or_default());
        let mut parts = Vec::new();
        let mut dst_off = 0;
        for (d, src) in per_event {
            let inner = numel(d.get(a..).unwrap_or_default());
            parts.push(ConcatPart {
                src,
                inner,
                dst_off,
            });
            dst_off += inner;
        }
        let dst = self.new_buf(numel(&out_dims));
        self.push(Step::Concat { dst, outer, parts });
        Ok(Val::Dyn {
            buf: dst,
            dims: out_dims,
        })
    }

    /// ReduceSum, ReduceMean, ReduceSumSquare, ReduceMin, ReduceMax over non-batch axes.
    pub(super) fn lower_reduce(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let op = node.op_type.as_str();
        let axes = self.ints_from(node, 1, "axes")?.unwrap_or_default();
        let keep = attr_int(node, "keepdims", 1) != 0;
        let x = self.input(node, 0)?;
        if axes.is_empty() && attr_int(node, "noop_with_empty_axes", 0) != 0 {
            return Ok(x);
        }
        let Val::Dyn { buf, dims } = x else {
            return err(format!("{op} of a constant is not supported"));
        };
        if axes.is_empty() {
            return err(format!(
                "{op} without axes would reduce the batch dimension too"
            ));
        }
        let ax = norm_axes(&axes, dims.len() + 1)?;
        if ax.first() == Some(&0) {
            return err(format!(
                "{op} over axes {axes:?} would reduce the batch dimension"
            ));
        }
        // Per-event axes: the kept ones first, then the reduced ones.
        let reduced: Vec<usize> = ax.iter().map(|a| a - 1).collect();
        let kept: Vec<usize> = (0..dims.len()).filter(|a| !reduced.contains(a)).collect();
        let order: Vec<usize> = kept.iter().chain(&reduced).copied().collect();
        let dim = |a: &usize| dims.get(*a).copied().unwrap_or(1);
        let inner: usize = reduced.iter().map(dim).product();
        let outer: usize = kept.iter().map(dim).product();
        let src = if order.iter().copied().eq(0..dims.len()) {
            buf
        } else {
            self.gather_buf(buf, &permute_map(&dims, &order))
        };
        let out_dims: Vec<usize> = if keep {
            (0..dims.len())
                .map(|a| if reduced.contains(&a) { 1 } else { dim(&a) })
                .collect()
        } else {
            kept.iter().map(dim).collect()
        };
        let rop = match op {
            "ReduceSum" | "ReduceMean" => ReduceOp::Sum,
            "ReduceSumSquare" => ReduceOp::SumSquares,
            "ReduceMin" => ReduceOp::Min,
            _ => ReduceOp::Max,
        };
        let dst = self.new_buf(outer);
        self.push(Step::Reduce {
            op: rop,
            src,
            inner,
            dst,
        });
        let v = Val::Dyn {
            buf: dst,
            dims: out_dims,
        };
        if op == "ReduceMean" {
            // A sum, then a division by the count (a per-feature Div that fusion can fold).
            return self.lower_binary(BinOp::Div, v, super::scalar(inner as f32));
        }
        Ok(v)
    }
}

/// Concatenation of constants along `axis`.
fn concat_consts(consts: &[Const], axis: i64) -> Result<Const, CompileError> {
    let Some(first) = consts.first() else {
        return err("Concat without inputs");
    };
    let a = normalize_axis(axis, first.shape.len())?;
    let ints = consts.iter().all(|c| matches!(c.data, ConstData::I(_)));
    let mut shape = first.shape.clone();
    let mut total = 0;
    for c in consts {
        let same = c.shape.len() == shape.len()
            && c.shape
                .iter()
                .zip(&shape)
                .enumerate()
                .all(|(i, (x, y))| i == a || x == y);
        if !same {
            return err(format!(
                "Concat of constants of shapes {:?} and {:?}",
                c.shape, first.shape
            ));
        }
        total += c.shape.get(a).copied().unwrap_or(0);
    }
    if let Some(d) = shape.get_mut(a) {
        *d = total;
    }
    let outer = numel(shape.get(..a).unwrap_or_default());
    // Each input's floats once: converting them per outer index made nested Concats of
    // constants quadratic (a 4 KB model took 90 s to be refused).
    let floats: Vec<Cow<'_, [f32]>> = consts
        .iter()
        .map(|c| match &c.data {
            ConstData::I(_) if ints => Cow::Borrowed(&[][..]),
            _ => c.floats(),
        })
        .collect();
    let mut fl = Vec::new();
    let mut il = Vec::new();
    for o in 0..outer {
        for (c, f) in consts.iter().zip(&floats) {
            let inner = numel(c.shape.get(a..).unwrap_or_default());
            let range = o * inner..(o + 1) * inner;
            match &c.data {
                ConstData::I(v) if ints => il.extend(v.get(range).unwrap_or_default()),
                _ => fl.extend(f.get(range).unwrap_or_default()),
            }
        }
    }
    let data = if ints {
        ConstData::I(il.into())
    } else {
        ConstData::F(fl.into())
    };
    Ok(Const { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_maps() {
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(select_map(&[2, 3], &[vec![1], vec![0, 2]]), vec![3, 5]);
        assert_eq!(permute_map(&[2, 3], &[1, 0]), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(slice_indices(5, 1, 4, 1).unwrap(), vec![1, 2, 3]);
        assert_eq!(slice_indices(5, -1, i64::MIN, -2).unwrap(), vec![4, 2, 0]);
        assert_eq!(slice_indices(5, 0, i64::MAX, 2).unwrap(), vec![0, 2, 4]);
        assert_eq!(slice_indices(5, 7, 9, 1).unwrap(), Vec::<usize>::new());
        assert!(slice_indices(5, 0, 1, 0).is_err());
    }
}
