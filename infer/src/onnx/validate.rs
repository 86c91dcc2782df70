//! Structural checks of a decoded model, made before anything else reads the graph.
//!
//! The plan compiler, and tract when [`Model::reference`](crate::Model::reference) builds its
//! evaluator, both assume a well-formed graph; tract panics on some malformed ones (a graph
//! output no node produces, a `STRING` initializer, an axis of ±2⁶³). [`validate`] checks
//! everything that does not need shapes: versions, sizes ([`limits`]), names, types, tensor
//! storage, attribute types and values, and that the nodes form a DAG, whose topological order
//! it returns (Kahn's algorithm with hash maps: linear in the size of the graph). Shapes,
//! broadcasting and axes are checked by the compiler, which runs next; tract only ever sees a
//! model that passed both.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet};

use super::pb;
use super::typecheck::{self, type_name};
use crate::limits::{
    MAX_IR_VERSION, MAX_NODES, MAX_OPSET, MAX_RANK, MAX_TENSOR_ELEMENTS, MIN_OPSET,
};
use crate::plan::{CompileError, err, node_label};
use pb::attribute_proto::AttributeType;
use pb::tensor_proto::{DataLocation, DataType};

/// Adds the node's label to an error about it.
fn at_node<T>(r: Result<T, String>, node: &pb::NodeProto, i: usize) -> Result<T, CompileError> {
    r.map_err(|message| CompileError {
        node: Some(node_label(node, i)),
        message,
    })
}

/// Where a value of the graph comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    Initializer,
    Input,
    Node(usize),
}

impl Origin {
    fn describe(self, graph: &pb::GraphProto) -> String {
        match self {
            Origin::Initializer => "an initializer".to_owned(),
            Origin::Input => "a graph input".to_owned(),
            Origin::Node(j) => match graph.node.get(j) {
                Some(n) => format!("the output of node {}", node_label(n, j)),
                None => format!("the output of node #{j}"),
            },
        }
    }
}

/// Checks the model's structure; returns the nodes' indices in a topological order (file order
/// when the file is already sorted).
pub(crate) fn validate(model: &pb::ModelProto) -> Result<Vec<usize>, CompileError> {
    if !(1..=MAX_IR_VERSION).contains(&model.ir_version) {
        return err(format!(
            "IR version {} (this runtime reads 1 to {MAX_IR_VERSION})",
            model.ir_version
        ));
    }
    let mut default_opsets = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx");
    let opset = match (default_opsets.next(), default_opsets.next()) {
        (None, _) => return err("no opset import for the default ONNX domain"),
        (Some(_), Some(_)) => return err("two opset imports for the default ONNX domain"),
        (Some(o), None) if !(MIN_OPSET..=MAX_OPSET).contains(&o.version) => {
            return err(format!(
                "default-domain opset {} (this runtime reads {MIN_OPSET} to {MAX_OPSET})",
                o.version
            ));
        }
        (Some(o), None) => o.version,
    };
    if let Some(f) = model.functions.first() {
        return err(format!(
            "model-local function {:?}: functions are not supported",
            f.name
        ));
    }
    let Some(graph) = model.graph.as_ref() else {
        return err("no graph");
    };
    validate_graph(graph, opset)
}

