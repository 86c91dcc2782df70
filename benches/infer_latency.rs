//! Single-event latency and batch throughput of `bead_infer::Session` on an AXOL1TL-v1-sized
//! model (57 → 32 → 16 → 13, standardisation-only preprocessing, Σμ² score), side by side
//! with tract's reused `SimpleState` on the same ONNX bytes.
//!
//! Catches regressions of the per-event path (kernel choice, fusion, dispatch overhead):
//! the target is ≤ 100 ns per event at p50 and ≥ 10× tract at batch 1. Also prints the
//! p50/p99 summary of `bead_infer::bench_model` (the numbers `bead bench` reports).

use std::hint::black_box;

use bead_infer::onnx::{self, GraphBuilder};
use bead_infer::{BenchOptions, Model, ModelMetadata};
use bead_testkit::Rng;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The AXOL1TL-v1 shape with random weights, written as `bead export` writes an encoder:
/// standardisation (Sub, Div), Gemm + Relu layers, Σμ² (Mul, ReduceSum), Identity outputs.
fn axol1tl_bytes() -> Vec<u8> {
    let mut rng = Rng::new(1);
    let f = 57usize;
    let mut g = GraphBuilder::new("axol1tl_v1_like", f);
    let std: Vec<f32> = rng
        .uniform_vec(f, 1.0)
        .iter()
        .map(|v| 0.5 + 3.0 * v.abs())
        .collect();
    let mean = g.constant("mean", &[f as i64], &rng.uniform_vec(f, 5.0));
    let std = g.constant("std", &[f as i64], &std);
    let centered = g.op("Sub", &[onnx::EVENTS, &mean], vec![]);
    let mut h = g.op("Div", &[&centered, &std], vec![]);
    for (k, m, relu) in [(57, 32, true), (32, 16, true), (16, 13, false)] {
        let w = g.weight(
            "w",
            &[k as i64, m as i64],
            &rng.uniform_vec(k * m, (2.0 / k as f32).sqrt()),
        );
        let b = g.weight("b", &[m as i64], &rng.uniform_vec(m, 0.1));
        h = g.op("Gemm", &[&h, &w, &b], vec![]);
        if relu {
            h = g.op("Relu", &[&h], vec![]);
        }
    }
    let sq = g.op("Mul", &[&h, &h], vec![]);
    let score = g.reduce_sum(&sq, 1, false);
    g.output(onnx::SCORE, &score, &[]);
    g.output(onnx::MU, &h, &[13]);
    let meta = ModelMetadata::new((0..f).map(|i| format!("f{i}")).collect());
    onnx::encode_model(&g.into_model(&meta))
}

fn infer_latency(c: &mut Criterion) {
    let model = Model::from_bytes(&axol1tl_bytes(), "axol1tl_v1_like").expect("model loads");
    let f = model.num_features();
    let n = 1024;
    let events = Rng::new(7).uniform_vec(n * f, 8.0);
    let rows: Vec<&[f32]> = events.chunks_exact(f).collect();

    // Summary with percentiles (same code as `bead bench`).
    let opts = BenchOptions {
        repetitions: 2_000_000,
        batch_size: n,
        reference: true,
    };
    let report = bead_infer::bench_model(&model, &events, &opts, &|| 0).expect("bench runs");
    println!("kernel: {}", report.kernel);
    println!(
        "bead single: p50 {:.1} ns, p99 {:.1} ns, {:.3e} ev/s",
        report.single.p50_ns, report.single.p99_ns, report.single.events_per_s
    );
    println!(
        "bead batch-{n}: p50 {:.1} ns/ev, p99 {:.1} ns/ev, {:.3e} ev/s",
        report.batch.p50_ns, report.batch.p99_ns, report.batch.events_per_s
    );
    if let (Some(rs), Some(rb)) = (report.reference_single, report.reference_batch) {
        println!(
            "tract single: p50 {:.1} ns, p99 {:.1} ns, {:.3e} ev/s",
            rs.p50_ns, rs.p99_ns, rs.events_per_s
        );
        println!(
            "tract batch-{n}: p50 {:.1} ns/ev, {:.3e} ev/s",
            rb.p50_ns, rb.events_per_s
        );
        println!(
            "speedup: single {:.1}x, batch {:.1}x",
            report.speedup_single().unwrap_or(f64::NAN),
            report.speedup_batch().unwrap_or(f64::NAN)
        );
    }

    let mut group = c.benchmark_group("infer_latency");
    group.throughput(Throughput::Elements(1));
    for kernel in bead_infer::available_kernels() {
        let m = model.with_kernel(kernel).expect("kernel available");
        let mut session = m.session();
        let mut i = 0;
        group.bench_function(format!("bead_single_{kernel}"), |b| {
            b.iter(|| {
                i = (i + 1) % n;
                black_box(session.score(black_box(rows[i])).expect("scores"))
            })
        });
    }
    let reference = model.reference().expect("tract reference");
    let mut state = reference.state().expect("tract state");
    let mut i = 0;
    group.bench_function("tract_single", |b| {
        b.iter(|| {
            i = (i + 1) % n;
            black_box(state.run(black_box(rows[i]), 1).expect("tract runs"))
        })
    });

    group.throughput(Throughput::Elements(n as u64));
    let mut session = model.session();
    let mut out = vec![0.0f32; n];
    group.bench_function(format!("bead_batch{n}"), |b| {
        b.iter(|| {
            session
                .score_batch(black_box(&events), &mut out)
                .expect("scores")
        })
    });
    group.bench_function(format!("tract_batch{n}"), |b| {
        b.iter(|| black_box(state.run(black_box(&events), n).expect("tract runs")))
    });
    group.finish();
}

criterion_group!(benches, infer_latency);
criterion_main!(benches);
