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
}

impl LossWeights {
    /// The scheduled weights of `config` at `epoch` (0-based).
    pub fn at(config: &TrainConfig, epoch: usize) -> Self {
        Self {
            beta: config.loss.beta.at(epoch),
            supcon: config.loss.supcon.at(epoch),
            ntxent: config.loss.ntxent.at(epoch),
        }
    }
}

/// Everything one step needs, on the device.
pub struct Batch {
    x: Tensor<2>,
    mask: Tensor<2>,
    labels: Vec<u32>,
    weights: Tensor<1>,
    eps: Tensor<2>,
    views: Option<(Tensor<2>, Tensor<2>)>,
}

/// Gathers batches of events from one table: preprocessed inputs, reconstruction mask,
/// source labels, per-event weights (normalised to mean 1 within the batch),
/// reparameterisation noise and, for NT-Xent, two noisy views. Its host buffers are reused
/// from batch to batch.
pub struct BatchBuilder<'a> {
    table: &'a EventTable,
    pre: &'a Preprocessor,
    latent: usize,
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
            device: device.clone(),
            inputs: Vec::new(),
            mask: Vec::new(),
        }
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
            weights,
            eps,
            views,
        }
    }
}

/// The loss of one batch, with every term kept for logging.
pub struct BatchLoss {
    total: Tensor<1>,
    /// Reconstruction, KL, flow, SupCon, NT-Xent.
    terms: [Tensor<1>; 5],
}

impl BatchLoss {
    /// The total and the five terms, read back to the host.
    pub fn read(&self) -> LossTerms {
        let one = |t: &Tensor<1>| to_vec(t.clone()).first().copied().unwrap_or(f32::NAN) as f64;
        LossTerms {
            total: one(&self.total),
            recon: one(&self.terms[0]),
            kl: one(&self.terms[1]),
            flow: one(&self.terms[2]),
            supcon: one(&self.terms[3]),
            ntxent: one(&self.terms[4]),
        }
    }
}

/// Forward pass and loss of one batch: weighted masked MSE + β (KL + flow term) + λ SupCon
/// + λ' NT-Xent. Terms whose weight is 0 are not computed.
pub fn batch_loss(
    model: &BeadVae,
    config: &TrainConfig,
    batch: Batch,
    w: &LossWeights,
) -> BatchLoss {
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
            epoch,
            terms: Box::new(terms),
        });
    }
    Ok((descend(model, optim, learning_rate, loss), terms))
}
