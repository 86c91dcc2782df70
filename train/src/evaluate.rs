//! `bead evaluate` and `bead calibrate`: detection power per signal, false-positive inflation
//! per background source, trigger thresholds, plots.
//!
//! Every score is computed by the runtime on the exported graph of each head, so the numbers
//! describe exactly what a trigger would run. Thresholds are calibrated on the validation
//! split of the training sources (never on the test files being evaluated): the
//! false-positive inflation of a source is its FPR at that threshold divided by the target,
//! which stays near 1 when the model is robust to that generator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::EventTable;
use crate::error::{Error, Result};
use crate::export::{ExportOptions, export_model};
use crate::latent::{ScoreHead, encode_rows};
use crate::manifest::{ModelManifest, Threshold, TrainedModel, write_atomic};
use crate::scoring::{load_for_model, score_table};
use crate::stats;
use crate::training::prepare;

/// Signal-efficiency working points reported for every signal.
pub const WORKING_POINTS: [(&str, f64); 3] = [("1e-2", 1e-2), ("1e-3", 1e-3), ("1e-4", 1e-4)];
/// An FPR is measurable when the background sample expects at least this many events above
/// threshold; below that it is reported as n/a.
pub const MIN_EXPECTED_BACKGROUND: f64 = 10.0;
/// Confidence level of the reported binomial (Clopper–Pearson) intervals: ±1σ.
pub const CONFIDENCE: f64 = 0.6827;

/// Efficiency with its Clopper–Pearson interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Efficiency {
    /// Fraction passing.
    pub value: f64,
    /// Lower edge of the 68.3% interval.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Events passing.
    pub passed: usize,
    /// Events tested.
    pub total: usize,
    /// Score threshold used.
    pub threshold: f32,
}

impl Efficiency {
    fn new(k: usize, n: usize, threshold: f32) -> Self {
        let (lo, hi) = stats::clopper_pearson(k as u64, n as u64, CONFIDENCE);
        Self {
            value: k as f64 / n.max(1) as f64,
            lo,
            hi,
            passed: k,
            total: n,
            threshold,
        }
    }
}

/// One signal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalReport {
    /// Name (file stem).
    pub name: String,
    /// Events.
    pub events: usize,
    /// ROC AUC against the pooled background.
    pub auc: f64,
    /// Signal efficiency at background FPR "1e-2", "1e-3", "1e-4" (null: background too small).
    pub tpr_at_fpr: BTreeMap<String, Option<Efficiency>>,
}

/// One background source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceReport {
    /// Source label.
    pub name: String,
    /// Events.
    pub events: usize,
    /// Whether the model was trained on this source.
    pub in_training: bool,
    /// FPR at the calibrated threshold.
    pub fpr: f64,
    /// 68.3% interval of `fpr`.
    pub fpr_interval: [f64; 2],
    /// `fpr / target_fpr`: 1 means the threshold transfers to this source.
    pub inflation: f64,
    /// 68.3% interval of `inflation`.
    pub inflation_interval: [f64; 2],
}

/// One score head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadReport {
    /// Score head name.
    pub score: String,
    /// Threshold for the target FPR.
    pub threshold: f32,
    /// Where the threshold comes from ("validation" or "metadata").
    pub threshold_from: String,
    /// Per signal.
    pub signals: Vec<SignalReport>,
    /// Per background source.
    pub sources: Vec<SourceReport>,
}

/// How the training sources sit in the latent space (model directories only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatentReport {
    /// Mean silhouette of μ grouped by source, on validation events of the training sources
    /// (at most 3000, evenly spaced): higher means each source forms its own cluster.
    pub silhouette_by_source: Option<f64>,
    /// The same on L2-normalised μ, the space the SupCon term acts on.
    pub silhouette_normalized: Option<f64>,
    /// Events used.
    pub events: usize,
    /// Validation loss of the selected epoch.
    pub validation_loss: f64,
}

/// The whole `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Model evaluated.
    pub model: String,
    /// Latent-space summary (model directories only).
    pub latent: Option<LatentReport>,
    /// Target FPR of the inflation measurement.
    pub target_fpr: f64,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// One entry per score head.
    pub heads: Vec<HeadReport>,
}

