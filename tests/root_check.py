"""ROOT input end to end: `bead score`, `evaluate` and `train` on ROOT files written by uproot.

    python3 tests/root_check.py BEAD MODEL_DIR OUT_DIR

From the shipped Parquet sample it writes (1) flat TTrees, one branch per column, and (2)
NanoAOD-style trees whose padded objects are re-split into variable-length collections
(`nJet`, `Jet_pt[nJet]`, ...; `MET_pt`, `MET_phi`, no `MET_eta`) in random order, with each
codec ROOT writes. Scores of every ROOT file must equal those of the Parquet file exactly;
`bead evaluate` must give the same report; `bead train --epochs 1` must run from ROOT; and
missing branches, wrong types, missing trees and ambiguous trees must be errors naming the
file, the tree and the branch.
"""

import json
import pathlib
import subprocess
import sys

import awkward as ak
import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import uproot

bead, model_dir, out = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
onnx = model_dir / "model.onnx"
out.mkdir(parents=True, exist_ok=True)
sample = pathlib.Path(__file__).resolve().parent.parent / "data" / "sample"
rng = np.random.default_rng(7)
OBJECTS = {"e": ("Electron", 4), "mu": ("Muon", 4), "j": ("Jet", 10)}


def run(*args, ok=True):
    r = subprocess.run([bead, *map(str, args)], capture_output=True, text=True)
    if ok and r.returncode != 0:
        sys.exit(f"bead {' '.join(map(str, args))} failed:\n{r.stderr}")
    if not ok and r.returncode == 0:
        sys.exit(f"bead {' '.join(map(str, args))} should have failed")
    return r


def scores(path):
    return pacsv.read_csv(path).column("score").to_numpy()


def write_tree(path, trees, compression=uproot.ZLIB(1)):
    with uproot.recreate(path, compression=compression) as f:
        for name, data in trees.items():
            f.mktree(name, {k: (v.type if isinstance(v, ak.Array) else
                                ("string" if v.dtype.kind in "UO" else v.dtype))
                            for k, v in data.items()})
            f[name].extend(data)


def flat(table):
    return {c: (np.asarray(table[c].to_pylist(), dtype=str) if c in ("source", "process")
                else table[c].to_numpy()) for c in table.column_names}


def nano(table):
    """The padded layout as NanoAOD collections: present objects only, shuffled per event."""
    data = {}
    for prefix, (coll, n) in OBJECTS.items():
        pt = np.stack([table[f"{prefix}{k}_pt"].to_numpy() for k in range(1, n + 1)], 1)
        eta = np.stack([table[f"{prefix}{k}_eta"].to_numpy() for k in range(1, n + 1)], 1)
        phi = np.stack([table[f"{prefix}{k}_phi"].to_numpy() for k in range(1, n + 1)], 1)
        present = (pt != 0) | (eta != 0) | (phi != 0)
        fields = {"pt": [], "eta": [], "phi": []}
        for i in range(len(pt)):
            idx = np.flatnonzero(present[i])
            idx = idx[rng.permutation(len(idx))]
            for name, arr in (("pt", pt), ("eta", eta), ("phi", phi)):
                fields[name].append(arr[i, idx])
        data[coll] = ak.zip({k: ak.values_astype(ak.Array(v), np.float32) for k, v in fields.items()})
    data["MET_pt"] = table["MET_pt"].to_numpy()
    data["MET_phi"] = table["MET_phi"].to_numpy()
    assert not table["MET_eta"].to_numpy().any(), "MET_eta is 0 in the data"
    for c in ("event_id", "weight"):
        data[c] = table[c].to_numpy()
    data["source"] = np.asarray(table["source"].to_pylist(), dtype=str)
    return data


parquet = sample / "test" / "pythia-vincia.parquet"
table = pq.read_table(parquet)
run("score", "--model", onnx, "--input", parquet, "-o", out / "parquet.csv", "-q")
reference = scores(out / "parquet.csv")

codecs = {"zlib": uproot.ZLIB(1), "lzma": uproot.LZMA(1), "lz4": uproot.LZ4(1), "zstd": uproot.ZSTD(3)}
for kind, make in (("flat", flat), ("nano", nano)):
    for codec, compression in codecs.items():
        if kind == "flat" and codec in ("lz4", "lzma"):
            continue
        path = out / f"{kind}_{codec}.root"
        write_tree(path, {"Events": make(table)}, compression)
        run("score", "--model", onnx, "--input", path, "-o", out / f"{kind}_{codec}.csv", "-q")
        got = scores(out / f"{kind}_{codec}.csv")
        assert np.array_equal(got, reference), f"{path.name}: scores differ from the Parquet file"
        print(f"{path.name}: {len(got)} scores identical to the Parquet file")
