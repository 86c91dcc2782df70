//! Training: seeded split, preprocessing fit, AdamW with reduce-on-plateau and early
//! stopping, per-epoch metrics, atomic checkpoints and `--resume`.
//!
//! This file is the epoch loop; [`step`] is one optimisation step, `checkpoint` the
//! `checkpoint/` folder and `metrics` the `metrics.jsonl` lines.

mod checkpoint;
mod metrics;
pub mod step;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;

use crate::config::TrainConfig;
use crate::data::{self, Column, DataSpec, EventTable};
use crate::error::{Error, Result};
use crate::manifest::{METRICS_FILE, ModelManifest, WEIGHTS_FILE};
use crate::model::{BeadVae, source_stats};
use crate::preprocess::Preprocessor;
use crate::rng::Rng;
use checkpoint::{Checkpoint, TrainerState, save_module};
use metrics::append_metrics;
pub use metrics::{EpochMetrics, LossTerms, read_metrics};
use step::{BatchBuilder, LossWeights, batch_loss, train_step};

/// What [`train`] returns.
#[derive(Debug)]
pub struct TrainOutcome {
    /// Model directory.
    pub dir: PathBuf,
    /// Manifest as written.
    pub manifest: ModelManifest,
    /// Metrics of every epoch run in this call.
    pub metrics: Vec<EpochMetrics>,
}

/// Options that are not part of the model's configuration.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Continue from `DIR/checkpoint` if it exists.
    pub resume: bool,
    /// Show a progress bar.
    pub progress: bool,
}

/// The data a training run sees, loaded once.
pub struct Prepared {
    /// All events.
    pub table: EventTable,
    /// Expanded training files.
    pub files: Vec<PathBuf>,
    /// Training rows.
    pub train_rows: Vec<u32>,
    /// Validation rows.
    pub val_rows: Vec<u32>,
}

/// The data spec implied by a config.
pub fn data_spec(config: &TrainConfig) -> DataSpec {
    DataSpec {
        features: (!config.data.features.is_empty()).then(|| config.data.features.clone()),
        ignore: config.data.ignore.clone(),
        source_column: Some(config.data.source_column.clone()),
        weight_column: config.data.weight_column.clone(),
        file_labels: config
            .data
            .file_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        root: config.data.root.clone(),
        ..DataSpec::default()
    }
}

/// Load the training files and make the seeded split.
pub fn prepare(config: &TrainConfig) -> Result<Prepared> {
    if config.data.train.is_empty() {
        return Err(Error::Config(
            "no training files: give --train FILE... or [data] train in the config".into(),
        ));
    }
    let files = data::expand_inputs(&config.data.train)?;
    let mut table = data::load_events(&files, &data_spec(config), None, true)?;
    if !config.data.sources.is_empty() {
        table = retain_sources(table, &config.data.sources)?;
    }
    let (train_rows, val_rows) = data::split_indices(
        table.len(),
        config.data.validation_fraction,
        config.optim.seed,
    );
    if train_rows.len() < 2 {
        return Err(Error::Config(format!(
            "only {} training events after the split: need at least 2",
            train_rows.len()
        )));
    }
    Ok(Prepared {
        table,
        files,
        train_rows,
        val_rows,
    })
}

/// Keep only the events of the sources `keep`; the vocabulary becomes `keep` in the order
/// given, and labels are renumbered. A name not found in the data is an error.
pub fn retain_sources(table: EventTable, keep: &[String]) -> Result<EventTable> {
    let mut remap = vec![u32::MAX; table.sources.len()];
    for (new, name) in keep.iter().enumerate() {
        let old = table
            .sources
            .iter()
            .position(|s| s == name)
            .ok_or_else(|| {
                Error::Config(format!(
                    "data.sources: no events of source `{name}` in the training files (found: {})",
                    table.sources.join(", ")
                ))
            })?;
        remap[old] = new as u32;
    }
    let rows: Vec<u32> = (0..table.len() as u32)
        .filter(|&i| remap[table.labels[i as usize] as usize] != u32::MAX)
        .collect();
    let mut kept = select_rows(&table, &rows);
    for l in &mut kept.labels {
        *l = remap[*l as usize];
    }
    kept.sources = keep.to_vec();
    Ok(kept)
}

/// A new table with the rows `rows` of `table`, in that order (features, labels, weights and
/// passthrough columns).
pub fn select_rows(table: &EventTable, rows: &[u32]) -> EventTable {
    let mut features = Vec::with_capacity(rows.len() * table.num_features());
    for &i in rows {
        features.extend_from_slice(table.row(i as usize));
    }
    let pick = |i: &u32| *i as usize;
    let passthrough = table
        .passthrough
        .iter()
        .map(|(name, col)| {
            let col = match col {
                Column::Str(v) => Column::Str(rows.iter().map(|i| v[pick(i)].clone()).collect()),
                Column::I64(v) => Column::I64(rows.iter().map(|i| v[pick(i)]).collect()),
                Column::F64(v) => Column::F64(rows.iter().map(|i| v[pick(i)]).collect()),
            };
            (name.clone(), col)
        })
        .collect();
    EventTable {
        feature_names: table.feature_names.clone(),
        features,
        labels: if table.labels.is_empty() {
            Vec::new()
        } else {
            rows.iter().map(|i| table.labels[pick(i)]).collect()
        },
        sources: table.sources.clone(),
        weights: table
            .weights
            .as_ref()
            .map(|w| rows.iter().map(|i| w[pick(i)]).collect()),
        passthrough,
        // Row counts per file no longer describe the selected rows.
        file_rows: Vec::new(),
    }
}

