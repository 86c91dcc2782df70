//! Load-time and scoring errors.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use bead_infer::onnx::{self, pb};
use bead_infer::{LoadError, Model, ScoreError};
use bead_testkit::Rng;
use bead_testkit::models::*;

fn load_err(bytes: &[u8]) -> LoadError {
    Model::from_bytes(bytes, "bad.onnx").unwrap_err()
}

#[test]
fn empty_random_truncated() {
    let e = load_err(&[]);
    assert!(matches!(e, LoadError::Empty { .. }), "{e}");
    assert!(e.to_string().contains("bad.onnx"));
    let mut rng = Rng::new(5);
    let random: Vec<u8> = (0..4096)
        .map(|_| (rng.uniform() * 127.0 + 128.0) as u8)
        .collect();
    let e = load_err(&random);
    assert!(matches!(e, LoadError::NotOnnx { .. }), "{e}");
    assert!(e.to_string().contains("bad.onnx"));
    let good = axol1tl(1);
    for cut in [10, good.len() / 3, good.len() / 2, good.len() - 7] {
        let e = load_err(&good[..cut]);
        assert!(e.to_string().contains("bad.onnx"), "{e}");
    }
    let e = Model::load("/nonexistent/model.onnx").unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/model.onnx"));
    let e = load_err(b"{\"format\": 1, \"features\": []}");
    assert!(matches!(e, LoadError::NotOnnx { .. }), "{e}");
}

fn with_graph(edit: impl FnOnce(&mut pb::ModelProto)) -> Vec<u8> {
    let mut m = onnx::decode_model(&axol1tl(1)).unwrap();
    edit(&mut m);
    onnx::encode_model(&m)
}

#[test]
fn unsupported_ops_are_listed() {
    let bytes = with_graph(|m| {
        let g = m.graph.as_mut().unwrap();
        let relu = g.node.iter_mut().find(|n| n.op_type == "Relu").unwrap();
        relu.op_type = "Softmax".into();
        relu.name = "the_softmax".into();
        relu.attribute = vec![onnx::attr_int("axis", -1)];
        g.node
            .push(onnx::node("LSTM", "the_lstm", &["u"], &["unused"], vec![]));
    });
    let e = load_err(&bytes);
    let msg = e.to_string();
    assert!(
        msg.contains("Softmax") && msg.contains("the_softmax"),
        "{msg}"
    );
    assert!(msg.contains("LSTM") && msg.contains("the_lstm"), "{msg}");
    assert_eq!(e.unsupported_ops().len(), 2);
    // Thousands of them: each operator once with its first nodes, every node in `ops`.
    let bytes = with_graph(|m| {
        let g = m.graph.as_mut().unwrap();
        for i in 0..2000 {
            let name = format!("shape_{i}");
            g.node.push(onnx::node(
                "Shape",
                &name,
                &["u"],
                &[&format!("s{i}")],
                vec![],
            ));
        }
        g.node
            .push(onnx::node("LSTM", "the_lstm", &["u"], &["unused"], vec![]));
    });
    let e = load_err(&bytes);
    let msg = e.to_string();
    assert!(
        msg.contains(
            "Shape ×2000 (nodes shape_0, shape_1, shape_2 and 1997 more), LSTM (node the_lstm)"
        ),
        "{msg}"
    );
    assert!(msg.len() < 300, "{msg}");
    assert_eq!(e.unsupported_ops().len(), 2001);
}

