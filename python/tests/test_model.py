"""bead.Model on numpy arrays: scores against `bead score`, layouts, threads, thresholds,
pickling and errors."""

from __future__ import annotations

import pickle
import threading
import time

import numpy as np
import pytest
from conftest import SAMPLE

import bead


def test_scores_match_bead_score(model, sample_x, rust_scores):
    scores = model.score(sample_x)
    assert scores.dtype == np.float32 and scores.shape == (len(sample_x),)
    np.testing.assert_array_equal(scores, rust_scores)


def test_metadata(model, model_path):
    header = (SAMPLE / "events.csv").read_text().splitlines()[0].split(",")
    assert model.feature_names == header[:57]
    assert model.num_features == 57
    assert model.score_name == "cluster"
    assert sorted(model.sources) == ["pythia-simple-a14", "pythia-simple-monash", "pythia-vincia"]
    assert model.name == str(model_path)
    assert model.kernel in ("avx512f", "avx2+fma", "portable")
    assert model.metadata["features"] == model.feature_names
    assert model.metadata["score"] == "cluster"
    assert "cluster" in repr(model)


LAYOUTS = {
    "float64": lambda x: x.astype(np.float64),
    "fortran": np.asfortranarray,
    "column-stride": lambda x: np.repeat(x, 2, axis=1)[:, ::2],
    "row-stride": lambda x: np.repeat(x, 3, axis=0)[::3],
    "float64-fortran": lambda x: np.asfortranarray(x.astype(np.float64)),
    "list": lambda x: x[:40].tolist(),
}


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_layouts_give_the_same_scores(model, sample_x, layout):
    x = layout(sample_x)
    if isinstance(x, np.ndarray):
        assert not (x.dtype == np.float32 and x.flags.c_contiguous)
    expected = model.score(sample_x)[: len(x)]
    np.testing.assert_array_equal(model.score(x), expected)
    np.testing.assert_array_equal(model.score(x, threads=3), expected)


def test_float16_array_is_converted(model, sample_x):
    x = sample_x[:100].astype(np.float16)
    np.testing.assert_array_equal(model.score(x), model.score(x.astype(np.float32)))


def test_reversed_rows(model, sample_x):
    np.testing.assert_array_equal(model.score(sample_x[::-1]), model.score(sample_x)[::-1])


def test_contiguous_float32_is_not_copied(model, sample_x):
    # A read-only view of the caller's buffer is accepted as it is.
    x = sample_x.copy()
    x.flags.writeable = False
    np.testing.assert_array_equal(model.score(x), model.score(sample_x))


@pytest.mark.parametrize("threads", [2, 3, 4, 0])
def test_threads_identical(model, sample_x, threads):
    x = np.tile(sample_x, (6, 1))  # 45,000 events: several chunks per thread
    np.testing.assert_array_equal(model.score(x, threads=threads), model.score(x))


def test_empty_and_single_event(model, sample_x):
    assert model.score(sample_x[:0]).shape == (0,)
    assert model.score(sample_x[:1])[0] == model.score(sample_x)[0]


def test_concurrent_python_threads(model, sample_x):
    expected = model.score(sample_x)
    results = [None] * 4

    def work(i):
        results[i] = model.score(sample_x)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_thresholds_and_accept(model, sample_x):
    fprs = sorted(t["fpr"] for t in model.thresholds)
    assert fprs == pytest.approx([1e-3, 1e-2])
    scores = model.score(sample_x)
    for entry in model.thresholds:
        assert set(entry) == {"fpr", "value"}
        assert model.threshold(entry["fpr"]) == entry["value"]
        accepted = model.accept(sample_x, entry["fpr"])
        assert accepted.dtype == np.bool_
        np.testing.assert_array_equal(accepted, scores > np.float32(entry["value"]))
    # A looser working point accepts more events.
    assert model.accept(sample_x, 1e-2).sum() >= model.accept(sample_x, 1e-3).sum()
    with pytest.raises(bead.BeadError, match=r"no threshold calibrated for FPR 1e-4.*1e-2"):
        model.threshold(1e-4)
    with pytest.raises(bead.BeadError, match="no threshold"):
        model.accept(sample_x, 0.5)


def test_rate_thresholds(model_dir):
    rate_model = bead.Model(model_dir.parent / "rate" / "model.onnx")
    (entry,) = rate_model.thresholds
    assert entry["rate_hz"] == 400.0
    assert entry["fpr"] == pytest.approx(0.01)
    assert rate_model.threshold(0.01) == entry["value"]


