//! `bead import`: turns a float model exported by another tool (PyTorch, tf2onnx,
//! hls4ml/QONNX) into a bead model file.
//!
//! The graph keeps its nodes and weights. Import chooses its input and score output, renames
//! them to the contract's `events` and `score` (a `[N, 1]` output is reshaped to `[N]`),
//! makes a fixed batch dimension symbolic, checks that the feature list matches the input's
//! width, and writes the `bead` metadata ([`ModelMetadata`]) so that everything that takes a
//! bead model takes the file. Finally the result is loaded with
//! [`Model::from_bytes`](crate::Model::from_bytes), which checks that the runtime can run every
//! node (validated and compiled once), so a file that import writes is one the runtime loads.
//!
//! ```no_run
//! use bead_infer::{ImportOptions, import_file, parse_features};
//! let opts = ImportOptions::new(parse_features("MET_pt,jet1_pt,jet1_eta")?);
//! let report = import_file("encoder.onnx".as_ref(), "model.onnx".as_ref(), &opts)?;
//! println!("{report}");
//! # Ok::<(), bead_infer::ImportError>(())
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use super::pb;
use crate::contract::ModelMetadata;
use crate::error::{LoadError, UnsupportedOp};
use crate::plan;
use pb::tensor_shape_proto::{Dimension, dimension::Value as Dim};

/// `model` field of the metadata of imported files.
pub const IMPORTED_MODEL_KIND: &str = "imported";

/// What `bead import` needs besides the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Event columns feeding the graph input, in its column order.
    pub features: Vec<String>,
    /// Name recorded as the score (default: the graph output's name).
    pub score_name: Option<String>,
    /// Graph input to feed (needed when the graph has several).
    pub input: Option<String>,
    /// Graph output that is the score (needed when the graph has several).
    pub output: Option<String>,
}

impl ImportOptions {
    /// Options for these features, everything else chosen automatically.
    pub fn new(features: Vec<String>) -> Self {
        ImportOptions {
            features,
            ..Default::default()
        }
    }
}

/// What import did to the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// The graph input fed with the events (now `events`).
    pub input: String,
    /// The graph output used as the score (now `score`).
    pub output: String,
    /// Number of features.
    pub num_features: usize,
    /// Number of graph nodes.
    pub nodes: usize,
    /// Every change made besides renaming and the metadata, in words.
    pub changes: Vec<String>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "input {:?} ({} features) -> `events`, output {:?} -> `score`, {} nodes",
            self.input, self.num_features, self.output, self.nodes
        )?;
        for c in &self.changes {
            write!(f, "\n  {c}")?;
        }
        Ok(())
    }
}

/// Why a model could not be imported. Messages say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The feature list is empty, has an empty or repeated name.
    #[error("feature list: {message}")]
    Features {
        /// What is wrong.
        message: String,
    },
    /// The file is not an ONNX model.
    #[error("{path}: not an ONNX model ({message})")]
    NotOnnx {
        /// File path.
        path: String,
        /// What the decoder reported.
        message: String,
    },
    /// The graph input cannot be chosen or fed.
    #[error("{path}: {message}")]
    Input {
        /// File path.
        path: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The score output cannot be chosen.
    #[error("{path}: {message}")]
    Output {
        /// File path.
        path: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The feature list does not match the input's width.
    #[error(
        "{path}: {given} features given but input {input:?} has {width} columns: list one name per input column, in column order"
    )]
    FeatureCount {
        /// File path.
        path: String,
        /// Graph input name.
        input: String,
        /// Number of names given.
        given: usize,
        /// Width of the input.
        width: usize,
    },
    /// Nodes use operators the runtime does not run.
    #[error(
        "{path}: bead cannot run {} node(s): {}\n  What to do: re-export the model without these operators (bead runs float MLPs made of {}); \
         shape computations on constants can be folded first with onnx-simplifier (`onnxsim IN.onnx OUT.onnx`)",
        ops.len(),
        crate::error::join(ops),
        plan::SUPPORTED_OPS.join(", ")
    )]
    UnsupportedOps {
        /// File path.
        path: String,
        /// Every offending node.
        ops: Vec<UnsupportedOp>,
    },
    /// A node uses a supported operator in a form the runtime does not run, or a weight is
    /// not finite.
    #[error(
        "{path}: {}{message}{}",
        node.as_ref().map(|n| format!("node {n}: ")).unwrap_or_default(),
        if node.is_some() { NODE_ADVICE } else { "" }
    )]
    Unsupported {
        /// File path.
        path: String,
        /// The node at fault, when there is one.
        node: Option<String>,
        /// What is not supported.
        message: String,
    },
    /// The imported file does not load (reported by the loader).
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// What to do when a node of a supported operator cannot be lowered.
const NODE_ADVICE: &str = "\n  What to do: export the model with a symbolic batch dimension and a fixed feature \
     dimension, as one row of features per event; simplify the graph (`onnxsim IN.onnx OUT.onnx`) so \
     that shapes and weights are constants";

