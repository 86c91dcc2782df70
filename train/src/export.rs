//! ONNX export: preprocessing, encoder, (flow, decoder) and one anomaly-score head in one
//! graph, with the model description as JSON metadata.
//!
//! The graph is written node by node from the trained weights with
//! `bead_infer::onnx::GraphBuilder` rather than traced: our graphs use a small, closed
//! operator set (see `docs/DESIGN.md`) that the zero-allocation runtime executes, and writing
//! it directly keeps the file free of tracing artefacts. The metadata is the contract type
//! `bead_infer::ModelMetadata` that the runtime reads. Round-trip tests compare tract, ONNX Runtime and the
//! runtime against burn's forward pass.

use std::path::Path;

use bead_infer::contract::{ModelMetadata, WeightPrecision};
use bead_infer::onnx::{self, GraphBuilder, pb};

use crate::error::{Error, Result};
use crate::manifest::{ModelManifest, TrainedModel};
use crate::model::{BeadVae, Mlp, ScoreHead, to_vec};

/// Export options.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Score head.
    pub score: ScoreHead,
    /// Also output the latent mean `mu` [N, D].
    pub with_mu: bool,
    /// Store network weights as float16 (converted to float32 at load).
    pub f16: bool,
}

/// A float32 constant of shape `[1]` (broadcast against any per-event tensor).
fn scalar(g: &mut GraphBuilder, stem: &str, v: f32) -> String {
    g.constant(stem, &[1], &[v])
}

/// `x · W + b` with `W` `[rows, cols]` row-major, both stored as network weights.
fn gemm(g: &mut GraphBuilder, x: &str, w: &[f32], rows: usize, cols: usize, b: &[f32]) -> String {
    let wn = g.weight("w", &[rows as i64, cols as i64], w);
    let bn = g.weight("b", &[cols as i64], b);
    g.op("Gemm", &[x, &wn, &bn], vec![])
}

/// A burn `Linear` layer as a Gemm.
fn linear(g: &mut GraphBuilder, x: &str, layer: &burn::nn::Linear) -> String {
    let [rows, cols] = layer.weight.dims();
    let w = to_vec(layer.weight.val());
    let b = layer
        .bias
        .as_ref()
        .map(|b| to_vec(b.val()))
        .unwrap_or_else(|| vec![0.0; cols]);
    gemm(g, x, &w, rows, cols, &b)
}

/// The layers of `mlp`, ReLU between them (and after the last when `relu_last`).
fn mlp(g: &mut GraphBuilder, x: &str, mlp: &Mlp, relu_last: bool) -> String {
    let mut h = x.to_string();
    let n = mlp.layers.len();
    for (i, layer) in mlp.layers.iter().enumerate() {
        h = linear(g, &h, layer);
        if relu_last || i + 1 < n {
            h = g.op("Relu", &[&h], vec![]);
        }
    }
    h
}

