//! Extreme and hostile models for the loader's tests, benchmarks and the fuzzer's corpus:
//! valid protobuf that a careless loader would abort on, allocate too much for, or take too
//! long with.

use bead_infer::onnx::{self, GraphBuilder, attr_int};

use crate::models::metadata;

fn finish(g: GraphBuilder, features: usize) -> Vec<u8> {
    onnx::encode_model(&g.into_model(&metadata(features)))
}

/// `levels` nested `Concat` nodes (`concat`, `concat_2`, ...), each of `copies` copies of the
/// previous value, on 4 features. `concat_bomb(5, 100)` is 3 KB and describes a per-event
/// tensor of 4 · 100⁵ = 4·10¹⁰ floats.
pub fn concat_bomb(levels: usize, copies: usize) -> Vec<u8> {
    let mut g = GraphBuilder::new("concat_bomb", 4);
    let mut x = onnx::EVENTS.to_owned();
    for _ in 0..levels {
        let inputs = vec![x.as_str(); copies];
        x = g.op("Concat", &inputs, vec![attr_int("axis", 1)]);
    }
    let s = g.reduce_sum(&x, 1, false);
    g.output(onnx::SCORE, &s, &[]);
    finish(g, 4)
}

/// The shape of each link of [`chain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// `Neg`: one elementwise node per link.
    Neg,
    /// `MatMul` by a 2×2 matrix, `Add` of a bias, `Relu`: three nodes per link, fused into
    /// one gemv.
    Dense,
}

/// A chain of about `nodes` nodes on 2 features (`score` = Σ of the last value), with the
/// nodes listed in reverse dependency order when `reverse`. `Link::Neg` with an odd number of
/// links scores `-(x₀ + x₁)`.
pub fn chain(nodes: usize, link: Link, reverse: bool) -> Vec<u8> {
    let mut g = GraphBuilder::new("chain", 2);
    let mut x = onnx::EVENTS.to_owned();
    match link {
        Link::Neg => {
            for _ in 0..nodes {
                x = g.op("Neg", &[&x], vec![]);
            }
        }
        Link::Dense => {
            let w = g.constant("w", &[2, 2], &[0.5, -0.25, 0.25, 0.5]);
            let b = g.constant("b", &[2], &[0.125, -0.125]);
            for _ in 0..nodes / 3 {
                let y = g.op("MatMul", &[&x, &w], vec![]);
                let y = g.op("Add", &[&y, &b], vec![]);
                x = g.op("Relu", &[&y], vec![]);
            }
        }
    }
    let s = g.reduce_sum(&x, 1, false);
    g.output(onnx::SCORE, &s, &[]);
    let mut model = g.into_model(&metadata(2));
    if reverse && let Some(graph) = model.graph.as_mut() {
        graph.node.reverse();
    }
    onnx::encode_model(&model)
}

/// One constant of `elements` floats (`W[i] = i / elements`) read by `readers` `Gather` nodes,
/// each taking `W[r]` (`r < readers`) and adding it to the event, on 2 features: `score = x₀ +
/// x₁ + 2 · Σ_r W[r]`. A loader that copies a constant at every read, or builds the full index
/// range of its axis, spends `readers × elements` on it (4M × 2,000: 5 s before issue 10's
/// hostile-file round).
pub fn shared_constant(elements: usize, readers: usize) -> Vec<u8> {
    let mut g = GraphBuilder::new("shared_constant", 2);
    let values: Vec<f32> = (0..elements).map(|i| i as f32 / elements as f32).collect();
    let w = g.constant("w", &[elements as i64], &values);
    let mut x = onnx::EVENTS.to_owned();
    for r in 0..readers {
        let idx = g.constant_i64("idx", &[1], &[r as i64]);
        let v = g.op("Gather", &[&w, &idx], vec![attr_int("axis", 0)]);
        x = g.op("Add", &[&x, &v], vec![]);
    }
    let s = g.reduce_sum(&x, 1, false);
    g.output(onnx::SCORE, &s, &[]);
    finish(g, 2)
}