/// Options of [`evaluate`].
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    /// Background files or globs.
    pub background: Vec<String>,
    /// Signal files or globs (one signal per file).
    pub signal: Vec<String>,
    /// Target FPR of the calibrated threshold.
    pub target_fpr: f64,
    /// Write plots here.
    pub plots: Option<PathBuf>,
}

/// A deployable model per head.
struct HeadModel {
    head: String,
    model: bead_infer::Model,
    /// Scores of the validation background of the training sources (model directories).
    validation: Option<Vec<f32>>,
}

fn runtime_model(trained: &TrainedModel, head: ScoreHead) -> Result<bead_infer::Model> {
    let proto = export_model(
        trained,
        &ExportOptions {
            score: head,
            with_mu: false,
            f16: false,
        },
    )?;
    bead_infer::Model::from_bytes(&bead_infer::onnx::encode_model(&proto), head.name())
        .map_err(|e| Error::Infer(e.to_string()))
}

/// The validation background of a model directory, reloaded with the stored seed.
fn validation_table(manifest: &ModelManifest) -> Result<EventTable> {
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
    t.features = features;
    t.labels = labels;
    t.weights = None;
    t.passthrough.clear();
    Ok(t)
}

fn is_onnx(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

fn file_stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Group row indices by source label, or by file when the files carry no label.
fn groups(table: &EventTable) -> Vec<(String, Vec<usize>)> {
    if table.has_labels() {
        table
            .sources
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let rows = (0..table.len())
                    .filter(|&i| table.labels[i] == k as u32)
                    .collect();
                (name.clone(), rows)
            })
            .filter(|(_, rows): &(String, Vec<usize>)| !rows.is_empty())
            .collect()
    } else {
        let mut start = 0;
        table
            .file_rows
            .iter()
            .map(|(p, n)| {
                let rows = (start..start + n).collect();
                start += n;
                (file_stem(p), rows)
            })
            .collect()
    }
}

