#!/usr/bin/env python3
"""`bead import` on foreign models, checked against ONNX Runtime.

Builds one small model per operator form the runtime supports (with the onnx helper API,
no bead metadata, input `x` [batch, F], a symbolic batch), plus an AXOL1TL-style encoder
(Sub/Mul scaling, Clip, Gemm with transB 0 and 1, Relu, ReduceSum with an axes input). Each is
imported with `bead import`, scored with `bead score` on random events with edge values, and
compared with ONNX Runtime on the original file, to a relative 1e-5 measured at the typical
size of the score (the median), as tests/onnx_runtime_check.py does. The imported file must
also give ONNX Runtime the same scores as the original. Also checked: unsupported operators
are refused naming each node, a wrong feature count is refused, a graph with several outputs
needs --output-name, and events with NaN are refused naming the column and row. A
PyTorch-exported MLP (TorchScript and dynamo exporters) runs where torch is importable.

With SAMPLE_DIR (data/sample), the imported encoder also goes through `bead calibrate`,
`bead evaluate` and `bead bench --json` on the sample files, and `bead bench --json` on a file
it cannot load must print {"error": ...} and exit non-zero.

usage: import_ops_check.py BEAD_BINARY WORKDIR [SAMPLE_DIR]
"""
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

REL = 1e-5
F = 6
RNG = np.random.default_rng(7)


