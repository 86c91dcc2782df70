//! Single-event latency and batch throughput of `bead_infer::Session` on an AXOL1TL-v1-sized
//! model (57 → 32 → 16 → 13, standardisation-only preprocessing, Σμ² score), side by side
//! with tract's reused `SimpleState` on the same ONNX bytes.
//!
//! Catches regressions of the per-event path (kernel choice, fusion, dispatch overhead):
//! the target is ≤ 100 ns per event at p50 and ≥ 10× tract at batch 1. Also prints the
//! p50/p99 summary of `bead_infer::bench_model` (the numbers `bead bench` reports).

use std::hint::black_box;

use bead_infer::onnx::{self, pb};
use bead_infer::{BenchOptions, Model, ModelInfo};
use bead_testkit::Rng;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The AXOL1TL-v1 shape with random weights, as `bead export` writes it.
fn axol1tl_bytes() -> Vec<u8> {
    let mut rng = Rng::new(1);
    let f = 57usize;
    let mut nodes = vec![
        onnx::node("Sub", "center", &["events", "mean"], &["centered"], vec![]),
        onnx::node("Div", "scale", &["centered", "std"], &["u"], vec![]),
    ];
    let std: Vec<f32> = rng
        .uniform_vec(f, 1.0)
        .iter()
        .map(|v| 0.5 + 3.0 * v.abs())
        .collect();
    let mut inits = vec![
        onnx::tensor_f32("mean", &[f as i64], &rng.uniform_vec(f, 5.0)),
        onnx::tensor_f32("std", &[f as i64], &std),
        onnx::tensor_i64("axes", &[1], &[1]),
    ];
    let layers = [
        ("u", "h1", 57, 32, true),
        ("h1", "h2", 32, 16, true),
        ("h2", "mu", 16, 13, false),
    ];
    for (input, out, k, m, relu) in layers {
        let (w, b, mm, pre) = (
            format!("{out}_w"),
            format!("{out}_b"),
            format!("{out}_mm"),
            format!("{out}_pre"),
        );
        inits.push(onnx::tensor_f32(
            &w,
            &[k as i64, m as i64],
            &rng.uniform_vec(k * m, (2.0 / k as f32).sqrt()),
        ));
        inits.push(onnx::tensor_f32(&b, &[m as i64], &rng.uniform_vec(m, 0.1)));
        nodes.push(onnx::node("MatMul", &mm, &[input, &w], &[&mm], vec![]));
        let add_out = if relu { pre.as_str() } else { out };
        nodes.push(onnx::node(
            "Add",
            &format!("{out}_add"),
            &[&mm, &b],
            &[add_out],
            vec![],
        ));
        if relu {
            nodes.push(onnx::node(
                "Relu",
                &format!("{out}_relu"),
                &[&pre],
                &[out],
                vec![],
            ));
        }
    }
    nodes.push(onnx::node(
        "Mul",
        "mu_sq",
        &["mu", "mu"],
        &["mu_sq"],
        vec![],
    ));
    nodes.push(onnx::node(
        "ReduceSum",
        "score",
        &["mu_sq", "axes"],
        &["score"],
        vec![onnx::attr_int("keepdims", 0)],
    ));
    let graph = pb::GraphProto {
        name: "axol1tl_v1_like".into(),
        node: nodes,
        initializer: inits,
        input: vec![onnx::value_info_f32("events", &[f as i64])],
        output: vec![
            onnx::value_info_f32("score", &[]),
            onnx::value_info_f32("mu", &[13]),
        ],
        ..Default::default()
    };
    let info = ModelInfo::new((0..f).map(|i| format!("f{i}")).collect());
    onnx::encode_model(&onnx::model(
        graph,
        &[(onnx::METADATA_KEY, &info.to_json())],
    ))
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