/// Validation loss with fixed noise (the same every epoch, so epochs are comparable).
// Eight independent inputs of one computation; a struct for them would be unpacked again here.
#[allow(clippy::too_many_arguments)]
fn evaluate_loss(
    model: &BeadVae,
    config: &TrainConfig,
    table: &EventTable,
    pre: &Preprocessor,
    rows: &[u32],
    weight_scale: f32,
    weights: &LossWeights,
    device: &Device,
) -> LossTerms {
    let mut rng = Rng::new(config.optim.seed ^ 0x005e_ed0f_7a11);
    let mut batches =
        BatchBuilder::new(table, pre, config.model.latent, device).with_weight_scale(weight_scale);
    let mut acc = LossTerms::default();
    let noise = (weights.ntxent > 0.0).then_some(config.loss.view_noise);
    let mut seen = 0usize;
    for chunk in rows.chunks(config.optim.batch_size.max(2)) {
        let batch = batches.build(chunk, noise, &mut rng);
        let terms = batch_loss(model, config, batch, weights).read();
        acc.add_scaled(&terms, chunk.len() as f64);
        seen += chunk.len();
    }
    if seen > 0 {
        let mut out = LossTerms::default();
        out.add_scaled(&acc, 1.0 / seen as f64);
        out
    } else {
        acc
    }
}

/// Train a model into `out` (created if needed).
pub fn train(config: &TrainConfig, out: &Path, opts: &RunOptions) -> Result<TrainOutcome> {
    config.validate()?;
    let prepared = prepare(config)?;
    train_prepared(config, out, opts, &prepared)
}

