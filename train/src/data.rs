//! Event loading: Parquet and CSV files into one row-major `f32` table.
//!
//! # Overview
//!
//! ```text
//! let paths = expand_inputs(&["data/sample/train/*.parquet".into()])?;
//! let table = load_events(&paths, &DataSpec::default(), None, true)?;
//! let (train, val) = split_indices(table.len(), 0.1, 42);
//! let x: &[f32] = table.row(train[0] as usize);
//! ```
//!
//! # Rules
//!
//! * **Formats** by extension: `.parquet` / `.pq` / `.parq` (Parquet, flat schema) and `.csv`
//!   (comma-separated, header row, fields trimmed). Anything else is an error.
//! * **Features**: `DataSpec::features` in that order, or by default every float column
//!   (Parquet `FLOAT`/`DOUBLE`; CSV: every column whose non-empty values all parse as numbers)
//!   that is not a metadata column. Metadata columns are the source column, the weight column,
//!   `weight`, `event_id` and the passthrough names. The default order is the column order of
//!   the first file. Integer columns named explicitly in `features` are accepted and converted.
//!   Every file must have the same feature set; columns are mapped by name, so the order may
//!   differ from file to file.
//! * **Labels** (the generator configuration of each event) come from a matching
//!   `DataSpec::file_labels` entry (which overrides the column) or else from the source column
//!   (string, or integer written in decimal). With a `vocabulary` (model already trained) every
//!   label must be in it and `EventTable::sources` is the vocabulary; otherwise
//!   `sources` is the sorted set of labels seen. With `require_labels == false` and no label
//!   source in any file, `labels` and `sources` are empty; a file with labels next to one
//!   without is an error either way.
//! * **Weights**: read from `DataSpec::weight_column` when it is set (it must then exist in
//!   every file); `None` otherwise.
//! * **Passthrough** columns (default `source`, `process`, `event_id`) are kept for output when
//!   present in every file; a column present in some files but not in others is an error. Type:
//!   string if it is a string in any file, else `F64` if it is a float in any file, else `I64`.
//! * **Nothing is silently skipped**: a missing value (Parquet null, empty CSV cell) in any
//!   column that is read, a NaN/±Inf feature or weight, an empty file, an unreadable file, a
//!   glob matching nothing, ... are errors ([`DataError`]) naming the file, the column and the
//!   row. Rows are 0-based data-row indices within the file (the CSV header is not counted).
//!
//! # Memory
//!
//! Row counts come from the Parquet footers (a counting pass for CSV), the row-major feature
//! buffer is allocated once (`n × F` floats) and each Parquet row group is decoded in blocks of
//! a few thousand rows straight into its slice of that buffer, row groups in parallel on
//! scoped threads. No per-row structures are built; the only other allocations are the label,
//! weight and passthrough columns.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use parquet::basic::Type as PhysicalType;
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{
    ByteArray, ByteArrayType, DataType, DoubleType, FloatType, Int32Type, Int64Type,
};
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::{Deserialize, Serialize};

/// Default name of the column holding the source (generator configuration) label.
pub const DEFAULT_SOURCE_COLUMN: &str = "source";

/// Default passthrough columns: kept for output when present.
pub const DEFAULT_PASSTHROUGH: [&str; 3] = ["source", "process", "event_id"];

/// Column names that are never default features (besides the source, weight and passthrough
/// columns of the spec).
const ALWAYS_METADATA: [&str; 2] = ["event_id", "weight"];

/// Rows decoded per block (per column) while reading a Parquet row group.
const BLOCK_ROWS: usize = 4096;

// ---------------------------------------------------------------------------------------------
// errors

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
    /// The extension is neither Parquet nor CSV.
    #[error("`{}`: unsupported file type (expected .parquet, .pq, .parq or .csv)", .path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
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
    /// A required column is absent.
    #[error("`{}`: column `{column}` not found; columns are: {}", .path.display(), .available.join(", "))]
    MissingColumn {
        /// The file.
        path: PathBuf,
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

// ---------------------------------------------------------------------------------------------
// public types

/// What to read from the event files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataSpec {
    /// Feature columns in model order; `None`: every float non-metadata column, in the order of
    /// the first file.
    pub features: Option<Vec<String>>,
    /// Column with the source label; `None` means [`DEFAULT_SOURCE_COLUMN`].
    pub source_column: Option<String>,
    /// Column with per-event weights; `None`: no weights.
    pub weight_column: Option<String>,
    /// `(path or glob, label)`: every file whose path (as given) equals the entry, or whose path
    /// or file name matches it as a glob, gets this label for all its rows (overriding the source
    /// column). The first matching entry wins; entries matching nothing are allowed.
    pub file_labels: Vec<(String, String)>,
    /// Columns kept for output when present in every file (default [`DEFAULT_PASSTHROUGH`]).
    pub passthrough: Vec<String>,
}

