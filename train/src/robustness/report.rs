//! The robustness report: per-seed measurements aggregated to mean ± std, written as
//! `robustness.json` (stable keys) and `robustness.md` (a table).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{CONFIDENCE, HeadMeasure, Job, JobResult, RobustnessOptions};
use crate::error::{Error, Result};
use crate::evaluate::statistics::weighted::Inflation;
use crate::manifest::write_atomic;

/// The key of a false-positive rate in reports: `1e-3`, `2.5e-3`.
pub fn fpr_key(fpr: f64) -> String {
    let s = format!("{fpr:e}");
    s.replace(".0e", "e")
}

/// Mean and standard deviation over seeds (std is the sample standard deviation, 0 for one
/// seed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation over seeds.
    pub std: f64,
}

impl MeanStd {
    fn of(values: &[f64]) -> Self {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let n = finite.len() as f64;
        if finite.is_empty() {
            return Self {
                mean: f64::NAN,
                std: f64::NAN,
            };
        }
        let mean = finite.iter().sum::<f64>() / n;
        let var = if finite.len() > 1 {
            finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Self {
            mean,
            std: var.sqrt(),
        }
    }
}

/// Inflation over seeds: mean ± std of the per-seed values, and the mean of the per-seed
/// interval edges (each per-seed interval includes the test sample's and the threshold's
/// statistical errors at 68%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation over seeds.
    pub std: f64,
    /// Mean lower interval edge.
    pub lo: f64,
    /// Mean upper interval edge.
    pub hi: f64,
}

/// One score head of one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadResult {
    /// Head name (`mu2`, `kl`, `cluster`, `flow_nll`, `recon`).
    pub score: String,
    /// FPR key → inflation of the unseen source.
    pub inflation: BTreeMap<String, Summary>,
    /// Trained-on source → FPR key → inflation on its test events (closure: ≈ 1 when the
    /// calibration and test events are distinct samples of one distribution).
    pub closure: BTreeMap<String, BTreeMap<String, Summary>>,
    /// Signal → FPR key → TPR at the deployed threshold (signal test half).
    pub tpr: BTreeMap<String, BTreeMap<String, MeanStd>>,
    /// Signal → AUC (signal test half against the calibration background).
    pub auc: BTreeMap<String, MeanStd>,
    /// Signal → AUC on the signal validation half (what chooses the head).
    pub auc_validation: BTreeMap<String, MeanStd>,
}

/// One unseen source of one training configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceResult {
    /// The unseen source.
    pub source: String,
    /// Sources trained on.
    pub trained_on: Vec<String>,
    /// The head with the highest mean validation AUC over signals (never chosen on test).
    pub selected_head: Option<String>,
    /// Silhouette of μ grouped by trained source on their validation events (mean ± std
    /// over seeds; absent for a single trained source).
    pub silhouette: Option<MeanStd>,
    /// Every head.
    pub heads: Vec<HeadResult>,
}

/// The single-source baseline trained on one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SingleSourceResult {
    /// The source trained on.
    pub trained_on: String,
    /// Each other source, unseen.
    pub unseen: Vec<SourceResult>,
}

/// `robustness.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustnessReport {
    /// Configuration hash of the base config.
    pub config_hash: String,
    /// Model kind and the loss settings that define the design.
    pub design: serde_json::Value,
    /// Seeds run.
    pub seeds: Vec<u64>,
    /// Target FPRs.
    pub fprs: Vec<f64>,
    /// Interval confidence level.
    pub confidence: f64,
    /// Where thresholds were calibrated: `validation` or the calibration files.
    pub calibration: String,
    /// Leave one out: trained on every other source.
    pub left_out: Vec<SourceResult>,
    /// Trained on one source.
    pub single_source: Vec<SingleSourceResult>,
}

fn summary(values: &[Inflation]) -> Summary {
    let v: Vec<f64> = values.iter().map(|i| i.value).collect();
    let m = MeanStd::of(&v);
    let lo = MeanStd::of(&values.iter().map(|i| i.lo).collect::<Vec<_>>()).mean;
    let hi = MeanStd::of(&values.iter().map(|i| i.hi).collect::<Vec<_>>()).mean;
    Summary {
        mean: m.mean,
        std: m.std,
        lo,
        hi,
    }
}