/// `bead evaluate`.
pub fn evaluate(model_path: &Path, opts: &EvaluateOptions) -> Result<Report> {
    let mut latent = None;
    let (heads, trained) = if is_onnx(model_path) {
        let model = crate::scoring::load_model(model_path)?;
        let head = model.info().score.clone();
        (
            vec![HeadModel {
                head,
                model,
                validation: None,
            }],
            None,
        )
    } else {
        let trained = TrainedModel::load(model_path)?;
        let val = validation_table(&trained.manifest)?;
        let step = val.len().div_ceil(3000).max(1);
        let rows: Vec<u32> = (0..val.len() as u32).step_by(step).collect();
        let (mu, _) = encode_rows(
            &trained.model,
            &val,
            &trained.manifest.preprocessing,
            &rows,
            &trained.device,
        );
        let labels: Vec<u32> = rows.iter().map(|&r| val.labels[r as usize]).collect();
        let d = trained.manifest.config.model.latent;
        let mut unit = mu.clone();
        for row in unit.chunks_exact_mut(d.max(1)) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            row.iter_mut().for_each(|v| *v /= norm);
        }
        latent = Some(LatentReport {
            silhouette_by_source: stats::silhouette(&mu, d, &labels),
            silhouette_normalized: stats::silhouette(&unit, d, &labels),
            events: rows.len(),
            validation_loss: trained.manifest.best_validation_loss,
        });
        let mut heads = Vec::new();
        for head in ScoreHead::available(&trained.manifest) {
            let model = runtime_model(&trained, head)?;
            let validation = Some(score_table(&model, &val, false)?);
            heads.push(HeadModel {
                head: head.name().to_string(),
                model,
                validation,
            });
        }
        (heads, Some(trained))
    };
    let first = &heads
        .first()
        .ok_or_else(|| Error::Model("no score head".into()))?
        .model;
    let training_sources: Vec<String> = first.info().sources.clone();
    let background = load_for_model(first, &opts.background)?;
    let signal_files = crate::data::expand_inputs(&opts.signal)?;
    let mut signals = Vec::new();
    for f in &signal_files {
        let t = load_for_model(first, &[f.display().to_string()])?;
        signals.push((file_stem(f), t));
    }
    let bkg_groups = groups(&background);
    let mut reports = Vec::new();
    let mut plot_data = Vec::new();
    for hm in &heads {
        let threshold = match &hm.validation {
            Some(v) => stats::threshold_for_fpr(v, opts.target_fpr).ok_or_else(|| {
                Error::Model("no validation events to calibrate the threshold on".into())
            })?,
            None => hm.model.info().threshold_for_fpr(opts.target_fpr).ok_or_else(|| {
                Error::Model(format!(
                    "{}: no calibrated threshold for FPR {} in the metadata; run `bead calibrate` \
                     or evaluate the model directory instead",
                    model_path.display(),
                    opts.target_fpr
                ))
            })?,
        };
        let bkg_scores = score_table(&hm.model, &background, false)?;
        let mut sig_reports = Vec::new();
        let mut sig_scores = Vec::new();
        for (name, t) in &signals {
            let s = score_table(&hm.model, t, false)?;
            let mut tpr = BTreeMap::new();
            for (key, fpr) in WORKING_POINTS {
                let measurable = bkg_scores.len() as f64 * fpr >= MIN_EXPECTED_BACKGROUND;
                let eff = if measurable {
                    stats::threshold_for_fpr(&bkg_scores, fpr).map(|t| {
                        let (k, n) = stats::fraction_above(&s, t);
                        Efficiency::new(k, n, t)
                    })
                } else {
                    None
                };
                tpr.insert(key.to_string(), eff);
            }
            sig_reports.push(SignalReport {
                name: name.clone(),
                events: s.len(),
                auc: stats::roc_auc(&bkg_scores, &s),
                tpr_at_fpr: tpr,
            });
            sig_scores.push((name.clone(), s));
        }
        let mut src_reports = Vec::new();
        let mut src_scores = Vec::new();
        for (name, rows) in &bkg_groups {
            let s: Vec<f32> = rows.iter().map(|&i| bkg_scores[i]).collect();
            let (k, n) = stats::fraction_above(&s, threshold);
            let e = Efficiency::new(k, n, threshold);
            src_reports.push(SourceReport {
                name: name.clone(),
                events: n,
                in_training: training_sources.contains(name),
                fpr: e.value,
                fpr_interval: [e.lo, e.hi],
                inflation: e.value / opts.target_fpr,
                inflation_interval: [e.lo / opts.target_fpr, e.hi / opts.target_fpr],
            });
            src_scores.push((name.clone(), s));
        }
        reports.push(HeadReport {
            score: hm.head.clone(),
            threshold,
            threshold_from: if hm.validation.is_some() {
                "validation".into()
            } else {
                "metadata".into()
            },
            signals: sig_reports,
            sources: src_reports,
        });
        plot_data.push((hm.head.clone(), bkg_scores, sig_scores, src_scores));
    }
    let report = Report {
        model: model_path.display().to_string(),
        latent,
        target_fpr: opts.target_fpr,
        confidence: CONFIDENCE,
        heads: reports,
    };
    if let Some(dir) = &opts.plots {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let perr = |e: String| Error::Model(format!("plot: {e}"));
        for (head, bkg, sigs, srcs) in &plot_data {
            let curves: Vec<(String, Vec<(f64, f64)>)> = sigs
                .iter()
                .map(|(name, s)| {
                    (
                        format!("{name} (AUC {:.3})", stats::roc_auc(bkg, s)),
                        stats::roc_curve(bkg, s, 400),
                    )
                })
                .collect();
            crate::plots::roc_curves(
                dir.join(format!("roc_{head}.png")),
                &format!("ROC, score {head}"),
                &curves,
            )
            .map_err(|e| perr(e.to_string()))?;
            let mut series: Vec<(String, Vec<f32>, bool)> = srcs
                .iter()
                .map(|(n, s)| (n.clone(), s.clone(), false))
                .collect();
            series.extend(sigs.iter().map(|(n, s)| (n.clone(), s.clone(), true)));
            crate::plots::score_histograms(
                dir.join(format!("scores_{head}.png")),
                &format!("Score distributions, {head}"),
                head,
                &series,
            )
            .map_err(|e| perr(e.to_string()))?;
        }
        if let Some(trained) = &trained {
            latent_plot(trained, &background, &signals, dir)?;
            let metrics = model_path.join(crate::manifest::METRICS_FILE);
            if metrics.exists() {
                training_plot(&metrics, &dir.join("training.png"))?;
            }
        }
    }
    Ok(report)
}

