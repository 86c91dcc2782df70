//! The compiled, immutable execution plan for one event.
//!
//! [`compile`] turns the ONNX graph into a [`Plan`] once, at load time:
//!
//! 1. [`lowering`] walks the graph, decodes initializers ([`tensor`]), folds everything that
//!    does not depend on `events`, resolves every shape for batch 1 (a tensor of shape
//!    `[N, d1, ...]` is a row of `d1 · ...` floats, [`shape`]) and emits [`Step`]s ([`ir`]);
//! 2. [`fusion`] folds `(x ∘ c) · W` (per-column `Add`/`Sub`/`Mul`/`Div` by constants: the
//!    standardisation) into the weights, `x · W + b → Relu` into one gemv and
//!    `Mul(x, x) → ReduceSum` into one reduction, and drops dead steps;
//! 3. [`arena`] gives every intermediate buffer an offset in one `f32` arena, reusing space
//!    between buffers whose lifetimes do not overlap, and checks the result;
//! 4. [`chain`] turns runs of gemvs that feed each other (and their Σμ² head) into one
//!    [`Step::Chain`] each.
//!
//! Every size a file controls is checked against [`crate::limits`] before it is allocated
//! ([`budget`]), and every pass is linear in the number of nodes (up to the few buffers live
//! at once in [`arena`]).
//!
//! [`executor`] runs the plan on a session's arena.

mod arena;
mod budget;
mod chain;
mod executor;
mod fusion;
mod ir;
mod lowering;
mod shape;
mod tensor;

use crate::error::UnsupportedOp;
use crate::kernels::Kernel;
use crate::onnx::pb;

pub(crate) use ir::{Buf, Step};

/// Operators the runtime executes (default ONNX domain).
pub const SUPPORTED_OPS: &[&str] = &[
    // Linear algebra.
    "MatMul",
    "Gemm",
    // Elementwise arithmetic, with numpy broadcasting.
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Min",
    "Max",
    "Pow",
    // Activations and unary functions.
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "Elu",
    "Clip",
    "Neg",
    "Abs",
    "Log",
    "Exp",
    "Sqrt",
    "Sin",
    "Cos",
    "BatchNormalization",
    // Reductions over non-batch axes.
    "ReduceSum",
    "ReduceMean",
    "ReduceSumSquare",
    "ReduceMin",
    "ReduceMax",
    // Shapes, selections and constants.
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Dropout",
    "Concat",
    "Gather",
    "Slice",
    "Cast",
    "Constant",
    "ConstantOfShape",
    // Comparisons and selection.
    "Greater",
    "Less",
    "Equal",
    "Not",
    "Where",
];

/// The compiled model: the steps for one event and where its input and outputs live.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) num_features: usize,
    /// Where the session writes the event.
    pub(crate) input: Buf,
    pub(crate) steps: Vec<Step>,
    /// Offset of the score in the arena.
    pub(crate) score: usize,
    pub(crate) mu: Option<Buf>,
    pub(crate) arena_len: usize,
    pub(crate) kernel: Kernel,
    /// The plan is one [`Step::Chain`] whose first layer reads exactly the input: a batch
    /// needs no copy of its events into the arena (the chain reads the caller's rows).
    pub(crate) direct_input: bool,
    /// The plan is one elementwise [`Step::Map`] of the input (an import's scaling and
    /// saturation) and a [`Step::Chain`] reading exactly its output: a single event needs no
    /// copy either (the map reads the caller's event).
    pub(crate) direct_map: bool,
}

/// Compiles the graph for batch 1; `order` is a topological order of its nodes (from
/// [`validate`](crate::onnx::validate), which must have accepted the graph).
pub(crate) fn compile(
    graph: &pb::GraphProto,
    order: &[usize],
    kernel: Kernel,
) -> Result<Plan, CompileError> {
    let lowering::Lowered {
        mut steps,
        mut caps,
        num_features,
        mut input,
        mut score,
        mut mu,
    } = lowering::lower_graph(graph, order)?;
    let mut outputs = vec![score.off];
    outputs.extend(mu.map(|m| m.off));
    fusion::fuse(&mut steps, &mut caps, &outputs);
    fusion::eliminate_dead(&mut steps, &outputs);
    let layout = arena::allocate(&steps, &caps, input.off, &outputs)?;
    for s in &mut steps {
        s.for_each_buf(&mut |b| layout.place(b));
    }
    layout.place(&mut input);
    layout.place(&mut score);
    if let Some(m) = &mut mu {
        layout.place(m);
    }
    chain::build_chains(&mut steps);
    let direct_input = match steps.as_slice() {
        [Step::Chain(c)] => c
            .layers()
            .first()
            .is_some_and(|l| l.src == input.off && l.k == input.len && l.k == num_features),
        _ => false,
    };
    let direct_map = match steps.as_slice() {
        [Step::Map { src, dst, .. }, Step::Chain(c)] => {
            *src == input
                && src.len == num_features
                && dst.len == src.len
                && c.layers()
                    .first()
                    .is_some_and(|l| l.src == dst.off && l.k == dst.len)
        }
        _ => false,
    };
    let plan = Plan {
        num_features,
        input,
        steps,
        score: score.off,
        mu,
        arena_len: layout.len,
        kernel,
        direct_input,
        direct_map,
    };
    arena::validate(&plan)?;
    Ok(plan)
}

/// A graph-contract violation found while validating or compiling a model, and the node at
/// fault when there is one.
#[derive(Debug)]
pub(crate) struct CompileError {
    pub(crate) node: Option<String>,
    pub(crate) message: String,
}

pub(crate) fn err<T>(message: impl Into<String>) -> Result<T, CompileError> {
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

/// The node's name, or its index and operator when it has none.
pub(crate) fn node_label(n: &pb::NodeProto, i: usize) -> String {
    if n.name.is_empty() {
        format!("#{i} ({})", n.op_type)
    } else {
        n.name.clone()
    }
}
