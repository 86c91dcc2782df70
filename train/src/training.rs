//! The training loop: seeded split, preprocessing fit, AdamW with reduce-on-plateau and early
//! stopping, per-epoch metrics, atomic checkpoints and `--resume`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{ContrastOn, TrainConfig};
use crate::data::{self, DataSpec, EventTable};
use crate::error::{Error, Result};
use crate::latent::source_stats;
use crate::loss;
use crate::manifest::{METRICS_FILE, ModelManifest, WEIGHTS_FILE, tmp_path, write_atomic};
use crate::model::{BeadVae, to_vec};
use crate::preprocess::Preprocessor;
use crate::rng::Rng;

/// Loss terms of one epoch (means over events).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LossTerms {
    /// Weighted sum that is minimised.
    pub total: f64,
    /// Masked reconstruction MSE.
    pub recon: f64,
    /// KL term.
    pub kl: f64,
    /// Flow term −Σ log|det J|.
    pub flow: f64,
    /// SupCon.
    pub supcon: f64,
    /// NT-Xent.
    pub ntxent: f64,
}

impl LossTerms {
    fn add_scaled(&mut self, other: &LossTerms, w: f64) {
        self.total += other.total * w;
        self.recon += other.recon * w;
        self.kl += other.kl * w;
        self.flow += other.flow * w;
        self.supcon += other.supcon * w;
        self.ntxent += other.ntxent * w;
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 0-based epoch.
    pub epoch: usize,
    /// Training loss terms.
    pub train: LossTerms,
    /// Validation loss terms.
    pub validation: LossTerms,
    /// Learning rate used.
    pub learning_rate: f64,
    /// β used.
    pub beta: f64,
    /// SupCon λ used.
    pub supcon_weight: f64,
    /// NT-Xent λ used.
    pub ntxent_weight: f64,
    /// Wall time of the epoch (training and validation).
    pub seconds: f64,
    /// Training throughput.
    pub events_per_s: f64,
}

/// Trainer state saved with each checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainerState {
    next_epoch: usize,
    learning_rate: f64,
    best_validation: f64,
    best_epoch: usize,
    epochs_since_best: usize,
    epochs_since_lr_change: usize,
    config_hash: String,
}

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
    let table = data::load_events(&files, &data_spec(config), None, true)?;
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

/// The per-batch loss, with every term kept for logging.
struct BatchLoss {
    total: Tensor<1>,
    terms: [Tensor<1>; 5],
}

#[derive(PartialEq)]
struct Weights {
    beta: f64,
    supcon: f64,
    ntxent: f64,
}

/// Everything one step needs, gathered on the CPU.
struct Batch {
    x: Tensor<2>,
    mask: Tensor<2>,
    labels: Vec<u32>,
    weights: Tensor<1>,
    eps: Tensor<2>,
    views: Option<(Tensor<2>, Tensor<2>)>,
}

// The batch is assembled from eight independent inputs; a struct for them would only be
// unpacked again here.
#[allow(clippy::too_many_arguments)]
fn make_batch(
    table: &EventTable,
    pre: &Preprocessor,
    rows: &[u32],
    latent: usize,
    view_noise: Option<f64>,
    rng: &mut Rng,
    buf: &mut (Vec<f32>, Vec<f32>),
    device: &Device,
) -> Batch {
    let b = rows.len();
    let m = pre.num_inputs();
    pre.batch(&table.features, rows, &mut buf.0, &mut buf.1);
    let x = Tensor::<2>::from_data(TensorData::new(buf.0.clone(), [b, m]), device);
    let mask = Tensor::<2>::from_data(TensorData::new(buf.1.clone(), [b, m]), device);
    let labels: Vec<u32> = rows.iter().map(|&r| table.labels[r as usize]).collect();
    let w: Vec<f32> = match &table.weights {
        Some(ws) => {
            let raw: Vec<f32> = rows.iter().map(|&r| ws[r as usize]).collect();
            let mean = raw.iter().sum::<f32>() / b as f32;
            raw.iter()
                .map(|v| v / mean.max(f32::MIN_POSITIVE))
                .collect()
        }
        None => vec![1.0; b],
    };
    let weights = Tensor::<1>::from_data(TensorData::new(w, [b]), device);
    let mut eps = vec![0f32; b * latent];
    rng.fill_normal(&mut eps);
    let eps = Tensor::<2>::from_data(TensorData::new(eps, [b, latent]), device);
    let views = view_noise.map(|sigma| {
        let view = |rng: &mut Rng| {
            let mut n = vec![0f32; b * m];
            rng.fill_normal(&mut n);
            for (v, x) in n.iter_mut().zip(&buf.0) {
                *v = x + *v * sigma as f32;
            }
            Tensor::<2>::from_data(TensorData::new(n, [b, m]), device)
        };
        (view(rng), view(rng))
    });
    Batch {
        x,
        mask,
        labels,
        weights,
        eps,
        views,
    }
}

