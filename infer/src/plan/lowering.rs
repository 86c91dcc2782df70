//! Lowering: ONNX nodes to [`Step`]s for batch 1.
//!
//! Nodes are visited in dependency order. Each value is either a constant (initializers,
//! `Constant` nodes, and every node whose inputs are all constants: folded here, at compile
//! time) or a per-event tensor `[N, dims...]` held in a buffer of `product(dims)` floats.
//! Only nodes that touch a per-event tensor become steps. MatMul and Gemm become gemvs with
//! their weights padded to the kernels' width; broadcasting against a constant expands the
//! constant once, here.

use std::collections::HashMap;

use super::budget::{self, Budget};
use super::ir::{Buf, ConcatPart, PartSrc, Step};
use super::shape::{
    broadcast_map, broadcast_shapes, check_declared, normalize_axis, numel, resolve_reshape,
};
use super::tensor::{Const, ConstData, load_tensor};
use super::{CompileError, err, node_label};
use crate::kernels::{self, BinOp, ReduceOp, UnaryOp};
use crate::onnx::{self, pb};
use pb::tensor_proto::DataType;

/// The graph lowered to steps on buffer ids, before fusion and layout.
pub(super) struct Lowered {
    pub(super) steps: Vec<Step>,
    /// Capacity (floats) of each buffer id.
    pub(super) caps: Vec<usize>,
    /// Width of the `events` input.
    pub(super) num_features: usize,
    pub(super) input: Buf,
    pub(super) score: Buf,
    pub(super) mu: Option<Buf>,
}

/// A value of the graph during lowering.
#[derive(Debug, Clone)]
enum Val {
    Const(Const),
    /// A per-event tensor of full shape `[N, dims...]`, stored in buffer `buf`.
    Dyn {
        buf: Buf,
        dims: Vec<usize>,
    },
}

impl Val {
    /// Number of elements (per event for a per-event tensor).
    fn elements(&self) -> usize {
        match self {
            Val::Const(c) => c.len(),
            Val::Dyn { buf, .. } => buf.len,
        }
    }
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

/// Lowering state: the steps so far, the buffer ids, and every named value.
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
                    data: ConstData::F(vec![a.f]),
                }))
            } else if let Some(a) = attr(node, "value_floats") {
                Ok(Val::Const(Const {
                    shape: vec![a.floats.len()],
                    data: ConstData::F(a.floats.clone()),
                }))
            } else if let Some(a) = attr(node, "value_int") {
                Ok(Val::Const(Const {
                    shape: vec![],
                    data: ConstData::I(vec![a.i]),
                }))
            } else if let Some(a) = attr(node, "value_ints") {
                Ok(Val::Const(Const {
                    shape: vec![a.ints.len()],
                    data: ConstData::I(a.ints.clone()),
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
                    data: ConstData::F(c.floats()),
                    shape: c.shape,
                })),
                (Val::Const(c), 7) => Ok(Val::Const(Const {
                    data: ConstData::I(match c.data {
                        ConstData::I(v) => v,
                        ConstData::F(v) => v.iter().map(|x| *x as i64).collect(),
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
                    data: ConstData::F(c.floats().iter().map(|v| u.apply(*v)).collect()),
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
        budget::check_tensor(k.saturating_mul(np), "padded weight matrix")?;
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
                    data: ConstData::F(data),
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
        let len = numel(&idx.shape).saturating_mul(inner);
        budget::check_tensor(len, "per-event Gather output")?;
        let mut map = Vec::with_capacity(len);
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

/// Width `F` of the `[N, F]` float32 input.
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

/// Lowers every node of `graph` in `order` (a topological order, from
/// [`validate`](crate::onnx::validate)), counting what it allocates.
pub(super) fn lower_graph(
    graph: &pb::GraphProto,
    order: &[usize],
) -> Result<Lowered, CompileError> {
    let mut b = Builder {
        steps: Vec::new(),
        caps: Vec::new(),
        vals: HashMap::new(),
    };
    let mut budget = Budget::default();
    for t in &graph.initializer {
        let c = load_tensor(t)?;
        budget.charge(c.len())?;
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
    budget::check_tensor(f, "input width")?;
    let input_buf = b.new_buf(f);
    b.vals.insert(
        input.name.clone(),
        Val::Dyn {
            buf: input_buf,
            dims: vec![f],
        },
    );

    for &i in order {
        let Some(node) = graph.node.get(i) else {
            return err(format!("internal error: node #{i} out of range"));
        };
        let at = |mut e: CompileError| {
            e.node = Some(node_label(node, i));
            e
        };
        let [out] = node.output.as_slice() else {
            return Err(at(CompileError {
                node: None,
                message: format!("{} with {} outputs", node.op_type, node.output.len()),
            }));
        };
        budget::check_inputs(
            node.input
                .iter()
                .map(|n| b.vals.get(n).map_or(0, Val::elements)),
        )
        .map_err(at)?;
        let (steps0, caps0) = (b.steps.len(), b.caps.len());
        let v = b.lower(node).map_err(at)?;
        // Everything this node added, before the next node can build on it.
        for cap in b.caps.get(caps0..).unwrap_or_default() {
            budget::check_tensor(*cap, "per-event tensor").map_err(at)?;
            budget.charge(*cap).map_err(at)?;
        }
        for s in b.steps.get(steps0..).unwrap_or_default() {
            budget.charge_step(s).map_err(at)?;
        }
        if let Val::Const(c) = &v {
            budget::check_tensor(c.len(), "constant").map_err(at)?;
            budget.charge(c.len()).map_err(at)?;
        }
        b.vals.insert(out.clone(), v);
    }
    for vi in graph.output.iter().chain(&graph.value_info) {
        match b.vals.get(&vi.name) {
            Some(Val::Dyn { dims, .. }) => check_declared(vi, dims, true)?,
            Some(Val::Const(c)) => check_declared(vi, &c.shape, false)?,
            None => {}
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
    let Some((score, sdims)) = output(onnx::SCORE)? else {
        return err("the graph has no `score` output");
    };
    if score.len != 1 {
        return err(format!(
            "output `score` has per-event shape {sdims:?}, expected []"
        ));
    }
    let mu = output(onnx::MU)?.map(|(buf, _)| buf);

    Ok(Lowered {
        steps: b.steps,
        caps: b.caps,
        num_features: f,
        input: input_buf,
        score,
        mu,
    })
}
