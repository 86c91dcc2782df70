//! # bead-train
//!
//! Trains generator-robust anomaly detectors for trigger-level collision events: a VAE
//! (plain or with planar, Sylvester or IAF flows) on background pooled from several event
//! generators and tunes, with a supervised-contrastive term over the generator labels so that
//! each source forms its own latent cluster. Anything outside all of them is anomalous.
//!
//! ## The pipeline
//!
//! In the order data flows (the `bead` subcommand in brackets):
//!
//! 1. **Configure**: a [`TrainConfig`] (`bead.toml`, [`TrainConfig::from_file`]; `bead init`
//!    writes [`CONFIG_TEMPLATE`]).
//! 2. **Load events**: [`expand_inputs`] and [`load_events`] read Parquet or CSV files into an
//!    [`EventTable`] as a [`DataSpec`] says; every problem is a [`DataError`] naming file,
//!    column and row. [`prepare`] loads the training files and makes the seeded split.
//! 3. **Preprocess**: a [`Preprocessor`] fitted on the training split (log, sin/cos,
//!    standardisation, padded-object mask), later written into the ONNX graph.
//! 4. **Model**: [`BeadVae`] (burn) and its loss terms; the latent space gives the anomaly
//!    score heads ([`ScoreHead`], computed in burn by [`burn_scores`]).
//! 5. **Train** (`bead train`): [`train`] runs the epoch loop with checkpoints and
//!    [`RunOptions::resume`]; one optimisation step is [`step::train_step`]. The result is a
//!    model directory: weights, a [`ModelManifest`] and [`EpochMetrics`] per epoch, loaded
//!    back as a [`TrainedModel`].
//! 6. **Export** (`bead export`): [`export_model`] / [`export_to_file`] write preprocessing,
//!    encoder and one score head as a single ONNX graph for the `bead_infer` runtime.
//! 7. **Calibrate** (`bead calibrate`): [`calibrate()`] sets thresholds for target
//!    false-positive rates on the validation background.
//! 8. **Evaluate** (`bead evaluate`): [`evaluate()`] measures detection power per signal and
//!    false-positive inflation per background source into a [`Report`] (and plots).
//! 9. **Score** (`bead score`, `bead bench`): [`score_files`] and [`score_table`] run the
//!    exported model over events; [`bench()`] times it on this machine.
//!
//! ```no_run
//! use bead_train::{TrainConfig, RunOptions, train};
//! let mut config = TrainConfig::default();
//! config.data.train = vec!["data/sample/train/*.parquet".into()];
//! let outcome = train(&config, "model".as_ref(), &RunOptions::default())?;
//! println!("best validation loss {}", outcome.manifest.best_validation_loss);
//! # Ok::<(), bead_train::Error>(())
//! ```
//!
//! ## Crate features
//! - `flex` (default): burn's pure-Rust CPU backend.
//! - `wgpu`, `cuda`: GPU backends; `Device::default()` prefers a GPU when one is enabled.

#![forbid(unsafe_code)]

mod config;
mod data;
mod error;
mod evaluate;
mod export;
mod manifest;
mod model;
mod preprocess;
mod rng;
pub mod robustness;
mod scoring;
mod training;

pub use config::{
    ContrastOn, DataConfig, LossConfig, ModelConfig, ModelKind, OptimConfig, PreprocessConfig,
    Schedule, TEMPLATE as CONFIG_TEMPLATE, TrainConfig,
};
pub use data::{
    Column, DEFAULT_PASSTHROUGH, DEFAULT_SOURCE_COLUMN, DataError, DataSpec, EventTable, RootSpec,
    expand_inputs, load_events,
};
pub use error::{Error, Result};
pub use evaluate::statistics::weighted;
pub use evaluate::{
    CONFIDENCE, CalibrationOptions, Efficiency, EvaluateOptions, HeadReport, LatentReport,
    MIN_EXPECTED_BACKGROUND, Report, SignalReport, SourceReport, WORKING_POINTS, calibrate,
    calibrate_onnx, evaluate, summary,
};
pub use export::{ExportOptions, export_bytes, export_model, export_to_file};
pub use manifest::{
    MANIFEST_FILE, METRICS_FILE, ModelManifest, SourceStats, Threshold, TrainedModel, WEIGHTS_FILE,
};
pub use model::{BeadVae, Forward, ScoreHead, burn_scores};
pub use preprocess::Preprocessor;
pub use rng::Rng;
pub use scoring::{
    BenchOutput, Weights, bench, load_for_model, load_model, load_weighted, score_files,
    score_table,
};
pub use training::{
    DirLock, EpochMetrics, LOCK_FILE, LossTerms, Prepared, RunOptions, TrainOutcome, prepare,
    read_metrics, step, train, train_prepared,
};
