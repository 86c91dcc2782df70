"""bead.coffea.bead_wrapper: awkward collections padded into the model's feature layout."""

from __future__ import annotations

import numpy as np
import pytest

import bead

ak = pytest.importorskip("awkward")
from bead.coffea import DEFAULT_COLLECTIONS, bead_wrapper, feature_layout  # noqa: E402  (needs awkward)

SLOTS = {"j": ("Jet", 10), "e": ("Electron", 4), "mu": ("Muon", 4)}


def _shuffle_within_events(array, rng):
    keys = ak.unflatten(rng.random(int(ak.sum(ak.num(array)))), ak.num(array))
    return array[ak.argsort(keys, axis=1)]


def events_from_frame(frame, rng):
    """The sample's padded columns back into jagged collections (objects with pT > 0), in
    random order within each event, and a MET record without eta (as NanoAOD has it)."""
    fields = {}
    for prefix, (name, n) in SLOTS.items():
        cols = {
            v: frame[[f"{prefix}{i}_{v}" for i in range(1, n + 1)]].to_numpy() for v in ("pt", "eta", "phi")
        }
        present = cols["pt"] > 0
        objects = ak.zip({v: c[present] for v, c in cols.items()})
        objects = ak.unflatten(objects, present.sum(axis=1))
        fields[name] = _shuffle_within_events(objects, rng)
    fields["MET"] = ak.zip({"pt": frame["MET_pt"].to_numpy(), "phi": frame["MET_phi"].to_numpy()})
    return ak.zip(fields, depth_limit=1)


def random_events(rng, n=3000):
    """Random collections with more objects than the model has slots, extra fields, and a MET
    record with eta."""

    def objects(max_count):
        counts = rng.integers(0, max_count + 1, n)
        total = counts.sum()
        flat = ak.zip(
            {
                "pt": rng.exponential(40.0, total).astype(np.float32) + 1,
                "eta": rng.normal(0, 1.5, total).astype(np.float32),
                "phi": rng.uniform(-np.pi, np.pi, total).astype(np.float32),
                "mass": rng.exponential(5.0, total).astype(np.float32),
            }
        )
        return ak.unflatten(flat, counts)

    met = ak.zip(
        {
            "pt": rng.exponential(30.0, n).astype(np.float32),
            "eta": np.zeros(n, np.float32),
            "phi": rng.uniform(-np.pi, np.pi, n).astype(np.float32),
        }
    )
    return ak.zip({"Jet": objects(14), "Electron": objects(6), "Muon": objects(6), "MET": met}, depth_limit=1)


def reference_matrix(model, events):
    """The feature matrix built event by event in plain Python."""
    x = np.zeros((len(events), model.num_features), np.float32)
    lists = ak.to_list(events)
    for row, event in enumerate(lists):
        for j, name in enumerate(model.feature_names):
            prefix, _, field = name.partition("_")
            if prefix == "MET":
                x[row, j] = event["MET"].get(field, 0.0)
                continue
            stem = prefix.rstrip("0123456789")
            slot = int(prefix[len(stem) :]) - 1
            objects = sorted(event[SLOTS[stem][0]], key=lambda o: -o["pt"])
            if slot < len(objects):
                x[row, j] = objects[slot][field]
    return x


def test_round_trip_from_sample(model, sample_frame, sample_x):
    events = events_from_frame(sample_frame, np.random.default_rng(1))
    scores = bead_wrapper(model)(events)
    assert isinstance(scores, ak.Array)
    np.testing.assert_array_equal(ak.to_numpy(scores), model.score(sample_x))


def test_random_collections_against_python_reference(model):
    events = random_events(np.random.default_rng(2))
    expected = model.score(reference_matrix(model, events))
    scorer = bead_wrapper(model, threads=2)
    np.testing.assert_array_equal(ak.to_numpy(scorer(events)), expected)
    # Collections as keywords, and a keyword overriding the event record's field.
    by_name = scorer(Jet=events.Jet, Electron=events.Electron, Muon=events.Muon, MET=events.MET)
    np.testing.assert_array_equal(ak.to_numpy(by_name), expected)
    no_jets = ak.zeros_like(events.Jet.pt)[:, :0]
    no_jets = ak.zip({"pt": no_jets, "eta": no_jets, "phi": no_jets})
    expected_no_jets = reference_matrix(model, events)
    expected_no_jets[:, [i for i, n in enumerate(model.feature_names) if n.startswith("j")]] = 0
    np.testing.assert_array_equal(ak.to_numpy(scorer(events, Jet=no_jets)), model.score(expected_no_jets))


