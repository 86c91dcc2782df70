//! Hostile model files: each is refused at load with an error that names what is wrong (and
//! the node), never a panic, an abort or a huge allocation. Every case was reproduced against
//! the loader before these checks existed (issue 11), or found by `bead-fuzz`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use bead_infer::limits::{MAX_MODEL_BYTES, MAX_TENSOR_ELEMENTS};
use bead_infer::onnx::{self, GraphBuilder, pb};
use bead_infer::{LoadError, Model};
use bead_testkit::hostile::{self, Link};
use bead_testkit::models::metadata;
use pb::attribute_proto::AttributeType;
use pb::tensor_proto::DataType;

/// `score = Σ x²` over 3 features: nodes `mul`, `reducesum` (axes in initializer `axes`),
/// `score`.
fn base() -> pb::ModelProto {
    let mut g = GraphBuilder::new("base", 3);
    let sq = g.op("Mul", &[onnx::EVENTS, onnx::EVENTS], vec![]);
    let s = g.reduce_sum(&sq, 1, false);
    g.output(onnx::SCORE, &s, &[]);
    g.into_model(&metadata(3))
}

fn edited(edit: impl FnOnce(&mut pb::ModelProto)) -> Vec<u8> {
    let mut m = base();
    edit(&mut m);
    onnx::encode_model(&m)
}

fn graph(m: &mut pb::ModelProto) -> &mut pb::GraphProto {
    m.graph.as_mut().unwrap()
}

fn node<'a>(m: &'a mut pb::ModelProto, name: &str) -> &'a mut pb::NodeProto {
    graph(m).node.iter_mut().find(|n| n.name == name).unwrap()
}

/// Loading fails with an `Invalid` error about `node` (when given) whose message contains
/// `needle`.
#[track_caller]
fn refused(bytes: &[u8], node: Option<&str>, needle: &str) {
    let e = Model::from_bytes(bytes, "hostile.onnx").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("hostile.onnx") && msg.contains(needle),
        "{msg}"
    );
    match (&e, node) {
        (LoadError::Invalid { node: got, .. }, want) => {
            assert_eq!(got.as_deref(), want, "{msg}")
        }
        _ => panic!("not an Invalid error: {e:?}"),
    }
}

#[test]
fn the_base_model_loads() {
    let m = Model::from_bytes(&edited(|_| {}), "base.onnx").unwrap();
    assert_eq!(m.session().score(&[1.0, 2.0, 3.0]).unwrap(), 14.0);
}

#[test]
fn nested_concat_bomb_is_refused_before_allocating() {
    // 5 KB (with the metadata) describing 4·10¹⁰ floats per event: aborted the host on
    // allocation before.
    let bomb = hostile::concat_bomb(5, 100);
    assert!(bomb.len() < 8192, "{}", bomb.len());
    refused(
        &bomb,
        Some("concat_4"),
        "400000000 elements together, more than the limit",
    );
    let dir = bead_testkit::temp_dir("bomb");
    let path = dir.path().join("bomb.onnx");
    std::fs::write(&path, &bomb).unwrap();
    let e = Model::load(&path).unwrap_err().to_string();
    assert!(e.contains("concat_4") && e.contains("limit"), "{e}");
    // One level more than the per-tensor limit, with few enough inputs to be read.
    let wide = hostile::concat_bomb(2, 2049);
    refused(
        &wide,
        Some("concat_2"),
        &format!(
            "per-event tensor of 16793604 elements exceeds the limit of {MAX_TENSOR_ELEMENTS}"
        ),
    );
    // Three levels (4·10⁶ floats) are within the limits, and compute what ONNX says.
    let m = Model::from_bytes(&hostile::concat_bomb(3, 100), "small.onnx").unwrap();
    assert_eq!(m.session().score(&[1.0; 4]).unwrap(), 4e6);
}

/// A big constant read by many nodes loads and computes what ONNX says (the loader shares it
/// instead of copying it at each read; the time is in `benches/model_load.rs`).
#[test]
fn a_constant_read_by_many_nodes() {
    let (elements, readers) = (1 << 16, 300);
    let m = Model::from_bytes(&hostile::shared_constant(elements, readers), "shared.onnx").unwrap();
    let w: f64 = (0..readers).map(|r| r as f64 / elements as f64).sum();
    let got = m.session().score(&[1.0, 2.0]).unwrap();
    let want = 3.0 + 2.0 * w;
    assert!(
        (f64::from(got) - want).abs() < 1e-5 * want,
        "{got} vs {want}"
    );
}

#[test]
fn an_output_no_node_produces() {
    let bytes = edited(|m| graph(m).output.push(onnx::value_info_f32(onnx::MU, &[3])));
    refused(
        &bytes,
        None,
        "graph output \"mu\" is not produced by any node",
    );
}

