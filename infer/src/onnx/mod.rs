//! The ONNX file format: prost message types and small builders for writing bead models.
//!
//! The trainer's exporter uses these to write models; the loader uses [`decode_model`].
//!
//! ```
//! use bead_infer::onnx::{self, pb};
//! let w = onnx::tensor_f32("w", &[2, 1], &[0.5, -1.0]);
//! let mm = onnx::node("MatMul", "mm", &["events", "w"], &["y"], vec![]);
//! let red = onnx::node("ReduceSum", "sum", &["y", "axes"], &["score"],
//!                      vec![onnx::attr_int("keepdims", 0)]);
//! let graph = pb::GraphProto {
//!     name: "example".into(),
//!     node: vec![mm, red],
//!     initializer: vec![w, onnx::tensor_i64("axes", &[1], &[1])],
//!     input: vec![onnx::value_info_f32("events", &[2])],
//!     output: vec![onnx::value_info_f32("score", &[])],
//!     ..Default::default()
//! };
//! let model = onnx::model(graph, &[("bead", "{}")]);
//! let bytes = onnx::encode_model(&model);
//! assert_eq!(onnx::decode_model(&bytes).unwrap(), model);
//! ```

pub mod pb;

use pb::attribute_proto::AttributeType;
use pb::tensor_proto::DataType;
use prost::Message;

/// ONNX IR version written by [`model`].
pub const IR_VERSION: i64 = 8;
/// Default-domain opset written by [`model`].
pub const OPSET: i64 = 17;
/// Name of the symbolic batch dimension.
pub const BATCH_DIM: &str = "N";
/// `metadata_props` key holding the JSON [`ModelInfo`](crate::ModelInfo).
pub const METADATA_KEY: &str = "bead";

/// A float32 initializer (data stored little-endian in `raw_data`).
pub fn tensor_f32(name: &str, dims: &[i64], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A float16 initializer made from float32 values (rounded to nearest).
pub fn tensor_f16(name: &str, dims: &[i64], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::Float16 as i32,
        raw_data: values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes())
            .collect(),
        ..Default::default()
    }
}

/// An int64 initializer (indices, shapes, axes).
pub fn tensor_i64(name: &str, dims: &[i64], values: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::Int64 as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A node in the default domain.
pub fn node(
    op_type: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attributes: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op_type.to_owned(),
        name: name.to_owned(),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: outputs.iter().map(|s| (*s).to_owned()).collect(),
        attribute: attributes,
        ..Default::default()
    }
}

/// An integer attribute.
pub fn attr_int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

/// An integer-list attribute.
pub fn attr_ints(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// A float attribute.
pub fn attr_float(name: &str, value: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Float as i32,
        f: value,
        ..Default::default()
    }
}

/// A tensor attribute (for `Constant`).
pub fn attr_tensor(name: &str, value: pb::TensorProto) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Tensor as i32,
        t: Some(value),
        ..Default::default()
    }
}

/// A float32 value info of shape `[N, dims...]`, `N` being the symbolic batch dimension.
pub fn value_info_f32(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let batch = Dimension {
        value: Some(Value::DimParam(BATCH_DIM.to_owned())),
        ..Default::default()
    };
    let rest = dims.iter().map(|d| Dimension {
        value: Some(Value::DimValue(*d)),
        ..Default::default()
    });
    pb::ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: std::iter::once(batch).chain(rest).collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A model with IR version [`IR_VERSION`], opset [`OPSET`] and the given metadata.
pub fn model(graph: pb::GraphProto, metadata: &[(&str, &str)]) -> pb::ModelProto {
    pb::ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "bead".to_owned(),
        producer_version: env!("CARGO_PKG_VERSION").to_owned(),
        graph: Some(graph),
        metadata_props: metadata
            .iter()
            .map(|(k, v)| pb::StringStringEntryProto {
                key: (*k).to_owned(),
                value: (*v).to_owned(),
            })
            .collect(),
        ..Default::default()
    }
}

/// Serializes a model to ONNX bytes.
pub fn encode_model(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Parses ONNX bytes (no validation beyond the protobuf wire format).
pub fn decode_model(bytes: &[u8]) -> Result<pb::ModelProto, prost::DecodeError> {
    pb::ModelProto::decode(bytes)
}
