//! Load time of very long graphs: `bead_infer::Model::from_bytes` (decode, validate, compile)
//! of 100,000-node chains, listed in dependency order and in reverse, and of a big constant
//! read by many nodes.
//!
//! Plan compilation must be linear in the number of nodes: the target is ≤ 1 s for each of
//! these (an 80,000-node chain took 30 s, 166 s in reverse order, before issue 11). Loading
//! never runs tract, so these times are bead's own.

use std::hint::black_box;
use std::time::Duration;

use bead_infer::Model;
use bead_testkit::hostile::{self, Link};
use criterion::{Criterion, criterion_group, criterion_main};

const NODES: usize = 100_000;

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("load_100k_nodes");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for (link, name) in [(Link::Neg, "neg"), (Link::Dense, "dense")] {
        for reverse in [false, true] {
            let bytes = hostile::chain(NODES, link, reverse);
            let order = if reverse { "reverse" } else { "forward" };
            group.bench_function(format!("{name}/{order}"), |b| {
                b.iter(|| Model::from_bytes(black_box(&bytes), "chain.onnx").expect("loads"))
            });
        }
    }
    group.finish();
    // A 16 MiB constant read by 2,000 nodes: ≤ 1 s too (5 s when each read copied it).
    let mut group = c.benchmark_group("load_shared_constant");
    group.sample_size(10);
    let bytes = hostile::shared_constant(1 << 22, 2000);
    group.bench_function("4M_floats_2000_readers", |b| {
        b.iter(|| Model::from_bytes(black_box(&bytes), "shared.onnx").expect("loads"))
    });
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