#[test]
fn reduce_axes_of_plus_minus_2_pow_63() {
    for axis in [i64::MIN, i64::MAX] {
        let bytes = edited(|m| {
            let axes = graph(m).initializer.iter_mut().find(|t| t.name == "axes");
            *axes.unwrap() = onnx::tensor_i64("axes", &[1], &[axis]);
        });
        refused(
            &bytes,
            Some("reducesum"),
            &format!("axis {axis} out of range"),
        );
    }
}

#[test]
fn string_and_other_unsupported_initializers() {
    for (ty, name) in [(DataType::String, "STRING"), (DataType::Bool, "BOOL")] {
        let bytes = edited(|m| {
            graph(m).initializer.push(pb::TensorProto {
                name: "s".into(),
                dims: vec![2],
                data_type: ty as i32,
                string_data: vec![b"a".to_vec(), b"b".to_vec()],
                ..Default::default()
            })
        });
        refused(
            &bytes,
            None,
            &format!("initializer \"s\": data type {name}"),
        );
    }
}

#[test]
fn dangling_inputs_and_cycles() {
    let bytes = edited(|m| node(m, "mul").input[1] = "nowhere".into());
    refused(
        &bytes,
        Some("mul"),
        "\"nowhere\" is not produced by any node",
    );
    // mul reads reducesum, which reads mul.
    let bytes = edited(|m| {
        let mul = node(m, "mul");
        mul.input = vec!["reducesum".into(), "events".into()];
    });
    refused(&bytes, Some("mul"), "cycle");
}

#[test]
fn duplicate_names() {
    let bytes = edited(|m| {
        let neg = onnx::node("Neg", "neg", &["events"], &["mul"], vec![]);
        graph(m).node.insert(0, neg);
    });
    refused(
        &bytes,
        Some("mul"),
        "output \"mul\" is also the output of node neg",
    );
    let bytes = edited(|m| {
        let out = graph(m).output[0].clone();
        graph(m).output.push(out);
    });
    refused(&bytes, None, "two graph outputs are named \"score\"");
    let bytes = edited(|m| {
        let t = graph(m).initializer[0].clone();
        graph(m).initializer.push(t);
    });
    refused(&bytes, None, "two initializers are named \"axes\"");
}

#[test]
fn initializer_data_that_does_not_match_its_dimensions() {
    let bytes = edited(|m| graph(m).initializer[0].dims = vec![2]);
    refused(
        &bytes,
        None,
        "initializer \"axes\": 8 bytes of raw data for 2 elements of 8 bytes",
    );
    let bytes = edited(|m| graph(m).initializer[0].dims = vec![1 << 40, 1 << 40]);
    refused(&bytes, None, "exceed the limit");
    let bytes = edited(|m| graph(m).initializer[0].dims = vec![-1]);
    refused(&bytes, None, "negative dimension -1");
}

#[test]
fn element_types_and_input_counts() {
    // Add of a boolean (Greater) and a float: ONNX needs a Cast in between.
    let mut g = GraphBuilder::new("types", 3);
    let gt = g.op("Greater", &[onnx::EVENTS, onnx::EVENTS], vec![]);
    let add = g.op("Add", &[&gt, onnx::EVENTS], vec![]);
    let s = g.reduce_sum(&add, 1, false);
    g.output(onnx::SCORE, &s, &[]);
    let bytes = onnx::encode_model(&g.into_model(&metadata(3)));
    refused(&bytes, Some("add"), "Add of BOOL and FLOAT");
    // A Mul with a third input (the runtime used to read the first two only).
    let bytes = edited(|m| node(m, "mul").input.push("events".into()));
    refused(&bytes, Some("mul"), "Mul takes 2 inputs, not 3");
    let bytes = edited(|m| node(m, "score").input.push("events".into()));
    refused(&bytes, Some("score"), "Identity takes one input, not 2");
}

#[test]
fn declared_shapes_and_versions() {
    let bytes = edited(|m| graph(m).output[0] = onnx::value_info_f32("score", &[3]));
    refused(
        &bytes,
        None,
        "\"score\" is declared with shape [N, 3] but computed as [N]",
    );
    let bytes = edited(|m| {
        use pb::tensor_shape_proto::dimension::Value;
        let input = &mut graph(m).input[0];
        if let Some(pb::type_proto::Value::TensorType(t)) =
            input.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            t.shape.as_mut().unwrap().dim[0].value = Some(Value::DimValue(0));
        }
    });
    refused(&bytes, None, "batch dimension must be symbolic");
    let bytes = edited(|m| m.opset_import[0].version = 5);
    refused(&bytes, None, "opset 5 (this runtime reads 6 to 28)");
    let bytes = edited(|m| m.ir_version = i64::MAX);
    refused(&bytes, None, &format!("IR version {}", i64::MAX));
}

