//! The one error type of `bead-train`. Every message names the file, column or value at
//! fault; where another library failed, its error is the variant's `source`.

use std::path::{Path, PathBuf};

use crate::data::DataError;
use crate::training::LossTerms;

/// Everything that can go wrong while training, exporting, scoring or evaluating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Bad event data (missing column, NaN, empty file, ...).
    #[error(transparent)]
    Data(#[from] DataError),
    /// A sample whose weights cannot define a rate (total ≤ 0, non-finite weight, ...).
    #[error(transparent)]
    Weights(#[from] crate::evaluate::statistics::weighted::SampleError),
    /// An invalid setting or command-line value.
    #[error("configuration: {0}")]
    Config(String),
    /// A configuration file that does not parse or does not fit the schema (unknown key,
    /// wrong type).
    #[error("{path}: {source}")]
    ConfigFile {
        /// The TOML file.
        path: PathBuf,
        /// The parser's error, with line and column.
        #[source]
        source: toml::de::Error,
    },
    /// A JSON file of a model directory or model (manifest, checkpoint state, ONNX
    /// metadata) that cannot be read.
    #[error("{path}: not a valid {what}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What the file should hold ("bead model manifest", ...).
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A line of `metrics.jsonl` that cannot be read.
    #[error("{path}: line {line}: {source}")]
    JsonLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A value could not be written as JSON.
    #[error("cannot serialise {what}: {source}")]
    Serialize {
        /// What was being written ("manifest", "report", ...).
        what: &'static str,
        /// The serialiser's error.
        #[source]
        source: serde_json::Error,
    },
    /// burn could not read or write weights or optimiser state.
    #[error("{path}: {source}")]
    Record {
        /// The `.bpk` file.
        path: PathBuf,
        /// burn's error.
        #[source]
        source: burn::store::RecordError,
    },
    /// A model directory or exported model that cannot be used (weights missing, made with
    /// another training configuration, no calibrated threshold, ...).
    #[error("{path}: {message}")]
    Model {
        /// The model directory or file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The runtime refused an exported model (the error names the file).
    #[error(transparent)]
    Load(#[from] bead_infer::LoadError),
    /// `bead import` could not make a bead model of a foreign ONNX file.
    #[error("import: {0}")]
    Import(#[from] bead_infer::ImportError),
    /// The runtime refused an event.
    #[error("scoring: {0}")]
    Score(#[from] bead_infer::ScoreError),
    /// `bead bench` could not time the model.
    #[error("benchmark: {0}")]
    Bench(#[from] bead_infer::BenchError),
    /// Writing a CSV file failed.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: csv::Error,
    },
    /// Writing a Parquet file failed.
    #[error("{path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A plot could not be drawn or written.
    #[error("{path}: cannot draw the plot: {message}")]
    Plot {
        /// The PNG file.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
    /// The training or validation loss became NaN or infinite.
    #[error(
        "{stage} loss became {} at epoch {epoch} (terms {terms:?}); {cause}",
        .terms.total
    )]
    NonFiniteLoss {
        /// "training" or "validation".
        stage: &'static str,
        /// 0-based epoch.
        epoch: usize,
        /// The loss terms of the batch (training) or of the whole split (validation).
        terms: Box<LossTerms>,
        /// The likely cause and what to do about it.
        cause: String,
    },
    /// A feature value that preprocessing cannot bring into a range the network can take.
    #[error("{location}: feature `{feature}` = {value:e}: {reason}")]
    InputOutOfRange {
        /// File and row, or the event's index in the training data.
        location: String,
        /// The feature column.
        feature: String,
        /// The value as read.
        value: f32,
        /// What preprocessing made of it.
        reason: String,
    },
    /// Another writer holds a model directory.
    #[error(
        "{}: another training is writing into this directory: {} is held by {holder}; \
         wait for it to finish or train into another directory",
        .dir.display(),
        .lock.display()
    )]
    Locked {
        /// The model directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The holder's record (pid and command).
        holder: String,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// `path` cannot be used as a model, because of `message`.
    pub(crate) fn model(path: &Path, message: impl Into<String>) -> Self {
        Error::Model {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// burn failed on the weights or optimiser state at `path`.
    pub(crate) fn record(path: &Path, source: burn::store::RecordError) -> Self {
        Error::Record {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn messages_name_the_file_once_and_keep_the_source() {
        let gone = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = Error::io(Path::new("runs/x/model.bpk"), gone);
        assert_eq!(e.to_string(), "runs/x/model.bpk: gone");
        assert_eq!(e.source().map(|s| s.to_string()), Some("gone".into()));

        let bad = serde_json::from_str::<u32>("x").unwrap_err();
        let e = Error::Json {
            path: "m/bead-model.json".into(),
            what: "bead model manifest",
            source: bad,
        };
        assert!(
            e.to_string()
                .starts_with("m/bead-model.json: not a valid bead model manifest: expected value"),
            "{e}"
        );
        assert!(e.source().is_some());

        let e = Error::NonFiniteLoss {
            stage: "training",
            epoch: 3,
            terms: Box::new(LossTerms {
                total: f64::NAN,
                ..LossTerms::default()
            }),
            cause: "lower the learning rate".into(),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("training loss became NaN at epoch 3 (terms LossTerms {"),
            "{text}"
        );
        assert!(text.ends_with("}); lower the learning rate"), "{text}");
    }
}