impl Default for DataSpec {
    fn default() -> Self {
        Self {
            features: None,
            source_column: None,
            weight_column: None,
            file_labels: Vec::new(),
            passthrough: DEFAULT_PASSTHROUGH.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl DataSpec {
    /// The source column name (default `source`).
    pub fn source_column(&self) -> &str {
        self.source_column
            .as_deref()
            .unwrap_or(DEFAULT_SOURCE_COLUMN)
    }

    /// The file label for `path`, if an entry of `file_labels` matches it.
    pub fn file_label(&self, path: &Path) -> Result<Option<&str>, DataError> {
        for (pattern, label) in &self.file_labels {
            if Path::new(pattern) == path {
                return Ok(Some(label));
            }
            let pat = glob::Pattern::new(pattern).map_err(|e| DataError::BadPattern {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            let by_name = path
                .file_name()
                .is_some_and(|f| pat.matches_path(Path::new(f)));
            if pat.matches_path(path) || by_name {
                return Ok(Some(label));
            }
        }
        Ok(None)
    }
}

/// A passthrough column (one value per event).
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Strings.
    Str(Vec<String>),
    /// Integers.
    I64(Vec<i64>),
    /// Floats.
    F64(Vec<f64>),
}

impl Column {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Column::Str(v) => v.len(),
            Column::I64(v) => v.len(),
            Column::F64(v) => v.len(),
        }
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` formatted for output (CSV / JSON text).
    pub fn value_string(&self, i: usize) -> String {
        match self {
            Column::Str(v) => v[i].clone(),
            Column::I64(v) => v[i].to_string(),
            Column::F64(v) => v[i].to_string(),
        }
    }
}

/// All events of a set of files, features row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTable {
    /// Feature names, in column order of `features`.
    pub feature_names: Vec<String>,
    /// Row-major `len() × num_features()` features.
    pub features: Vec<f32>,
    /// Per event, an index into `sources`; empty when no labels were loaded.
    pub labels: Vec<u32>,
    /// Label vocabulary; empty when no labels were loaded.
    pub sources: Vec<String>,
    /// Per-event weights when `DataSpec::weight_column` was set.
    pub weights: Option<Vec<f32>>,
    /// Passthrough columns present in every file, in `DataSpec::passthrough` order.
    pub passthrough: Vec<(String, Column)>,
    /// Files in load order with their row counts (rows are concatenated in this order).
    pub file_rows: Vec<(PathBuf, usize)>,
}

impl EventTable {
    /// Number of events.
    pub fn len(&self) -> usize {
        // Derived from the data itself, so that a table whose rows were selected stays valid.
        self.features
            .len()
            .checked_div(self.num_features())
            .unwrap_or(0)
    }

    /// True when there are no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of features per event.
    pub fn num_features(&self) -> usize {
        self.feature_names.len()
    }

    /// The features of event `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let f = self.num_features();
        &self.features[i * f..(i + 1) * f]
    }

    /// True when every event has a source label.
    pub fn has_labels(&self) -> bool {
        !self.sources.is_empty() && self.labels.len() == self.len()
    }

    /// The source label of event `i`, if labels were loaded.
    pub fn source_of(&self, i: usize) -> Option<&str> {
        self.labels
            .get(i)
            .map(|&l| self.sources[l as usize].as_str())
    }

    /// Number of events per entry of `sources`.
    pub fn source_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.sources.len()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// A passthrough column by name.
    pub fn passthrough_column(&self, name: &str) -> Option<&Column> {
        self.passthrough
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
    }

    /// Keep only the features `names`, in that order (in place, no second copy of the data).
    /// Use it to bring a table loaded with default features into a trained model's order.
    pub fn select_features(&mut self, names: &[String]) -> Result<(), DataError> {
        let mut idx = Vec::with_capacity(names.len());
        let mut seen = HashSet::new();
        for name in names {
            if !seen.insert(name.as_str()) {
                return Err(DataError::InvalidSpec(format!(
                    "feature `{name}` named twice"
                )));
            }
            let j = self
                .feature_names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| DataError::UnknownFeature {
                    name: name.clone(),
                    available: self.feature_names.clone(),
                })?;
            idx.push(j);
        }
        let (old, new) = (self.num_features(), idx.len());
        let n = self.len();
        let mut tmp = vec![0f32; new];
        for i in 0..n {
            // new <= old, so row i's new slot never overlaps a later row's old data.
            for (t, &j) in tmp.iter_mut().zip(&idx) {
                *t = self.features[i * old + j];
            }
            self.features[i * new..(i + 1) * new].copy_from_slice(&tmp);
        }
        self.features.truncate(n * new);
        self.features.shrink_to_fit();
        self.feature_names = names.to_vec();
        Ok(())
    }

    /// Copy the rows `indices` (in that order) into `out` (cleared first), row-major: a batch.
    pub fn gather_rows(&self, indices: &[u32], out: &mut Vec<f32>) {
        let f = self.num_features();
        out.clear();
        out.reserve(indices.len() * f);
        for &i in indices {
            out.extend_from_slice(self.row(i as usize));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// inputs and splitting

/// Expand file names, globs (`*`, `?`, `[`) and directories (every `.parquet`/`.pq`/`.parq`/
/// `.csv` file in it) into a list of files. Glob and directory matches are sorted; the order of
/// `patterns` is kept and nothing is deduplicated. A glob or directory matching nothing, or a
/// plain path that does not exist, is an error.
pub fn expand_inputs(patterns: &[String]) -> Result<Vec<PathBuf>, DataError> {
    if patterns.is_empty() {
        return Err(DataError::NoInputs);
    }
    let mut out = Vec::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        if pattern.contains(['*', '?', '[']) {
            let entries = glob::glob(pattern).map_err(|e| DataError::BadPattern {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            let mut found = Vec::new();
            for entry in entries {
                let p = entry.map_err(|e| DataError::Io {
                    path: e.path().to_path_buf(),
                    source: std::io::Error::new(e.error().kind(), e.error().to_string()),
                })?;
                if p.is_file() {
                    found.push(p);
                }
            }
            if found.is_empty() {
                return Err(DataError::NoMatch {
                    pattern: pattern.clone(),
                });
            }
            found.sort();
            out.extend(found);
        } else if path.is_dir() {
            let rd = std::fs::read_dir(path).map_err(|e| DataError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            let mut found = Vec::new();
            for entry in rd {
                let p = entry
                    .map_err(|e| DataError::Io {
                        path: path.to_path_buf(),
                        source: e,
                    })?
                    .path();
                if p.is_file() && format_of(&p).is_some() {
                    found.push(p);
                }
            }
            if found.is_empty() {
                return Err(DataError::NoMatch {
                    pattern: pattern.clone(),
                });
            }
            found.sort();
            out.extend(found);
        } else {
            std::fs::metadata(path).map_err(|e| DataError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            out.push(path.to_path_buf());
        }
    }
    Ok(out)
}

/// Split `0..n` into `(train, validation)` at random: `round(n × validation_fraction)` events go
/// to validation. Deterministic for a given `(n, validation_fraction, seed)`. Both lists are
/// returned sorted ascending (for memory locality; shuffle per epoch with [`crate::rng::Rng`]).
///
/// # Panics
///
/// If `validation_fraction` is not in `[0, 1]` or `n` exceeds `u32::MAX`.
pub fn split_indices(n: usize, validation_fraction: f64, seed: u64) -> (Vec<u32>, Vec<u32>) {
    assert!(
        (0.0..=1.0).contains(&validation_fraction),
        "validation_fraction must be in [0, 1], got {validation_fraction}"
    );
    assert!(
        n <= u32::MAX as usize,
        "too many events for u32 indices: {n}"
    );
    let mut idx: Vec<u32> = (0..n as u32).collect();
    crate::rng::Rng::new(seed).shuffle(&mut idx);
    let n_val = ((n as f64) * validation_fraction).round() as usize;
    let mut val = idx.split_off(n - n_val.min(n));
    idx.sort_unstable();
    val.sort_unstable();
    (idx, val)
}

// ---------------------------------------------------------------------------------------------
// file inspection

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Parquet,
    Csv,
}

fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "parquet" | "pq" | "parq" => Some(Format::Parquet),
        "csv" => Some(Format::Csv),
        _ => None,
    }
}

/// What a column holds, as far as this loader is concerned.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Parquet FLOAT/DOUBLE; CSV: all non-empty values are numbers, not all integers.
    Float,
    /// Parquet INT32/INT64; CSV: all non-empty values are integers.
    Int,
    /// Parquet BYTE_ARRAY; CSV: anything else.
    Str,
    /// Unusable here (nested, boolean, INT96, fixed-length bytes).
    Other(String),
}

struct ColInfo {
    name: String,
    kind: Kind,
    /// Parquet leaf index / CSV field index.
    index: usize,
    /// Parquet physical type.
    physical: Option<PhysicalType>,
    /// Parquet max definition level (0: required column).
    max_def: i16,
}

struct FileInfo {
    path: PathBuf,
    format: Format,
    columns: Vec<ColInfo>,
    rows: usize,
    /// Row groups: rows each (CSV: one group).
    groups: Vec<usize>,
}

impl FileInfo {
    fn col(&self, name: &str) -> Option<&ColInfo> {
        self.columns.iter().find(|c| c.name == name)
    }

    fn names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    fn missing(&self, column: &str) -> DataError {
        DataError::MissingColumn {
            path: self.path.clone(),
            column: column.to_string(),
            available: self.names(),
        }
    }
}

fn parquet_err(path: &Path, context: &str, e: impl std::fmt::Display) -> DataError {
    DataError::Parquet {
        path: path.to_path_buf(),
        message: format!("{context}{e}"),
    }
}

fn csv_err(path: &Path, e: csv::Error) -> DataError {
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

fn inspect(path: &Path) -> Result<FileInfo, DataError> {
    let format = format_of(path).ok_or_else(|| DataError::UnsupportedFormat {
        path: path.to_path_buf(),
    })?;
    match format {
        Format::Parquet => inspect_parquet(path),
        Format::Csv => inspect_csv(path),
    }
}

fn open_parquet(path: &Path) -> Result<SerializedFileReader<File>, DataError> {
    let file = File::open(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    SerializedFileReader::new(file).map_err(|e| parquet_err(path, "", e))
}

fn inspect_parquet(path: &Path) -> Result<FileInfo, DataError> {
    let reader = open_parquet(path)?;
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let mut columns = Vec::with_capacity(schema.num_columns());
    for (index, descr) in schema.columns().iter().enumerate() {
        let parts = descr.path().parts();
        let name = parts.join(".");
        let physical = descr.physical_type();
        let kind = if parts.len() > 1 || descr.max_rep_level() > 0 {
            Kind::Other("nested".into())
        } else {
            match physical {
                PhysicalType::FLOAT | PhysicalType::DOUBLE => Kind::Float,
                PhysicalType::INT32 | PhysicalType::INT64 => Kind::Int,
                PhysicalType::BYTE_ARRAY => Kind::Str,
                other => Kind::Other(other.to_string().to_lowercase()),
            }
        };
        columns.push(ColInfo {
            name,
            kind,
            index,
            physical: Some(physical),
            max_def: descr.max_def_level(),
        });
    }
    let mut groups = Vec::with_capacity(meta.num_row_groups());
    for rg in meta.row_groups() {
        let r = usize::try_from(rg.num_rows())
            .map_err(|_| parquet_err(path, "", format!("negative row count {}", rg.num_rows())))?;
        groups.push(r);
    }
    let rows: usize = groups.iter().sum();
    let declared = meta.file_metadata().num_rows();
    if declared >= 0 && declared as usize != rows {
        return Err(parquet_err(
            path,
            "",
            format!("footer says {declared} rows but the row groups hold {rows}"),
        ));
    }
    if rows == 0 {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    // Empty row groups stay in the list: job `gi` reads row group `gi` of the file.
    Ok(FileInfo {
        path: path.to_path_buf(),
        format: Format::Parquet,
        columns,
        rows,
        groups,
    })
}

fn csv_reader(path: &Path) -> Result<csv::Reader<File>, DataError> {
    let file = File::open(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(file))
}

fn is_int(s: &str) -> bool {
    s.parse::<i64>().is_ok()
}

fn is_number(s: &str) -> bool {
    s.parse::<f64>().is_ok()
}

fn inspect_csv(path: &Path) -> Result<FileInfo, DataError> {
    let mut rdr = csv_reader(path)?;
    let header = rdr.headers().map_err(|e| csv_err(path, e))?.clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let ncol = header.len();
    let mut seen = HashSet::new();
    for h in header.iter() {
        if !seen.insert(h) {
            return Err(DataError::Csv {
                path: path.to_path_buf(),
                message: format!("column `{h}` appears twice in the header"),
            });
        }
    }
    // per column: all non-empty are ints / numbers, any non-empty
    let mut all_int = vec![true; ncol];
    let mut all_num = vec![true; ncol];
    let mut any = vec![false; ncol];
    let mut rows = 0usize;
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(|e| csv_err(path, e))? {
        for (j, field) in rec.iter().enumerate() {
            if field.is_empty() {
                continue;
            }
            any[j] = true;
            if all_int[j] && !is_int(field) {
                all_int[j] = false;
            }
            if !all_int[j] && all_num[j] && !is_number(field) {
                all_num[j] = false;
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let columns = header
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let kind = if !any[j] {
                Kind::Str
            } else if all_int[j] {
                Kind::Int
            } else if all_num[j] {
                Kind::Float
            } else {
                Kind::Str
            };
            ColInfo {
                name: name.to_string(),
                kind,
                index: j,
                physical: None,
                max_def: 0,
            }
        })
        .collect();
    Ok(FileInfo {
        path: path.to_path_buf(),
        format: Format::Csv,
        columns,
        rows,
        groups: vec![rows],
    })
}

// ---------------------------------------------------------------------------------------------
// planning

#[derive(Debug, Clone, Copy, PartialEq)]
enum PassKind {
    Str,
    I64,
    F64,
}

/// How each file's labels are obtained.
enum LabelSource {
    None,
    File(String),
    Column,
}

struct Plan {
    feature_names: Vec<String>,
    /// per file: column info index for each feature
    feature_cols: Vec<Vec<usize>>,
    labels: Vec<LabelSource>,
    source_column: String,
    weight: Option<String>,
    passthrough: Vec<(String, PassKind)>,
}

fn plan(files: &[FileInfo], spec: &DataSpec, require_labels: bool) -> Result<Plan, DataError> {
    let source_column = spec.source_column().to_string();
    let mut meta: HashSet<&str> = ALWAYS_METADATA.iter().copied().collect();
    meta.insert(&source_column);
    if let Some(w) = &spec.weight_column {
        meta.insert(w);
    }
    for p in &spec.passthrough {
        meta.insert(p);
    }

    // features
    let feature_names: Vec<String> = match &spec.features {
        Some(list) => {
            if list.is_empty() {
                return Err(DataError::InvalidSpec("empty feature list".into()));
            }
            let mut seen = HashSet::new();
            for f in list {
                if !seen.insert(f.as_str()) {
                    return Err(DataError::InvalidSpec(format!("feature `{f}` named twice")));
                }
            }
            list.clone()
        }
        None => {
            let default_set = |f: &FileInfo| -> Vec<String> {
                f.columns
                    .iter()
                    .filter(|c| {
                        let numeric = c.kind == Kind::Float
                            || (f.format == Format::Csv && c.kind == Kind::Int);
                        numeric && !meta.contains(c.name.as_str())
                    })
                    .map(|c| c.name.clone())
                    .collect()
            };
            let first = default_set(&files[0]);
            if first.is_empty() {
                return Err(DataError::NoFeatures {
                    path: files[0].path.clone(),
                    available: files[0].names(),
                });
            }
            let first_set: HashSet<&String> = first.iter().collect();
            for f in &files[1..] {
                let set = default_set(f);
                let this: HashSet<&String> = set.iter().collect();
                if this != first_set {
                    let extra = set
                        .iter()
                        .filter(|c| !first_set.contains(c))
                        .cloned()
                        .collect();
                    let missing = first
                        .iter()
                        .filter(|c| !this.contains(c))
                        .cloned()
                        .collect();
                    return Err(DataError::FeatureMismatch {
                        path: f.path.clone(),
                        reference: files[0].path.clone(),
                        extra,
                        missing,
                    });
                }
            }
            first
        }
    };
    let mut feature_cols = Vec::with_capacity(files.len());
    for f in files {
        let mut cols = Vec::with_capacity(feature_names.len());
        for name in &feature_names {
            let ci = f
                .columns
                .iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| f.missing(name))?;
            check_numeric(f, &f.columns[ci])?;
            cols.push(ci);
        }
        feature_cols.push(cols);
    }

    // labels
    let mut labels = Vec::with_capacity(files.len());
    for f in files {
        let src = if let Some(l) = spec.file_label(&f.path)? {
            if l.is_empty() {
                return Err(DataError::InvalidSpec(format!(
                    "empty file label for `{}`",
                    f.path.display()
                )));
            }
            LabelSource::File(l.to_string())
        } else if let Some(c) = f.col(&source_column) {
            match c.kind {
                Kind::Str | Kind::Int => LabelSource::Column,
                _ => {
                    return Err(DataError::UnsupportedColumn {
                        path: f.path.clone(),
                        column: source_column.clone(),
                        detail: format!("{:?} source labels; expected string or integer", c.kind)
                            .to_lowercase(),
                    });
                }
            }
        } else {
            LabelSource::None
        };
        labels.push(src);
    }
    let with = labels
        .iter()
        .filter(|l| !matches!(l, LabelSource::None))
        .count();
    if with < files.len() && (require_labels || with > 0) {
        let i = labels
            .iter()
            .position(|l| matches!(l, LabelSource::None))
            .unwrap_or(0);
        return Err(DataError::NoSourceLabel {
            path: files[i].path.clone(),
            column: source_column,
        });
    }

    // weights
    if let Some(w) = &spec.weight_column {
        for f in files {
            let c = f.col(w).ok_or_else(|| f.missing(w))?;
            check_numeric(f, c)?;
        }
    }

    // passthrough
    let mut passthrough = Vec::new();
    let mut seen = HashSet::new();
    for name in &spec.passthrough {
        if !seen.insert(name.as_str()) {
            continue;
        }
        let present: Vec<Option<&ColInfo>> = files.iter().map(|f| f.col(name)).collect();
        let n_present = present.iter().filter(|p| p.is_some()).count();
        if n_present == 0 {
            continue;
        }
        if n_present < files.len() {
            let has = present.iter().position(|p| p.is_some()).unwrap_or(0);
            let lacks = present.iter().position(|p| p.is_none()).unwrap_or(0);
            return Err(DataError::InconsistentColumn {
                column: name.clone(),
                present_in: files[has].path.clone(),
                path: files[lacks].path.clone(),
            });
        }
        let mut kind = PassKind::I64;
        for (f, c) in files.iter().zip(&present) {
            let c = c.expect("present in every file");
            match &c.kind {
                Kind::Str => kind = PassKind::Str,
                Kind::Float if kind != PassKind::Str => kind = PassKind::F64,
                Kind::Other(t) => {
                    return Err(DataError::UnsupportedColumn {
                        path: f.path.clone(),
                        column: name.clone(),
                        detail: t.clone(),
                    });
                }
                _ => {}
            }
        }
        passthrough.push((name.clone(), kind));
    }

    Ok(Plan {
        feature_names,
        feature_cols,
        labels,
        source_column,
        weight: spec.weight_column.clone(),
        passthrough,
    })
}

fn check_numeric(f: &FileInfo, c: &ColInfo) -> Result<(), DataError> {
    match &c.kind {
        Kind::Float | Kind::Int => Ok(()),
        Kind::Str => {
            let detail = match f.format {
                Format::Parquet => "string column".to_string(),
                Format::Csv => {
                    first_non_number(f, c).unwrap_or_else(|| "not all values are numbers".into())
                }
            };
            Err(DataError::NonNumeric {
                path: f.path.clone(),
                column: c.name.clone(),
                detail,
            })
        }
        Kind::Other(t) => Err(DataError::NonNumeric {
            path: f.path.clone(),
            column: c.name.clone(),
            detail: format!("{t} column"),
        }),
    }
}

/// For a CSV column that failed the numeric scan: describe its first non-number value.
fn first_non_number(f: &FileInfo, c: &ColInfo) -> Option<String> {
    let mut rdr = csv_reader(&f.path).ok()?;
    for (row, rec) in rdr.records().enumerate() {
        let rec = rec.ok()?;
        let v = rec.get(c.index)?;
        if !v.is_empty() && !is_number(v) {
            return Some(format!("row {row}: value `{v}` is not a number"));
        }
    }
    Some("the column has no values".into())
}

// ---------------------------------------------------------------------------------------------
// loading

/// Load events from `paths` (concatenated in that order) as described in the module docs.
///
/// * `vocabulary`: the trained model's source labels; every label must be one of them and the
///   table's `sources` is the vocabulary. `None`: `sources` is the sorted set of labels seen.
/// * `require_labels`: every file must provide labels (source column or file label). When
///   `false` and no file provides any, `labels` and `sources` come back empty.
pub fn load_events(
    paths: &[PathBuf],
    spec: &DataSpec,
    vocabulary: Option<&[String]>,
    require_labels: bool,
) -> Result<EventTable, DataError> {
    if paths.is_empty() {
        return Err(DataError::NoInputs);
    }
    let files = paths
        .iter()
        .map(|p| inspect(p))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = plan(&files, spec, require_labels)?;
    let n: usize = files.iter().map(|f| f.rows).sum();
    let nf = plan.feature_names.len();
    if n > u32::MAX as usize {
        return Err(DataError::InvalidSpec(format!(
            "too many events ({n}); at most {} can be loaded",
            u32::MAX
        )));
    }
    let has_labels = plan.labels.iter().any(|l| !matches!(l, LabelSource::None));

    // one allocation per output (zeroed pages come from the OS lazily)
    let mut features = vec![0f32; n * nf];
    let mut labels = if has_labels {
        vec![0u32; n]
    } else {
        Vec::new()
    };
    let mut weights = plan.weight.as_ref().map(|_| vec![0f32; n]);
    let mut pass: Vec<Column> = plan
        .passthrough
        .iter()
        .map(|(_, k)| match k {
            PassKind::Str => Column::Str(vec![String::new(); n]),
            PassKind::I64 => Column::I64(vec![0; n]),
            PassKind::F64 => Column::F64(vec![0.0; n]),
        })
        .collect();

    // jobs: one per row group (parquet) / file (csv), each with its disjoint output slices
    struct Job<'a> {
        file: usize,
        group: usize,
        /// first row of the job within its file
        file_row: usize,
        rows: usize,
        out: Out<'a>,
    }
    let mut jobs: Vec<Job<'_>> = Vec::new();
    let mut job_ranges = Vec::new(); // (global row start, rows, file)
    {
        let mut feat_rest: &mut [f32] = &mut features;
        let mut lab_rest: &mut [u32] = &mut labels;
        let mut w_rest: Option<&mut [f32]> = weights.as_deref_mut();
        let mut pass_rest: Vec<PassSlice<'_>> = pass
            .iter_mut()
            .map(|c| match c {
                Column::Str(v) => PassSlice::Str(v),
                Column::I64(v) => PassSlice::I64(v),
                Column::F64(v) => PassSlice::F64(v),
            })
            .collect();
        let mut global = 0usize;
        for (fi, f) in files.iter().enumerate() {
            let mut file_row = 0usize;
            for (gi, &rows) in f.groups.iter().enumerate() {
                if rows == 0 {
                    continue; // an empty row group (pyarrow writes them): nothing to read
                }
                let (a, b) = std::mem::take(&mut feat_rest).split_at_mut(rows * nf);
                feat_rest = b;
                let lab = if has_labels {
                    let (a, b) = std::mem::take(&mut lab_rest).split_at_mut(rows);
                    lab_rest = b;
                    Some(a)
                } else {
                    None
                };
                let w = w_rest.take().map(|s| {
                    let (a, b) = s.split_at_mut(rows);
                    w_rest = Some(b);
                    a
                });
                let mut p = Vec::with_capacity(pass_rest.len());
                for slot in pass_rest.iter_mut() {
                    let (a, b) = std::mem::replace(slot, PassSlice::I64(&mut [])).split_at(rows);
                    *slot = b;
                    p.push(a);
                }
                jobs.push(Job {
                    file: fi,
                    group: gi,
                    file_row,
                    rows,
                    out: Out {
                        features: a,
                        labels: lab,
                        weights: w,
                        pass: p,
                    },
                });
                job_ranges.push((global, rows, fi));
                file_row += rows;
                global += rows;
            }
        }

        let ctx = Ctx {
            files: &files,
            plan: &plan,
        };
        let njobs = jobs.len();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(njobs)
            .max(1);
        let results: Mutex<Vec<Option<Result<LocalLabels, DataError>>>> =
            Mutex::new((0..njobs).map(|_| None).collect());
        let failed = AtomicBool::new(false);
        let queue = Mutex::new(
            jobs.into_iter()
                .enumerate()
                .collect::<std::collections::VecDeque<_>>(),
        );
        // Each thread opens its own readers: `File` handles cloned by the parquet crate share
        // one file offset, so one reader must not be used from two threads at once.
        let worker = || {
            let mut readers: HashMap<usize, SerializedFileReader<File>> = HashMap::new();
            loop {
                let next = queue.lock().expect("queue lock").pop_front();
                let Some((k, job)) = next else { break };
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let mut out = job.out;
                let r = run_job(
                    &ctx,
                    &mut readers,
                    job.file,
                    job.group,
                    job.file_row,
                    job.rows,
                    &mut out,
                );
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                results.lock().expect("results lock")[k] = Some(r);
            }
        };
        if threads == 1 {
            worker();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(worker);
                }
            });
        }
        let results = results.into_inner().expect("results lock");
        let mut locals = Vec::with_capacity(njobs);
        for r in results {
            match r {
                Some(Ok(l)) => locals.push(l),
                Some(Err(e)) => return Err(e),
                // skipped after an earlier failure: the failure is reported below / above
                None => {}
            }
        }
        if locals.len() != njobs {
            unreachable!("a job was skipped without any job failing");
        }

        // labels: job-local indices -> vocabulary indices
        if has_labels {
            let sources: Vec<String> = match vocabulary {
                Some(v) => v.to_vec(),
                None => {
                    let mut all: Vec<String> = locals
                        .iter()
                        .flat_map(|l| l.names.iter().cloned())
                        .collect();
                    all.sort();
                    all.dedup();
                    all
                }
            };
            let index: HashMap<&str, u32> = sources
                .iter()
                .enumerate()
                .map(|(i, s)| (s.as_str(), i as u32))
                .collect();
            for (local, &(start, rows, fi)) in locals.iter().zip(&job_ranges) {
                let mut map = Vec::with_capacity(local.names.len());
                for (name, &row) in local.names.iter().zip(&local.first_row) {
                    let Some(&g) = index.get(name.as_str()) else {
                        return Err(DataError::UnknownSource {
                            path: files[fi].path.clone(),
                            row,
                            label: name.clone(),
                            known: sources.clone(),
                        });
                    };
                    map.push(g);
                }
                for l in &mut labels[start..start + rows] {
                    *l = map[*l as usize];
                }
            }
            return Ok(EventTable {
                feature_names: plan.feature_names.clone(),
                features,
                labels,
                sources,
                weights,
                passthrough: plan
                    .passthrough
                    .iter()
                    .map(|(n, _)| n.clone())
                    .zip(pass)
                    .collect(),
                file_rows: files.iter().map(|f| (f.path.clone(), f.rows)).collect(),
            });
        }
    }
    Ok(EventTable {
        feature_names: plan.feature_names.clone(),
        features,
        labels: Vec::new(),
        sources: Vec::new(),
        weights,
        passthrough: plan
            .passthrough
            .iter()
            .map(|(n, _)| n.clone())
            .zip(pass)
            .collect(),
        file_rows: files.iter().map(|f| (f.path.clone(), f.rows)).collect(),
    })
}

enum PassSlice<'a> {
    Str(&'a mut [String]),
    I64(&'a mut [i64]),
    F64(&'a mut [f64]),
}

impl<'a> PassSlice<'a> {
    fn split_at(self, mid: usize) -> (PassSlice<'a>, PassSlice<'a>) {
        match self {
            PassSlice::Str(s) => {
                let (a, b) = s.split_at_mut(mid);
                (PassSlice::Str(a), PassSlice::Str(b))
            }
            PassSlice::I64(s) => {
                let (a, b) = s.split_at_mut(mid);
                (PassSlice::I64(a), PassSlice::I64(b))
            }
            PassSlice::F64(s) => {
                let (a, b) = s.split_at_mut(mid);
                (PassSlice::F64(a), PassSlice::F64(b))
            }
        }
    }
}

/// A job's slices of the outputs (`rows` rows each).
struct Out<'a> {
    features: &'a mut [f32],
    labels: Option<&'a mut [u32]>,
    weights: Option<&'a mut [f32]>,
    pass: Vec<PassSlice<'a>>,
}

struct Ctx<'a> {
    files: &'a [FileInfo],
    plan: &'a Plan,
}

/// Labels seen by one job, in first-seen order, with the file row of their first occurrence.
#[derive(Default)]
struct LocalLabels {
    names: Vec<String>,
    first_row: Vec<usize>,
    last: usize,
}

impl LocalLabels {
    fn intern(&mut self, s: &str, file_row: usize) -> u32 {
        if self.names.get(self.last).is_some_and(|n| n == s) {
            return self.last as u32;
        }
        let i = match self.names.iter().position(|n| n == s) {
            Some(i) => i,
            None => {
                self.names.push(s.to_string());
                self.first_row.push(file_row);
                self.names.len() - 1
            }
        };
        self.last = i;
        i as u32
    }
}

/// Where a column read by a job goes.
#[derive(Clone, Copy)]
enum Target {
    Feature(usize),
    Label,
    Weight,
    Pass(usize),
}

fn targets(ctx: &Ctx<'_>, fi: usize) -> Vec<(usize, Target)> {
    let f = &ctx.files[fi];
    let plan = ctx.plan;
    let mut t: Vec<(usize, Target)> = plan.feature_cols[fi]
        .iter()
        .enumerate()
        .map(|(j, &ci)| (ci, Target::Feature(j)))
        .collect();
    if matches!(plan.labels[fi], LabelSource::Column) {
        let ci = f
            .columns
            .iter()
            .position(|c| c.name == plan.source_column)
            .expect("checked in plan");
        t.push((ci, Target::Label));
    }
    if let Some(w) = &plan.weight {
        let ci = f
            .columns
            .iter()
            .position(|c| &c.name == w)
            .expect("checked in plan");
        t.push((ci, Target::Weight));
    }
    for (k, (name, _)) in plan.passthrough.iter().enumerate() {
        let ci = f
            .columns
            .iter()
            .position(|c| &c.name == name)
            .expect("checked in plan");
        t.push((ci, Target::Pass(k)));
    }
    t
}

fn run_job(
    ctx: &Ctx<'_>,
    readers: &mut HashMap<usize, SerializedFileReader<File>>,
    fi: usize,
    group: usize,
    file_row: usize,
    rows: usize,
    out: &mut Out<'_>,
) -> Result<LocalLabels, DataError> {
    let mut local = LocalLabels::default();
    if let LabelSource::File(l) = &ctx.plan.labels[fi] {
        local.intern(l, file_row);
        if let Some(lab) = out.labels.as_deref_mut() {
            lab.fill(0);
        }
    }
    match ctx.files[fi].format {
        Format::Parquet => {
            let reader = match readers.entry(fi) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(open_parquet(&ctx.files[fi].path)?)
                }
            };
            run_parquet(ctx, reader, fi, group, file_row, rows, out, &mut local)?
        }
        Format::Csv => run_csv(ctx, fi, rows, out, &mut local)?,
    }
    Ok(local)
}

