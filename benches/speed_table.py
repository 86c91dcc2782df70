#!/usr/bin/env python3
"""The README speed table: bead, ONNX Runtime and tract on the same ONNX files, single event
and batch, each measured `--runs` times (medians; the development VM is shared and noisy).

usage: speed_table.py BEAD_BINARY MODEL.onnx... [--runs 3] [--batch 1024]

bead and tract numbers come from `bead bench --json` (tract 0.23.9 with a reused
`SimpleState`), ONNX Runtime's from `benches/onnxruntime_batch.py` (one thread).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def bead_bench(bead: str, model: str, reps: int) -> dict:
    out = subprocess.run([bead, "bench", "--model", model, "--json", "--repetitions", str(reps)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def ort(model: str, batch: int) -> dict:
    out = subprocess.run([sys.executable, os.path.join(HERE, "onnxruntime_batch.py"), model,
                          "--batch", str(batch), "--single", "--json", "--seconds", "1.5"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bead")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--repetitions", type=int, default=500000)
    a = ap.parse_args()
    med = statistics.median
    print(f"| model | bead single p50 | bead batch {a.batch} | ONNX Runtime single | "
          f"ONNX Runtime batch {a.batch} | tract single | tract batch {a.batch} | "
          f"bead / ORT batch | FMA peak | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m in a.models:
        runs_b, runs_o = [], []
        for _ in range(a.runs):  # alternate so that the machine's load hits both alike
            runs_b.append(bead_bench(a.bead, m, a.repetitions))
            runs_o.append(ort(m, a.batch))
        bs = med(r["p50_ns"] for r in runs_b)
        bb = med(r["batch"]["p50_ns"] for r in runs_b)
        ts = med(r["tract_single"]["p50_ns"] for r in runs_b)
        tb = med(r["tract_batch"]["p50_ns"] for r in runs_b)
        os_ = med(r["single_ns"] for r in runs_o)
        ob = med(r["batch_ns_per_event"] for r in runs_o)
        ratio = med(o["batch_ns_per_event"] / b["batch"]["p50_ns"] for b, o in zip(runs_b, runs_o))
        peak = med(r["batch_peak_fraction"] for r in runs_b)
        load = med(r["load_ms"] for r in runs_b)
        name = os.path.splitext(os.path.basename(m))[0]
        print(f"| {name} | {bs:.0f} ns | {bb:.0f} ns | {os_:.0f} ns | {ob:.0f} ns | {ts:.0f} ns | "
              f"{tb:.0f} ns | {ratio:.2f}x | {100 * peak:.0f}% | {load:.1f} ms |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
