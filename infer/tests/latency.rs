//! Latency summary on the AXOL1TL-sized model and a default-like preprocessing model (run with `--ignored --nocapture`; the criterion
//! version is `benches/infer_latency.rs` in the root package).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use bead_infer::{BenchOptions, Model, bench_model};
use common::*;

#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn bench_axol1tl() {
    let model = Model::from_bytes(&axol1tl(1), "axol1tl").unwrap();
    let events = events(&mut Rng(7), 1024, 57);
    bench(&model, &events);
}

#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn bench_default_like() {
    let model = Model::from_bytes(&default_like(1), "default_like").unwrap();
    let events = default_like_events(&mut Rng(7), 1024);
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
