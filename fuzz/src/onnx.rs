//! Protobuf-aware mutations of ONNX models: the model is decoded, one field that the loaders
//! read is changed (dimensions, counts, attribute integers, names, types, node order, input
//! lists), and the model is encoded again. Inputs that do not decode fall back to byte
//! mutations.

use bead_infer::onnx::{self, pb};
use bead_testkit::Rng;
use pb::tensor_shape_proto::dimension::Value as Dim;

use crate::bytes::{below, interesting};

/// Operators to swap in besides the supported ones ([`onnx::SUPPORTED_OPS`]): a few that are
/// not, so that refusals are exercised too.
const UNSUPPORTED_OPS: &[&str] = &["Softmax", "LSTM", "If"];

/// An operator to swap in: supported or not.
fn some_op(rng: &mut Rng) -> &'static str {
    let n = onnx::SUPPORTED_OPS.len() + UNSUPPORTED_OPS.len();
    let k = below(rng, n);
    onnx::SUPPORTED_OPS
        .get(k)
        .or_else(|| UNSUPPORTED_OPS.get(k - onnx::SUPPORTED_OPS.len()))
        .copied()
        .unwrap_or("Identity")
}

/// Every ONNX data type number, and a few that are none.
fn data_type(rng: &mut Rng) -> i32 {
    match below(rng, 5) {
        0 => 1,
        1 => 7,
        _ => [0, 2, 3, 6, 8, 9, 10, 11, 16, 17, 21, 23, 99, -1][below(rng, 14)],
    }
}

/// A name used somewhere in the graph (or a new one).
fn some_name(rng: &mut Rng, g: &pb::GraphProto) -> String {
    let names: Vec<&String> = g
        .node
        .iter()
        .flat_map(|n| n.output.iter())
        .chain(g.initializer.iter().map(|t| &t.name))
        .chain(g.input.iter().map(|i| &i.name))
        .collect();
    match below(rng, 8) {
        0 => String::new(),
        1 => format!("fresh{}", below(rng, 4)),
        _ => names
            .get(below(rng, names.len()))
            .map(|s| (*s).clone())
            .unwrap_or_default(),
    }
}

fn mutate_dims(rng: &mut Rng, dims: &mut Vec<i64>) {
    match below(rng, 4) {
        0 => dims.push(interesting(rng)),
        1 if !dims.is_empty() => {
            dims.remove(below(rng, dims.len()));
        }
        _ => {
            let i = below(rng, dims.len());
            if let Some(d) = dims.get_mut(i) {
                *d = interesting(rng);
            } else {
                dims.push(interesting(rng));
            }
        }
    }
}

fn mutate_tensor(rng: &mut Rng, t: &mut pb::TensorProto) {
    match below(rng, 7) {
        0 | 1 => mutate_dims(rng, &mut t.dims),
        2 => t.data_type = data_type(rng),
        3 => {
            let keep = below(rng, t.raw_data.len() + 1);
            t.raw_data.truncate(keep);
        }
        4 => {
            // Move the values into a typed field (maybe the wrong one).
            let raw = std::mem::take(&mut t.raw_data);
            match below(rng, 4) {
                0 => t.float_data = raw.chunks(4).map(|_| rng.uniform()).collect(),
                1 => t.int64_data = raw.chunks(8).map(|_| interesting(rng)).collect(),
                2 => t.string_data = raw.chunks(4).map(<[u8]>::to_vec).collect(),
                _ => t.int32_data = raw.chunks(4).map(|_| interesting(rng) as i32).collect(),
            }
        }
        5 => t.data_location = Some(below(rng, 3) as i32),
        _ => {
            // Overwrite an 8-byte value (an index, an axis, a shape entry) with an extreme one.
            let n = t.raw_data.len() / 8;
            if n > 0 {
                let i = below(rng, n) * 8;
                if let Some(d) = t.raw_data.get_mut(i..i + 8) {
                    d.copy_from_slice(&interesting(rng).to_le_bytes());
                }
            }
        }
    }
}

