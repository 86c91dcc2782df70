"""Speed of the Python binding against the Rust runtime it wraps (a benchmark, not a test).

    python python/bench.py MODEL.onnx [--bead target/release/bead] [--events 1000000] [--json]

Measures, in one run so that both sides see the same machine load:
- `bead bench` (Rust): single-event p50 and `score_batch` ns/event (batch 1024), one core;
- `Model.score` on a C-contiguous float32 [events, F] array, one thread, then threads=2, 4, …
  up to the number of cores;
- `Model.score` on float64 and Fortran-order input, and `score_frame` on a pandas DataFrame
  and a pyarrow Table (columns packed by the runtime, no [N, F] copy);
- the Python call overhead at batch 1: `Model.score(x[i:i+1])` per call minus the Rust
  single-event p50.
Events are the shipped test sample (data/sample/test), tiled.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Python puts this script's folder first on sys.path, where `bead/` is the source package
# without its compiled module: import the installed one.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import bead  # noqa: E402


def best_of(repeats: int, fn) -> float:
    """Smallest wall time of `repeats` calls, seconds."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def rust_bench(bead_bin: str, model: str) -> dict:
    out = subprocess.run(
        [bead_bin, "bench", "--model", model, "--json", "--no-reference", "--repetitions", "1000000"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model")
    default_bin = os.environ.get("BEAD_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", REPO / "target"), "release", "bead"
    )
    parser.add_argument("--bead", default=default_bin, help="bead binary (for `bead bench`)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    import pandas as pd
    import pyarrow as pa

    model = bead.Model(args.model)
    sample = pd.concat([pd.read_parquet(p) for p in sorted((REPO / "data/sample/test").glob("*.parquet"))])
    base = np.ascontiguousarray(sample[model.feature_names].to_numpy(np.float32))
    x = np.ascontiguousarray(np.resize(base, (args.events, base.shape[1])))
    n = len(x)
    model.score(x[:10000])  # warm up

    result: dict = {"events": n, "features": x.shape[1], "kernel": model.kernel, "cores": os.cpu_count()}
    rust = rust_bench(args.bead, args.model)
    result["rust_single_p50_ns"] = rust["p50_ns"]
    result["rust_batch_ns_per_event"] = 1e9 / rust["batch"]["events_per_s"]

    t1 = best_of(3, lambda: model.score(x))
    result["python_score_ns_per_event"] = {"1": t1 / n * 1e9}
    threads = 2
    while threads <= max(2, os.cpu_count() or 1):
        t = best_of(3, lambda threads=threads: model.score(x, threads=threads))
        result["python_score_ns_per_event"][str(threads)] = t / n * 1e9
        threads *= 2
    result["speedup_threads"] = {k: t1 / n * 1e9 / v for k, v in result["python_score_ns_per_event"].items()}

    x64 = x.astype(np.float64)
    result["python_score_float64_ns_per_event"] = best_of(3, lambda: model.score(x64)) / n * 1e9
    xf = np.asfortranarray(x)
    result["python_score_fortran_ns_per_event"] = best_of(3, lambda: model.score(xf)) / n * 1e9
    frame = pd.DataFrame(x, columns=model.feature_names)
    result["score_frame_pandas_ns_per_event"] = best_of(3, lambda: model.score_frame(frame)) / n * 1e9
    table = pa.Table.from_pandas(frame)
    result["score_frame_arrow_ns_per_event"] = best_of(3, lambda: model.score_frame(table)) / n * 1e9

    # Batch 1: one event per call, cycling over distinct events.
    calls = 200_000
    rows = [x[i : i + 1] for i in range(1000)]
    score = model.score

    def single_calls():
        for i in range(calls):
            score(rows[i % 1000])

    per_call = best_of(3, single_calls) / calls * 1e9

    def empty_loop():
        for i in range(calls):
            rows[i % 1000]

    loop = best_of(3, empty_loop) / calls * 1e9
    result["python_batch1_ns_per_call"] = per_call - loop
    result["python_batch1_overhead_ns"] = per_call - loop - rust["p50_ns"]

    if args.json:
        print(json.dumps(result))
        return
    print(f"model {args.model}: {result['features']} features, kernel {result['kernel']}, {n} events")
    print(f"rust  bead bench single p50        {result['rust_single_p50_ns']:8.1f} ns/event")
    print(f"rust  bead bench batch 1024        {result['rust_batch_ns_per_event']:8.1f} ns/event")
    for k, v in result["python_score_ns_per_event"].items():
        print(
            f"python score, threads={k:<3}         {v:8.1f} ns/event  ({result['speedup_threads'][k]:.2f}x)"
        )
    print(f"python score, float64 input         {result['python_score_float64_ns_per_event']:8.1f} ns/event")
    print(f"python score, Fortran order         {result['python_score_fortran_ns_per_event']:8.1f} ns/event")
    print(f"python score_frame, pandas          {result['score_frame_pandas_ns_per_event']:8.1f} ns/event")
    print(f"python score_frame, pyarrow         {result['score_frame_arrow_ns_per_event']:8.1f} ns/event")
    print(f"python score, batch 1               {result['python_batch1_ns_per_call']:8.1f} ns/call")
    print(f"  overhead over the Rust single p50 {result['python_batch1_overhead_ns']:8.1f} ns")


if __name__ == "__main__":
    main()
