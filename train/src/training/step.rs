//! One optimisation step, as the trainer runs it: a batch gathered on the CPU
//! ([`BatchBuilder`]), its loss with every term kept ([`batch_loss`]), and the backward pass
//! and AdamW update ([`train_step`]).
//!
//! Public so that `benches/train_throughput.rs` times exactly the trainer's step.

use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::metrics::LossTerms;
use crate::config::{ContrastOn, TrainConfig};
use crate::data::EventTable;
use crate::error::{Error, Result};
use crate::model::{BeadVae, loss, to_vec};
use crate::preprocess::Preprocessor;
use crate::rng::Rng;

/// Weights of the loss terms at one epoch: β on KL + flow, λ on SupCon and on NT-Xent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    /// β, on the KL and flow terms.
    pub beta: f64,
    /// λ of the SupCon term (0: not computed).
    pub supcon: f64,
    /// λ of the NT-Xent term (0: not computed, no noisy views drawn).
    pub ntxent: f64,
    /// λ of the domain-invariance penalty (0: not computed).
    pub invariance: f64,
}

impl LossWeights {
    /// The scheduled weights of `config` at `epoch` (0-based).
    pub fn at(config: &TrainConfig, epoch: usize) -> Self {
        Self {
            beta: config.loss.beta.at(epoch),
            supcon: config.loss.supcon.at(epoch),
            ntxent: config.loss.ntxent.at(epoch),
            invariance: config.loss.invariance.at(epoch),
        }
    }
}

/// Everything one step needs, on the device.
pub struct Batch {
    x: Tensor<2>,
    mask: Tensor<2>,
    labels: Vec<u32>,
    /// Event weights on the host (SupCon weights its anchors with them).
    host_weights: Vec<f32>,
    weights: Tensor<1>,
    eps: Tensor<2>,
    views: Option<(Tensor<2>, Tensor<2>)>,
}

/// Gathers batches of events from one table: preprocessed inputs, reconstruction mask,
/// source labels, per-event weights (scaled by the training split's mean weight, see
/// [`weight_scale`]),
/// reparameterisation noise and, for NT-Xent, two noisy views. Its host buffers are reused
/// from batch to batch.
pub struct BatchBuilder<'a> {
    table: &'a EventTable,
    pre: &'a Preprocessor,
    latent: usize,
    weight_scale: f32,
    device: Device,
    inputs: Vec<f32>,
    mask: Vec<f32>,
}

impl<'a> BatchBuilder<'a> {
    /// Batches of `table`'s events through `pre`, with `latent`-dimensional noise, on `device`.
    pub fn new(
        table: &'a EventTable,
        pre: &'a Preprocessor,
        latent: usize,
        device: &Device,
    ) -> Self {
        Self {
            table,
            pre,
            latent,
            weight_scale: 1.0,
            device: device.clone(),
            inputs: Vec::new(),
            mask: Vec::new(),
        }
    }

    /// Multiply every event weight by `scale` (1 / the training split's mean weight).
    pub fn with_weight_scale(mut self, scale: f32) -> Self {
        self.weight_scale = scale;
        self
    }