fn mutate_attribute(rng: &mut Rng, a: &mut pb::AttributeProto) {
    match below(rng, 6) {
        0 | 1 => a.i = interesting(rng),
        2 => {
            if a.ints.is_empty() || below(rng, 2) == 0 {
                a.ints.push(interesting(rng));
            } else {
                let i = below(rng, a.ints.len());
                if let Some(v) = a.ints.get_mut(i) {
                    *v = interesting(rng);
                }
            }
        }
        3 => a.r#type = below(rng, 16) as i32,
        4 => match a.t.as_mut() {
            Some(t) => mutate_tensor(rng, t),
            None => a.f = [f32::NAN, f32::INFINITY, 0.0, -1.0, 1e30][below(rng, 5)],
        },
        _ => {
            a.name =
                ["axis", "axes", "to", "keepdims", "transB", "value", "x"][below(rng, 7)].into()
        }
    }
}

fn mutate_node(rng: &mut Rng, g: &mut pb::GraphProto, i: usize) {
    let name = some_name(rng, g);
    let Some(n) = g.node.get_mut(i) else { return };
    match below(rng, 9) {
        0 => n.op_type = some_op(rng).to_owned(),
        1 if !n.input.is_empty() => {
            // Many copies of one input (the nested-Concat allocation bomb).
            let j = below(rng, n.input.len());
            let copies = [2, 10, 100, 1000][below(rng, 4)];
            if let Some(x) = n.input.get(j).cloned() {
                n.input.extend(std::iter::repeat_n(x, copies));
            }
        }
        2 if !n.input.is_empty() => {
            n.input.remove(below(rng, n.input.len()));
        }
        3 => {
            let j = below(rng, n.input.len() + 1);
            if let Some(x) = n.input.get_mut(j) {
                *x = name;
            } else {
                n.input.push(name);
            }
        }
        4 => {
            let j = below(rng, n.output.len() + 1);
            if let Some(x) = n.output.get_mut(j) {
                *x = name;
            } else {
                n.output.push(name);
            }
        }
        5 | 6 if !n.attribute.is_empty() => {
            let j = below(rng, n.attribute.len());
            if let Some(a) = n.attribute.get_mut(j) {
                mutate_attribute(rng, a);
            }
        }
        7 => n.attribute.push(pb::AttributeProto {
            name: ["axis", "axes", "to", "keepdims", "transA", "value_ints"][below(rng, 6)].into(),
            r#type: below(rng, 8) as i32,
            i: interesting(rng),
            ints: vec![interesting(rng)],
            ..Default::default()
        }),
        _ => n.domain = ["", "ai.onnx", "com.microsoft"][below(rng, 3)].into(),
    }
}

fn mutate_value_info(rng: &mut Rng, vi: &mut pb::ValueInfoProto) {
    let Some(pb::type_proto::Value::TensorType(t)) =
        vi.r#type.as_mut().and_then(|t| t.value.as_mut())
    else {
        vi.r#type = None;
        return;
    };
    match below(rng, 4) {
        0 => t.elem_type = data_type(rng),
        1 => t.shape = None,
        _ => {
            let shape = t.shape.get_or_insert_with(Default::default);
            let i = below(rng, shape.dim.len() + 1);
            let value = match below(rng, 3) {
                0 => Dim::DimParam(["N", "", "2*N", "N+", "((", "batch"][below(rng, 6)].into()),
                _ => Dim::DimValue(interesting(rng)),
            };
            match shape.dim.get_mut(i) {
                Some(d) => d.value = Some(value),
                None => shape.dim.push(pb::tensor_shape_proto::Dimension {
                    value: Some(value),
                    ..Default::default()
                }),
            }
        }
    }
}

