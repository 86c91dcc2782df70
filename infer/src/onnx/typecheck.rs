//! Operator arity and element types, checked in topological order before compiling.
//!
//! The runtime computes every value as `f32`, so without this check it would run graphs that
//! ONNX (and tract) reject: an `Add` of a boolean and a float, a `Cast` with 101 inputs, a
//! `score` declared float but computed as int64. The rules are ONNX's for the bead operators
//! (types `T` per operator, same-type inputs, boolean comparison outputs).

use std::collections::HashMap;

use super::pb;
use super::validate::Origin;
use crate::plan::{CompileError, node_label};
use pb::tensor_proto::DataType;

/// How many inputs an operator takes: at least `min`, at most `max` (`None`: any number);
/// inputs from `min` on may be left empty (optional).
fn arity(op: &str, opset: i64) -> (usize, Option<usize>) {
    match op {
        "ReduceMin" | "ReduceMax" | "ReduceMean" | "ReduceSumSquare" if opset < 18 => (1, Some(1)),
        "ReduceSum" if opset < 13 => (1, Some(1)),
        "Squeeze" | "Unsqueeze" if opset < 13 => (1, Some(1)),
        "Clip" if opset < 11 => (1, Some(1)),
        "Dropout" if opset < 12 => (1, Some(1)),
        "Slice" if opset < 10 => (1, Some(1)),
        "Constant" => (0, Some(0)),
        "Identity" | "Cast" | "Neg" | "Abs" | "Log" | "Exp" | "Sqrt" | "Sin" | "Cos" | "Tanh"
        | "Sigmoid" | "Relu" | "LeakyRelu" | "Elu" | "Softplus" | "Not" | "Flatten"
        | "ConstantOfShape" => (1, Some(1)),
        "Add" | "Sub" | "Mul" | "Div" | "Greater" | "Less" | "Equal" | "Pow" | "MatMul"
        | "Gather" | "Reshape" | "Unsqueeze" => (2, Some(2)),
        "Where" => (3, Some(3)),
        "BatchNormalization" => (5, Some(5)),
        "Slice" => (3, Some(5)),
        "Gemm" => (2, Some(3)),
        "Clip" | "Dropout" => (1, Some(3)),
        "ReduceSum" | "ReduceMin" | "ReduceMax" | "ReduceMean" | "ReduceSumSquare" | "Squeeze" => {
            (1, Some(2))
        }
        // Min, Max, Concat: variadic, none optional.
        _ => (1, None),
    }
}

const FLOAT: i32 = DataType::Float as i32;
const INT64: i32 = DataType::Int64 as i32;
const BOOL: i32 = DataType::Bool as i32;

fn is_float(t: i32) -> bool {
    [
        DataType::Float,
        DataType::Float16,
        DataType::Double,
        DataType::Bfloat16,
    ]
    .iter()
    .any(|d| *d as i32 == t)
}

fn is_numeric(t: i32) -> bool {
    is_float(t)
        || [
            DataType::Int8,
            DataType::Int16,
            DataType::Int32,
            DataType::Int64,
            DataType::Uint8,
            DataType::Uint16,
            DataType::Uint32,
            DataType::Uint64,
        ]
        .iter()
        .any(|d| *d as i32 == t)
}

pub(super) fn type_name(data_type: i32) -> String {
    DataType::try_from(data_type).map_or_else(
        |_| format!("unknown ({data_type})"),
        |d| d.as_str_name().to_owned(),
    )
}

/// The element type of every value, inferred node by node in `order`; errors name the node.
pub(super) fn infer_types<'g>(
    graph: &'g pb::GraphProto,
    origin: &HashMap<&'g str, Origin>,
    order: &[usize],
    opset: i64,
) -> Result<HashMap<&'g str, i32>, CompileError> {
    let mut types: HashMap<&str, i32> = HashMap::with_capacity(origin.len());
    for t in &graph.initializer {
        types.insert(&t.name, t.data_type);
    }
    for vi in &graph.input {
        // `validate` accepted only float inputs (or initializers listed as inputs).
        types.entry(&vi.name).or_insert(FLOAT);
    }
    for &i in order {
        let Some(node) = graph.node.get(i) else {
            continue;
        };
        let out = node_type(node, &types, opset).map_err(|message| CompileError {
            node: Some(node_label(node, i)),
            message,
        })?;
        for o in &node.output {
            types.insert(o, out);
        }
    }
    Ok(types)
}

