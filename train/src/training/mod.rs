//! Training: seeded split, preprocessing fit, AdamW with reduce-on-plateau and early
//! stopping, per-epoch metrics, atomic checkpoints and `--resume`.
//!
//! This file is the epoch loop; [`step`] is one optimisation step, `checkpoint` the
//! `checkpoint/` folder, `metrics` the `metrics.jsonl` lines, `output` the model directory
//! (what is written when, so that no kill mixes two trainings), `lock` its writer lock and
//! `inputs` the range check of the preprocessed events.

mod checkpoint;
mod inputs;
mod lock;
mod metrics;
mod output;
pub mod step;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;

use crate::config::TrainConfig;
use crate::data::{self, Column, DataSpec, EventTable};
use crate::error::{Error, Result};
use crate::manifest::ModelManifest;
use crate::model::{BeadVae, source_stats};
use crate::preprocess::Preprocessor;
use crate::rng::Rng;
use checkpoint::TrainerState;
pub use lock::{DirLock, LOCK_FILE};
pub use metrics::{EpochMetrics, LossTerms, read_metrics};
use metrics::{append_metrics, truncate_metrics};
use output::{OutputDir, kill_point};
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

/// Whether early stopping has ended the run (also true of a checkpoint written by the
/// epoch that stopped it, so that a resume does not train on).
fn stopped_early(state: &TrainerState, config: &TrainConfig) -> bool {
    state.next_epoch > 0 && state.epochs_since_best >= config.optim.early_stopping_patience
}

/// A non-finite training loss, with its likeliest cause: negative event weights when the
/// training split has any (they reward a large loss, which then has no lower bound).
fn explain_training_loss(e: Error, table: &EventTable, rows: &[u32]) -> Error {
    let Error::NonFiniteLoss {
        stage,
        epoch,
        terms,
        cause,
    } = e
    else {
        return e;
    };
    let negative = table
        .weights
        .as_ref()
        .map_or(0, |w| rows.iter().filter(|&&r| w[r as usize] < 0.0).count());
    let cause = if negative > 0 {
        format!(
            "{negative} of the {} training events have negative weights, which reward a large \
             loss for their events, so the weighted loss has no lower bound; check the weight \
             column, or else {cause}",
            rows.len()
        )
    } else {
        cause
    };
    Error::NonFiniteLoss {
        stage,
        epoch,
        terms,
        cause,
    }
}

/// A non-finite validation loss (the training loss was finite): an event of the
/// validation split overflows the network.
fn validation_overflow(epoch: usize, terms: &LossTerms, train_total: f64) -> Error {
    Error::NonFiniteLoss {
        stage: "validation",
        epoch,
        terms: Box::new(terms.clone()),
        cause: format!(
            "the training loss was finite ({:.4}), so events of the validation split drive \
             the network out of float32 range: look for extreme feature values there",
            train_total
        ),
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
    // One writer per directory, from here until the model is published.
    let output = OutputDir::open(out)?;
    let pre = Preprocessor::fit(
        &table.feature_names,
        &config.preprocessing,
        &table.features,
        train_rows,
    )?;
    inputs::check_inputs(table, &pre, config.preprocessing.standardize)?;
    let scale = step::weight_scale(table, train_rows)?;
    let plain = Device::default();
    let device = plain.clone().autodiff();
    let untrained = |device: &Device| {
        BeadVae::new(
            &config.model,
            pre.num_inputs(),
            table.sources.len(),
            &mut Rng::new(config.optim.seed),
            device,
        )
    };
    let mut model = untrained(&device);
    let mut optim = step::optimizer(config);
    let config_hash = config.hash();
    let mut state = TrainerState::initial(config.optim.learning_rate, config_hash.clone());
    // Best weights so far (evaluation mode); every checkpoint carries them.
    let mut best: Option<BeadVae> = None;
    let metrics_path = output.metrics_path();
    let checkpoint = output.checkpoint();
    if opts.resume && checkpoint.exists() {
        // Everything is read, and a checkpoint of another configuration or a damaged one
        // refused, before the finished model is withdrawn.
        let saved = checkpoint.state(&config_hash)?;
        let restored = checkpoint.restore(saved, model, untrained(&plain), optim)?;
        output.unpublish()?;
        (state, model, optim) = (restored.state, restored.model, restored.optim);
        best = Some(restored.best);
        truncate_metrics(&metrics_path, state.next_epoch)?;
    } else {
        output.start_fresh()?;
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
    for epoch in state.next_epoch..config.optim.epochs {
        if stopped_early(&state, config) {
            break;
        }
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
            )
            .map_err(|e| explain_training_loss(e, table, train_rows))?;
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
        if !val.total.is_finite() {
            return Err(validation_overflow(epoch, &val, train_terms.total));
        }
        let train_total = train_terms.total;
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
        kill_point("epoch: metrics appended")?;
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
        if !select.total.is_finite() {
            return Err(validation_overflow(epoch, &select, train_total));
        }
        if select.total < state.best_validation {
            state.best_validation = select.total;
            state.best_epoch = epoch;
            state.epochs_since_best = 0;
            best = Some(valid);
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
        // A finite validation loss always beats the initial +∞, so the first epoch sets it.
        let best_so_far = best
            .as_ref()
            .ok_or_else(|| Error::model(out, "no best weights after an epoch"))?;
        checkpoint.save(&state, &model, &optim, best_so_far)?;
        if stopped_early(&state, config)
            && let Some(bar) = &bar
        {
            bar.println(format!(
                "early stopping: no validation improvement for {} epochs",
                state.epochs_since_best
            ));
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // Unreachable: epochs ≥ 1, and a resumed checkpoint carries best weights.
    let best = best.ok_or_else(|| Error::model(out, "no epoch was trained"))?;
    let latent_stats = source_stats(&best, table, &pre, train_rows, &plain);
    let mut manifest = ModelManifest {
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
        weights_hash: None,
    };
    output.publish(&best, &mut manifest)?;
    Ok(TrainOutcome {
        dir: out.to_path_buf(),
        manifest,
        metrics: all_metrics,
    })
}
