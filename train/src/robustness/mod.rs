//! `bead robustness`: does the false-positive rate hold on a generator the model never saw?
//!
//! Leave one source out: for each training source k, train on the others (same config),
//! calibrate each score head's threshold on their events (validation split, or
//! `--calibration` files), then measure on k's **test** events the false-positive rate at
//! that threshold. Its ratio to the calibration rate is the *inflation*: 1 for a model that is
//! robust to the generator difference, 2 when the unseen generator fires the trigger twice as
//! often. The same protocol trained on each single source is the baseline that enrichment must
//! beat. Every number is weighted, repeated over seeds (mean ± std) and carries the interval of
//! [`crate::weighted::inflation`], which includes the threshold's own statistical error.
//!
//! Signals: each signal file is split in two halves (seeded, fixed). The *validation* half
//! chooses the head reported as `selected_head` (highest mean AUC over signals); the *test*
//! half gives the reported AUC and the TPR at the deployed thresholds. Test events of the
//! background never choose anything.

mod plot;
mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

pub use report::{
    HeadResult, MeanStd, RobustnessReport, SingleSourceResult, SourceResult, Summary, fpr_key,
    markdown,
};

use crate::config::TrainConfig;
use crate::data::{self, DataSpec, EventTable};
use crate::error::{Error, Result};
use crate::evaluate::statistics::{
    silhouette as silhouette_of,
    weighted::{self, Sample},
};
use crate::manifest::TrainedModel;
use crate::model::ScoreHead;
use crate::scoring::score_table;
use crate::training::{
    Prepared, RunOptions, data_spec, retain_sources, select_rows, train_prepared,
};

/// Confidence level of every interval: ±1σ.
pub const CONFIDENCE: f64 = 0.6827;
/// Seed of the signal validation/test split (fixed, so that every design sees the same halves).
const SIGNAL_SPLIT_SEED: u64 = 0x5167_7a15;

/// What `bead robustness` runs.
#[derive(Debug, Clone)]
pub struct RobustnessOptions {
    /// Base configuration; `data.train` holds the training files, `optim.seed` the first seed.
    pub config: TrainConfig,
    /// Background test files (labelled by source like the training files).
    pub test: Vec<String>,
    /// Signal files (one signal per file).
    pub signal: Vec<String>,
    /// Calibration files; empty: the validation split of the training sources.
    pub calibration: Vec<String>,
    /// Number of seeds (`optim.seed`, `optim.seed + 1`, ...).
    pub seeds: usize,
    /// Target false-positive rates.
    pub fprs: Vec<f64>,
    /// Output directory.
    pub out: PathBuf,
    /// Also train on each single source (the baseline).
    pub single_source: bool,
    /// Trainings run at the same time (default: the number of cores).
    pub jobs: usize,
    /// Show a progress bar.
    pub progress: bool,
}

/// One training of the protocol.
#[derive(Debug, Clone)]
struct Job {
    /// Sources trained on.
    keep: Vec<String>,
    /// Sources measured as unseen.
    unseen: Vec<String>,
    /// Leave-one-out (`true`) or single-source baseline.
    leave_out: bool,
    seed: u64,
    dir: PathBuf,
}

/// Per-seed numbers of one job.
#[derive(Debug, Clone, Default)]
struct JobResult {
    /// Head → measurements.
    heads: BTreeMap<String, HeadMeasure>,
    /// Silhouette of μ grouped by trained source (validation events; `None` for one source).
    silhouette: Option<f64>,
}

#[derive(Debug, Clone, Default)]
struct HeadMeasure {
    /// Unseen source → fpr key → inflation.
    unseen: BTreeMap<String, BTreeMap<String, weighted::Inflation>>,
    /// Trained-on source (its test events) → fpr key → inflation.
    closure: BTreeMap<String, BTreeMap<String, weighted::Inflation>>,
    /// Signal → fpr key → TPR at the deployed threshold (test half).
    tpr: BTreeMap<String, BTreeMap<String, f64>>,
    /// Signal → AUC against the calibration background (test half).
    auc: BTreeMap<String, f64>,
    /// Signal → AUC on the validation half (chooses the head).
    auc_validation: BTreeMap<String, f64>,
}

/// Loaded once, shared by every job.
struct Inputs {
    train: EventTable,
    test: EventTable,
    calibration: Option<EventTable>,
    /// (name, validation half, test half).
    signals: Vec<(String, EventTable, EventTable)>,
}

