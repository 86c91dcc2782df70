//! # bead-train
//!
//! Trains generator-robust anomaly detectors for trigger-level collision events: a VAE
//! (plain or with planar, Sylvester or IAF flows) on background pooled from several event
//! generators and tunes, with a supervised-contrastive term over the generator labels so that
//! each source forms its own latent cluster. Anything outside all of them is anomalous.
//!
//! Layout, in the order data flows: [`data`] (Parquet/CSV events) → [`preprocess`] (fitted,
//! ONNX-expressible transforms) → [`model`] and [`loss`] (burn) → [`training`] (the loop,
//! checkpoints, metrics) → [`latent`] (score heads) → [`export`] (ONNX with preprocessing
//! and metadata) → [`evaluate`] (ROC, efficiencies, false-positive inflation, thresholds)
//! → [`plots`].
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

pub mod config;
pub mod data;
pub mod error;
pub mod evaluate;
pub mod export;
pub mod latent;
pub mod loss;
pub mod manifest;
pub mod model;
pub mod plots;
pub mod preprocess;
pub mod rng;
pub mod robustness;
pub mod scoring;
pub mod stats;
pub mod training;
pub mod weighted;

pub use config::{ModelKind, Schedule, TrainConfig};
pub use error::{Error, Result};
pub use latent::ScoreHead;
pub use manifest::{ModelManifest, TrainedModel};
pub use scoring::{load_model, score_table};
pub use training::{RunOptions, TrainOutcome, train};