ids = pacsv.read_csv(out / "nano_zstd.csv").column("event_id").to_numpy()
assert np.array_equal(ids, table["event_id"].to_numpy()), "event_id not passed through"

# A tree not called Events, chosen with --tree.
write_tree(out / "named.root", {"Signal": nano(table), "Other": {"x": np.arange(3.0)}})
run("score", "--model", onnx, "--input", out / "named.root", "--tree", "Signal", "-o", out / "named.csv", "-q")
assert np.array_equal(scores(out / "named.csv"), reference)

# evaluate: the same report from ROOT as from Parquet (ONNX file and model directory).
signals = sorted((sample / "signals").glob("*.parquet"))
for s in signals:
    write_tree(out / f"{s.stem}.root", {"Events": nano(pq.read_table(s))}, uproot.LZMA(1))
backgrounds = sorted((sample / "test").glob("*.parquet"))
for b in backgrounds:
    write_tree(out / f"{b.stem}.root", {"Events": nano(pq.read_table(b))})
for model in (onnx, model_dir):
    reports = []
    for bkg, sig in (([str(p) for p in backgrounds], [str(p) for p in signals]),
                     ([str(out / f"{p.stem}.root") for p in backgrounds],
                      [str(out / f"{p.stem}.root") for p in signals])):
        js = out / "report.json"
        run("evaluate", "--model", model, "--background", *bkg, "--signal", *sig, "--fpr", "1e-2",
            "--json", js)
        reports.append(json.loads(js.read_text()))
    assert reports[0]["heads"] == reports[1]["heads"], f"{model}: evaluate differs between Parquet and ROOT"
    print(f"evaluate {model.name}: identical reports from Parquet and ROOT")

# train from NanoAOD-style ROOT (labels from the source branch), one epoch: the feature list
# (as in the shared data) sets the slots; the default [data.root] mapping does the rest.
features = [c for c in table.column_names if c not in ("source", "process", "event_id", "weight")]
(out / "bead.toml").write_text("[data]\nfeatures = [" + ", ".join(f'"{c}"' for c in features) + "]\n")
run("train", "--config", out / "bead.toml", "--train", *[out / f"{b.stem}.root" for b in backgrounds],
    "--epochs", "1", "--out", out / "trained", "-q")
manifest = json.loads((out / "trained" / "bead-model.json").read_text())
assert manifest["sources"] == sorted(b.stem for b in backgrounds), manifest["sources"]

# Errors name the file, the tree and the branch.
def fails(args, *words):
    err = run(*args, ok=False).stderr
    for w in words:
        assert w in err, f"{args}: `{w}` not in: {err}"

data = nano(table)
write_tree(out / "no_jet_eta.root", {"Events": {k: v for k, v in data.items() if k != "Jet"} |
                                      {"Jet": ak.zip({"pt": data["Jet"].pt, "phi": data["Jet"].phi})}})
fails(["score", "--model", onnx, "--input", out / "no_jet_eta.root", "-o", out / "x.csv"],
      "no_jet_eta.root", "tree `Events`", "branch `j1_eta`", "Jet_eta")
write_tree(out / "bool_jets.root", {"Events": data | {"Jet": ak.zip({
    "pt": data["Jet"].pt, "eta": ak.values_astype(data["Jet"].eta, np.int32) > 0, "phi": data["Jet"].phi})}})
fails(["score", "--model", onnx, "--input", out / "bool_jets.root", "-o", out / "x.csv"],
      "bool_jets.root", "tree `Events`", "branch `Jet_eta`", "bool[]")
write_tree(out / "bool_met.root", {"Events": data | {"MET_pt": table["MET_pt"].to_numpy() > 50}})
fails(["score", "--model", onnx, "--input", out / "bool_met.root", "-o", out / "x.csv"],
      "bool_met.root", "MET_pt", "bool branch in tree `Events`")
fails(["score", "--model", onnx, "--input", out / "nano_zlib.root", "--tree", "Nope", "-o", out / "x.csv"],
      "nano_zlib.root", "no tree `Nope`", "Events")
write_tree(out / "two.root", {"A": data, "B": data})
fails(["evaluate", "--model", onnx, "--background", out / "two.root", "--signal", out / "two.root"],
      "two.root", "A, B", "--tree")
pathlib.Path(out / "cut.root").write_bytes((out / "nano_zstd.root").read_bytes()[:30000])
fails(["score", "--model", onnx, "--input", out / "cut.root", "-o", out / "x.csv"], "cut.root")
print("root_check: all passed")
