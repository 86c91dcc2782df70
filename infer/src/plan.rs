//! The compiled, immutable execution plan for one event.
//!
//! [`compile`] walks the ONNX graph once, folds everything that does not depend on `events`,
//! resolves every shape for batch 1 (a tensor of shape `[N, d1, ...]` is a row of
//! `d1 · ...` floats), lowers the remaining nodes to [`Step`]s, fuses
//! `(x ∘ c) · W` (per-column `Add`/`Sub`/`Mul`/`Div` by constants) into the weights,
//! `x · W + b → Relu` into one gemv, `Mul(x, x) → ReduceSum` into one reduction, and gives
//! every intermediate buffer an offset in one `f32` arena (reusing space between buffers
//! whose lifetimes do not overlap).

use std::collections::{HashMap, HashSet};

use half::slice::HalfFloatSliceExt;

use crate::error::UnsupportedOp;
use crate::kernels::{self, BinOp, Kernel, ReduceOp, UnaryOp};
use crate::onnx::pb;
use pb::tensor_proto::DataType;

/// Operators the runtime executes (default ONNX domain).
pub(crate) const SUPPORTED_OPS: &[&str] = &[
    "Gather",
    "Concat",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Min",
    "Max",
    "Neg",
    "Abs",
    "Log",
    "Exp",
    "Sqrt",
    "Sin",
    "Cos",
    "Tanh",
    "Sigmoid",
    "Relu",
    "MatMul",
    "Gemm",
    "ReduceSum",
    "ReduceMin",
    "ReduceMax",
    "Reshape",
    "Greater",
    "Less",
    "Cast",
    "Identity",
    "Constant",
];

/// Arena alignment of every buffer, in floats (one cache line).
const ALIGN: usize = 16;

/// A view of `len` floats at `off` in the arena. Before allocation `off` is a buffer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Buf {
    pub(crate) off: usize,
    pub(crate) len: usize,
}

impl Buf {
    fn end(self) -> usize {
        self.off + self.len
    }
}

#[derive(Debug)]
pub(crate) enum PartSrc {
    Buf(Buf),
    Const(Vec<f32>),
}

#[derive(Debug)]
pub(crate) struct ConcatPart {
    src: PartSrc,
    /// Floats copied per outer index.
    inner: usize,
    /// Offset of this part inside each outer row of the output.
    dst_off: usize,
}

/// One instruction of the plan.
#[derive(Debug)]
pub(crate) enum Step {
    Unary {
        op: UnaryOp,
        src: Buf,
        dst: Buf,
    },
    /// `dst = src ∘ c` (or `c ∘ src` when `const_left`), `c` expanded to `dst.len`.
    BinConst {
        op: BinOp,
        src: Buf,
        c: Vec<f32>,
        const_left: bool,
        dst: Buf,
    },
    BinDyn {
        op: BinOp,
        a: Buf,
        b: Buf,
        dst: Buf,
    },
    Gather {
        src: Buf,
        idx: Vec<u32>,
        dst: Buf,
    },
    Concat {
        dst: Buf,
        outer: usize,
        parts: Vec<ConcatPart>,
    },
    /// `dst = src · w + b` (then ReLU); `w` is `[src.len, dst.len]`, `dst.len` padded.
    Gemv {
        src: Buf,
        w: Vec<f32>,
        b: Vec<f32>,
        relu: bool,
        dst: Buf,
    },
    Reduce {
        op: ReduceOp,
        src: Buf,
        inner: usize,
        dst: Buf,
    },
    Nop,
}

impl Step {
    fn inputs(&self) -> Vec<Buf> {
        match self {
            Step::Unary { src, .. }
            | Step::BinConst { src, .. }
            | Step::Gather { src, .. }
            | Step::Gemv { src, .. }
            | Step::Reduce { src, .. } => vec![*src],
            Step::BinDyn { a, b, .. } => vec![*a, *b],
            Step::Concat { parts, .. } => parts
                .iter()
                .filter_map(|p| match p.src {
                    PartSrc::Buf(b) => Some(b),
                    PartSrc::Const(_) => None,
                })
                .collect(),
            Step::Nop => vec![],
        }
    }

    fn output(&self) -> Option<Buf> {
        match self {
            Step::Unary { dst, .. }
            | Step::BinConst { dst, .. }
            | Step::BinDyn { dst, .. }
            | Step::Gather { dst, .. }
            | Step::Concat { dst, .. }
            | Step::Gemv { dst, .. }
            | Step::Reduce { dst, .. } => Some(*dst),
            Step::Nop => None,
        }
    }

    fn for_each_buf(&mut self, f: &mut impl FnMut(&mut Buf)) {
        match self {
            Step::Unary { src, dst, .. }
            | Step::BinConst { src, dst, .. }
            | Step::Gather { src, dst, .. }
            | Step::Gemv { src, dst, .. }
            | Step::Reduce { src, dst, .. } => {
                f(src);
                f(dst);
            }
            Step::BinDyn { a, b, dst, .. } => {
                f(a);
                f(b);
                f(dst);
            }
            Step::Concat { dst, parts, .. } => {
                f(dst);
                for p in parts {
                    if let PartSrc::Buf(b) = &mut p.src {
                        f(b);
                    }
                }
            }
            Step::Nop => {}
        }
    }

