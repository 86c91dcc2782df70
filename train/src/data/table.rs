//! What the loader is asked for ([`DataSpec`]) and what it returns ([`EventTable`] with its
//! passthrough [`Column`]s), plus the seeded train/validation split.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{DEFAULT_PASSTHROUGH, DEFAULT_SOURCE_COLUMN, DataError, RootSpec};

/// What to read from the event files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataSpec {
    /// Feature columns in model order; `None`: every column that is not metadata (source,
    /// weight, `event_id`, passthrough and `ignore` columns), in the order of the first file.
    /// Each of those must then be numeric.
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
    /// Columns that are neither features nor read at all when `features` is `None`, such as
    /// string or boolean bookkeeping columns (default: none).
    pub ignore: Vec<String>,
    /// ROOT files: the tree and the mapping of feature names onto branches.
    pub root: RootSpec,
}

impl Default for DataSpec {
    fn default() -> Self {
        Self {
            features: None,
            source_column: None,
            weight_column: None,
            file_labels: Vec::new(),
            passthrough: DEFAULT_PASSTHROUGH.iter().map(|s| s.to_string()).collect(),
            ignore: Vec::new(),
            root: RootSpec::default(),
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

#[cfg(test)]
mod tests {
    use crate::data::testutil::*;
    use crate::data::{DataError, DataSpec, load_events, split_indices};

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
}
