#!/usr/bin/env bash
# Regenerate the README results table: train the four configurations in configs/results on
# ../shared/data/train, evaluate on ../shared/data/test and ../shared/data/signals, and print
# a Markdown table (best score head of each model by mean signal AUC).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --workspace
bead="$CARGO_TARGET_DIR/release/bead"
data=../shared/data
for cfg in configs/results/*.toml; do
  name=$(basename "$cfg" .toml)
  out=runs/results/$name
  rm -rf "$out"
  "$bead" train --config "$cfg" --out "$out" -q
  "$bead" evaluate --model "$out" --background "$data/test/*.parquet" \
    --signal "$data/signals/*.parquet" --fpr 1e-3 --json "$out/report.json" --plots "$out/plots" >/dev/null
done
python3 scripts/results_table.py runs/results/*/report.json