    /// Runs the step on the arena. Views are checked; a view out of range (which `compile`
    /// never produces) makes the step do nothing rather than panic.
    #[inline]
    pub(crate) fn run(&self, arena: &mut [f32], kernel: Kernel) {
        match self {
            Step::Gemv {
                src,
                w,
                b,
                relu,
                dst,
            } => {
                if let Some((x, [], y)) = io(arena, *dst, [*src]) {
                    kernel.gemv(x, w, b, y, *relu);
                }
            }
            Step::BinConst {
                op,
                src,
                c,
                const_left,
                dst,
            } => {
                if let Some((x, [], y)) = io(arena, *dst, [*src]) {
                    if *const_left {
                        kernels::binary(*op, c, x, y);
                    } else {
                        kernels::binary(*op, x, c, y);
                    }
                }
            }
            Step::BinDyn { op, a, b, dst } => {
                if let Some((x, [z], y)) = io(arena, *dst, [*a, *b]) {
                    kernels::binary(*op, x, z, y);
                }
            }
            Step::Unary { op, src, dst } => {
                if let Some((x, [], y)) = io(arena, *dst, [*src]) {
                    kernel.unary(*op, x, y);
                }
            }
            Step::Reduce {
                op,
                src,
                inner,
                dst,
            } => {
                if let Some((x, [], y)) = io(arena, *dst, [*src]) {
                    kernels::reduce(*op, x, *inner, y);
                }
            }
            Step::Gather { src, idx, dst } => {
                if let Some((x, [], y)) = io(arena, *dst, [*src]) {
                    kernels::gather(x, idx, y);
                }
            }
            Step::Concat { dst, outer, parts } => {
                let Some((lo, y, hi)) = split(arena, *dst) else {
                    return;
                };
                let out_inner = if *outer == 0 { 0 } else { dst.len / outer };
                for p in parts {
                    let x = match &p.src {
                        PartSrc::Buf(b) => view(lo, hi, dst.end(), *b),
                        PartSrc::Const(c) => Some(c.as_slice()),
                    };
                    let Some(x) = x else { continue };
                    if p.inner == 0 || out_inner == 0 {
                        continue;
                    }
                    for (row_in, row_out) in
                        x.chunks_exact(p.inner).zip(y.chunks_exact_mut(out_inner))
                    {
                        if let Some(d) = row_out.get_mut(p.dst_off..p.dst_off + p.inner) {
                            d.copy_from_slice(row_in);
                        }
                    }
                }
            }
            Step::Nop => {}
        }
    }
}

/// Splits the arena around `dst`: the floats before it, `dst` itself, the floats after it.
#[inline]
fn split(arena: &mut [f32], dst: Buf) -> Option<(&[f32], &mut [f32], &[f32])> {
    let (lo, rest) = arena.split_at_mut_checked(dst.off)?;
    let (mid, hi) = rest.split_at_mut_checked(dst.len)?;
    Some((lo, mid, hi))
}

/// The view `b` of the arena, which must lie entirely before or after the output.
#[inline]
fn view<'a>(lo: &'a [f32], hi: &'a [f32], hi_start: usize, b: Buf) -> Option<&'a [f32]> {
    if b.end() <= lo.len() {
        lo.get(b.off..b.end())
    } else {
        hi.get(b.off.checked_sub(hi_start)?..)?.get(..b.len)
    }
}

/// The first input view, the remaining `N - 1` input views and the output view.
#[inline]
#[allow(clippy::type_complexity)]
fn io<const N: usize, const M: usize>(
    arena: &mut [f32],
    dst: Buf,
    srcs: [Buf; N],
) -> Option<(&[f32], [&[f32]; M], &mut [f32])> {
    let (lo, mid, hi) = split(arena, dst)?;
    let first = view(lo, hi, dst.end(), *srcs.first()?)?;
    let mut rest: [&[f32]; M] = [&[]; M];
    for (r, b) in rest.iter_mut().zip(srcs.iter().skip(1)) {
        *r = view(lo, hi, dst.end(), *b)?;
    }
    Some((first, rest, mid))
}

/// The compiled model.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) num_features: usize,
    pub(crate) input: Buf,
    pub(crate) steps: Vec<Step>,
    pub(crate) score: usize,
    pub(crate) mu: Option<Buf>,
    pub(crate) arena_len: usize,
    pub(crate) kernel: Kernel,
}

impl Plan {
    /// Runs every step; the input row must already be in `arena[input]`.
    #[inline]
    pub(crate) fn run(&self, arena: &mut [f32]) {
        for step in &self.steps {
            step.run(arena, self.kernel);
        }
    }
}

/// A graph-contract violation found while compiling.
#[derive(Debug)]
pub(crate) struct CompileError {
    pub(crate) node: Option<String>,
    pub(crate) message: String,
}

fn err<T>(message: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError {
        node: None,
        message: message.into(),
    })
}

/// Every node whose operator is outside [`SUPPORTED_OPS`].
pub(crate) fn unsupported_ops(graph: &pb::GraphProto) -> Vec<UnsupportedOp> {
    graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            !(n.domain.is_empty() || n.domain == "ai.onnx")
                || !SUPPORTED_OPS.contains(&n.op_type.as_str())
        })
        .map(|(i, n)| UnsupportedOp {
            op_type: if n.domain.is_empty() {
                n.op_type.clone()
            } else {
                format!("{}:{}", n.domain, n.op_type)
            },
            node: node_label(n, i),
        })
        .collect()
}

fn node_label(n: &pb::NodeProto, i: usize) -> String {
    if n.name.is_empty() {
        format!("#{i} ({})", n.op_type)
    } else {
        n.name.clone()
    }
}

#[derive(Debug, Clone)]
enum CData {
    F(Vec<f32>),
    I(Vec<i64>),
}

#[derive(Debug, Clone)]
struct Const {
    shape: Vec<usize>,
    data: CData,
}

impl Const {
    fn floats(&self) -> Vec<f32> {
        match &self.data {
            CData::F(v) => v.clone(),
            CData::I(v) => v.iter().map(|x| *x as f32).collect(),
        }
    }
    fn ints(&self) -> Result<Vec<i64>, CompileError> {
        match &self.data {
            CData::I(v) => Ok(v.clone()),
            CData::F(_) => err("expected an int64 constant"),
        }
    }
}

#[derive(Debug, Clone)]
enum Val {
    Const(Const),
    /// A per-event tensor of full shape `[N, dims...]`, stored in buffer `buf`.
    Dyn {
        buf: Buf,
        dims: Vec<usize>,
    },
}

fn numel(dims: &[usize]) -> usize {
    dims.iter().product()
}

