//! Training throughput of one optimisation step (forward, loss, backward, AdamW step) of the
//! default model (`ModelConfig::default()`: VAE 76 → 32 → 16 → 13, the 76 model inputs that
//! the sin/cos preprocessing makes of 57 features) at batch 512, on burn's default device
//! (flex on CPU), in events/s.
//!
//! The step is rebuilt from the public pieces (`BeadVae::new`, `loss::*`, `AdamWConfig`,
//! `GradientsParams`) the way `training.rs` does it, so that variants of the loop can be timed
//! side by side:
//!
//! - `step/recon_kl/*` and `step/supcon/*` (λ = 0.5, τ = 0.07, 3 source labels):
//!   - `trainer`: as the trainer does it today — batch tensors built from fresh `Vec`s every
//!     step, the total and the five loss terms read back to the host every step;
//!   - `no_reads`: the same without the six scalar reads;
//!   - `one_read`: only the total read back (enough for the non-finite check);
//!   - `prebuilt`: batch tensors made once, no reads — the compute floor of the step.
//! - `phase/<variant>/{batch,forward,loss,backward,optim,reads}`: where the `trainer` step's
//!   time goes (each a share of the same full steps, timed with `Instant`).
//!
//! Compare with `benches/torch_train.py` (same model, loss and optimiser in PyTorch).
//! Thread count: flex parallelises with rayon; set `RAYON_NUM_THREADS=1` to pin it to one.
//! `cargo bench --bench train_throughput -- step/` runs the headline group only.

// The same allocator as the `bead` binary: SupCon's 1 MiB B×B tensors are mapped and unmapped
// on every op by glibc's malloc, which made the SupCon step 1.8x slower.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bead_train::config::ModelConfig;
use bead_train::loss;
use bead_train::model::{BeadVae, to_vec};
use bead_train::rng::Rng;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 512;
const INPUTS: usize = 76;
const SOURCES: u32 = 3;
const LR: f64 = 3e-3;
const SUPCON_WEIGHT: f64 = 0.5;
const TAU: f64 = 0.07;
const BETA: f64 = 1.0;

/// Host-side batch data (what `make_batch` gathers before uploading).
struct HostBatch {
    x: Vec<f32>,
    mask: Vec<f32>,
    weights: Vec<f32>,
    eps: Vec<f32>,
    labels: Vec<u32>,
}

impl HostBatch {
    fn random(rng: &mut Rng, latent: usize) -> Self {
        let mut x = vec![0f32; BATCH * INPUTS];
        rng.fill_normal(&mut x);
        // About 5 % of inputs masked out (missing objects), as in real events.
        let mask = (0..BATCH * INPUTS)
            .map(|_| if rng.uniform() < 0.05 { 0.0 } else { 1.0 })
            .collect();
        let mut eps = vec![0f32; BATCH * latent];
        rng.fill_normal(&mut eps);
        let labels = (0..BATCH)
            .map(|_| rng.below(SOURCES as usize) as u32)
            .collect();
        Self {
            x,
            mask,
            weights: vec![1.0; BATCH],
            eps,
            labels,
        }
    }
}

/// Device-side batch.
#[derive(Clone)]
struct Batch {
    x: Tensor<2>,
    mask: Tensor<2>,
    weights: Tensor<1>,
    eps: Tensor<2>,
}

fn upload(h: &HostBatch, latent: usize, device: &Device) -> Batch {
    // Fresh Vecs, as `make_batch` clones its buffers and draws new noise each step.
    let t2 = |v: &Vec<f32>, c: usize| {
        Tensor::<2>::from_data(TensorData::new(v.clone(), [BATCH, c]), device)
    };
    Batch {
        x: t2(&h.x, INPUTS),
        mask: t2(&h.mask, INPUTS),
        weights: Tensor::<1>::from_data(TensorData::new(h.weights.clone(), [BATCH]), device),
        eps: t2(&h.eps, latent),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Reads {
    /// Total and five terms (the trainer's `read_terms`).
    Six,
    /// Total only.
    One,
    None,
}

#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    fresh_tensors: bool,
    reads: Reads,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        name: "trainer",
        fresh_tensors: true,
        reads: Reads::Six,
    },
    Variant {
        name: "one_read",
        fresh_tensors: true,
        reads: Reads::One,
    },
    Variant {
        name: "no_reads",
        fresh_tensors: true,
        reads: Reads::None,
    },
    Variant {
        name: "prebuilt",
        fresh_tensors: false,
        reads: Reads::None,
    },
];

