//! `bead calibrate`: trigger thresholds from the validation split of the training sources,
//! written into the model directory and into every exported ONNX file. Also the pieces that
//! `bead evaluate` shares with it: the validation background and the in-memory runtime model
//! of each head.

use std::path::{Path, PathBuf};

use super::MIN_EXPECTED_BACKGROUND;
use super::statistics::weighted;
use crate::data::{EventTable, RootSpec};
use crate::error::{Error, Result};
use crate::export::{ExportOptions, export_model};
use crate::manifest::{ModelManifest, Threshold, TrainedModel, write_atomic};
use crate::model::ScoreHead;
use crate::scoring::{Weights, load_weighted, score_table};
use crate::training::prepare;
use bead_infer::Calibration;

/// Where `bead calibrate` sets thresholds, and how it counts events.
#[derive(Debug, Clone, Default)]
pub struct CalibrationOptions {
    /// Target false-positive rates (ignored with `rate_hz`).
    pub fprs: Vec<f64>,
    /// `(accept rate, input rate)` in Hz: one threshold at FPR = accept / input.
    pub rate_hz: Option<(f64, f64)>,
    /// Further exported ONNX files to update (every `*.onnx` in the directory is).
    pub extra_onnx: Vec<PathBuf>,
    /// Background files to calibrate on; empty: the training sources' validation split.
    pub background: Vec<String>,
    /// Event weights of the background files.
    pub weights: Weights,
    /// ROOT background files: the tree to read (default: the only tree, else `Events`); the
    /// branch mapping is the model's `[data.root]`.
    pub tree: Option<String>,
}

/// `bead calibrate`: thresholds for every head at every FPR, on the validation split of the
/// training sources or on a background sample, written into the manifest and into every
/// exported ONNX file of the directory (each scored on its own graph, so float16 files get
/// their own thresholds). Each threshold records its sample and the weighted events above it.
pub fn calibrate(dir: &Path, opts: &CalibrationOptions) -> Result<(ModelManifest, Vec<PathBuf>)> {
    // It rewrites the manifest: not while a training writes the directory. (A directory
    // that does not exist gets the manifest's "no such file" below.)
    let _lock = match dir.is_dir() {
        true => Some(crate::training::DirLock::acquire(dir, "bead calibrate")?),
        false => None,
    };
    let trained = TrainedModel::load(dir)?;
    let fprs = target_fprs(opts)?;
    let first = runtime_model(&trained, ScoreHead::Mu2)?;
    let (sample, name) = if opts.background.is_empty() {
        (
            validation_table(&trained.manifest)?,
            "validation".to_string(),
        )
    } else {
        (
            load_weighted(
                &first,
                &opts.background,
                &opts.weights,
                &RootSpec {
                    tree: opts.tree.clone(),
                    ..trained.manifest.config.data.root.clone()
                },
            )?,
            opts.background.join(" "),
        )
    };
    warn_if_coarse(&sample, &name, &fprs)?;
    let mut manifest = trained.manifest.clone();
    for head in ScoreHead::available(&trained.manifest) {
        let model = runtime_model(&trained, head)?;
        let scores = score_table(&model, &sample, false)?;
        let list = thresholds_from(&scores, &sample, &name, &fprs)?;
        manifest.thresholds.insert(head.name().to_string(), list);
    }
    manifest.save(dir)?;
    let mut files: Vec<PathBuf> = opts.extra_onnx.clone();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if is_onnx(&p) && !files.contains(&p) {
                files.push(p);
            }
        }
    }
    files.sort();
    for f in &files {
        calibrate_onnx_file(f, &manifest, &sample, &name, &fprs)?;
    }
    Ok((manifest, files))
}

/// Warns for every FPR the sample is too small to set a threshold for precisely.
fn warn_if_coarse(sample: &EventTable, name: &str, fprs: &[(f64, Option<f64>)]) -> Result<()> {
    // The weights alone decide the effective count (and whether the sample can define a
    // rate at all), before any head is scored.
    let n_eff = weighted::totals(name, sample.len(), sample.weights.as_deref())?.effective();
    for (fpr, _) in fprs {
        if n_eff * fpr < MIN_EXPECTED_BACKGROUND {
            eprintln!(
                "warning: {name}: {n_eff:.0} effective events give only {:.1} expected events \
                 above the threshold for FPR {fpr}: the threshold is a coarse estimate",
                n_eff * fpr
            );
        }
    }
    Ok(())
}

/// The FPRs to calibrate at, each with its accept rate when calibrated by rate.
fn target_fprs(opts: &CalibrationOptions) -> Result<Vec<(f64, Option<f64>)>> {
    let fprs: Vec<(f64, Option<f64>)> = match opts.rate_hz {
        Some((rate, input)) => {
            if !(input > 0.0 && rate > 0.0 && rate <= input) {
                return Err(Error::Config(format!(
                    "--rate-hz {rate} must be positive and at most --input-rate-hz {input}"
                )));
            }
            vec![(rate / input, Some(rate))]
        }
        None => opts.fprs.iter().map(|f| (*f, None)).collect(),
    };
    for (fpr, _) in &fprs {
        if !(fpr.is_finite() && *fpr > 0.0 && *fpr < 1.0) {
            return Err(Error::Config(format!("FPR {fpr} must be in (0, 1)")));
        }
    }
    Ok(fprs)
}

