//! Per-epoch metrics: the loss terms of training and validation, learning rate, loss weights,
//! time and throughput, one JSON object per line of `metrics.jsonl`.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Loss terms of one epoch (means over events).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LossTerms {
    /// Weighted sum that is minimised.
    pub total: f64,
    /// Masked reconstruction MSE.
    pub recon: f64,
    /// KL term.
    pub kl: f64,
    /// Flow term −Σ log|det J|.
    pub flow: f64,
    /// SupCon.
    pub supcon: f64,
    /// NT-Xent.
    pub ntxent: f64,
    /// Domain-invariance penalty (distance correlation of μ and source).
    #[serde(default)]
    pub invariance: f64,
}

impl LossTerms {
    pub(super) fn add_scaled(&mut self, other: &LossTerms, w: f64) {
        self.total += other.total * w;
        self.recon += other.recon * w;
        self.kl += other.kl * w;
        self.flow += other.flow * w;
        self.supcon += other.supcon * w;
        self.ntxent += other.ntxent * w;
        self.invariance += other.invariance * w;
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 0-based epoch.
    pub epoch: usize,
    /// Training loss terms.
    pub train: LossTerms,
    /// Validation loss terms.
    pub validation: LossTerms,
    /// Learning rate used.
    pub learning_rate: f64,
    /// β used.
    pub beta: f64,
    /// SupCon λ used.
    pub supcon_weight: f64,
    /// NT-Xent λ used.
    pub ntxent_weight: f64,
    /// Wall time of the epoch (training and validation).
    pub seconds: f64,
    /// Training throughput.
    pub events_per_s: f64,
}

/// Append one epoch to `metrics.jsonl`.
pub(super) fn append_metrics(path: &Path, m: &EpochMetrics) -> Result<()> {
    let line = serde_json::to_string(m).map_err(|source| Error::Serialize {
        what: "metrics",
        source,
    })?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(path, e))
}

/// Read `metrics.jsonl`.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| Error::JsonLine {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            })
        })
        .collect()
}