fn features_err<T>(message: impl Into<String>) -> Result<T, ImportError> {
    Err(ImportError::Features {
        message: message.into(),
    })
}

/// The feature names of `--features`: comma-separated, or `@FILE` with one name per line
/// (blank lines ignored). Names are trimmed; an empty list, an empty name or a repeated name
/// is an error.
pub fn parse_features(spec: &str) -> Result<Vec<String>, ImportError> {
    let names: Vec<String> = match spec.strip_prefix('@') {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
                path: path.to_owned(),
                source,
            })?;
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        }
        None => {
            let names: Vec<String> = spec.split(',').map(|s| s.trim().to_owned()).collect();
            if let Some(i) = names.iter().position(String::is_empty) {
                return features_err(format!(
                    "empty name at position {} of {spec:?} (names are comma-separated)",
                    i + 1
                ));
            }
            names
        }
    };
    check_features(&names)?;
    Ok(names)
}

fn check_features(names: &[String]) -> Result<(), ImportError> {
    if names.is_empty() {
        return features_err("no feature names");
    }
    let mut seen = HashSet::new();
    for n in names {
        if n.is_empty() {
            return features_err("empty feature name");
        }
        if !seen.insert(n.as_str()) {
            return features_err(format!("feature {n:?} is listed twice"));
        }
    }
    Ok(())
}

/// Imports the model in `src` and writes the bead model to `dst`.
pub fn import_file(
    src: &Path,
    dst: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let name = src.display().to_string();
    let bytes = std::fs::read(src).map_err(|source| ImportError::Io {
        path: name.clone(),
        source,
    })?;
    let (out, report) = import_model(&bytes, &name, opts)?;
    std::fs::write(dst, out).map_err(|source| ImportError::Io {
        path: dst.display().to_string(),
        source,
    })?;
    Ok(report)
}