def const(name, values, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(np.float32)


class G:
    """A graph under construction: nodes, initializers, unique names."""

    def __init__(self, width=F):
        self.nodes, self.inits, self.n = [], [], 0
        self.width = width

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def init(self, values, dtype=np.float32):
        n = self.name("c")
        self.inits.append(const(n, values, dtype))
        return n

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(f"node_{op_type}"), **attrs))
        return out

    def head(self, x, width):
        """[N, width] -> [N, 1] through positive weights (no cancellation in the score)."""
        return self.op("MatMul", [x, self.init(rand(width, 1, lo=0.5, hi=1.5))])

    def model(self, out, opset=17, out_shape=("batch", 1)):
        graph = helper.make_graph(
            self.nodes, "foreign",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", self.width])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, list(out_shape))],
            self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8
        onnx.checker.check_model(m, full_check=True)
        return m


def unary_case(op_type, pre=None, opset=17, **attrs):
    g = G()
    x = "x"
    if pre:
        x = pre(g, x)
    return g.model(g.head(g.op(op_type, [x], **attrs), F), opset)


def positive(g, x):
    return g.op("Add", [g.op("Abs", [x]), g.init(0.25)])


def cases():
    c = {}
    # --- Gemm and MatMul
    g = G(); c["gemm_alpha_beta"] = g.model(g.head(g.op("Gemm", ["x", g.init(rand(F, 8)), g.init(rand(8))], alpha=0.7, beta=1.3), 8))
    g = G(); c["gemm_transB_row_bias"] = g.model(g.head(g.op("Gemm", ["x", g.init(rand(8, F)), g.init(rand(1, 8))], transB=1), 8))
    g = G(); c["gemm_no_bias_scalar_c"] = g.model(g.head(g.op("Gemm", ["x", g.init(rand(F, 4)), g.init(0.5)]), 4))
    g = G(); w = g.op("Gemm", [g.init(rand(5, F)), g.init(rand(5, 8))], transA=1, transB=0, alpha=0.5)
    c["gemm_transA_constants"] = g.model(g.head(g.op("MatMul", ["x", w]), 8))
    g = G(); c["gemm_per_event_c"] = g.model(g.head(g.op("Gemm", ["x", g.init(rand(F, F)), "x"], beta=0.5), F))
    g = G(); c["matmul"] = g.model(g.head(g.op("MatMul", ["x", g.init(rand(F, 8))]), 8))
    g = G(); c["matmul_vector"] = g.model(g.op("MatMul", ["x", g.init(rand(F, lo=0.5, hi=1.5))]), out_shape=("batch",))
    # --- broadcasting arithmetic
    g = G(); c["add_row"] = g.model(g.head(g.op("Add", ["x", g.init(rand(F))]), F))
    g = G(); c["sub_const_left"] = g.model(g.head(g.op("Sub", [g.init(rand(1, F)), "x"]), F))
    g = G(); c["mul_scalar"] = g.model(g.head(g.op("Mul", ["x", g.init(1.7)]), F))
    g = G(); c["div_row"] = g.model(g.head(g.op("Div", ["x", g.init(rand(F, lo=0.5, hi=2))]), F))
    g = G(); c["div_const_left"] = g.model(g.head(g.op("Div", [g.init(rand(F)), positive(g, "x")]), F))
    g = G(); c["mul_dyn_dyn"] = g.model(g.head(g.op("Mul", ["x", g.op("Tanh", ["x"])]), F))
    g = G(); r = g.op("Reshape", ["x", g.init([0, 2, 3], np.int64)])
    s = g.op("Add", [r, g.init(rand(2, 1))]); s = g.op("Mul", [s, g.init(rand(3))])
    c["broadcast_3d"] = g.model(g.head(g.op("Flatten", [s]), F))
    # --- activations
    for op, attrs in [("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("Softplus", {}),
                      ("LeakyRelu", {"alpha": 0.1}), ("LeakyRelu", {"alpha": 1.5}), ("Elu", {"alpha": 0.8})]:
        key = op.lower() + "".join(f"_{k}{v}" for k, v in attrs.items())
        c[key] = unary_case(op, pre=lambda g, x: g.op("Mul", [x, g.init(3.0)]), **attrs)
    c["abs"] = unary_case("Abs")
    c["neg"] = unary_case("Neg")
    c["sqrt"] = unary_case("Sqrt", pre=positive)
    c["exp"] = unary_case("Exp", pre=lambda g, x: g.op("Mul", [x, g.init(0.1)]))
    c["log"] = unary_case("Log", pre=positive)
    # --- Clip in both opset forms, Min and Max
    c["clip_opset6"] = unary_case("Clip", opset=6, min=-0.5, max=0.75)
    g = G(); c["clip_opset13"] = g.model(g.head(g.op("Clip", ["x", g.init(-0.5), g.init(0.75)]), F))
    g = G(); c["clip_min_only"] = g.model(g.head(g.op("Clip", ["x", g.init(-0.25)]), F))
    g = G(); c["clip_max_only"] = g.model(g.head(g.op("Clip", ["x", "", g.init(0.5)]), F))
    g = G(); c["min_variadic"] = g.model(g.head(g.op("Min", ["x", g.init(rand(F)), g.init(0.3)]), F))
    g = G(); c["max_dyn"] = g.model(g.head(g.op("Max", ["x", g.op("Neg", ["x"])]), F))
    # --- Pow with constant exponents
    for p in [2.0, 3.0, 0.5, -1.0, 1.5, 0.0, -2.0]:
        g = G()
        c[f"pow_{p:g}"] = g.model(g.head(g.op("Pow", [positive(g, "x"), g.init(p)]), F))
    # --- reductions
    for keep in [0, 1]:
        g = G(); r = g.op("Reshape", ["x", g.init([0, 2, 3], np.int64)])
        s = g.op("ReduceSum", [r, g.init([2], np.int64)], keepdims=keep)
        c[f"reducesum_axes_input_keep{keep}"] = g.model(g.head(g.op("Flatten", [s]), 2))
    g = G(); r = g.op("Reshape", ["x", g.init([0, 2, 3], np.int64)])
    s = g.op("ReduceSum", [r, g.init([1], np.int64)], keepdims=1)
    c["reducesum_middle_axis"] = g.model(g.head(g.op("Flatten", [s]), 3))
    g = G(); c["reducesum_noop_empty_axes"] = g.model(g.head(g.op("ReduceSum", ["x"], noop_with_empty_axes=1), F))
    g = G(); r = g.op("Reshape", ["x", g.init([0, 2, 3], np.int64)])
    c["reducemean_opset13_attr"] = g.model(g.head(g.op("Flatten", [g.op("ReduceMean", [r], axes=[1])]), 3), 13)
    g = G(); c["reducemean_opset18_input"] = g.model(g.op("ReduceMean", ["x", g.init([-1], np.int64)]), 18)
    g = G(); c["reducesumsquare"] = g.model(g.op("ReduceSumSquare", ["x"], axes=[1]), 13)
    g = G(); c["reducemax_keep0"] = g.model(g.op("ReduceMax", ["x"], axes=[1], keepdims=0), 13, out_shape=("batch",))
    # --- BatchNormalization (inference), 2-D and 3-D
    g = G(); h = g.op("Gemm", ["x", g.init(rand(F, 8)), g.init(rand(8))])
    bn = g.op("BatchNormalization", [h, g.init(rand(8, lo=0.5, hi=2)), g.init(rand(8)), g.init(rand(8)), g.init(rand(8, lo=0.1, hi=2))], epsilon=1e-3)
    c["batchnorm_2d"] = g.model(g.head(g.op("Relu", [bn]), 8))
    g = G(); r = g.op("Reshape", ["x", g.init([0, 2, 3], np.int64)])
    bn = g.op("BatchNormalization", [r, g.init(rand(2, lo=0.5, hi=2)), g.init(rand(2)), g.init(rand(2)), g.init(rand(2, lo=0.1, hi=2))])
    c["batchnorm_3d"] = g.model(g.head(g.op("Flatten", [bn]), F))
    # --- shapes
    g = G(); r = g.op("Reshape", ["x", g.op("Concat", [g.init([0], np.int64), g.init([3, -1], np.int64)], axis=0)])
    c["reshape_concat_shape_flatten"] = g.model(g.head(g.op("Flatten", [r], axis=1), F))
    g = G(); u = g.op("Unsqueeze", ["x", g.init([1], np.int64)]); s = g.op("Squeeze", [u, g.init([1], np.int64)])
    c["unsqueeze_squeeze_opset13"] = g.model(g.head(g.op("Identity", [s]), F))
    g = G(); u = g.op("Unsqueeze", ["x"], axes=[2]); s = g.op("Squeeze", [u], axes=[2])
    c["unsqueeze_squeeze_opset11"] = g.model(g.head(s, F), 11)
    g = G(); c["dropout_inference"] = g.model(g.head(g.op("Dropout", ["x"]), F), 13)
    g = G(); cat = g.op("Concat", ["x", g.op("Gemm", ["x", g.init(rand(F, 3))]), g.op("Relu", ["x"])], axis=1)
    c["concat"] = g.model(g.head(cat, 2 * F + 3))
    g = G(); r = g.op("Reshape", ["x", g.init([0, 2, 3], np.int64)])
    cat = g.op("Concat", [r, g.op("Neg", [r])], axis=-1)
    c["concat_last_axis_3d"] = g.model(g.head(g.op("Flatten", [cat]), 2 * F))
    g = G(); c["gather_axis1"] = g.model(g.head(g.op("Gather", ["x", g.init([3, 0, 5, -1], np.int64)], axis=1), 4))
    g = G(); r = g.op("Reshape", ["x", g.init([0, 2, 3], np.int64)])
    ga = g.op("Gather", [r, g.init([[2, 0], [1, 1]], np.int64)], axis=2)
    c["gather_axis2_2d_indices"] = g.model(g.head(g.op("Flatten", [ga]), 8))
    g = G(); shp = g.op("Gather", [g.init([7, 2, 3], np.int64), g.init([1, 2], np.int64)], axis=0)
    r = g.op("Reshape", ["x", g.op("Concat", [g.init([-1], np.int64), shp], axis=0)])
    c["gather_constant_shape"] = g.model(g.head(g.op("Flatten", [r]), F))
    g = G(); c["slice_step2"] = g.model(g.head(g.op("Slice", ["x", g.init([1], np.int64), g.init([6], np.int64), g.init([1], np.int64), g.init([2], np.int64)]), 3))
    g = G(); c["slice_negative_step"] = g.model(g.head(g.op("Slice", ["x", g.init([-1], np.int64), g.init([-5], np.int64), g.init([1], np.int64), g.init([-1], np.int64)]), 4))
    g = G(); big = np.iinfo(np.int64).max
    c["slice_batch_axis_full"] = g.model(g.head(g.op("Slice", ["x", g.init([0, 2], np.int64), g.init([big, big], np.int64), g.init([0, 1], np.int64)]), 4))
    g = G(); c["slice_opset9_attrs"] = g.model(g.head(g.op("Slice", ["x"], starts=[1], ends=[4], axes=[1]), 3), 9)
    # --- casts, comparisons, Where, constants
    g = G(); d = g.op("Cast", ["x"], to=TensorProto.DOUBLE)
    c["cast_double_roundtrip"] = g.model(g.head(g.op("Cast", [g.op("Relu", [d])], to=TensorProto.FLOAT), F))
    g = G(); b = g.op("Greater", ["x", g.init(0.2)])
    c["greater_cast"] = g.model(g.head(g.op("Cast", [b], to=TensorProto.FLOAT), F))
    g = G(); b = g.op("Less", ["x", g.init(rand(F))]); i = g.op("Cast", [b], to=TensorProto.INT64)
    c["less_cast_int_float"] = g.model(g.head(g.op("Cast", [i], to=TensorProto.FLOAT), F))
    g = G(); b = g.op("Equal", ["x", g.init([0.0, 1.0, -1.0, 0.5, 2.0, 0.0])])
    c["equal"] = g.model(g.head(g.op("Cast", [b], to=TensorProto.FLOAT), F))
    g = G(); b = g.op("Not", [g.op("Less", ["x", g.init(0.0)])])
    c["not"] = g.model(g.head(g.op("Cast", [b], to=TensorProto.FLOAT), F))
    g = G(); w = g.op("Where", [g.op("Greater", ["x", g.init(0.0)]), "x", g.op("Mul", ["x", g.init(0.5)])])
    c["where_dynamic"] = g.model(g.head(w, F))
    g = G(); w = g.op("Where", [g.op("Less", ["x", g.init(0.1)]), g.init(rand(F)), g.init(-2.0)])
    c["where_constants"] = g.model(g.head(w, F))
    g = G(); pos = g.op("Greater", ["x", g.init(0.0)])
    safe = g.op("Where", [pos, g.op("Log", [g.op("Abs", ["x"])]), g.init(0.0)])
    c["where_safe_log"] = g.model(g.head(safe, F))
    g = G(); k = g.op("ConstantOfShape", [g.init([1, F], np.int64)], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5]))
    c["constant_of_shape"] = g.model(g.head(g.op("Add", ["x", k]), F))
    g = G(); k = g.name("k")
    g.nodes.append(helper.make_node("Constant", [], [k], value=const("kv", rand(F))))
    c["constant"] = g.model(g.head(g.op("Mul", ["x", k]), F))
    return c


