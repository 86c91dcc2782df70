//! Test models built with `bead_infer::onnx` builders, and a seeded generator.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::too_many_arguments
)]

use bead_infer::ModelInfo;
use bead_infer::onnx::{self, pb};

/// PCG-style generator, uniform in [-1, 1).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

pub fn metadata(features: usize) -> String {
    let mut info = ModelInfo::new((0..features).map(|i| format!("f{i}")).collect());
    info.thresholds = vec![bead_infer::Threshold {
        fpr: 1e-3,
        threshold: 12.5,
    }];
    info.to_json()
}

pub fn finish(
    name: &str,
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    features: usize,
    outputs: Vec<pb::ValueInfoProto>,
) -> Vec<u8> {
    let graph = pb::GraphProto {
        name: name.into(),
        node: nodes,
        initializer: inits,
        input: vec![onnx::value_info_f32("events", &[features as i64])],
        output: outputs,
        ..Default::default()
    };
    let meta = metadata(features);
    onnx::encode_model(&onnx::model(graph, &[("bead", &meta)]))
}

/// Dense layer `out = in · W + b` (MatMul + Add, optionally Relu) appended to `nodes`.
pub fn dense(
    rng: &mut Rng,
    nodes: &mut Vec<pb::NodeProto>,
    inits: &mut Vec<pb::TensorProto>,
    input: &str,
    output: &str,
    k: usize,
    m: usize,
    relu: bool,
) {
    let w = format!("{output}_w");
    let b = format!("{output}_b");
    let mm = format!("{output}_mm");
    let pre = format!("{output}_pre");
    let scale = (2.0 / k as f32).sqrt();
    inits.push(onnx::tensor_f32(
        &w,
        &[k as i64, m as i64],
        &rng.vec(k * m, scale),
    ));
    inits.push(onnx::tensor_f32(&b, &[m as i64], &rng.vec(m, 0.1)));
    nodes.push(onnx::node("MatMul", &mm, &[input, &w], &[&mm], vec![]));
    let add_out = if relu { pre.as_str() } else { output };
    nodes.push(onnx::node(
        "Add",
        &format!("{output}_add"),
        &[&mm, &b],
        &[add_out],
        vec![],
    ));
    if relu {
        nodes.push(onnx::node(
            "Relu",
            &format!("{output}_relu"),
            &[&pre],
            &[output],
            vec![],
        ));
    }
}

/// Σμ² head: `score = ReduceSum(mu * mu, axes = [1], keepdims = 0)`.
pub fn mu2_head(nodes: &mut Vec<pb::NodeProto>, inits: &mut Vec<pb::TensorProto>, mu: &str) {
    inits.push(onnx::tensor_i64("axes1", &[1], &[1]));
    nodes.push(onnx::node("Mul", "mu_sq", &[mu, mu], &["mu_sq"], vec![]));
    nodes.push(onnx::node(
        "ReduceSum",
        "score_sum",
        &["mu_sq", "axes1"],
        &["score"],
        vec![onnx::attr_int("keepdims", 0)],
    ));
}

/// AXOL1TL-v1-sized VAE encoder: standardisation, 57 → 32 → 16 → 13 (μ), score Σμ².
pub fn axol1tl(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let f = 57;
    let mut nodes = vec![];
    let mut inits = vec![
        onnx::tensor_f32("mean", &[f as i64], &rng.vec(f, 5.0)),
        onnx::tensor_f32(
            "std",
            &[f as i64],
            &rng.vec(f, 1.0)
                .iter()
                .map(|v| 0.5 + v.abs() * 3.0)
                .collect::<Vec<_>>(),
        ),
    ];
    nodes.push(onnx::node(
        "Sub",
        "center",
        &["events", "mean"],
        &["centered"],
        vec![],
    ));
    nodes.push(onnx::node(
        "Div",
        "scale",
        &["centered", "std"],
        &["u"],
        vec![],
    ));
    dense(&mut rng, &mut nodes, &mut inits, "u", "h1", f, 32, true);
    dense(&mut rng, &mut nodes, &mut inits, "h1", "h2", 32, 16, true);
    dense(&mut rng, &mut nodes, &mut inits, "h2", "mu", 16, 13, false);
    mu2_head(&mut nodes, &mut inits, "mu");
    finish(
        "axol1tl",
        nodes,
        inits,
        f,
        vec![
            onnx::value_info_f32("score", &[]),
            onnx::value_info_f32("mu", &[13]),
        ],
    )
}

/// Events around the AXOL1TL model's standardisation.
pub fn events(rng: &mut Rng, n: usize, f: usize) -> Vec<f32> {
    rng.vec(n * f, 8.0)
}

