//! [`DataError`]: everything that can go wrong while finding and loading event files, and the
//! constructors the readers share.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while finding and loading event files.
///
/// Messages are lowercase and name the file, the column and the (0-based) row where known.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// `load_events` / `expand_inputs` got an empty list.
    #[error("no input files given")]
    NoInputs,
    /// A glob (or directory) matched no data files.
    #[error("`{pattern}` matches no files")]
    NoMatch {
        /// The pattern as given.
        pattern: String,
    },
    /// A glob pattern (input or `file_labels`) is malformed.
    #[error("invalid glob pattern `{pattern}`: {message}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// The file could not be opened or read.
    #[error("cannot read `{}`: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The extension is neither Parquet, CSV nor ROOT.
    #[error("`{}`: unsupported file type (expected .parquet, .pq, .parq, .csv or .root)", .path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
    /// Not a ROOT file, truncated, corrupt, or using a feature the reader lacks.
    #[error("`{}`: not a readable ROOT file (not ROOT, truncated or corrupt): {message}", .path.display())]
    Root {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the tree and branch where known.
        message: String,
    },
    /// The ROOT file has no tree of the given name, or several trees and none called `Events`.
    #[error("{}", no_tree(.path, .wanted.as_deref(), .trees, .others))]
    NoTree {
        /// The file.
        path: PathBuf,
        /// The tree asked for (`--tree`, `[data.root] tree`).
        wanted: Option<String>,
        /// The trees in the file.
        trees: Vec<String>,
        /// The file's other top-level objects, `name (class)`.
        others: Vec<String>,
    },
    /// A branch of a ROOT tree is missing or cannot be used as asked.
    #[error("`{}`, tree `{tree}`, branch `{branch}`: {message}", .path.display())]
    RootBranch {
        /// The file.
        path: PathBuf,
        /// The tree.
        tree: String,
        /// The branch.
        branch: String,
        /// What is wrong.
        message: String,
    },
    /// Not a Parquet file, truncated, or corrupt.
    #[error("`{}`: not a readable parquet file (not parquet, truncated or corrupt): {message}", .path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The decoder's message, with the column / row group where known.
        message: String,
    },
    /// Malformed CSV (unequal row lengths, bad UTF-8, missing header, ...).
    #[error("`{}`: malformed csv: {message}", .path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The parser's message (with the line).
        message: String,
    },
    /// The file has no data rows.
    #[error("`{}`: file has no rows", .path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// A required column (ROOT: branch) is absent.
    #[error("{}", missing_column(.path, .tree.as_deref(), .column, .available))]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// ROOT files: the tree.
        tree: Option<String>,
        /// The missing column.
        column: String,
        /// The columns the file has.
        available: Vec<String>,
    },
    /// A column that must be numeric (feature, weight) is not.
    #[error("`{}`: column `{column}` is not numeric ({detail})", .path.display())]
    NonNumeric {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The column type, or the first offending value and its row.
        detail: String,
    },
    /// A column has a type this loader cannot use where it is used (nested, boolean, ...).
    #[error("`{}`: column `{column}` has an unsupported type ({detail})", .path.display())]
    UnsupportedColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The type.
        detail: String,
    },
    /// A null (Parquet) or empty (CSV) value in a column that is read.
    #[error("`{}`: column `{column}`, row {row}: missing value", .path.display())]
    MissingValue {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// 0-based data row in the file.
        row: usize,
    },
    /// A NaN or infinite feature or weight (or a double too large for `f32`).
    #[error("`{}`: column `{column}`, row {row}: non-finite value {value}", .path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// 0-based data row in the file.
        row: usize,
        /// The value as read.
        value: f64,
    },
    /// A value that cannot be used (invalid UTF-8, ...).
    #[error("`{}`: column `{column}`, row {row}: {message}", .path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// 0-based data row in the file.
        row: usize,
        /// What is wrong.
        message: String,
    },
    /// Without an explicit feature list, a column that is not metadata cannot be a feature
    /// (string, boolean, float16, decimal, nested, or a CSV column with a cell that is not a
    /// number). `[data] ignore` is `DataSpec::ignore`.
    #[error(
        "`{}`: column `{column}` ({detail}) cannot be a feature; list the features in [data] \
         features, or leave it out with [data] ignore = [\"{column}\"]",
        .path.display()
    )]
    UnusableColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// Its type, or for CSV the row and value of its first cell that is not a number.
        detail: String,
    },
    /// Two columns of one file have the same name.
    #[error("`{}`: column `{column}` appears more than once", .path.display())]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        column: String,
    },
    /// The table does not fit in memory (the allocator refused it).
    #[error("{rows} events × {columns} values ({gib:.1} GiB) do not fit in memory")]
    TooLarge {
        /// Events in all files.
        rows: usize,
        /// Values per event in the output that could not be allocated.
        columns: usize,
        /// Size of that output.
        gib: f64,
    },
    /// The file has no feature columns at all.
    #[error("`{}`: no numeric feature columns; columns are: {}", .path.display(), .available.join(", "))]
    NoFeatures {
        /// The file.
        path: PathBuf,
        /// The columns the file has.
        available: Vec<String>,
    },
    /// The default feature set of a file differs from the first file's.
    #[error(
        "feature columns of `{}` differ from those of `{}`: only in the former: [{}]; missing from it: [{}]",
        .path.display(), .reference.display(), .extra.join(", "), .missing.join(", ")
    )]
    FeatureMismatch {
        /// The file that differs.
        path: PathBuf,
        /// The first file.
        reference: PathBuf,
        /// Feature columns in `path` but not in `reference`.
        extra: Vec<String>,
        /// Feature columns in `reference` but not in `path`.
        missing: Vec<String>,
    },
    /// A passthrough column is in some files but not in others.
    #[error("column `{column}` is in `{}` but not in `{}`", .present_in.display(), .path.display())]
    InconsistentColumn {
        /// The column.
        column: String,
        /// A file that has it.
        present_in: PathBuf,
        /// A file that lacks it.
        path: PathBuf,
    },
    /// Labels are required (or other files have them) but this file has neither the source
    /// column nor a matching file label.
    #[error("`{}`, row 0: no source label: no `{column}` column and no file label matches this file", .path.display())]
    NoSourceLabel {
        /// The file.
        path: PathBuf,
        /// The source column name looked for.
        column: String,
    },
    /// An empty or null source label.
    #[error("`{}`, row {row}: missing source label in column `{column}`", .path.display())]
    MissingSourceLabel {
        /// The file.
        path: PathBuf,
        /// 0-based data row in the file.
        row: usize,
        /// The source column.
        column: String,
    },
    /// A label that is not in the given vocabulary.
    #[error("`{}`, row {row}: source `{label}` is not in the vocabulary ({})", .path.display(), .known.join(", "))]
    UnknownSource {
        /// The file.
        path: PathBuf,
        /// 0-based data row (first occurrence in the file).
        row: usize,
        /// The label.
        label: String,
        /// The vocabulary.
        known: Vec<String>,
    },
    /// `EventTable::select_features` was asked for a feature the table lacks.
    #[error("feature `{name}` is not in the table; features are: {}", .available.join(", "))]
    UnknownFeature {
        /// The feature asked for.
        name: String,
        /// The table's features.
        available: Vec<String>,
    },
    /// The `DataSpec` itself is inconsistent (duplicate feature names, ...).
    #[error("invalid data spec: {0}")]
    InvalidSpec(String),
}