/// Nested `Concat` nodes, each of `copies` copies of the previous value: a few bytes that
/// describe a huge tensor.
fn concat_tower(rng: &mut Rng, g: &mut pb::GraphProto) {
    let mut x = some_name(rng, g);
    let copies = [2, 10, 100][below(rng, 3)];
    for level in 0..1 + below(rng, 6) {
        let out = format!("tower{level}");
        let inputs = vec![x.as_str(); copies];
        let axis = onnx::attr_int("axis", [-1, 1, 0][below(rng, 3)]);
        g.node
            .push(onnx::node("Concat", &out, &inputs, &[&out], vec![axis]));
        x = out;
    }
    if let Some(score) = g
        .node
        .iter_mut()
        .rev()
        .find(|n| n.output.iter().any(|o| o == "score"))
        && let Some(first) = score.input.first_mut()
    {
        *first = x;
    }
}

/// Applies one structure-aware mutation to a decoded model.
pub fn mutate_model(rng: &mut Rng, m: &mut pb::ModelProto) {
    if below(rng, 16) == 0 {
        match below(rng, 4) {
            0 => m.ir_version = interesting(rng),
            1 => {
                if let Some(o) = m.opset_import.first_mut() {
                    o.version = interesting(rng);
                }
            }
            2 => {
                // Garble the metadata JSON.
                if let Some(e) = m.metadata_props.first_mut() {
                    let mut v = e.value.clone().into_bytes();
                    crate::bytes::mutate(rng, &mut v, b"{\"features\": []}", false);
                    e.value = String::from_utf8_lossy(&v).into_owned();
                }
            }
            _ => m.graph = None,
        }
        return;
    }
    let Some(g) = m.graph.as_mut() else { return };
    match below(rng, 16) {
        0..=5 => {
            let i = below(rng, g.node.len());
            mutate_node(rng, g, i);
        }
        6 | 7 => {
            let i = below(rng, g.initializer.len());
            if let Some(t) = g.initializer.get_mut(i) {
                mutate_tensor(rng, t);
            }
        }
        8 => g.node.reverse(),
        9 => {
            if !g.node.is_empty() {
                let i = below(rng, g.node.len());
                if below(rng, 2) == 0 {
                    g.node.remove(i);
                } else if let Some(n) = g.node.get(i).cloned() {
                    g.node.push(n);
                }
            }
        }
        10 => {
            let i = below(rng, g.output.len() + 1);
            match g.output.get_mut(i) {
                Some(o) if below(rng, 2) == 0 => mutate_value_info(rng, o),
                Some(o) => o.name = some_name_static(rng),
                None => g
                    .output
                    .push(onnx::value_info_f32(&some_name_static(rng), &[])),
            }
        }
        11 => {
            let i = below(rng, g.input.len());
            if let Some(vi) = g.input.get_mut(i) {
                mutate_value_info(rng, vi);
            }
        }
        12 => concat_tower(rng, g),
        13 => {
            // A STRING (or other) initializer, maybe used by a node.
            let name = format!("odd{}", below(rng, 3));
            g.initializer.push(pb::TensorProto {
                name: name.clone(),
                dims: vec![2],
                data_type: data_type(rng),
                string_data: vec![b"a".to_vec(), b"b".to_vec()],
                ..Default::default()
            });
            let i = below(rng, g.node.len());
            if let Some(n) = g.node.get_mut(i) {
                n.input.push(name);
            }
        }
        14 => g.value_info.push(onnx::value_info_f32(
            &some_name(rng, g),
            &[interesting(rng)],
        )),
        _ => {
            // Swap two nodes.
            let (a, b) = (below(rng, g.node.len()), below(rng, g.node.len()));
            if a < g.node.len() && b < g.node.len() {
                g.node.swap(a, b);
            }
        }
    }
}

fn some_name_static(rng: &mut Rng) -> String {
    ["score", "mu", "extra", "events", ""][below(rng, 5)].to_owned()
}

/// One mutation of ONNX bytes: structure-aware when they decode (three times in four), else
/// byte-level.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    if below(rng, 4) != 0
        && let Ok(mut m) = onnx::decode_model(data)
    {
        mutate_model(rng, &mut m);
        *data = onnx::encode_model(&m);
        return;
    }
    crate::bytes::mutate(rng, data, other, false);
}