/// Preprocessing as exported: log1p(pt), linear, sin/cos(phi), standardise, two layers.
pub fn preprocessing(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let f = 12;
    let log_idx = [0i64, 3, 6, 9];
    let lin_idx = [1i64, 4, 7, 10, 11];
    let ang_idx = [2i64, 5, 8];
    let m = log_idx.len() + lin_idx.len() + 2 * ang_idx.len();
    let mut nodes = vec![];
    let mut inits = vec![
        onnx::tensor_i64("log_idx", &[4], &log_idx),
        onnx::tensor_i64("lin_idx", &[5], &lin_idx),
        onnx::tensor_i64("ang_idx", &[3], &ang_idx),
        onnx::tensor_f32("one", &[], &[1.0]),
        onnx::tensor_f32("mean", &[1, m as i64], &rng.vec(m, 1.0)),
        onnx::tensor_f32(
            "std",
            &[m as i64],
            &rng.vec(m, 1.0)
                .iter()
                .map(|v| 0.5 + v.abs())
                .collect::<Vec<_>>(),
        ),
    ];
    let axis1 = || vec![onnx::attr_int("axis", 1)];
    nodes.push(onnx::node(
        "Gather",
        "g_log",
        &["events", "log_idx"],
        &["x_log"],
        axis1(),
    ));
    nodes.push(onnx::node(
        "Add",
        "plus1",
        &["x_log", "one"],
        &["x_log1"],
        vec![],
    ));
    nodes.push(onnx::node("Log", "log1p", &["x_log1"], &["u_log"], vec![]));
    nodes.push(onnx::node(
        "Gather",
        "g_lin",
        &["events", "lin_idx"],
        &["u_lin"],
        axis1(),
    ));
    nodes.push(onnx::node(
        "Gather",
        "g_ang",
        &["events", "ang_idx"],
        &["x_ang"],
        axis1(),
    ));
    nodes.push(onnx::node("Sin", "sin", &["x_ang"], &["u_sin"], vec![]));
    nodes.push(onnx::node("Cos", "cos", &["x_ang"], &["u_cos"], vec![]));
    nodes.push(onnx::node(
        "Concat",
        "cat",
        &["u_log", "u_lin", "u_sin", "u_cos"],
        &["u_raw"],
        vec![onnx::attr_int("axis", -1)],
    ));
    nodes.push(onnx::node(
        "Sub",
        "center",
        &["u_raw", "mean"],
        &["u_c"],
        vec![],
    ));
    nodes.push(onnx::node("Div", "scale", &["u_c", "std"], &["u"], vec![]));
    dense(&mut rng, &mut nodes, &mut inits, "u", "h1", m, 24, true);
    dense(&mut rng, &mut nodes, &mut inits, "h1", "mu", 24, 6, false);
    mu2_head(&mut nodes, &mut inits, "mu");
    finish(
        "preprocessing",
        nodes,
        inits,
        f,
        vec![
            onnx::value_info_f32("score", &[]),
            onnx::value_info_f32("mu", &[6]),
        ],
    )
}

/// Raw events for [`preprocessing`]: positive pt, angles in [-π, π].
pub fn raw_events(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n * 12)
        .map(|i| match i % 12 {
            0 | 3 | 6 | 9 => rng.next().abs() * 200.0,
            2 | 5 | 8 => rng.next() * std::f32::consts::PI,
            _ => rng.next() * 3.0,
        })
        .collect()
}

/// Mahalanobis-style head: z = x·W; min_k Σ_d ((z_d - μ_kd) / σ_kd)².
pub fn mahalanobis(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let (f, d, k) = (10, 4, 5);
    let inits = vec![
        onnx::tensor_f32("w", &[f, d], &rng.vec((f * d) as usize, 0.5)),
        onnx::tensor_i64("shape", &[3], &[0, 1, d]),
        onnx::tensor_f32("centers", &[k, d], &rng.vec((k * d) as usize, 1.0)),
        onnx::tensor_f32(
            "sigma",
            &[k, d],
            &rng.vec((k * d) as usize, 1.0)
                .iter()
                .map(|v| 0.3 + v.abs())
                .collect::<Vec<_>>(),
        ),
        onnx::tensor_i64("axes2", &[1], &[2]),
    ];
    let nodes = vec![
        onnx::node("MatMul", "proj", &["events", "w"], &["z"], vec![]),
        onnx::node("Reshape", "rs", &["z", "shape"], &["z3"], vec![]),
        onnx::node("Sub", "diff", &["z3", "centers"], &["dz"], vec![]),
        onnx::node("Div", "norm", &["dz", "sigma"], &["dn"], vec![]),
        onnx::node("Mul", "sq", &["dn", "dn"], &["d2"], vec![]),
        onnx::node(
            "ReduceSum",
            "dist",
            &["d2", "axes2"],
            &["dist"],
            vec![onnx::attr_int("keepdims", 0)],
        ),
        onnx::node(
            "ReduceMin",
            "closest",
            &["dist"],
            &["score"],
            vec![onnx::attr_ints("axes", &[1]), onnx::attr_int("keepdims", 0)],
        ),
    ];
    finish(
        "mahalanobis",
        nodes,
        inits,
        f as usize,
        vec![onnx::value_info_f32("score", &[])],
    )
}

