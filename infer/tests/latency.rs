//! `bench_model` (what `bead bench` prints) gives an internally consistent report and scores
//! without allocating; no timing thresholds, because test machines are noisy.
//!
//! The `#[ignore]`d tests print the latency summary of the AXOL1TL-sized model and of a
//! default-like preprocessing model (run with `--release --ignored --nocapture`; the criterion
//! version is `benches/infer_latency.rs` in the root package).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use bead_infer::{BenchError, BenchOptions, Latency, Model, bench_model};
use bead_testkit::Rng;
use bead_testkit::models::*;
use bead_testkit::{CountingAlloc, counting_is_installed, thread_allocations};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// What holds for any correct summary, however noisy the machine: finite positive times,
/// p50 ≤ p99, and a mean time per event (from events/s over the whole run, which includes
/// every timed sample) of at least half the median, since half the samples are ≥ p50, and at
/// least a two-hundredth of p99, since about 1 % are ≥ p99 (rounding of the index included).
fn check_consistent(what: &str, l: &Latency) {
    assert!(l.p50_ns.is_finite() && l.p50_ns > 0.0, "{what}: {l:?}");
    assert!(
        l.p99_ns.is_finite() && l.p50_ns <= l.p99_ns,
        "{what}: {l:?}"
    );
    assert!(
        l.events_per_s.is_finite() && l.events_per_s > 0.0,
        "{what}: {l:?}"
    );
    let mean_ns = 1e9 / l.events_per_s;
    assert!(mean_ns >= 0.5 * l.p50_ns * (1.0 - 1e-9), "{what}: {l:?}");
    assert!(mean_ns >= 0.005 * l.p99_ns, "{what}: {l:?}");
    assert!(l.allocations_per_event.is_finite() && l.allocations_per_event >= 0.0);
}

#[test]
fn report_is_consistent_and_scoring_does_not_allocate() {
    assert!(counting_is_installed());
    let model = Model::from_bytes(&axol1tl(1), "axol1tl").unwrap();
    let events = events(&mut Rng::new(7), 64, 57);
    let options = BenchOptions {
        repetitions: 20_000,
        batch_size: 48,
        reference: true,
    };
    let report = bench_model(&model, &events, &options, &thread_allocations).unwrap();
    assert_eq!(report.kernel, model.kernel_name());
    assert_eq!(report.batch_size, 48);
    for (what, latency) in [("single", &report.single), ("batch", &report.batch)] {
        check_consistent(what, latency);
        assert_eq!(latency.allocations_per_event, 0.0, "{what} allocated");
    }
    if cfg!(feature = "tract") {
        let single = report.reference_single.expect("tract reference, single");
        let batch = report.reference_batch.expect("tract reference, batch");
        check_consistent("tract single", &single);
        check_consistent("tract batch", &batch);
        // tract allocates on every run: the allocation counter does reach the report.
        assert!(single.allocations_per_event >= 1.0, "{single:?}");
    }

    // No whole event: refused, not a division by zero.
    for partial in [&events[..0], &events[..56], &events[..57 + 3]] {
        let e = bench_model(&model, partial, &options, &thread_allocations).unwrap_err();
        assert!(matches!(e, BenchError::NoEvents(57)), "{e}");
    }
}

#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn bench_axol1tl() {
    let model = Model::from_bytes(&axol1tl(1), "axol1tl").unwrap();
    let events = events(&mut Rng::new(7), 1024, 57);
    bench(&model, &events);
}

#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn bench_default_like() {
    let model = Model::from_bytes(&default_like(1), "default_like").unwrap();
    let events = default_like_events(&mut Rng::new(7), 1024);
    bench(&model, &events);
}

