#!/usr/bin/env bash
# Training throughput of the default model at batch 512, bead (burn, criterion) and PyTorch on
# CPU, measured one after the other in the same run; prints both and their ratio.
# PyTorch is pip-installed by torch_train.py if missing (a large download).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
threads="${THREADS:-2}"
cargo bench --bench train_throughput -- 'step/(recon_kl|supcon)/trainer' >/dev/null
python3 benches/torch_train.py --threads "$threads" > "$CARGO_TARGET_DIR/torch_train.jsonl"
python3 - "$CARGO_TARGET_DIR" <<'PY'
import json, sys
root = sys.argv[1]
torch = {j["loss"]: j for j in map(json.loads, open(f"{root}/torch_train.jsonl"))}
print(f"{'loss':<10} {'bead ms/step':>13} {'bead events/s':>14} {'torch ms/step':>14} {'torch events/s':>15} {'ratio':>6}")
for loss in ("recon_kl", "supcon"):
    est = json.load(open(f"{root}/criterion/step/{loss}/trainer/new/estimates.json"))
    ms = est["median"]["point_estimate"] / 1e6
    t = torch[loss]
    print(f"{loss:<10} {ms:>13.3f} {512 / ms * 1e3:>14.0f} {t['ms_per_step']:>14.3f} {t['events_per_s']:>15.0f} {t['ms_per_step'] / ms:>6.2f}")
PY
