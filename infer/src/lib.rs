//! Zero-allocation, single-event scoring of bead anomaly detectors exported to ONNX.
//!
//! A trigger scores one event at a time, in tens of nanoseconds, from C++. This crate loads a
//! model written by `bead export` (the contract is in `docs/DESIGN.md`: one input `events`
//! `[N, F]`, output `score` `[N]`, optional `mu` `[N, D]`, `bead` metadata), checks it,
//! compiles it once into an immutable plan for batch 1, and executes that plan with its own
//! kernels in a per-thread [`Session`]. What the exporter records about the model (features,
//! score, sources, calibrated thresholds) is the [`contract`] shared with the trainer.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = bead_infer::Model::load("model.onnx")?; // Send + Sync, cheap to clone
//! let mut session = model.session(); // one per thread, owns the scratch arena
//! let event = vec![0.0f32; model.num_features()];
//! let score = session.score(&event)?; // no heap allocation
//! let threshold = model.info().threshold_for_fpr(1e-3);
//! let accept = threshold.is_some_and(|t| score > t);
//! # let _ = accept; Ok(()) }
//! ```
//!
//! # Latency and allocation contract
//!
//! - [`Session::score`], [`Session::score_batch`] and [`Session::score_with_latent`] never
//!   allocate, never panic and never lock; their errors ([`ScoreError`]) are `Copy` values.
//!   Both properties are tested (`tests/no_alloc.rs` counts allocations with a global
//!   allocator; the crate denies `unwrap`, `expect`, `panic` and indexing outside tests).
//! - All work that does not depend on the event happens in [`Model::load`]: constant
//!   folding, shape resolution, folding the standardisation into the first layer's weights,
//!   fusing bias and ReLU into the gemv, weight prepacking, float16 → float32 conversion,
//!   arena layout, and the choice of the gemv variant for this CPU (AVX-512F, AVX2+FMA or
//!   portable, detected at run time: no `target-cpu=native` needed). The environment
//!   variable [`KERNEL_ENV`] (`BEAD_KERNEL=avx2+fma`, `portable`; read once per process)
//!   caps that choice, to measure a slower variant on a faster CPU.
//! - A session's scores are deterministic: the same event gives bit-identical scores on every
//!   thread and every call.
//!
//! # Crate features
//!
//! - `tract` (default): [`Model::reference`] gives tract-onnx's evaluator of a loaded model,
//!   which the tests and `bead bench` compare against. It is built on first use: loading
//!   never runs tract.
//!
//! # Untrusted files
//!
//! Every model file is checked before anything is allocated for it: file size, node count,
//! tensor sizes and every intermediate size against [`limits`], with checked arithmetic; the
//! graph's structure (names, types, tensor storage, attributes, no cycles) before it is
//! compiled. A file that breaks a rule gives a [`LoadError`] naming the node or tensor, never
//! a panic or an abort. The `bead-fuzz` crate (`fuzz/`) feeds mutated models to the loader.

#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod bench;
mod error;
mod kernels;
mod model;
mod plan;
mod session;

pub mod contract;
pub mod limits;
pub mod onnx;

#[cfg(feature = "tract")]
pub use crate::model::{Reference, ReferenceState};
pub use crate::{
    bench::{
        BenchError, BenchOptions, BenchReport, Latency, bench_model, measure_load,
        onnxruntime_batch,
    },
    contract::{Calibration, EventCounts, ModelMetadata, Threshold},
    error::{LoadError, ScoreError, UnsupportedOp},
    kernels::KERNEL_ENV,
    model::{Model, available_kernels},
    onnx::{ImportError, ImportOptions, ImportReport, import_file, import_model, parse_features},
    session::Session,
};