/// One head's per-seed measurements for one unseen source → its aggregate.
fn head_result(head: &str, unseen: &str, seeds: &[&HeadMeasure]) -> HeadResult {
    let mut inflation = BTreeMap::new();
    let mut closure: BTreeMap<String, BTreeMap<String, Summary>> = BTreeMap::new();
    let mut tpr: BTreeMap<String, BTreeMap<String, MeanStd>> = BTreeMap::new();
    let mut auc = BTreeMap::new();
    let mut auc_validation = BTreeMap::new();
    if let Some(first) = seeds.first() {
        if let Some(per_fpr) = first.unseen.get(unseen) {
            for key in per_fpr.keys() {
                let vals: Vec<_> = seeds
                    .iter()
                    .filter_map(|m| m.unseen.get(unseen).and_then(|f| f.get(key)).copied())
                    .collect();
                inflation.insert(key.clone(), summary(&vals));
            }
        }
        for (src, per_fpr) in &first.closure {
            let entry = closure.entry(src.clone()).or_default();
            for key in per_fpr.keys() {
                let vals: Vec<_> = seeds
                    .iter()
                    .filter_map(|m| m.closure.get(src).and_then(|f| f.get(key)).copied())
                    .collect();
                entry.insert(key.clone(), summary(&vals));
            }
        }
        for (sig, per_fpr) in &first.tpr {
            let entry = tpr.entry(sig.clone()).or_default();
            for key in per_fpr.keys() {
                let vals: Vec<f64> = seeds
                    .iter()
                    .filter_map(|m| m.tpr.get(sig).and_then(|f| f.get(key)).copied())
                    .collect();
                entry.insert(key.clone(), MeanStd::of(&vals));
            }
        }
        for sig in first.auc.keys() {
            let v: Vec<f64> = seeds
                .iter()
                .filter_map(|m| m.auc.get(sig).copied())
                .collect();
            auc.insert(sig.clone(), MeanStd::of(&v));
            let v: Vec<f64> = seeds
                .iter()
                .filter_map(|m| m.auc_validation.get(sig).copied())
                .collect();
            auc_validation.insert(sig.clone(), MeanStd::of(&v));
        }
    }
    HeadResult {
        score: head.to_string(),
        inflation,
        closure,
        tpr,
        auc,
        auc_validation,
    }
}

/// The head with the highest mean (over signals) validation AUC.
fn select_head(heads: &[HeadResult]) -> Option<String> {
    heads
        .iter()
        .filter_map(|h| {
            let v: Vec<f64> = h.auc_validation.values().map(|m| m.mean).collect();
            (!v.is_empty()).then(|| (h.score.clone(), v.iter().sum::<f64>() / v.len() as f64))
        })
        .filter(|(_, a)| a.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(h, _)| h)
}

fn source_result(unseen: &str, keep: &[String], runs: &[&JobResult]) -> SourceResult {
    let heads: Vec<HeadResult> = runs
        .first()
        .map(|first| {
            first
                .heads
                .keys()
                .map(|head| {
                    let per_seed: Vec<&HeadMeasure> =
                        runs.iter().filter_map(|r| r.heads.get(head)).collect();
                    head_result(head, unseen, &per_seed)
                })
                .collect()
        })
        .unwrap_or_default();
    let sil: Vec<f64> = runs.iter().filter_map(|r| r.silhouette).collect();
    SourceResult {
        source: unseen.to_string(),
        trained_on: keep.to_vec(),
        selected_head: select_head(&heads),
        silhouette: (!sil.is_empty()).then(|| MeanStd::of(&sil)),
        heads,
    }
}

