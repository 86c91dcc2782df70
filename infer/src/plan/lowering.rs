//! Lowering: ONNX nodes to [`Step`]s for batch 1.
//!
//! Nodes are visited in dependency order. Each value is either a constant (initializers,
//! `Constant` nodes, and every node whose inputs are all constants: folded here, at compile
//! time) or a per-event tensor `[N, dims...]` held in a buffer of `product(dims)` floats.
//! Only nodes that touch a per-event tensor become steps. MatMul and Gemm become gemvs with
//! their weights padded to the kernels' width; broadcasting against a constant expands the
//! constant once, here.
//!
//! Operators without a step of their own are lowered onto the existing elementwise steps
//! (Clip is `Max` then `Min`, BatchNormalization a per-channel `Mul` and `Add`, ReduceMean a
//! sum then a division, ...), so that fusion and the vectorised kernels apply to them too:
//! [`linear`] has MatMul and Gemm, [`layout`] the shape operators, gathers and reductions,
//! [`elementwise`] the activations, comparisons and casts.

mod elementwise;
mod layout;
mod linear;

use std::collections::{HashMap, HashSet};

use super::budget::{self, Budget};
use super::ir::{Buf, Step};
use super::shape::{broadcast_map, broadcast_shapes, check_declared, numel};
use super::tensor::{Const, ConstData, load_tensor};
use super::{CompileError, err, node_label};
use crate::kernels::{BinOp, UnaryOp};
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

/// A float scalar constant.
fn scalar(v: f32) -> Val {
    Val::Const(Const {
        shape: vec![],
        data: ConstData::F(vec![v].into()),
    })
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

/// `op` on two integers, as ONNX does on int64 tensors (shape arithmetic); `None` for a
/// division by zero.
fn int_op(op: BinOp, a: i64, b: i64) -> Option<i64> {
    Some(match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::Div => a.checked_div(b)?,
        BinOp::Min => a.min(b),
        BinOp::Max => a.max(b),
        BinOp::Greater => i64::from(a > b),
        BinOp::Less => i64::from(a < b),
    })
}

/// Lowering state: the steps so far, the buffer ids, and every named value.
struct Builder {
    steps: Vec<Step>,
    /// Capacity (floats) of each buffer id.
    caps: Vec<usize>,
    vals: HashMap<String, Val>,
    /// Buffer ids holding booleans (0 or 1) produced by comparisons, so that a later `Cast`
    /// to an integer type or to bool can keep them as they are.
    bools: HashSet<usize>,
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

    /// Input `i` when it is given (optional inputs may be missing or named "").
    fn opt_input(&self, node: &pb::NodeProto, i: usize) -> Result<Option<Val>, CompileError> {
        match node.input.get(i) {
            Some(name) if !name.is_empty() => self.get(name).cloned().map(Some),
            _ => Ok(None),
        }
    }

    fn const_input(&self, node: &pb::NodeProto, i: usize) -> Result<Const, CompileError> {
        match self.input(node, i)? {
            Val::Const(c) => Ok(c),
            Val::Dyn { .. } => err(format!("input #{i} of {} must be a constant", node.op_type)),
        }
    }

    /// Integer list from input `i` if given, else from attribute `name` (ONNX moved several
    /// attributes to inputs across opsets: axes, starts, ends, ...).
    fn ints_from(
        &self,
        node: &pb::NodeProto,
        i: usize,
        name: &str,
    ) -> Result<Option<Vec<i64>>, CompileError> {
        match self.opt_input(node, i)? {
            // Starts, ends, axes and steps are 1-D in ONNX; ONNX Runtime refuses a scalar.
            Some(Val::Const(c)) if c.shape.len() != 1 => err(format!(
                "input #{i} ({name}) of {} must be a 1-D tensor, not of shape {:?}",
                node.op_type, c.shape
            )),
            Some(Val::Const(c)) => c.ints().map(Some),
            Some(Val::Dyn { .. }) => err(format!(
                "input #{i} ({name}) of {} must be a constant",
                node.op_type
            )),
            None => Ok(attr(node, name).map(|a| a.ints.clone())),
        }
    }

    fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// `op(v)`: folded for a constant, else a step.
    fn unary(&mut self, op: UnaryOp, v: Val) -> Val {
        match v {
            Val::Const(c) => Val::Const(Const {
                data: ConstData::F(c.floats().iter().map(|v| op.apply(*v)).collect()),
                shape: c.shape,
            }),
            Val::Dyn { buf, dims } => {
                let dst = self.new_buf(buf.len);
                self.push(Step::Unary { op, src: buf, dst });
                Val::Dyn { buf: dst, dims }
            }
        }
    }

    fn lower(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let op = node.op_type.as_str();
        if let Some(u) = unary_op(op) {
            let x = self.input(node, 0)?;
            return Ok(self.unary(u, x));
        }
        if let Some(b) = bin_op(op) {
            let v = self.lower_variadic(node, b)?;
            if matches!(b, BinOp::Greater | BinOp::Less) {
                self.mark_bool(&v);
            }
            return Ok(v);
        }
        match op {
            "Constant" => self.lower_constant(node),
            "Identity" | "Dropout" => self.lower_identity(node),
            "Cast" => self.lower_cast(node),
            "Reshape" => self.lower_reshape(node),
            "Flatten" => self.lower_flatten(node),
            "Squeeze" => self.lower_squeeze(node),
            "Unsqueeze" => self.lower_unsqueeze(node),
            "Gather" => self.lower_gather(node),
            "Slice" => self.lower_slice(node),
            "Concat" => self.lower_concat(node),
            "ConstantOfShape" => self.lower_constant_of_shape(node),
            "MatMul" => self.lower_matmul(node),
            "Gemm" => self.lower_gemm(node),
            "ReduceSum" | "ReduceMean" | "ReduceSumSquare" | "ReduceMin" | "ReduceMax" => {
                self.lower_reduce(node)
            }
            "Clip" => self.lower_clip(node),
            "Pow" => self.lower_pow(node),
            "LeakyRelu" => self.lower_leaky_relu(node),
            "Elu" => self.lower_elu(node),
            "Softplus" => self.lower_softplus(node),
            "BatchNormalization" => self.lower_batch_norm(node),
            "Equal" => self.lower_equal(node),
            "Not" => self.lower_not(node),
            "Where" => self.lower_where(node),
            _ => err(format!("operator {op} is not supported")),
        }
    }

    /// `Min`/`Max` take one or more inputs; the other binary operators exactly two.
    fn lower_variadic(&mut self, node: &pb::NodeProto, op: BinOp) -> Result<Val, CompileError> {
        let n = node.input.len();
        let variadic = matches!(op, BinOp::Min | BinOp::Max);
        if n == 0 || (!variadic && n != 2) {
            return err(format!("{} with {n} inputs", node.op_type));
        }
        let mut acc = self.input(node, 0)?;
        for i in 1..n {
            let v = self.input(node, i)?;
            acc = self.lower_binary(op, acc, v)?;
        }
        Ok(acc)
    }

    /// Records that `v`'s buffer holds booleans.
    fn mark_bool(&mut self, v: &Val) {
        if let Val::Dyn { buf, .. } = v {
            self.bools.insert(buf.off);
        }
    }

