//! `bead evaluate`: detection power per signal and false-positive inflation per background
//! source, for every score head, as a [`Report`] (JSON) with a text [`summary`] and plots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::calibrate::{is_onnx, runtime_model, validation_table};
use super::statistics::weighted::{self, Counts, Cut, Sample};
use super::{CONFIDENCE, MIN_EXPECTED_BACKGROUND, WORKING_POINTS, plots, statistics};
use crate::data::{EventTable, RootSpec};
use crate::error::{Error, Result};
use crate::manifest::Threshold;
use crate::manifest::TrainedModel;
use crate::model::{ScoreHead, encode_rows};
use crate::scoring::{Weights, load_weighted, score_table};

/// (Weighted) efficiency with its Clopper–Pearson interval on the effective event count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Efficiency {
    /// Fraction passing.
    pub value: f64,
    /// Lower edge of the 68.3% interval.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Events passing (unweighted count).
    pub passed: usize,
    /// Events tested (unweighted count).
    pub total: usize,
    /// Effective number of events tested, (Σw)²/Σw² (= `total` without weights).
    pub effective_events: f64,
    /// Score threshold used.
    pub threshold: f32,
}

impl Efficiency {
    fn weighted(above: Counts, total: Counts, threshold: f32) -> Self {
        let r = weighted::rate(above, total, CONFIDENCE);
        Self {
            value: r.value,
            lo: r.lo,
            hi: r.hi,
            passed: above.events,
            total: total.events,
            effective_events: r.effective_events,
            threshold,
        }
    }

    fn of(sample: &Sample, threshold: f32) -> Self {
        Self::weighted(sample.above(threshold), sample.total(), threshold)
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
    /// Signal efficiency at background FPR "1e-2", "1e-3", "1e-4", each threshold set on the
    /// evaluated (test) background itself (null: background too small). An optimistic
    /// figure: the deployed threshold comes from another sample, see `tpr_deployed`.
    pub tpr_at_fpr: BTreeMap<String, Option<Efficiency>>,
    /// Signal efficiency at the deployed threshold of the head (the one the inflation is
    /// measured at): what the trigger would actually accept.
    pub tpr_deployed: Efficiency,
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
    /// Effective number of events, (Σw)²/Σw².
    pub effective_events: f64,
    /// `fpr` divided by the threshold's rate on its calibration sample (the target FPR up to
    /// ties, or the target itself when the calibration counts are unknown): 1 means the
    /// threshold transfers to this source.
    pub inflation: f64,
    /// 68.3% interval of `inflation`. It includes the threshold's own statistical error
    /// when `threshold_error_included`, else only this sample's.
    pub inflation_interval: [f64; 2],
    /// Whether the calibration counts were known (always for model directories; for ONNX
    /// files calibrated by this version of `bead calibrate`).
    pub threshold_error_included: bool,
}

/// One score head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadReport {
    /// Score head name.
    pub score: String,
    /// Threshold for the target FPR.
    pub threshold: f32,
    /// Where the threshold comes from ("validation", or the calibration sample recorded in the
    /// metadata, or "metadata" when none was recorded).
    pub threshold_from: String,
    /// The calibration sample's weighted events above the threshold (when known).
    pub threshold_events_above: Option<f64>,
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
    /// Event weights of the background and signal files.
    pub weights: Weights,
    /// ROOT files: the tree to read (default: the only tree, else `Events`). The branch
    /// mapping is the model directory's `[data.root]` (the defaults for an ONNX file).
    pub tree: Option<String>,
}

