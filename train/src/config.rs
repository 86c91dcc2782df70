//! Training configuration: the `bead.toml` schema, its defaults and the commented template
//! that `bead init` writes. Unknown keys are errors so that a typo never silently falls back
//! to a default.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::data::RootSpec;

use crate::error::{Error, Result};

/// Which model family to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum ModelKind {
    /// Plain MLP VAE.
    Vae,
    /// VAE with K planar flows on z.
    PlanarVae,
    /// VAE with orthogonal (Householder) Sylvester flows.
    SylvesterVae,
    /// VAE with inverse autoregressive flows (MADE).
    IafVae,
}

impl ModelKind {
    /// Whether the model has a normalizing flow on z.
    pub fn has_flow(self) -> bool {
        !matches!(self, ModelKind::Vae)
    }

    /// The name used in configs, metadata and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Vae => "vae",
            ModelKind::PlanarVae => "planar_vae",
            ModelKind::SylvesterVae => "sylvester_vae",
            ModelKind::IafVae => "iaf_vae",
        }
    }
}

/// The prior p(z) of the latent space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Prior {
    /// One standard normal N(0, I) for every event (the usual VAE).
    #[default]
    Standard,
    /// One learned diagonal Gaussian per training source; each event's KL term is taken to
    /// its own source's component, so each source can occupy its own region of the latent
    /// space. The exported `cluster` head then scores "outside every source".
    PerSource,
}

/// A weight that may change with the epoch (β for KL, λ for the contrastive terms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The same value every epoch.
    Constant {
        /// The value.
        value: f64,
    },
    /// Linear ramp from `start` at epoch 0 to `end` at epoch `epochs`, then constant.
    Linear {
        /// Value at epoch 0.
        start: f64,
        /// Value from epoch `epochs` on.
        end: f64,
        /// Length of the ramp in epochs.
        epochs: usize,
    },
    /// `start` multiplied by `factor` every `every` epochs.
    Step {
        /// Value at epoch 0.
        start: f64,
        /// Multiplier applied at each step.
        factor: f64,
        /// Epochs between steps.
        every: usize,
    },
}

impl Schedule {
    /// The value at a zero-based epoch.
    pub fn at(&self, epoch: usize) -> f64 {
        match *self {
            Schedule::Constant { value } => value,
            Schedule::Linear { start, end, epochs } => {
                if epochs == 0 || epoch >= epochs {
                    end
                } else {
                    start + (end - start) * epoch as f64 / epochs as f64
                }
            }
            Schedule::Step {
                start,
                factor,
                every,
            } => {
                let steps = epoch.checked_div(every).unwrap_or(0);
                start * factor.powi(steps as i32)
            }
        }
    }

    /// Constant schedule.
    pub fn constant(value: f64) -> Self {
        Schedule::Constant { value }
    }

    /// Loss weights are finite and never negative (a negative β or λ would reward the
    /// term it weighs); `name` is the config key, for the error message.
    pub fn check(&self, name: &str) -> Result<()> {
        let values: Vec<(&str, f64)> = match *self {
            Schedule::Constant { value } => vec![("value", value)],
            Schedule::Linear { start, end, .. } => vec![("start", start), ("end", end)],
            Schedule::Step { start, factor, .. } => vec![("start", start), ("factor", factor)],
        };
        for (field, v) in values {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::Config(format!(
                    "{name}.{field} must be a finite number ≥ 0, got {v}"
                )));
            }
        }
        Ok(())
    }
}

/// Where the events come from and how they are labelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Training files (Parquet or CSV; globs allowed).
    pub train: Vec<String>,
    /// Feature columns, in order. Empty: every column that is not metadata (source, weight,
    /// `event_id`, `process`, the `ignore` columns), each of which must then be numeric.
    pub features: Vec<String>,
    /// Columns left out of the default feature set (and not read) when `features` is empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Column holding the source (generator configuration) label.
    pub source_column: String,
    /// Optional per-event weight column.
    pub weight_column: Option<String>,
    /// Per-file labels `{ "path-or-glob" = "label" }`, overriding the source column.
    pub file_labels: std::collections::BTreeMap<String, String>,
    /// Fraction of events kept for validation (seeded split).
    pub validation_fraction: f64,
    /// Train only on events of these sources (empty: every source in the files). The model
    /// then knows only these sources (`bead robustness` leaves one out this way).
    pub sources: Vec<String>,
    /// ROOT files: the tree and how NanoAOD-style collections map onto features.
    #[serde(skip_serializing_if = "RootSpec::is_default")]
    pub root: RootSpec,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            train: Vec::new(),
            features: Vec::new(),
            ignore: Vec::new(),
            source_column: "source".into(),
            weight_column: None,
            file_labels: Default::default(),
            validation_fraction: 0.2,
            sources: Vec::new(),
            root: RootSpec::default(),
        }
    }
}

