//! Python bindings of the bead runtime (`bead-infer`): the extension module `bead._bead`,
//! re-exported by the Python package `bead` (`python/bead/__init__.py`).
//!
//! `bead.Model` wraps one [`bead_infer::Model`] and one cached [`Session`]. Scoring borrows
//! numpy arrays without copying when they are C-contiguous float32, releases the GIL for
//! anything but tiny batches, and spreads large batches over `threads` scoped threads, one
//! session each. Data frames are handled in Python (`bead/_frame.py`), which hands the
//! columns back to `Model._score_columns` so the whole `[N, F]` matrix is never built.

mod score;

use std::path::PathBuf;
use std::sync::Mutex;

use bead_infer::{LoadError, Model as Runtime, ScoreError, Session, onnx};
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyType};

use crate::score::{Column, Events, score_events};

pyo3::create_exception!(
    bead,
    BeadError,
    PyValueError,
    "A model that cannot be loaded, or input that cannot be scored. The message is the runtime's."
);

/// Batches smaller than this many floats (about 30 µs of scoring) keep the GIL. Releasing it
/// costs only ~10 ns, but while other Python threads run, taking it back can wait for a
/// whole switch interval (5 ms by default), far longer than scoring a small batch.
const DETACH_MIN_FLOATS: usize = 4096;

/// What to do with events that have a NaN or infinite feature.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NonFinite {
    /// Raise `BeadError` naming the first such event and feature.
    Raise,
    /// Give those events the score NaN.
    Nan,
}

impl NonFinite {
    fn parse(value: &str) -> PyResult<Self> {
        match value {
            "raise" => Ok(NonFinite::Raise),
            "nan" => Ok(NonFinite::Nan),
            other => Err(PyValueError::new_err(format!(
                "nonfinite must be \"raise\" or \"nan\", not {other:?}"
            ))),
        }
    }
}

/// An exported bead model (one ONNX file), ready to score events.
///
/// ``Model(path)`` loads and checks the file. A Model can be shared by threads and pickled
/// (it carries the ONNX bytes), so it can be sent to Dask workers.
#[pyclass(module = "bead", name = "Model", frozen)]
struct Model {
    runtime: Runtime,
    /// The ONNX file, for pickling.
    bytes: Vec<u8>,
    /// The raw `bead` metadata JSON (the runtime's `ModelInfo` drops fields it does not use).
    metadata_json: String,
    /// `rate_hz` of each threshold, in metadata order, where calibrated for a rate.
    rates_hz: Vec<Option<f64>>,
    /// Reused by calls from one Python thread at a time; concurrent calls make their own.
    session: Mutex<Session>,
}

fn bead_error(message: impl std::fmt::Display) -> PyErr {
    BeadError::new_err(message.to_string())
}

impl Model {
    fn from_vec(py: Python<'_>, bytes: Vec<u8>, name: &str) -> PyResult<Self> {
        let runtime = py
            .detach(|| Runtime::from_bytes(&bytes, name))
            .map_err(bead_error)?;
        let metadata_json = onnx::decode_model(&bytes)
            .ok()
            .and_then(|proto| {
                proto
                    .metadata_props
                    .into_iter()
                    .find(|entry| entry.key == bead_infer::contract::METADATA_KEY)
            })
            .map(|entry| entry.value)
            .unwrap_or_default();
        let metadata: serde_json::Value = serde_json::from_str(&metadata_json).unwrap_or_default();
        let rates_hz = metadata
            .get("thresholds")
            .and_then(serde_json::Value::as_array)
            .map(|thresholds| {
                thresholds
                    .iter()
                    .map(|t| t.get("rate_hz").and_then(serde_json::Value::as_f64))
                    .collect()
            })
            .unwrap_or_default();
        let session = Mutex::new(runtime.session());
        Ok(Model {
            runtime,
            bytes,
            metadata_json,
            rates_hz,
            session,
        })
    }

    fn num_features(&self) -> usize {
        self.runtime.num_features()
    }

