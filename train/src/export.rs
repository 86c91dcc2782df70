//! ONNX export: preprocessing, encoder, (flow, decoder) and one anomaly-score head in one
//! graph, with the model description as JSON metadata.
//!
//! The graph is written node by node from the trained weights with the prost ONNX types of
//! `bead-infer` rather than traced: our graphs use a small, closed operator set (see
//! `docs/DESIGN.md`) that the zero-allocation runtime executes, and writing it directly keeps
//! the file free of tracing artefacts. Round-trip tests compare tract, ONNX Runtime and the
//! runtime against burn's forward pass.

use std::path::Path;

use bead_infer::onnx::{self, pb};
use serde_json::json;

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

/// Builds a graph with unique names.
struct Graph {
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    counter: usize,
    f16: bool,
}

impl Graph {
    fn fresh(&mut self, stem: &str) -> String {
        self.counter += 1;
        format!("{stem}_{}", self.counter)
    }

    /// A float32 constant (preprocessing and score constants stay float32).
    fn constant(&mut self, stem: &str, dims: &[i64], values: &[f32]) -> String {
        let name = self.fresh(stem);
        self.inits.push(onnx::tensor_f32(&name, dims, values));
        name
    }

    /// A network weight: float16 plus a Cast in f16 mode, float32 otherwise.
    fn weight(&mut self, stem: &str, dims: &[i64], values: &[f32]) -> String {
        if !self.f16 {
            return self.constant(stem, dims, values);
        }
        let half = self.fresh(&format!("{stem}_f16"));
        self.inits.push(onnx::tensor_f16(&half, dims, values));
        let out = self.fresh(stem);
        let node_name = self.fresh("cast");
        self.nodes.push(onnx::node(
            "Cast",
            &node_name,
            &[&half],
            &[&out],
            vec![onnx::attr_int(
                "to",
                pb::tensor_proto::DataType::Float as i64,
            )],
        ));
        out
    }

    fn ints(&mut self, stem: &str, values: &[i64]) -> String {
        let name = self.fresh(stem);
        self.inits
            .push(onnx::tensor_i64(&name, &[values.len() as i64], values));
        name
    }

    fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> String {
        let out = self.fresh(&op.to_lowercase());
        let name = self.fresh(&format!("{op}_node"));
        self.nodes
            .push(onnx::node(op, &name, inputs, &[&out], attrs));
        out
    }

    fn scalar(&mut self, stem: &str, v: f32) -> String {
        self.constant(stem, &[1], &[v])
    }

    fn gemm(&mut self, x: &str, w: &[f32], rows: usize, cols: usize, b: &[f32]) -> String {
        let wn = self.weight("w", &[rows as i64, cols as i64], w);
        let bn = self.weight("b", &[cols as i64], b);
        self.op("Gemm", &[x, &wn, &bn], vec![])
    }

    fn reduce_sum(&mut self, x: &str, axis: i64, keepdims: bool) -> String {
        let axes = self.ints("axes", &[axis]);
        self.op(
            "ReduceSum",
            &[x, &axes],
            vec![onnx::attr_int("keepdims", keepdims as i64)],
        )
    }

    fn linear(&mut self, x: &str, layer: &burn::nn::Linear) -> String {
        let [rows, cols] = layer.weight.dims();
        let w = to_vec(layer.weight.val());
        let b = layer
            .bias
            .as_ref()
            .map(|b| to_vec(b.val()))
            .unwrap_or_else(|| vec![0.0; cols]);
        self.gemm(x, &w, rows, cols, &b)
    }

    fn mlp(&mut self, x: &str, mlp: &Mlp, relu_last: bool) -> String {
        let mut h = x.to_string();
        let n = mlp.layers.len();
        for (i, layer) in mlp.layers.iter().enumerate() {
            h = self.linear(&h, layer);
            if relu_last || i + 1 < n {
                h = self.op("Relu", &[&h], vec![]);
            }
        }
        h
    }

    fn gather(&mut self, x: &str, idx: &[usize]) -> String {
        let i: Vec<i64> = idx.iter().map(|&v| v as i64).collect();
        let name = self.ints("idx", &i);
        self.op("Gather", &[x, &name], vec![onnx::attr_int("axis", 1)])
    }
}

