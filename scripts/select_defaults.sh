#!/usr/bin/env bash
# How the defaults were chosen, without test data: leave one source out as in
# scripts/robustness.sh, but measure the unseen source on its *training* file (a model that
# leaves a source out never sees any of its events) and set thresholds on the trained
# sources' validation split. Signal AUCs are those of the signals' validation halves. Prints
# the README's selection table. A benchmark: about 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --workspace
bead="$CARGO_TARGET_DIR/release/bead"
data=${BEAD_DATA:-../shared/data}
designs=${*:-vae_supcon_mu axol1tl raw_supcon_mu}
for d in $designs; do
  "$bead" robustness --config "configs/robustness/$d.toml" \
    --train "$data/train/*.parquet" --test "$data/train/*.parquet" \
    --signal "$data/signals/*.parquet" --seeds "${SEEDS:-3}" --fpr 1e-2 1e-3 \
    --no-single-source --out "runs/select/$d" -q >/dev/null
done
python3 - $designs <<'PY'
import json, sys
print("| design | unseen | head | inflation @1e-2 | inflation @1e-3 | validation AUC hv_dark_jets | validation AUC wprime_wz | silhouette μ |")
print("|---|---|---|---|---|---|---|---|")
for d in sys.argv[1:]:
    r = json.load(open(f"runs/select/{d}/robustness.json"))
    for s in r["left_out"]:
        h = next(h for h in s["heads"] if h["score"] == s["selected_head"])
        ms = lambda v, p=2: f"{v['mean']:.{p}f} ± {v['std']:.{p}f}"
        cells = [d, s["source"], h["score"], ms(h["inflation"]["1e-2"]), ms(h["inflation"]["1e-3"])]
        cells += [ms(h["auc_validation"][g], 3) for g in sorted(h["auc_validation"])]
        cells += [f"{s['silhouette']['mean']:+.4f}"]
        print("| " + " | ".join(cells) + " |")
PY
