//! Test models for the runtime's tests and benches, written with [`GraphBuilder`], and the
//! event samplers that go with them (seeded with [`Rng`]).
//!
//! Every model function takes a seed and returns ONNX bytes carrying [`metadata`].
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use bead_infer::contract::WeightPrecision;
use bead_infer::onnx::{self, GraphBuilder, attr_int, attr_ints};
use bead_infer::{ModelMetadata, Threshold};

use crate::Rng;

/// The metadata of every test model: features `f0`, `f1`, ..., one threshold (12.5 at FPR
/// 1e-3).
pub fn metadata(features: usize) -> ModelMetadata {
    let mut meta = ModelMetadata::new((0..features).map(|i| format!("f{i}")).collect());
    meta.thresholds = vec![Threshold {
        fpr: 1e-3,
        threshold: 12.5,
        rate_hz: None,
        calibration: None,
    }];
    meta
}

fn finish(g: GraphBuilder, features: usize) -> Vec<u8> {
    onnx::encode_model(&g.into_model(&metadata(features)))
}

/// The encoders' outputs, then the model: `score` = Σμ² (`mu_sq`, then the node `score_sum`
/// with its axes in the initializer `axes`) and `mu` of width `latent`.
fn finish_score(
    mut g: GraphBuilder,
    mu: &str,
    latent: usize,
    axes: &str,
    features: usize,
) -> Vec<u8> {
    let axes = g.constant_i64(axes, &[1], &[1]);
    let sq = g.op_named("Mul", "mu_sq", &[mu, mu], vec![]);
    let score = g.op_named(
        "ReduceSum",
        "score_sum",
        &[&sq, &axes],
        vec![attr_int("keepdims", 0)],
    );
    g.output(onnx::SCORE, &score, &[]);
    g.output(onnx::MU, mu, &[latent as i64]);
    finish(g, features)
}

/// `|a - b| <= 1e-5 |b| + 1e-6`.
pub fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * b.abs() + 1e-6
}

// ---------------------------------------------------------------------------------------------
// Encoders: (preprocessing) → standardisation → dense layers → μ, score Σμ²

/// The exporter's preprocessing: raw columns through log1p (after clipping at zero when
/// `clip_negative`), kept linear, or taken as angles (sin and cos), concatenated.
pub struct Columns {
    pub log1p: Vec<usize>,
    pub linear: Vec<usize>,
    pub angle: Vec<usize>,
    pub clip_negative: bool,
}

impl Columns {
    /// Number of model inputs the preprocessing produces.
    fn width(&self) -> usize {
        self.log1p.len() + self.linear.len() + 2 * self.angle.len()
    }

    fn lower(&self, g: &mut GraphBuilder) -> String {
        let x = g.gather_columns(onnx::EVENTS, &self.log1p);
        let x = if self.clip_negative {
            let zero = g.constant("zero", &[], &[0.0]);
            g.op("Max", &[&x, &zero], vec![])
        } else {
            x
        };
        // A rank-0 constant, to cover that broadcast.
        let one = g.constant("one", &[], &[1.0]);
        let x = g.op("Add", &[&x, &one], vec![]);
        let log = g.op("Log", &[&x], vec![]);
        let lin = g.gather_columns(onnx::EVENTS, &self.linear);
        let ang = g.gather_columns(onnx::EVENTS, &self.angle);
        let sin = g.op("Sin", &[&ang], vec![]);
        let cos = g.op("Cos", &[&ang], vec![]);
        g.op(
            "Concat",
            &[&log, &lin, &sin, &cos],
            vec![attr_int("axis", -1)],
        )
    }
}

/// `x · W + b` as MatMul + Add (the pattern the runtime fuses into one gemv), then ReLU.
fn dense(
    g: &mut GraphBuilder,
    rng: &mut Rng,
    x: &str,
    k: usize,
    m: usize,
    relu: bool,
    stem: &str,
) -> String {
    let scale = (2.0 / k as f32).sqrt();
    let w = g.constant(
        &format!("{stem}_w"),
        &[k as i64, m as i64],
        &rng.uniform_vec(k * m, scale),
    );
    let b = g.constant(&format!("{stem}_b"), &[m as i64], &rng.uniform_vec(m, 0.1));
    let y = g.op_named("MatMul", &format!("{stem}_mm"), &[x, &w], vec![]);
    let y = g.op_named("Add", &format!("{stem}_add"), &[&y, &b], vec![]);
    if relu {
        g.op_named("Relu", &format!("{stem}_relu"), &[&y], vec![])
    } else {
        y
    }
}

