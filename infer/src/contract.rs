//! The trainer–runtime contract: the `bead` metadata entry of an exported model.
//!
//! One type, [`ModelMetadata`], describes what `bead export` writes into
//! `metadata_props["bead"]` (as JSON), what `bead calibrate` edits (read, change the
//! thresholds, write back) and what [`Model::load`](crate::Model::load) reads. The trainer's
//! manifest stores its thresholds with the same [`Threshold`] type, so nothing is lost on the
//! way from calibration to the trigger.
//!
//! # Versions
//!
//! - `format` changes when a reader of the old format would misread a new file; this runtime
//!   refuses any format but [`METADATA_FORMAT`].
//! - `schema_version` counts compatible additions within a format. Files written before it
//!   existed read as schema 1; keys a reader does not know are ignored, so an older runtime
//!   still loads a newer file of the same format.
//!
//! | schema | adds |
//! |---|---|
//! | 1 | `features`, `score`, `model`, `latent_dim`, `sources`, `preprocessing`, `thresholds` (`fpr`, `threshold`, optional `rate_hz`), `config_hash`, `outputs`, `weights`, `bead_version` |
//! | 2 | `schema_version` itself; the runtime reads `rate_hz` and `weights` |

use serde::{Deserialize, Serialize};

use crate::error::LoadError;
use crate::onnx::pb;

/// `metadata_props` key holding the JSON [`ModelMetadata`].
pub const METADATA_KEY: &str = "bead";
/// Metadata format this crate reads and writes (see the [module docs](self)).
pub const METADATA_FORMAT: u32 = 1;
/// Schema revision this crate writes (see the [module docs](self)).
pub const SCHEMA_VERSION: u32 = 2;

/// One calibrated working point: the score threshold giving a false-positive rate.
/// Events scoring above the threshold are accepted (flagged anomalous).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// False-positive rate on the background sample the threshold was calibrated on.
    pub fpr: f64,
    /// Score threshold.
    pub threshold: f32,
    /// Accept rate in Hz for the input rate given at calibration (`bead calibrate
    /// --rate-hz`), when calibrated by rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_hz: Option<f64>,
    /// The sample the threshold was set on and its (weighted) events above the threshold:
    /// what the threshold's own statistical error follows from (`bead calibrate` records it;
    /// absent in files written before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// Where a threshold was calibrated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// `validation` (the training sources' validation split) or the background files.
    pub sample: String,
    /// Σw, Σw² and number of the sample's events above the threshold.
    pub above: EventCounts,
    /// Σw, Σw² and number of the sample's events.
    pub total: EventCounts,
}

/// Sums of event weights: Σw, Σw² and the number of events they came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EventCounts {
    /// Σ w.
    pub sum_w: f64,
    /// Σ w².
    pub sum_w2: f64,
    /// Number of events.
    pub events: usize,
}

impl EventCounts {
    /// Effective number of events (Σw)²/Σw² (Kish); equals `events` for unit weights, 0 when
    /// empty.
    pub fn effective(&self) -> f64 {
        if self.sum_w2 > 0.0 {
            self.sum_w * self.sum_w / self.sum_w2
        } else {
            0.0
        }
    }
}

/// How the network weights are stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightPrecision {
    /// float32 initializers (files without a `weights` key).
    #[default]
    Float32,
    /// float16 initializers, cast to float32 at load time.
    Float16,
}

/// What the exporter records about a model (JSON in `metadata_props["bead"]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelMetadata {
    /// Metadata format ([`METADATA_FORMAT`]).
    pub format: u32,
    /// Schema revision within the format; 1 for files written before it was recorded.
    #[serde(default = "first_schema")]
    pub schema_version: u32,
    /// Version of bead that exported the model.
    #[serde(default)]
    pub bead_version: String,
    /// Raw feature names, in input column order.
    pub features: Vec<String>,
    /// Score head (for example `mu2`).
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
    /// Fitted preprocessing, informational: it is also inside the graph, which is what the
    /// runtime executes.
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
    /// Storage type of the network weights.
    #[serde(default)]
    pub weights: WeightPrecision,
}

fn first_schema() -> u32 {
    1
}

impl ModelMetadata {
    /// Metadata of the current format and schema for the given features, written by this
    /// version of bead, with one `score` output; other fields empty.
    pub fn new(features: Vec<String>) -> Self {
        ModelMetadata {
            format: METADATA_FORMAT,
            schema_version: SCHEMA_VERSION,
            bead_version: env!("CARGO_PKG_VERSION").to_owned(),
            features,
            score: String::new(),
            model: String::new(),
            latent_dim: 0,
            sources: Vec::new(),
            preprocessing: serde_json::Value::Null,
            thresholds: Vec::new(),
            config_hash: String::new(),
            outputs: vec!["score".to_owned()],
            weights: WeightPrecision::Float32,
        }
    }

