//! NaN semantics of ONNX Runtime through whole plans: a NaN made inside the graph (here by
//! `Log` of a negative input) comes out of `Relu`, `Max`, `Min` and `Clip` (lowered as `Max`
//! then `Min`) as NaN, on every kernel, single and batch; finite inputs give the explicit
//! expected values.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use bead_infer::Model;
use bead_infer::onnx::{self, GraphBuilder};
use bead_testkit::models::metadata;

/// `score = Σ op(log(x))` over 4 features, `op` one of `relu`, `max`, `min`, `clip` (bounds
/// −0.5 and 0.5 against scalar constants), or `gemm_relu` (`Gemm` with identity weights, then
/// `Relu`: the fused gemv).
fn model(op: &str) -> Vec<u8> {
    let f = 4;
    let mut g = GraphBuilder::new(op, f);
    let lo = g.constant("lo", &[], &[-0.5]);
    let hi = g.constant("hi", &[], &[0.5]);
    let log = g.op("Log", &[onnx::EVENTS], vec![]);
    let y = match op {
        "relu" => g.op("Relu", &[&log], vec![]),
        "max" => g.op("Max", &[&log, &lo], vec![]),
        "min" => g.op("Min", &[&hi, &log], vec![]),
        "clip" => {
            let y = g.op("Max", &[&log, &lo], vec![]);
            g.op("Min", &[&y, &hi], vec![])
        }
        _ => {
            let eye: Vec<f32> = (0..16)
                .map(|i| if i % 5 == 0 { 1.0 } else { 0.0 })
                .collect();
            let w = g.constant("eye", &[4, 4], &eye);
            let y = g.op("Gemm", &[&log, &w], vec![]);
            g.op("Relu", &[&y], vec![])
        }
    };
    let score = g.reduce_sum(&y, 1, false);
    g.output(onnx::SCORE, &score, &[]);
    onnx::encode_model(&g.into_model(&metadata(f)))
}

fn expected(op: &str, x: &[f32]) -> f32 {
    x.iter()
        .map(|v| {
            let l = v.ln();
            match op {
                "relu" | "gemm_relu" => l.max(0.0),
                "max" => l.max(-0.5),
                "min" => l.min(0.5),
                _ => l.clamp(-0.5, 0.5),
            }
        })
        .sum()
}

#[test]
fn nan_comes_out_of_relu_max_min_and_clip() {
    let finite = [0.3f32, 2.0, 1.0, 7.5];
    let negative = [0.3f32, -2.0, 1.0, 7.5];
    for op in ["relu", "max", "min", "clip", "gemm_relu"] {
        let model = Model::from_bytes(&model(op), op).unwrap();
        for kernel in bead_infer::available_kernels() {
            let m = model.with_kernel(kernel).unwrap();
            let mut s = m.session();
            let want = expected(op, &finite);
            let got = s.score(&finite).unwrap();
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "{op} [{kernel}]: {got} vs {want}"
            );
            let got = s.score(&negative).unwrap();
            assert!(got.is_nan(), "{op} [{kernel}]: NaN in, {got} out");
            let events: Vec<f32> = [finite, negative, negative, finite].concat();
            let mut out = [0.0; 4];
            s.score_batch(&events, &mut out).unwrap();
            assert!(!out[0].is_nan() && out[1].is_nan() && out[2].is_nan() && !out[3].is_nan());
        }
    }
}

/// The models above as files, for a check with ONNX Runtime (`$BEAD_NAN_DIR`).
#[test]
#[ignore = "writes files; run with --ignored"]
fn write_nan_models() {
    let dir = std::path::PathBuf::from(std::env::var_os("BEAD_NAN_DIR").unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    for op in ["relu", "max", "min", "clip", "gemm_relu"] {
        std::fs::write(dir.join(format!("{op}.onnx")), model(op)).unwrap();
    }
}