fn validate_graph(graph: &pb::GraphProto, opset: i64) -> Result<Vec<usize>, CompileError> {
    let n = graph.node.len();
    if n == 0 {
        return err("the graph has no nodes");
    }
    if n > MAX_NODES {
        return err(format!(
            "the graph has {n} nodes, more than the limit of {MAX_NODES}"
        ));
    }
    if let Some(s) = graph.sparse_initializer.first() {
        let name = s.values.as_ref().map(|v| v.name.as_str()).unwrap_or("");
        return err(format!(
            "sparse initializer {name:?}: sparse tensors are not supported"
        ));
    }

    // Every value name and where it comes from.
    let mut origin: HashMap<&str, Origin> = HashMap::with_capacity(n + graph.initializer.len());
    for t in &graph.initializer {
        if t.name.is_empty() {
            return err("an initializer has no name");
        }
        check_tensor(t).or_else(|m| err(format!("initializer {:?}: {m}", t.name)))?;
        if origin.insert(&t.name, Origin::Initializer).is_some() {
            return err(format!("two initializers are named {:?}", t.name));
        }
    }
    let mut inputs = HashSet::new();
    for vi in &graph.input {
        if vi.name.is_empty() {
            return err("a graph input has no name");
        }
        if !inputs.insert(vi.name.as_str()) {
            return err(format!("two graph inputs are named {:?}", vi.name));
        }
        // Older exporters also list initializers as graph inputs (with their own types).
        let allowed = match origin.get(vi.name.as_str()) {
            Some(Origin::Initializer) => INTERMEDIATE_TYPES,
            _ => &[DataType::Float],
        };
        check_value_info(vi, allowed)
            .or_else(|m| err(format!("graph input {:?}: {m}", vi.name)))?;
        if allowed.len() == 1 && fixed_batch(vi) {
            return err(format!(
                "graph input {:?}: the batch dimension must be symbolic (`N`), not a number",
                vi.name
            ));
        }
        origin.entry(&vi.name).or_insert(Origin::Input);
    }
    for (i, node) in graph.node.iter().enumerate() {
        at_node(check_node(node, opset), node, i)?;
        for out in &node.output {
            match origin.entry(out) {
                Entry::Vacant(v) => {
                    v.insert(Origin::Node(i));
                }
                Entry::Occupied(o) => {
                    let msg = format!("output {out:?} is also {}", o.get().describe(graph));
                    return at_node(Err(msg), node, i);
                }
            }
        }
    }
    for vi in &graph.value_info {
        check_value_info(vi, INTERMEDIATE_TYPES)
            .or_else(|m| err(format!("value info {:?}: {m}", vi.name)))?;
        if !origin.contains_key(vi.name.as_str()) {
            return err(format!(
                "value info {:?} describes a value the graph does not have",
                vi.name
            ));
        }
    }
    let mut outputs = HashSet::new();
    for vi in &graph.output {
        if !outputs.insert(vi.name.as_str()) {
            return err(format!("two graph outputs are named {:?}", vi.name));
        }
        if vi.name != super::SCORE && vi.name != super::MU {
            return err(format!(
                "graph output {:?}: a bead model has the outputs `score` and optionally `mu`",
                vi.name
            ));
        }
        match origin.get(vi.name.as_str()) {
            Some(Origin::Node(_)) => {}
            Some(o) => {
                return err(format!(
                    "graph output {:?} is {}, not computed by a node",
                    vi.name,
                    o.describe(graph)
                ));
            }
            None => {
                return err(format!(
                    "graph output {:?} is not produced by any node",
                    vi.name
                ));
            }
        }
        check_value_info(vi, &[DataType::Float])
            .or_else(|m| err(format!("graph output {:?}: {m}", vi.name)))?;
    }
    if !outputs.contains(super::SCORE) {
        return err("the graph has no `score` output");
    }
    let order = topological_order(graph, &origin)?;
    let types = typecheck::infer_types(graph, &origin, &order, opset)?;
    let declared = graph.output.iter().map(|vi| (vi, true));
    for (vi, is_output) in declared.chain(graph.value_info.iter().map(|vi| (vi, false))) {
        let inferred = types.get(vi.name.as_str()).copied().unwrap_or(0);
        let what = if is_output {
            "graph output"
        } else {
            "value info"
        };
        if is_output && inferred != DataType::Float as i32 {
            return err(format!(
                "{what} {:?} is computed as {}, not FLOAT",
                vi.name,
                type_name(inferred)
            ));
        }
        let declared = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(pb::type_proto::Value::TensorType(t)) => t.elem_type,
            None => 0,
        };
        typecheck::check_declared(declared, inferred)
            .or_else(|m| err(format!("{what} {:?}: {m}", vi.name)))?;
    }
    Ok(order)
}

