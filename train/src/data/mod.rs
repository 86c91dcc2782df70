//! Event loading: Parquet, CSV and ROOT files into one row-major `f32` table.
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
//!   (comma-separated, header row, fields trimmed) and `.root` (one TTree; its branches are
//!   the columns, NanoAOD-style collections map onto padded features: see `root` and
//!   [`RootSpec`]). Anything else is an error.
//! * **Features**: `DataSpec::features` in that order (other columns are not read), or by
//!   default every column that is not metadata, in the column order of the first file.
//!   Metadata columns are the source column, the weight column, `weight`, `event_id`, the
//!   passthrough names (default `source`, `process`, `event_id`) and `DataSpec::ignore`. Every
//!   default feature must be numeric (Parquet `FLOAT`/`DOUBLE`/`INT32`/`INT64`; CSV: every
//!   non-empty value parses as a number): a string, boolean, float16, decimal or nested column,
//!   or a CSV column with a cell such as `abc`, is an error naming the file, the column and its
//!   type (for CSV the row and the cell), never silently dropped; list the features or ignore
//!   the column. Integers are converted to `f32`. Every file must have the same feature set;
//!   columns are mapped by name, so the order may differ from file to file.
//! * **Column names** must be unique within a file.
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
//! * **Footers are checked before they are trusted**: the row counts, offsets and value counts
//!   of a Parquet footer are held against each other, against the file size and against the
//!   page headers (see `footer`) before anything is allocated, so a corrupt or lying footer is
//!   an error naming the file, not a huge allocation or a panic in the decoder.
//!
//! # Memory
//!
//! Row counts come from the checked Parquet footers (a counting pass for CSV). The row-major
//! feature buffer is allocated once (`n × F` floats, fallibly: a table that does not fit is
//! [`DataError::TooLarge`]), and each Parquet row group is decoded in blocks of a few thousand
//! rows straight into its slice of that buffer, row groups in parallel on scoped threads. No
//! per-row structures are built; the only other allocations are the label, weight and
//! passthrough columns.
//!
//! # Layout
//!
//! In the order a load runs: `inspect` finds the files ([`expand_inputs`]) and reads their
//! schemas and row counts without decoding data, `footer` checking what Parquet footers claim;
//! `columns` plans which column of each file goes where; `load` ([`load_events`]) allocates
//! the outputs and runs one job per row group or file with the `parquet` and `csv` readers.
//! `table` holds the types ([`DataSpec`], [`EventTable`], [`Column`]) and [`split_indices`];
//! `error` holds [`DataError`], the one error type.

mod columns;
mod csv;
mod error;
mod footer;
mod inspect;
mod load;
mod page_check;
mod page_header;
mod parquet;
mod root;
mod table;
#[cfg(test)]
pub(crate) mod testutil;

pub use error::DataError;
pub use inspect::expand_inputs;
pub use load::load_events;
pub use root::RootSpec;
pub use table::{Column, DataSpec, EventTable, split_indices};

/// Default name of the column holding the source (generator configuration) label.
pub const DEFAULT_SOURCE_COLUMN: &str = "source";

/// Default passthrough columns: kept for output when present.
pub const DEFAULT_PASSTHROUGH: [&str; 3] = ["source", "process", "event_id"];