fn batch_loss(model: &BeadVae, config: &TrainConfig, batch: Batch, w: &Weights) -> BatchLoss {
    let has_flow = config.model.kind.has_flow();
    let f = model.forward(batch.x.clone(), Some(batch.eps));
    let weights = batch.weights;
    let recon = (loss::masked_mse(f.recon, batch.x, batch.mask) * weights.clone()).mean();
    let kl = if has_flow {
        loss::kl_flow_sample(f.mu.clone(), f.logvar, f.z0, f.zk.clone())
    } else {
        loss::kl_normal(f.mu.clone(), f.logvar)
    };
    let kl = (kl * weights.clone()).mean();
    let flow = (loss::flow_term(f.logdet) * weights).mean();
    let contrast = |mu: Tensor<2>| -> Tensor<2> {
        match config.loss.contrast_on {
            ContrastOn::Mu => mu,
            ContrastOn::Zk => model.flow(mu).0,
        }
    };
    let device = f.mu.device();
    let supcon = if w.supcon > 0.0 {
        let z = match config.loss.contrast_on {
            ContrastOn::Mu => f.mu.clone(),
            ContrastOn::Zk => f.zk,
        };
        loss::supcon(z, &batch.labels, config.loss.temperature)
    } else {
        Tensor::zeros([1], &device)
    };
    let ntxent = match (w.ntxent > 0.0, batch.views) {
        (true, Some((v1, v2))) => {
            let c1 = contrast(model.encode(v1).0);
            let c2 = contrast(model.encode(v2).0);
            loss::ntxent(c1, c2, config.loss.ntxent_temperature)
        }
        _ => Tensor::zeros([1], &device),
    };
    let total = recon.clone()
        + (kl.clone() + flow.clone()) * w.beta
        + supcon.clone() * w.supcon
        + ntxent.clone() * w.ntxent;
    BatchLoss {
        total,
        terms: [recon, kl, flow, supcon, ntxent],
    }
}

fn read_terms(l: &BatchLoss) -> LossTerms {
    let one = |t: &Tensor<1>| to_vec(t.clone()).first().copied().unwrap_or(f32::NAN) as f64;
    LossTerms {
        total: one(&l.total),
        recon: one(&l.terms[0]),
        kl: one(&l.terms[1]),
        flow: one(&l.terms[2]),
        supcon: one(&l.terms[3]),
        ntxent: one(&l.terms[4]),
    }
}