/// Per-column transforms, chosen by name pattern (`*` wildcards).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreprocessConfig {
    /// Columns transformed with log(1 + x) (momenta, energies, MET).
    pub log1p: Vec<String>,
    /// Angular columns mapped to (sin, cos) so that −π and π are close.
    pub angle: Vec<String>,
    /// Standardise every model input to zero mean and unit variance (fitted on present
    /// objects of the training split).
    pub standardize: bool,
}

/// The default: every feature standardised as it is (AXOL1TL-style). Chosen by `bead
/// robustness` on data no reported number uses (README, "How the defaults were chosen"): it
/// kept the unseen-generator inflation of the log/sin-cos inputs and detected the signals
/// 4–9× more often at FPR 1e-3, because log(1 + pT) compresses the high-pT tails where both
/// the signals and the shower differences live.
impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            log1p: Vec::new(),
            angle: Vec::new(),
            standardize: true,
        }
    }
}

impl PreprocessConfig {
    /// The physics-motivated alternative (the default before issue 9): log(1 + x) for
    /// momenta, energies and MET, (sin φ, cos φ) for angles, then standardisation.
    pub fn log_and_angles() -> Self {
        Self {
            log1p: vec![
                "*_pt".into(),
                "*_PT".into(),
                "*_pT".into(),
                "*_e".into(),
                "MET*".into(),
            ],
            angle: vec!["*_phi".into(), "*_Phi".into()],
            standardize: true,
        }
    }
}

/// Network shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Model family.
    pub kind: ModelKind,
    /// Encoder hidden widths (the decoder mirrors them).
    pub hidden: Vec<usize>,
    /// Latent dimension.
    pub latent: usize,
    /// Number of flow steps (flow models).
    pub flows: usize,
    /// Householder reflections per Sylvester flow.
    pub householder: usize,
    /// Hidden width of each MADE in the IAF.
    pub iaf_hidden: usize,
    /// Latent prior: `standard` or `per_source`.
    pub prior: Prior,
    /// Widths of the contrastive projection head g (an MLP after the contrast vector, used
    /// only by SupCon and NT-Xent and never exported, as in SimCLR). Empty: the contrastive
    /// terms act on the latent vector itself.
    pub projection: Vec<usize>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            kind: ModelKind::Vae,
            hidden: vec![32, 16],
            latent: 13,
            flows: 6,
            householder: 4,
            iaf_hidden: 32,
            prior: Prior::Standard,
            projection: Vec::new(),
        }
    }
}

/// Which latent vector the contrastive terms see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContrastOn {
    /// The encoder mean μ.
    Mu,
    /// The flow output z_K (equals z₀ for the plain VAE).
    Zk,
}