/// Model, optimiser and data of one benchmark.
struct Trainer {
    model: Option<BeadVae>,
    optim: ModuleOptimizer,
    device: Device,
    host: HostBatch,
    prebuilt: Batch,
    latent: usize,
    loss: LossKind,
}

/// Which loss the step minimises.
#[derive(Clone, Copy, PartialEq)]
enum LossKind {
    /// Reconstruction + KL (+ the zero flow term).
    ReconKl,
    /// + λ·`loss::supcon`.
    Supcon,
}

const LOSSES: [(&str, LossKind); 2] = [
    ("recon_kl", LossKind::ReconKl),
    ("supcon", LossKind::Supcon),
];

/// Phases of one step, in order.
const PHASES: [&str; 6] = ["batch", "forward", "loss", "backward", "optim", "reads"];

impl Trainer {
    fn new(loss: LossKind) -> Self {
        let config = ModelConfig::default();
        let device = Device::default().autodiff();
        device.seed(42);
        let mut rng = Rng::new(42);
        let model = BeadVae::new(&config, INPUTS, 1, &mut rng, &device);
        let optim = AdamWConfig::new().with_weight_decay(1e-4).init();
        let host = HostBatch::random(&mut rng, config.latent);
        let prebuilt = upload(&host, config.latent, &device);
        Self {
            model: Some(model),
            optim,
            device,
            host,
            prebuilt,
            latent: config.latent,
            loss,
        }
    }

    /// One full step; `t[k]` accumulates the time of phase `PHASES[k]`.
    fn step(&mut self, v: Variant, t: &mut [Duration; 6]) -> f32 {
        let mut clock = Instant::now();
        let lap = |t: &mut [Duration; 6], k: usize, clock: &mut Instant| {
            let now = Instant::now();
            t[k] += now - *clock;
            *clock = now;
        };
        let model = self.model.take().expect("model");
        let batch = if v.fresh_tensors {
            upload(&self.host, self.latent, &self.device)
        } else {
            self.prebuilt.clone()
        };
        lap(t, 0, &mut clock);
        // As `batch_loss` in training.rs (plain VAE, contrast on μ, no NT-Xent).
        let f = model.forward(batch.x.clone(), Some(batch.eps));
        lap(t, 1, &mut clock);
        let w = batch.weights;
        let recon = (loss::masked_mse(f.recon, batch.x, batch.mask) * w.clone()).mean();
        let kl = (loss::kl_normal(f.mu.clone(), f.logvar) * w.clone()).mean();
        let flow = (loss::flow_term(f.logdet) * w).mean();
        let supcon = match self.loss {
            LossKind::ReconKl => Tensor::zeros([1], &self.device),
            LossKind::Supcon => loss::supcon(f.mu, &self.host.labels, TAU),
        };
        let ntxent = Tensor::<1>::zeros([1], &self.device);
        let total = recon.clone()
            + (kl.clone() + flow.clone()) * BETA
            + supcon.clone() * SUPCON_WEIGHT
            + ntxent.clone() * 0.0;
        lap(t, 2, &mut clock);
        // Reads happen before backward in the trainer (the non-finite check).
        let terms = [&total, &recon, &kl, &flow, &supcon, &ntxent];
        let n_reads = match v.reads {
            Reads::Six => 6,
            Reads::One => 1,
            Reads::None => 0,
        };
        let mut out = 0f32;
        let mut read_time = Duration::ZERO;
        if n_reads > 0 {
            let r0 = Instant::now();
            for term in &terms[..n_reads] {
                out += to_vec((*term).clone()).first().copied().unwrap_or(f32::NAN);
            }
            read_time = r0.elapsed();
        }
        clock = Instant::now();
        let grads = GradientsParams::from_grads(total.backward(), &model);
        lap(t, 3, &mut clock);
        self.model = Some(self.optim.step(LR, model, grads));
        lap(t, 4, &mut clock);
        t[5] += read_time;
        out
    }
}