/// Kahn's algorithm; among the nodes that are ready, the one listed first goes first.
fn topological_order(
    graph: &pb::GraphProto,
    origin: &HashMap<&str, Origin>,
) -> Result<Vec<usize>, CompileError> {
    let n = graph.node.len();
    let mut waiting = vec![0usize; n];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in graph.node.iter().enumerate() {
        for name in node.input.iter().filter(|s| !s.is_empty()) {
            match origin.get(name.as_str()) {
                Some(Origin::Node(p)) => {
                    if let (Some(c), Some(w)) = (consumers.get_mut(*p), waiting.get_mut(i)) {
                        c.push(i);
                        *w += 1;
                    }
                }
                Some(_) => {}
                None => {
                    let msg = format!(
                        "input {name:?} is not produced by any node, initializer or graph input"
                    );
                    return at_node(Err(msg), node, i);
                }
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = waiting
        .iter()
        .enumerate()
        .filter(|(_, w)| **w == 0)
        .map(|(i, _)| Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &c in consumers.get(i).map(Vec::as_slice).unwrap_or_default() {
            if let Some(w) = waiting.get_mut(c) {
                *w -= 1;
                if *w == 0 {
                    ready.push(Reverse(c));
                }
            }
        }
    }
    if order.len() < n {
        let stuck = waiting.iter().position(|w| *w > 0).unwrap_or(0);
        let node = graph.node.get(stuck);
        let label = node.map_or_else(|| format!("#{stuck}"), |nd| node_label(nd, stuck));
        return Err(CompileError {
            node: Some(label),
            message: "the graph has a cycle through this node".to_owned(),
        });
    }
    Ok(order)
}

/// Element types an intermediate value may be declared with.
const INTERMEDIATE_TYPES: &[DataType] = &[
    DataType::Float,
    DataType::Float16,
    DataType::Double,
    DataType::Int32,
    DataType::Int64,
    DataType::Bool,
];

/// A declared type: a tensor of one of `allowed` (or of unspecified type), of rank at most
/// [`MAX_RANK`], with non-negative dimensions and symbolic dimensions that are identifiers.
fn check_value_info(vi: &pb::ValueInfoProto, allowed: &[DataType]) -> Result<(), String> {
    use pb::tensor_shape_proto::dimension::Value;
    let Some(t) = vi.r#type.as_ref() else {
        return Ok(());
    };
    // tract's `onnx.proto` knows only tensor types: others do not decode at all.
    let Some(pb::type_proto::Value::TensorType(t)) = &t.value else {
        return Ok(());
    };
    if t.elem_type != DataType::Undefined as i32
        && !allowed.iter().any(|d| *d as i32 == t.elem_type)
    {
        return Err(format!(
            "element type {} is not supported here",
            type_name(t.elem_type)
        ));
    }
    let Some(shape) = t.shape.as_ref() else {
        return Ok(());
    };
    if shape.dim.len() > MAX_RANK {
        return Err(format!(
            "rank {} exceeds the limit of {MAX_RANK}",
            shape.dim.len()
        ));
    }
    for d in &shape.dim {
        match &d.value {
            Some(Value::DimValue(v)) if !(0..=MAX_TENSOR_ELEMENTS as i64).contains(v) => {
                return Err(format!("dimension {v} is out of range"));
            }
            Some(Value::DimParam(p)) if !is_identifier(p) => {
                return Err(format!(
                    "symbolic dimension {p:?} is not an identifier ([A-Za-z_][A-Za-z0-9_]*)"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether the first dimension of a declared shape is a number.
fn fixed_batch(vi: &pb::ValueInfoProto) -> bool {
    use pb::tensor_shape_proto::dimension::Value;
    match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => t
            .shape
            .as_ref()
            .and_then(|s| s.dim.first())
            .is_some_and(|d| matches!(d.value, Some(Value::DimValue(_)))),
        None => false,
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A tensor stored in the file (initializer or `Constant` value): a supported type, a rank,
/// dimensions and an element count within the limits, and exactly as many values as its
/// dimensions say, stored in one place.
pub(crate) fn check_tensor(t: &pb::TensorProto) -> Result<(), String> {
    if t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty() {
        return Err("external data is not supported".to_owned());
    }
    if t.segment.is_some() {
        return Err("segmented tensors are not supported".to_owned());
    }
    if t.dims.len() > MAX_RANK {
        return Err(format!(
            "rank {} exceeds the limit of {MAX_RANK}",
            t.dims.len()
        ));
    }
    let mut count: usize = 1;
    for d in &t.dims {
        let d = usize::try_from(*d).map_err(|_| format!("negative dimension {d}"))?;
        count = count
            .checked_mul(d)
            .filter(|c| *c <= MAX_TENSOR_ELEMENTS)
            .ok_or_else(|| {
                format!(
                    "dimensions {:?} exceed the limit of {MAX_TENSOR_ELEMENTS} elements",
                    t.dims
                )
            })?;
    }
    // (bytes per value in raw_data, number of values in each typed field)
    let typed = [
        ("float_data", t.float_data.len(), DataType::Float),
        ("int32_data", t.int32_data.len(), DataType::Int32),
        ("int64_data", t.int64_data.len(), DataType::Int64),
        ("double_data", t.double_data.len(), DataType::Double),
        ("string_data", t.string_data.len(), DataType::String),
        ("uint64_data", t.uint64_data.len(), DataType::Uint64),
    ];
    let (width, field) = match DataType::try_from(t.data_type) {
        Ok(DataType::Float) => (4, "float_data"),
        Ok(DataType::Float16) => (2, "int32_data"),
        Ok(DataType::Double) => (8, "double_data"),
        Ok(DataType::Int32) => (4, "int32_data"),
        Ok(DataType::Int64) => (8, "int64_data"),
        _ => {
            return Err(format!(
                "data type {} is not supported (FLOAT, FLOAT16, DOUBLE, INT32 or INT64)",
                type_name(t.data_type)
            ));
        }
    };
    let used: Vec<&str> = typed
        .iter()
        .filter(|(_, len, _)| *len > 0)
        .map(|(name, _, _)| *name)
        .chain((!t.raw_data.is_empty()).then_some("raw_data"))
        .collect();
    match used.as_slice() {
        [] if count == 0 => Ok(()),
        [] => Err(format!("no values for {count} elements")),
        ["raw_data"] => {
            let expected = count.saturating_mul(width);
            if t.raw_data.len() == expected {
                Ok(())
            } else {
                Err(format!(
                    "{} bytes of raw data for {count} elements of {width} bytes",
                    t.raw_data.len()
                ))
            }
        }
        [f] if *f == field => {
            let len = typed
                .iter()
                .find(|(name, _, _)| name == f)
                .map_or(0, |(_, len, _)| *len);
            if len == count {
                Ok(())
            } else {
                Err(format!("{len} values in {f} for {count} elements"))
            }
        }
        [f] => Err(format!(
            "values of a {} tensor stored in {f}",
            type_name(t.data_type)
        )),
        _ => Err(format!(
            "values stored in several fields ({})",
            used.join(", ")
        )),
    }
}

/// Outputs, attribute types and values of one node.
fn check_node(node: &pb::NodeProto, opset: i64) -> Result<(), String> {
    match node.output.as_slice() {
        [out] if !out.is_empty() => {}
        [_] => return Err("the output has no name".to_owned()),
        outs => {
            return Err(format!(
                "{} has {} outputs; the bead operators have one",
                node.op_type,
                outs.len()
            ));
        }
    }
    let mut names = HashSet::new();
    for a in &node.attribute {
        if !names.insert(a.name.as_str()) {
            return Err(format!("attribute {:?} is given twice", a.name));
        }
        check_attribute(&node.op_type, a, opset)
            .map_err(|m| format!("attribute {:?}: {m}", a.name))?;
    }
    if node.op_type == "Constant" && node.attribute.len() != 1 {
        return Err(format!(
            "Constant needs exactly one value attribute, found {}",
            node.attribute.len()
        ));
    }
    Ok(())
}

/// What an attribute must be: its type, and for flags the values 0 and 1.
enum Expect {
    Int,
    Flag,
    /// Only 0 (the default) has the meaning the runtime implements.
    Zero,
    /// Not an attribute at this opset.
    Removed(&'static str),
    Float,
    Ints,
    Floats,
    Tensor,
    DataType,
}

fn expected(op: &str, name: &str, opset: i64) -> Option<Expect> {
    Some(match (op, name) {
        ("ReduceSum", "axes") if opset >= 13 => {
            Expect::Removed("the axes are the second input of ReduceSum from opset 13")
        }
        ("ReduceMin" | "ReduceMax" | "ReduceMean" | "ReduceSumSquare", "axes") if opset >= 18 => {
            Expect::Removed("the axes are the second input of this reduction from opset 18")
        }
        ("Squeeze" | "Unsqueeze", "axes") if opset >= 13 => {
            Expect::Removed("the axes are the second input of Squeeze/Unsqueeze from opset 13")
        }
        ("Slice", "starts" | "ends" | "axes") if opset >= 10 => {
            Expect::Removed("starts, ends and axes are inputs of Slice from opset 10")
        }
        ("Clip", "min" | "max") if opset >= 11 => {
            Expect::Removed("min and max are the second and third inputs of Clip from opset 11")
        }
        ("Add" | "Sub" | "Mul" | "Div", "broadcast" | "axis") => Expect::Removed(
            "the legacy broadcast attributes (opset < 7) are not supported: numpy broadcasting from opset 7",
        ),
        ("Clip", "min" | "max") => Expect::Float,
        ("ReduceSum" | "ReduceMean" | "ReduceSumSquare" | "Squeeze" | "Unsqueeze", "axes") => {
            Expect::Ints
        }
        ("Slice", "starts" | "ends" | "axes") => Expect::Ints,
        ("Gather" | "Concat", "axis") => Expect::Int,
        ("Gemm", "alpha" | "beta") => Expect::Float,
        ("Gemm", "transA" | "transB") => Expect::Flag,
        ("ReduceMin" | "ReduceMax", "axes") => Expect::Ints,
        (
            "ReduceSum" | "ReduceMin" | "ReduceMax" | "ReduceMean" | "ReduceSumSquare",
            "keepdims" | "noop_with_empty_axes",
        ) => Expect::Flag,
        ("Cast", "to") => Expect::DataType,
        ("Cast", "saturate") => Expect::Flag,
        ("Reshape", "allowzero") => Expect::Zero,
        ("Constant" | "ConstantOfShape", "value") => Expect::Tensor,
        ("Constant", "value_float") => Expect::Float,
        ("Constant", "value_floats") => Expect::Floats,
        ("Constant", "value_int") => Expect::Int,
        ("Constant", "value_ints") => Expect::Ints,
        _ => return None,
    })
}

fn check_attribute(op: &str, a: &pb::AttributeProto, opset: i64) -> Result<(), String> {
    if !a.ref_attr_name.is_empty() {
        return Err("references to function attributes are not supported".to_owned());
    }
    let ty = AttributeType::try_from(a.r#type).unwrap_or(AttributeType::Undefined);
    // Only the field of the declared type may hold data (ONNX's checker rule): a reader that
    // trusts the type and one that trusts the field would see different values.
    let fields = [
        ("f", a.f != 0.0, AttributeType::Float),
        ("i", a.i != 0, AttributeType::Int),
        ("s", !a.s.is_empty(), AttributeType::String),
        ("t", a.t.is_some(), AttributeType::Tensor),
        ("g", a.g.is_some(), AttributeType::Graph),
        (
            "sparse_tensor",
            a.sparse_tensor.is_some(),
            AttributeType::SparseTensor,
        ),
        ("floats", !a.floats.is_empty(), AttributeType::Floats),
        ("ints", !a.ints.is_empty(), AttributeType::Ints),
        ("strings", !a.strings.is_empty(), AttributeType::Strings),
        ("tensors", !a.tensors.is_empty(), AttributeType::Tensors),
        ("graphs", !a.graphs.is_empty(), AttributeType::Graphs),
        (
            "sparse_tensors",
            !a.sparse_tensors.is_empty(),
            AttributeType::SparseTensors,
        ),
        (
            "type_protos",
            !a.type_protos.is_empty(),
            AttributeType::TypeProtos,
        ),
    ];
    if let Some((field, _, _)) = fields.iter().find(|(_, set, t)| *set && *t != ty) {
        return Err(format!(
            "type {} but data in field `{field}`",
            ty.as_str_name()
        ));
    }
    let want = match expected(op, &a.name, opset) {
        Some(e) => e,
        None if op == "Constant" => {
            return Err("Constant takes value, value_float(s) or value_int(s)".to_owned());
        }
        // Attributes the operator does not use are ignored, but must be plain values.
        None => {
            return match ty {
                AttributeType::Float
                | AttributeType::Int
                | AttributeType::String
                | AttributeType::Floats
                | AttributeType::Ints
                | AttributeType::Strings => Ok(()),
                t => Err(format!("type {} is not supported", t.as_str_name())),
            };
        }
    };
    let need = |t: AttributeType| {
        if ty == t {
            Ok(())
        } else {
            Err(format!(
                "type {} where {} is expected",
                ty.as_str_name(),
                t.as_str_name()
            ))
        }
    };
    match want {
        Expect::Int => need(AttributeType::Int),
        Expect::Float => need(AttributeType::Float),
        Expect::Floats => need(AttributeType::Floats),
        Expect::Flag => {
            need(AttributeType::Int)?;
            if a.i == 0 || a.i == 1 {
                Ok(())
            } else {
                Err(format!("value {} (0 or 1 expected)", a.i))
            }
        }
        Expect::Zero => {
            need(AttributeType::Int)?;
            if a.i == 0 {
                Ok(())
            } else {
                Err(format!("value {} is not supported (only 0)", a.i))
            }
        }
        Expect::Removed(why) => Err(format!("attribute `{}` at opset {opset}: {why}", a.name)),
        Expect::Ints => {
            need(AttributeType::Ints)?;
            if op != "Constant" && a.ints.len() > MAX_RANK {
                return Err(format!("{} axes (at most {MAX_RANK})", a.ints.len()));
            }
            Ok(())
        }
        Expect::DataType => {
            need(AttributeType::Int)?;
            match i32::try_from(a.i).ok().map(DataType::try_from) {
                Some(Ok(d)) if d != DataType::Undefined => Ok(()),
                _ => Err(format!("{} is not an ONNX data type", a.i)),
            }
        }
        Expect::Tensor => {
            need(AttributeType::Tensor)?;
            match a.t.as_ref() {
                Some(t) => check_tensor(t),
                None => Err("no tensor".to_owned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{self, tensor_f32};

    fn chain(n: usize, reverse: bool) -> pb::ModelProto {
        let mut nodes: Vec<pb::NodeProto> = (0..n)
            .map(|i| {
                let input = if i == 0 {
                    "events".to_owned()
                } else {
                    format!("v{}", i - 1)
                };
                let out = if i + 1 == n {
                    "score".to_owned()
                } else {
                    format!("v{i}")
                };
                onnx::node("Neg", &format!("n{i}"), &[&input], &[&out], vec![])
            })
            .collect();
        if reverse {
            nodes.reverse();
        }
        let graph = pb::GraphProto {
            node: nodes,
            input: vec![onnx::value_info_f32("events", &[1])],
            output: vec![onnx::value_info_f32("score", &[])],
            ..Default::default()
        };
        onnx::model(graph, &[])
    }

    #[test]
    fn topological_order_of_a_reversed_chain() {
        assert_eq!(validate(&chain(5, false)).unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(validate(&chain(5, true)).unwrap(), vec![4, 3, 2, 1, 0]);
    }

    #[test]
    fn cycles_and_dangling_inputs_name_the_node() {
        let mut m = chain(3, false);
        let g = m.graph.as_mut().unwrap();
        g.node[0].input = vec!["v1".into()];
        let p = validate(&m).unwrap_err();
        assert_eq!(p.node.as_deref(), Some("n0"));
        assert!(p.message.contains("cycle"), "{p:?}");
        let g = m.graph.as_mut().unwrap();
        g.node[0].input = vec!["nowhere".into()];
        let p = validate(&m).unwrap_err();
        assert_eq!(p.node.as_deref(), Some("n0"));
        assert!(p.message.contains("\"nowhere\""), "{p:?}");
    }

    #[test]
    fn tensor_storage() {
        let good = tensor_f32("w", &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(check_tensor(&good), Ok(()));
        let mut t = good.clone();
        t.dims = vec![2, 3];
        assert!(
            check_tensor(&t)
                .unwrap_err()
                .contains("16 bytes of raw data")
        );
        let mut t = good.clone();
        t.dims = vec![i64::MAX, 2];
        assert!(check_tensor(&t).unwrap_err().contains("limit"));
        let mut t = good.clone();
        t.dims = vec![-1];
        assert!(check_tensor(&t).unwrap_err().contains("negative"));
        let mut t = good.clone();
        t.float_data = vec![1.0; 4];
        assert!(check_tensor(&t).unwrap_err().contains("several fields"));
        let mut t = good.clone();
        t.data_type = DataType::String as i32;
        t.raw_data.clear();
        t.string_data = vec![b"a".to_vec(); 4];
        assert!(check_tensor(&t).unwrap_err().contains("STRING"));
        let mut t = good;
        t.raw_data.clear();
        t.int64_data = vec![1; 4];
        assert!(check_tensor(&t).unwrap_err().contains("int64_data"));
    }
}