/// `bead calibrate` on an ONNX file (an imported model, or an export without its model
/// directory): thresholds at every FPR on the background files, written into the file's
/// metadata. Returns them.
pub fn calibrate_onnx(path: &Path, opts: &CalibrationOptions) -> Result<Vec<Threshold>> {
    use bead_infer::{ModelMetadata, onnx};
    if opts.background.is_empty() {
        return Err(Error::Config(format!(
            "{}: an ONNX file has no validation split: give the background to calibrate on with --background",
            path.display()
        )));
    }
    let fprs = target_fprs(opts)?;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file = path.display().to_string();
    let model = bead_infer::Model::from_bytes(&bytes, &file)?;
    // An ONNX file carries no `[data.root]` table: ROOT backgrounds use the default mapping.
    let root = RootSpec {
        tree: opts.tree.clone(),
        ..RootSpec::default()
    };
    let sample = load_weighted(&model, &opts.background, &opts.weights, &root)?;
    let name = opts.background.join(" ");
    warn_if_coarse(&sample, &name, &fprs)?;
    let scores = score_table(&model, &sample, false)?;
    let thresholds = thresholds_from(&scores, &sample, &name, &fprs)?;
    let mut proto = onnx::decode_model(&bytes)
        .map_err(|e| Error::model(path, format!("not an ONNX model: {e}")))?;
    let mut meta = ModelMetadata::read(&proto, &file)?;
    meta.thresholds = thresholds.clone();
    meta.write(&mut proto);
    write_atomic(path, &onnx::encode_model(&proto))?;
    Ok(thresholds)
}

/// Weighted thresholds of `scores` (events of `table`) at every FPR, recording the sample.
fn thresholds_from(
    scores: &[f32],
    table: &EventTable,
    name: &str,
    fprs: &[(f64, Option<f64>)],
) -> Result<Vec<Threshold>> {
    let sample = weighted::Sample::new(name, scores, table.weights.as_deref())?;
    Ok(fprs
        .iter()
        .filter_map(|(fpr, rate)| {
            weighted::threshold_for_fpr(&sample, *fpr).map(|cut| Threshold {
                fpr: *fpr,
                threshold: cut.value,
                rate_hz: *rate,
                calibration: Some(Calibration {
                    sample: name.to_string(),
                    above: cut.above,
                    total: cut.total,
                }),
            })
        })
        .collect())
}

fn calibrate_onnx_file(
    path: &Path,
    manifest: &ModelManifest,
    val: &EventTable,
    name: &str,
    fprs: &[(f64, Option<f64>)],
) -> Result<()> {
    use bead_infer::{ModelMetadata, onnx};
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file = path.display().to_string();
    let mut proto = onnx::decode_model(&bytes)
        .map_err(|e| Error::model(path, format!("not an ONNX model: {e}")))?;
    let mut meta =
        ModelMetadata::read(&proto, &file).map_err(|e| Error::model(path, e.to_string()))?;
    if meta.config_hash != manifest.config_hash {
        return Err(Error::model(
            path,
            "exported from a different training configuration than this model directory",
        ));
    }
    let model = bead_infer::Model::from_bytes(&bytes, &file)?;
    let scores = score_table(&model, val, false)?;
    meta.thresholds = thresholds_from(&scores, val, name, fprs)?;
    meta.write(&mut proto);
    write_atomic(path, &onnx::encode_model(&proto))
}

pub(crate) fn runtime_model(trained: &TrainedModel, head: ScoreHead) -> Result<bead_infer::Model> {
    let proto = export_model(
        trained,
        &ExportOptions {
            score: head,
            with_mu: false,
            f16: false,
        },
    )?;
    Ok(bead_infer::Model::from_bytes(
        &bead_infer::onnx::encode_model(&proto),
        head.name(),
    )?)
}

/// The validation background of a model directory, reloaded with the stored seed.
pub(super) fn validation_table(manifest: &ModelManifest) -> Result<EventTable> {
    let mut config = manifest.config.clone();
    config.data.train = manifest
        .train_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let prepared = prepare(&config)?;
    let mut t = prepared.table;
    let f = t.num_features();
    let mut features = Vec::with_capacity(prepared.val_rows.len() * f);
    let mut labels = Vec::with_capacity(prepared.val_rows.len());
    for &r in &prepared.val_rows {
        features.extend_from_slice(t.row(r as usize));
        labels.push(t.labels[r as usize]);
    }
    t.weights = t
        .weights
        .as_ref()
        .map(|w| prepared.val_rows.iter().map(|&r| w[r as usize]).collect());
    t.features = features;
    t.labels = labels;
    t.passthrough.clear();
    Ok(t)
}

/// Whether `path` is an existing `.onnx` file (else: a model directory).
pub(super) fn is_onnx(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}