fn le_chunks<const W: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; W]> + '_ {
    raw.chunks_exact(W).map(|c| {
        let mut a = [0u8; W];
        a.copy_from_slice(c);
        a
    })
}

fn load_tensor(t: &pb::TensorProto) -> Result<Const, CompileError> {
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
        Ok(DataType::Float) => CData::F(if raw.is_empty() {
            t.float_data.clone()
        } else {
            le_chunks::<4>(raw).map(f32::from_le_bytes).collect()
        }),
        Ok(DataType::Double) => CData::F(if raw.is_empty() {
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
            CData::F(out)
        }
        Ok(DataType::Int64) => CData::I(if raw.is_empty() {
            t.int64_data.clone()
        } else {
            le_chunks::<8>(raw).map(i64::from_le_bytes).collect()
        }),
        Ok(DataType::Int32) => CData::I(if raw.is_empty() {
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
        CData::F(v) => v.len(),
        CData::I(v) => v.len(),
    };
    if len != n {
        return err(format!(
            "tensor {:?} has {len} values for shape {shape:?}",
            t.name
        ));
    }
    Ok(Const { shape, data })
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_int(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn attr_float(node: &pb::NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).map_or(default, |a| a.f)
}

/// Largest per-event tensor a broadcast may create (64 MiB of f32): a small crafted file could
/// otherwise declare a broadcast of 2⁴⁰ elements and abort the host on allocation failure.
const MAX_BROADCAST_ELEMENTS: usize = 1 << 24;

/// Numpy broadcast of two shapes (right-aligned); `None` when incompatible or larger than
/// [`MAX_BROADCAST_ELEMENTS`].
fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
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
fn broadcast_map(from: &[usize], to: &[usize]) -> Vec<u32> {
    let r = to.len();
    let from: Vec<usize> = std::iter::repeat_n(1, r.saturating_sub(from.len()))
        .chain(from.iter().copied())
        .collect();
    let mut strides = vec![0usize; r];
    let mut s = 1;
    for (st, d) in strides.iter_mut().zip(&from).rev() {
        *st = if *d == 1 { 0 } else { s };
        s *= d;
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

fn normalize_axis(axis: i64, rank: usize) -> Result<usize, CompileError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        err(format!("axis {axis} out of range for rank {rank}"))
    }
}

fn unary_op(op: &str) -> Option<UnaryOp> {
    Some(match op {
        "Neg" => UnaryOp::Neg,
        "Abs" => UnaryOp::Abs,
        "Log" => UnaryOp::Log,
        "Exp" => UnaryOp::Exp,
        "Sqrt" => UnaryOp::Sqrt,
        "Sin" => UnaryOp::Sin,
        "Cos" => UnaryOp::Cos,
        "Tanh" => UnaryOp::Tanh,
        "Sigmoid" => UnaryOp::Sigmoid,
        "Relu" => UnaryOp::Relu,
        _ => return None,
    })
}

/// One input of a Concat per event: its dims, and its buffer or constant values.
type ConcatInput = (Vec<usize>, Option<Buf>, Option<Vec<f32>>);

fn bin_op(op: &str) -> Option<BinOp> {
    Some(match op {
        "Add" => BinOp::Add,
        "Sub" => BinOp::Sub,
        "Mul" => BinOp::Mul,
        "Div" => BinOp::Div,
        "Min" => BinOp::Min,
        "Max" => BinOp::Max,
        "Greater" => BinOp::Greater,
        "Less" => BinOp::Less,
        _ => return None,
    })
}

struct Builder {
    steps: Vec<Step>,
    /// Capacity (floats) of each buffer id.
    caps: Vec<usize>,
    vals: HashMap<String, Val>,
}

impl Builder {
    fn new_buf(&mut self, len: usize) -> Buf {
        let off = self.caps.len();
        self.caps.push(len);
        Buf { off, len }
    }

    fn get(&self, name: &str) -> Result<&Val, CompileError> {
        self.vals
            .get(name)
            .map_or_else(|| err(format!("undefined input {name:?}")), Ok)
    }

    fn input(&self, node: &pb::NodeProto, i: usize) -> Result<Val, CompileError> {
        match node.input.get(i) {
            Some(name) if !name.is_empty() => self.get(name).cloned(),
            _ => err(format!("{} needs input #{i}", node.op_type)),
        }
    }

    fn const_input(&self, node: &pb::NodeProto, i: usize) -> Result<Const, CompileError> {
        match self.input(node, i)? {
            Val::Const(c) => Ok(c),
            Val::Dyn { .. } => err(format!("input #{i} of {} must be a constant", node.op_type)),
        }
    }

    fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    fn lower(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let op = node.op_type.as_str();
        if op == "Constant" {
            return if let Some(t) = attr(node, "value").and_then(|a| a.t.as_ref()) {
                Ok(Val::Const(load_tensor(t)?))
            } else if let Some(a) = attr(node, "value_float") {
                Ok(Val::Const(Const {
                    shape: vec![],
                    data: CData::F(vec![a.f]),
                }))
            } else if let Some(a) = attr(node, "value_floats") {
                Ok(Val::Const(Const {
                    shape: vec![a.floats.len()],
                    data: CData::F(a.floats.clone()),
                }))
            } else if let Some(a) = attr(node, "value_int") {
                Ok(Val::Const(Const {
                    shape: vec![],
                    data: CData::I(vec![a.i]),
                }))
            } else if let Some(a) = attr(node, "value_ints") {
                Ok(Val::Const(Const {
                    shape: vec![a.ints.len()],
                    data: CData::I(a.ints.clone()),
                }))
            } else {
                err("Constant without a supported value attribute")
            };
        }
        if op == "Identity" {
            return self.input(node, 0);
        }
        if op == "Cast" {
            let to = attr_int(node, "to", 0);
            return match (self.input(node, 0)?, to) {
                (Val::Const(c), 1) => Ok(Val::Const(Const {
                    data: CData::F(c.floats()),
                    shape: c.shape,
                })),
                (Val::Const(c), 7) => Ok(Val::Const(Const {
                    data: CData::I(match c.data {
                        CData::I(v) => v,
                        CData::F(v) => v.iter().map(|x| *x as i64).collect(),
                    }),
                    shape: c.shape,
                })),
                (v @ Val::Dyn { .. }, 1) => Ok(v),
                (_, to) => err(format!(
                    "Cast to data type {to} is not supported (only to float)"
                )),
            };
        }
        if op == "Reshape" {
            let shape = self.const_input(node, 1)?.ints()?;
            return match self.input(node, 0)? {
                Val::Const(c) => {
                    let dims = resolve_reshape(&c.shape, &shape)?;
                    Ok(Val::Const(Const {
                        shape: dims,
                        data: c.data,
                    }))
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
            };
        }
        if let Some(u) = unary_op(op) {
            return match self.input(node, 0)? {
                Val::Const(c) => Ok(Val::Const(Const {
                    data: CData::F(c.floats().iter().map(|v| u.apply(*v)).collect()),
                    shape: c.shape,
                })),
                Val::Dyn { buf, dims } => {
                    let dst = self.new_buf(buf.len);
                    self.push(Step::Unary {
                        op: u,
                        src: buf,
                        dst,
                    });
                    Ok(Val::Dyn { buf: dst, dims })
                }
            };
        }
        if let Some(b) = bin_op(op) {
            if node.input.len() == 1 && matches!(op, "Min" | "Max") {
                return self.input(node, 0);
            }
            if node.input.len() != 2 {
                return err(format!(
                    "{op} with {} inputs is not supported",
                    node.input.len()
                ));
            }
            return self.lower_binary(b, self.input(node, 0)?, self.input(node, 1)?);
        }
        match op {
            "Gather" => self.lower_gather(node),
            "Concat" => self.lower_concat(node),
            "MatMul" => {
                let (buf, k) = self.row_input(node)?;
                let w = self.const_input(node, 1)?;
                if w.shape != [k, w.shape.get(1).copied().unwrap_or(0)] {
                    return err(format!(
                        "MatMul weights of shape {:?} for input width {k}",
                        w.shape
                    ));
                }
                let m = w.shape.get(1).copied().unwrap_or(0);
                self.gemv(buf, k, m, &w.floats(), false, vec![0.0; m])
            }
            "Gemm" => {
                if attr_int(node, "transA", 0) != 0 {
                    return err("Gemm with transA = 1 is not supported");
                }
                let (buf, k) = self.row_input(node)?;
                let w = self.const_input(node, 1)?;
                let trans = attr_int(node, "transB", 0) != 0;
                let (wk, m) = match w.shape.as_slice() {
                    [a, b] if trans => (*b, *a),
                    [a, b] => (*a, *b),
                    s => return err(format!("Gemm B of shape {s:?}")),
                };
                if wk != k {
                    return err(format!("Gemm B of shape {:?} for input width {k}", w.shape));
                }
                let alpha = attr_float(node, "alpha", 1.0);
                let beta = attr_float(node, "beta", 1.0);
                let wf = w.floats();
                let mut wkm = vec![0.0; k * m];
                for i in 0..k {
                    for j in 0..m {
                        let v = if trans {
                            wf.get(j * k + i)
                        } else {
                            wf.get(i * m + j)
                        };
                        if let (Some(d), Some(v)) = (wkm.get_mut(i * m + j), v) {
                            *d = alpha * v;
                        }
                    }
                }
                let bias = match node.input.get(2).filter(|s| !s.is_empty()) {
                    None => vec![0.0; m],
                    Some(_) => {
                        let c = self.const_input(node, 2)?;
                        let padded: Vec<usize> = if c.shape.len() == 2 {
                            if c.shape.first() != Some(&1) {
                                return err(format!("Gemm C of shape {:?} is not a row", c.shape));
                            }
                            c.shape.get(1..).unwrap_or_default().to_vec()
                        } else {
                            c.shape.clone()
                        };
                        if broadcast_shapes(&padded, &[m]).as_deref() != Some(&[m]) {
                            return err(format!("Gemm C of shape {:?} for width {m}", c.shape));
                        }
                        let cf = c.floats();
                        broadcast_map(&padded, &[m])
                            .iter()
                            .map(|i| beta * cf.get(*i as usize).copied().unwrap_or(0.0))
                            .collect()
                    }
                };
                self.gemv(buf, k, m, &wkm, false, bias)
            }
            "ReduceSum" | "ReduceMin" | "ReduceMax" => {
                let Val::Dyn { buf, dims } = self.input(node, 0)? else {
                    return err(format!("{op} of a constant is not supported"));
                };
                let axes = match node.input.get(1).filter(|s| !s.is_empty()) {
                    Some(_) => self.const_input(node, 1)?.ints()?,
                    None => attr(node, "axes")
                        .map(|a| a.ints.clone())
                        .unwrap_or_default(),
                };
                if axes.is_empty() {
                    return err(format!(
                        "{op} without axes would reduce the batch dimension"
                    ));
                }
                let rank = dims.len() + 1;
                let mut ax = axes
                    .iter()
                    .map(|a| normalize_axis(*a, rank))
                    .collect::<Result<Vec<_>, _>>()?;
                ax.sort_unstable();
                ax.dedup();
                let first = ax.first().copied().unwrap_or(0);
                if first == 0 || ax != (first..rank).collect::<Vec<_>>() {
                    return err(format!(
                        "{op} over axes {axes:?}: only trailing non-batch axes"
                    ));
                }
                let keep = dims.get(..first - 1).unwrap_or_default();
                let inner = numel(dims.get(first - 1..).unwrap_or_default());
                let mut out_dims = keep.to_vec();
                if attr_int(node, "keepdims", 1) != 0 {
                    out_dims.extend(std::iter::repeat_n(1, rank - first));
                }
                let rop = match op {
                    "ReduceSum" => ReduceOp::Sum,
                    "ReduceMin" => ReduceOp::Min,
                    _ => ReduceOp::Max,
                };
                let dst = self.new_buf(numel(keep));
                self.push(Step::Reduce {
                    op: rop,
                    src: buf,
                    inner,
                    dst,
                });
                Ok(Val::Dyn {
                    buf: dst,
                    dims: out_dims,
                })
            }
            _ => err(format!("operator {op} is not supported")),
        }
    }

    /// The per-event row input `[N, k]` of a MatMul/Gemm.
    fn row_input(&self, node: &pb::NodeProto) -> Result<(Buf, usize), CompileError> {
        match self.input(node, 0)? {
            Val::Dyn { buf, dims } if dims.len() == 1 => Ok((buf, buf.len)),
            Val::Dyn { dims, .. } => err(format!(
                "{} input of shape [N, {dims:?}]: only [N, k]",
                node.op_type
            )),
            Val::Const(_) => err(format!("{} with a constant first input", node.op_type)),
        }
    }

    /// Adds a gemv with `w` given as `[k, m]` row-major; output dims `[m]`.
    fn gemv(
        &mut self,
        src: Buf,
        k: usize,
        m: usize,
        w: &[f32],
        relu: bool,
        b: Vec<f32>,
    ) -> Result<Val, CompileError> {
        if k == 0 || m == 0 {
            return err(format!("empty weight matrix [{k}, {m}]"));
        }
        let np = kernels::padded(m);
        let mut wp = vec![0.0; k * np];
        for (dst_row, src_row) in wp.chunks_exact_mut(np).zip(w.chunks_exact(m.max(1))) {
            for (d, s) in dst_row.iter_mut().zip(src_row) {
                *d = *s;
            }
        }
        let mut bp = b;
        bp.resize(np, 0.0);
        let dst = self.new_buf(np);
        self.push(Step::Gemv {
            src,
            w: wp,
            b: bp,
            relu,
            dst,
        });
        Ok(Val::Dyn {
            buf: Buf {
                off: dst.off,
                len: m,
            },
            dims: vec![m],
        })
    }

    fn lower_binary(&mut self, op: BinOp, a: Val, b: Val) -> Result<Val, CompileError> {
        match (a, b) {
            (Val::Const(x), Val::Const(y)) => {
                let shape = broadcast_shapes(&x.shape, &y.shape).map_or_else(
                    || err(format!("cannot broadcast {:?} with {:?}", x.shape, y.shape)),
                    Ok,
                )?;
                let (xf, yf) = (x.floats(), y.floats());
                let (mx, my) = (
                    broadcast_map(&x.shape, &shape),
                    broadcast_map(&y.shape, &shape),
                );
                let data = mx
                    .iter()
                    .zip(&my)
                    .map(|(i, j)| {
                        let u = xf.get(*i as usize).copied().unwrap_or(0.0);
                        let v = yf.get(*j as usize).copied().unwrap_or(0.0);
                        op.apply(u, v)
                    })
                    .collect();
                Ok(Val::Const(Const {
                    shape,
                    data: CData::F(data),
                }))
            }
            (Val::Dyn { buf, dims }, Val::Const(c)) => self.bin_const(op, buf, dims, c, false),
            (Val::Const(c), Val::Dyn { buf, dims }) => self.bin_const(op, buf, dims, c, true),
            (Val::Dyn { buf: ba, dims: da }, Val::Dyn { buf: bb, dims: db }) => {
                if da.len() != db.len() {
                    return err(format!("cannot broadcast [N, {da:?}] with [N, {db:?}]"));
                }
                let out = broadcast_shapes(&da, &db).map_or_else(
                    || err(format!("cannot broadcast [N, {da:?}] with [N, {db:?}]")),
                    Ok,
                )?;
                let a = self.expand(ba, &da, &out);
                let b = self.expand(bb, &db, &out);
                let dst = self.new_buf(numel(&out));
                self.push(Step::BinDyn { op, a, b, dst });
                Ok(Val::Dyn {
                    buf: dst,
                    dims: out,
                })
            }
        }
    }

    /// `buf` (per-event dims `dims`) broadcast to `out`, through a gather when needed.
    fn expand(&mut self, buf: Buf, dims: &[usize], out: &[usize]) -> Buf {
        if dims == out {
            return buf;
        }
        let dst = self.new_buf(numel(out));
        self.push(Step::Gather {
            src: buf,
            idx: broadcast_map(dims, out),
            dst,
        });
        dst
    }

    fn bin_const(
        &mut self,
        op: BinOp,
        buf: Buf,
        dims: Vec<usize>,
        c: Const,
        const_left: bool,
    ) -> Result<Val, CompileError> {
        let rank = dims.len() + 1;
        if c.shape.len() > rank {
            return err(format!(
                "constant of shape {:?} against [N, {dims:?}]",
                c.shape
            ));
        }
        let mut cs: Vec<usize> = std::iter::repeat_n(1, rank - c.shape.len())
            .chain(c.shape.iter().copied())
            .collect();
        if cs.first() != Some(&1) {
            return err(format!(
                "constant of shape {:?} spans the batch dimension",
                c.shape
            ));
        }
        cs.remove(0);
        let out = broadcast_shapes(&dims, &cs).map_or_else(
            || err(format!("cannot broadcast [N, {dims:?}] with {:?}", c.shape)),
            Ok,
        )?;
        let src = self.expand(buf, &dims, &out);
        let cf = c.floats();
        let cexp = broadcast_map(&cs, &out)
            .iter()
            .map(|i| cf.get(*i as usize).copied().unwrap_or(0.0))
            .collect();
        let dst = self.new_buf(numel(&out));
        self.push(Step::BinConst {
            op,
            src,
            c: cexp,
            const_left,
            dst,
        });
        Ok(Val::Dyn {
            buf: dst,
            dims: out,
        })
    }

    fn lower_gather(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let Val::Dyn { buf, dims } = self.input(node, 0)? else {
            return err("Gather of a constant is not supported");
        };
        let idx = self.const_input(node, 1)?;
        if idx.shape.len() > 1 {
            return err("Gather indices must be a scalar or 1-D");
        }
        let axis = normalize_axis(attr_int(node, "axis", 0), dims.len() + 1)?;
        if axis != 1 {
            return err(format!("Gather on axis {axis}: only axis 1"));
        }
        let d0 = dims.first().copied().unwrap_or(0);
        let inner = numel(dims.get(1..).unwrap_or_default());
        let mut map = Vec::new();
        for i in idx.ints()? {
            let j = if i < 0 { i + d0 as i64 } else { i };
            if !(0..d0 as i64).contains(&j) {
                return err(format!("Gather index {i} out of range for dimension {d0}"));
            }
            map.extend((0..inner).map(|t| (j as usize * inner + t) as u32));
        }
        let mut out_dims: Vec<usize> = idx.shape.clone();
        out_dims.extend(dims.get(1..).unwrap_or_default());
        let dst = self.new_buf(map.len());
        self.push(Step::Gather {
            src: buf,
            idx: map,
            dst,
        });
        Ok(Val::Dyn {
            buf: dst,
            dims: out_dims,
        })
    }

    fn lower_concat(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let vals = (0..node.input.len())
            .map(|i| self.input(node, i))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(rank) = vals.iter().find_map(|v| match v {
            Val::Dyn { dims, .. } => Some(dims.len() + 1),
            Val::Const(_) => None,
        }) else {
            return err("Concat of constants only is not supported");
        };
        let axis = normalize_axis(
            attr(node, "axis").map_or_else(|| err("Concat without axis"), |a| Ok(a.i))?,
            rank,
        )?;
        if axis == 0 {
            return err("Concat on the batch axis");
        }
        let per_event: Vec<ConcatInput> = vals
            .into_iter()
            .map(|v| match v {
                Val::Dyn { buf, dims } => Ok((dims, Some(buf), None)),
                Val::Const(c) if c.shape.len() == rank && c.shape.first() == Some(&1) => Ok((
                    c.shape.get(1..).unwrap_or_default().to_vec(),
                    None,
                    Some(c.floats()),
                )),
                Val::Const(c) => err(format!("Concat of a constant of shape {:?}", c.shape)),
            })
            .collect::<Result<_, _>>()?;
        let a = axis - 1;
        let mut out_dims = per_event.first().map(|p| p.0.clone()).unwrap_or_default();
        let mut total = 0;
        for (d, _, _) in &per_event {
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
        let outer = numel(out_dims.get(..a).unwrap_or_default());
        let mut parts = Vec::new();
        let mut dst_off = 0;
        for (d, b, c) in per_event {
            let inner = numel(d.get(a..).unwrap_or_default());
            let src = match (b, c) {
                (Some(b), _) => PartSrc::Buf(b),
                (None, Some(c)) => PartSrc::Const(c),
                (None, None) => PartSrc::Const(vec![]),
            };
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
}

/// ONNX Reshape semantics (0 copies the input dimension, one -1 is inferred).
fn resolve_reshape(input: &[usize], shape: &[i64]) -> Result<Vec<usize>, CompileError> {
    let total = numel(input);
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

fn input_width(vi: &pb::ValueInfoProto) -> Result<usize, CompileError> {
    use pb::tensor_shape_proto::dimension::Value;
    let Some(pb::type_proto::Value::TensorType(t)) =
        vi.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return err(format!("input {:?} is not a tensor", vi.name));
    };
    if t.elem_type != DataType::Float as i32 {
        return err(format!("input {:?} must be float32", vi.name));
    }
    let dims = t
        .shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .unwrap_or_default();
    match dims {
        [_, f] => match f.value {
            Some(Value::DimValue(f)) if f > 0 => Ok(f as usize),
            _ => err(format!(
                "input {:?} must have a fixed feature dimension",
                vi.name
            )),
        },
        _ => err(format!("input {:?} must have shape [N, F]", vi.name)),
    }
}

/// Compiles the graph for batch 1.
pub(crate) fn compile(graph: &pb::GraphProto, kernel: Kernel) -> Result<Plan, CompileError> {
    let mut b = Builder {
        steps: Vec::new(),
        caps: Vec::new(),
        vals: HashMap::new(),
    };
    for t in &graph.initializer {
        let c = load_tensor(t)?;
        b.vals.insert(t.name.clone(), Val::Const(c));
    }
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !b.vals.contains_key(&i.name))
        .collect();
    let [input] = inputs.as_slice() else {
        return err(format!(
            "the graph must have exactly one input (`events`), found {}",
            inputs.len()
        ));
    };
    let f = input_width(input)?;
    let input_buf = b.new_buf(f);
    b.vals.insert(
        input.name.clone(),
        Val::Dyn {
            buf: input_buf,
            dims: vec![f],
        },
    );

    // Topological order (ONNX requires it, but do not rely on it).
    let mut done = vec![false; graph.node.len()];
    let mut remaining = graph.node.len();
    while remaining > 0 {
        let mut progressed = false;
        for (i, node) in graph.node.iter().enumerate() {
            if done.get(i).copied().unwrap_or(true)
                || !node
                    .input
                    .iter()
                    .all(|n| n.is_empty() || b.vals.contains_key(n))
            {
                continue;
            }
            let v = b.lower(node).map_err(|mut e| {
                e.node = Some(node_label(node, i));
                e
            })?;
            let [out] = node.output.as_slice() else {
                return Err(CompileError {
                    node: Some(node_label(node, i)),
                    message: format!("{} with {} outputs", node.op_type, node.output.len()),
                });
            };
            b.vals.insert(out.clone(), v);
            if let Some(d) = done.get_mut(i) {
                *d = true;
            }
            remaining -= 1;
            progressed = true;
        }
        if !progressed {
            let stuck = graph
                .node
                .iter()
                .zip(&done)
                .find(|(_, d)| !**d)
                .and_then(|(n, _)| {
                    n.input
                        .iter()
                        .find(|x| !x.is_empty() && !b.vals.contains_key(*x))
                });
            return err(format!("graph has a cycle or an undefined value {stuck:?}"));
        }
    }

    let output = |name: &str| -> Result<Option<(Buf, Vec<usize>)>, CompileError> {
        match graph.output.iter().find(|o| o.name == name) {
            None => Ok(None),
            Some(_) => match b.vals.get(name) {
                Some(Val::Dyn { buf, dims }) if buf.off != input_buf.off => {
                    Ok(Some((*buf, dims.clone())))
                }
                Some(_) => err(format!(
                    "output {name:?} does not depend on a computation of `events`"
                )),
                None => err(format!("output {name:?} is not computed by any node")),
            },
        }
    };
    let Some((score, sdims)) = output("score")? else {
        return err("the graph has no `score` output");
    };
    if score.len != 1 {
        return err(format!(
            "output `score` has per-event shape {sdims:?}, expected []"
        ));
    }
    let mu = output("mu")?.map(|(buf, _)| buf);

    let mut steps = std::mem::take(&mut b.steps);
    let mut caps = std::mem::take(&mut b.caps);
    let mut outputs = vec![score.off];
    outputs.extend(mu.map(|m| m.off));
    fuse(&mut steps, &mut caps, &outputs);
    eliminate_dead(&mut steps, &outputs);
    let (offsets, arena_len) = allocate(&steps, &caps, input_buf.off, &outputs);
    let remap = |bf: &mut Buf| {
        if let Some(o) = offsets.get(bf.off) {
            bf.off = *o;
        }
    };
    for s in &mut steps {
        s.for_each_buf(&mut |bf| remap(bf));
    }
    let mut input = input_buf;
    remap(&mut input);
    let mut score = score;
    remap(&mut score);
    let mu = mu.map(|mut m| {
        remap(&mut m);
        m
    });
    let plan = Plan {
        num_features: f,
        input,
        steps,
        score: score.off,
        mu,
        arena_len,
        kernel,
    };
    validate(&plan)?;
    Ok(plan)
}

fn readers(steps: &[Step], outputs: &[usize]) -> HashMap<usize, usize> {
    let mut r: HashMap<usize, usize> = HashMap::new();
    for s in steps {
        for i in s.inputs() {
            *r.entry(i.off).or_default() += 1;
        }
    }
    for o in outputs {
        *r.entry(*o).or_default() += 1;
    }
    r
}

fn producer(steps: &[Step], id: usize) -> Option<usize> {
    steps
        .iter()
        .position(|s| s.output().is_some_and(|o| o.off == id))
}

fn sole_reader(steps: &[Step], id: usize) -> Option<usize> {
    steps
        .iter()
        .position(|s| s.inputs().iter().any(|i| i.off == id))
}

// Each loop looks at the current step, then rewrites `steps` mutably: a `while let` would
// keep the pattern's borrow of `steps` alive across the body.
#[allow(clippy::while_let_loop)]
fn fuse(steps: &mut [Step], caps: &mut [usize], outputs: &[usize]) {
    let gemvs: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Step::Gemv { .. }))
        .map(|(i, _)| i)
        .collect();
    for &g in &gemvs {
        // (x ∘ c) · W + b with per-column constants: fold into W and b.
        loop {
            let Some(Step::Gemv { src, .. }) = steps.get(g) else {
                break;
            };
            let src = *src;
            let single = readers(steps, outputs).get(&src.off) == Some(&1);
            let Some(p) = producer(steps, src.off).filter(|_| single) else {
                break;
            };
            let Some(Step::BinConst {
                op,
                src: x,
                c,
                const_left,
                dst,
            }) = steps.get(p)
            else {
                break;
            };
            let (op, x, const_left) = (*op, *x, *const_left);
            if dst.len != src.len || x.len != src.len || c.len() != src.len {
                break;
            }
            let c = c.clone();
            let Some(Step::Gemv { src, w, b, .. }) = steps.get_mut(g) else {
                break;
            };
            let np = b.len();
            let scale_rows = |w: &mut Vec<f32>, f: &dyn Fn(usize) -> f64| {
                for (i, row) in w.chunks_exact_mut(np).enumerate() {
                    let s = f(i);
                    row.iter_mut().for_each(|v| *v = (f64::from(*v) * s) as f32);
                }
            };
            let add_to_bias = |w: &[f32], b: &mut Vec<f32>, sign: f64| {
                let mut acc = vec![0.0f64; np];
                for (row, ci) in w.chunks_exact(np).zip(&c) {
                    for (a, v) in acc.iter_mut().zip(row) {
                        *a += f64::from(*ci) * f64::from(*v);
                    }
                }
                for (bv, a) in b.iter_mut().zip(acc) {
                    *bv = (f64::from(*bv) + sign * a) as f32;
                }
            };
            match (op, const_left) {
                (BinOp::Add, _) => add_to_bias(w, b, 1.0),
                (BinOp::Sub, false) => add_to_bias(w, b, -1.0),
                (BinOp::Sub, true) => {
                    add_to_bias(w, b, 1.0);
                    scale_rows(w, &|_| -1.0);
                }
                (BinOp::Mul, _) => {
                    scale_rows(w, &|i| f64::from(c.get(i).copied().unwrap_or(0.0)));
                }
                (BinOp::Div, false) => {
                    scale_rows(w, &|i| 1.0 / f64::from(c.get(i).copied().unwrap_or(0.0)));
                }
                _ => break,
            }
            *src = x;
            if let Some(s) = steps.get_mut(p) {
                *s = Step::Nop;
            }
        }
        // x · W + b → Add(bias) → Relu.
        loop {
            let Some(Step::Gemv { dst, relu, b, .. }) = steps.get(g) else {
                break;
            };
            let (dst, relu, np) = (*dst, *relu, b.len());
            if readers(steps, outputs).get(&dst.off) != Some(&1) || outputs.contains(&dst.off) {
                break;
            }
            let Some(r) = sole_reader(steps, dst.off) else {
                break;
            };
            let new_dst = match steps.get(r) {
                Some(Step::BinConst {
                    op: op @ (BinOp::Add | BinOp::Sub),
                    c,
                    const_left: false,
                    dst: d,
                    ..
                }) if !relu && c.len() <= np => {
                    let (sign, c, d) = (if *op == BinOp::Add { 1.0 } else { -1.0 }, c.clone(), *d);
                    if let Some(Step::Gemv { b, .. }) = steps.get_mut(g) {
                        b.iter_mut().zip(&c).for_each(|(bv, cv)| *bv += sign * cv);
                    }
                    d
                }
                Some(Step::BinConst {
                    op: BinOp::Add,
                    c,
                    const_left: true,
                    dst: d,
                    ..
                }) if !relu && c.len() <= np => {
                    let (c, d) = (c.clone(), *d);
                    if let Some(Step::Gemv { b, .. }) = steps.get_mut(g) {
                        b.iter_mut().zip(&c).for_each(|(bv, cv)| *bv += cv);
                    }
                    d
                }
                Some(Step::Unary {
                    op: UnaryOp::Relu,
                    dst: d,
                    ..
                }) if !relu => {
                    let d = *d;
                    if let Some(Step::Gemv { relu, .. }) = steps.get_mut(g) {
                        *relu = true;
                    }
                    d
                }
                _ => break,
            };
            if let Some(cap) = caps.get_mut(new_dst.off) {
                *cap = (*cap).max(np);
            }
            if let Some(Step::Gemv { dst, .. }) = steps.get_mut(g) {
                *dst = Buf {
                    off: new_dst.off,
                    len: np,
                };
            }
            if let Some(s) = steps.get_mut(r) {
                *s = Step::Nop;
            }
        }
    }
    // Mul(x, x) → ReduceSum  ⇒  ReduceSumSquares(x).
    for r in 0..steps.len() {
        let Some(Step::Reduce {
            op: ReduceOp::Sum,
            src,
            ..
        }) = steps.get(r)
        else {
            continue;
        };
        let src = *src;
        if readers(steps, outputs).get(&src.off) != Some(&1) || outputs.contains(&src.off) {
            continue;
        }
        let Some(p) = producer(steps, src.off) else {
            continue;
        };
        let Some(Step::BinDyn {
            op: BinOp::Mul,
            a,
            b,
            ..
        }) = steps.get(p)
        else {
            continue;
        };
        if a != b {
            continue;
        }
        let a = *a;
        if let Some(Step::Reduce { op, src, .. }) = steps.get_mut(r) {
            *op = ReduceOp::SumSquares;
            *src = a;
        }
        if let Some(s) = steps.get_mut(p) {
            *s = Step::Nop;
        }
    }
}

fn eliminate_dead(steps: &mut Vec<Step>, outputs: &[usize]) {
    let mut live: HashSet<usize> = outputs.iter().copied().collect();
    for s in steps.iter_mut().rev() {
        match s.output() {
            Some(o) if live.contains(&o.off) => live.extend(s.inputs().iter().map(|b| b.off)),
            _ => *s = Step::Nop,
        }
    }
    steps.retain(|s| !matches!(s, Step::Nop));
}

/// Offsets for every buffer id: first fit by offset among buffers whose lifetimes overlap.
/// A step's inputs are live while it writes its output, so they never share space with it.
fn allocate(
    steps: &[Step],
    caps: &[usize],
    input: usize,
    outputs: &[usize],
) -> (Vec<usize>, usize) {
    let n = caps.len();
    let end = steps.len();
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    let mut touch = |id: usize, t: usize| {
        if let (Some(f), Some(l)) = (first.get_mut(id), last.get_mut(id)) {
            *f = (*f).min(t);
            *l = (*l).max(t);
        }
    };
    touch(input, 0);
    for (t, s) in steps.iter().enumerate() {
        // Time 2t+1: the step runs; its output is born then, inputs read then.
        for i in s.inputs() {
            touch(i.off, 2 * t + 1);
        }
        if let Some(o) = s.output() {
            touch(o.off, 2 * t + 1);
        }
    }
    for o in outputs {
        touch(*o, 2 * end + 1);
    }
    let mut order: Vec<usize> = (0..n)
        .filter(|i| first.get(*i).is_some_and(|f| *f != usize::MAX))
        .collect();
    order.sort_by_key(|i| (first.get(*i).copied(), *i));
    let mut offsets = vec![0usize; n];
    let mut placed: Vec<(usize, usize, usize, usize)> = Vec::new(); // (off, size, first, last)
    let mut arena_len = 0;
    for id in order {
        let (f, l) = (
            first.get(id).copied().unwrap_or(0),
            last.get(id).copied().unwrap_or(0),
        );
        let size = caps.get(id).copied().unwrap_or(0).div_ceil(ALIGN) * ALIGN;
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|p| p.2 <= l && f <= p.3)
            .map(|p| (p.0, p.0 + p.1))
            .collect();
        busy.sort_unstable();
        let mut off = 0;
        for (s, e) in busy {
            if off + size <= s {
                break;
            }
            off = off.max(e);
        }
        if let Some(o) = offsets.get_mut(id) {
            *o = off;
        }
        placed.push((off, size, f, l));
        arena_len = arena_len.max(off + size);
    }
    (offsets, arena_len.max(ALIGN))
}

/// Checks that every view lies in the arena and that no step reads its own output.
fn validate(plan: &Plan) -> Result<(), CompileError> {
    let in_arena = |b: Buf| b.end() <= plan.arena_len;
    let disjoint = |a: Buf, b: Buf| a.end() <= b.off || b.end() <= a.off;
    for s in &plan.steps {
        let Some(o) = s.output() else { continue };
        if !in_arena(o) || s.inputs().iter().any(|i| !in_arena(*i) || !disjoint(*i, o)) {
            return err(format!("internal error: bad buffer assignment in {s:?}"));
        }
    }
    if !in_arena(plan.input)
        || plan.score >= plan.arena_len
        || plan.mu.is_some_and(|m| !in_arena(m))
    {
        return err("internal error: bad output assignment");
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
    }
}