/// Train on already loaded data (lets callers reuse one load for several models).
pub fn train_prepared(
    config: &TrainConfig,
    out: &Path,
    opts: &RunOptions,
    prepared: &Prepared,
) -> Result<TrainOutcome> {
    config.validate()?;
    let Prepared {
        table,
        files,
        train_rows,
        val_rows,
    } = prepared;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let checkpoint = Checkpoint::create(out)?;

    let pre = Preprocessor::fit(
        &table.feature_names,
        &config.preprocessing,
        &table.features,
        train_rows,
    )?;
    let scale = step::weight_scale(table, train_rows)?;
    let plain = Device::default();
    let device = plain.clone().autodiff();
    let mut init_rng = Rng::new(config.optim.seed);
    let mut model = BeadVae::new(
        &config.model,
        pre.num_inputs(),
        table.sources.len(),
        &mut init_rng,
        &device,
    );
    let mut optim = step::optimizer(config);
    let config_hash = config.hash();
    let mut state = TrainerState {
        next_epoch: 0,
        learning_rate: config.optim.learning_rate,
        best_validation: f64::INFINITY,
        best_epoch: 0,
        epochs_since_best: 0,
        epochs_since_lr_change: 0,
        config_hash: config_hash.clone(),
    };
    let metrics_path = out.join(METRICS_FILE);
    if opts.resume && checkpoint.exists() {
        (state, model, optim) = checkpoint.resume(&config_hash, model, optim)?;
    } else if metrics_path.exists() {
        std::fs::remove_file(&metrics_path).map_err(|e| Error::io(&metrics_path, e))?;
    }

    let bs = config.optim.batch_size;
    let steps_per_epoch = train_rows.len().div_ceil(bs);
    let bar = if opts.progress {
        let bar = indicatif::ProgressBar::new((config.optim.epochs * steps_per_epoch) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] epoch {prefix} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_position((state.next_epoch * steps_per_epoch) as u64);
        Some(bar)
    } else {
        None
    };

    let mut all_metrics = Vec::new();
    let mut batches =
        BatchBuilder::new(table, &pre, config.model.latent, &device).with_weight_scale(scale);
    let mut best_model = None;
    for epoch in state.next_epoch..config.optim.epochs {
        let t0 = Instant::now();
        let w = LossWeights::at(config, epoch);
        // Per-epoch generator: the same epoch draws the same batches and noise after --resume.
        let mut rng = Rng::new(config.optim.seed.wrapping_add(0x1000 * (epoch as u64 + 1)));
        let mut order = train_rows.clone();
        rng.shuffle(&mut order);
        let noise = (w.ntxent > 0.0).then_some(config.loss.view_noise);
        let mut acc = LossTerms::default();
        let mut seen = 0usize;
        if let Some(bar) = &bar {
            bar.set_prefix(format!("{}/{}", epoch + 1, config.optim.epochs));
        }
        for chunk in order.chunks(bs) {
            if chunk.len() < 2 {
                continue;
            }
            let batch = batches.build(chunk, noise, &mut rng);
            let (updated, terms) = train_step(
                model,
                &mut optim,
                state.learning_rate,
                config,
                batch,
                &w,
                epoch,
            )?;
            model = updated;
            acc.add_scaled(&terms, chunk.len() as f64);
            seen += chunk.len();
            if let Some(bar) = &bar {
                bar.inc(1);
                bar.set_message(format!(
                    "loss {:.4} recon {:.4} kl {:.3} flow {:.3} supcon {:.3} ntxent {:.3} \
                     invariance {:.3}",
                    terms.total,
                    terms.recon,
                    terms.kl,
                    terms.flow,
                    terms.supcon,
                    terms.ntxent,
                    terms.invariance
                ));
            }
        }
        let train_secs = t0.elapsed().as_secs_f64();
        let mut train_terms = LossTerms::default();
        train_terms.add_scaled(&acc, 1.0 / seen.max(1) as f64);
        let valid = model.valid();
        let rows_for_val = if val_rows.is_empty() {
            train_rows
        } else {
            val_rows
        };
        let val = evaluate_loss(&valid, config, table, &pre, rows_for_val, scale, &w, &plain);
        let metrics = EpochMetrics {
            epoch,
            train: train_terms,
            validation: val.clone(),
            learning_rate: state.learning_rate,
            beta: w.beta,
            supcon_weight: w.supcon,
            ntxent_weight: w.ntxent,
            seconds: t0.elapsed().as_secs_f64(),
            events_per_s: seen as f64 / train_secs.max(1e-9),
        };
        append_metrics(&metrics_path, &metrics)?;
        if opts.progress {
            let line = format!(
                "epoch {:>3}: train {:.4}  validation {:.4} (recon {:.4} kl {:.3} flow {:.3} supcon {:.3})  lr {:.2e}  {:.0} ev/s",
                epoch + 1,
                metrics.train.total,
                val.total,
                val.recon,
                val.kl,
                val.flow,
                val.supcon,
                state.learning_rate,
                metrics.events_per_s
            );
            match &bar {
                // indicatif hides output when stderr is not a terminal: print it plainly then.
                Some(bar) if !bar.is_hidden() => bar.println(line),
                _ => eprintln!("{line}"),
            }
        }
        all_metrics.push(metrics);

        // Model selection on the validation loss at the final loss weights, so that a
        // warm-up of β or λ does not make later epochs look worse.
        let final_w = LossWeights::at(config, config.optim.epochs.saturating_sub(1));
        // Once the schedules have reached their final values the two losses are the same.
        let select = if final_w == w {
            val.clone()
        } else {
            evaluate_loss(
                &valid,
                config,
                table,
                &pre,
                rows_for_val,
                scale,
                &final_w,
                &plain,
            )
        };
        if select.total < state.best_validation {
            state.best_validation = select.total;
            state.best_epoch = epoch;
            state.epochs_since_best = 0;
            save_module(valid.clone(), &out.join(WEIGHTS_FILE))?;
            best_model = Some(valid);
        } else {
            state.epochs_since_best += 1;
        }
        state.epochs_since_lr_change += 1;
        if state.epochs_since_best > 0
            && state.epochs_since_lr_change > config.optim.plateau_patience
            && state.epochs_since_best > config.optim.plateau_patience
        {
            state.learning_rate = (state.learning_rate * config.optim.plateau_factor)
                .max(config.optim.min_learning_rate);
            state.epochs_since_lr_change = 0;
        }
        state.next_epoch = epoch + 1;
        checkpoint.save(&state, &model, &optim)?;
        if state.epochs_since_best >= config.optim.early_stopping_patience {
            if let Some(bar) = &bar {
                bar.println(format!(
                    "early stopping: no validation improvement for {} epochs",
                    state.epochs_since_best
                ));
            }
            break;
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let best = match best_model {
        Some(m) => m,
        None => {
            let wpath = out.join(WEIGHTS_FILE);
            BeadVae::new(
                &config.model,
                pre.num_inputs(),
                table.sources.len(),
                &mut Rng::new(0),
                &plain,
            )
            .try_load_file(&wpath)
            .map_err(|e| Error::record(&wpath, e))?
        }
    };
    let latent_stats = source_stats(&best, table, &pre, train_rows, &plain);
    let manifest = ModelManifest {
        bead_version: env!("CARGO_PKG_VERSION").to_string(),
        config: config.clone(),
        config_hash,
        train_files: files.clone(),
        preprocessing: pre,
        sources: table.sources.clone(),
        latent_stats,
        thresholds: Default::default(),
        best_validation_loss: state.best_validation,
        best_epoch: state.best_epoch,
    };
    manifest.save(out)?;
    Ok(TrainOutcome {
        dir: out.to_path_buf(),
        manifest,
        metrics: all_metrics,
    })
}