/// A VAE encoder as exported, with outputs `score` (Σμ²) and `mu`: preprocessing when
/// `columns` is given, standardisation, ReLU layers of widths `hidden`, then μ of width
/// `latent`. The Σμ² reduction is the node `score_sum` with axes in the initializer `axes1`.
pub fn encoder(
    name: &str,
    seed: u64,
    features: usize,
    columns: Option<&Columns>,
    hidden: &[usize],
    latent: usize,
) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut g = GraphBuilder::new(name, features);
    let (x, width) = match columns {
        Some(c) => (c.lower(&mut g), c.width()),
        None => (onnx::EVENTS.to_owned(), features),
    };
    // After preprocessing the mean is a [1, M] row, to cover that broadcast too.
    let mean_dims: &[i64] = match columns {
        Some(_) => &[1, width as i64],
        None => &[width as i64],
    };
    let mean = g.constant("mean", mean_dims, &rng.uniform_vec(width, 5.0));
    let std: Vec<f32> = rng
        .uniform_vec(width, 1.0)
        .iter()
        .map(|v| 0.5 + 3.0 * v.abs())
        .collect();
    let std = g.constant("std", &[width as i64], &std);
    let centered = g.op_named("Sub", "center", &[&x, &mean], vec![]);
    let mut h = g.op_named("Div", "scale", &[&centered, &std], vec![]);
    let mut k = width;
    for (i, &m) in hidden.iter().enumerate() {
        h = dense(&mut g, &mut rng, &h, k, m, true, &format!("h{}", i + 1));
        k = m;
    }
    let mu = dense(&mut g, &mut rng, &h, k, latent, false, "mu");
    finish_score(g, &mu, latent, "axes1", features)
}

/// AXOL1TL-v1-sized VAE encoder: standardisation, 57 → 32 → 16 → 13 (μ), score Σμ².
pub fn axol1tl(seed: u64) -> Vec<u8> {
    encoder("axol1tl", seed, 57, None, &[32, 16], 13)
}

/// Events around the [`axol1tl`] model's standardisation.
pub fn events(rng: &mut Rng, n: usize, f: usize) -> Vec<f32> {
    rng.uniform_vec(n * f, 8.0)
}

/// Preprocessing as exported on 12 raw features: log1p(pt), linear, sin/cos(phi),
/// standardise, 18 → 24 → 6 (μ).
pub fn preprocessing(seed: u64) -> Vec<u8> {
    let columns = Columns {
        log1p: vec![0, 3, 6, 9],
        linear: vec![1, 4, 7, 10, 11],
        angle: vec![2, 5, 8],
        clip_negative: false,
    };
    encoder("preprocessing", seed, 12, Some(&columns), &[24], 6)
}

/// Raw events for [`preprocessing`]: positive pt, angles in [-π, π].
pub fn raw_events(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n * 12)
        .map(|i| match i % 12 {
            0 | 3 | 6 | 9 => rng.uniform().abs() * 200.0,
            2 | 5 | 8 => rng.uniform() * std::f32::consts::PI,
            _ => rng.uniform() * 3.0,
        })
        .collect()
}

/// Default-bead-model-sized preprocessing: 19 objects × (pt, eta, phi) = 57 raw features;
/// log1p(max(pt, 0)), linear eta, sin/cos(phi) → 76 columns, standardise, 76 → 32 → 16 → 13
/// (μ), score Σμ².
pub fn default_like(seed: u64) -> Vec<u8> {
    let column = |k: usize| (0..19).map(|o| 3 * o + k).collect();
    let columns = Columns {
        log1p: column(0),
        linear: column(1),
        angle: column(2),
        clip_negative: true,
    };
    encoder("default_like", seed, 57, Some(&columns), &[32, 16], 13)
}