    /// Parses the JSON of the `bead` metadata entry (any format: see [`read`](Self::read)
    /// for the checked version).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The JSON for the `bead` metadata entry.
    pub fn to_json(&self) -> String {
        // Strings, numbers and a `Value` with string keys: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The metadata of a decoded model, checked to be of [`METADATA_FORMAT`]; `path` names
    /// the file in errors.
    pub fn read(model: &pb::ModelProto, path: &str) -> Result<Self, LoadError> {
        let entry = model
            .metadata_props
            .iter()
            .find(|e| e.key == METADATA_KEY)
            .ok_or_else(|| LoadError::MissingMetadata {
                path: path.to_owned(),
            })?;
        let meta = Self::from_json(&entry.value).map_err(|e| LoadError::BadMetadata {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if meta.format != METADATA_FORMAT {
            return Err(LoadError::BadMetadata {
                path: path.to_owned(),
                message: format!(
                    "format {} (this runtime reads {METADATA_FORMAT})",
                    meta.format
                ),
            });
        }
        Ok(meta)
    }

    /// Stores this metadata in `model`, replacing any `bead` entry.
    pub fn write(&self, model: &mut pb::ModelProto) {
        let value = self.to_json();
        match model
            .metadata_props
            .iter_mut()
            .find(|e| e.key == METADATA_KEY)
        {
            Some(entry) => entry.value = value,
            None => model.metadata_props.push(pb::StringStringEntryProto {
                key: METADATA_KEY.to_owned(),
                value,
            }),
        }
    }

    /// The threshold calibrated for this false-positive rate (relative tolerance 1e-6).
    ///
    /// `None` when none was calibrated for it, and always for a rate that is not valid
    /// ([`ModelMetadata::is_valid_fpr`]): an infinite rate would otherwise be "within
    /// tolerance" of every threshold.
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

    fn example() -> ModelMetadata {
        let mut meta = ModelMetadata::new(vec!["MET_pt".into(), "jet1_pt".into()]);
        meta.score = "cluster".into();
        meta.sources = vec!["a".into(), "b".into()];
        meta.preprocessing = serde_json::json!({"mean": [0.5, 1.0]});
        meta.weights = WeightPrecision::Float16;
        meta.thresholds = vec![
            Threshold {
                fpr: 1e-3,
                threshold: 12.5,
                rate_hz: None,
                calibration: None,
            },
            Threshold {
                fpr: 1e-4,
                threshold: 20.0,
                rate_hz: Some(4000.0),
                calibration: Some(Calibration {
                    sample: "validation".into(),
                    above: EventCounts {
                        sum_w: 2.5,
                        sum_w2: 3.0,
                        events: 3,
                    },
                    total: EventCounts {
                        sum_w: 25_000.0,
                        sum_w2: 26_000.0,
                        events: 25_000,
                    },
                }),
            },
        ];
        meta
    }

    #[test]
    fn json_round_trip_keeps_every_field() {
        let meta = example();
        let back = ModelMetadata::from_json(&meta.to_json()).unwrap();
        assert_eq!(back, meta);
        assert_eq!(back.thresholds[1].rate_hz, Some(4000.0));
        assert_eq!(back.threshold_for_fpr(1e-3), Some(12.5));
        assert_eq!(back.threshold_for_fpr(1e-4), Some(20.0));
        assert_eq!(back.threshold_for_fpr(1e-2), None);
        // `rate_hz` is left out when absent, as earlier writers did.
        assert!(!meta.to_json().contains(r#""rate_hz":null"#));
    }

    #[test]
    fn proto_round_trip_replaces_the_entry() {
        let mut proto = pb::ModelProto::default();
        let mut meta = example();
        meta.write(&mut proto);
        meta.thresholds.truncate(1);
        meta.write(&mut proto);
        assert_eq!(proto.metadata_props.len(), 1);
        assert_eq!(ModelMetadata::read(&proto, "m").unwrap(), meta);
        proto.metadata_props.clear();
        assert!(matches!(
            ModelMetadata::read(&proto, "m"),
            Err(LoadError::MissingMetadata { .. })
        ));
    }

    /// A file as `bead export` wrote it before `schema_version` (keys sorted, as `json!`
    /// wrote them), including a threshold calibrated by rate.
    #[test]
    fn schema_1_file_still_reads() {
        let json = r#"{"bead_version":"0.1.0","config_hash":"abc","features":["MET_pt","x"],
            "format":1,"latent_dim":13,"model":"vae","outputs":["score"],
            "preprocessing":{"k":1},"score":"mu2","sources":["a"],
            "thresholds":[{"fpr":0.001,"threshold":12.5},
                          {"fpr":0.01,"threshold":3.5,"rate_hz":1000.0}],
            "weights":"float32"}"#;
        let meta = ModelMetadata::from_json(json).unwrap();
        assert_eq!(meta.schema_version, 1);
        assert_eq!(meta.latent_dim, 13);
        assert_eq!(meta.features, ["MET_pt", "x"]);
        assert_eq!(meta.weights, WeightPrecision::Float32);
        assert_eq!(meta.thresholds[0].rate_hz, None);
        assert_eq!(meta.thresholds[1].rate_hz, Some(1000.0));
        // The oldest files have no `weights` key either.
        let meta = ModelMetadata::from_json(r#"{"format":1,"features":["x"]}"#).unwrap();
        assert_eq!(meta.weights, WeightPrecision::Float32);
        assert!(ModelMetadata::from_json(r#"{"format":1}"#).is_err());
    }

    #[test]
    fn other_formats_are_refused_newer_schemas_read() {
        let mut proto = pb::ModelProto::default();
        let mut meta = example();
        meta.schema_version = SCHEMA_VERSION + 1;
        meta.write(&mut proto);
        let value = &mut proto.metadata_props[0].value;
        value.pop();
        value.push_str(r#","added_later":true}"#);
        assert_eq!(ModelMetadata::read(&proto, "m").unwrap(), meta);
        meta.format = METADATA_FORMAT + 1;
        meta.write(&mut proto);
        let e = ModelMetadata::read(&proto, "m").unwrap_err();
        assert!(matches!(e, LoadError::BadMetadata { .. }), "{e}");
    }
}