def test_model_path_and_renamed_collections(model, model_path):
    events = random_events(np.random.default_rng(3), n=200)
    renamed = ak.zip(
        {"FatJet": events.Jet, "Electron": events.Electron, "Muon": events.Muon, "PuppiMET": events.MET},
        depth_limit=1,
    )
    scorer = bead_wrapper(model_path, collections={"j": "FatJet", "MET": "PuppiMET"})
    assert isinstance(scorer.model, bead.Model)
    np.testing.assert_array_equal(ak.to_numpy(scorer(renamed)), model.score(reference_matrix(model, events)))


def test_unsorted_order_kept_with_sort_by_none(model, sample_frame, sample_x):
    # Sample collections are stored pT-ordered; sort_by=None keeps that order.
    events = events_from_frame(sample_frame, np.random.default_rng(4))
    events = ak.zip(
        {
            name: events[name][ak.argsort(events[name].pt, ascending=False)]
            if name != "MET"
            else events[name]
            for name in events.fields
        },
        depth_limit=1,
    )
    np.testing.assert_array_equal(
        ak.to_numpy(bead_wrapper(model, sort_by=None)(events)), model.score(sample_x)
    )


def test_errors(model):
    events = random_events(np.random.default_rng(5), n=10)
    scorer = bead_wrapper(model)
    with pytest.raises(bead.BeadError, match="collection Muon not given"):
        scorer(ak.zip({"Jet": events.Jet, "Electron": events.Electron, "MET": events.MET}, depth_limit=1))
    jets_without_eta = ak.zip({"pt": events.Jet.pt, "phi": events.Jet.phi})
    with pytest.raises(bead.BeadError, match="collection Jet has no field 'eta'"):
        scorer(events, Jet=jets_without_eta)
    with pytest.raises(bead.BeadError, match="feature tau1_pt: no collection"):
        feature_layout(["j1_pt", "tau1_pt"], DEFAULT_COLLECTIONS)


def test_layout():
    layout = feature_layout(["MET_pt", "j1_pt", "mu10_eta", "e2_phi"], DEFAULT_COLLECTIONS)
    assert [(f.collection, f.field, f.slot) for f in layout] == [
        ("MET", "pt", None),
        ("Jet", "pt", 0),
        ("Muon", "eta", 9),
        ("Electron", "phi", 1),
    ]


def test_is_a_coffea_ml_tools_wrapper(model):
    helper = pytest.importorskip("coffea.ml_tools.helper")
    assert isinstance(bead_wrapper(model), helper.numpy_call_wrapper)


def test_dask_awkward(model):
    dak = pytest.importorskip("dask_awkward")
    pytest.importorskip("coffea.ml_tools.helper")
    events = random_events(np.random.default_rng(6), n=1000)
    lazy = bead_wrapper(model)(dak.from_awkward(events, npartitions=3))
    np.testing.assert_array_equal(ak.to_numpy(lazy.compute()), model.score(reference_matrix(model, events)))


def test_without_coffea(model, monkeypatch):
    # A copy of bead.coffea imported where coffea cannot be: awkward input still works.
    import importlib.util
    import sys

    import bead.coffea

    monkeypatch.setitem(sys.modules, "coffea.ml_tools.helper", None)  # import raises
    spec = importlib.util.spec_from_file_location("bead._coffea_without_coffea", bead.coffea.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look the module up
    spec.loader.exec_module(module)
    assert module._wrapper_base.__module__ == "bead._coffea_without_coffea"
    events = random_events(np.random.default_rng(7), n=300)
    scores = module.bead_wrapper(model)(events)
    assert isinstance(scores, ak.Array)
    np.testing.assert_array_equal(ak.to_numpy(scores), model.score(reference_matrix(model, events)))