/// Flow on z in the graph; returns (z_K, Σ log|det J| as `[N]`) or None without a flow.
fn flow_graph(g: &mut GraphBuilder, model: &BeadVae, z0: &str) -> Option<(String, String)> {
    if model.planar.is_empty() && model.sylvester.is_empty() && model.iaf.is_empty() {
        return None;
    }
    let mut z = z0.to_string();
    let mut logdets = Vec::new();
    for f in &model.planar {
        let d = f.w.dims()[0];
        let w = to_vec(f.w.val());
        let u_hat = to_vec(f.u_hat());
        let b = to_vec(f.b.val());
        let wu: f32 = w.iter().zip(&u_hat).map(|(a, b)| a * b).sum();
        let wn = g.weight("planar_w", &[d as i64, 1], &w);
        let bn = g.weight("planar_b", &[1], &b);
        let a = g.op("Gemm", &[&z, &wn, &bn], vec![]);
        let h = g.op("Tanh", &[&a], vec![]);
        let un = g.weight("planar_u", &[1, d as i64], &u_hat);
        let shift = g.op("MatMul", &[&h, &un], vec![]);
        z = g.op("Add", &[&z, &shift], vec![]);
        // 1 + wᵀû (1 − h²) = (1 + wᵀû) − wᵀû h²
        let h2 = g.op("Mul", &[&h, &h], vec![]);
        let neg_wu = scalar(g, "neg_wu", -wu);
        let t = g.op("Mul", &[&h2, &neg_wu], vec![]);
        let one_wu = scalar(g, "one_plus_wu", 1.0 + wu);
        let det = g.op("Add", &[&t, &one_wu], vec![]);
        logdets.push(log_abs_sum(g, &det));
    }
    for f in &model.sylvester {
        let (a, b, diag) = f.matrices();
        let d = diag.dims()[0];
        let (a, b, diag) = (to_vec(a), to_vec(b), to_vec(diag));
        let bias = to_vec(f.b.val());
        let pre = gemm(g, &z, &a, d, d, &bias);
        let h = g.op("Tanh", &[&pre], vec![]);
        let bn = g.weight("sylvester_b", &[d as i64, d as i64], &b);
        let shift = g.op("MatMul", &[&h, &bn], vec![]);
        z = g.op("Add", &[&z, &shift], vec![]);
        // 1 + diag (1 − h²) = (1 + diag) − diag h²
        let h2 = g.op("Mul", &[&h, &h], vec![]);
        let neg: Vec<f32> = diag.iter().map(|v| -v).collect();
        let negn = g.constant("neg_diag", &[d as i64], &neg);
        let t = g.op("Mul", &[&h2, &negn], vec![]);
        let one: Vec<f32> = diag.iter().map(|v| 1.0 + v).collect();
        let onen = g.constant("one_plus_diag", &[d as i64], &one);
        let det = g.op("Add", &[&t, &onen], vec![]);
        logdets.push(log_abs_sum(g, &det));
    }
    for step in &model.iaf {
        let (w1, wm, ws) = step.masked();
        let [d, hd] = w1.dims();
        let (w1, wm, ws) = (to_vec(w1), to_vec(wm), to_vec(ws));
        let h = gemm(g, &z, &w1, d, hd, &to_vec(step.b1.val()));
        let h = g.op("Relu", &[&h], vec![]);
        let m = gemm(g, &h, &wm, hd, d, &to_vec(step.bm.val()));
        let s = gemm(g, &h, &ws, hd, d, &to_vec(step.bs.val()));
        let gate = g.op("Sigmoid", &[&s], vec![]);
        // σ z + (1 − σ) m = m + σ (z − m)
        let zm = g.op("Sub", &[&z, &m], vec![]);
        let gz = g.op("Mul", &[&gate, &zm], vec![]);
        z = g.op("Add", &[&m, &gz], vec![]);
        // log σ(s) = min(s, 0) − log(1 + exp(−|s|)): finite for every s, unlike Log(Sigmoid(s)),
        // which is −∞ once σ(s) underflows (s < −103), exactly for the most anomalous events.
        let zero = scalar(g, "zero", 0.0);
        let lo = g.op("Min", &[&s, &zero], vec![]);
        let a = g.op("Abs", &[&s], vec![]);
        let na = g.op("Neg", &[&a], vec![]);
        let e = g.op("Exp", &[&na], vec![]);
        let one = scalar(g, "one", 1.0);
        let e1 = g.op("Add", &[&e, &one], vec![]);
        let l = g.op("Log", &[&e1], vec![]);
        let lg = g.op("Sub", &[&lo, &l], vec![]);
        logdets.push(g.reduce_sum(&lg, 1, false));
    }
    let mut total = logdets.first()?.clone();
    for ld in logdets.iter().skip(1) {
        total = g.op("Add", &[&total, ld], vec![]);
    }
    Some((z, total))
}

/// Σ_j log(|x_j| + 1e-8) over the last axis, as `[N]` (matches the burn forward pass).
fn log_abs_sum(g: &mut GraphBuilder, x: &str) -> String {
    let a = g.op("Abs", &[x], vec![]);
    let eps = scalar(g, "eps", 1e-8);
    let a = g.op("Add", &[&a, &eps], vec![]);
    let l = g.op("Log", &[&a], vec![]);
    g.reduce_sum(&l, 1, false)
}

