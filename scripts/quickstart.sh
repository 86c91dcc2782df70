#!/usr/bin/env bash
# Train, export, calibrate, score and evaluate on the shipped sample (data/sample), in about
# a minute on 2 cores. Output goes to runs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --workspace
bead="$CARGO_TARGET_DIR/release/bead"
out=runs/quickstart
rm -rf "$out"

# 1. Train a VAE on three generator configurations pooled (labels from the `source` column).
"$bead" train --config configs/quickstart.toml --out "$out"
# 2. Export preprocessing + encoder + the Σμ² score (the default head) to ONNX.
"$bead" export --model "$out" --score mu2 -o "$out/model.onnx"
# 3. Thresholds for FPR 1e-2 and 1e-3 on the validation background, written into the ONNX.
"$bead" calibrate --model "$out" --fpr 1e-2 1e-3
# 4. Score the test events with the runtime (one row per event, input order).
"$bead" score --model "$out/model.onnx" --input 'data/sample/test/*.parquet' -o "$out/scores.csv"
# 5. Detection power, false-positive inflation per source, plots.
"$bead" evaluate --model "$out" --background 'data/sample/test/*.parquet' \
  --signal 'data/sample/signals/*.parquet' --fpr 1e-2 --json "$out/report.json" --plots "$out/plots"
# 6. Latency of the exported model on this machine.
"$bead" bench --model "$out/model.onnx" --repetitions 200000