/// Run the protocol and write `robustness.json`, `robustness.md` and one PNG per left-out
/// source into `opts.out`.
pub fn robustness(opts: &RobustnessOptions) -> Result<RobustnessReport> {
    validate(opts)?;
    opts.config.validate()?;
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let inputs = load_inputs(opts)?;
    let sources = inputs.train.sources.clone();
    if sources.len() < 2 {
        return Err(Error::Config(format!(
            "robustness needs at least two training sources, found {}",
            sources.len()
        )));
    }
    for s in &sources {
        if !inputs.test.sources.contains(s) {
            return Err(Error::Config(format!(
                "no test events of training source `{s}` in {:?}",
                opts.test
            )));
        }
    }
    let jobs = plan_jobs(opts, &sources);
    let bar = opts.progress.then(|| {
        let bar = indicatif::ProgressBar::new(jobs.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} trainings {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let done = AtomicUsize::new(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| Error::Config(format!("cannot start {} worker threads: {e}", opts.jobs)))?;
    let results: Vec<Result<JobResult>> = pool.install(|| {
        jobs.par_iter()
            .map(|job| {
                let r = run_job(opts, &inputs, job);
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                match &bar {
                    Some(bar) => {
                        bar.set_message(job_name(job));
                        bar.inc(1);
                    }
                    None => eprintln!("robustness: {n}/{} {} done", jobs.len(), job_name(job)),
                }
                r
            })
            .collect()
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let mut per_job = Vec::with_capacity(jobs.len());
    for (job, r) in jobs.iter().zip(results) {
        per_job.push((job.clone(), r?));
    }
    let report = report::aggregate(opts, &sources, &inputs_signal_names(&inputs), &per_job);
    report::write(&report, &opts.out)?;
    plot::inflation_plots(&report, &opts.out)?;
    Ok(report)
}

fn validate(opts: &RobustnessOptions) -> Result<()> {
    if opts.seeds == 0 {
        return Err(Error::Config("--seeds must be at least 1".into()));
    }
    if opts.fprs.is_empty() {
        return Err(Error::Config("give at least one --fpr".into()));
    }
    for &f in &opts.fprs {
        if !(f.is_finite() && f > 0.0 && f < 1.0) {
            return Err(Error::Config(format!("--fpr {f}: must be in (0, 1)")));
        }
    }
    if opts.test.is_empty() {
        return Err(Error::Config(
            "give the background test files with --test".into(),
        ));
    }
    Ok(())
}

fn job_name(job: &Job) -> String {
    if job.leave_out {
        format!("without {} (seed {})", job.unseen.join(","), job.seed)
    } else {
        format!("only {} (seed {})", job.keep.join(","), job.seed)
    }
}

fn plan_jobs(opts: &RobustnessOptions, sources: &[String]) -> Vec<Job> {
    let mut jobs = Vec::new();
    for i in 0..opts.seeds {
        let seed = opts.config.optim.seed.wrapping_add(i as u64);
        for k in sources {
            jobs.push(Job {
                keep: sources.iter().filter(|s| *s != k).cloned().collect(),
                unseen: vec![k.clone()],
                leave_out: true,
                seed,
                dir: opts
                    .out
                    .join("runs")
                    .join(format!("without-{k}"))
                    .join(format!("seed-{seed}")),
            });
        }
        if opts.single_source {
            for j in sources {
                jobs.push(Job {
                    keep: vec![j.clone()],
                    unseen: sources.iter().filter(|s| *s != j).cloned().collect(),
                    leave_out: false,
                    seed,
                    dir: opts
                        .out
                        .join("runs")
                        .join(format!("only-{j}"))
                        .join(format!("seed-{seed}")),
                });
            }
        }
    }
    jobs
}

fn file_stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn inputs_signal_names(inputs: &Inputs) -> Vec<String> {
    inputs.signals.iter().map(|(n, _, _)| n.clone()).collect()
}

fn load_inputs(opts: &RobustnessOptions) -> Result<Inputs> {
    let config = &opts.config;
    let files = data::expand_inputs(&config.data.train)?;
    let mut train = data::load_events(&files, &data_spec(config), None, true)?;
    if !config.data.sources.is_empty() {
        train = retain_sources(train, &config.data.sources)?;
    }
    // Everything else is read with the training features, labels and weights.
    let spec = DataSpec {
        features: Some(train.feature_names.clone()),
        ..data_spec(config)
    };
    let test_files = data::expand_inputs(&opts.test)?;
    let test = data::load_events(&test_files, &spec, None, true)?;
    let calibration = if opts.calibration.is_empty() {
        None
    } else {
        let files = data::expand_inputs(&opts.calibration)?;
        Some(data::load_events(&files, &spec, None, true)?)
    };
    let unlabelled = DataSpec {
        file_labels: Vec::new(),
        ..spec.clone()
    };
    let mut signals = Vec::new();
    for f in data::expand_inputs(&opts.signal)? {
        let t = data::load_events(std::slice::from_ref(&f), &unlabelled, None, false)?;
        let (test_half, validation_half) = data::split_indices(t.len(), 0.5, SIGNAL_SPLIT_SEED);
        signals.push((
            file_stem(&f),
            select_rows(&t, &validation_half),
            select_rows(&t, &test_half),
        ));
    }
    Ok(Inputs {
        train,
        test,
        calibration,
        signals,
    })
}

/// Rows of `table` whose source is `name`.
fn rows_of(table: &EventTable, name: &str) -> Vec<u32> {
    match table.sources.iter().position(|s| s == name) {
        Some(k) => (0..table.len() as u32)
            .filter(|&i| table.labels[i as usize] == k as u32)
            .collect(),
        None => Vec::new(),
    }
}

fn gather(scores: &[f32], rows: &[u32]) -> Vec<f32> {
    rows.iter().map(|&r| scores[r as usize]).collect()
}

fn gather_weights(table: &EventTable, rows: &[u32]) -> Option<Vec<f32>> {
    table
        .weights
        .as_ref()
        .map(|w| rows.iter().map(|&r| w[r as usize]).collect())
}

/// A scored, weighted subset: (scores, weights).
struct Scored {
    scores: Vec<f32>,
    weights: Option<Vec<f32>>,
}

impl Scored {
    fn of(scores: &[f32], table: &EventTable, rows: &[u32]) -> Self {
        Self {
            scores: gather(scores, rows),
            weights: gather_weights(table, rows),
        }
    }

    fn whole(scores: Vec<f32>, table: &EventTable) -> Self {
        Self {
            scores,
            weights: table.weights.clone(),
        }
    }

    fn sample(&self, name: &str) -> Result<Sample<'_>> {
        Sample::new(name, &self.scores, self.weights.as_deref()).map_err(Error::from)
    }
}

fn run_job(opts: &RobustnessOptions, inputs: &Inputs, job: &Job) -> Result<JobResult> {
    let mut config = opts.config.clone();
    config.optim.seed = job.seed;
    config.data.sources = job.keep.clone();
    let table = retain_sources(inputs.train.clone(), &job.keep)?;
    let (train_rows, val_rows) = data::split_indices(
        table.len(),
        config.data.validation_fraction,
        config.optim.seed,
    );
    let prepared = Prepared {
        table,
        files: data::expand_inputs(&config.data.train)?,
        train_rows,
        val_rows,
    };
    train_prepared(&config, &job.dir, &RunOptions::default(), &prepared)?;
    let trained = TrainedModel::load(&job.dir)?;
    // Only the validation rows calibrate: score those, once per head, not the whole table.
    let validation = select_rows(&prepared.table, &prepared.val_rows);
    let mut result = JobResult {
        silhouette: silhouette(&trained, &prepared),
        ..JobResult::default()
    };
    for head in ScoreHead::available(&trained.manifest) {
        let model = crate::evaluate::runtime_model(&trained, head)?;
        // Calibration background: the trained sources' validation events or the given files.
        let calibration = match &inputs.calibration {
            None => Scored::whole(score_table(&model, &validation, false)?, &validation),
            Some(t) => {
                let scores = score_table(&model, t, false)?;
                let rows: Vec<u32> = job.keep.iter().flat_map(|s| rows_of(t, s)).collect();
                Scored::of(&scores, t, &rows)
            }
        };
        let cal = calibration.sample("calibration background")?;
        let test_scores = score_table(&model, &inputs.test, false)?;
        let mut m = HeadMeasure::default();
        let cuts: Vec<(String, weighted::Cut)> = opts
            .fprs
            .iter()
            .filter_map(|&f| weighted::threshold_for_fpr(&cal, f).map(|c| (fpr_key(f), c)))
            .collect();
        let measure = |name: &str| -> Result<BTreeMap<String, weighted::Inflation>> {
            let rows = rows_of(&inputs.test, name);
            let s = Scored::of(&test_scores, &inputs.test, &rows);
            let sample = s.sample(&format!("test events of {name}"))?;
            Ok(cuts
                .iter()
                .map(|(k, cut)| {
                    let above = sample.above(cut.value);
                    (
                        k.clone(),
                        weighted::inflation(above, sample.total(), cut, CONFIDENCE),
                    )
                })
                .collect())
        };
        for s in &job.unseen {
            m.unseen.insert(s.clone(), measure(s)?);
        }
        for s in &job.keep {
            m.closure.insert(s.clone(), measure(s)?);
        }
        for (name, validation, test) in &inputs.signals {
            let v = Scored::whole(score_table(&model, validation, false)?, validation);
            let t = Scored::whole(score_table(&model, test, false)?, test);
            let (vs, ts) = (v.sample(name)?, t.sample(name)?);
            m.auc_validation
                .insert(name.clone(), weighted::auc(&cal, &vs));
            m.auc.insert(name.clone(), weighted::auc(&cal, &ts));
            m.tpr.insert(
                name.clone(),
                cuts.iter()
                    .map(|(k, cut)| (k.clone(), ts.fraction_above(cut.value)))
                    .collect(),
            );
        }
        result.heads.insert(head.name().to_string(), m);
    }
    Ok(result)
}

/// Silhouette of μ by source on (at most 3000) validation events of the trained sources.
fn silhouette(trained: &TrainedModel, prepared: &Prepared) -> Option<f64> {
    if prepared.table.sources.len() < 2 {
        return None;
    }
    let step = prepared.val_rows.len().div_ceil(3000).max(1);
    let rows: Vec<u32> = prepared.val_rows.iter().step_by(step).copied().collect();
    let (mu, _) = crate::model::encode_rows(
        &trained.model,
        &prepared.table,
        &trained.manifest.preprocessing,
        &rows,
        &trained.device,
    );
    let labels: Vec<u32> = rows
        .iter()
        .map(|&r| prepared.table.labels[r as usize])
        .collect();
    silhouette_of(&mu, trained.manifest.config.model.latent, &labels)
}