/// Imports an ONNX model given as bytes (`name` is used in messages); returns the bead
/// model's bytes.
pub fn import_model(
    bytes: &[u8],
    name: &str,
    opts: &ImportOptions,
) -> Result<(Vec<u8>, ImportReport), ImportError> {
    check_features(&opts.features)?;
    let path = name.to_owned();
    let mut model = super::decode_model(bytes).map_err(|e| ImportError::NotOnnx {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let Some(graph) = model.graph.as_mut().filter(|g| !g.node.is_empty()) else {
        return Err(ImportError::NotOnnx {
            path,
            message: "no graph nodes".to_owned(),
        });
    };
    let mut changes = Vec::new();
    let input = choose_input(graph, opts, &path, &mut changes)?;
    let output = choose_output(graph, opts, &path, &mut changes)?;
    if input == output {
        return Err(ImportError::Output {
            path,
            message: format!("output {output:?} is the input itself"),
        });
    }
    let f = fix_input_shape(graph, &input, opts.features.len(), &path, &mut changes)?;
    if f != opts.features.len() {
        return Err(ImportError::FeatureCount {
            path,
            input,
            given: opts.features.len(),
            width: f,
        });
    }
    // Free the contract's names, then give them to the input and the score.
    for reserved in [super::EVENTS, super::SCORE] {
        if reserved != input && reserved != output && value_names(graph).contains(reserved) {
            let free = unique_name(graph, &format!("{reserved}_orig"));
            rename(graph, reserved, &free);
            changes.push(format!(
                "renamed the graph's own value {reserved:?} to {free:?}"
            ));
        }
    }
    rename(graph, &input, super::EVENTS);
    fix_output(graph, &output, &mut changes)?;
    let nodes = graph.node.len();
    if model
        .metadata_props
        .iter()
        .any(|e| e.key == crate::contract::METADATA_KEY)
    {
        changes.push("replaced the file's `bead` metadata".to_owned());
    }
    let mut meta = ModelMetadata::new(opts.features.clone());
    meta.score = opts.score_name.clone().unwrap_or_else(|| output.clone());
    meta.model = IMPORTED_MODEL_KIND.to_owned();
    meta.write(&mut model);
    let out = super::encode_model(&model);
    // The loader's checks are import's: its refusals keep import's error kinds (with advice).
    crate::Model::from_bytes(&out, name).map_err(|e| match e {
        LoadError::UnsupportedOps { path, ops } => ImportError::UnsupportedOps { path, ops },
        LoadError::Invalid {
            path,
            node,
            message,
        } => ImportError::Unsupported {
            path,
            node,
            message,
        },
        e => e.into(),
    })?;
    Ok((
        out,
        ImportReport {
            input,
            output,
            num_features: f,
            nodes,
            changes,
        },
    ))
}

/// The graph input fed with the events; other inputs must be unused (they are dropped).
fn choose_input(
    graph: &mut pb::GraphProto,
    opts: &ImportOptions,
    path: &str,
    changes: &mut Vec<String>,
) -> Result<String, ImportError> {
    let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let candidates: Vec<String> = graph
        .input
        .iter()
        .filter(|i| !inits.contains(i.name.as_str()))
        .map(|i| i.name.clone())
        .collect();
    let bad = |message: String| ImportError::Input {
        path: path.to_owned(),
        message,
    };
    let chosen = choose(
        opts.input.as_ref(),
        &candidates,
        "input",
        "choose the one fed with the event features with --input",
    )
    .map_err(bad)?;
    for other in candidates.iter().filter(|c| **c != chosen) {
        if let Some(n) = graph.node.iter().find(|n| n.input.contains(other)) {
            return Err(bad(format!(
                "input {other:?} is also used (by node {}), but bead feeds one input: re-export the model with the event features as its only input",
                node_name(n)
            )));
        }
        changes.push(format!("dropped the unused input {other:?}"));
    }
    graph
        .input
        .retain(|i| i.name == chosen || inits.contains(i.name.as_str()));
    Ok(chosen)
}

/// The graph output used as the score; the others are dropped.
fn choose_output(
    graph: &mut pb::GraphProto,
    opts: &ImportOptions,
    path: &str,
    changes: &mut Vec<String>,
) -> Result<String, ImportError> {
    let names: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let bad = |message: String| ImportError::Output {
        path: path.to_owned(),
        message,
    };
    let chosen = choose(
        opts.output.as_ref(),
        &names,
        "output",
        "choose the anomaly score with --output-name",
    )
    .map_err(bad)?;
    for other in names.iter().filter(|n| **n != chosen) {
        changes.push(format!("dropped the output {other:?}"));
    }
    graph.output.retain(|o| o.name == chosen);
    Ok(chosen)
}

/// The graph `what` (input or output) named `asked`, else the only one; `hint` says how to
/// choose among several.
fn choose(
    asked: Option<&String>,
    names: &[String],
    what: &str,
    hint: &str,
) -> Result<String, String> {
    match (asked, names) {
        (Some(name), _) if names.contains(name) => Ok(name.clone()),
        (Some(name), _) => Err(format!(
            "no graph {what} {name:?} ({what}s: {})",
            quoted(names)
        )),
        (None, [one]) => Ok(one.clone()),
        (None, []) => Err(format!("the graph has no {what}")),
        (None, many) => Err(format!("the graph has {what}s {}: {hint}", quoted(many))),
    }
}

fn tensor_type(vi: &mut pb::ValueInfoProto) -> Option<&mut pb::type_proto::Tensor> {
    let pb::type_proto::Value::TensorType(t) = vi.r#type.as_mut()?.value.as_mut()?;
    Some(t)
}

fn batch_dim() -> Dimension {
    Dimension {
        value: Some(Dim::DimParam(super::BATCH_DIM.to_owned())),
        ..Default::default()
    }
}

/// Checks the input is float32 `[N, F]`; makes a fixed batch dimension symbolic and fills in
/// a missing feature dimension with the number of features. Returns `F`.
fn fix_input_shape(
    graph: &mut pb::GraphProto,
    input: &str,
    num_features: usize,
    path: &str,
    changes: &mut Vec<String>,
) -> Result<usize, ImportError> {
    let bad = |message: String| ImportError::Input {
        path: path.to_owned(),
        message,
    };
    let Some(t) = graph
        .input
        .iter_mut()
        .find(|i| i.name == input)
        .and_then(tensor_type)
    else {
        return Err(bad(format!("input {input:?} is not a tensor")));
    };
    if t.elem_type != pb::tensor_proto::DataType::Float as i32 {
        return Err(bad(format!(
            "input {input:?} has data type {}, bead feeds float32: re-export with a float32 input",
            t.elem_type
        )));
    }
    let shape = t.shape.get_or_insert_with(Default::default);
    if shape.dim.is_empty() {
        shape.dim = vec![batch_dim(), Dimension::default()];
    }
    let [batch, feat] = shape.dim.as_mut_slice() else {
        return Err(bad(format!(
            "input {input:?} has rank {}, bead feeds [N, F] (one row of features per event)",
            shape.dim.len()
        )));
    };
    let mut fixed_batch = false;
    if let Some(Dim::DimValue(b)) = batch.value {
        fixed_batch = true;
        changes.push(format!(
            "made the fixed batch dimension {b} of input {input:?} symbolic"
        ));
        *batch = batch_dim();
    }
    let f = match feat.value {
        Some(Dim::DimValue(f)) if f > 0 => f as usize,
        _ => {
            changes.push(format!(
                "set the feature dimension of input {input:?} to {num_features}"
            ));
            feat.value = Some(Dim::DimValue(num_features as i64));
            num_features
        }
    };
    if fixed_batch {
        // Shapes recorded for intermediate values carry the old batch size.
        graph.value_info.clear();
        for o in &mut graph.output {
            if let Some(first) = tensor_type(o)
                .and_then(|t| t.shape.as_mut())
                .and_then(|s| s.dim.first_mut())
            {
                *first = batch_dim();
            }
        }
    }
    Ok(f)
}

/// Makes the chosen output `score`, reshaped from `[N, 1]` to `[N]` when declared so.
fn fix_output(
    graph: &mut pb::GraphProto,
    output: &str,
    changes: &mut Vec<String>,
) -> Result<(), ImportError> {
    let Some(o) = graph.output.iter_mut().find(|o| o.name == output) else {
        return Ok(());
    };
    let dims: Option<Vec<Option<i64>>> = tensor_type(o).and_then(|t| t.shape.as_ref()).map(|s| {
        s.dim
            .iter()
            .map(|d| match d.value {
                Some(Dim::DimValue(v)) => Some(v),
                _ => None,
            })
            .collect()
    });
    let column = matches!(dims.as_deref(), Some([_, Some(1)]));
    if !column {
        rename(graph, output, super::SCORE);
        return Ok(());
    }
    let shape_name = unique_name(graph, "bead_import_score_shape");
    graph
        .initializer
        .push(super::tensor_i64(&shape_name, &[1], &[-1]));
    let node = unique_name(graph, "bead_import_score");
    graph.node.push(super::node(
        "Reshape",
        &node,
        &[output, &shape_name],
        &[super::SCORE],
        vec![],
    ));
    if let Some(o) = graph.output.iter_mut().find(|o| o.name == output) {
        o.name = super::SCORE.to_owned();
        if let Some(s) = tensor_type(o).and_then(|t| t.shape.as_mut()) {
            s.dim.truncate(1);
        }
    }
    changes.push(format!(
        "reshaped output {output:?} from [N, 1] to [N] (node {node:?})"
    ));
    Ok(())
}

/// Every value name of the graph (inputs, outputs, initializers, node inputs and outputs).
fn value_names(graph: &pb::GraphProto) -> HashSet<String> {
    graph
        .input
        .iter()
        .chain(&graph.output)
        .chain(&graph.value_info)
        .map(|v| v.name.clone())
        .chain(graph.initializer.iter().map(|t| t.name.clone()))
        .chain(
            graph
                .node
                .iter()
                .flat_map(|n| {
                    n.input
                        .iter()
                        .chain(&n.output)
                        .chain(std::iter::once(&n.name))
                })
                .cloned(),
        )
        .collect()
}

/// `base`, or `base_2`, `base_3`, ... : a name no value or node of the graph has.
fn unique_name(graph: &pb::GraphProto, base: &str) -> String {
    let names = value_names(graph);
    let mut name = base.to_owned();
    let mut i = 2;
    while names.contains(&name) {
        name = format!("{base}_{i}");
        i += 1;
    }
    name
}

/// Renames value `from` to `to` everywhere in the graph.
fn rename(graph: &mut pb::GraphProto, from: &str, to: &str) {
    let fix = |s: &mut String| {
        if s == from {
            *s = to.to_owned();
        }
    };
    for n in &mut graph.node {
        n.input.iter_mut().for_each(fix);
        n.output.iter_mut().for_each(fix);
    }
    for v in graph
        .input
        .iter_mut()
        .chain(&mut graph.output)
        .chain(&mut graph.value_info)
    {
        fix(&mut v.name);
    }
    for t in &mut graph.initializer {
        fix(&mut t.name);
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn node_name(n: &pb::NodeProto) -> String {
    if n.name.is_empty() {
        n.op_type.clone()
    } else {
        n.name.clone()
    }
}

#[cfg(test)]
mod tests;