fn bench(model: &Model, events: &[f32]) {
    println!("{}", model.name());
    for kernel in bead_infer::available_kernels() {
        let m = model.with_kernel(kernel).unwrap();
        let opts = BenchOptions {
            repetitions: 2_000_000,
            batch_size: 1024,
            reference: kernel == model.kernel_name(),
        };
        let r = bench_model(&m, events, &opts, &|| 0).unwrap();
        println!(
            "{kernel:>9}: single p50 {:.1} ns p99 {:.1} ns ({:.3e} ev/s); batch-1024 p50 {:.1} ns/ev ({:.3e} ev/s)",
            r.single.p50_ns,
            r.single.p99_ns,
            r.single.events_per_s,
            r.batch.p50_ns,
            r.batch.events_per_s
        );
        if let (Some(rs), Some(rb)) = (r.reference_single, r.reference_batch) {
            println!(
                "    tract: single p50 {:.1} ns p99 {:.1} ns; batch-1024 p50 {:.1} ns/ev ({:.3e} ev/s); speedup single {:.1}x batch {:.1}x",
                rs.p50_ns,
                rs.p99_ns,
                rb.p50_ns,
                rb.events_per_s,
                r.speedup_single().unwrap(),
                r.speedup_batch().unwrap()
            );
        }
    }
}

/// Writes the speed-table models (`axol1tl_v1`, `axol1tl_imported`, `axol1tl_bare`,
/// `default_like`) as ONNX files into `$BEAD_BENCH_DIR` (default: a `bead-bench-models` folder
/// in the temporary directory), for `bead bench` and `benches/onnxruntime_batch.py`.
#[test]
#[ignore = "writes files for the README speed table; run with --ignored --nocapture"]
fn write_bench_models() {
    let dir = std::env::var_os("BEAD_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("bead-bench-models"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in [
        ("axol1tl_v1", axol1tl(1)),
        ("axol1tl_imported", axol1tl_imported(1)),
        ("axol1tl_bare", axol1tl_bare(1)),
        ("default_like", default_like(1)),
    ] {
        let path = dir.join(format!("{name}.onnx"));
        std::fs::write(&path, &bytes).unwrap();
        // The file loads and scores like the bytes it was written from.
        let a = Model::load(&path).unwrap();
        let b = Model::from_bytes(&bytes, name).unwrap();
        let ev = vec![1.0f32; a.num_features()];
        assert_eq!(
            a.session().score(&ev).unwrap().to_bits(),
            b.session().score(&ev).unwrap().to_bits()
        );
        println!("{}", path.display());
    }
}

/// The imported AXOL1TL-style graph against the same MLP bare, and bead's own AXOL1TL-v1
/// export, measured in alternation (five rounds; medians), so that the load of a shared machine
/// hits both sides of each ratio alike.
#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn bench_imported_vs_bare() {
    let events = events(&mut Rng::new(7), 1024, 57);
    let models = [
        Model::from_bytes(&axol1tl_imported(1), "imported").unwrap(),
        Model::from_bytes(&axol1tl_bare(1), "bare").unwrap(),
        Model::from_bytes(&axol1tl(1), "axol1tl_v1").unwrap(),
    ];
    let opts = BenchOptions {
        repetitions: 400_000,
        batch_size: 1024,
        reference: false,
    };
    let mut rounds: Vec<[(f64, f64, f64); 3]> = Vec::new();
    for _ in 0..5 {
        rounds.push(std::array::from_fn(|i| {
            let r = bench_model(&models[i], &events, &opts, &|| 0).unwrap();
            (r.single.p50_ns, r.batch.p50_ns, r.peak_fraction())
        }));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (i, m) in models.iter().enumerate() {
        println!(
            "{:>10} [{}]: single p50 {:.1} ns, batch-1024 {:.1} ns/event, {:.1}% of FMA peak",
            m.name(),
            m.kernel_name(),
            median(rounds.iter().map(|r| r[i].0).collect()),
            median(rounds.iter().map(|r| r[i].1).collect()),
            100.0 * median(rounds.iter().map(|r| r[i].2).collect()),
        );
    }
    println!(
        "imported / bare at p50: {:.2}x",
        median(rounds.iter().map(|r| r[0].0 / r[1].0).collect())
    );
}
