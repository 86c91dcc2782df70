"""ROOT files in Python: uproot → pandas (flat trees) or awkward (NanoAOD-style trees) → bead
gives `bead score`'s numbers, and `bead score` on the same ROOT files agrees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import TEST_FILES, run_bead

uproot = pytest.importorskip("uproot")
ak = pytest.importorskip("awkward")
from test_coffea import events_from_frame  # noqa: E402

from bead.coffea import bead_wrapper  # noqa: E402  (needs awkward)

COLLECTIONS = ("Jet", "Electron", "Muon")


def _write(path, branches):
    with uproot.recreate(path) as f:
        f.mktree(
            "Events",
            {
                k: (v.type if isinstance(v, ak.Array) else ("string" if v.dtype == object else v.dtype))
                for k, v in branches.items()
            },
        )
        f["Events"].extend(branches)


def _bead_scores(bead_bin, model_path, paths, out):
    run_bead(bead_bin, "score", "--model", model_path, "--input", *paths, "-o", out, "-q")
    return pq.read_table(out).column("score").to_numpy()


def test_flat_tree_through_uproot_and_pandas(model, model_path, bead_bin, rust_scores, tmp_path):
    paths = []
    for i, p in enumerate(TEST_FILES):
        frame = pd.read_parquet(p)
        paths.append(tmp_path / f"flat{i}.root")
        _write(paths[-1], {c: frame[c].to_numpy() for c in frame.columns})
    # The README recipe: one branch per feature, read into pandas, scored by column name.
    scores = pd.concat(
        [model.score_frame(uproot.open(p)["Events"].arrays(model.feature_names, library="pd")) for p in paths]
    )
    np.testing.assert_array_equal(scores.to_numpy(), rust_scores)
    np.testing.assert_array_equal(
        _bead_scores(bead_bin, model_path, paths, tmp_path / "s.parquet"), rust_scores
    )


def test_nanoaod_tree_through_uproot_and_the_coffea_wrapper(
    model, model_path, bead_bin, rust_scores, tmp_path
):
    rng = np.random.default_rng(3)
    paths = []
    for i, p in enumerate(TEST_FILES):
        events = events_from_frame(pd.read_parquet(p), rng)
        paths.append(tmp_path / f"nano{i}.root")
        _write(
            paths[-1],
            {c: events[c] for c in COLLECTIONS}
            | {"MET_pt": events.MET.pt.to_numpy(), "MET_phi": events.MET.phi.to_numpy()},
        )
    scorer = bead_wrapper(model)
    parts = []
    for p in paths:
        # The README recipe: NanoAOD branches into awkward records, padded by the wrapper.
        a = uproot.open(p)["Events"].arrays(
            filter_name=["/(Jet|Electron|Muon)_(pt|eta|phi)/", "MET_pt", "MET_phi"]
        )
        events = ak.zip(
            {c: ak.zip({f: a[f"{c}_{f}"] for f in ("pt", "eta", "phi")}) for c in COLLECTIONS}
            | {"MET": ak.zip({"pt": a.MET_pt, "phi": a.MET_phi})},
            depth_limit=1,
        )
        parts.append(np.asarray(scorer(events)))
    np.testing.assert_array_equal(np.concatenate(parts), rust_scores)
    np.testing.assert_array_equal(
        _bead_scores(bead_bin, model_path, paths, tmp_path / "s.parquet"), rust_scores
    )
