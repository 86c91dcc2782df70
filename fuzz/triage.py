#!/usr/bin/env python3
"""Triage of the mismatches `bead-fuzz` found: models bead loads but scores differently from
tract. For each `fuzz/mismatches/model/*.onnx` (with its `.txt`: bead's and tract's scores),
ONNX Runtime scores the same event, and the model is classified:

- bead == ORT: tract is wrong (or differs on NaN or extreme values);
- bead != ORT: look at it (a bead bug, or ill-conditioned arithmetic);
- ORT refuses the model: ONNX's checker disagrees with bead's loader.

usage: python3 fuzz/triage.py [DIR]   (needs onnx, onnxruntime, numpy)
"""
import glob
import math
import os
import re
import sys

import numpy as np
import onnx
import onnxruntime as ort

ort.set_default_logger_severity(3)


def score_ort(path):
    m = onnx.load(path)
    g = m.graph
    inp = [i for i in g.input if i.name not in {t.name for t in g.initializer}][0]
    f = inp.type.tensor_type.shape.dim[1].dim_value
    # The event bead-fuzz scores: (i - 3) * 1.5 for feature i.
    e = np.array([[(i - 3) * 1.5 for i in range(f)]], dtype=np.float32)
    s = ort.InferenceSession(m.SerializeToString())
    names = [o.name for o in s.get_outputs()]
    return float(s.run(None, {inp.name: e})[names.index("score")].ravel()[0])


def close(a, b):
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b or abs(a - b) <= 1e-3 * (1 + max(abs(a), abs(b)))


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "fuzz/mismatches"
    counts = {}
    for path in sorted(glob.glob(os.path.join(folder, "model", "*.onnx"))):
        note = open(path[:-5] + ".txt").read().strip() if os.path.exists(path[:-5] + ".txt") else ""
        m = re.match(r"score (\S+) but tract gives Some\((\S+)\)", note)
        try:
            theirs = score_ort(path)
        except Exception as e:  # noqa: BLE001 (any ORT failure is a category)
            kind = "ORT refuses it"
            print(f"{kind:28} {os.path.basename(path)}: {note} | ORT: {str(e)[:120]}")
            counts[kind] = counts.get(kind, 0) + 1
            continue
        if m is None:
            kind = "tract refuses or fails"
        else:
            bead = float(m.group(1))
            kind = "bead == ORT (tract differs)" if close(bead, theirs) else "bead != ORT"
        print(f"{kind:28} {os.path.basename(path)}: {note} | ORT {theirs}")
        counts[kind] = counts.get(kind, 0) + 1
    for k, v in sorted(counts.items()):
        print(f"{v:5}  {k}")


if __name__ == "__main__":
    main()