fn missing_column(path: &Path, tree: Option<&str>, column: &str, available: &[String]) -> String {
    match tree {
        Some(t) => format!(
            "`{}`, tree `{t}`: branch `{column}` not found; branches are: {}",
            path.display(),
            available.join(", ")
        ),
        None => format!(
            "`{}`: column `{column}` not found; columns are: {}",
            path.display(),
            available.join(", ")
        ),
    }
}

fn no_tree(path: &Path, wanted: Option<&str>, trees: &[String], others: &[String]) -> String {
    let listed = if trees.is_empty() {
        "it has no TTree".to_string()
    } else {
        format!("its trees are: {}", trees.join(", "))
    };
    let other = if others.is_empty() {
        String::new()
    } else {
        format!(
            " (other objects: {}; RNTuples are not read)",
            others.join(", ")
        )
    };
    match wanted {
        Some(w) => format!("`{}`: no tree `{w}`; {listed}{other}", path.display()),
        None => format!(
            "`{}`: which tree? {listed}{other}, and none is called `Events`: choose one with \
             --tree NAME (or [data.root] tree)",
            path.display()
        ),
    }
}

pub(super) fn parquet_err(path: &Path, context: &str, e: impl std::fmt::Display) -> DataError {
    DataError::Parquet {
        path: path.to_path_buf(),
        message: format!("{context}{e}"),
    }
}

pub(super) fn csv_err(path: &Path, e: csv::Error) -> DataError {
    if let csv::ErrorKind::Io(_) = e.kind() {
        let msg = e.to_string();
        if let csv::ErrorKind::Io(io) = e.into_kind() {
            return DataError::Io {
                path: path.to_path_buf(),
                source: io,
            };
        }
        return DataError::Csv {
            path: path.to_path_buf(),
            message: msg,
        };
    }
    DataError::Csv {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
