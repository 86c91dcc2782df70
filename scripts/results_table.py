#!/usr/bin/env python3
"""Markdown results table from `bead evaluate --json` reports: one row per model, its best
score head (highest mean signal AUC); AUC and TPR at FPR 1e-3 per signal, false-positive
inflation at the 1e-3 threshold per background source, silhouette of mu by source."""
import json
import os
import sys


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def main():
    rows = []
    for path in sys.argv[1:]:
        r = json.load(open(path))
        best = max(r["heads"], key=lambda h: sum(s["auc"] for s in h["signals"]) / len(h["signals"]))
        rows.append((os.path.basename(os.path.dirname(path)), r, best))
    signals = [s["name"] for s in rows[0][2]["signals"]]
    sources = [s["name"] for s in rows[0][2]["sources"]]
    head = ["model", "score"] + [f"AUC {s}" for s in signals] + [f"TPR@1e-3 {s}" for s in signals] \
        + [f"inflation {s}" for s in sources] + ["silhouette μ", "silhouette μ/|μ|", "val. loss"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, r, h in rows:
        sig = {s["name"]: s for s in h["signals"]}
        src = {s["name"]: s for s in h["sources"]}
        tpr = lambda s: (sig[s]["tpr_at_fpr"].get("1e-3") or {}).get("value")
        cells = [name, h["score"]] + [fmt(sig[s]["auc"], ".3f") for s in signals] \
            + [fmt(tpr(s), ".3f") for s in signals] \
            + [f"{src[s]['inflation']:.2f} [{src[s]['inflation_interval'][0]:.2f}, {src[s]['inflation_interval'][1]:.2f}]"
               + ("" if src[s]["in_training"] else "*") for s in sources] \
            + [fmt((r.get("latent") or {}).get(k), ".4f")
               for k in ("silhouette_by_source", "silhouette_normalized", "validation_loss")]
        print("| " + " | ".join(cells) + " |")
    print("\n`*`: source not seen in training. Inflation: FPR on the test sample at the threshold "
          "calibrated for FPR 1e-3 on the training sources' validation events, divided by 1e-3 "
          "(68% Clopper-Pearson interval).")


if __name__ == "__main__":
    main()