fn latent_plot(
    trained: &TrainedModel,
    background: &EventTable,
    signals: &[(String, EventTable)],
    dir: &Path,
) -> Result<()> {
    let pre = &trained.manifest.preprocessing;
    let d = trained.manifest.config.model.latent;
    let encode =
        |t: &EventTable, rows: &[u32]| encode_rows(&trained.model, t, pre, rows, &trained.device).0;
    // At most 3000 events per series, evenly spaced (deterministic).
    let thin = |rows: Vec<usize>| -> Vec<u32> {
        let step = rows.len().div_ceil(3000).max(1);
        rows.into_iter().step_by(step).map(|r| r as u32).collect()
    };
    let bkg: Vec<(String, Vec<f32>)> = groups(background)
        .into_iter()
        .map(|(n, rows)| (n, encode(background, &thin(rows))))
        .collect();
    let all: Vec<f32> = bkg.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let pca = stats::Pca::fit(&all, d);
    let bkg_pts: Vec<(String, Vec<[f32; 2]>)> = bkg
        .iter()
        .map(|(n, m)| (n.clone(), pca.project(m)))
        .collect();
    let sig_pts: Vec<(String, Vec<[f32; 2]>)> = signals
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                pca.project(&encode(t, &thin((0..t.len()).collect()))),
            )
        })
        .collect();
    crate::plots::latent_pca(
        dir.join("latent_pca.png"),
        "Latent means (PCA of background μ)",
        &bkg_pts,
        &sig_pts,
        pca.explained,
    )
    .map_err(|e| Error::Model(format!("plot: {e}")))
}

fn training_plot(metrics: &Path, out: &Path) -> Result<()> {
    let m = crate::training::read_metrics(metrics)?;
    let epochs: Vec<usize> = m.iter().map(|e| e.epoch + 1).collect();
    let col =
        |f: &dyn Fn(&crate::training::EpochMetrics) -> f64| m.iter().map(f).collect::<Vec<f64>>();
    let mut series = vec![
        ("train total".to_string(), col(&|e| e.train.total)),
        ("validation total".to_string(), col(&|e| e.validation.total)),
        ("train recon".to_string(), col(&|e| e.train.recon)),
        ("validation recon".to_string(), col(&|e| e.validation.recon)),
        ("train KL".to_string(), col(&|e| e.train.kl)),
    ];
    if m.iter().any(|e| e.train.flow != 0.0) {
        series.push(("train flow".to_string(), col(&|e| e.train.flow)));
    }
    if m.iter().any(|e| e.supcon_weight > 0.0) {
        series.push(("train SupCon".to_string(), col(&|e| e.train.supcon)));
    }
    if m.iter().any(|e| e.ntxent_weight > 0.0) {
        series.push(("train NT-Xent".to_string(), col(&|e| e.train.ntxent)));
    }
    crate::plots::training_curves(out, "Training curves", &epochs, &series)
        .map_err(|e| Error::Model(format!("plot: {e}")))
}

/// The human-readable summary of a report.
pub fn summary(report: &Report) -> String {
    let mut s = String::new();
    if let Some(l) = &report.latent {
        s.push_str(&format!(
            "latent: silhouette by source of μ {}, of μ/|μ| {} ({} validation events), validation loss {:.5}\n",
            l.silhouette_by_source
                .map_or("n/a".to_string(), |v| format!("{v:.4}")),
            l.silhouette_normalized
                .map_or("n/a".to_string(), |v| format!("{v:.4}")),
            l.events,
            l.validation_loss
        ));
    }
    for h in &report.heads {
        s.push_str(&format!(
            "\nscore {} (threshold {:.4} for FPR {} on {} background)\n",
            h.score, h.threshold, report.target_fpr, h.threshold_from
        ));
        s.push_str(&format!(
            "  {:<24} {:>8} {:>12} {:>12} {:>12}\n",
            "signal", "AUC", "TPR@1e-2", "TPR@1e-3", "TPR@1e-4"
        ));
        for sig in &h.signals {
            let t = |k: &str| match sig.tpr_at_fpr.get(k).and_then(|e| e.as_ref()) {
                Some(e) => format!("{:.4}", e.value),
                None => "n/a".into(),
            };
            s.push_str(&format!(
                "  {:<24} {:>8.4} {:>12} {:>12} {:>12}\n",
                sig.name,
                sig.auc,
                t("1e-2"),
                t("1e-3"),
                t("1e-4")
            ));
        }
        s.push_str(&format!(
            "  {:<24} {:>8} {:>12} {:>22}\n",
            "background source", "events", "FPR", "inflation (68% CL)"
        ));
        for src in &h.sources {
            s.push_str(&format!(
                "  {:<24} {:>8} {:>12.2e} {:>8.2} [{:.2}, {:.2}]{}\n",
                src.name,
                src.events,
                src.fpr,
                src.inflation,
                src.inflation_interval[0],
                src.inflation_interval[1],
                if src.in_training {
                    ""
                } else {
                    "  (not in training)"
                }
            ));
        }
    }
    s
}