/// Loss weights and contrastive settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// β: weight of the KL and flow terms.
    pub beta: Schedule,
    /// λ for SupCon over source labels (0 turns it off).
    pub supcon: Schedule,
    /// SupCon temperature τ.
    pub temperature: f64,
    /// λ for NT-Xent between two noisy views (0 turns it off).
    pub ntxent: Schedule,
    /// NT-Xent temperature.
    pub ntxent_temperature: f64,
    /// σ of the Gaussian noise making the two views (in standardised units).
    pub view_noise: f64,
    /// Latent vector used by the contrastive terms.
    pub contrast_on: ContrastOn,
    /// λ of the domain-invariance penalty: the batch distance correlation between μ and the
    /// source label (0 turns it off). It pushes the latent distribution, and so every score
    /// head, to be the same for every training source.
    pub invariance: Schedule,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            // The reconstruction term is a per-input mean while the KL is summed over the
            // latent: β = 1e-3 keeps the latent informative (β ≥ 1e-2 collapsed it on the
            // shipped sample); warmed up over 5 epochs.
            beta: Schedule::Linear {
                start: 0.0,
                end: 1e-3,
                epochs: 5,
            },
            // Off: on the shared data SupCon (λ = 0.01 on μ, or on a projection head) made no
            // source clusters (silhouette ≈ 0) and did not lower the unseen-generator
            // inflation beyond its seed spread, at 4× the cost per step (README). When it is
            // on, keep λ ≤ 0.01 on μ: SupCon is scale-invariant in μ and at λ ≥ 0.1 its
            // 1/|μ| gradients collapsed the latent.
            supcon: Schedule::constant(0.0),
            temperature: 0.07,
            ntxent: Schedule::constant(0.0),
            ntxent_temperature: 0.5,
            view_noise: 0.1,
            contrast_on: ContrastOn::Mu,
            invariance: Schedule::constant(0.0),
        }
    }
}

/// Optimiser, schedule and stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Events per step.
    pub batch_size: usize,
    /// Initial AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Reduce-on-plateau: multiply the learning rate by this factor...
    pub plateau_factor: f64,
    /// ...after this many epochs without validation improvement.
    pub plateau_patience: usize,
    /// Lower bound of the learning rate.
    pub min_learning_rate: f64,
    /// Stop after this many epochs without validation improvement.
    pub early_stopping_patience: usize,
    /// Seed for initialisation, split, shuffling and noise.
    pub seed: u64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 512,
            learning_rate: 3e-3,
            weight_decay: 1e-4,
            plateau_factor: 0.5,
            plateau_patience: 3,
            min_learning_rate: 1e-5,
            early_stopping_patience: 8,
            seed: 42,
        }
    }
}

/// The whole `bead.toml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Output model directory.
    pub out: Option<String>,
    /// Event files and labels.
    pub data: DataConfig,
    /// Per-column transforms.
    pub preprocessing: PreprocessConfig,
    /// Network shape.
    pub model: ModelConfig,
    /// Loss weights.
    pub loss: LossConfig,
    /// Optimiser and stopping.
    pub optim: OptimConfig,
}

impl TrainConfig {
    /// Read a TOML file; unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|source| Error::ConfigFile {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Check values that would otherwise fail late or silently.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        self.data.root.check().map_err(Error::Config)?;
        if self.model.latent == 0 {
            return bad("model.latent must be at least 1".into());
        }
        if self.model.hidden.contains(&0) {
            return bad("model.hidden widths must be positive".into());
        }
        if self.model.kind.has_flow() && self.model.flows == 0 {
            return bad(format!(
                "model.flows must be at least 1 for {}",
                self.model.kind.name()
            ));
        }
        if self.optim.epochs == 0 {
            return bad("optim.epochs (--epochs) must be at least 1".into());
        }
        if self.optim.batch_size < 2 {
            return bad("optim.batch_size must be at least 2".into());
        }
        if !(0.0..1.0).contains(&self.data.validation_fraction) {
            return bad("data.validation_fraction must be in [0, 1)".into());
        }
        for (name, t) in [
            ("loss.temperature", self.loss.temperature),
            ("loss.ntxent_temperature", self.loss.ntxent_temperature),
        ] {
            if !(t.is_finite() && t > 0.0) {
                return bad(format!("{name} must be a positive number, got {t}"));
            }
        }
        if !(self.loss.view_noise.is_finite() && self.loss.view_noise >= 0.0) {
            return bad(format!(
                "loss.view_noise must be ≥ 0, got {}",
                self.loss.view_noise
            ));
        }
        for (name, schedule) in [
            ("loss.beta", &self.loss.beta),
            ("loss.supcon", &self.loss.supcon),
            ("loss.ntxent", &self.loss.ntxent),
            ("loss.invariance", &self.loss.invariance),
        ] {
            schedule.check(name)?;
        }
        if self.model.projection.contains(&0) {
            return bad("model.projection widths must be positive".into());
        }
        // `!(x > 0)` rather than `x <= 0`: NaN fails every comparison and must be refused too.
        for (name, v, zero_ok) in [
            ("optim.learning_rate", self.optim.learning_rate, false),
            (
                "optim.min_learning_rate",
                self.optim.min_learning_rate,
                true,
            ),
            ("optim.weight_decay", self.optim.weight_decay, true),
        ] {
            if !(v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0))) {
                let what = if zero_ok { "≥ 0" } else { "> 0" };
                return bad(format!("{name} must be a finite number {what}, got {v}"));
            }
        }
        let f = self.optim.plateau_factor;
        if !(f > 0.0 && f <= 1.0) {
            return bad(format!("optim.plateau_factor must be in (0, 1], got {f}"));
        }
        Ok(())
    }

    /// A stable hash of the configuration (FNV-1a 64 over its JSON), stored in the model.
    /// The output directory is not part of it: the same training written to `dir`, `dir/`
    /// or an absolute path is the same model.
    pub fn hash(&self) -> String {
        let mut without_out = self.clone();
        without_out.out = None;
        let json = serde_json::to_string(&without_out).unwrap_or_default();
        format!("{:016x}", fnv1a64(json.as_bytes()))
    }
}