fn bench_steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("step");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (loss_name, kind) in LOSSES {
        for v in VARIANTS {
            let mut tr = Trainer::new(kind);
            let mut t = [Duration::ZERO; 6];
            g.bench_function(BenchmarkId::new(loss_name, v.name), |b| {
                b.iter(|| black_box(tr.step(v, &mut t)))
            });
        }
    }
    g.finish();
}

fn bench_phases(c: &mut Criterion) {
    let mut g = c.benchmark_group("phase");
    for (loss_name, kind) in LOSSES {
        let mut tr = Trainer::new(kind);
        for (k, phase) in PHASES.iter().enumerate() {
            g.bench_function(BenchmarkId::new(loss_name, phase), |b| {
                b.iter_custom(|iters| {
                    let mut t = [Duration::ZERO; 6];
                    for _ in 0..iters {
                        black_box(tr.step(VARIANTS[0], &mut t));
                    }
                    t[k]
                })
            });
        }
    }
    g.finish();
}

/// The host-side B×B work of `loss::supcon` (mask loops and two B×B uploads), replicated.
fn bench_ops(c: &mut Criterion) {
    let device = Device::default();
    let mut rng = Rng::new(5);
    let mut v = vec![0f32; BATCH * 13];
    rng.fill_normal(&mut v);
    let z = Tensor::<2>::from_data(TensorData::new(v, [BATCH, 13]), &device);
    let zt = z.clone().transpose();
    let sim = z.clone().matmul(zt.clone());
    let other = sim.clone() * 0.5;
    let col = sim.clone().sum_dim(1);
    let mut g = c.benchmark_group("op_512x512");
    g.bench_function("matmul_512x13x512", |b| {
        b.iter(|| black_box(z.clone().matmul(zt.clone())))
    });
    g.bench_function("matmul_512x512x13", |b| {
        b.iter(|| black_box(sim.clone().matmul(z.clone())))
    });
    g.bench_function("matmul_13x512x512", |b| {
        b.iter(|| black_box(zt.clone().matmul(sim.clone())))
    });
    g.bench_function("exp", |b| b.iter(|| black_box(sim.clone().exp())));
    g.bench_function("log", |b| b.iter(|| black_box(sim.clone().abs().log())));
    g.bench_function("abs", |b| b.iter(|| black_box(sim.clone().abs())));
    g.bench_function("mul_scalar", |b| b.iter(|| black_box(sim.clone() * 0.5)));
    g.bench_function("mul", |b| b.iter(|| black_box(sim.clone() * other.clone())));
    g.bench_function("sub_bcast_col", |b| {
        b.iter(|| black_box(sim.clone() - col.clone()))
    });
    g.bench_function("sum_dim1", |b| b.iter(|| black_box(sim.clone().sum_dim(1))));
    let ones = Tensor::<2>::ones([BATCH, 1], &device);
    g.bench_function("rowsum_as_matmul", |b| {
        b.iter(|| black_box(sim.clone().matmul(ones.clone())))
    });
    g.bench_function("max_dim1", |b| b.iter(|| black_box(sim.clone().max_dim(1))));
    g.bench_function("transpose_contig", |b| {
        b.iter(|| black_box(sim.clone().transpose() + 0.0))
    });
    let host = vec![0.5f32; BATCH * BATCH];
    g.bench_function("from_data", |b| {
        b.iter(|| {
            black_box(Tensor::<2>::from_data(
                TensorData::new(host.clone(), [BATCH, BATCH]),
                &device,
            ))
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_steps, bench_phases, bench_ops
}
criterion_main!(benches);
