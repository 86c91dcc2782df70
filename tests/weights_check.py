#!/usr/bin/env python3
"""Weighted evaluation against an independent computation (numpy, and scikit-learn where the
weights are non-negative).

Usage: weights_check.py BEAD_BINARY MODEL.onnx OUTDIR

Writes weighted copies of the shipped test and signal samples (background weights in
[-0.3, 2): some negative, total positive), scores them with `bead score`, runs
`bead evaluate` on them and checks every weighted number of its report: AUC (weighted
Mann-Whitney, ties 1/2), FPR and inflation per source at the deployed threshold, TPR at the
deployed threshold and at the test-pooled working point. Also checks that a sample whose total
weight is <= 0 is refused with an error naming its file.
"""
import glob
import json
import pathlib
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

bead, model, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(7)


def weighted_copy(pattern, path, low, high):
    table = pa.concat_tables([pq.read_table(f) for f in sorted(glob.glob(pattern))])
    w = rng.uniform(low, high, table.num_rows).astype(np.float32)
    i = table.schema.get_field_index("weight")
    table = table.set_column(i, "weight", pa.array(w))
    pq.write_table(table, path)
    return table


bkg = weighted_copy("data/sample/test/*.parquet", out / "background.parquet", -0.3, 2.0)
sig = weighted_copy("data/sample/signals/hv_dark_jets.parquet", out / "signal.parquet", 0.0, 3.0)


def scores(path):
    dst = out / (path.stem + "_scores.parquet")
    subprocess.run([bead, "score", "--model", model, "--input", str(path), "-o", str(dst), "-q"],
                   check=True)
    return pq.read_table(dst).column("score").to_numpy().astype(np.float64)


sb, ss = scores(out / "background.parquet"), scores(out / "signal.parquet")
wb = bkg.column("weight").to_numpy().astype(np.float64)
ws = sig.column("weight").to_numpy().astype(np.float64)
src = np.array(bkg.column("source").to_pylist())

subprocess.run([bead, "evaluate", "--model", model, "--background", str(out / "background.parquet"),
                "--signal", str(out / "signal.parquet"), "--fpr", "1e-2",
                "--json", str(out / "report.json")], check=True, stdout=subprocess.DEVNULL)
report = json.loads((out / "report.json").read_text())
head = report["heads"][0]
t = np.float32(head["threshold"])


def auc(b, wb, s, ws):
    """Weighted Mann-Whitney with ties 1/2, straight from the definition (blocked)."""
    num = 0.0
    for i in range(0, len(s), 256):
        x = s[i:i + 256, None]
        k = (x > b[None, :]) + 0.5 * (x == b[None, :])
        num += (ws[i:i + 256, None] * k * wb[None, :]).sum()
    return num / (wb.sum() * ws.sum())


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


failures = []
sig_rep = head["signals"][0]
want = auc(sb, wb, ss, ws)
if rel(sig_rep["auc"], want) > 1e-9:
    failures.append(f"AUC {sig_rep['auc']} vs numpy {want}")
try:
    from sklearn.metrics import roc_auc_score

    wpos = np.abs(wb)  # sklearn wants non-negative weights: compare on |w| separately
    y = np.r_[np.zeros(len(sb)), np.ones(len(ss))]
    sk = roc_auc_score(y, np.r_[sb, ss], sample_weight=np.r_[wpos, ws])
    mine = auc(sb, wpos, ss, ws)
    if rel(mine, sk) > 1e-9:
        failures.append(f"numpy AUC {mine} vs sklearn {sk} (non-negative weights)")
    print(f"sklearn AUC (|w|) {sk:.6f}, numpy {mine:.6f}")
except ImportError:
    print("scikit-learn not installed: numpy reference only")

deployed = ss[ss > t].size and ws[ss > t].sum() / ws.sum()
if rel(sig_rep["tpr_deployed"]["value"], deployed) > 1e-9:
    failures.append(f"deployed TPR {sig_rep['tpr_deployed']['value']} vs {deployed}")
wp = sig_rep["tpr_at_fpr"]["1e-2"]
if wp is not None:
    tw = np.float32(wp["threshold"])
    above = wb[sb > tw].sum() / wb.sum()
    # The working point: the lowest sample value whose weighted rate above it is <= 1e-2.
    lower = sb[sb < tw]
    nxt = lower.max() if lower.size else None
    if above > 1e-2 + 1e-12 or (nxt is not None and wb[sb > nxt].sum() / wb.sum() <= 1e-2):
        failures.append(f"working point {tw}: rate above {above}, next lower value {nxt}")
    if rel(wp["value"], ws[ss > tw].sum() / ws.sum()) > 1e-9:
        failures.append("TPR at the test-pooled working point")
for s in head["sources"]:
    m = src == s["name"]
    fpr = wb[m][sb[m] > t].sum() / wb[m].sum()
    if rel(s["fpr"], fpr) > 1e-9:
        failures.append(f"{s['name']}: FPR {s['fpr']} vs numpy {fpr}")
    neff = wb[m].sum() ** 2 / (wb[m] ** 2).sum()
    if rel(s["effective_events"], neff) > 1e-9:
        failures.append(f"{s['name']}: effective events {s['effective_events']} vs {neff}")
    lo, hi = s["inflation_interval"]
    if not (lo <= s["inflation"] <= hi):
        failures.append(f"{s['name']}: inflation {s['inflation']} outside [{lo}, {hi}]")
    print(f"{s['name']}: weighted FPR {fpr:.5f} (report {s['fpr']:.5f}), n_eff {neff:.0f}, "
          f"inflation {s['inflation']:.2f} [{lo:.2f}, {hi:.2f}]")

# A sample whose weights sum to <= 0 is refused, naming the file.
neg = bkg.set_column(bkg.schema.get_field_index("weight"), "weight",
                     pa.array(-np.abs(wb).astype(np.float32)))
pq.write_table(neg, out / "negative.parquet")
r = subprocess.run([bead, "evaluate", "--model", model, "--background", str(out / "negative.parquet"),
                    "--signal", str(out / "signal.parquet"), "--fpr", "1e-2"],
                   capture_output=True, text=True)
if r.returncode == 0 or "total event weight" not in r.stderr or "negative.parquet" not in r.stderr:
    failures.append(f"negative total weight not refused by name: {r.returncode} {r.stderr!r}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"weighted evaluation: AUC {sig_rep['auc']:.6f}, {len(head['sources'])} sources, "
      "all equal to the numpy reference")
