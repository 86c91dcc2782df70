#!/usr/bin/env python3
"""Cross-check exported models against the reference ONNX tooling.

For every model given: `onnx.checker.check_model(full_check=True)` must pass, and ONNX
Runtime's scores on the events must equal `bead score` (the zero-allocation runtime) to a
relative 1e-5, measured at the typical size of the score (the median), because a score that
is a small difference of large numbers inherits float32 round-off at the size of those numbers.

usage: onnx_runtime_check.py BEAD_BINARY EVENTS.parquet MODEL.onnx...
"""
import json
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow.parquet as pq

REL = 1e-5


def main() -> int:
    bead, events_path, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    table = pq.read_table(events_path)
    failures = 0
    for path in models:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        meta = json.loads({p.key: p.value for p in model.metadata_props}["bead"])
        x = np.stack([table.column(f).to_numpy().astype(np.float32) for f in meta["features"]], axis=1)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        ref = sess.run(["score"], {"events": x})[0].astype(np.float64)
        with tempfile.NamedTemporaryFile(suffix=".csv") as out:
            subprocess.run([bead, "score", "--model", path, "--input", events_path, "-o", out.name, "-q"],
                           check=True, stdout=subprocess.DEVNULL)
            ours = np.loadtxt(out.name, delimiter=",", skiprows=1, usecols=0, dtype=np.float64)
        scale = np.median(np.abs(ref))
        err = np.abs(ours - ref) / np.maximum(np.maximum(np.abs(ref), np.abs(ours)), scale)
        worst = float(err.max())
        ok = ours.shape == ref.shape and worst <= REL
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {path}: score {meta['score']}, {len(ref)} events, "
              f"onnx.checker passed, worst relative difference to ONNX Runtime {worst:.2e}")
    print(f"{len(models) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
