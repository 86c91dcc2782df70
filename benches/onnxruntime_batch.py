#!/usr/bin/env python3
"""Time ONNX Runtime on one ONNX file, single-threaded, in batches: the other side of the
batch comparison that `bead bench --onnxruntime` and `benches/infer_latency.rs` print.

usage: onnxruntime_batch.py MODEL.onnx [--batch 1024] [--seconds 2] [--json]

Events are synthetic (uniform in [0, 200), the same range `bead bench` draws), fed as one
`[batch, F]` float32 array per `run` call with `intra_op_num_threads = 1` and
`inter_op_num_threads = 1`, sequential execution, all graph optimisations on. Prints the
median over calls of ns per event (also for batch 1 with `--single`), or one JSON object.
"""
import argparse
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def session(path: str) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def median_ns_per_event(sess, name: str, x: np.ndarray, seconds: float) -> float:
    out = ["score"] if any(o.name == "score" for o in sess.get_outputs()) else None
    for _ in range(5):
        sess.run(out, {name: x})
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 20:
        t = time.perf_counter_ns()
        sess.run(out, {name: x})
        samples.append((time.perf_counter_ns() - t) / x.shape[0])
    return float(np.median(samples))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--single", action="store_true", help="also time batch 1")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    sess = session(a.model)
    inp = sess.get_inputs()[0]
    f = inp.shape[1]
    rng = np.random.default_rng(1)
    x = (rng.random((a.batch, f)) * 200.0).astype(np.float32)
    res = {"onnxruntime": ort.__version__, "batch": a.batch,
           "batch_ns_per_event": median_ns_per_event(sess, inp.name, x, a.seconds)}
    if a.single:
        res["single_ns"] = median_ns_per_event(sess, inp.name, x[:1], a.seconds / 2)
    if a.json:
        print(json.dumps(res))
    else:
        print(f"onnxruntime {res['onnxruntime']}, 1 thread: batch {a.batch}: "
              f"{res['batch_ns_per_event']:.1f} ns/event")
        if a.single:
            print(f"onnxruntime, 1 thread: single event: {res['single_ns']:.1f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