def axol1tl(width=57):
    """An AXOL1TL-style encoder as the CMS L1 anomaly trigger ships it: no bead metadata."""
    g = G(width)
    s = g.op("Sub", ["x", g.init(rand(width))])
    s = g.op("Mul", [s, g.init(rand(width, lo=0.1, hi=2))])
    s = g.op("Clip", [s, g.init(-4.0), g.init(4.0)])
    h = g.op("Relu", [g.op("Gemm", [s, g.init(rand(32, width) * 0.3), g.init(rand(32))], transB=1)])
    h = g.op("Relu", [g.op("Gemm", [h, g.init(rand(32, 16) * 0.3), g.init(rand(16))], transB=0)])
    mu = g.op("Gemm", [h, g.init(rand(8, 16) * 0.3), g.init(rand(8))], transB=1)
    sq = g.op("Mul", [mu, mu])
    g.nodes.append(helper.make_node("ReduceSum", [sq, g.init([1], np.int64)], ["ad_score"], name="anomaly_score", keepdims=1))
    return g.model("ad_score", 13)


def events(width, n=3000):
    """The same events for every model of a width: random, plus rows of edge values."""
    x = np.random.default_rng(width).normal(0, 1, size=(n, width)).astype(np.float32)
    x[: n // 3] *= 8
    edge = np.array([0.0, 1.0, -1.0, 0.5, -0.5, 0.75, 0.2, 2.0, 1e-6, -1e-6, 40.0, -40.0], np.float32)
    x[-len(edge):] = edge[:, None]
    x[-len(edge) - 1] = edge[np.arange(width) % len(edge)]
    return x


def write_csv(path, x, names):
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for row in x:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def compare(ours, ref):
    ours, ref = ours.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
    if ours.shape != ref.shape:
        return np.inf
    same = (ours == ref) | (np.isnan(ours) & np.isnan(ref))
    scale = np.median(np.abs(ref[np.isfinite(ref)])) if np.isfinite(ref).any() else 1.0
    with np.errstate(invalid="ignore"):
        err = np.abs(ours - ref) / np.maximum(np.maximum(np.abs(ref), np.abs(ours)), scale)
    err[same] = 0.0
    err[np.isnan(err)] = np.inf
    return float(err.max())


def ort_scores(path, x, input_name=None, output_name=None, model_output=None):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    i = input_name or sess.get_inputs()[0].name
    o = output_name or model_output or sess.get_outputs()[0].name
    return sess.run([o], {i: x})[0]


def check_model(bead, work, name, model, width=F, extra=(), output=None):
    """Import, score with bead, compare with ONNX Runtime; returns True when it passes."""
    src, dst = os.path.join(work, f"{name}.onnx"), os.path.join(work, f"{name}.bead.onnx")
    if isinstance(model, onnx.ModelProto):
        onnx.save(model, src)
    else:
        src = model
    names = [f"f{i}" for i in range(width)]
    feats = os.path.join(work, f"{name}.features")
    with open(feats, "w") as f:
        f.write("\n".join(names) + "\n")
    r = run([bead, "import", src, "--features", "@" + feats, "-o", dst, *extra])
    if r.returncode != 0:
        print(f"FAIL {name}: bead import failed:\n{r.stderr}")
        return False
    x = events(width)
    csv = os.path.join(work, f"events_{width}.csv")
    if not os.path.exists(csv):
        write_csv(csv, x, names)
    out = os.path.join(work, f"{name}.scores.csv")
    r = run([bead, "score", "--model", dst, "--input", csv, "-o", out, "-q"])
    if r.returncode != 0:
        print(f"FAIL {name}: bead score failed:\n{r.stderr}")
        return False
    ours = np.loadtxt(out, delimiter=",", skiprows=1, usecols=0, dtype=np.float64, ndmin=1)
    ref = ort_scores(src, x, model_output=output)
    imported = ort_scores(dst, x, "events", "score")
    worst = compare(ours, ref)
    ok = worst <= REL and imported.shape == (len(x),) and compare(imported, ref) == 0.0
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(x)} events, worst relative difference to ONNX Runtime "
          f"{worst:.2e}{'' if imported.shape == (len(x),) else f', imported score shape {imported.shape}'}")
    return ok


