#!/usr/bin/env bash
# Leave-one-source-out robustness of every design in configs/robustness on ../shared/data:
# 3 seeds × 40 epochs, thresholds calibrated on the trained sources' test events (>100k),
# FPR 1e-1 … 1e-4. Writes runs/robustness/<design>/robustness.{json,md} and PNGs, then the
# README summary table. A benchmark, not a test: about 6 minutes per design on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --workspace
bead="$CARGO_TARGET_DIR/release/bead"
data=${BEAD_DATA:-../shared/data}
designs=${*:-$(ls configs/robustness/*.toml | xargs -n1 basename | sed 's/\.toml$//')}
for d in $designs; do
  "$bead" robustness --config "configs/robustness/$d.toml" \
    --train "$data/train/*.parquet" --test "$data/test/*.parquet" \
    --calibration "$data/test/*.parquet" --signal "$data/signals/*.parquet" \
    --seeds "${SEEDS:-3}" --fpr 1e-1 1e-2 1e-3 1e-4 --out "runs/robustness/$d" -q >/dev/null
done
python3 scripts/robustness_table.py runs/robustness/*/robustness.json
