//! Latency measurement shared by `bead bench` and the criterion bench.

use std::hint::black_box;
use std::time::Instant;

use crate::error::{LoadError, ScoreError};
use crate::model::Model;

/// Latency distribution of one scoring path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Median time per event, ns.
    pub p50_ns: f64,
    /// 99th percentile of the time per event, ns.
    pub p99_ns: f64,
    /// Events per second over the whole measurement.
    pub events_per_s: f64,
    /// Heap allocations per event, as counted by the caller's counter.
    pub allocations_per_event: f64,
}

/// What [`bench_model`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// gemv variant used ([`Model::kernel_name`]).
    pub kernel: &'static str,
    /// Number of events per batch call.
    pub batch_size: usize,
    /// [`Session::score`](crate::Session::score), one event per call.
    pub single: Latency,
    /// [`Session::score_batch`](crate::Session::score_batch), per event.
    pub batch: Latency,
    /// tract with a reused `SimpleState`, batch 1 (tract feature only).
    pub reference_single: Option<Latency>,
    /// tract with a reused `SimpleState`, one batch per call, per event.
    pub reference_batch: Option<Latency>,
}

impl BenchReport {
    /// How many times faster than tract the single-event path is (p50 ratio).
    pub fn speedup_single(&self) -> Option<f64> {
        self.reference_single.map(|r| r.p50_ns / self.single.p50_ns)
    }

    /// How many times faster than tract the batch path is (throughput ratio).
    pub fn speedup_batch(&self) -> Option<f64> {
        self.reference_batch
            .map(|r| self.batch.events_per_s / r.events_per_s)
    }
}

/// Measurement settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchOptions {
    /// Single-event calls to time (cycled over the given events).
    pub repetitions: usize,
    /// Events per batch call.
    pub batch_size: usize,
    /// Also time tract (needs the `tract` feature).
    pub reference: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            repetitions: 1_000_000,
            batch_size: 1024,
            reference: true,
        }
    }
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// No events were given (or the slice is not a whole number of events).
    #[error("benchmark needs at least one whole event of {0} features")]
    NoEvents(usize),
    /// Scoring failed (for example a non-finite event).
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// The reference evaluator failed.
    #[error(transparent)]
    Reference(#[from] LoadError),
}

/// Consecutive single-event calls timed together (one clock read per group).
const GROUP: usize = 16;

fn summarize(mut per_event_ns: Vec<f64>, events: usize, total_s: f64, allocs: u64) -> Latency {
    per_event_ns.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let i = ((per_event_ns.len() as f64 - 1.0) * p).round() as usize;
        per_event_ns.get(i).copied().unwrap_or(f64::NAN)
    };
    Latency {
        p50_ns: q(0.5),
        p99_ns: q(0.99),
        events_per_s: if total_s > 0.0 {
            events as f64 / total_s
        } else {
            f64::NAN
        },
        allocations_per_event: allocs as f64 / events.max(1) as f64,
    }
}

/// Times single-event and batch scoring of `events` (row-major) on `model`, and the same with
/// tract's reference evaluator when asked. Single-event latencies are taken over groups of 16
/// consecutive calls (the clock costs about as much as one call). `allocations` reads the
/// caller's allocation counter (return 0 if there is none).
pub fn bench_model(
    model: &Model,
    events: &[f32],
    options: &BenchOptions,
    allocations: &dyn Fn() -> u64,
) -> Result<BenchReport, BenchError> {
    let f = model.num_features();
    let n = events.len().checked_div(f).unwrap_or(0);
    if n == 0 || n * f != events.len() {
        return Err(BenchError::NoEvents(f));
    }
    let rows: Vec<&[f32]> = events.chunks_exact(f).collect();
    let mut session = model.session();
    for row in &rows {
        session.score(row)?;
    }

    // Single events.
    let groups = options.repetitions.div_ceil(GROUP).max(1);
    let mut samples = Vec::with_capacity(groups);
    let mut cycle = rows.iter().cycle();
    let a0 = allocations();
    let t0 = Instant::now();
    for _ in 0..groups {
        let t = Instant::now();
        for _ in 0..GROUP {
            if let Some(row) = cycle.next() {
                black_box(session.score(black_box(row))?);
            }
        }
        samples.push(t.elapsed().as_nanos() as f64 / GROUP as f64);
    }
    let total = t0.elapsed().as_secs_f64();
    let single = summarize(samples, groups * GROUP, total, allocations() - a0);

    // Batches.
    let bs = options.batch_size.max(1);
    let batch_events: Vec<f32> = rows
        .iter()
        .cycle()
        .take(bs)
        .flat_map(|r| r.iter().copied())
        .collect();
    let mut out = vec![0.0f32; bs];
    let calls = (options.repetitions / bs).max(20);
    let mut samples = Vec::with_capacity(calls);
    session.score_batch(&batch_events, &mut out)?;
    let a0 = allocations();
    let t0 = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        session.score_batch(black_box(&batch_events), &mut out)?;
        black_box(&out);
        samples.push(t.elapsed().as_nanos() as f64 / bs as f64);
    }
    let total = t0.elapsed().as_secs_f64();
    let batch = summarize(samples, calls * bs, total, allocations() - a0);

    #[allow(unused_mut)]
    let mut report = BenchReport {
        kernel: model.kernel_name(),
        batch_size: bs,
        single,
        batch,
        reference_single: None,
        reference_batch: None,
    };
    #[cfg(feature = "tract")]
    if options.reference {
        let r = model.reference()?;
        let mut state = r.state()?;
        // tract takes microseconds per call: fewer repetitions.
        let reps = (options.repetitions / 20).max(200);
        let mut samples = Vec::with_capacity(reps);
        let mut cycle = rows.iter().cycle();
        let a0 = allocations();
        let t0 = Instant::now();
        for _ in 0..reps {
            if let Some(row) = cycle.next() {
                let t = Instant::now();
                black_box(state.run(black_box(row), 1)?);
                samples.push(t.elapsed().as_nanos() as f64);
            }
        }
        let total = t0.elapsed().as_secs_f64();
        report.reference_single = Some(summarize(samples, reps, total, allocations() - a0));

        let calls = (reps / bs).max(10);
        let mut samples = Vec::with_capacity(calls);
        let a0 = allocations();
        let t0 = Instant::now();
        for _ in 0..calls {
            let t = Instant::now();
            black_box(state.run(black_box(&batch_events), bs)?);
            samples.push(t.elapsed().as_nanos() as f64 / bs as f64);
        }
        let total = t0.elapsed().as_secs_f64();
        report.reference_batch = Some(summarize(samples, calls * bs, total, allocations() - a0));
    }
    Ok(report)
}