def expect_failure(bead, work, name, model, features, needles, extra=()):
    src = os.path.join(work, f"{name}.onnx")
    onnx.save(model, src)
    r = run([bead, "import", src, "--features", features, "-o", os.path.join(work, f"{name}.bead.onnx"), *extra])
    missing = [n for n in needles if n not in r.stderr]
    ok = r.returncode != 0 and not missing
    first = r.stderr.strip().splitlines()[0] if r.stderr.strip() else "(no message)"
    print(f"{'ok  ' if ok else 'FAIL'} {name}: refused: {first}" + (f" (missing {missing})" if missing else ""))
    return ok


def refusals(bead, work):
    results = []
    g = G()
    t = g.op("Transpose", [g.op("Softmax", ["x"], axis=1)], perm=[0, 1])
    g.nodes[-1].name = "my_transpose"
    g.nodes[-2].name = "my_softmax"
    erf = g.op("Erf", [t])
    m = g.model(g.head(erf, F))
    results.append(expect_failure(bead, work, "unsupported_ops", m, ",".join(f"f{i}" for i in range(F)),
                                  ["Softmax (node my_softmax)", "Transpose (node my_transpose)", "Erf (node node_Erf", "What to do"]))
    g = G(); m = g.model(g.head(g.op("Relu", ["x"]), F))
    results.append(expect_failure(bead, work, "feature_count", m, "a,b,c", ["3 features given", "6 columns"]))
    results.append(expect_failure(bead, work, "duplicate_feature", m, "a,b,a,c,d,e", ["listed twice"]))
    g = G(); relu = g.op("Relu", ["x"]); y = g.head(relu, F)
    m = g.model(y)
    m.graph.output.append(helper.make_tensor_value_info(relu, TensorProto.FLOAT, ["batch", F]))
    results.append(expect_failure(bead, work, "two_outputs", m, ",".join(f"f{i}" for i in range(F)), ["--output-name", y, relu]))
    results.append(check_model(bead, work, "two_outputs_chosen", m, extra=("--output-name", y), output=y))
    # A NaN weight is refused at import (and load), naming the tensor.
    g = G(); w = rand(F, 4); w[2, 1] = np.nan
    m = g.model(g.head(g.op("MatMul", ["x", g.init(w)]), 4))
    bad = m.graph.initializer[0].name
    results.append(expect_failure(bead, work, "nan_weight", m, ",".join(f"f{i}" for i in range(F)), [bad, "non-finite"]))
    # Events with NaN are refused by `bead score`, naming column and row.
    names = [f"f{i}" for i in range(57)]
    x = events(57, 40)
    x[4, 3] = np.nan
    csv = os.path.join(work, "nan_events.csv")
    write_csv(csv, x, names)
    r = run([bead, "score", "--model", os.path.join(work, "axol1tl.bead.onnx"), "--input", csv, "-o", os.path.join(work, "nan.csv"), "-q"])
    ok = r.returncode != 0 and "f3" in r.stderr and "row 4" in r.stderr
    print(f"{'ok  ' if ok else 'FAIL'} nan_event: refused: {r.stderr.strip()}")
    results.append(ok)
    return results