    /// The batch of `rows`. Draws from `rng` the reparameterisation noise, then (with
    /// `view_noise = Some(σ)`) two views `x + σ·N(0, 1)`.
    pub fn build(&mut self, rows: &[u32], view_noise: Option<f64>, rng: &mut Rng) -> Batch {
        let (table, device) = (self.table, &self.device);
        let b = rows.len();
        let m = self.pre.num_inputs();
        self.pre
            .batch(&table.features, rows, &mut self.inputs, &mut self.mask);
        let x = Tensor::<2>::from_data(TensorData::new(self.inputs.clone(), [b, m]), device);
        let mask = Tensor::<2>::from_data(TensorData::new(self.mask.clone(), [b, m]), device);
        let labels: Vec<u32> = rows.iter().map(|&r| table.labels[r as usize]).collect();
        // Scaled by the mean weight of the whole training split, not of the batch, whose sum
        // can be ≤ 0 when some weights are negative.
        let host_weights: Vec<f32> = match &table.weights {
            Some(ws) => rows
                .iter()
                .map(|&r| ws[r as usize] * self.weight_scale)
                .collect(),
            None => vec![1.0; b],
        };
        let weights = Tensor::<1>::from_data(TensorData::new(host_weights.clone(), [b]), device);
        let mut eps = vec![0f32; b * self.latent];
        rng.fill_normal(&mut eps);
        let eps = Tensor::<2>::from_data(TensorData::new(eps, [b, self.latent]), device);
        let inputs = &self.inputs;
        let views = view_noise.map(|sigma| {
            let view = |rng: &mut Rng| {
                let mut n = vec![0f32; b * m];
                rng.fill_normal(&mut n);
                for (v, x) in n.iter_mut().zip(inputs) {
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
            host_weights,
            weights,
            eps,
            views,
        }
    }
}

/// 1 / (mean training weight), so that weighted loss terms keep the scale of unweighted ones.
/// A training split whose total weight is ≤ 0 cannot define a loss: the error names every
/// source with its total.
pub fn weight_scale(table: &EventTable, rows: &[u32]) -> Result<f32> {
    let Some(ws) = &table.weights else {
        return Ok(1.0);
    };
    let mut per_source = vec![0f64; table.sources.len().max(1)];
    let mut total = 0f64;
    for &r in rows {
        let w = ws[r as usize] as f64;
        total += w;
        if let Some(l) = table.labels.get(r as usize)
            && let Some(t) = per_source.get_mut(*l as usize)
        {
            *t += w;
        }
    }
    if total <= 0.0 || !total.is_finite() {
        let detail: Vec<String> = table
            .sources
            .iter()
            .zip(&per_source)
            .map(|(s, t)| format!("{s}: {t}"))
            .collect();
        return Err(Error::Config(format!(
            "the training split's total event weight is {total} (≤ 0), so it cannot define a \
             loss; per source: {}. Check the weight column, or train without it (no \
             [data] weight_column)",
            detail.join(", ")
        )));
    }
    Ok((rows.len() as f64 / total) as f32)
}

/// The loss of one batch, with every term kept for logging.
pub struct BatchLoss {
    total: Tensor<1>,
    /// Reconstruction, KL, flow, SupCon, NT-Xent, invariance.
    terms: [Tensor<1>; 6],
}

impl BatchLoss {
    /// The total and the six terms, read back to the host.
    pub fn read(&self) -> LossTerms {
        let one = |t: &Tensor<1>| to_vec(t.clone()).first().copied().unwrap_or(f32::NAN) as f64;
        LossTerms {
            total: one(&self.total),
            recon: one(&self.terms[0]),
            kl: one(&self.terms[1]),
            flow: one(&self.terms[2]),
            supcon: one(&self.terms[3]),
            ntxent: one(&self.terms[4]),
            invariance: one(&self.terms[5]),
        }
    }
}

/// Forward pass and loss of one batch: weighted masked MSE + β (KL + flow term) + λ SupCon
/// plus λ' NT-Xent plus λ'' invariance. Terms whose weight is 0 are not computed. With a
/// per-source prior the KL is taken to the event's own source component.
pub fn batch_loss(
    model: &BeadVae,
    config: &TrainConfig,
    batch: Batch,
    w: &LossWeights,
) -> BatchLoss {
    let has_flow = config.model.kind.has_flow();
    let f = model.forward(batch.x.clone(), Some(batch.eps));
    let device = f.mu.device();
    let weights = batch.weights;
    let recon = (loss::masked_mse(f.recon, batch.x, batch.mask) * weights.clone()).mean();
    let prior = model
        .prior
        .as_ref()
        .map(|p| p.for_labels(&batch.labels, &device));
    let kl = match (has_flow, prior) {
        (true, Some((m, v))) => {
            loss::kl_flow_sample_to(f.mu.clone(), f.logvar, f.z0, f.zk.clone(), m, v)
        }
        (true, None) => loss::kl_flow_sample(f.mu.clone(), f.logvar, f.z0, f.zk.clone()),
        (false, Some((m, v))) => loss::kl_to_gaussian(f.mu.clone(), f.logvar, m, v),
        (false, None) => loss::kl_normal(f.mu.clone(), f.logvar),
    };
    let kl = (kl * weights.clone()).mean();
    let flow = (loss::flow_term(f.logdet) * weights).mean();
    // The vector both contrastive terms see: μ, or z_K = flow(μ) (deterministic and the same
    // for SupCon and NT-Xent), then the projection head g when there is one.
    let contrast = |mu: Tensor<2>| -> Tensor<2> {
        let c = match config.loss.contrast_on {
            ContrastOn::Mu => mu,
            ContrastOn::Zk => model.flow(mu).0,
        };
        model.project(c)
    };
    let supcon = if w.supcon > 0.0 {
        loss::supcon_weighted(
            contrast(f.mu.clone()),
            &batch.labels,
            Some(&batch.host_weights),
            config.loss.temperature,
        )
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
    let invariance = if w.invariance > 0.0 {
        loss::distance_correlation(f.mu.clone(), &batch.labels)
    } else {
        Tensor::zeros([1], &device)
    };
    let total = recon.clone()
        + (kl.clone() + flow.clone()) * w.beta
        + supcon.clone() * w.supcon
        + ntxent.clone() * w.ntxent
        + invariance.clone() * w.invariance;
    BatchLoss {
        total,
        terms: [recon, kl, flow, supcon, ntxent, invariance],
    }
}

/// The trainer's optimiser: AdamW with the configured weight decay (the learning rate is
/// given at every step).
pub fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_weight_decay(config.optim.weight_decay as f32)
        .init()
}

/// Backward pass of `loss` and one optimiser update of `model`.
pub fn descend(
    model: BeadVae,
    optim: &mut ModuleOptimizer,
    learning_rate: f64,
    loss: BatchLoss,
) -> BeadVae {
    let grads = GradientsParams::from_grads(loss.total.backward(), &model);
    optim.step(learning_rate, model, grads)
}

/// One training step: loss of `batch`, its terms read back, then the update. A non-finite
/// loss is refused before it reaches the weights (`epoch` names it in the error). Returns
/// the updated model and the terms.
pub fn train_step(
    model: BeadVae,
    optim: &mut ModuleOptimizer,
    learning_rate: f64,
    config: &TrainConfig,
    batch: Batch,
    weights: &LossWeights,
    epoch: usize,
) -> Result<(BeadVae, LossTerms)> {
    let loss = batch_loss(&model, config, batch, weights);
    let terms = loss.read();
    if !terms.total.is_finite() {
        return Err(Error::NonFiniteLoss {
            stage: "training",
            epoch,
            terms: Box::new(terms),
            cause: format!("lower the learning rate (now {learning_rate:e})"),
        });
    }
    Ok((descend(model, optim, learning_rate, loss), terms))
}