/// Build the ONNX model for a trained model directory.
pub fn export_model(trained: &TrainedModel, opts: &ExportOptions) -> Result<pb::ModelProto> {
    let manifest = &trained.manifest;
    let model = &trained.model;
    let head = opts.score;
    if !ScoreHead::available(manifest).contains(&head) {
        return Err(Error::Config(format!(
            "score head {} is not available for a {} model (available: {})",
            head.name(),
            manifest.config.model.kind.name(),
            ScoreHead::available(manifest)
                .iter()
                .map(|h| h.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let pre = &manifest.preprocessing;
    let weights = if opts.f16 {
        WeightPrecision::Float16
    } else {
        WeightPrecision::Float32
    };
    let name = format!("bead_{}_{}", manifest.config.model.kind.name(), head.name());
    let mut builder = GraphBuilder::new(&name, pre.num_features()).with_weight_precision(weights);
    let g = &mut builder;
    // Preprocessing: gather column groups, transform, concatenate, standardise.
    let mut parts = Vec::new();
    if !pre.log1p.is_empty() {
        let x = g.gather_columns(onnx::EVENTS, &pre.log1p);
        let zero = scalar(g, "zero", 0.0);
        let x = g.op("Max", &[&x, &zero], vec![]);
        let one = scalar(g, "one", 1.0);
        let x = g.op("Add", &[&x, &one], vec![]);
        parts.push(g.op("Log", &[&x], vec![]));
    }
    if !pre.linear.is_empty() {
        parts.push(g.gather_columns(onnx::EVENTS, &pre.linear));
    }
    if !pre.angle.is_empty() {
        let a = g.gather_columns(onnx::EVENTS, &pre.angle);
        parts.push(g.op("Sin", &[&a], vec![]));
        parts.push(g.op("Cos", &[&a], vec![]));
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let u = g.op("Concat", &refs, vec![onnx::attr_int("axis", 1)]);
    let m = pre.num_inputs() as i64;
    let mean = g.constant("mean", &[m], &pre.mean);
    let u = g.op("Sub", &[&u, &mean], vec![]);
    let scale = g.constant("scale", &[m], &pre.scale);
    let u = g.op("Div", &[&u, &scale], vec![]);

    let h = mlp(g, &u, &model.encoder, true);
    let mu = linear(g, &h, &model.mu);
    let d = manifest.config.model.latent;
    let score = match head {
        ScoreHead::Mu2 => {
            let sq = g.op("Mul", &[&mu, &mu], vec![]);
            g.reduce_sum(&sq, 1, false)
        }
        ScoreHead::Kl => {
            let lv = linear(g, &h, &model.logvar);
            let sq = g.op("Mul", &[&mu, &mu], vec![]);
            let ev = g.op("Exp", &[&lv], vec![]);
            let t = g.op("Add", &[&sq, &ev], vec![]);
            let t = g.op("Sub", &[&t, &lv], vec![]);
            let one = scalar(g, "one", 1.0);
            let t = g.op("Sub", &[&t, &one], vec![]);
            let s = g.reduce_sum(&t, 1, false);
            let half = scalar(g, "half", 0.5);
            g.op("Mul", &[&s, &half], vec![])
        }
        ScoreHead::Cluster => {
            let stats = &manifest.latent_stats;
            let k = stats.len();
            // Y[:, k·D + i] = Σ_j W_k[i, j] (μ_j − c_k,j): μ is repeated K times and the
            // centroids subtracted before whitening, so nothing large cancels afterwards.
            let repeat: Vec<usize> = (0..k).flat_map(|_| 0..d).collect();
            let rep = g.gather_columns(&mu, &repeat);
            let centers: Vec<f32> = stats
                .iter()
                .flat_map(|s| s.center.iter().copied())
                .collect();
            let cn = g.constant("centers", &[(k * d) as i64], &centers);
            let diff = g.op("Sub", &[&rep, &cn], vec![]);
            let mut block = vec![0f32; k * d * k * d];
            for (s_i, s) in stats.iter().enumerate() {
                for i in 0..d {
                    for j in 0..d {
                        block[(s_i * d + j) * (k * d) + s_i * d + i] = s.whiten[i * d + j];
                    }
                }
            }
            let wn = g.constant("whiten", &[(k * d) as i64, (k * d) as i64], &block);
            let y = g.op("MatMul", &[&diff, &wn], vec![]);
            let y2 = g.op("Mul", &[&y, &y], vec![]);
            let shape = g.constant_i64("shape", &[3], &[-1, k as i64, d as i64]);
            let r = g.op("Reshape", &[&y2, &shape], vec![]);
            let dist = g.reduce_sum(&r, 2, false);
            g.op(
                "ReduceMin",
                &[&dist],
                vec![onnx::attr_ints("axes", &[1]), onnx::attr_int("keepdims", 0)],
            )
        }
        ScoreHead::FlowNll => {
            let (zk, logdet) = flow_graph(g, model, &mu)
                .ok_or_else(|| Error::Config("flow_nll needs a flow model".into()))?;
            let sq = g.op("Mul", &[&zk, &zk], vec![]);
            let s = g.reduce_sum(&sq, 1, false);
            let half = scalar(g, "half", 0.5);
            let s = g.op("Mul", &[&s, &half], vec![]);
            let c = (d as f64 * 0.5 * (2.0 * std::f64::consts::PI).ln()) as f32;
            let cn = scalar(g, "log_norm", c);
            let s = g.op("Add", &[&s, &cn], vec![]);
            g.op("Sub", &[&s, &logdet], vec![])
        }
        ScoreHead::Recon => {
            let z = match flow_graph(g, model, &mu) {
                Some((zk, _)) => zk,
                None => mu.clone(),
            };
            let xhat = mlp(g, &z, &model.decoder, false);
            let diff = g.op("Sub", &[&xhat, &u], vec![]);
            let sq = g.op("Mul", &[&diff, &diff], vec![]);
            let mask = mask_graph(g, manifest);
            let num = g.op("Mul", &[&sq, &mask], vec![]);
            let num = g.reduce_sum(&num, 1, false);
            let den = g.reduce_sum(&mask, 1, false);
            let one = scalar(g, "one", 1.0);
            let den = g.op("Max", &[&den, &one], vec![]);
            g.op("Div", &[&num, &den], vec![])
        }
    };
    g.output(onnx::SCORE, &score, &[]);
    if opts.with_mu {
        g.output(onnx::MU, &mu, &[d as i64]);
    }
    let meta = metadata(manifest, head, opts)?;
    Ok(builder.into_model(&meta))
}

/// Per model input, 1 where its object is present (any raw column non-zero), else 0.
fn mask_graph(g: &mut GraphBuilder, manifest: &ModelManifest) -> String {
    let pre = &manifest.preprocessing;
    let f = pre.num_features();
    let m = pre.num_inputs();
    let n_obj = pre.objects.len().max(1);
    let of = pre.object_of_feature();
    let mut membership = vec![0f32; f * n_obj];
    for (i, o) in of.iter().enumerate() {
        if let Some(o) = o {
            membership[i * n_obj + o] = 1.0;
        }
    }
    let sources = pre.input_sources();
    let mut spread = vec![0f32; n_obj * m];
    let mut always = vec![0f32; m];
    for (c, &src) in sources.iter().enumerate() {
        match of[src] {
            Some(o) => spread[o * m + c] = 1.0,
            None => always[c] = 1.0,
        }
    }
    let a = g.op("Abs", &[onnx::EVENTS], vec![]);
    let mn = g.constant("object_membership", &[f as i64, n_obj as i64], &membership);
    let s = g.op("MatMul", &[&a, &mn], vec![]);
    let zero = scalar(g, "zero", 0.0);
    let present = g.op("Greater", &[&s, &zero], vec![]);
    let present = g.cast_to_float(&present, "present");
    let sn = g.constant("object_to_inputs", &[n_obj as i64, m as i64], &spread);
    let mask = g.op("MatMul", &[&present, &sn], vec![]);
    let an = g.constant("ungrouped_inputs", &[m as i64], &always);
    g.op("Add", &[&mask, &an], vec![])
}

/// The `bead` metadata of an exported file (the contract type the runtime reads).
pub fn metadata(
    manifest: &ModelManifest,
    head: ScoreHead,
    opts: &ExportOptions,
) -> Result<ModelMetadata> {
    let mut meta = ModelMetadata::new(manifest.preprocessing.features.clone());
    meta.score = head.name().to_owned();
    meta.model = manifest.config.model.kind.name().to_owned();
    meta.latent_dim = manifest.config.model.latent;
    meta.sources = manifest.sources.clone();
    meta.preprocessing =
        serde_json::to_value(&manifest.preprocessing).map_err(|source| Error::Serialize {
            what: "preprocessing",
            source,
        })?;
    // Thresholds were calibrated on the float32 graph; a float16 file scores slightly
    // differently, so it gets none until `bead calibrate` measures it on itself.
    if opts.f16 {
        meta.weights = WeightPrecision::Float16;
    } else {
        meta.thresholds = manifest
            .thresholds
            .get(head.name())
            .cloned()
            .unwrap_or_default();
    }
    meta.config_hash = manifest.config_hash.clone();
    if opts.with_mu {
        meta.outputs.push(onnx::MU.to_owned());
    }
    Ok(meta)
}

/// Export and write `path`.
pub fn export_to_file(trained: &TrainedModel, opts: &ExportOptions, path: &Path) -> Result<()> {
    let proto = export_model(trained, opts)?;
    let bytes = onnx::encode_model(&proto);
    crate::manifest::write_atomic(path, &bytes)
}

/// Export the model of a directory with a head, to bytes (for tests and calibration).
pub fn export_bytes(dir: &Path, opts: &ExportOptions) -> Result<Vec<u8>> {
    let trained = TrainedModel::load(dir)?;
    Ok(onnx::encode_model(&export_model(&trained, opts)?))
}