/// The output type of `node`, given the types of its inputs.
fn node_type(node: &pb::NodeProto, types: &HashMap<&str, i32>, opset: i64) -> Result<i32, String> {
    let op = node.op_type.as_str();
    let (min, max) = arity(op, opset);
    let n = node.input.len();
    if n < min || max.is_some_and(|m| n > m) {
        let want = match max {
            Some(1) if min == 1 => "one input".to_owned(),
            Some(m) if m == min => format!("{min} inputs"),
            Some(m) => format!("{min} to {m} inputs"),
            None => format!("at least {min} input"),
        };
        return Err(format!("{op} takes {want}, not {n}"));
    }
    let optional_from = if max.is_some() { min } else { n };
    let mut input_types = Vec::with_capacity(n);
    for (k, name) in node.input.iter().enumerate() {
        if name.is_empty() {
            if k < optional_from {
                return Err(format!("input #{k} of {op} is required but empty"));
            }
            input_types.push(None);
        } else {
            let t = types.get(name.as_str()).copied().ok_or_else(|| {
                format!("input {name:?} has no known type (not computed before this node)")
            })?;
            input_types.push(Some(t));
        }
    }
    let first = input_types.first().copied().flatten().unwrap_or(FLOAT);
    let same = |ts: &[Option<i32>]| -> Result<i32, String> {
        let mut it = ts.iter().flatten();
        let t = it.next().copied().unwrap_or(FLOAT);
        match it.find(|u| **u != t) {
            None => Ok(t),
            Some(u) => Err(format!(
                "{op} of {} and {}: inputs must have the same type",
                type_name(t),
                type_name(*u)
            )),
        }
    };
    let need = |ok: bool, what: &str, t: i32| {
        if ok {
            Ok(())
        } else {
            Err(format!("{op} needs {what} inputs, not {}", type_name(t)))
        }
    };
    let second = input_types.get(1).copied().flatten();
    match op {
        "Constant" => Ok(constant_type(node)),
        "Identity" => Ok(first),
        "Cast" => Ok(node
            .attribute
            .iter()
            .find(|a| a.name == "to")
            .and_then(|a| i32::try_from(a.i).ok())
            .unwrap_or(0)),
        "Neg" | "Abs" | "Relu" | "Clip" => {
            need(is_numeric(first), "numeric", first).map(|()| first)
        }
        "Log" | "Exp" | "Sqrt" | "Sin" | "Cos" | "Tanh" | "Sigmoid" | "LeakyRelu" | "Elu"
        | "Softplus" | "BatchNormalization" => {
            need(is_float(first), "floating-point", first).map(|()| first)
        }
        "Pow" => need(is_numeric(first), "numeric", first).map(|()| first),
        "Equal" => same(&input_types).map(|_| BOOL),
        "Not" => need(first == BOOL, "boolean", first).map(|()| BOOL),
        "Where" => {
            let cond = first;
            need(cond == BOOL, "a boolean condition and two value", cond)?;
            same(input_types.get(1..).unwrap_or_default())
        }
        "Flatten" | "Squeeze" | "Unsqueeze" | "Slice" | "Dropout" => Ok(first),
        "ConstantOfShape" => Ok(node
            .attribute
            .iter()
            .find(|a| a.name == "value")
            .and_then(|a| a.t.as_ref())
            .map_or(FLOAT, |t| t.data_type)),
        "Add" | "Sub" | "Mul" | "Div" | "Min" | "Max" | "MatMul" | "Gemm" => {
            let t = same(&input_types)?;
            need(is_numeric(t), "numeric", t).map(|()| t)
        }
        "Greater" | "Less" => {
            let t = same(&input_types)?;
            need(is_numeric(t), "numeric", t).map(|()| BOOL)
        }
        "Concat" => same(&input_types),
        "Gather" => {
            let idx = second.unwrap_or(INT64);
            if idx == INT64 || idx == DataType::Int32 as i32 {
                Ok(first)
            } else {
                Err(format!("Gather indices of type {}", type_name(idx)))
            }
        }
        "Reshape" | "ReduceSum" | "ReduceMin" | "ReduceMax" | "ReduceMean" | "ReduceSumSquare" => {
            if op != "Reshape" {
                need(is_numeric(first), "numeric", first)?;
            }
            match second {
                Some(t) if t != INT64 => Err(format!(
                    "input #1 of {op} (shape or axes) must be INT64, not {}",
                    type_name(t)
                )),
                _ => Ok(first),
            }
        }
        // Unsupported operators were refused before validation.
        _ => Err(format!("operator {op} is not supported")),
    }
}

fn constant_type(node: &pb::NodeProto) -> i32 {
    match node.attribute.first() {
        Some(a) if a.name == "value" => a.t.as_ref().map_or(0, |t| t.data_type),
        Some(a) if a.name == "value_int" || a.name == "value_ints" => INT64,
        _ => FLOAT,
    }
}

/// A declared element type (0: not declared) against the inferred one.
pub(super) fn check_declared(declared: i32, inferred: i32) -> Result<(), String> {
    if declared == 0 || declared == inferred {
        Ok(())
    } else {
        Err(format!(
            "declared {} but computed as {}",
            type_name(declared),
            type_name(inferred)
        ))
    }
}
