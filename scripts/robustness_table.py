#!/usr/bin/env python3
"""README summary of `bead robustness` reports: one row per design (trained on all sources
but the unseen one) and per single-source baseline, each with the head chosen on the signals'
validation halves. Usage: robustness_table.py runs/robustness/*/robustness.json"""
import json
import pathlib
import sys

FPRS = ["1e-2", "1e-3"]


def fmt(s):
    if s is None or s.get("mean") is None or s["mean"] != s["mean"]:
        return "n/a"
    return f"{s['mean']:.2f} ± {s['std']:.2f}"


def head(result, name=None):
    name = name or result.get("selected_head")
    return next((h for h in result["heads"] if h["score"] == name), None)


def mean_of(values):
    values = [v for v in values if v is not None and v == v]
    return sum(values) / len(values) if values else float("nan")


def main(paths):
    reports = [(pathlib.Path(p).parent.name, json.loads(pathlib.Path(p).read_text())) for p in paths]
    if not reports:
        sys.exit("no reports")
    sources = [r["source"] for r in reports[0][1]["left_out"]]
    signals = sorted(reports[0][1]["left_out"][0]["heads"][0]["auc"].keys())
    cols = ["design", "trained on", "head"]
    cols += [f"inflation {s} @{f}" for s in sources for f in FPRS]
    cols += [f"AUC {g}" for g in signals] + [f"TPR {g} @1e-3" for g in signals]
    cols += ["silhouette μ"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))

    def row(design, trained_on, experiments):
        heads = sorted({e.get("selected_head") or "n/a" for e in experiments})
        cells = [design, trained_on, "/".join(heads)]
        for s in sources:
            e = next((e for e in experiments if e["source"] == s), None)
            h = head(e) if e else None
            for f in FPRS:
                cells.append(fmt(h["inflation"].get(f)) if h else "—")
        hs = [head(e) for e in experiments if head(e)]
        for g in signals:
            cells.append(f"{mean_of([h['auc'][g]['mean'] for h in hs]):.3f}")
        for g in signals:
            cells.append(f"{mean_of([h['tpr'][g].get('1e-3', {}).get('mean') for h in hs]):.3f}")
        sil = [e["silhouette"]["mean"] for e in experiments if e.get("silhouette")]
        cells.append(f"{mean_of(sil):.3f}" if sil else "n/a")
        print("| " + " | ".join(cells) + " |")

    for design, r in reports:
        row(design, "all but the unseen", r["left_out"])
        for single in r["single_source"]:
            row(design, f"{single['trained_on']} only", single["unseen"])


if __name__ == "__main__":
    main(sys.argv[1:])