def test_pickle_round_trip(model, sample_x):
    clone = pickle.loads(pickle.dumps(model))
    assert isinstance(clone, bead.Model)
    assert clone.name == model.name
    assert clone.feature_names == model.feature_names
    assert clone.thresholds == model.thresholds
    np.testing.assert_array_equal(clone.score(sample_x), model.score(sample_x))


def test_from_bytes(model, model_path, sample_x):
    clone = bead.Model.from_bytes(model_path.read_bytes(), "in-memory")
    assert clone.name == "in-memory"
    np.testing.assert_array_equal(clone.score(sample_x[:100]), model.score(sample_x[:100]))


def test_path_like(model_path):
    assert bead.Model(str(model_path)).num_features == bead.Model(model_path).num_features


# --- errors -------------------------------------------------------------------------------


def test_error_is_a_value_error():
    assert issubclass(bead.BeadError, ValueError)
    assert bead.BeadError.__module__ == "bead"


def test_wrong_feature_count(model, sample_x):
    with pytest.raises(
        bead.BeadError, match=r"x has 56 features, the model takes 57 \(MET_pt, MET_eta, …, j10_phi\)"
    ):
        model.score(sample_x[:, 1:])
    with pytest.raises(bead.BeadError, match="x has 58 features"):
        model.score(np.zeros((3, 58)))


def test_wrong_dimensions(model, sample_x):
    with pytest.raises(bead.BeadError, match=r"expected a 2-D array of events \[N, 57\], got shape \(57,\)"):
        model.score(sample_x[0])
    with pytest.raises(bead.BeadError, match="got shape"):
        model.score(sample_x.reshape(1, *sample_x.shape))


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(model, sample_x, threads, bad):
    x = np.tile(sample_x, (2, 1))
    event = len(x) - 17  # in the last thread's chunk
    x[event, 5] = bad
    x[event + 3, 7] = bad
    name = model.feature_names[5]
    with pytest.raises(bead.BeadError, match=rf"non-finite input: event {event}, feature 5 \({name}\)"):
        model.score(x, threads=threads)
    scores = model.score(x, threads=threads, nonfinite="nan")
    expected = model.score(np.tile(sample_x, (2, 1)))
    assert np.isnan(scores[event]) and np.isnan(scores[event + 3])
    ok = np.ones(len(x), bool)
    ok[[event, event + 3]] = False
    np.testing.assert_array_equal(scores[ok], expected[ok])
    assert not model.accept(x, 1e-2, threads=threads, nonfinite="nan")[event]


def test_float64_out_of_float32_range(model, sample_x):
    x = sample_x[:10].astype(np.float64)
    x[4, 0] = 1e300  # rounds to inf in float32
    with pytest.raises(bead.BeadError, match="event 4, feature 0"):
        model.score(x)


def test_bad_nonfinite_option(model, sample_x):
    with pytest.raises(ValueError, match="nonfinite"):
        model.score(sample_x, nonfinite="ignore")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.onnx"
    with pytest.raises(bead.BeadError, match=rf"cannot read model file {path}"):
        bead.Model(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"this is not a protobuf \xff\xff\xff", "not an ONNX model"),
    ],
)
def test_bad_file(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(bead.BeadError, match=f"{path}: {message}"):
        bead.Model(path)


def test_truncated_file(model_path):
    with pytest.raises(bead.BeadError, match="truncated: not an ONNX model"):
        bead.Model.from_bytes(model_path.read_bytes()[:1000], "truncated")


def test_gil_released_while_scoring(model, sample_x):
    # Another Python thread keeps ticking while a large batch is scored. With the GIL held it
    # could tick at most in the switch interval (5 ms) before the call enters Rust.
    # 1.1 million events: 50-300 ms, so that the call outlasts the 5 ms switch interval by far.
    x = np.tile(sample_x, (150, 1))
    ticks: list[float] = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    worker = threading.Thread(target=tick)
    worker.start()
    try:
        start = time.perf_counter()
        model.score(x)
        end = time.perf_counter()
    finally:
        stop.set()
        worker.join()
    assert end - start > 0.03, end - start
    # A tick well inside the call: the ticker ran while Rust was scoring.
    assert any(start + 0.01 < t < end - 0.01 for t in ticks)