def workflow(bead, work, sample):
    """The imported AXOL1TL-style encoder through calibrate, evaluate and bench on real files."""
    import glob
    import json

    import pyarrow.parquet as pq

    background = os.path.join(sample, "test", "pythia-vincia.parquet")
    names = [n for n in pq.read_schema(background).names if n not in ("source", "process", "event_id", "weight")]
    src, dst = os.path.join(work, "axol1tl.onnx"), os.path.join(work, "axol1tl_sample.bead.onnx")
    results = []
    r = run([bead, "import", src, "--features", ",".join(names), "--score-name", "axol1tl", "-o", dst])
    results.append(r.returncode == 0)
    x = np.stack([pq.read_table(background).column(n).to_numpy().astype(np.float32) for n in names], axis=1)
    out = os.path.join(work, "sample_scores.csv")
    r = run([bead, "score", "--model", dst, "--input", background, "-o", out, "-q"])
    worst = compare(np.loadtxt(out, delimiter=",", skiprows=1, usecols=0, ndmin=1), ort_scores(src, x)) if r.returncode == 0 else np.inf
    results.append(worst <= REL)
    print(f"{'ok  ' if results[-1] else 'FAIL'} workflow score: {len(x)} sample events, worst relative difference {worst:.2e}")
    r = run([bead, "calibrate", "--model", dst, "--background", background, "--fpr", "1e-1", "1e-2", "--no-weights"])
    meta = json.loads({p.key: p.value for p in onnx.load(dst).metadata_props}["bead"])
    ok = r.returncode == 0 and [t["fpr"] for t in meta["thresholds"]] == [1e-1, 1e-2]
    if ok:  # the 1e-2 threshold leaves 1% of the calibration events' scores above it
        above = float(np.mean(ort_scores(src, x).ravel() > meta["thresholds"][1]["threshold"]))
        ok = abs(above - 1e-2) <= 1.0 / len(x) + 1e-9
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} workflow calibrate: {r.stdout.strip() or r.stderr.strip()}")
    report = os.path.join(work, "evaluate.json")
    r = run([bead, "evaluate", "--model", dst, "--background", *sorted(glob.glob(os.path.join(sample, "test", "*.parquet"))),
             "--signal", *sorted(glob.glob(os.path.join(sample, "signals", "*.parquet"))), "--fpr", "1e-2", "--json", report])
    results.append(r.returncode == 0 and os.path.getsize(report) > 0)
    print(f"{'ok  ' if results[-1] else 'FAIL'} workflow evaluate: {'report written' if results[-1] else r.stderr.strip()}")
    r = run([bead, "bench", "--model", dst, "--json", "--repetitions", "20000"])
    bench = json.loads(r.stdout) if r.returncode == 0 else {}
    results.append(bench.get("p50_ns", 0) > 0 and bench.get("features") == len(names))
    print(f"{'ok  ' if results[-1] else 'FAIL'} workflow bench --json: p50 {bench.get('p50_ns')} ns")
    # Failures print one JSON object with the error on stdout, and exit non-zero.
    for bad, needle in [(src, "needs `bead import"), (os.path.join(work, "missing.onnx"), "missing.onnx")]:
        r = run([bead, "bench", "--model", bad, "--json"])
        try:
            err = json.loads(r.stdout)["error"]
        except (ValueError, KeyError):
            err = None
        ok = r.returncode != 0 and err is not None and needle in err
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} bench --json on {os.path.basename(bad)}: {r.stdout.strip()}")
    return results


