//! Training throughput of one optimisation step of the default network
//! (`ModelConfig::default()`: VAE 76 → 32 → 16 → 13, the 76 model inputs that the log/sin-cos
//! preprocessing, `PreprocessConfig::log_and_angles()`, makes of the 57 features) at batch 512, on burn's default device (flex on
//! CPU), in events/s.
//!
//! The step is the trainer's own ([`bead_train::step`]): batches of the shipped sample
//! (`data/sample/train`, three sources) gathered by `BatchBuilder`, the loss of
//! `batch_loss`, the scalar reads and the AdamW update of `train_step`. A regression in any
//! of them shows here.
//!
//! - `step/recon_kl` (β = 1, no contrastive term) and `step/supcon` (+ λ = 0.5 SupCon,
//!   τ = 0.07): batch building plus `train_step`, as the epoch loop runs them.
//! - `phase/<loss>/{batch,loss,reads,update}`: where that step's time goes (batch building,
//!   forward and loss, the six scalar reads, backward and optimiser), each a share of the
//!   same full steps, timed with `Instant`.
//! - `op_512x512/*`: single burn ops at the sizes of SupCon's B×B matrices.
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

use bead_train::step::{self, BatchBuilder, LossWeights};
use bead_train::{
    BeadVae, Prepared, PreprocessConfig, Preprocessor, Rng, Schedule, TrainConfig, prepare,
};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 512;
const LR: f64 = 3e-3;
const SUPCON_WEIGHT: f64 = 0.5;
const TAU: f64 = 0.07;
const BETA: f64 = 1.0;

/// Which loss the step minimises.
const LOSSES: [(&str, f64); 2] = [("recon_kl", 0.0), ("supcon", SUPCON_WEIGHT)];

/// Phases of one step, in order.
const PHASES: [&str; 4] = ["batch", "loss", "reads", "update"];

/// The shipped training sample, loaded and preprocessed as `bead train` does.
struct Sample {
    config: TrainConfig,
    prepared: Prepared,
    pre: Preprocessor,
}

impl Sample {
    fn load(supcon_weight: f64) -> Self {
        let mut config = TrainConfig::default();
        config.data.train = vec![format!(
            "{}/data/sample/train/*.parquet",
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
        )];
        // The log/sin-cos inputs (76 of them), as `benches/torch_train.py` builds its model:
        // the comparison with PyTorch needs the same shapes.
        config.preprocessing = PreprocessConfig::log_and_angles();
        config.optim.batch_size = BATCH;
        config.optim.learning_rate = LR;
        config.optim.weight_decay = 1e-4;
        config.loss.beta = Schedule::constant(BETA);
        config.loss.supcon = Schedule::constant(supcon_weight);
        config.loss.ntxent = Schedule::constant(0.0);
        config.loss.temperature = TAU;
        let prepared = prepare(&config).expect("shipped sample loads");
        assert!(
            prepared.train_rows.len() >= BATCH,
            "sample smaller than a batch"
        );
        let pre = Preprocessor::fit(
            &prepared.table.feature_names,
            &config.preprocessing,
            &prepared.table.features,
            &prepared.train_rows,
        )
        .expect("preprocessing fits");
        Self {
            config,
            prepared,
            pre,
        }
    }
}

/// Model, optimiser and batches of one benchmark.
struct Trainer<'a> {
    sample: &'a Sample,
    model: Option<BeadVae>,
    optim: ModuleOptimizer,
    batches: BatchBuilder<'a>,
    weights: LossWeights,
    rng: Rng,
    /// Start of the next batch in the training rows (cycled through, as epochs do).
    next: usize,
}

impl<'a> Trainer<'a> {
    fn new(sample: &'a Sample) -> Self {
        let device = Device::default().autodiff();
        let config = &sample.config;
        let mut rng = Rng::new(42);
        let model = BeadVae::new(
            &config.model,
            sample.pre.num_inputs(),
            sample.prepared.table.sources.len(),
            &mut rng,
            &device,
        );
        Self {
            sample,
            model: Some(model),
            optim: step::optimizer(config),
            batches: BatchBuilder::new(
                &sample.prepared.table,
                &sample.pre,
                config.model.latent,
                &device,
            ),
            weights: LossWeights::at(config, 0),
            rng,
            next: 0,
        }
    }

    fn rows(&mut self) -> &'a [u32] {
        let sample: &'a Sample = self.sample;
        let rows = &sample.prepared.train_rows;
        if self.next + BATCH > rows.len() {
            self.next = 0;
        }
        self.next += BATCH;
        &rows[self.next - BATCH..self.next]
    }

    /// One step exactly as the epoch loop runs it.
    fn step(&mut self) -> f64 {
        let rows = self.rows();
        let batch = self.batches.build(rows, None, &mut self.rng);
        let model = self.model.take().expect("model");
        let (model, terms) = step::train_step(
            model,
            &mut self.optim,
            LR,
            &self.sample.config,
            batch,
            &self.weights,
            0,
        )
        .expect("finite loss");
        self.model = Some(model);
        terms.total
    }

    /// The same step in its pieces; `t[k]` accumulates the time of phase `PHASES[k]`.
    fn step_phases(&mut self, t: &mut [Duration; 4]) -> f64 {
        let mut clock = Instant::now();
        let mut lap = |k: usize| {
            let now = Instant::now();
            t[k] += now - clock;
            clock = now;
        };
        let rows = self.rows();
        let batch = self.batches.build(rows, None, &mut self.rng);
        lap(0);
        let model = self.model.take().expect("model");
        let loss = step::batch_loss(&model, &self.sample.config, batch, &self.weights);
        lap(1);
        let terms = loss.read();
        lap(2);
        self.model = Some(step::descend(model, &mut self.optim, LR, loss));
        lap(3);
        terms.total
    }
}

fn bench_steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("step");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (loss_name, supcon) in LOSSES {
        let sample = Sample::load(supcon);
        let mut tr = Trainer::new(&sample);
        g.bench_function(loss_name, |b| b.iter(|| black_box(tr.step())));
    }
    g.finish();
}

fn bench_phases(c: &mut Criterion) {
    let mut g = c.benchmark_group("phase");
    for (loss_name, supcon) in LOSSES {
        let sample = Sample::load(supcon);
        let mut tr = Trainer::new(&sample);
        for (k, phase) in PHASES.iter().enumerate() {
            g.bench_function(BenchmarkId::new(loss_name, phase), |b| {
                b.iter_custom(|iters| {
                    let mut t = [Duration::ZERO; 4];
                    for _ in 0..iters {
                        black_box(tr.step_phases(&mut t));
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
