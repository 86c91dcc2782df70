//! Import: feature lists, graph rewriting, metadata and error messages.

use super::*;
use crate::onnx::{self, attr_int, node, tensor_f32, tensor_i64, value_info_f32};

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// A foreign encoder: `x` [N, 3] → Sub → Gemm (transB) → Relu → Mul(x, x) → ReduceSum
/// (axes input, keepdims) → `out` [N, 1]; no bead metadata.
fn foreign(batch: Option<i64>) -> pb::ModelProto {
    let mut input = value_info_f32("x", &[3]);
    let mut output = value_info_f32("out", &[1]);
    if let Some(b) = batch {
        for vi in [&mut input, &mut output] {
            if let Some(first) = tensor_type(vi)
                .and_then(|t| t.shape.as_mut())
                .and_then(|s| s.dim.first_mut())
            {
                first.value = Some(Dim::DimValue(b));
            }
        }
    }
    let graph = pb::GraphProto {
        name: "foreign".into(),
        node: vec![
            node("Sub", "center", &["x", "mean"], &["c"], vec![]),
            node(
                "Gemm",
                "dense",
                &["c", "w", "b"],
                &["h"],
                vec![attr_int("transB", 1)],
            ),
            node("Relu", "act", &["h"], &["r"], vec![]),
            node("Mul", "square", &["r", "r"], &["sq"], vec![]),
            node("ReduceSum", "total", &["sq", "axes"], &["out"], vec![]),
        ],
        initializer: vec![
            tensor_f32("mean", &[3], &[0.5, -1.0, 2.0]),
            tensor_f32("w", &[2, 3], &[1.0, 0.5, -0.25, -1.0, 2.0, 0.75]),
            tensor_f32("b", &[2], &[0.1, -0.2]),
            tensor_i64("axes", &[1], &[1]),
        ],
        input: vec![input],
        output: vec![output],
        ..Default::default()
    };
    let mut m = onnx::model(graph, &[]);
    m.opset_import[0].version = 13;
    m
}

/// The foreign encoder's score, in f64.
fn expected(x: [f32; 3]) -> f64 {
    let c = [x[0] - 0.5, x[1] + 1.0, x[2] - 2.0].map(f64::from);
    let w = [[1.0, 0.5, -0.25], [-1.0, 2.0, 0.75]];
    let b = [0.1f32, -0.2].map(f64::from);
    (0..2)
        .map(|j| {
            let h: f64 = b[j] + (0..3).map(|i| w[j][i] * c[i]).sum::<f64>();
            h.max(0.0).powi(2)
        })
        .sum()
}

fn import(
    m: &pb::ModelProto,
    opts: &ImportOptions,
) -> Result<(Vec<u8>, ImportReport), ImportError> {
    import_model(&onnx::encode_model(m), "foreign.onnx", opts)
}

