//! The one error type of `bead-train`: every message names the file, column or value at fault.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while training, exporting, scoring or evaluating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Bad event data (missing column, NaN, empty file, ...).
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Bad configuration or command-line value.
    #[error("configuration: {0}")]
    Config(String),
    /// A model directory or file that cannot be used.
    #[error("model: {0}")]
    Model(String),
    /// The inference runtime refused a model or an event.
    #[error("runtime: {0}")]
    Infer(String),
    /// A numerical problem during training (a loss became NaN, ...).
    #[error("training: {0}")]
    Training(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