pub(super) fn aggregate(
    opts: &RobustnessOptions,
    sources: &[String],
    _signals: &[String],
    per_job: &[(Job, JobResult)],
) -> RobustnessReport {
    let mut seeds: Vec<u64> = per_job.iter().map(|(j, _)| j.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut left_out = Vec::new();
    for k in sources {
        let runs: Vec<&(Job, JobResult)> = per_job
            .iter()
            .filter(|(j, _)| j.leave_out && j.unseen.first() == Some(k))
            .collect();
        if let Some((job, _)) = runs.first() {
            let results: Vec<&JobResult> = runs.iter().map(|(_, r)| r).collect();
            left_out.push(source_result(k, &job.keep, &results));
        }
    }
    let mut single_source = Vec::new();
    for j in sources {
        let runs: Vec<&(Job, JobResult)> = per_job
            .iter()
            .filter(|(job, _)| !job.leave_out && job.keep.first() == Some(j))
            .collect();
        if runs.is_empty() {
            continue;
        }
        let results: Vec<&JobResult> = runs.iter().map(|(_, r)| r).collect();
        let unseen = sources
            .iter()
            .filter(|s| *s != j)
            .map(|k| source_result(k, std::slice::from_ref(j), &results))
            .collect();
        single_source.push(SingleSourceResult {
            trained_on: j.clone(),
            unseen,
        });
    }
    let c = &opts.config;
    RobustnessReport {
        config_hash: c.hash(),
        design: serde_json::json!({
            "model": c.model.kind.name(),
            "prior": c.model.prior,
            "projection": c.model.projection,
            "supcon": c.loss.supcon,
            "ntxent": c.loss.ntxent,
            "invariance": c.loss.invariance,
            "contrast_on": c.loss.contrast_on,
            "epochs": c.optim.epochs,
        }),
        seeds,
        fprs: opts.fprs.clone(),
        confidence: CONFIDENCE,
        calibration: if opts.calibration.is_empty() {
            "validation".into()
        } else {
            opts.calibration.join(" ")
        },
        left_out,
        single_source,
    }
}

fn cell(s: Option<&Summary>) -> String {
    match s {
        Some(s) if s.mean.is_finite() => {
            format!("{:.2} ± {:.2} [{:.2}, {:.2}]", s.mean, s.std, s.lo, s.hi)
        }
        _ => "n/a".into(),
    }
}

/// The Markdown table: one row per experiment and head.
pub fn markdown(report: &RobustnessReport) -> String {
    let keys: Vec<String> = report.fprs.iter().map(|&f| fpr_key(f)).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Robustness to an unseen generator\n\nInflation = FPR of the unseen source at the \
         threshold calibrated for the target FPR on the trained sources ({}), divided by the \
         threshold's rate there: mean ± std over seeds {:?} [mean 68% interval, including \
         the threshold's statistical error]. `*` marks the head chosen on the signals' \
         validation halves. TPR: signal test halves at the same thresholds.\n",
        report.calibration, report.seeds
    );
    let signals: Vec<String> = report
        .left_out
        .first()
        .and_then(|s| s.heads.first())
        .map(|h| h.tpr.keys().cloned().collect())
        .unwrap_or_default();
    let mut header = String::from("| trained on | unseen | head |");
    let mut rule = String::from("|---|---|---|");
    for k in &keys {
        let _ = write!(header, " inflation @{k} |");
        rule.push_str("---|");
    }
    for s in &signals {
        let _ = write!(header, " AUC {s} |");
        rule.push_str("---|");
        for k in &keys {
            let _ = write!(header, " TPR {s} @{k} |");
            rule.push_str("---|");
        }
    }
    let _ = writeln!(out, "{header}\n{rule}");
    let mut rows = |r: &SourceResult| {
        for h in &r.heads {
            let mark = if r.selected_head.as_deref() == Some(h.score.as_str()) {
                "*"
            } else {
                ""
            };
            let mut line = format!(
                "| {} | {} | {}{} |",
                r.trained_on.join(" + "),
                r.source,
                h.score,
                mark
            );
            for k in &keys {
                let _ = write!(line, " {} |", cell(h.inflation.get(k)));
            }
            for s in &signals {
                match h.auc.get(s) {
                    Some(a) => {
                        let _ = write!(line, " {:.3} ± {:.3} |", a.mean, a.std);
                    }
                    None => line.push_str(" n/a |"),
                }
                for k in &keys {
                    match h.tpr.get(s).and_then(|t| t.get(k)) {
                        Some(t) => {
                            let _ = write!(line, " {:.3} ± {:.3} |", t.mean, t.std);
                        }
                        None => line.push_str(" n/a |"),
                    }
                }
            }
            let _ = writeln!(out, "{line}");
        }
    };
    for r in &report.left_out {
        rows(r);
    }
    for s in &report.single_source {
        for r in &s.unseen {
            rows(r);
        }
    }
    let _ = writeln!(
        out,
        "\n## Closure (trained sources' own test events)\n\n| trained on | source | head | {} |\n|---|---|---|{}",
        keys.iter()
            .map(|k| format!("inflation @{k}"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(keys.len())
    );
    for r in &report.left_out {
        for h in &r.heads {
            for (src, per) in &h.closure {
                let cells: Vec<String> = keys.iter().map(|k| cell(per.get(k))).collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    r.trained_on.join(" + "),
                    src,
                    h.score,
                    cells.join(" | ")
                );
            }
        }
    }
    out
}

/// Write `robustness.json` and `robustness.md` into `dir`.
pub fn write(report: &RobustnessReport, dir: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(report).map_err(|source| Error::Serialize {
        what: "robustness report",
        source,
    })?;
    write_atomic(&dir.join("robustness.json"), json.as_bytes())?;
    write_atomic(&dir.join("robustness.md"), markdown(report).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let m = MeanStd::of(&[1.0, 2.0, 3.0, f64::NAN]);
        assert_eq!(m.mean, 2.0);
        assert!((m.std - 1.0).abs() < 1e-12);
        assert_eq!(MeanStd::of(&[4.0]).std, 0.0);
    }

    #[test]
    fn fpr_keys() {
        assert_eq!(fpr_key(1e-3), "1e-3");
        assert_eq!(fpr_key(0.01), "1e-2");
        assert_eq!(fpr_key(2.5e-4), "2.5e-4");
    }
}
