//! Latency measurement shared by `bead bench` and the criterion bench, and the ratios the
//! speed targets are stated in, all measured in the same run: the plan against its own matrix
//! products, the batch path against the core's FMA peak and against ONNX Runtime
//! ([`onnxruntime_batch`], which runs `benches/onnxruntime_batch.py`), load time.

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
    /// Single events through the plan's gemv steps alone (every other step skipped): what the
    /// bare MLP of the same shape costs.
    pub matrix_only: Latency,
    /// FLOPs of the matrix products per event (`2·k·m` per layer, padding excluded).
    pub flops_per_event: f64,
    /// This core's FMA throughput with the chosen kernel's vectors, flop/s, measured in the same
    /// run (independent FMA chains: frequency × FMA units × lanes × 2).
    pub fma_peak_flops: f64,
    /// Median time of [`Model::from_bytes`] on the model's bytes, ms (set by the caller, see
    /// [`measure_load`]).
    pub load_ms: Option<f64>,
    /// ONNX Runtime, one thread, ns per event at [`batch_size`](Self::batch_size) (set by the
    /// caller, see [`onnxruntime_batch`]).
    pub onnxruntime_batch_ns: Option<f64>,
    /// Median cost of an empty timed interval (`Instant::now` then `elapsed`), ns, measured in
    /// the same run. The single-event times have it taken out: each group of 16 calls is
    /// timed by one interval, whose own cost (17 ns on a KVM guest, 1 ns per event) is not the
    /// calls'.
    pub clock_ns: f64,
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

    /// Single-event p50 over the p50 of the gemv steps alone: what everything but the matrix
    /// products costs (1.0 for a bare MLP without its score reduction).
    pub fn overhead_vs_matrix(&self) -> f64 {
        self.single.p50_ns / self.matrix_only.p50_ns
    }

    /// Fraction of the core's FMA peak the batch path reaches (matrix FLOPs per event over the
    /// batch p50 time per event, over [`fma_peak_flops`](Self::fma_peak_flops)).
    pub fn peak_fraction(&self) -> f64 {
        self.flops_per_event / (self.batch.p50_ns * 1e-9) / self.fma_peak_flops
    }

    /// How many times faster than single-threaded ONNX Runtime the batch path is (p50 ns per
    /// event ratio).
    pub fn speedup_vs_onnxruntime_batch(&self) -> Option<f64> {
        self.onnxruntime_batch_ns.map(|o| o / self.batch.p50_ns)
    }
}

/// Median wall time of `reps` loads of `bytes` ([`Model::from_bytes`]: decode, check,
/// compile, and tract's parse and optimisation with the `tract` feature), in ms.
pub fn measure_load(bytes: &[u8], name: &str, reps: usize) -> Result<f64, LoadError> {
    let mut ms = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        black_box(Model::from_bytes(black_box(bytes), name)?);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN))
}

/// The ONNX Runtime side of the batch comparison: runs `python3` on
/// `benches/onnxruntime_batch.py` (embedded) for `model_path` at `batch` events per call, one
/// thread, and returns its median ns per event. Errors are the script's message (for example
/// when `onnxruntime` is not installed).
pub fn onnxruntime_batch(model_path: &str, batch: usize, seconds: f64) -> Result<f64, String> {
    const SCRIPT: &str = include_str!("../../benches/onnxruntime_batch.py");
    let out = std::process::Command::new("python3")
        .args(["-c", SCRIPT, model_path, "--json"])
        .args([
            "--batch",
            &batch.to_string(),
            "--seconds",
            &seconds.to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("no message");
        return Err(format!("onnxruntime_batch.py failed: {last}"));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("onnxruntime_batch.py printed no JSON: {e}"))?;
    v.get("batch_ns_per_event")
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| "onnxruntime_batch.py printed no batch_ns_per_event".to_owned())
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

/// The median cost of an empty timed interval, ns.
fn clock_cost_ns() -> f64 {
    let mut samples: Vec<f64> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            black_box(t.elapsed()).as_nanos() as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(0.0)
}

/// `groups` groups of [`GROUP`] calls of `score` on `rows` in turn, one clock read per group,
/// `clock_ns` (the interval's own cost) taken out of each group.
fn time_singles<T>(
    rows: &[&[f32]],
    groups: usize,
    clock_ns: f64,
    allocations: &dyn Fn() -> u64,
    mut score: impl FnMut(&[f32]) -> Result<T, ScoreError>,
) -> Result<Latency, ScoreError> {
    let mut samples = Vec::with_capacity(groups);
    let mut cycle = rows.iter().cycle();
    let a0 = allocations();
    let t0 = Instant::now();
    for _ in 0..groups {
        let t = Instant::now();
        for _ in 0..GROUP {
            if let Some(row) = cycle.next() {
                black_box(score(black_box(row))?);
            }
        }
        let ns = t.elapsed().as_nanos() as f64 - clock_ns;
        samples.push(ns.max(0.0) / GROUP as f64);
    }
    let total = t0.elapsed().as_secs_f64();
    Ok(summarize(
        samples,
        groups * GROUP,
        total,
        allocations() - a0,
    ))
}

/// Times single-event and batch scoring of `events` (row-major) on `model`, and the same with
/// tract's reference evaluator when asked. Single-event latencies are taken over groups of 16
/// consecutive calls (a clock read costs a third of a call), less the cost of the timing
/// itself ([`BenchReport::clock_ns`]). `allocations` reads the
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

    // Single events, then the same events through the gemv steps alone, timed the same way.
    let groups = options.repetitions.div_ceil(GROUP).max(1);
    let clock_ns = clock_cost_ns();
    let single = time_singles(&rows, groups, clock_ns, allocations, |row| {
        session.score(row).map(black_box)
    })?;
    let matrix_only = time_singles(&rows, groups, clock_ns, &|| 0, |row| {
        black_box(session.run_matrix_only(row));
        Ok(())
    })?;

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
    let (flops_per_event, fma_peak_flops) = session.flops_and_peak(0.2);

    #[allow(unused_mut)]
    let mut report = BenchReport {
        kernel: model.kernel_name(),
        batch_size: bs,
        single,
        batch,
        reference_single: None,
        reference_batch: None,
        matrix_only,
        flops_per_event,
        fma_peak_flops,
        load_ms: None,
        onnxruntime_batch_ns: None,
        clock_ns,
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
