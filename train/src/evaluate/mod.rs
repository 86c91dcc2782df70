//! Evaluation and calibration: detection power per signal, false-positive inflation per
//! background source, trigger thresholds, plots.
//!
//! Every score is computed by the runtime on the exported graph of each head, so the numbers
//! describe exactly what a trigger would run. Thresholds are calibrated on the validation
//! split of the training sources (never on the test files being evaluated): the
//! false-positive inflation of a source is its FPR at that threshold divided by the target,
//! which stays near 1 when the model is robust to that generator.
//!
//! - `report`: [`evaluate()`] and the [`Report`] it returns, [`summary`];
//! - `calibrate`: [`calibrate()`], thresholds into the manifest and the ONNX files;
//! - `statistics`: ROC, working points, Clopper–Pearson intervals, PCA, silhouette;
//! - `plots`: the PNG pictures `bead evaluate --plots` writes.

mod calibrate;
pub(crate) mod plots;
mod report;
pub(crate) mod statistics;

pub(crate) use calibrate::runtime_model;
pub use calibrate::{CalibrationOptions, calibrate, calibrate_onnx};
pub use report::{
    Efficiency, EvaluateOptions, HeadReport, LatentReport, Report, SignalReport, SourceReport,
    evaluate, summary,
};

/// Signal-efficiency working points reported for every signal.
pub const WORKING_POINTS: [(&str, f64); 3] = [("1e-2", 1e-2), ("1e-3", 1e-3), ("1e-4", 1e-4)];
/// An FPR is measurable when the background sample expects at least this many events above
/// threshold; below that it is reported as n/a.
pub const MIN_EXPECTED_BACKGROUND: f64 = 10.0;
/// Confidence level of the reported binomial (Clopper–Pearson) intervals: ±1σ.
pub const CONFIDENCE: f64 = 0.6827;