#[test]
fn metadata_problems() {
    let e = load_err(&with_graph(|m| m.metadata_props.clear()));
    assert!(matches!(e, LoadError::MissingMetadata { .. }), "{e}");
    let e = load_err(&with_graph(|m| {
        m.metadata_props[0].value = "{not json".into()
    }));
    assert!(matches!(e, LoadError::BadMetadata { .. }), "{e}");
    let e = load_err(&with_graph(|m| {
        m.metadata_props[0].value = r#"{"format":1}"#.into()
    }));
    assert!(matches!(e, LoadError::BadMetadata { .. }), "{e}");
    let e = load_err(&with_graph(|m| {
        let mut meta = metadata(57);
        meta.format = 9;
        meta.write(m);
    }));
    assert!(matches!(e, LoadError::BadMetadata { .. }), "{e}");
    let e = load_err(&with_graph(|m| metadata(56).write(m)));
    assert!(
        matches!(
            e,
            LoadError::FeatureMismatch {
                metadata: 56,
                input: 57,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn contract_violations_name_the_node() {
    // MatMul weights that do not match the input width.
    let e = load_err(&with_graph(|m| {
        let g = m.graph.as_mut().unwrap();
        g.input[0] = onnx::value_info_f32("events", &[58]);
        metadata(58).write(m);
    }));
    assert!(
        matches!(e, LoadError::Tract { .. } | LoadError::Invalid { .. }),
        "{e}"
    );
    // Valid ONNX that breaks the bead contract: a reduction over the batch axis.
    let e = load_err(&with_graph(|m| {
        let g = m.graph.as_mut().unwrap();
        let axes = g
            .initializer
            .iter_mut()
            .find(|t| t.name == "axes1")
            .unwrap();
        *axes = onnx::tensor_i64("axes1", &[1], &[0]);
    }));
    match &e {
        LoadError::Invalid { node, .. } => assert_eq!(node.as_deref(), Some("score_sum"), "{e}"),
        other => panic!("expected Invalid, got {other}"),
    }
    assert!(e.to_string().contains("score_sum"), "{e}");
    // No `score` output.
    let e = load_err(&with_graph(|m| {
        m.graph.as_mut().unwrap().output[0].name = "mu".into()
    }));
    assert!(e.to_string().contains("bad.onnx"), "{e}");
}

#[test]
fn scoring_errors() {
    let model = Model::from_bytes(&axol1tl(1), "m").unwrap();
    let mut s = model.session();
    assert_eq!(
        s.score(&[0.0; 56]),
        Err(ScoreError::WrongLength {
            expected: 57,
            got: 56
        })
    );
    let mut ev = vec![0.5f32; 57 * 3];
    ev[57 + 4] = f32::NAN;
    ev[2 * 57 + 1] = f32::NEG_INFINITY;
    let mut out = [0.0f32; 3];
    assert_eq!(
        s.score_batch(&ev, &mut out),
        Err(ScoreError::NonFinite {
            event: 1,
            feature: 4
        })
    );
    assert!(out[0].is_finite() && out[1].is_nan() && out[2].is_nan());
    assert_eq!(out[0], s.score(&ev[..57]).unwrap());
    assert_eq!(
        s.score_batch(&ev, &mut out[..2]),
        Err(ScoreError::WrongLength {
            expected: 114,
            got: 171
        })
    );
    let mut mu = [0.0f32; 12];
    assert_eq!(
        s.score_with_latent(&ev[..57], &mut mu),
        Err(ScoreError::OutputLength {
            expected: 13,
            got: 12
        })
    );
    let maha = Model::from_bytes(&mahalanobis(3), "m").unwrap();
    assert_eq!(
        maha.session().score_with_latent(&[0.0; 10], &mut mu),
        Err(ScoreError::NoLatent)
    );
    assert_eq!(
        ScoreError::NonFinite {
            event: 1,
            feature: 4
        }
        .to_string(),
        "non-finite input: event 1, feature 4"
    );
}

/// `score` refuses a NaN or an infinity in any feature, naming it, and the refused event
/// leaves nothing behind: with a plan of one chain reading the event where it is (bead's
/// export: scored first, the chain's first pre-activation proves the event finite), a map and
/// a chain reading it where it is (the imported graph: the map checks it as it loads it) and a
/// plan that copies it (log/sin-cos preprocessing: checked first). (That a finite event the
/// run cannot prove is still scored is `only_finite_inputs_are_proven_finite` in the kernels.)
#[test]
fn score_names_every_non_finite_feature() {
    let mut rng = Rng::new(6);
    let cases = [
        (axol1tl(2), events(&mut rng, 1, 57)),
        (axol1tl_imported(2), events(&mut rng, 1, 57)),
        (preprocessing(2), raw_events(&mut rng, 1)),
    ];
    for (bytes, clean) in cases {
        let model = Model::from_bytes(&bytes, "m").unwrap();
        let mut s = model.session();
        let want = s.score(&clean).unwrap();
        for feature in 0..clean.len() {
            for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut ev = clean.clone();
                ev[feature] = v;
                assert_eq!(
                    s.score(&ev),
                    Err(ScoreError::NonFinite { event: 0, feature }),
                    "{v}"
                );
                assert_eq!(s.score(&clean).unwrap().to_bits(), want.to_bits());
            }
        }
    }
}

#[test]
fn a_false_positive_rate_outside_0_1_finds_no_threshold() {
    let mut info = bead_infer::ModelMetadata::new(vec!["x".into()]);
    info.thresholds = vec![bead_infer::Threshold {
        fpr: 1e-2,
        threshold: 7.5,
        rate_hz: None,
        calibration: None,
    }];
    assert_eq!(info.threshold_for_fpr(1e-2), Some(7.5));
    assert_eq!(info.threshold_for_fpr(1e-2 * (1.0 + 1e-7)), Some(7.5));
    assert_eq!(info.threshold_for_fpr(1e-3), None);
    // An infinite rate used to be "within 1e-6 relative tolerance" of every threshold.
    for fpr in [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        0.0,
        -1e-2,
        1.0,
        2.0,
    ] {
        assert!(!bead_infer::ModelMetadata::is_valid_fpr(fpr), "{fpr}");
        assert_eq!(info.threshold_for_fpr(fpr), None, "fpr {fpr}");
    }
    for fpr in [1e-9, 1e-2, 0.5, 1.0 - 1e-12] {
        assert!(bead_infer::ModelMetadata::is_valid_fpr(fpr), "{fpr}");
    }
}

/// Refused events in later blocks of a batch: the first is reported with its index, the
/// refused ones get NaN, every other event the bits of its single-event score; with the
/// chain reading the events where they are (bead's export) and with the map reading them
/// there (the imported graph).
#[test]
fn refused_events_in_later_blocks() {
    for bytes in [axol1tl(1), axol1tl_imported(1)] {
        let model = Model::from_bytes(&bytes, "m").unwrap();
        let mut s = model.session();
        let mut rng = Rng::new(5);
        let mut ev = events(&mut rng, 300, 57);
        ev[57 * 150 + 3] = f32::INFINITY;
        ev[57 * 151] = f32::NAN;
        ev[57 * 299 + 56] = f32::NEG_INFINITY;
        let mut out = vec![0.0f32; 300];
        assert_eq!(
            s.score_batch(&ev, &mut out),
            Err(ScoreError::NonFinite {
                event: 150,
                feature: 3
            })
        );
        for (i, o) in out.iter().enumerate() {
            if [150, 151, 299].contains(&i) {
                assert!(o.is_nan(), "event {i}");
            } else {
                let want = s.score(&ev[i * 57..(i + 1) * 57]).unwrap();
                assert_eq!(o.to_bits(), want.to_bits(), "event {i}");
            }
        }
    }
}