#[test]
fn feature_lists_parse_from_commas_and_files() {
    assert_eq!(
        parse_features(" MET_pt, jet1_pt ,jet1_eta").unwrap(),
        names(&["MET_pt", "jet1_pt", "jet1_eta"])
    );
    let dir = std::env::temp_dir().join(format!("bead-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("features.txt");
    std::fs::write(&file, "a\r\n\n b,c \nd\n").unwrap();
    // One name per line: commas are part of a name there.
    assert_eq!(
        parse_features(&format!("@{}", file.display())).unwrap(),
        names(&["a", "b,c", "d"])
    );
    let e = parse_features("a,,b").unwrap_err().to_string();
    assert!(e.contains("empty name at position 2"), "{e}");
    let e = parse_features("a,b,a").unwrap_err().to_string();
    assert!(e.contains("\"a\" is listed twice"), "{e}");
    std::fs::write(&file, "\n\n").unwrap();
    let e = parse_features(&format!("@{}", file.display()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no feature names"), "{e}");
    let missing = dir.join("missing.txt");
    let e = parse_features(&format!("@{}", missing.display())).unwrap_err();
    assert!(
        matches!(&e, ImportError::Io { path, .. } if path.ends_with("missing.txt")),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn import_writes_metadata_and_contract_names() {
    let mut opts = ImportOptions::new(names(&["u", "v", "w"]));
    opts.score_name = Some("ad_score".into());
    let (bytes, report) = import(&foreign(None), &opts).unwrap();
    assert_eq!(
        (report.input.as_str(), report.output.as_str()),
        ("x", "out")
    );
    assert_eq!(report.num_features, 3);
    assert!(
        report
            .changes
            .iter()
            .any(|c| c.contains("from [N, 1] to [N]")),
        "{report}"
    );

    let proto = onnx::decode_model(&bytes).unwrap();
    let g = proto.graph.as_ref().unwrap();
    assert_eq!(g.input[0].name, onnx::EVENTS);
    assert_eq!(g.output.len(), 1);
    assert_eq!(g.output[0].name, onnx::SCORE);
    let meta = ModelMetadata::read(&proto, "m").unwrap();
    assert_eq!(meta.features, names(&["u", "v", "w"]));
    assert_eq!(meta.score, "ad_score");
    assert_eq!(meta.model, IMPORTED_MODEL_KIND);
    assert_eq!(meta.outputs, names(&["score"]));

    let model = crate::Model::from_bytes(&bytes, "imported").unwrap();
    let mut s = model.session();
    for x in [[0.0, 0.0, 0.0], [1.5, -2.0, 3.0], [-4.0, 7.0, 0.25]] {
        let got = f64::from(s.score(&x).unwrap());
        let want = expected(x);
        assert!(
            (got - want).abs() <= 1e-5 * want.abs().max(1.0),
            "{x:?}: {got} vs {want}"
        );
    }
}

#[test]
fn score_name_defaults_to_the_output_and_metadata_is_replaced() {
    let mut m = foreign(None);
    crate::contract::ModelMetadata::new(names(&["old1", "old2", "old3"])).write(&mut m);
    let (bytes, report) = import(&m, &ImportOptions::new(names(&["a", "b", "c"]))).unwrap();
    assert!(
        report.changes.iter().any(|c| c.contains("replaced")),
        "{report}"
    );
    let meta = ModelMetadata::read(&onnx::decode_model(&bytes).unwrap(), "m").unwrap();
    assert_eq!(meta.score, "out");
    assert_eq!(meta.features, names(&["a", "b", "c"]));
}

#[test]
fn fixed_batch_becomes_symbolic() {
    let (bytes, report) = import(
        &foreign(Some(1)),
        &ImportOptions::new(names(&["a", "b", "c"])),
    )
    .unwrap();
    assert!(
        report
            .changes
            .iter()
            .any(|c| c.contains("fixed batch dimension 1")),
        "{report}"
    );
    let model = crate::Model::from_bytes(&bytes, "imported").unwrap();
    let mut out = [0.0f32; 2];
    model
        .session()
        .score_batch(&[0.0, 0.0, 0.0, 1.5, -2.0, 3.0], &mut out)
        .unwrap();
    assert!((f64::from(out[1]) - expected([1.5, -2.0, 3.0])).abs() < 1e-4);
    // tract, the reference evaluator, runs it at batch 2 too.
    let reference = model
        .reference()
        .unwrap()
        .run(&[0.0, 0.0, 0.0, 1.5, -2.0, 3.0], 2)
        .unwrap();
    assert_eq!(reference.len(), 2);
}

#[test]
fn wrong_feature_count_names_both_counts() {
    let e = import(&foreign(None), &ImportOptions::new(names(&["a", "b"]))).unwrap_err();
    assert!(
        matches!(
            e,
            ImportError::FeatureCount {
                given: 2,
                width: 3,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("2 features given but input \"x\" has 3 columns"),
        "{e}"
    );
}

#[test]
fn unsupported_operators_are_listed_with_their_nodes() {
    let mut m = foreign(None);
    let g = m.graph.as_mut().unwrap();
    g.node[2] = node("Softmax", "probabilities", &["h"], &["r"], vec![]);
    g.node
        .insert(3, node("Erf", "", &["r"], &["unused"], vec![]));
    let e = import(&m, &ImportOptions::new(names(&["a", "b", "c"]))).unwrap_err();
    let ImportError::UnsupportedOps { ops, .. } = &e else {
        panic!("{e}");
    };
    assert_eq!(ops.len(), 2);
    let msg = e.to_string();
    assert!(msg.contains("Softmax (node probabilities)"), "{msg}");
    assert!(msg.contains("Erf (node #3 (Erf))"), "{msg}");
    assert!(msg.contains("What to do"), "{msg}");
}

#[test]
fn unsupported_forms_name_the_node() {
    let mut m = foreign(None);
    let g = m.graph.as_mut().unwrap();
    // A reduction over the batch axis is not per event.
    g.initializer[3] = tensor_i64("axes", &[1], &[0]);
    let e = import(&m, &ImportOptions::new(names(&["a", "b", "c"]))).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("node total: ReduceSum over axes [0]"), "{msg}");
    assert!(msg.contains("What to do"), "{msg}");
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    let mut m = foreign(None);
    m.graph.as_mut().unwrap().initializer[1] =
        tensor_f32("w", &[2, 3], &[1.0, 0.5, f32::INFINITY, -1.0, 2.0, 0.75]);
    let e = import(&m, &ImportOptions::new(names(&["a", "b", "c"]))).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("tensor \"w\" has the non-finite value inf at index 2"),
        "{msg}"
    );
    // Loading refuses it too (with metadata and the contract's names, so that only the weight
    // is at fault).
    crate::contract::ModelMetadata::new(names(&["a", "b", "c"])).write(&mut m);
    let g = m.graph.as_mut().unwrap();
    super::rename(g, "x", onnx::EVENTS);
    super::rename(g, "out", onnx::SCORE);
    let e = crate::Model::from_bytes(&onnx::encode_model(&m), "m").unwrap_err();
    assert!(
        e.to_string()
            .contains("tensor \"w\" has the non-finite value inf"),
        "{e}"
    );
}

#[test]
fn several_outputs_need_a_choice() {
    let mut m = foreign(None);
    m.graph
        .as_mut()
        .unwrap()
        .output
        .push(value_info_f32("h", &[2]));
    let opts = ImportOptions::new(names(&["a", "b", "c"]));
    let e = import(&m, &opts).unwrap_err().to_string();
    assert!(
        e.contains("outputs \"out\", \"h\"") && e.contains("--output-name"),
        "{e}"
    );
    let mut chosen = opts.clone();
    chosen.output = Some("out".into());
    let (bytes, report) = import(&m, &chosen).unwrap();
    assert!(
        report
            .changes
            .iter()
            .any(|c| c.contains("dropped the output \"h\""))
    );
    assert_eq!(
        onnx::decode_model(&bytes)
            .unwrap()
            .graph
            .unwrap()
            .output
            .len(),
        1
    );
    chosen.output = Some("nope".into());
    let e = import(&m, &chosen).unwrap_err().to_string();
    assert!(e.contains("no graph output \"nope\""), "{e}");
}

#[test]
fn several_inputs_need_a_choice_and_only_one_may_be_used() {
    let mut m = foreign(None);
    m.graph
        .as_mut()
        .unwrap()
        .input
        .push(value_info_f32("mask", &[3]));
    let mut opts = ImportOptions::new(names(&["a", "b", "c"]));
    let e = import(&m, &opts).unwrap_err().to_string();
    assert!(
        e.contains("inputs \"x\", \"mask\"") && e.contains("--input"),
        "{e}"
    );
    opts.input = Some("x".into());
    let (_, report) = import(&m, &opts).unwrap();
    assert!(
        report
            .changes
            .iter()
            .any(|c| c.contains("dropped the unused input \"mask\""))
    );
    // A second input that the graph reads cannot be fed.
    m.graph.as_mut().unwrap().node[0].input[1] = "mask".into();
    let e = import(&m, &opts).unwrap_err().to_string();
    assert!(
        e.contains("input \"mask\" is also used (by node center)"),
        "{e}"
    );
}

#[test]
fn values_named_like_the_contract_are_renamed() {
    let mut m = foreign(None);
    // An intermediate value already called `score`, and the input called `events`' cousin.
    let g = m.graph.as_mut().unwrap();
    g.node[2].output[0] = "score".into();
    g.node[3].input = vec!["score".into(), "score".into()];
    let (bytes, report) = import(&m, &ImportOptions::new(names(&["a", "b", "c"]))).unwrap();
    assert!(
        report.changes.iter().any(|c| c.contains("\"score_orig\"")),
        "{report}"
    );
    let model = crate::Model::from_bytes(&bytes, "imported").unwrap();
    let got = f64::from(model.session().score(&[1.5, -2.0, 3.0]).unwrap());
    assert!((got - expected([1.5, -2.0, 3.0])).abs() < 1e-4);
}