/// Flow on z in the graph; returns (z_K, Σ log|det J| as [N]) or None without a flow.
fn flow_graph(g: &mut Graph, model: &BeadVae, z0: &str) -> Option<(String, String)> {
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
        let neg_wu = g.scalar("neg_wu", -wu);
        let t = g.op("Mul", &[&h2, &neg_wu], vec![]);
        let one_wu = g.scalar("one_plus_wu", 1.0 + wu);
        let det = g.op("Add", &[&t, &one_wu], vec![]);
        logdets.push(log_abs_sum(g, &det));
    }
    for f in &model.sylvester {
        let (a, b, diag) = f.matrices();
        let d = diag.dims()[0];
        let (a, b, diag) = (to_vec(a), to_vec(b), to_vec(diag));
        let bias = to_vec(f.b.val());
        let pre = g.gemm(&z, &a, d, d, &bias);
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
        let h = g.gemm(&z, &w1, d, hd, &to_vec(step.b1.val()));
        let h = g.op("Relu", &[&h], vec![]);
        let m = g.gemm(&h, &wm, hd, d, &to_vec(step.bm.val()));
        let s = g.gemm(&h, &ws, hd, d, &to_vec(step.bs.val()));
        let gate = g.op("Sigmoid", &[&s], vec![]);
        // σ z + (1 − σ) m = m + σ (z − m)
        let zm = g.op("Sub", &[&z, &m], vec![]);
        let gz = g.op("Mul", &[&gate, &zm], vec![]);
        z = g.op("Add", &[&m, &gz], vec![]);
        // log σ(s) = min(s, 0) − log(1 + exp(−|s|)): finite for every s, unlike Log(Sigmoid(s)),
        // which is −∞ once σ(s) underflows (s < −103), exactly for the most anomalous events.
        let zero = g.scalar("zero", 0.0);
        let lo = g.op("Min", &[&s, &zero], vec![]);
        let a = g.op("Abs", &[&s], vec![]);
        let na = g.op("Neg", &[&a], vec![]);
        let e = g.op("Exp", &[&na], vec![]);
        let one = g.scalar("one", 1.0);
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

/// Σ_j log(|x_j| + 1e-8) over the last axis, as [N] (matches the burn forward pass).
fn log_abs_sum(g: &mut Graph, x: &str) -> String {
    let a = g.op("Abs", &[x], vec![]);
    let eps = g.scalar("eps", 1e-8);
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
    let mut g = Graph {
        nodes: Vec::new(),
        inits: Vec::new(),
        counter: 0,
        f16: opts.f16,
    };
    // Preprocessing: gather column groups, transform, concatenate, standardise.
    let mut parts = Vec::new();
    if !pre.log1p.is_empty() {
        let x = g.gather("events", &pre.log1p);
        let zero = g.scalar("zero", 0.0);
        let x = g.op("Max", &[&x, &zero], vec![]);
        let one = g.scalar("one", 1.0);
        let x = g.op("Add", &[&x, &one], vec![]);
        parts.push(g.op("Log", &[&x], vec![]));
    }
    if !pre.linear.is_empty() {
        parts.push(g.gather("events", &pre.linear));
    }
    if !pre.angle.is_empty() {
        let a = g.gather("events", &pre.angle);
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

    let h = g.mlp(&u, &model.encoder, true);
    let mu = g.linear(&h, &model.mu);
    let d = manifest.config.model.latent;
    let score = match head {
        ScoreHead::Mu2 => {
            let sq = g.op("Mul", &[&mu, &mu], vec![]);
            g.reduce_sum(&sq, 1, false)
        }
        ScoreHead::Kl => {
            let lv = g.linear(&h, &model.logvar);
            let sq = g.op("Mul", &[&mu, &mu], vec![]);
            let ev = g.op("Exp", &[&lv], vec![]);
            let t = g.op("Add", &[&sq, &ev], vec![]);
            let t = g.op("Sub", &[&t, &lv], vec![]);
            let one = g.scalar("one", 1.0);
            let t = g.op("Sub", &[&t, &one], vec![]);
            let s = g.reduce_sum(&t, 1, false);
            let half = g.scalar("half", 0.5);
            g.op("Mul", &[&s, &half], vec![])
        }
        ScoreHead::Cluster => {
            let stats = &manifest.latent_stats;
            let k = stats.len();
            // Y[:, k·D + i] = Σ_j W_k[i, j] (μ_j − c_k,j): μ is repeated K times and the
            // centroids subtracted before whitening, so nothing large cancels afterwards.
            let repeat: Vec<usize> = (0..k).flat_map(|_| 0..d).collect();
            let rep = g.gather(&mu, &repeat);
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
            let shape = g.ints("shape", &[-1, k as i64, d as i64]);
            let r = g.op("Reshape", &[&y2, &shape], vec![]);
            let dist = g.reduce_sum(&r, 2, false);
            g.op(
                "ReduceMin",
                &[&dist],
                vec![onnx::attr_ints("axes", &[1]), onnx::attr_int("keepdims", 0)],
            )
        }
        ScoreHead::FlowNll => {
            let (zk, logdet) = flow_graph(&mut g, model, &mu)
                .ok_or_else(|| Error::Config("flow_nll needs a flow model".into()))?;
            let sq = g.op("Mul", &[&zk, &zk], vec![]);
            let s = g.reduce_sum(&sq, 1, false);
            let half = g.scalar("half", 0.5);
            let s = g.op("Mul", &[&s, &half], vec![]);
            let c = (d as f64 * 0.5 * (2.0 * std::f64::consts::PI).ln()) as f32;
            let cn = g.scalar("log_norm", c);
            let s = g.op("Add", &[&s, &cn], vec![]);
            g.op("Sub", &[&s, &logdet], vec![])
        }
        ScoreHead::Recon => {
            let z = match flow_graph(&mut g, model, &mu) {
                Some((zk, _)) => zk,
                None => mu.clone(),
            };
            let xhat = g.mlp(&z, &model.decoder, false);
            let diff = g.op("Sub", &[&xhat, &u], vec![]);
            let sq = g.op("Mul", &[&diff, &diff], vec![]);
            let mask = mask_graph(&mut g, manifest);
            let num = g.op("Mul", &[&sq, &mask], vec![]);
            let num = g.reduce_sum(&num, 1, false);
            let den = g.reduce_sum(&mask, 1, false);
            let one = g.scalar("one", 1.0);
            let den = g.op("Max", &[&den, &one], vec![]);
            g.op("Div", &[&num, &den], vec![])
        }
    };
    g.nodes.push(onnx::node(
        "Identity",
        "score_out",
        &[&score],
        &["score"],
        vec![],
    ));
    let mut outputs = vec![onnx::value_info_f32("score", &[])];
    if opts.with_mu {
        g.nodes
            .push(onnx::node("Identity", "mu_out", &[&mu], &["mu"], vec![]));
        outputs.push(onnx::value_info_f32("mu", &[d as i64]));
    }
    let meta = metadata(manifest, head, opts);
    let graph = pb::GraphProto {
        name: format!("bead_{}_{}", manifest.config.model.kind.name(), head.name()),
        node: g.nodes,
        initializer: g.inits,
        input: vec![onnx::value_info_f32("events", &[pre.num_features() as i64])],
        output: outputs,
        ..Default::default()
    };
    Ok(onnx::model(graph, &[(onnx::METADATA_KEY, meta.as_str())]))
}

/// Per model input, 1 where its object is present (any raw column non-zero), else 0.
fn mask_graph(g: &mut Graph, manifest: &ModelManifest) -> String {
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
    let a = g.op("Abs", &["events"], vec![]);
    let mn = g.constant("object_membership", &[f as i64, n_obj as i64], &membership);
    let s = g.op("MatMul", &[&a, &mn], vec![]);
    let zero = g.scalar("zero", 0.0);
    let present = g.op("Greater", &[&s, &zero], vec![]);
    let present = g.op(
        "Cast",
        &[&present],
        vec![onnx::attr_int(
            "to",
            pb::tensor_proto::DataType::Float as i64,
        )],
    );
    let sn = g.constant("object_to_inputs", &[n_obj as i64, m as i64], &spread);
    let mask = g.op("MatMul", &[&present, &sn], vec![]);
    let an = g.constant("ungrouped_inputs", &[m as i64], &always);
    g.op("Add", &[&mask, &an], vec![])
}

/// The `bead` metadata JSON (see `bead_infer::ModelInfo`).
pub fn metadata(manifest: &ModelManifest, head: ScoreHead, opts: &ExportOptions) -> String {
    // Thresholds were calibrated on the float32 graph; a float16 file scores slightly
    // differently, so it gets none until `bead calibrate` measures it on itself.
    let thresholds = if opts.f16 {
        Vec::new()
    } else {
        manifest
            .thresholds
            .get(head.name())
            .cloned()
            .unwrap_or_default()
    };
    let mut outputs = vec!["score"];
    if opts.with_mu {
        outputs.push("mu");
    }
    json!({
        "format": 1,
        "bead_version": env!("CARGO_PKG_VERSION"),
        "features": manifest.preprocessing.features,
        "score": head.name(),
        "model": manifest.config.model.kind.name(),
        "latent_dim": manifest.config.model.latent,
        "sources": manifest.sources,
        "preprocessing": manifest.preprocessing,
        "thresholds": thresholds,
        "config_hash": manifest.config_hash,
        "outputs": outputs,
        "weights": if opts.f16 { "float16" } else { "float32" },
    })
    .to_string()
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
