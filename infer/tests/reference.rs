//! Our plan against tract's evaluator on models built with the ONNX builders.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use bead_infer::Model;
use bead_testkit::Rng;
use bead_testkit::models::*;

fn check(name: &str, bytes: &[u8], events: &[f32], with_mu: bool) {
    let model = Model::from_bytes(bytes, name).unwrap();
    let f = model.num_features();
    let n = events.len() / f;
    let reference = model.reference().unwrap();
    let outs = reference.run_outputs(events, n).unwrap();
    let want = &outs.iter().find(|(k, _)| k == "score").unwrap().1;
    let want_mu = outs.iter().find(|(k, _)| k == "mu").map(|(_, v)| v.clone());
    assert_eq!(reference.run(events, n).unwrap(), *want);
    for kernel in bead_infer::available_kernels() {
        let m = model.with_kernel(kernel).unwrap();
        let mut session = m.session();
        let mut batch = vec![0.0; n];
        session.score_batch(events, &mut batch).unwrap();
        let mut mu = vec![0.0; m.latent_dim()];
        for (i, row) in events.chunks_exact(f).enumerate() {
            let s = session.score(row).unwrap();
            assert!(
                close(s, want[i]),
                "{name} [{kernel}] event {i}: ours {s} vs tract {}",
                want[i]
            );
            assert_eq!(
                s.to_bits(),
                batch[i].to_bits(),
                "{name}: batch differs from single"
            );
            if with_mu {
                let s2 = session.score_with_latent(row, &mut mu).unwrap();
                assert_eq!(s2.to_bits(), s.to_bits());
                let d = mu.len();
                let want_mu = &want_mu.as_ref().unwrap()[i * d..(i + 1) * d];
                // Components can cancel: tolerance relative to the row's scale.
                let scale = want_mu.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                for (a, b) in mu.iter().zip(want_mu) {
                    assert!(
                        (a - b).abs() <= 1e-5 * scale + 1e-6,
                        "{name} [{kernel}] mu: {a} vs {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn axol1tl_matches_tract() {
    let mut rng = Rng::new(7);
    let ev = events(&mut rng, 300, 57);
    check("axol1tl", &axol1tl(1), &ev, true);
    let model = Model::from_bytes(&axol1tl(1), "axol1tl").unwrap();
    assert_eq!(model.latent_dim(), 13);
    assert_eq!(model.num_features(), 57);
    assert_eq!(model.info().threshold_for_fpr(1e-3), Some(12.5));
    // Standardisation folded into the first gemv, bias and ReLU fused, Σμ² fused: three gemvs
    // and one reduction, which run as one chain.
    assert!(format!("{model:?}").contains("steps: 1"), "{model:?}");
}

#[test]
fn preprocessing_matches_tract() {
    let mut rng = Rng::new(8);
    let ev = raw_events(&mut rng, 300);
    check("preprocessing", &preprocessing(2), &ev, true);
}

#[test]
fn mahalanobis_matches_tract() {
    let mut rng = Rng::new(9);
    let ev = rng.uniform_vec(300 * 10, 3.0);
    check("mahalanobis", &mahalanobis(3), &ev, false);
}

#[test]
fn activations_match_tract() {
    let mut rng = Rng::new(10);
    let ev = rng.uniform_vec(300 * 9, 2.0);
    check("activations", &activations(4), &ev, false);
}

#[test]
fn float16_initializers_match_tract() {
    let mut rng = Rng::new(11);
    let ev = rng.uniform_vec(300 * 20, 1.0);
    check("float16", &float16(5), &ev, true);
}

#[test]
fn load_from_file_and_model_is_send_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Model>();
    let dir = bead_testkit::temp_dir("infer-load");
    let path = dir.path().join("axol.onnx");
    std::fs::write(&path, axol1tl(1)).unwrap();
    let model = Model::load(&path).unwrap();
    assert_eq!(model.name(), path.display().to_string());
    let mut s = model.session();
    assert!(s.score(&[0.5; 57]).unwrap().is_finite());
}

#[test]
fn default_like_matches_tract() {
    let mut rng = Rng::new(12);
    let ev = default_like_events(&mut rng, 300);
    check("default_like", &default_like(6), &ev, true);
}

#[test]
fn imported_axol1tl_style_graph_matches_tract() {
    // Scaled inputs reach beyond the saturation bounds (±6), so both Max and Min act.
    let ev = events(&mut Rng::new(8), 300, 57);
    check("axol1tl_imported", &axol1tl_imported(3), &ev, true);
    check("axol1tl_bare", &axol1tl_bare(3), &ev, true);
}
