//! The model directory: weights plus `bead-model.json`, everything needed to score, export
//! and calibrate a trained model without the training data.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::model::BeadVae;
use crate::preprocess::Preprocessor;
use crate::rng::Rng;

/// File name of the manifest inside a model directory.
pub const MANIFEST_FILE: &str = "bead-model.json";
/// File name of the best weights inside a model directory.
pub const WEIGHTS_FILE: &str = "model.bpk";
/// File name of the per-epoch metrics.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Latent statistics of one training source (for the `cluster` score).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStats {
    /// Source label.
    pub name: String,
    /// Number of training events.
    pub events: usize,
    /// Centroid of μ.
    pub center: Vec<f32>,
    /// Whitening matrix W = L⁻¹ (row-major D×D, L the Cholesky factor of the covariance of μ),
    /// so that the squared Mahalanobis distance is ‖W(μ − c)‖².
    pub whiten: Vec<f32>,
}

/// A calibrated threshold: the same type the ONNX metadata carries, so that `rate_hz`, the
/// calibration sample and its counts reach the runtime unchanged.
pub use bead_infer::Threshold;

/// Everything about a trained model except its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelManifest {
    /// bead version that trained it.
    pub bead_version: String,
    /// The training configuration, as used (after command-line overrides).
    pub config: TrainConfig,
    /// Hash of `config`.
    pub config_hash: String,
    /// Training files, as expanded.
    pub train_files: Vec<PathBuf>,
    /// Fitted preprocessing (holds the feature names and order).
    pub preprocessing: Preprocessor,
    /// Source label vocabulary (index = label id).
    pub sources: Vec<String>,
    /// Per-source latent statistics on the training split.
    pub latent_stats: Vec<SourceStats>,
    /// Thresholds per score head, filled by `bead calibrate`.
    #[serde(default)]
    pub thresholds: std::collections::BTreeMap<String, Vec<Threshold>>,
    /// Best validation loss.
    pub best_validation_loss: f64,
    /// Epoch (0-based) of the best validation loss.
    pub best_epoch: usize,
}

impl ModelManifest {
    /// Read `DIR/bead-model.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|source| Error::Json {
            path,
            what: "bead model manifest",
            source,
        })
    }

    /// Write `DIR/bead-model.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|source| Error::Serialize {
            what: "manifest",
            source,
        })?;
        write_atomic(&dir.join(MANIFEST_FILE), text.as_bytes())
    }

    /// The untrained network with this manifest's shape (load weights into it).
    pub fn build_model(&self, device: &Device) -> BeadVae {
        let mut rng = Rng::new(self.config.optim.seed);
        BeadVae::new(
            &self.config.model,
            self.preprocessing.num_inputs(),
            self.sources.len(),
            &mut rng,
            device,
        )
    }
}

/// A trained model: manifest plus weights, on a plain (non-autodiff) device.
#[derive(Debug)]
pub struct TrainedModel {
    /// Manifest.
    pub manifest: ModelManifest,
    /// Network in evaluation mode.
    pub model: BeadVae,
    /// Device the network lives on.
    pub device: Device,
}

impl TrainedModel {
    /// Load `DIR` (manifest and best weights).
    pub fn load(dir: &Path) -> Result<Self> {
        let manifest = ModelManifest::load(dir)?;
        let device = Device::default();
        let weights = dir.join(WEIGHTS_FILE);
        if !weights.exists() {
            return Err(Error::model(&weights, "weights missing"));
        }
        let model = manifest
            .build_model(&device)
            .try_load_file(&weights)
            .map_err(|e| Error::record(&weights, e))?;
        Ok(Self {
            manifest,
            model,
            device,
        })
    }
}

/// Write a file atomically: temporary file in the same directory, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// The temporary sibling used by atomic writes.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}