/// Activations and comparisons: Tanh, Sigmoid, Exp, Abs, Sqrt, Neg, Greater+Cast, Less+Cast,
/// Min, Max, Gemm (transB, alpha, beta), ReduceMax.
pub fn activations(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let f = 9;
    let h = 20;
    let inits = vec![
        onnx::tensor_f32("wt", &[h, f], &rng.vec((h * f) as usize, 0.4)),
        onnx::tensor_f32("c", &[h], &rng.vec(h as usize, 0.2)),
        onnx::tensor_f32("thr", &[h], &rng.vec(h as usize, 0.5)),
        onnx::tensor_f32("cap", &[], &[0.8]),
        onnx::tensor_f32("floor", &[1, h], &rng.vec(h as usize, 0.3)),
        onnx::tensor_i64("axes1", &[1], &[1]),
    ];
    let nodes = vec![
        onnx::node(
            "Gemm",
            "gemm",
            &["events", "wt", "c"],
            &["a"],
            vec![
                onnx::attr_int("transB", 1),
                onnx::attr_float("alpha", 0.5),
                onnx::attr_float("beta", 2.0),
            ],
        ),
        onnx::node("Tanh", "tanh", &["a"], &["t"], vec![]),
        onnx::node("Sigmoid", "sig", &["a"], &["s"], vec![]),
        onnx::node("Exp", "exp", &["t"], &["e"], vec![]),
        onnx::node("Abs", "abs", &["a"], &["ab"], vec![]),
        onnx::node("Sqrt", "sqrt", &["ab"], &["sq"], vec![]),
        onnx::node("Neg", "neg", &["sq"], &["ng"], vec![]),
        onnx::node("Greater", "gt", &["a", "thr"], &["gt"], vec![]),
        onnx::node(
            "Cast",
            "gtf",
            &["gt"],
            &["gtf"],
            vec![onnx::attr_int("to", 1)],
        ),
        onnx::node("Less", "lt", &["t", "s"], &["lt"], vec![]),
        onnx::node(
            "Cast",
            "ltf",
            &["lt"],
            &["ltf"],
            vec![onnx::attr_int("to", 1)],
        ),
        onnx::node("Min", "min", &["e", "cap"], &["mn"], vec![]),
        onnx::node("Max", "max", &["ng", "floor"], &["mx"], vec![]),
        onnx::node("Add", "s1", &["mn", "mx"], &["p1"], vec![]),
        onnx::node("Mul", "s2", &["gtf", "s"], &["p2"], vec![]),
        onnx::node("Add", "s3", &["p1", "p2"], &["p3"], vec![]),
        onnx::node("Add", "s4", &["p3", "ltf"], &["p4"], vec![]),
        onnx::node("Identity", "id", &["p4"], &["p5"], vec![]),
        onnx::node(
            "ReduceSum",
            "sum",
            &["p5", "axes1"],
            &["ssum"],
            vec![onnx::attr_int("keepdims", 1)],
        ),
        onnx::node(
            "ReduceMax",
            "rmax",
            &["p5"],
            &["smax"],
            vec![
                onnx::attr_ints("axes", &[-1]),
                onnx::attr_int("keepdims", 1),
            ],
        ),
        onnx::node("Add", "tot", &["ssum", "smax"], &["tot"], vec![]),
        onnx::node(
            "ReduceSum",
            "flat",
            &["tot", "axes1"],
            &["score"],
            vec![onnx::attr_int("keepdims", 0)],
        ),
    ];
    finish(
        "activations",
        nodes,
        inits,
        f as usize,
        vec![onnx::value_info_f32("score", &[])],
    )
}

