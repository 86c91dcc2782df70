#!/usr/bin/env python3
"""Write a small, valid bead ONNX model for the C/C++ tests.

Used until (and alongside) a model produced by `bead train` + `bead export`: the CMake tests
take their model from the cache variable BEAD_TEST_MODEL, which defaults to the file this
script writes into the build tree.

The graph follows the ONNX contract in docs/DESIGN.md (opset 17, IR version 8):

    events [N,57] -> Mul(1/scale) -> Gemm(57x24)+Relu -> Gemm(24x16)+Relu -> Gemm(16x8) = mu
    score [N] = ReduceSum(mu * mu, axes=[1], keepdims=0)            ("mu2")

Weights come from a seeded generator, so the file is byte-for-byte reproducible.
The `bead` metadata entry has every key of the DESIGN.md example. The threshold for fpr 1e-3
is the 0.999 quantile of the model's scores on --calibration-csv if given, else 12.5.

With --write-events CSV, also writes N synthetic events (57 feature columns, then
source,process,event_id) for when no sample data is at hand.

Usage:
    make_test_model.py OUT.onnx [--calibration-csv events.csv] [--no-thresholds]
                       [--write-events events.csv [--num-events N]]

Needs the `onnx` and `numpy` packages (pip install onnx numpy).
"""

import argparse
import csv
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FEATURES = ["MET_pt", "MET_eta", "MET_phi"]
for prefix, count in (("e", 4), ("mu", 4), ("j", 10)):
    for i in range(1, count + 1):
        FEATURES += [f"{prefix}{i}_pt", f"{prefix}{i}_eta", f"{prefix}{i}_phi"]
assert len(FEATURES) == 57

SOURCES = ["pythia-simple-a14", "pythia-simple-monash", "pythia-vincia"]
LAYERS = [57, 24, 16, 8]


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def weights():
    rng = np.random.default_rng(20240611)
    scale = np.array(
        [100.0 if name.endswith("_pt") else 2.5 for name in FEATURES], dtype=np.float32
    )
    layers = []
    for fan_in, fan_out in zip(LAYERS[:-1], LAYERS[1:]):
        w = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        b = (0.1 * rng.standard_normal(fan_out)).astype(np.float32)
        layers.append((w, b))
    return (1.0 / scale).astype(np.float32), layers


def forward(x, inv_scale, layers):
    """float32 numpy reference of the graph (for calibration only)."""
    h = (x * inv_scale).astype(np.float32)
    for i, (w, b) in enumerate(layers):
        h = (h @ w + b).astype(np.float32)
        if i + 1 < len(layers):
            h = np.maximum(h, 0.0)
    return (h * h).sum(axis=1).astype(np.float32)


def read_events(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = [[float(row[name]) for name in FEATURES] for row in reader]
    return np.asarray(rows, dtype=np.float32)


def build(inv_scale, layers, thresholds):
    inits = [numpy_helper.from_array(inv_scale, "inv_scale")]
    nodes = [helper.make_node("Mul", ["events", "inv_scale"], ["x0"], name="scale")]
    prev = "x0"
    for i, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        last = i + 1 == len(layers)
        out = "mu" if last else f"g{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [out], name=f"gemm{i}"))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"h{i}"], name=f"relu{i}"))
            out = f"h{i}"
        prev = out
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "reduce_axes"))
    nodes.append(helper.make_node("Mul", ["mu", "mu"], ["mu_sq"], name="square"))
    nodes.append(
        helper.make_node("ReduceSum", ["mu_sq", "reduce_axes"], ["score"], name="mu2", keepdims=0)
    )
    graph = helper.make_graph(
        nodes,
        "bead_test_model",
        [helper.make_tensor_value_info("events", TensorProto.FLOAT, ["N", len(FEATURES)])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="bead-test-model",
        producer_version="0.1.0",
    )
    model.ir_version = 8
    config = json.dumps({"layers": LAYERS, "seed": 20240611}, sort_keys=True)
    meta = {
        "format": 1,
        "bead_version": "0.1.0",
        "features": FEATURES,
        "score": "mu2",
        "model": "vae",
        "latent_dim": LAYERS[-1],
        "sources": SOURCES,
        "preprocessing": {"note": "test model: a fixed 1/scale per feature"},
        "thresholds": thresholds,
        "config_hash": fnv1a64(config.encode()),
        "outputs": ["score"],
    }
    helper.set_model_props(model, {"bead": json.dumps(meta)})
    onnx.checker.check_model(model, full_check=True)
    return model


def write_events(path, count):
    """Synthetic trigger-like events: pT exponential (zero-padded objects), eta, phi uniform."""
    rng = np.random.default_rng(7)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(FEATURES + ["source", "process", "event_id"])
        for i in range(count):
            row = []
            present_objects = {}
            for name in FEATURES:
                obj = name.rsplit("_", 1)[0]
                if obj not in present_objects:
                    present_objects[obj] = obj == "MET" or rng.random() < 0.5
                present = present_objects[obj]
                if not present or (obj == "MET" and name.endswith("_eta")):
                    row.append(0.0)
                elif name.endswith("_pt"):
                    row.append(float(np.float32(20.0 + rng.exponential(60.0))))
                elif name.endswith("_eta"):
                    row.append(float(np.float32(rng.uniform(-2.5, 2.5))))
                else:
                    row.append(float(np.float32(rng.uniform(-np.pi, np.pi))))
            writer.writerow([repr(v) for v in row] + ["synthetic", "none", str(i)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--calibration-csv")
    parser.add_argument("--no-thresholds", action="store_true")
    parser.add_argument("--write-events")
    parser.add_argument("--num-events", type=int, default=1000)
    args = parser.parse_args()

    if args.write_events:
        write_events(args.write_events, args.num_events)
        if not args.calibration_csv:
            args.calibration_csv = args.write_events

    inv_scale, layers = weights()
    thresholds = []
    if not args.no_thresholds:
        threshold = 12.5
        if args.calibration_csv:
            scores = forward(read_events(args.calibration_csv), inv_scale, layers)
            threshold = float(np.quantile(scores, 1.0 - 1e-3))
        thresholds = [{"fpr": 0.001, "threshold": threshold}]
    onnx.save(build(inv_scale, layers, thresholds), args.out)


if __name__ == "__main__":
    main()