    fn threshold_for(&self, fpr: f64) -> PyResult<f32> {
        self.runtime.info().threshold_for_fpr(fpr).ok_or_else(|| {
            let calibrated: Vec<String> = self
                .runtime
                .info()
                .thresholds
                .iter()
                .map(|t| format!("{:e}", t.fpr))
                .collect();
            bead_error(format!(
                "{}: no threshold calibrated for FPR {fpr:e} (calibrated: {}; add it with \
                 `bead calibrate --fpr`)",
                self.runtime.name(),
                if calibrated.is_empty() {
                    "none".to_owned()
                } else {
                    calibrated.join(", ")
                }
            ))
        })
    }

    /// Scores `n` events, releasing the GIL unless the batch is tiny.
    fn run(
        &self,
        py: Python<'_>,
        events: &Events<'_>,
        n: usize,
        threads: usize,
        nonfinite: NonFinite,
    ) -> PyResult<Vec<f32>> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |t| t.get()),
            t => t,
        };
        let mut out = vec![0.0f32; n];
        let mut work = || {
            let mut fresh;
            let mut cached = self.session.try_lock();
            let session = match cached.as_deref_mut() {
                Ok(session) => session,
                Err(_) => {
                    fresh = self.runtime.session();
                    &mut fresh
                }
            };
            score_events(&self.runtime, session, events, &mut out, threads)
        };
        let result = if n.saturating_mul(self.num_features()) < DETACH_MIN_FLOATS {
            work()
        } else {
            py.detach(work)
        };
        match result {
            Ok(()) => Ok(out),
            Err(ScoreError::NonFinite { .. }) if nonfinite == NonFinite::Nan => Ok(out),
            Err(e @ ScoreError::NonFinite { feature, .. }) => {
                let name = self
                    .runtime
                    .info()
                    .features
                    .get(feature)
                    .map_or("", String::as_str);
                Err(bead_error(format!("{e} ({name})")))
            }
            Err(e) => Err(bead_error(e)),
        }
    }

    fn wrong_width(&self, got: usize, what: &str) -> PyErr {
        let names = &self.runtime.info().features;
        let shown = match names.as_slice() {
            [first, second, .., last] if names.len() > 4 => {
                format!("{first}, {second}, …, {last}")
            }
            all => all.join(", "),
        };
        bead_error(format!(
            "input has wrong length: {what} has {got} features, the model takes {} ({shown})",
            names.len()
        ))
    }

    fn score_array(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        threads: usize,
        nonfinite: NonFinite,
    ) -> PyResult<Vec<f32>> {
        if let Ok(array) = x.cast::<PyArray2<f32>>() {
            return self.score_f32(
                py,
                &array.try_readonly().map_err(bead_error)?,
                threads,
                nonfinite,
            );
        }
        if let Ok(array) = x.cast::<PyArray2<f64>>() {
            let array = array.try_readonly().map_err(bead_error)?;
            let view = array.as_array();
            let (n, f) = view.dim();
            if f != self.num_features() {
                return Err(self.wrong_width(f, "x"));
            }
            return self.run(py, &Events::Strided64(view), n, threads, nonfinite);
        }
        // A frame's columns would be taken in the frame's order, not by name.
        if x.hasattr("columns")? || x.hasattr("column_names")? {
            return Err(PyTypeError::new_err(format!(
                "score takes an array in feature_names order, not a {}: score data frames \
                 by column name with score_frame",
                x.get_type().name()?
            )));
        }
        // Lists, integer or float16 arrays, array-likes: whatever numpy turns into float32.
        let numpy = py.import("numpy")?;
        let converted = numpy.call_method1("asarray", (x, numpy.getattr("float32")?))?;
        match converted.cast::<PyArray2<f32>>() {
            Ok(array) => self.score_f32(
                py,
                &array.try_readonly().map_err(bead_error)?,
                threads,
                nonfinite,
            ),
            Err(_) => Err(bead_error(format!(
                "expected a 2-D array of events [N, {}], got shape {}",
                self.num_features(),
                converted.getattr("shape")?
            ))),
        }
    }

    fn score_f32(
        &self,
        py: Python<'_>,
        array: &PyReadonlyArray2<'_, f32>,
        threads: usize,
        nonfinite: NonFinite,
    ) -> PyResult<Vec<f32>> {
        let (n, f) = array.as_array().dim();
        if f != self.num_features() {
            return Err(self.wrong_width(f, "x"));
        }
        // `as_slice` also accepts Fortran order, which is not row-major.
        let rows = array
            .is_c_contiguous()
            .then(|| array.as_slice().ok())
            .flatten();
        let events = match rows {
            Some(rows) => Events::RowMajor(rows),
            None => Events::Strided32(array.as_array()),
        };
        self.run(py, &events, n, threads, nonfinite)
    }
}