    fn lower_binary(&mut self, op: BinOp, a: Val, b: Val) -> Result<Val, CompileError> {
        match (a, b) {
            (Val::Const(x), Val::Const(y)) => fold_binary(op, &x, &y).map(Val::Const),
            (Val::Dyn { buf, dims }, Val::Const(c)) => self.bin_const(op, buf, dims, c, false),
            (Val::Const(c), Val::Dyn { buf, dims }) => self.bin_const(op, buf, dims, c, true),
            (Val::Dyn { buf: ba, dims: da }, Val::Dyn { buf: bb, dims: db }) => {
                let out = per_event_broadcast(&da, &db)?;
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
        let cs = per_event_shape(&c, dims.len() + 1)?;
        let out = broadcast_shapes(&dims, &cs).map_or_else(
            || err(format!("cannot broadcast [N, {dims:?}] with {:?}", c.shape)),
            Ok,
        )?;
        let src = self.expand(buf, &dims, &out);
        let cexp = expand_const(&c, &cs, &out);
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
}

/// Broadcast of two per-event shapes; both must have the batch axis, so the same rank.
fn per_event_broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, CompileError> {
    if a.len() != b.len() {
        return err(format!("cannot broadcast [N, {a:?}] with [N, {b:?}]"));
    }
    broadcast_shapes(a, b).map_or_else(
        || err(format!("cannot broadcast [N, {a:?}] with [N, {b:?}]")),
        Ok,
    )
}

/// The shape of constant `c` against a per-event tensor of full rank `rank`: right-aligned,
/// without the batch axis, which `c` must not span.
fn per_event_shape(c: &Const, rank: usize) -> Result<Vec<usize>, CompileError> {
    if c.shape.len() > rank {
        return err(format!(
            "constant of shape {:?} against a per-event tensor of rank {rank}",
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
    Ok(cs)
}

/// The floats of `c` (per-event shape `cs`) broadcast to `out`.
fn expand_const(c: &Const, cs: &[usize], out: &[usize]) -> Vec<f32> {
    let cf = c.floats();
    broadcast_map(cs, out)
        .iter()
        .map(|i| cf.get(*i as usize).copied().unwrap_or(0.0))
        .collect()
}

/// `x ∘ y` for two constants, with numpy broadcasting. Integer operands give an integer
/// result (shape arithmetic); comparisons give booleans (stored as integers 0 and 1).
fn fold_binary(op: BinOp, x: &Const, y: &Const) -> Result<Const, CompileError> {
    let shape = broadcast_shapes(&x.shape, &y.shape).map_or_else(
        || err(format!("cannot broadcast {:?} with {:?}", x.shape, y.shape)),
        Ok,
    )?;
    let (mx, my) = (
        broadcast_map(&x.shape, &shape),
        broadcast_map(&y.shape, &shape),
    );
    let pairs = mx.iter().zip(&my).map(|(i, j)| (*i as usize, *j as usize));
    let data = match (&x.data, &y.data) {
        (ConstData::I(a), ConstData::I(b)) => ConstData::I(
            pairs
                .map(|(i, j)| {
                    let (u, v) = (a.get(i).copied(), b.get(j).copied());
                    u.zip(v)
                        .and_then(|(u, v)| int_op(op, u, v))
                        .map_or_else(|| err("integer division by zero"), Ok)
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => {
            let (xf, yf) = (x.floats(), y.floats());
            let vals = pairs.map(|(i, j)| {
                let u = xf.get(i).copied().unwrap_or(0.0);
                let v = yf.get(j).copied().unwrap_or(0.0);
                op.apply(u, v)
            });
            if matches!(op, BinOp::Greater | BinOp::Less) {
                ConstData::I(vals.map(|v| v as i64).collect())
            } else {
                ConstData::F(vals.collect())
            }
        }
    };
    Ok(Const { shape, data })
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
        bools: HashSet::new(),
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

    let consumed: HashSet<&String> = graph
        .node
        .iter()
        .flat_map(|n| &n.input)
        .chain(graph.output.iter().map(|o| &o.name))
        .collect();

    for &i in order {
        let Some(node) = graph.node.get(i) else {
            return err(format!("internal error: node #{i} out of range"));
        };
        let at = |mut e: CompileError| {
            e.node = Some(node_label(node, i));
            e
        };
        // Further outputs (BatchNormalization's running statistics, Dropout's mask) are only
        // produced in training; they must be absent or unused.
        let (out, extra) = match node.output.split_first() {
            Some((out, extra)) => (out, extra),
            None => (&String::new(), &[][..]),
        };
        if out.is_empty() || extra.iter().any(|o| !o.is_empty() && consumed.contains(o)) {
            return Err(at(CompileError {
                node: None,
                message: format!(
                    "{} with {} outputs: only the first one can be used",
                    node.op_type,
                    node.output.len()
                ),
            }));
        }
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
