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

/// Append one epoch to `metrics.jsonl` (one write, so a kill leaves at most one torn line,
/// which [`truncate_metrics`] drops).
pub(super) fn append_metrics(path: &Path, m: &EpochMetrics) -> Result<()> {
    let mut line = serde_json::to_string(m).map_err(|source| Error::Serialize {
        what: "metrics",
        source,
    })?;
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(line.as_bytes()).map_err(|e| Error::io(path, e))
}

/// Keep the lines of `metrics.jsonl` of the epochs before `next_epoch` (those a checkpoint
/// covers), so that a resumed run appends each later epoch once. Epochs run after the
/// checkpoint by the interrupted run, and a torn last line, are dropped. The file is
/// rewritten atomically; a missing file stays missing.
pub(super) fn truncate_metrics(path: &Path, next_epoch: usize) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut kept: Vec<&str> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<EpochMetrics>(line) {
            Ok(m) if m.epoch < next_epoch => {
                // An epoch logged twice (by a resume before this rule) keeps its later line,
                // and the lines after the earlier one are replaced too.
                kept.truncate(m.epoch.min(kept.len()));
                kept.push(line);
            }
            Ok(_) => {}
            // A line cut short by a kill is the last one written.
            Err(_) => break,
        }
    }
    let mut kept = kept.join("\n");
    if !kept.is_empty() {
        kept.push('\n');
    }
    if kept != text {
        crate::manifest::write_atomic(path, kept.as_bytes())?;
    }
    Ok(())
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