#[test]
fn attributes_of_the_wrong_type_or_opset() {
    let bytes = edited(|m| {
        node(m, "reducesum")
            .attribute
            .push(onnx::attr_ints("axes", &[1]))
    });
    refused(
        &bytes,
        Some("reducesum"),
        "second input of ReduceSum from opset 13",
    );
    // The same attribute is the form opset 11 defines.
    let bytes = edited(|m| {
        m.opset_import[0].version = 11;
        let n = node(m, "reducesum");
        n.input.truncate(1);
        n.attribute.push(onnx::attr_ints("axes", &[1]));
    });
    let old_form = Model::from_bytes(&bytes, "opset11.onnx").unwrap();
    let new_form = Model::from_bytes(&edited(|_| {}), "opset13.onnx").unwrap();
    let x: Vec<f32> = (0..old_form.num_features())
        .map(|i| i as f32 * 0.1)
        .collect();
    let (mut a, mut b) = (old_form.session(), new_form.session());
    assert_eq!(a.score(&x).unwrap(), b.score(&x).unwrap());
    let bytes = edited(|m| {
        let keep = &mut node(m, "reducesum").attribute[0];
        keep.r#type = AttributeType::Float as i32;
        keep.i = 1;
    });
    refused(
        &bytes,
        Some("reducesum"),
        "type FLOAT but data in field `i`",
    );
    let bytes = edited(|m| node(m, "reducesum").attribute[0].i = 7);
    refused(&bytes, Some("reducesum"), "value 7 (0 or 1 expected)");
}

#[test]
fn a_file_over_the_size_limit_is_not_read() {
    let dir = bead_testkit::temp_dir("big");
    let path = dir.path().join("big.onnx");
    // Sparse: no disk space used, and the loader must not read it.
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(MAX_MODEL_BYTES + 1).unwrap();
    let e = Model::load(&path).unwrap_err().to_string();
    assert!(e.contains("more than the limit"), "{e}");
}

#[test]
fn nan_is_kept_by_relu_min_max_and_reductions() {
    // log(-1) = NaN must reach the score through each of these, as in ONNX Runtime.
    type AddOp = fn(&mut GraphBuilder, &str) -> String;
    let cases: [(&str, AddOp); 5] = [
        ("Relu", |g, x| g.op("Relu", &[x], vec![])),
        ("Min", |g, x| {
            let z = g.constant("z", &[], &[0.0]);
            g.op("Min", &[x, &z], vec![])
        }),
        ("Max", |g, x| {
            let z = g.constant("z", &[], &[0.0]);
            g.op("Max", &[x, &z], vec![])
        }),
        ("MatMul+Add+Relu", |g, x| {
            let w = g.constant("w", &[2, 2], &[1.0, 0.0, 0.0, 1.0]);
            let b = g.constant("b", &[2], &[0.5, 0.5]);
            let y = g.op("MatMul", &[x, &w], vec![]);
            let y = g.op("Add", &[&y, &b], vec![]);
            g.op("Relu", &[&y], vec![])
        }),
        ("ReduceMax", |g, x| {
            let axes = onnx::attr_ints("axes", &[1]);
            g.op("ReduceMax", &[x], vec![axes])
        }),
    ];
    for (name, op) in cases {
        let mut g = GraphBuilder::new(name, 2);
        let log = g.op("Log", &[onnx::EVENTS], vec![]);
        let y = op(&mut g, &log);
        let s = g.reduce_sum(&y, 1, false);
        g.output(onnx::SCORE, &s, &[]);
        let model =
            Model::from_bytes(&onnx::encode_model(&g.into_model(&metadata(2))), name).unwrap();
        for k in bead_infer::available_kernels() {
            let mut s = model.with_kernel(k).unwrap().session();
            let score = s.score(&[-1.0, 4.0]).unwrap();
            assert!(score.is_nan(), "{name} with {k}: {score}");
            assert!(s.score(&[1.0, 4.0]).unwrap().is_finite(), "{name} with {k}");
        }
    }
}

#[test]
fn chains_listed_in_reverse_order_compile_to_the_same_model() {
    // 1,001 Neg nodes: score = -(x0 + x1), whatever order the file lists them in.
    for reverse in [false, true] {
        let m = Model::from_bytes(&hostile::chain(1001, Link::Neg, reverse), "neg").unwrap();
        assert_eq!(m.session().score(&[1.5, 2.0]).unwrap(), -3.5);
    }
    let forward = Model::from_bytes(&hostile::chain(3000, Link::Dense, false), "f").unwrap();
    let reverse = Model::from_bytes(&hostile::chain(3000, Link::Dense, true), "r").unwrap();
    let (mut a, mut b) = (forward.session(), reverse.session());
    for x in [[1.0, 2.0], [-3.0, 0.5], [0.0, 0.0]] {
        let s = a.score(&x).unwrap();
        assert_eq!(s.to_bits(), b.score(&x).unwrap().to_bits());
        let tract = forward.reference().unwrap().run(&x, 1).unwrap();
        assert!(bead_testkit::models::close(s, tract[0]), "{s} vs {tract:?}");
    }
}