/// What `__reduce__` returns: `Model.from_bytes` and its arguments.
type Reduce<'py> = (Bound<'py, PyAny>, (Bound<'py, PyBytes>, String));

/// A borrowed feature column.
enum ColumnArray<'py> {
    F32(PyReadonlyArray1<'py, f32>),
    F64(PyReadonlyArray1<'py, f64>),
}

#[pymethods]
impl Model {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let name = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|source| {
            bead_error(LoadError::Io {
                path: name.clone(),
                source,
            })
        })?;
        Model::from_vec(py, bytes, &name)
    }

    /// Loads a model from the bytes of an ONNX file; ``name`` is used in error messages.
    #[classmethod]
    #[pyo3(signature = (data, name = "<bytes>"))]
    fn from_bytes(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        data: Vec<u8>,
        name: &str,
    ) -> PyResult<Self> {
        Model::from_vec(py, data, name)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Reduce<'py>> {
        let py = slf.py();
        let model = slf.get();
        Ok((
            slf.get_type().getattr("from_bytes")?,
            (
                PyBytes::new(py, &model.bytes),
                model.runtime.name().to_owned(),
            ),
        ))
    }

    fn __repr__(&self) -> String {
        format!(
            "bead.Model({:?}, features={}, score={:?}, kernel={:?})",
            self.runtime.name(),
            self.num_features(),
            self.runtime.info().score,
            self.runtime.kernel_name()
        )
    }

    /// Names of the input features, in column order of ``score``'s ``x``.
    #[getter]
    fn feature_names(&self) -> Vec<String> {
        self.runtime.info().features.clone()
    }

    /// Number of input features per event (``len(feature_names)``).
    #[getter(num_features)]
    fn num_features_py(&self) -> usize {
        self.num_features()
    }

    /// The score head, e.g. ``"cluster"`` or ``"mu2"``; the name of ``score_frame``'s Series.
    #[getter]
    fn score_name(&self) -> String {
        self.runtime.info().score.clone()
    }

    /// The training sources (generators and tunes) the model was trained on.
    #[getter]
    fn sources(&self) -> Vec<String> {
        self.runtime.info().sources.clone()
    }

    /// Calibrated working points: a list of dicts with ``fpr``, ``value`` (accept when the
    /// score is above it) and, where calibrated for a trigger rate, ``rate_hz``.
    #[getter]
    fn thresholds<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.runtime
            .info()
            .thresholds
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let entry = PyDict::new(py);
                entry.set_item("fpr", t.fpr)?;
                entry.set_item("value", t.threshold)?;
                if let Some(rate) = self.rates_hz.get(i).copied().flatten() {
                    entry.set_item("rate_hz", rate)?;
                }
                Ok(entry)
            })
            .collect()
    }

    /// The whole ``bead`` metadata of the ONNX file, as a dict.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?
            .call_method1("loads", (self.metadata_json.as_str(),))
    }

    /// The file the model was loaded from (or the name given to ``from_bytes``).
    #[getter]
    fn name(&self) -> String {
        self.runtime.name().to_owned()
    }

    /// The kernel chosen for this CPU: ``"avx512f"``, ``"avx2+fma"`` or ``"portable"``.
    #[getter]
    fn kernel(&self) -> &'static str {
        self.runtime.kernel_name()
    }

    /// The score threshold calibrated for this false-positive rate (``bead calibrate``).
    ///
    /// Raises BeadError when the model has no threshold for it.
    fn threshold(&self, fpr: f64) -> PyResult<f32> {
        self.threshold_for(fpr)
    }

    /// Scores events: ``x`` is ``[N, F]`` float32 or float64 in ``feature_names`` order.
    ///
    /// A C-contiguous float32 array is read in place; float64 and strided arrays are
    /// converted block by block; anything else goes through ``numpy.asarray(x, float32)``.
    /// Returns float32 ``[N]``. The GIL is released while scoring. ``threads`` > 1 splits
    /// large batches over that many threads (0: one per core); the result is identical.
    /// ``nonfinite="raise"`` raises BeadError on an event with a NaN or infinite feature,
    /// ``"nan"`` gives such events the score NaN.
    #[pyo3(signature = (x, *, threads = 1, nonfinite = "raise"))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        threads: usize,
        nonfinite: &str,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let scores = self.score_array(py, x, threads, NonFinite::parse(nonfinite)?)?;
        Ok(PyArray1::from_vec(py, scores))
    }

    /// Whether each event passes the working point ``fpr``: ``score(x) > threshold(fpr)``.
    ///
    /// Events scored NaN (``nonfinite="nan"``) are not accepted.
    #[pyo3(signature = (x, fpr, *, threads = 1, nonfinite = "raise"))]
    fn accept<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        fpr: f64,
        threads: usize,
        nonfinite: &str,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let threshold = self.threshold_for(fpr)?;
        let scores = self.score_array(py, x, threads, NonFinite::parse(nonfinite)?)?;
        let accepted: Vec<bool> = scores.iter().map(|&s| s > threshold).collect();
        Ok(PyArray1::from_vec(py, accepted))
    }

    /// Scores a pandas DataFrame or a pyarrow Table / RecordBatch, taking the columns named
    /// in ``feature_names`` (other columns are ignored). Returns a float32 pandas Series
    /// named ``score_name`` on the frame's index. ``threads`` and ``nonfinite`` as in
    /// ``score``. Usable with Dask: ``ddf.map_partitions(model.score_frame)``.
    #[pyo3(signature = (frame, *, threads = 1, nonfinite = "raise"))]
    fn score_frame<'py>(
        slf: &Bound<'py, Self>,
        frame: &Bound<'py, PyAny>,
        threads: usize,
        nonfinite: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.py()
            .import("bead._frame")?
            .call_method1("score_frame", (slf, frame, threads, nonfinite))
    }

    /// Scores events given as one 1-D float32 or float64 array per feature, in
    /// ``feature_names`` order (what ``score_frame`` does with a frame's columns).
    #[pyo3(name = "_score_columns", signature = (columns, threads = 1, nonfinite = "raise"))]
    fn score_columns<'py>(
        &self,
        py: Python<'py>,
        columns: Vec<Bound<'py, PyAny>>,
        threads: usize,
        nonfinite: &str,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let nonfinite = NonFinite::parse(nonfinite)?;
        if columns.len() != self.num_features() {
            return Err(self.wrong_width(columns.len(), "the frame"));
        }
        let arrays = columns
            .iter()
            .zip(&self.runtime.info().features)
            .map(|(column, name)| {
                if let Ok(a) = column.cast::<PyArray1<f32>>() {
                    a.try_readonly().map(ColumnArray::F32).map_err(bead_error)
                } else if let Ok(a) = column.cast::<PyArray1<f64>>() {
                    a.try_readonly().map(ColumnArray::F64).map_err(bead_error)
                } else {
                    Err(bead_error(format!(
                        "column {name}: expected a 1-D float32 or float64 array"
                    )))
                }
            })
            .collect::<PyResult<Vec<_>>>()?;
        let views: Vec<Column<'_>> = arrays
            .iter()
            .map(|a| match a {
                ColumnArray::F32(a) => Column::F32(a.as_array()),
                ColumnArray::F64(a) => Column::F64(a.as_array()),
            })
            .collect();
        let n = views.first().map_or(0, Column::len);
        for (view, name) in views.iter().zip(&self.runtime.info().features) {
            let len = view.len();
            if len != n {
                return Err(bead_error(format!(
                    "column {name} has {len} rows, the first column {n}"
                )));
            }
        }
        let scores = self.run(py, &Events::Columns(views), n, threads, nonfinite)?;
        Ok(PyArray1::from_vec(py, scores))
    }
}

/// The compiled part of the ``bead`` package: ``Model`` and ``BeadError``.
#[pymodule(name = "_bead")]
mod bead_module {
    #[pymodule_export]
    use super::{BeadError, Model};
}