/// float16 weights cast to float32 before the MatMul.
pub fn float16(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let (f, h) = (20, 12);
    let inits = vec![
        onnx::tensor_f16("w16", &[f, h], &rng.vec((f * h) as usize, 0.5)),
        onnx::tensor_f16("b16", &[h], &rng.vec(h as usize, 0.5)),
        onnx::tensor_i64("axes1", &[1], &[1]),
    ];
    let nodes = vec![
        onnx::node(
            "Cast",
            "cw",
            &["w16"],
            &["w"],
            vec![onnx::attr_int("to", 1)],
        ),
        onnx::node(
            "Cast",
            "cb",
            &["b16"],
            &["b"],
            vec![onnx::attr_int("to", 1)],
        ),
        onnx::node("MatMul", "mm", &["events", "w"], &["z"], vec![]),
        onnx::node("Add", "bias", &["z", "b"], &["mu"], vec![]),
        onnx::node("Mul", "sq", &["mu", "mu"], &["sq"], vec![]),
        onnx::node(
            "ReduceSum",
            "sum",
            &["sq", "axes1"],
            &["score"],
            vec![onnx::attr_int("keepdims", 0)],
        ),
    ];
    finish(
        "float16",
        nodes,
        inits,
        f as usize,
        vec![
            onnx::value_info_f32("score", &[]),
            onnx::value_info_f32("mu", &[h]),
        ],
    )
}

/// `|a - b| <= 1e-5 |b| + 1e-6`.
pub fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * b.abs() + 1e-6
}

/// Default-bead-model-sized preprocessing: 19 objects × (pt, eta, phi) = 57 raw features;
/// log1p(max(pt, 0)), linear eta, sin/cos(phi) → 76 columns, standardise, 76 → 32 → 16 → 13
/// (μ), score Σμ².
pub fn default_like(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let objects = 19usize;
    let f = 3 * objects;
    let m = 4 * objects;
    let idx = |k: usize| (0..objects).map(|o| (3 * o + k) as i64).collect::<Vec<_>>();
    let n = objects as i64;
    let mut nodes = vec![];
    let mut inits = vec![
        onnx::tensor_i64("log_idx", &[n], &idx(0)),
        onnx::tensor_i64("lin_idx", &[n], &idx(1)),
        onnx::tensor_i64("ang_idx", &[n], &idx(2)),
        onnx::tensor_f32("zero", &[], &[0.0]),
        onnx::tensor_f32("one", &[], &[1.0]),
        onnx::tensor_f32("mean", &[1, m as i64], &rng.vec(m, 1.0)),
        onnx::tensor_f32(
            "std",
            &[m as i64],
            &rng.vec(m, 1.0)
                .iter()
                .map(|v| 0.5 + v.abs())
                .collect::<Vec<_>>(),
        ),
    ];
    let axis1 = || vec![onnx::attr_int("axis", 1)];
    nodes.push(onnx::node(
        "Gather",
        "g_log",
        &["events", "log_idx"],
        &["x_log"],
        axis1(),
    ));
    nodes.push(onnx::node(
        "Max",
        "clip0",
        &["x_log", "zero"],
        &["x_pos"],
        vec![],
    ));
    nodes.push(onnx::node(
        "Add",
        "plus1",
        &["x_pos", "one"],
        &["x_log1"],
        vec![],
    ));
    nodes.push(onnx::node("Log", "log1p", &["x_log1"], &["u_log"], vec![]));
    nodes.push(onnx::node(
        "Gather",
        "g_lin",
        &["events", "lin_idx"],
        &["u_lin"],
        axis1(),
    ));
    nodes.push(onnx::node(
        "Gather",
        "g_ang",
        &["events", "ang_idx"],
        &["x_ang"],
        axis1(),
    ));
    nodes.push(onnx::node("Sin", "sin", &["x_ang"], &["u_sin"], vec![]));
    nodes.push(onnx::node("Cos", "cos", &["x_ang"], &["u_cos"], vec![]));
    nodes.push(onnx::node(
        "Concat",
        "cat",
        &["u_log", "u_lin", "u_sin", "u_cos"],
        &["u_raw"],
        vec![onnx::attr_int("axis", -1)],
    ));
    nodes.push(onnx::node(
        "Sub",
        "center",
        &["u_raw", "mean"],
        &["u_c"],
        vec![],
    ));
    nodes.push(onnx::node("Div", "scale", &["u_c", "std"], &["u"], vec![]));
    dense(&mut rng, &mut nodes, &mut inits, "u", "h1", m, 32, true);
    dense(&mut rng, &mut nodes, &mut inits, "h1", "h2", 32, 16, true);
    dense(&mut rng, &mut nodes, &mut inits, "h2", "mu", 16, 13, false);
    mu2_head(&mut nodes, &mut inits, "mu");
    finish(
        "default_like",
        nodes,
        inits,
        f,
        vec![
            onnx::value_info_f32("score", &[]),
            onnx::value_info_f32("mu", &[13]),
        ],
    )
}

/// Raw events for [`default_like`]: pt in [-50, 500) (some negative, clipped), eta in
/// [-3, 3), phi in [-π, π).
pub fn default_like_events(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n * 57)
        .map(|i| match i % 3 {
            0 => (rng.next() + 1.0) * 275.0 - 50.0,
            1 => rng.next() * 3.0,
            _ => rng.next() * std::f32::consts::PI,
        })
        .collect()
}
