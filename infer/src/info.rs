//! The `bead` metadata entry of an exported model.

use serde::{Deserialize, Serialize};

/// Version of the metadata format this crate reads and writes.
pub const METADATA_FORMAT: u32 = 1;

/// One calibrated working point: the score threshold giving a false-positive rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// False-positive rate on the background sample the threshold was calibrated on.
    pub fpr: f64,
    /// Events scoring above this are accepted.
    pub threshold: f32,
}

/// What the exporter records about a model (JSON in `metadata_props["bead"]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelInfo {
    /// Metadata format version ([`METADATA_FORMAT`]).
    pub format: u32,
    /// Version of bead that exported the model.
    #[serde(default)]
    pub bead_version: String,
    /// Raw feature names, in input column order.
    pub features: Vec<String>,
    /// Score definition (for example `mu2`).
    #[serde(default)]
    pub score: String,
    /// Model kind (for example `vae`).
    #[serde(default)]
    pub model: String,
    /// Latent dimension (width of the `mu` output, when present).
    #[serde(default)]
    pub latent_dim: usize,
    /// Training sources (generator vocabulary).
    #[serde(default)]
    pub sources: Vec<String>,
    /// Fitted preprocessing, informational (it is also inside the graph).
    #[serde(default)]
    pub preprocessing: serde_json::Value,
    /// Calibrated thresholds.
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    /// FNV-1a 64 hex digest of the training config JSON.
    #[serde(default)]
    pub config_hash: String,
    /// Graph outputs (`score`, optionally `mu`).
    #[serde(default)]
    pub outputs: Vec<String>,
}

impl ModelInfo {
    /// Minimal metadata for the given features; other fields empty.
    pub fn new(features: Vec<String>) -> Self {
        ModelInfo {
            format: METADATA_FORMAT,
            bead_version: String::new(),
            features,
            score: String::new(),
            model: String::new(),
            latent_dim: 0,
            sources: Vec::new(),
            preprocessing: serde_json::Value::Null,
            thresholds: Vec::new(),
            config_hash: String::new(),
            outputs: vec!["score".to_owned()],
        }
    }

    /// Parses the JSON of the `bead` metadata entry.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The JSON for the `bead` metadata entry.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and a `Value` always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The threshold calibrated for this false-positive rate (relative tolerance 1e-6).
    ///
    /// `None` when none was calibrated for it, and always for a rate that is not valid
    /// ([`ModelInfo::is_valid_fpr`]): an infinite rate would otherwise be "within tolerance"
    /// of every threshold.
    pub fn threshold_for_fpr(&self, fpr: f64) -> Option<f32> {
        if !Self::is_valid_fpr(fpr) {
            return None;
        }
        self.thresholds
            .iter()
            .find(|t| (t.fpr - fpr).abs() <= 1e-6 * fpr)
            .map(|t| t.threshold)
    }

    /// Whether `fpr` is a false-positive rate a threshold can be looked up for: a finite
    /// number strictly between 0 and 1 (NaN, infinities, 0 and 1 are not).
    pub fn is_valid_fpr(fpr: f64) -> bool {
        fpr > 0.0 && fpr < 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_thresholds() {
        let mut info = ModelInfo::new(vec!["MET_pt".into(), "jet1_pt".into()]);
        info.thresholds = vec![
            Threshold {
                fpr: 1e-3,
                threshold: 12.5,
            },
            Threshold {
                fpr: 1e-4,
                threshold: 20.0,
            },
        ];
        let back = ModelInfo::from_json(&info.to_json()).unwrap();
        assert_eq!(back, info);
        assert_eq!(back.threshold_for_fpr(1e-3), Some(12.5));
        assert_eq!(back.threshold_for_fpr(1e-4), Some(20.0));
        assert_eq!(back.threshold_for_fpr(1e-2), None);
    }

    #[test]
    fn design_example_parses() {
        let json = r#"{"format":1,"bead_version":"0.1.0","features":["MET_pt","x"],
            "score":"mu2","model":"vae","latent_dim":13,"sources":["a"],
            "preprocessing":{"k":1},"thresholds":[{"fpr":0.001,"threshold":12.5}],
            "config_hash":"abc","outputs":["score"]}"#;
        let info = ModelInfo::from_json(json).unwrap();
        assert_eq!(info.latent_dim, 13);
        assert_eq!(info.features.len(), 2);
        assert!(ModelInfo::from_json(r#"{"format":1}"#).is_err());
    }
}