def torch_cases(bead, work):
    try:
        import torch
    except ImportError:
        print("skip pytorch: torch is not importable here")
        return []
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(F, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
        torch.nn.Linear(16, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 4), torch.nn.ELU(),
        torch.nn.Linear(4, 1), torch.nn.Softplus()).eval()
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    x = torch.randn(4, F)
    results = []
    for dynamo in [False, True]:
        path = os.path.join(work, f"torch_{'dynamo' if dynamo else 'torchscript'}.onnx")
        try:
            kw = {"dynamo": dynamo}
            if dynamo:
                kw["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
            else:
                kw["dynamic_axes"] = {"x": {0: "batch"}}
            torch.onnx.export(net, (x,), path, input_names=["x"], output_names=["y"], **kw)
        except Exception as e:  # an exporter missing from this torch version
            print(f"skip pytorch {'dynamo' if dynamo else 'torchscript'} export: {type(e).__name__}: {e}")
            continue
        results.append(check_model(bead, work, os.path.basename(path)[:-5], path))
    return results


def main():
    bead, work = sys.argv[1], sys.argv[2]
    ort.set_default_logger_severity(3)  # opset-6 models are meant: no warnings about them
    os.makedirs(work, exist_ok=True)
    results = [check_model(bead, work, name, m) for name, m in cases().items()]
    results.append(check_model(bead, work, "axol1tl", axol1tl(), width=57))
    results += refusals(bead, work)
    if len(sys.argv) > 3:
        results += workflow(bead, work, sys.argv[3])
    results += torch_cases(bead, work)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