/// A deployable model per head.
struct HeadModel {
    head: String,
    model: bead_infer::Model,
    /// Scores of the validation background of the training sources (model directories).
    validation: Option<Vec<f32>>,
    /// The thresholds of the file's metadata, with their calibration counts (ONNX files).
    thresholds: Vec<Threshold>,
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
    let mut validation_weights: Option<Vec<f32>> = None;
    let (heads, trained) = if is_onnx(model_path) {
        let model = crate::scoring::load_model(model_path)?;
        let head = model.info().score.clone();
        (
            vec![HeadModel {
                head,
                model,
                validation: None,
                thresholds: metadata_thresholds(model_path)?,
            }],
            None,
        )
    } else {
        let trained = TrainedModel::load(model_path)?;
        let val = validation_table(&trained.manifest)?;
        validation_weights = val.weights.clone();
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
            silhouette_by_source: statistics::silhouette(&mu, d, &labels),
            silhouette_normalized: statistics::silhouette(&unit, d, &labels),
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
                thresholds: Vec::new(),
            });
        }
        (heads, Some(trained))
    };
    let first = &heads
        .first()
        .ok_or_else(|| Error::model(model_path, "no score head"))?
        .model;
    let training_sources: Vec<String> = first.info().sources.clone();
    let root = RootSpec {
        tree: opts.tree.clone(),
        ..trained
            .as_ref()
            .map(|t| t.manifest.config.data.root.clone())
            .unwrap_or_default()
    };
    let background = load_weighted(first, &opts.background, &opts.weights, &root)?;
    let signal_files = crate::data::expand_inputs(&opts.signal)?;
    let mut signals = Vec::new();
    for f in &signal_files {
        let t = load_weighted(first, &[f.display().to_string()], &opts.weights, &root)?;
        signals.push((file_stem(f), t));
    }
    let val_weights = trained.as_ref().and_then(|_| validation_weights.clone());
    let bkg_groups = groups(&background);
    let mut reports = Vec::new();
    let mut plot_data = Vec::new();
    for hm in &heads {
        // The deployed threshold, as a weighted cut with its calibration counts when known.
        let (cut, threshold_from): (Option<Cut>, String) = match &hm.validation {
            Some(v) => {
                let sample = Sample::new("validation background", v, val_weights.as_deref())?;
                let cut =
                    weighted::threshold_for_fpr(&sample, opts.target_fpr).ok_or_else(|| {
                        Error::model(
                            model_path,
                            "no validation events to calibrate the threshold on",
                        )
                    })?;
                (Some(cut), "validation".into())
            }
            None => {
                let t = hm
                    .thresholds
                    .iter()
                    .find(|t| (t.fpr - opts.target_fpr).abs() <= 1e-9 * opts.target_fpr)
                    .ok_or_else(|| {
                        Error::model(
                            model_path,
                            format!(
                                "no calibrated threshold for FPR {} in the metadata; run `bead \
                                 calibrate` or evaluate the model directory instead",
                                opts.target_fpr
                            ),
                        )
                    })?;
                let from = t
                    .calibration
                    .as_ref()
                    .map_or_else(|| "metadata".to_string(), |c| c.sample.clone());
                (
                    weighted::cut_of(t).or(Some(Cut {
                        value: t.threshold,
                        above: Counts::default(),
                        total: Counts::default(),
                    })),
                    from,
                )
            }
        };
        let cut = cut.ok_or_else(|| Error::model(model_path, "no threshold"))?;
        let threshold = cut.value;
        let counts_known = cut.total.events > 0;
        let bkg_scores = score_table(&hm.model, &background, false)?;
        let bkg_name = format!("background {}", opts.background.join(" "));
        let bkg = Sample::new(&bkg_name, &bkg_scores, background.weights.as_deref())?;
        let mut sig_reports = Vec::new();
        let mut sig_scores = Vec::new();
        for (name, t) in &signals {
            let s = score_table(&hm.model, t, false)?;
            let sig = Sample::new(name, &s, t.weights.as_deref())?;
            let mut tpr = BTreeMap::new();
            for (key, fpr) in WORKING_POINTS {
                let measurable = bkg.total().effective() * fpr >= MIN_EXPECTED_BACKGROUND;
                let eff = if measurable {
                    weighted::threshold_for_fpr(&bkg, fpr).map(|c| Efficiency::of(&sig, c.value))
                } else {
                    None
                };
                tpr.insert(key.to_string(), eff);
            }
            sig_reports.push(SignalReport {
                name: name.clone(),
                events: s.len(),
                auc: weighted::auc(&bkg, &sig),
                tpr_at_fpr: tpr,
                tpr_deployed: Efficiency::of(&sig, threshold),
            });
            sig_scores.push((name.clone(), s));
        }
        let mut src_reports = Vec::new();
        let mut src_scores = Vec::new();
        for (name, rows) in &bkg_groups {
            let s: Vec<f32> = rows.iter().map(|&i| bkg_scores[i]).collect();
            let w: Option<Vec<f32>> = background
                .weights
                .as_ref()
                .map(|w| rows.iter().map(|&i| w[i]).collect());
            let sample = Sample::new(&format!("{bkg_name}, source {name}"), &s, w.as_deref())?;
            let e = Efficiency::of(&sample, threshold);
            let (inflation, interval) = if counts_known {
                let i =
                    weighted::inflation(sample.above(threshold), sample.total(), &cut, CONFIDENCE);
                (i.value, [i.lo, i.hi])
            } else {
                (
                    e.value / opts.target_fpr,
                    [e.lo / opts.target_fpr, e.hi / opts.target_fpr],
                )
            };
            src_reports.push(SourceReport {
                name: name.clone(),
                events: s.len(),
                in_training: training_sources.contains(name),
                fpr: e.value,
                fpr_interval: [e.lo, e.hi],
                effective_events: e.effective_events,
                inflation,
                inflation_interval: interval,
                threshold_error_included: counts_known,
            });
            src_scores.push((name.clone(), s));
        }
        reports.push(HeadReport {
            score: hm.head.clone(),
            threshold,
            threshold_from,
            threshold_events_above: counts_known.then_some(cut.above.sum_w),
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
        for (head, bkg, sigs, srcs) in &plot_data {
            // Weighted, as every number of the report (histograms show event counts).
            let b = Sample::unweighted(bkg);
            let b = match &background.weights {
                Some(w) => Sample::new("background", bkg, Some(w))?,
                None => b,
            };
            let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
            for ((name, s), (_, table)) in sigs.iter().zip(&signals) {
                let sig = Sample::new(name, s, table.weights.as_deref())?;
                curves.push((
                    format!("{name} (AUC {:.3})", weighted::auc(&b, &sig)),
                    weighted::roc_curve(&b, &sig, 400),
                ));
            }
            plots::roc_curves(
                dir.join(format!("roc_{head}.png")),
                &format!("ROC, score {head}"),
                &curves,
            )?;
            let mut series: Vec<(String, Vec<f32>, bool)> = srcs
                .iter()
                .map(|(n, s)| (n.clone(), s.clone(), false))
                .collect();
            series.extend(sigs.iter().map(|(n, s)| (n.clone(), s.clone(), true)));
            plots::score_histograms(
                dir.join(format!("scores_{head}.png")),
                &format!("Score distributions, {head}"),
                head,
                &series,
            )?;
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
    let pca = statistics::Pca::fit(&all, d);
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
    plots::latent_pca(
        dir.join("latent_pca.png"),
        "Latent means (PCA of background μ)",
        &bkg_pts,
        &sig_pts,
        pca.explained,
    )
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
    plots::training_curves(out, "Training curves", &epochs, &series)
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

/// The thresholds stored in an exported file's `bead` metadata, with the calibration counts
/// that `bead calibrate` records (the runtime's view of the metadata does not need them).
fn metadata_thresholds(path: &Path) -> Result<Vec<Threshold>> {
    #[derive(Deserialize)]
    struct Meta {
        #[serde(default)]
        thresholds: Vec<Threshold>,
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let proto = bead_infer::onnx::decode_model(&bytes)
        .map_err(|e| Error::model(path, format!("not an ONNX model: {e}")))?;
    let Some(entry) = proto
        .metadata_props
        .iter()
        .find(|p| p.key == bead_infer::contract::METADATA_KEY)
    else {
        return Ok(Vec::new());
    };
    let meta: Meta = serde_json::from_str(&entry.value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        what: "bead metadata",
        source,
    })?;
    Ok(meta.thresholds)
}