/// Validation loss with fixed noise (the same every epoch, so epochs are comparable).
fn evaluate_loss(
    model: &BeadVae,
    config: &TrainConfig,
    table: &EventTable,
    pre: &Preprocessor,
    rows: &[u32],
    weights: &Weights,
    device: &Device,
) -> LossTerms {
    let mut rng = Rng::new(config.optim.seed ^ 0x005e_ed0f_7a11);
    let mut buf = (Vec::new(), Vec::new());
    let mut acc = LossTerms::default();
    let noise = (weights.ntxent > 0.0).then_some(config.loss.view_noise);
    let mut seen = 0usize;
    for chunk in rows.chunks(config.optim.batch_size.max(2)) {
        let batch = make_batch(
            table,
            pre,
            chunk,
            config.model.latent,
            noise,
            &mut rng,
            &mut buf,
            device,
        );
        let terms = read_terms(&batch_loss(model, config, batch, weights));
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

fn weights_at(config: &TrainConfig, epoch: usize) -> Weights {
    Weights {
        beta: config.loss.beta.at(epoch),
        supcon: config.loss.supcon.at(epoch),
        ntxent: config.loss.ntxent.at(epoch),
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
    let ckpt_dir = out.join("checkpoint");
    std::fs::create_dir_all(&ckpt_dir).map_err(|e| Error::io(&ckpt_dir, e))?;

    let pre = Preprocessor::fit(
        &table.feature_names,
        &config.preprocessing,
        &table.features,
        train_rows,
    )?;
    let plain = Device::default();
    let device = plain.clone().autodiff();
    let mut init_rng = Rng::new(config.optim.seed);
    let mut model = BeadVae::new(&config.model, pre.num_inputs(), &mut init_rng, &device);
    let mut optim = AdamWConfig::new()
        .with_weight_decay(config.optim.weight_decay as f32)
        .init();
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
    let state_path = ckpt_dir.join("state.json");
    let metrics_path = out.join(METRICS_FILE);
    if opts.resume && state_path.exists() {
        let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
        state = serde_json::from_str(&text)
            .map_err(|e| Error::Model(format!("{}: {e}", state_path.display())))?;
        if state.config_hash != config_hash {
            return Err(Error::Config(format!(
                "{}: checkpoint was made with a different configuration (hash {} vs {}); \
                 train into a new directory or drop --resume",
                state_path.display(),
                state.config_hash,
                config_hash
            )));
        }
        let wpath = ckpt_dir.join(WEIGHTS_FILE);
        model = model
            .try_load_file(&wpath)
            .map_err(|e| Error::Model(format!("{}: {e}", wpath.display())))?;
        let opath = ckpt_dir.join("optimizer.bpk");
        optim = optim
            .load(&opath)
            .map_err(|e| Error::Model(format!("{}: {e}", opath.display())))?;
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
    let mut buf = (Vec::new(), Vec::new());
    let mut best_model = None;
    for epoch in state.next_epoch..config.optim.epochs {
        let t0 = Instant::now();
        let w = weights_at(config, epoch);
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
            let batch = make_batch(
                table,
                &pre,
                chunk,
                config.model.latent,
                noise,
                &mut rng,
                &mut buf,
                &device,
            );
            let l = batch_loss(&model, config, batch, &w);
            let terms = read_terms(&l);
            if !terms.total.is_finite() {
                return Err(Error::Training(format!(
                    "loss became {} at epoch {epoch} (terms {terms:?}); lower the learning rate",
                    terms.total
                )));
            }
            let grads = GradientsParams::from_grads(l.total.backward(), &model);
            model = optim.step(state.learning_rate, model, grads);
            acc.add_scaled(&terms, chunk.len() as f64);
            seen += chunk.len();
            if let Some(bar) = &bar {
                bar.inc(1);
                bar.set_message(format!(
                    "loss {:.4} recon {:.4} kl {:.3} flow {:.3} supcon {:.3} ntxent {:.3}",
                    terms.total, terms.recon, terms.kl, terms.flow, terms.supcon, terms.ntxent
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
        let val = evaluate_loss(&valid, config, table, &pre, rows_for_val, &w, &plain);
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
        let final_w = weights_at(config, config.optim.epochs.saturating_sub(1));
        // Once the schedules have reached their final values the two losses are the same.
        let select = if final_w == w {
            val.clone()
        } else {
            evaluate_loss(&valid, config, table, &pre, rows_for_val, &final_w, &plain)
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
        save_module(model.clone(), &ckpt_dir.join(WEIGHTS_FILE))?;
        let opath = ckpt_dir.join("optimizer.bpk");
        let otmp = tmp_path(&opath);
        optim
            .save(&otmp)
            .map_err(|e| Error::Model(format!("{}: {e}", otmp.display())))?;
        std::fs::rename(&otmp, &opath).map_err(|e| Error::io(&opath, e))?;
        let text = serde_json::to_string_pretty(&state)
            .map_err(|e| Error::Model(format!("cannot serialise trainer state: {e}")))?;
        write_atomic(&state_path, text.as_bytes())?;
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
            BeadVae::new(&config.model, pre.num_inputs(), &mut Rng::new(0), &plain)
                .try_load_file(&wpath)
                .map_err(|e| Error::Model(format!("{}: {e}", wpath.display())))?
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

fn save_module(model: BeadVae, path: &Path) -> Result<()> {
    let tmp = tmp_path(path);
    model
        .save_file(&tmp)
        .map_err(|e| Error::Model(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn append_metrics(path: &Path, m: &EpochMetrics) -> Result<()> {
    let line = serde_json::to_string(m)
        .map_err(|e| Error::Model(format!("cannot serialise metrics: {e}")))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(path, e))
}

/// Read `metrics.jsonl`.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| Error::Model(format!("{}: line {}: {e}", path.display(), i + 1)))
        })
        .collect()
}