/// FNV-1a, 64 bit: small, stable across platforms and Rust versions.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The commented `bead.toml` written by `bead init`.
pub const TEMPLATE: &str = r#"# bead training configuration. Every key is optional; shown are the defaults.
# Command-line flags of `bead train` override these values. Unknown keys are errors.

# Output model directory (or --out).
# out = "model"

[data]
# Event files: Parquet or CSV, one row per event; globs allowed (or --train).
train = ["data/sample/train/*.parquet"]
# Feature columns in order. Empty = every column that is not metadata (source, weight,
# event_id, process); each must then be numeric, or be listed in `ignore`.
features = []
# Columns to leave out of the default feature set, e.g. string or boolean bookkeeping columns.
ignore = []
# Column with the source (generator/tune) label of each event (or --source-column).
source_column = "source"
# Optional per-event weight column.
# weight_column = "weight"
# Fraction of events held out for validation (seeded split).
validation_fraction = 0.2
# Train only on these sources (labels); [] = every source found in the files.
sources = []
# Per-file labels, overriding the source column: "path/or/glob*.parquet" = "label"
[data.file_labels]

# ROOT files (.root): one TTree per file, its branches are the columns.
[data.root]
# Tree to read (or --tree); unset: the only tree of the file, else `Events`.
# tree = "Events"
# NanoAOD-style collections: feature <prefix><k>_<field> (j3_eta) is <field> of the k-th
# object by descending `sort_by`, from the branch <Collection>_<field>[n<Collection>];
# missing objects are 0, extra ones dropped (the feature names set the number of slots).
objects = { j = "Jet", e = "Electron", mu = "Muon" }
# Per-event objects: feature <prefix>_<field> (MET_pt) reads the branch <name>_<field>.
singles = { MET = "MET" }
sort_by = "pt"
# Features that are 0 when the tree has no branch for them (MET is transverse: eta = 0).
zero = ["MET_eta"]

[preprocessing]
# log(1 + x) for columns matching these name patterns (* is a wildcard), e.g.
# ["*_pt", "*_e", "MET*"]; default none: log compresses the high-pT tails where signals live
log1p = []
# angles that become (sin, cos) so that -pi and pi are close, e.g. ["*_phi"]; default none
angle = []
# standardise every model input (fitted on the training split only)
standardize = true

[model]
# vae | planar_vae | sylvester_vae | iaf_vae (or --model)
kind = "vae"
hidden = [32, 16]
latent = 13
# flow steps (flow models only)
flows = 6
# Householder reflections per Sylvester flow
householder = 4
# hidden width of each MADE (IAF)
iaf_hidden = 32
# latent prior: "standard" (N(0, I)) or "per_source" (one learned Gaussian per source)
prior = "standard"
# widths of the contrastive projection head g (not exported); [] = contrast on the latent
projection = []

