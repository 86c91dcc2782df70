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
/// Folder of the training checkpoint (`bead train --resume`).
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// What a temporary file's name adds to its target's (then the pid and a counter).
pub const TMP_INFIX: &str = ".tmp-";

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
    /// FNV-1a 64 hash of `model.bpk` (hex), so that weights of another training beside this
    /// manifest are refused. Absent in directories written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_hash: Option<String>,
}

impl ModelManifest {
    /// Read `DIR/bead-model.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        read_json(&dir.join(MANIFEST_FILE), "bead model manifest")
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
    /// Load `DIR` (manifest and best weights). Refused, with the reason, when the training
    /// into `DIR` has not finished or when the weights are not the ones the manifest
    /// records (two trainings mixed in one directory).
    pub fn load(dir: &Path) -> Result<Self> {
        // A training removes the manifest first and writes it last; its lock file and
        // checkpoint stay. Without a manifest, they tell an unfinished training apart from
        // a directory that never held a model.
        let trained_here =
            dir.join(CHECKPOINT_DIR).exists() || dir.join(crate::training::LOCK_FILE).exists();
        if !dir.join(MANIFEST_FILE).exists() && trained_here {
            return Err(Error::model(
                dir,
                format!(
                    "no {MANIFEST_FILE}: the training into this directory has not finished \
                     (interrupted, or still running); `bead train --resume` with the same \
                     configuration finishes it"
                ),
            ));
        }
        let manifest = ModelManifest::load(dir)?;
        let device = Device::default();
        let weights = dir.join(WEIGHTS_FILE);
        if !weights.exists() {
            return Err(Error::model(&weights, "weights missing"));
        }
        // Read once: the bytes hashed are the bytes loaded.
        let bytes = std::fs::read(&weights).map_err(|e| Error::io(&weights, e))?;
        if let Some(expected) = &manifest.weights_hash {
            let found = format!("{:016x}", crate::config::fnv1a64(&bytes));
            if &found != expected {
                return Err(Error::model(
                    &weights,
                    format!(
                        "not the weights {MANIFEST_FILE} was written with (hash {found}, the \
                         manifest records {expected}): the directory mixes two trainings, as \
                         an interrupted retraining leaves it; train into it again"
                    ),
                ));
            }
        }
        let model =
            burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
                .and_then(|record| manifest.build_model(&device).try_load_record(record))
                .map_err(|e| Error::record(&weights, e))?;
        Ok(Self {
            manifest,
            model,
            device,
        })
    }
}

/// Read the JSON file `path` holding a `what` (named in the error).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &'static str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        what,
        source,
    })
}

/// Write a file atomically: temporary file in the same directory, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// A temporary sibling for an atomic write, `NAME.tmp-<pid>-<n>`: unique across processes
/// and calls, so that concurrent writers never write into each other's temporary files.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(TMP_INFIX);
    name.push(unique_suffix());
    path.with_file_name(name)
}

/// `<pid>-<n>`, with `n` counting up within the process.
pub fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
