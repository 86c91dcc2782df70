//! Load-time and hot-path errors.

use std::fmt;

/// An operator the runtime does not execute, with the node that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    /// ONNX `op_type` (with its domain when not the default one).
    pub op_type: String,
    /// Name of the node (or `#index` when the node is unnamed).
    pub node: String,
}

impl fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (node {})", self.op_type, self.node)
    }
}

/// Why a model could not be loaded. Every variant names the file (or the name given to
/// [`Model::from_bytes`](crate::Model::from_bytes)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read model file {path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("{path}: empty file, not an ONNX model")]
    Empty {
        /// File path.
        path: String,
    },
    /// The bytes are not an ONNX `ModelProto` (corrupt, truncated or another format).
    #[error("{path}: not an ONNX model ({message})")]
    NotOnnx {
        /// File path.
        path: String,
        /// What the decoder reported.
        message: String,
    },
    /// Nodes use operators outside the bead op set (see `docs/DESIGN.md`).
    #[error("{path}: unsupported operators: {}", join(ops))]
    UnsupportedOps {
        /// File path.
        path: String,
        /// Every offending node.
        ops: Vec<UnsupportedOp>,
    },
    /// `metadata_props` has no `bead` entry.
    #[error(
        "{path}: missing `bead` entry in metadata_props (not written by `bead export`; a model from another tool needs `bead import MODEL --features NAMES -o OUT` first)"
    )]
    MissingMetadata {
        /// File path.
        path: String,
    },
    /// The `bead` metadata entry is not the expected JSON.
    #[error("{path}: garbled `bead` metadata: {message}")]
    BadMetadata {
        /// File path.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The metadata lists a different number of features than the `events` input has.
    #[error("{path}: metadata lists {metadata} features but input `events` has {input} columns")]
    FeatureMismatch {
        /// File path.
        path: String,
        /// `features.len()` in the metadata.
        metadata: usize,
        /// Last dimension of the `events` input.
        input: usize,
    },
    /// The graph breaks the bead ONNX contract (shapes, attributes, inputs, outputs).
    #[error("{path}: {}{message}", node.as_ref().map(|n| format!("node {n}: ")).unwrap_or_default())]
    Invalid {
        /// File path.
        path: String,
        /// The node at fault, when there is one.
        node: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// tract could not parse, type-check or run the model.
    #[error("{path}: tract: {message}")]
    Tract {
        /// File path.
        path: String,
        /// tract's error chain.
        message: String,
    },
}

/// The offending nodes for a message: each operator once, in the order first seen, with its
/// first nodes (a crafted or generated graph can hold thousands; the full list stays in the
/// error's `ops`).
pub(crate) fn join(ops: &[UnsupportedOp]) -> String {
    const SHOWN: usize = 3;
    let mut kinds: Vec<(&str, Vec<&str>)> = Vec::new();
    for o in ops {
        match kinds.iter_mut().find(|(k, _)| *k == o.op_type) {
            Some((_, nodes)) => nodes.push(&o.node),
            None => kinds.push((&o.op_type, vec![&o.node])),
        }
    }
    kinds
        .iter()
        .map(|(k, nodes)| {
            let first = nodes
                .iter()
                .take(SHOWN)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            match nodes.len() {
                1 => format!("{k} (node {first})"),
                n if n <= SHOWN => format!("{k} ×{n} (nodes {first})"),
                n => format!("{k} ×{n} (nodes {first} and {} more)", n - SHOWN),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl LoadError {
    /// The unsupported operators, when that is why loading failed.
    pub fn unsupported_ops(&self) -> &[UnsupportedOp] {
        match self {
            LoadError::UnsupportedOps { ops, .. } => ops,
            _ => &[],
        }
    }
}

/// Why an event could not be scored. Decided without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScoreError {
    /// The input slice does not hold a whole number of events of the model's width.
    #[error("input has wrong length: expected {expected} floats, got {got}")]
    WrongLength {
        /// Expected number of floats.
        expected: usize,
        /// Given number of floats.
        got: usize,
    },
    /// An input value is NaN or infinite (first such value of the first such event).
    #[error("non-finite input: event {event}, feature {feature}")]
    NonFinite {
        /// Index of the event in the batch (0 for single events).
        event: usize,
        /// Index of the feature.
        feature: usize,
    },
    /// An output buffer has the wrong length.
    #[error("output buffer has wrong length: expected {expected}, got {got}")]
    OutputLength {
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// [`Session::score_with_latent`](crate::Session::score_with_latent) on a model without a
    /// `mu` output.
    #[error("model has no `mu` output")]
    NoLatent,
}