[loss]
# beta weighs KL and flow log-det terms; schedules: constant, linear, step
# (the reconstruction term is a per-input mean, the KL a sum over the latent: keep beta small)
beta = { kind = "linear", start = 0.0, end = 0.001, epochs = 5 }
# SupCon over source labels (or --supcon-weight; 0 = off, the default; try 0.01)
supcon = { kind = "constant", value = 0.0 }
temperature = 0.07
# NT-Xent between two Gaussian-noise views (or --ntxent-weight)
ntxent = { kind = "constant", value = 0.0 }
ntxent_temperature = 0.5
view_noise = 0.1
# latent vector the contrastive terms see: "mu" or "zk" (z_K = flow(mu), the same for both terms)
contrast_on = "mu"
# domain-invariance penalty: distance correlation between mu and the source label (0 = off)
invariance = { kind = "constant", value = 0.0 }

[optim]
epochs = 30
batch_size = 512
learning_rate = 0.003
weight_decay = 0.0001
plateau_factor = 0.5
plateau_patience = 3
min_learning_rate = 0.00001
early_stopping_patience = 8
seed = 42
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_change_with_epoch() {
        let lin = Schedule::Linear {
            start: 0.0,
            end: 1.0,
            epochs: 4,
        };
        assert_eq!(lin.at(0), 0.0);
        assert_eq!(lin.at(2), 0.5);
        assert_eq!(lin.at(9), 1.0);
        let step = Schedule::Step {
            start: 1.0,
            factor: 0.1,
            every: 2,
        };
        assert_eq!(step.at(1), 1.0);
        assert!((step.at(2) - 0.1).abs() < 1e-12);
        assert!((step.at(5) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn template_parses_to_defaults_and_unknown_keys_fail() {
        let parsed: TrainConfig = toml::from_str(TEMPLATE).unwrap();
        let mut expected = TrainConfig::default();
        expected.data.train = vec!["data/sample/train/*.parquet".into()];
        assert_eq!(parsed, expected);
        let err = toml::from_str::<TrainConfig>("[model]\nlatnet = 3\n").unwrap_err();
        assert!(err.to_string().contains("latnet"), "{err}");
    }

    #[test]
    fn negative_or_non_finite_loss_weights_are_refused() {
        type Edit = fn(&mut TrainConfig);
        let cases: [(&str, Edit); 11] = [
            ("loss.beta.end", |c| {
                c.loss.beta = Schedule::Linear {
                    start: 0.0,
                    end: -1e-3,
                    epochs: 3,
                }
            }),
            ("loss.supcon.value", |c| {
                c.loss.supcon = Schedule::constant(-0.1)
            }),
            ("loss.ntxent.start", |c| {
                c.loss.ntxent = Schedule::Step {
                    start: f64::NAN,
                    factor: 1.0,
                    every: 1,
                }
            }),
            ("loss.invariance.value", |c| {
                c.loss.invariance = Schedule::constant(f64::INFINITY)
            }),
            ("loss.temperature", |c| c.loss.temperature = -0.07),
            ("loss.ntxent_temperature", |c| {
                c.loss.ntxent_temperature = 0.0
            }),
            // NaN fails `x <= 0` too: these used to train into "lower the learning rate".
            ("optim.learning_rate", |c| c.optim.learning_rate = f64::NAN),
            ("optim.weight_decay", |c| c.optim.weight_decay = f64::NAN),
            ("optim.min_learning_rate", |c| {
                c.optim.min_learning_rate = f64::NAN
            }),
            ("optim.plateau_factor", |c| {
                c.optim.plateau_factor = f64::NAN
            }),
            // Used to end in "model.bpk: No such file".
            ("optim.epochs (--epochs) must be at least 1", |c| {
                c.optim.epochs = 0
            }),
        ];
        for (key, edit) in cases {
            let mut c = TrainConfig::default();
            edit(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        assert!(TrainConfig::default().validate().is_ok());
    }

    #[test]
    fn hash_ignores_the_output_directory() {
        let a = TrainConfig {
            out: Some("runs/x".into()),
            ..TrainConfig::default()
        };
        let mut b = a.clone();
        b.out = Some("/abs/runs/x/".into());
        assert_eq!(a.hash(), b.hash());
        b.optim.seed += 1;
        assert_ne!(a.hash(), b.hash());
    }
}