/// Raw events for [`default_like`]: pt in [-50, 500) (some negative, clipped), eta in
/// [-3, 3), phi in [-π, π).
pub fn default_like_events(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n * 57)
        .map(|i| match i % 3 {
            0 => (rng.uniform() + 1.0) * 275.0 - 50.0,
            1 => rng.uniform() * 3.0,
            _ => rng.uniform() * std::f32::consts::PI,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Models that cover the rest of the operator set

/// Mahalanobis-style head: z = x·W; min_k Σ_d ((z_d - μ_kd) / σ_kd)² (Reshape, ReduceMin).
pub fn mahalanobis(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let (f, d, k) = (10, 4, 5);
    let mut g = GraphBuilder::new("mahalanobis", f);
    let w = g.constant("w", &[f as i64, d], &rng.uniform_vec(f * d as usize, 0.5));
    let shape = g.constant_i64("shape", &[3], &[0, 1, d]);
    let centers = g.constant("centers", &[k, d], &rng.uniform_vec((k * d) as usize, 1.0));
    let sigma: Vec<f32> = rng
        .uniform_vec((k * d) as usize, 1.0)
        .iter()
        .map(|v| 0.3 + v.abs())
        .collect();
    let sigma = g.constant("sigma", &[k, d], &sigma);
    let z = g.op("MatMul", &[onnx::EVENTS, &w], vec![]);
    let z = g.op("Reshape", &[&z, &shape], vec![]);
    let dz = g.op("Sub", &[&z, &centers], vec![]);
    let dn = g.op("Div", &[&dz, &sigma], vec![]);
    let d2 = g.op("Mul", &[&dn, &dn], vec![]);
    let dist = g.reduce_sum(&d2, 2, false);
    let closest = g.op(
        "ReduceMin",
        &[&dist],
        vec![attr_ints("axes", &[1]), attr_int("keepdims", 0)],
    );
    g.output(onnx::SCORE, &closest, &[]);
    finish(g, f)
}

/// Activations and comparisons: Tanh, Sigmoid, Exp, Abs, Sqrt, Neg, Greater+Cast, Less+Cast,
/// Min, Max, Identity, Gemm (transB, alpha, beta), ReduceSum with keepdims, ReduceMax.
pub fn activations(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let (f, h) = (9, 20);
    let mut g = GraphBuilder::new("activations", f);
    let wt = g.constant("wt", &[h, f as i64], &rng.uniform_vec(h as usize * f, 0.4));
    let c = g.constant("c", &[h], &rng.uniform_vec(h as usize, 0.2));
    let thr = g.constant("thr", &[h], &rng.uniform_vec(h as usize, 0.5));
    let cap = g.constant("cap", &[], &[0.8]);
    let floor = g.constant("floor", &[1, h], &rng.uniform_vec(h as usize, 0.3));
    let gemm_attrs = vec![
        attr_int("transB", 1),
        onnx::attr_float("alpha", 0.5),
        onnx::attr_float("beta", 2.0),
    ];
    let a = g.op("Gemm", &[onnx::EVENTS, &wt, &c], gemm_attrs);
    let t = g.op("Tanh", &[&a], vec![]);
    let s = g.op("Sigmoid", &[&a], vec![]);
    let e = g.op("Exp", &[&t], vec![]);
    let ab = g.op("Abs", &[&a], vec![]);
    let sq = g.op("Sqrt", &[&ab], vec![]);
    let ng = g.op("Neg", &[&sq], vec![]);
    let gt = g.op("Greater", &[&a, &thr], vec![]);
    let gt = g.cast_to_float(&gt, "gtf");
    let lt = g.op("Less", &[&t, &s], vec![]);
    let lt = g.cast_to_float(&lt, "ltf");
    let mn = g.op("Min", &[&e, &cap], vec![]);
    let mx = g.op("Max", &[&ng, &floor], vec![]);
    let p = g.op("Add", &[&mn, &mx], vec![]);
    let gs = g.op("Mul", &[&gt, &s], vec![]);
    let p = g.op("Add", &[&p, &gs], vec![]);
    let p = g.op("Add", &[&p, &lt], vec![]);
    let p = g.op("Identity", &[&p], vec![]);
    let sum = g.reduce_sum(&p, 1, true);
    let max = g.op(
        "ReduceMax",
        &[&p],
        vec![attr_ints("axes", &[-1]), attr_int("keepdims", 1)],
    );
    let total = g.op("Add", &[&sum, &max], vec![]);
    let score = g.reduce_sum(&total, 1, false);
    g.output(onnx::SCORE, &score, &[]);
    finish(g, f)
}

/// float16 weights cast to float32 before the MatMul and the bias Add.
pub fn float16(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let (f, h) = (20, 12);
    let mut g = GraphBuilder::new("float16", f).with_weight_precision(WeightPrecision::Float16);
    let w = g.weight("w", &[f as i64, h as i64], &rng.uniform_vec(f * h, 0.5));
    let b = g.weight("b", &[h as i64], &rng.uniform_vec(h, 0.5));
    let z = g.op("MatMul", &[onnx::EVENTS, &w], vec![]);
    let mu = g.op("Add", &[&z, &b], vec![]);
    let sq = g.op("Mul", &[&mu, &mu], vec![]);
    let score = g.reduce_sum(&sq, 1, false);
    g.output(onnx::SCORE, &score, &[]);
    g.output(onnx::MU, &mu, &[h as i64]);
    finish(g, f)
}

// ---------------------------------------------------------------------------------------------
// A foreign (non-bead) float MLP, as the CMS AXOL1TL encoder is exported, and the same MLP bare

/// The AXOL1TL-v1 encoder as another tool exports it, on 57 inputs: scaling `(x − offset) ·
/// scale` (Sub, Mul), saturation to `[−lim, lim]` as `Clip` lowers (Max, then Min), then Gemm
/// (transB 0) + Relu 57 → 32, Gemm (transB 1) + Relu 32 → 16, Gemm 16 → 13 (μ), score
/// `ReduceSum(μ · μ)` with the axes as an input. With `bare`, the same weights without the
/// scaling and saturation ([`axol1tl_bare`]).
fn axol1tl_foreign(name: &str, seed: u64, bare: bool) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let f = 57usize;
    let mut g = GraphBuilder::new(name, f);
    let offset = rng.uniform_vec(f, 5.0);
    let scale: Vec<f32> = rng
        .uniform_vec(f, 1.0)
        .iter()
        .map(|v| 0.2 + v.abs())
        .collect();
    let mut h = onnx::EVENTS.to_owned();
    if !bare {
        let offset = g.constant("offset", &[f as i64], &offset);
        let scale = g.constant("scale", &[1, f as i64], &scale);
        let lo = g.constant("lo", &[], &[-6.0]);
        let hi = g.constant("hi", &[], &[6.0]);
        let c = g.op_named("Sub", "offset", &[&h, &offset], vec![]);
        let s = g.op_named("Mul", "scale", &[&c, &scale], vec![]);
        let s = g.op_named("Max", "clip_lo", &[&s, &lo], vec![]);
        h = g.op_named("Min", "clip_hi", &[&s, &hi], vec![]);
    }
    let mut k = f;
    for (i, (m, trans, relu)) in [(32usize, false, true), (16, true, true), (13, false, false)]
        .into_iter()
        .enumerate()
    {
        let w = rng.uniform_vec(k * m, (2.0 / k as f32).sqrt());
        let dims = if trans {
            [m as i64, k as i64]
        } else {
            [k as i64, m as i64]
        };
        let w = g.constant(&format!("dense{i}_w"), &dims, &w);
        let b = g.constant(
            &format!("dense{i}_b"),
            &[m as i64],
            &rng.uniform_vec(m, 0.1),
        );
        h = g.op_named(
            "Gemm",
            &format!("dense{i}"),
            &[&h, &w, &b],
            vec![attr_int("transB", i64::from(trans))],
        );
        if relu {
            h = g.op_named("Relu", &format!("relu{i}"), &[&h], vec![]);
        }
        k = m;
    }
    finish_score(g, &h, 13, "axes", f)
}

/// `axol1tl_foreign`: the imported AXOL1TL-style graph with scaling and saturation.
pub fn axol1tl_imported(seed: u64) -> Vec<u8> {
    axol1tl_foreign("axol1tl_imported", seed, false)
}

/// The same MLP as [`axol1tl_imported`] (same seed, same weights) without the elementwise
/// steps: the speed yardstick of the imported graph.
pub fn axol1tl_bare(seed: u64) -> Vec<u8> {
    axol1tl_foreign("axol1tl_bare", seed, true)
}
