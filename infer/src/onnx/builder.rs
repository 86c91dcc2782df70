//! [`GraphBuilder`]: writes a bead graph node by node with unique names.

use std::collections::{HashMap, HashSet};

use super::{EVENTS, MU, SCORE, pb};
use crate::contract::{ModelMetadata, WeightPrecision};
use pb::tensor_proto::DataType;

/// Builds a bead ONNX graph: the `events` input, initializers and nodes in the order they are
/// added, named outputs, and finally the model with its [`ModelMetadata`].
///
/// Every initializer and node output gets a name of its own: the stem asked for if it is
/// still free, else the stem with a numeric suffix. A node is named after its output. The
/// contract names (`events`, `score`, `mu`) are never handed out as fresh names, so
/// [`output`](Self::output) can always use them.
///
/// ```
/// use bead_infer::ModelMetadata;
/// use bead_infer::onnx::{GraphBuilder, attr_int};
///
/// let mut g = GraphBuilder::new("example", 2);
/// let w = g.constant("w", &[2, 1], &[0.5, -1.0]);
/// let y = g.op("MatMul", &[g.events(), &w], vec![]);
/// let s = g.reduce_sum(&y, 1, false);
/// g.output("score", &s, &[]);
/// let meta = ModelMetadata::new(vec!["a".into(), "b".into()]);
/// let bytes = bead_infer::onnx::encode_model(&g.into_model(&meta));
/// let model = bead_infer::Model::from_bytes(&bytes, "example").unwrap();
/// assert_eq!(model.session().score(&[2.0, 1.0]).unwrap(), 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct GraphBuilder {
    name: String,
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<pb::ValueInfoProto>,
    used: HashSet<String>,
    /// The last suffix handed out per stem: names are never freed, so the search for the next
    /// free one starts there (linear, not quadratic, in the number of nodes).
    suffix: HashMap<String, usize>,
    weights: WeightPrecision,
}

impl GraphBuilder {
    /// An empty graph called `name` whose input `events` has `num_features` columns.
    pub fn new(name: &str, num_features: usize) -> Self {
        GraphBuilder {
            name: name.to_owned(),
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: vec![super::value_info_f32(EVENTS, &[dim(num_features)])],
            outputs: Vec::new(),
            used: [EVENTS, SCORE, MU].into_iter().map(str::to_owned).collect(),
            suffix: HashMap::new(),
            weights: WeightPrecision::Float32,
        }
    }

    /// Stores the values given to [`weight`](Self::weight) with this precision (float32 by
    /// default).
    pub fn with_weight_precision(mut self, weights: WeightPrecision) -> Self {
        self.weights = weights;
        self
    }

    /// The name of the graph input (`events`).
    pub fn events(&self) -> &'static str {
        EVENTS
    }

    /// A name not used yet in this graph: `stem`, or `stem_2`, `stem_3`, ...
    pub fn fresh(&mut self, stem: &str) -> String {
        let mut k = self.suffix.get(stem).copied().unwrap_or(1);
        let mut name = if k == 1 {
            stem.to_owned()
        } else {
            format!("{stem}_{k}")
        };
        while self.used.contains(&name) {
            k += 1;
            name = format!("{stem}_{k}");
        }
        self.suffix.insert(stem.to_owned(), k);
        self.used.insert(name.clone());
        name
    }

    /// A float32 initializer; returns its name.
    pub fn constant(&mut self, stem: &str, dims: &[i64], values: &[f32]) -> String {
        let name = self.fresh(stem);
        self.initializers
            .push(super::tensor_f32(&name, dims, values));
        name
    }

    /// A float16 initializer (values rounded to nearest) and the `Cast` to float32 that
    /// reads it; returns the name of the float32 value.
    pub fn constant_f16(&mut self, stem: &str, dims: &[i64], values: &[f32]) -> String {
        let half = self.fresh(&format!("{stem}_f16"));
        self.initializers
            .push(super::tensor_f16(&half, dims, values));
        self.cast_to_float(&half, stem)
    }

    /// A network weight, stored as the builder's [`WeightPrecision`] says: a float32
    /// initializer, or a float16 one cast to float32 in the graph. Returns the float32 value.
    pub fn weight(&mut self, stem: &str, dims: &[i64], values: &[f32]) -> String {
        match self.weights {
            WeightPrecision::Float32 => self.constant(stem, dims, values),
            WeightPrecision::Float16 => self.constant_f16(stem, dims, values),
        }
    }

    /// An int64 initializer (indices, axes, shapes); returns its name.
    pub fn constant_i64(&mut self, stem: &str, dims: &[i64], values: &[i64]) -> String {
        let name = self.fresh(stem);
        self.initializers
            .push(super::tensor_i64(&name, dims, values));
        name
    }

    /// A node with one output, named after its operator (lowercase); returns the output.
    pub fn op(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<pb::AttributeProto>,
    ) -> String {
        self.op_named(op_type, &op_type.to_lowercase(), inputs, attributes)
    }

    /// A node with one output, node and output named after `stem`; returns the output.
    pub fn op_named(
        &mut self,
        op_type: &str,
        stem: &str,
        inputs: &[&str],
        attributes: Vec<pb::AttributeProto>,
    ) -> String {
        let out = self.fresh(stem);
        self.nodes
            .push(super::node(op_type, &out, inputs, &[&out], attributes));
        out
    }

    /// `Cast` of `x` to float32, output named after `stem`.
    pub fn cast_to_float(&mut self, x: &str, stem: &str) -> String {
        let to = super::attr_int("to", DataType::Float as i64);
        self.op_named("Cast", stem, &[x], vec![to])
    }

    /// `Gather` of the columns `columns` of the per-event rows of `x` (axis 1).
    pub fn gather_columns(&mut self, x: &str, columns: &[usize]) -> String {
        let idx: Vec<i64> = columns.iter().map(|&c| c as i64).collect();
        let idx = self.constant_i64("idx", &[dim(idx.len())], &idx);
        self.op("Gather", &[x, &idx], vec![super::attr_int("axis", 1)])
    }

    /// `ReduceSum` of `x` over `axis` (axes as an input, opset 13 and later).
    pub fn reduce_sum(&mut self, x: &str, axis: i64, keepdims: bool) -> String {
        let axes = self.constant_i64("axes", &[1], &[axis]);
        let keepdims = super::attr_int("keepdims", i64::from(keepdims));
        self.op("ReduceSum", &[x, &axes], vec![keepdims])
    }

    /// Exposes `value` as the graph output `name` (float32, per-event shape `dims`) through an
    /// `Identity` node named `name`.
    pub fn output(&mut self, name: &str, value: &str, dims: &[i64]) {
        self.used.insert(name.to_owned());
        self.nodes
            .push(super::node("Identity", name, &[value], &[name], vec![]));
        self.outputs.push(super::value_info_f32(name, dims));
    }

    /// The graph.
    pub fn build(self) -> pb::GraphProto {
        pb::GraphProto {
            name: self.name,
            node: self.nodes,
            initializer: self.initializers,
            input: self.inputs,
            output: self.outputs,
            ..Default::default()
        }
    }

    /// The model (see [`model`](super::model)) with `metadata` as its `bead` entry.
    pub fn into_model(self, metadata: &ModelMetadata) -> pb::ModelProto {
        let mut model = super::model(self.build(), &[]);
        metadata.write(&mut model);
        model
    }
}

/// A dimension as ONNX stores it (sizes of in-memory tensors always fit in `i64`).
fn dim(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