// ----- parquet

enum Typed {
    F32(ColumnReaderImpl<FloatType>),
    F64(ColumnReaderImpl<DoubleType>),
    I32(ColumnReaderImpl<Int32Type>),
    I64(ColumnReaderImpl<Int64Type>),
    Bytes(ColumnReaderImpl<ByteArrayType>),
}

enum Buf {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bytes(Vec<ByteArray>),
}

enum ReadIssue {
    Parquet(parquet::errors::ParquetError),
    /// null at this offset within the block
    Null(usize),
    /// the column chunk ended early: rows read
    Short(usize),
}

fn read_block<T: DataType>(
    r: &mut ColumnReaderImpl<T>,
    n: usize,
    vals: &mut Vec<T::T>,
    defs: &mut Vec<i16>,
    max_def: i16,
) -> Result<(), ReadIssue> {
    vals.clear();
    defs.clear();
    let mut got = 0;
    while got < n {
        let (recs, nvals, _levels) = r
            .read_records(n - got, Some(defs), None, vals)
            .map_err(ReadIssue::Parquet)?;
        if recs == 0 {
            return Err(ReadIssue::Short(got));
        }
        got += recs;
        if max_def > 0 && vals.len() < got {
            let _ = nvals;
            let at = defs.iter().position(|&d| d < max_def).unwrap_or(vals.len());
            return Err(ReadIssue::Null(at));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_parquet(
    ctx: &Ctx<'_>,
    reader: &SerializedFileReader<File>,
    fi: usize,
    group: usize,
    file_row: usize,
    rows: usize,
    out: &mut Out<'_>,
    local: &mut LocalLabels,
) -> Result<(), DataError> {
    let f = &ctx.files[fi];
    let path = &f.path;
    if group >= reader.metadata().num_row_groups() {
        return Err(parquet_err(
            path,
            "",
            format!("file changed while reading (no row group {group})"),
        ));
    }
    let rg = reader
        .get_row_group(group)
        .map_err(|e| parquet_err(path, &format!("row group {group}: "), e))?;
    let tg = targets(ctx, fi);
    let mut cols: Vec<(Typed, Buf, i16, Target, usize)> = Vec::with_capacity(tg.len());
    for &(ci, target) in &tg {
        let info = &f.columns[ci];
        let cr = rg.get_column_reader(info.index).map_err(|e| {
            parquet_err(
                path,
                &format!("column `{}`, row group {group}: ", info.name),
                e,
            )
        })?;
        let (typed, buf) = match cr {
            ColumnReader::FloatColumnReader(r) => (Typed::F32(r), Buf::F32(Vec::new())),
            ColumnReader::DoubleColumnReader(r) => (Typed::F64(r), Buf::F64(Vec::new())),
            ColumnReader::Int32ColumnReader(r) => (Typed::I32(r), Buf::I32(Vec::new())),
            ColumnReader::Int64ColumnReader(r) => (Typed::I64(r), Buf::I64(Vec::new())),
            ColumnReader::ByteArrayColumnReader(r) => (Typed::Bytes(r), Buf::Bytes(Vec::new())),
            _ => {
                return Err(DataError::UnsupportedColumn {
                    path: path.clone(),
                    column: info.name.clone(),
                    detail: format!("{:?}", info.physical).to_lowercase(),
                });
            }
        };
        cols.push((typed, buf, info.max_def, target, ci));
    }
    let nf = ctx.plan.feature_names.len();
    let mut defs: Vec<i16> = Vec::with_capacity(BLOCK_ROWS);
    let mut done = 0;
    while done < rows {
        let n = BLOCK_ROWS.min(rows - done);
        for (typed, buf, max_def, target, ci) in cols.iter_mut() {
            let name = &f.columns[*ci].name;
            let res = match (typed, &mut *buf) {
                (Typed::F32(r), Buf::F32(v)) => read_block(r, n, v, &mut defs, *max_def),
                (Typed::F64(r), Buf::F64(v)) => read_block(r, n, v, &mut defs, *max_def),
                (Typed::I32(r), Buf::I32(v)) => read_block(r, n, v, &mut defs, *max_def),
                (Typed::I64(r), Buf::I64(v)) => read_block(r, n, v, &mut defs, *max_def),
                (Typed::Bytes(r), Buf::Bytes(v)) => read_block(r, n, v, &mut defs, *max_def),
                _ => unreachable!("reader and buffer types match"),
            };
            let base = file_row + done; // file row of the block's first row
            match res {
                Ok(()) => {}
                Err(ReadIssue::Parquet(e)) => {
                    return Err(parquet_err(
                        path,
                        &format!("column `{name}`, row group {group}, near row {base}: "),
                        e,
                    ));
                }
                Err(ReadIssue::Short(got)) => {
                    return Err(parquet_err(
                        path,
                        "",
                        format!(
                            "column `{name}`, row group {group}: data ends at row {} of {}",
                            base + got,
                            file_row + rows
                        ),
                    ));
                }
                Err(ReadIssue::Null(at)) => {
                    if let Target::Label = target {
                        return Err(DataError::MissingSourceLabel {
                            path: path.clone(),
                            row: base + at,
                            column: name.clone(),
                        });
                    }
                    return Err(DataError::MissingValue {
                        path: path.clone(),
                        column: name.clone(),
                        row: base + at,
                    });
                }
            }
            let bad = |i: usize, v: f64| DataError::NonFinite {
                path: path.clone(),
                column: name.clone(),
                row: base + i,
                value: v,
            };
            match *target {
                Target::Feature(j) => {
                    let dst = &mut out.features[done * nf..(done + n) * nf];
                    match &*buf {
                        Buf::F32(v) => {
                            scatter(dst, nf, j, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::F64(v) => scatter(dst, nf, j, v.iter().copied(), |x| x as f32, bad)?,
                        Buf::I32(v) => {
                            scatter(dst, nf, j, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::I64(v) => {
                            scatter(dst, nf, j, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::Bytes(_) => unreachable!("checked numeric in plan"),
                    }
                }
                Target::Weight => {
                    let dst = &mut out.weights.as_deref_mut().expect("weights")[done..done + n];
                    match &*buf {
                        Buf::F32(v) => {
                            scatter(dst, 1, 0, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::F64(v) => scatter(dst, 1, 0, v.iter().copied(), |x| x as f32, bad)?,
                        Buf::I32(v) => {
                            scatter(dst, 1, 0, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::I64(v) => {
                            scatter(dst, 1, 0, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::Bytes(_) => unreachable!("checked numeric in plan"),
                    }
                }
                Target::Label => {
                    let dst = &mut out.labels.as_deref_mut().expect("labels")[done..done + n];
                    match &*buf {
                        Buf::Bytes(v) => {
                            for (i, (d, b)) in dst.iter_mut().zip(v).enumerate() {
                                let s = utf8(b, path, name, base + i)?;
                                if s.is_empty() {
                                    return Err(DataError::MissingSourceLabel {
                                        path: path.clone(),
                                        row: base + i,
                                        column: name.clone(),
                                    });
                                }
                                *d = local.intern(s, base + i);
                            }
                        }
                        Buf::I32(v) => {
                            for (i, (d, x)) in dst.iter_mut().zip(v).enumerate() {
                                *d = local.intern(&x.to_string(), base + i);
                            }
                        }
                        Buf::I64(v) => {
                            for (i, (d, x)) in dst.iter_mut().zip(v).enumerate() {
                                *d = local.intern(&x.to_string(), base + i);
                            }
                        }
                        _ => unreachable!("checked in plan"),
                    }
                }
                Target::Pass(k) => {
                    let r = done..done + n;
                    match (&mut out.pass[k], &*buf) {
                        (PassSlice::Str(d), Buf::Bytes(v)) => {
                            for (i, (d, b)) in d[r].iter_mut().zip(v).enumerate() {
                                *d = utf8(b, path, name, base + i)?.to_string();
                            }
                        }
                        (PassSlice::Str(d), b) => {
                            for (i, d) in d[r].iter_mut().enumerate() {
                                *d = match b {
                                    Buf::F32(v) => v[i].to_string(),
                                    Buf::F64(v) => v[i].to_string(),
                                    Buf::I32(v) => v[i].to_string(),
                                    Buf::I64(v) => v[i].to_string(),
                                    Buf::Bytes(_) => unreachable!(),
                                };
                            }
                        }
                        (PassSlice::I64(d), Buf::I32(v)) => {
                            d[r].iter_mut().zip(v).for_each(|(d, &x)| *d = x as i64)
                        }
                        (PassSlice::I64(d), Buf::I64(v)) => d[r].copy_from_slice(v),
                        (PassSlice::F64(d), Buf::F32(v)) => {
                            d[r].iter_mut().zip(v).for_each(|(d, &x)| *d = x as f64)
                        }
                        (PassSlice::F64(d), Buf::F64(v)) => d[r].copy_from_slice(v),
                        (PassSlice::F64(d), Buf::I32(v)) => {
                            d[r].iter_mut().zip(v).for_each(|(d, &x)| *d = x as f64)
                        }
                        (PassSlice::F64(d), Buf::I64(v)) => {
                            d[r].iter_mut().zip(v).for_each(|(d, &x)| *d = x as f64)
                        }
                        _ => unreachable!("passthrough kind chosen from column kinds"),
                    }
                }
            }
        }
        done += n;
    }
    Ok(())
}

fn utf8<'b>(b: &'b ByteArray, path: &Path, column: &str, row: usize) -> Result<&'b str, DataError> {
    std::str::from_utf8(b.data()).map_err(|_| DataError::BadValue {
        path: path.to_path_buf(),
        column: column.to_string(),
        row,
        message: "invalid utf-8".into(),
    })
}

/// Write `values` into column `j` of the row-major `dst` (row stride `stride`), refusing
/// values that are not finite after conversion.
#[inline]
fn scatter(
    dst: &mut [f32],
    stride: usize,
    j: usize,
    values: impl Iterator<Item = f64>,
    conv: impl Fn(f64) -> f32,
    bad: impl Fn(usize, f64) -> DataError,
) -> Result<(), DataError> {
    for (i, (d, v)) in dst.chunks_exact_mut(stride).zip(values).enumerate() {
        let x = conv(v);
        if !x.is_finite() {
            return Err(bad(i, v));
        }
        d[j] = x;
    }
    Ok(())
}

// ----- csv

fn run_csv(
    ctx: &Ctx<'_>,
    fi: usize,
    rows: usize,
    out: &mut Out<'_>,
    local: &mut LocalLabels,
) -> Result<(), DataError> {
    let f = &ctx.files[fi];
    let path = &f.path;
    let nf = ctx.plan.feature_names.len();
    let tg = targets(ctx, fi);
    let mut rdr = csv_reader(path)?;
    let mut rec = csv::StringRecord::new();
    let mut row = 0usize;
    while rdr.read_record(&mut rec).map_err(|e| csv_err(path, e))? {
        if row >= rows {
            return Err(DataError::Csv {
                path: path.clone(),
                message: format!("file changed while reading (more than {rows} rows)"),
            });
        }
        for &(ci, target) in &tg {
            let info = &f.columns[ci];
            let field = rec.get(info.index).unwrap_or("");
            let missing = || DataError::MissingValue {
                path: path.clone(),
                column: info.name.clone(),
                row,
            };
            let number = |s: &str| -> Result<f64, DataError> {
                s.parse::<f64>().map_err(|_| DataError::NonNumeric {
                    path: path.clone(),
                    column: info.name.clone(),
                    detail: format!("row {row}: value `{s}` is not a number"),
                })
            };
            match target {
                Target::Feature(_) | Target::Weight => {
                    if field.is_empty() {
                        return Err(missing());
                    }
                    // parse f32 directly (correct rounding); report the value as a double
                    let x: f32 = match field.parse::<f32>() {
                        Ok(x) => x,
                        Err(_) => number(field)? as f32,
                    };
                    if !x.is_finite() {
                        return Err(DataError::NonFinite {
                            path: path.clone(),
                            column: info.name.clone(),
                            row,
                            value: number(field)?,
                        });
                    }
                    match target {
                        Target::Feature(j) => out.features[row * nf + j] = x,
                        _ => out.weights.as_deref_mut().expect("weights")[row] = x,
                    }
                }
                Target::Label => {
                    if field.is_empty() {
                        return Err(DataError::MissingSourceLabel {
                            path: path.clone(),
                            row,
                            column: info.name.clone(),
                        });
                    }
                    out.labels.as_deref_mut().expect("labels")[row] = local.intern(field, row);
                }
                Target::Pass(k) => match &mut out.pass[k] {
                    PassSlice::Str(d) => d[row] = field.to_string(),
                    PassSlice::I64(d) => {
                        if field.is_empty() {
                            return Err(missing());
                        }
                        d[row] = field.parse::<i64>().map_err(|_| DataError::BadValue {
                            path: path.clone(),
                            column: info.name.clone(),
                            row,
                            message: format!("value `{field}` is not an integer"),
                        })?;
                    }
                    PassSlice::F64(d) => {
                        if field.is_empty() {
                            return Err(missing());
                        }
                        d[row] = number(field)?;
                    }
                },
            }
        }
        row += 1;
    }
    if row != rows {
        return Err(DataError::Csv {
            path: path.clone(),
            message: format!("file changed while reading ({row} rows, expected {rows})"),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// tests

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::io::Write;
    use std::sync::Arc;

    /// A fresh temp directory per test.
    fn tmpdir(name: &str) -> TmpDir {
        let d = std::env::temp_dir().join(format!("bead-data-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TmpDir(d)
    }

    /// Removed when dropped.
    struct TmpDir(PathBuf);

    impl std::ops::Deref for TmpDir {
        type Target = PathBuf;
        fn deref(&self) -> &PathBuf {
            &self.0
        }
    }

    impl Drop for TmpDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    enum Col<'a> {
        F32(&'a str, Vec<f32>),
        F64(&'a str, Vec<f64>),
        I64(&'a str, Vec<i64>),
        Str(&'a str, Vec<&'a str>),
        /// optional float with nulls (None)
        OptF32(&'a str, Vec<Option<f32>>),
    }

    /// Write a flat Parquet file; `group_rows` rows per row group.
    fn write_parquet(path: &Path, cols: &[Col<'_>], group_rows: usize) {
        let rows = match &cols[0] {
            Col::F32(_, v) => v.len(),
            Col::F64(_, v) => v.len(),
            Col::I64(_, v) => v.len(),
            Col::Str(_, v) => v.len(),
            Col::OptF32(_, v) => v.len(),
        };
        let mut bounds = Vec::new();
        let mut start = 0;
        while start < rows || (rows == 0 && start == 0) {
            let end = (start + group_rows).min(rows);
            bounds.push((start, end));
            start = end.max(start + 1);
        }
        write_parquet_groups(path, cols, &bounds);
    }

    /// Row groups with the given `[start, end)` row ranges (an empty range: an empty group).
    fn write_parquet_groups(path: &Path, cols: &[Col<'_>], bounds: &[(usize, usize)]) {
        let mut fields = String::new();
        for c in cols {
            let f = match c {
                Col::F32(n, _) => format!("required float {n};"),
                Col::F64(n, _) => format!("required double {n};"),
                Col::I64(n, _) => format!("required int64 {n};"),
                Col::Str(n, _) => format!("optional binary {n} (UTF8);"),
                Col::OptF32(n, _) => format!("optional float {n};"),
            };
            fields.push_str(&f);
        }
        let schema = Arc::new(parse_message_type(&format!("message m {{ {fields} }}")).unwrap());
        let props = Arc::new(WriterProperties::builder().build());
        let file = File::create(path).unwrap();
        let mut w = SerializedFileWriter::new(file, schema, props).unwrap();
        for &(start, end) in bounds {
            let mut rg = w.next_row_group().unwrap();
            for c in cols {
                let mut cw = rg.next_column().unwrap().unwrap();
                match c {
                    Col::F32(_, v) => {
                        cw.typed::<FloatType>()
                            .write_batch(&v[start..end], None, None)
                            .unwrap();
                    }
                    Col::F64(_, v) => {
                        cw.typed::<DoubleType>()
                            .write_batch(&v[start..end], None, None)
                            .unwrap();
                    }
                    Col::I64(_, v) => {
                        cw.typed::<Int64Type>()
                            .write_batch(&v[start..end], None, None)
                            .unwrap();
                    }
                    Col::Str(_, v) => {
                        let vals: Vec<ByteArray> =
                            v[start..end].iter().map(|s| ByteArray::from(*s)).collect();
                        let defs = vec![1i16; vals.len()];
                        cw.typed::<ByteArrayType>()
                            .write_batch(&vals, Some(&defs), None)
                            .unwrap();
                    }
                    Col::OptF32(_, v) => {
                        let vals: Vec<f32> = v[start..end].iter().flatten().copied().collect();
                        let defs: Vec<i16> =
                            v[start..end].iter().map(|x| x.is_some() as i16).collect();
                        cw.typed::<FloatType>()
                            .write_batch(&vals, Some(&defs), None)
                            .unwrap();
                    }
                }
                cw.close().unwrap();
            }
            rg.close().unwrap();
        }
        w.close().unwrap();
    }

    fn write_text(path: &Path, text: &str) {
        File::create(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// A standard small file: features a (f32), b (f64), c (f32); metadata source, event_id, weight.
    fn std_file(path: &Path, src: &str, n: usize, offset: i64, group_rows: usize) {
        let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let b: Vec<f64> = (0..n).map(|i| 100.0 + i as f64).collect();
        let c: Vec<f32> = (0..n).map(|i| -(i as f32)).collect();
        let ids: Vec<i64> = (0..n as i64).map(|i| offset + i).collect();
        let w: Vec<f32> = vec![1.5; n];
        let s: Vec<&str> = vec![src; n];
        write_parquet(
            path,
            &[
                Col::F32("a", a),
                Col::F64("b", b),
                Col::Str("source", s),
                Col::F32("c", c),
                Col::I64("event_id", ids),
                Col::F32("weight", w),
            ],
            group_rows,
        );
    }

    #[test]
    fn empty_row_groups_are_skipped_not_misread() {
        let d = tmpdir("empty-groups");
        let p = d.join("e.parquet");
        let a: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let s: Vec<&str> = vec!["x"; 10];
        // Groups: [] [0..4) [] [4..10)
        write_parquet_groups(
            &p,
            &[Col::F32("a", a.clone()), Col::Str("source", s)],
            &[(0, 0), (0, 4), (4, 4), (4, 10)],
        );
        let t = load_events(std::slice::from_ref(&p), &DataSpec::default(), None, true).unwrap();
        assert_eq!(t.features, a);
    }

    #[test]
    fn parquet_default_features_labels_passthrough() {
        let d = tmpdir("basic");
        let p1 = d.join("x.parquet");
        let p2 = d.join("y.parquet");
        std_file(&p1, "zeta", 10_000, 0, 3000); // several row groups, blocks cross group ends
        std_file(&p2, "alpha", 5, 1_000_000, 2);
        let spec = DataSpec {
            weight_column: Some("weight".into()),
            ..DataSpec::default()
        };
        let t = load_events(&[p1.clone(), p2.clone()], &spec, None, true).unwrap();
        assert_eq!(t.feature_names, strs(&["a", "b", "c"]));
        assert_eq!(t.len(), 10_005);
        assert_eq!(t.num_features(), 3);
        assert_eq!(t.features.len(), 10_005 * 3);
        assert_eq!(t.row(7), &[7.0, 107.0, -7.0]);
        assert_eq!(t.row(9_999), &[9_999.0, 10_099.0, -9_999.0]);
        assert_eq!(t.row(10_003), &[3.0, 103.0, -3.0]);
        assert_eq!(t.sources, strs(&["alpha", "zeta"]));
        assert_eq!(t.labels[0], 1);
        assert_eq!(t.labels[10_004], 0);
        assert_eq!(t.source_counts(), vec![5, 10_000]);
        assert_eq!(t.weights.as_ref().unwrap()[42], 1.5);
        assert_eq!(t.file_rows, vec![(p1, 10_000), (p2, 5)]);
        let names: Vec<&str> = t.passthrough.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["source", "event_id"]); // `process` absent everywhere: not kept
        match t.passthrough_column("event_id").unwrap() {
            Column::I64(v) => assert_eq!((v[3], v[10_004]), (3, 1_000_004)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            t.passthrough_column("source").unwrap().value_string(10_001),
            "alpha"
        );
    }

    #[test]
    fn explicit_features_order_ints_and_vocabulary() {
        let d = tmpdir("explicit");
        let p = d.join("x.parquet");
        std_file(&p, "b-src", 4, 10, 100);
        let spec = DataSpec {
            features: Some(strs(&["c", "event_id", "a"])),
            ..DataSpec::default()
        };
        let vocab = strs(&["a-src", "b-src", "c-src"]);
        let t = load_events(std::slice::from_ref(&p), &spec, Some(&vocab), true).unwrap();
        assert_eq!(t.row(2), &[-2.0, 12.0, 2.0]);
        assert_eq!(t.sources, vocab);
        assert_eq!(t.labels, vec![1; 4]);
        // unknown label
        let vocab2 = strs(&["a-src"]);
        let e = load_events(&[p], &spec, Some(&vocab2), true).unwrap_err();
        assert!(
            matches!(&e, DataError::UnknownSource { label, row: 0, .. } if label == "b-src"),
            "{e}"
        );
        assert!(e.to_string().contains("a-src"), "{e}");
    }

    #[test]
    fn order_may_differ_between_files() {
        let d = tmpdir("order");
        let p1 = d.join("x.parquet");
        let p2 = d.join("y.parquet");
        write_parquet(
            &p1,
            &[
                Col::F32("a", vec![1.0]),
                Col::F32("b", vec![2.0]),
                Col::Str("source", vec!["s"]),
            ],
            10,
        );
        write_parquet(
            &p2,
            &[
                Col::F32("b", vec![20.0]),
                Col::Str("source", vec!["s"]),
                Col::F32("a", vec![10.0]),
            ],
            10,
        );
        let t = load_events(&[p1, p2], &DataSpec::default(), None, true).unwrap();
        assert_eq!(t.feature_names, strs(&["a", "b"]));
        assert_eq!(t.features, vec![1.0, 2.0, 10.0, 20.0]);
    }

    #[test]
    fn feature_set_mismatch_names_columns() {
        let d = tmpdir("mismatch");
        let p1 = d.join("x.parquet");
        let p2 = d.join("y.parquet");
        write_parquet(
            &p1,
            &[Col::F32("a", vec![1.0]), Col::F32("b", vec![2.0])],
            10,
        );
        write_parquet(
            &p2,
            &[Col::F32("a", vec![1.0]), Col::F32("z", vec![2.0])],
            10,
        );
        let e = load_events(&[p1, p2], &DataSpec::default(), None, false).unwrap_err();
        match &e {
            DataError::FeatureMismatch { extra, missing, .. } => {
                assert_eq!(extra, &strs(&["z"]));
                assert_eq!(missing, &strs(&["b"]));
            }
            other => panic!("{other}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains("y.parquet") && msg.contains("[z]") && msg.contains("[b]"),
            "{msg}"
        );
    }

    #[test]
    fn missing_column_lists_available() {
        let d = tmpdir("missing");
        let p = d.join("x.parquet");
        std_file(&p, "s", 3, 0, 10);
        let spec = DataSpec {
            features: Some(strs(&["a", "nope"])),
            ..DataSpec::default()
        };
        let e = load_events(&[p], &spec, None, true).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::MissingColumn { .. }));
        assert!(
            msg.contains("`nope`") && msg.contains("a, b, source, c, event_id, weight"),
            "{msg}"
        );
    }

    #[test]
    fn non_numeric_feature() {
        let d = tmpdir("nonnum");
        let p = d.join("x.parquet");
        std_file(&p, "s", 3, 0, 10);
        let spec = DataSpec {
            features: Some(strs(&["a", "source"])),
            ..DataSpec::default()
        };
        let e = load_events(&[p], &spec, None, true).unwrap_err();
        assert!(
            matches!(&e, DataError::NonNumeric { column, .. } if column == "source"),
            "{e}"
        );
    }

    #[test]
    fn nan_and_inf_are_reported_with_row() {
        let d = tmpdir("nan");
        let p = d.join("x.parquet");
        let mut b = vec![0.5f32; 9000];
        b[5000] = f32::NAN;
        write_parquet(
            &p,
            &[Col::F32("a", vec![1.0; 9000]), Col::F32("b", b)],
            3000,
        );
        let e =
            load_events(std::slice::from_ref(&p), &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::NonFinite { column, row: 5000, .. } if column == "b"),
            "{e}"
        );
        assert!(
            e.to_string().contains("x.parquet") && e.to_string().contains("row 5000"),
            "{e}"
        );
        // double too large for f32
        let p2 = d.join("y.parquet");
        write_parquet(&p2, &[Col::F64("a", vec![1.0, 1e300])], 10);
        let e = load_events(&[p2], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(&e, DataError::NonFinite { row: 1, .. }), "{e}");
    }

    #[test]
    fn null_feature_is_missing_value() {
        let d = tmpdir("null");
        let p = d.join("x.parquet");
        write_parquet(
            &p,
            &[
                Col::F32("a", vec![1.0, 2.0, 3.0]),
                Col::OptF32("b", vec![Some(1.0), Some(2.0), None]),
            ],
            10,
        );
        let e = load_events(&[p], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::MissingValue { column, row: 2, .. } if column == "b"),
            "{e}"
        );
    }

    #[test]
    fn empty_garbage_and_truncated_files() {
        let d = tmpdir("bad");
        let empty = d.join("empty.parquet");
        write_parquet(&empty, &[Col::F32("a", vec![])], 10);
        let e = load_events(&[empty], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::EmptyFile { .. }), "{e}");

        let garbage = d.join("garbage.parquet");
        write_text(&garbage, "this is not parquet at all, not even close");
        let e = load_events(&[garbage], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::Parquet { .. }), "{e}");

        let good = d.join("good.parquet");
        std_file(&good, "s", 2000, 0, 2000);
        let bytes = std::fs::read(&good).unwrap();
        let trunc = d.join("trunc.parquet");
        std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
        let e = load_events(&[trunc], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::Parquet { .. }), "{e}");
        // corrupt the middle but keep the footer
        let mut bad = bytes.clone();
        for b in &mut bad[200..bytes.len() / 2] {
            *b = 0xAB;
        }
        let corrupt = d.join("corrupt.parquet");
        std::fs::write(&corrupt, &bad).unwrap();
        let e = load_events(&[corrupt], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(e, DataError::Parquet { .. } | DataError::NonFinite { .. }),
            "{e}"
        );

        let e =
            load_events(&[d.join("nope.parquet")], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e}");
        let e = load_events(&[d.join("x.txt")], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::UnsupportedFormat { .. }), "{e}");
        let e = load_events(&[], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::NoInputs), "{e}");

        let empty_csv = d.join("e.csv");
        write_text(&empty_csv, "a,b\n");
        let e = load_events(&[empty_csv], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::EmptyFile { .. }), "{e}");
    }

    #[test]
    fn labels_from_file_labels_and_missing_labels() {
        let d = tmpdir("labels");
        let p1 = d.join("nolabel-one.parquet");
        let p2 = d.join("nolabel-two.parquet");
        write_parquet(&p1, &[Col::F32("a", vec![1.0, 2.0])], 10);
        write_parquet(&p2, &[Col::F32("a", vec![3.0])], 10);
        // no labels anywhere: fine for scoring, error for training
        let t = load_events(&[p1.clone(), p2.clone()], &DataSpec::default(), None, false).unwrap();
        assert!(t.labels.is_empty() && t.sources.is_empty() && !t.has_labels());
        let e =
            load_events(&[p1.clone(), p2.clone()], &DataSpec::default(), None, true).unwrap_err();
        assert!(
            matches!(&e, DataError::NoSourceLabel { path, .. } if path == &p1),
            "{e}"
        );
        // one file labelled, the other not: error even when labels are optional
        let spec = DataSpec {
            file_labels: vec![("*-one.parquet".into(), "gen-one".into())],
            ..DataSpec::default()
        };
        let e = load_events(&[p1.clone(), p2.clone()], &spec, None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::NoSourceLabel { path, .. } if path == &p2),
            "{e}"
        );
        // both labelled: by glob on file name and by exact path
        let spec = DataSpec {
            file_labels: vec![
                ("*-one.parquet".into(), "gen-one".into()),
                (p2.display().to_string(), "gen-two".into()),
            ],
            ..DataSpec::default()
        };
        let t = load_events(&[p1.clone(), p2.clone()], &spec, None, true).unwrap();
        assert_eq!(t.sources, strs(&["gen-one", "gen-two"]));
        assert_eq!(t.labels, vec![0, 0, 1]);
        // a file label overrides the source column
        let p3 = d.join("col.parquet");
        std_file(&p3, "from-column", 3, 0, 10);
        let spec = DataSpec {
            file_labels: vec![("col.parquet".into(), "override".into())],
            ..DataSpec::default()
        };
        let t = load_events(std::slice::from_ref(&p3), &spec, None, true).unwrap();
        assert_eq!(t.sources, strs(&["override"]));
        // passthrough `source` still holds the column's values
        assert_eq!(
            t.passthrough_column("source").unwrap().value_string(0),
            "from-column"
        );
        // empty label in the column
        let p4 = d.join("emptylabel.parquet");
        write_parquet(
            &p4,
            &[
                Col::F32("a", vec![1.0, 2.0]),
                Col::Str("source", vec!["s", ""]),
            ],
            10,
        );
        let e = load_events(&[p4], &DataSpec::default(), None, true).unwrap_err();
        assert!(
            matches!(e, DataError::MissingSourceLabel { row: 1, .. }),
            "{e}"
        );
    }

    #[test]
    fn csv_loading_and_errors() {
        let d = tmpdir("csv");
        let p = d.join("ev.csv");
        write_text(
            &p,
            "b,a,source,process,event_id\n1.5,2,s1,qcd,7\n-3e2, 4 ,s2,ttbar,8\n",
        );
        let t = load_events(std::slice::from_ref(&p), &DataSpec::default(), None, true).unwrap();
        assert_eq!(t.feature_names, strs(&["b", "a"]));
        assert_eq!(t.features, vec![1.5, 2.0, -300.0, 4.0]);
        assert_eq!(t.sources, strs(&["s1", "s2"]));
        assert_eq!(t.labels, vec![0, 1]);
        assert_eq!(
            t.passthrough_column("process").unwrap(),
            &Column::Str(strs(&["qcd", "ttbar"]))
        );
        assert_eq!(
            t.passthrough_column("event_id").unwrap(),
            &Column::I64(vec![7, 8])
        );

        // csv and parquet mixed, features mapped by name
        let pq = d.join("ev.parquet");
        write_parquet(
            &pq,
            &[
                Col::F32("a", vec![10.0]),
                Col::F32("b", vec![20.0]),
                Col::Str("source", vec!["s1"]),
                Col::Str("process", vec!["wjet"]),
                Col::I64("event_id", vec![9]),
            ],
            10,
        );
        let t = load_events(&[p.clone(), pq], &DataSpec::default(), None, true).unwrap();
        assert_eq!(t.row(2), &[20.0, 10.0]);
        assert_eq!(
            t.passthrough_column("event_id").unwrap(),
            &Column::I64(vec![7, 8, 9])
        );

        let nan = d.join("nan.csv");
        write_text(&nan, "a,b\n1,2\n3,NaN\n");
        let e = load_events(&[nan], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::NonFinite { column, row: 1, .. } if column == "b"),
            "{e}"
        );

        let inf = d.join("inf.csv");
        write_text(&inf, "a,b\n1,2\n3,1e40\n");
        let e = load_events(&[inf], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::NonFinite { column, row: 1, .. } if column == "b"),
            "{e}"
        );

        let empty_cell = d.join("cell.csv");
        write_text(&empty_cell, "a,b\n1,2\n3,\n");
        let e = load_events(&[empty_cell], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::MissingValue { column, row: 1, .. } if column == "b"),
            "{e}"
        );

        let text = d.join("text.csv");
        write_text(&text, "a,b\n1,2\n3,oops\n");
        let spec = DataSpec {
            features: Some(strs(&["a", "b"])),
            ..DataSpec::default()
        };
        let e = load_events(&[text], &spec, None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::NonNumeric { column, detail, .. } if column == "b" && detail.contains("row 1")),
            "{e}"
        );

        let ragged = d.join("ragged.csv");
        write_text(&ragged, "a,b\n1,2\n3\n");
        let e = load_events(&[ragged], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::Csv { .. }), "{e}");
    }

    #[test]
    fn passthrough_in_some_files_only_is_an_error() {
        let d = tmpdir("pass");
        let p1 = d.join("x.parquet");
        let p2 = d.join("y.parquet");
        write_parquet(
            &p1,
            &[Col::F32("a", vec![1.0]), Col::Str("process", vec!["qcd"])],
            10,
        );
        write_parquet(&p2, &[Col::F32("a", vec![1.0])], 10);
        let e = load_events(&[p1, p2], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::InconsistentColumn { column, .. } if column == "process"),
            "{e}"
        );
    }

    #[test]
    fn select_and_gather() {
        let d = tmpdir("select");
        let p = d.join("x.parquet");
        std_file(&p, "s", 5, 0, 10);
        let mut t = load_events(&[p], &DataSpec::default(), None, true).unwrap();
        t.select_features(&strs(&["c", "a"])).unwrap();
        assert_eq!(t.feature_names, strs(&["c", "a"]));
        assert_eq!(
            t.features,
            vec![-0.0, 0.0, -1.0, 1.0, -2.0, 2.0, -3.0, 3.0, -4.0, 4.0]
        );
        let mut batch = Vec::new();
        t.gather_rows(&[4, 1], &mut batch);
        assert_eq!(batch, vec![-4.0, 4.0, -1.0, 1.0]);
        assert!(matches!(
            t.select_features(&strs(&["b"])),
            Err(DataError::UnknownFeature { .. })
        ));
    }

    #[test]
    fn expand_inputs_globs_dirs_and_errors() {
        let d = tmpdir("expand");
        for n in ["b.parquet", "a.parquet", "c.csv", "notes.txt"] {
            write_text(&d.join(n), "x");
        }
        let g = format!("{}/*.parquet", d.display());
        let v = expand_inputs(&[g]).unwrap();
        assert_eq!(v, vec![d.join("a.parquet"), d.join("b.parquet")]);
        let v = expand_inputs(&[d.display().to_string()]).unwrap();
        assert_eq!(
            v,
            vec![d.join("a.parquet"), d.join("b.parquet"), d.join("c.csv")]
        );
        let e = expand_inputs(&[format!("{}/*.nothing", d.display())]).unwrap_err();
        assert!(
            matches!(e, DataError::NoMatch { .. }) && e.to_string().contains("matches no files"),
            "{e}"
        );
        assert!(matches!(
            expand_inputs(&[d.join("missing.csv").display().to_string()]),
            Err(DataError::Io { .. })
        ));
        assert!(matches!(expand_inputs(&[]), Err(DataError::NoInputs)));
    }

    #[test]
    fn split_is_deterministic_and_complete() {
        let (t1, v1) = split_indices(1000, 0.2, 7);
        let (t2, v2) = split_indices(1000, 0.2, 7);
        assert_eq!((&t1, &v1), (&t2, &v2));
        assert_eq!(v1.len(), 200);
        assert_eq!(t1.len(), 800);
        let mut all: Vec<u32> = t1.iter().chain(&v1).copied().collect();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        let (_, v3) = split_indices(1000, 0.2, 8);
        assert_ne!(v1, v3);
        assert_eq!(split_indices(10, 0.0, 1).1.len(), 0);
        assert_eq!(split_indices(10, 1.0, 1).0.len(), 0);
    }

    /// The shipped sample and (when present) the full data set.
    #[test]
    fn shipped_sample_loads() {
        // BEAD_SAMPLE_DIR overrides (for building this module outside the workspace)
        let root = std::env::var_os("BEAD_SAMPLE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("..")
                    .join("data")
                    .join("sample")
            });
        if !root.exists() {
            eprintln!("skipping: {} not found", root.display());
            return;
        }
        let paths = expand_inputs(&[format!("{}/train/*.parquet", root.display())]).unwrap();
        let t = load_events(&paths, &DataSpec::default(), None, true).unwrap();
        assert_eq!(t.len(), 7500);
        assert_eq!(t.num_features(), 57);
        assert_eq!(t.feature_names[0], "MET_pt");
        assert_eq!(
            t.sources,
            strs(&["pythia-simple-a14", "pythia-simple-monash", "pythia-vincia"])
        );
        let csv =
            load_events(&[root.join("events.csv")], &DataSpec::default(), None, true).unwrap();
        assert_eq!(csv.feature_names, t.feature_names);
        let test = load_events(
            &[root.join("test/pythia-simple-monash.parquet")],
            &DataSpec::default(),
            Some(&t.sources),
            true,
        )
        .unwrap();
        assert_eq!(&test.features[..200 * 57], &csv.features[..]);
    }
}