/// `bead calibrate`: thresholds for each FPR on the validation background, for every head;
/// stored in the manifest and in every ONNX file given (and every `*.onnx` in the directory).
pub fn calibrate(
    dir: &Path,
    fprs: &[f64],
    rate_hz: Option<(f64, f64)>,
    extra_onnx: &[PathBuf],
) -> Result<(ModelManifest, Vec<PathBuf>)> {
    let trained = TrainedModel::load(dir)?;
    let val = validation_table(&trained.manifest)?;
    let fprs: Vec<(f64, Option<f64>)> = match rate_hz {
        Some((rate, input)) => {
            if !(input > 0.0 && rate > 0.0 && rate <= input) {
                return Err(Error::Config(format!(
                    "--rate-hz {rate} must be positive and at most --input-rate-hz {input}"
                )));
            }
            vec![(rate / input, Some(rate))]
        }
        None => fprs.iter().map(|f| (*f, None)).collect(),
    };
    for (fpr, _) in &fprs {
        if !(*fpr > 0.0 && *fpr < 1.0) {
            return Err(Error::Config(format!("FPR {fpr} must be in (0, 1)")));
        }
        if (val.len() as f64) * fpr < MIN_EXPECTED_BACKGROUND {
            eprintln!(
                "warning: {} validation events give only {:.1} expected events above the \
                 threshold for FPR {fpr}: the threshold is a coarse estimate",
                val.len(),
                val.len() as f64 * fpr
            );
        }
    }
    let mut manifest = trained.manifest.clone();
    for head in ScoreHead::available(&trained.manifest) {
        let model = runtime_model(&trained, head)?;
        let scores = score_table(&model, &val, false)?;
        let list = thresholds_from(&scores, &fprs);
        manifest.thresholds.insert(head.name().to_string(), list);
    }
    manifest.save(dir)?;
    let mut files: Vec<PathBuf> = extra_onnx.to_vec();
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
        calibrate_onnx_file(f, &manifest, &val, &fprs)?;
    }
    Ok((manifest, files))
}

/// A threshold for each target FPR (with its rate in Hz when calibrated by rate).
fn thresholds_from(scores: &[f32], fprs: &[(f64, Option<f64>)]) -> Vec<Threshold> {
    fprs.iter()
        .filter_map(|(fpr, rate)| {
            stats::threshold_for_fpr(scores, *fpr).map(|t| Threshold {
                fpr: *fpr,
                threshold: t,
                rate_hz: *rate,
            })
        })
        .collect()
}

/// Calibrate an exported file on its own scores (a float16 file differs slightly from the
/// float32 graph the manifest's thresholds come from) and rewrite its metadata thresholds.
fn calibrate_onnx_file(
    path: &Path,
    manifest: &ModelManifest,
    val: &EventTable,
    fprs: &[(f64, Option<f64>)],
) -> Result<()> {
    use bead_infer::{ModelMetadata, onnx};
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let name = path.display().to_string();
    let mut proto = onnx::decode_model(&bytes)
        .map_err(|e| Error::Model(format!("{name}: not an ONNX model: {e}")))?;
    let mut meta = ModelMetadata::read(&proto, &name).map_err(|e| Error::Model(e.to_string()))?;
    if meta.config_hash != manifest.config_hash {
        return Err(Error::Model(format!(
            "{name}: exported from a different training configuration than this model directory"
        )));
    }
    let model =
        bead_infer::Model::from_bytes(&bytes, &name).map_err(|e| Error::Infer(e.to_string()))?;
    let scores = score_table(&model, val, false)?;
    meta.thresholds = thresholds_from(&scores, fprs);
    meta.write(&mut proto);
    write_atomic(path, &onnx::encode_model(&proto))
}
