"""Model.score_frame on pandas DataFrames and pyarrow Tables: columns by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import bead


def test_pandas(model, sample_frame, rust_scores):
    frame = sample_frame.copy()
    frame.index = pd.Index(np.arange(len(frame)) * 10 + 7, name="event")
    scores = model.score_frame(frame)
    assert isinstance(scores, pd.Series)
    assert scores.name == model.score_name == "cluster"
    assert scores.dtype == np.float32
    assert scores.index.equals(frame.index)
    np.testing.assert_array_equal(scores.to_numpy(), rust_scores)


def test_pandas_columns_by_name(model, sample_frame, rust_scores):
    # Shuffled columns, extra columns, float64 columns, a slice with a gappy index.
    names = list(reversed(model.feature_names))
    frame = sample_frame[["source", *names, "event_id"]].copy()
    frame[names[:10]] = frame[names[:10]].astype(np.float64)
    part = frame.iloc[100:5000:7]
    scores = model.score_frame(part, threads=2)
    assert scores.index.equals(part.index)
    np.testing.assert_array_equal(scores.to_numpy(), rust_scores[100:5000:7])


def test_pandas_nullable_and_integer_columns(model, sample_frame, rust_scores):
    frame = sample_frame.head(500).copy()
    frame["MET_pt"] = frame["MET_pt"].astype("Float32")
    frame["MET_eta"] = frame["MET_eta"].astype(np.int64)  # zero in the sample
    np.testing.assert_array_equal(model.score_frame(frame).to_numpy(), rust_scores[:500])
    frame.loc[3, "MET_pt"] = pd.NA
    with pytest.raises(bead.BeadError, match=r"event 3, feature 0 \(MET_pt\)"):
        model.score_frame(frame)
    scores = model.score_frame(frame, nonfinite="nan")
    assert np.isnan(scores[3]) and not np.isnan(scores.drop(3)).any()


def test_pyarrow_table_and_batches(model, sample_frame, rust_scores):
    table = pa.Table.from_pandas(sample_frame, preserve_index=False)
    chunked = pa.concat_tables([table.slice(0, 1000), table.slice(1000)])
    assert chunked.column("MET_pt").num_chunks == 2
    for t in (table, chunked):
        scores = model.score_frame(t, threads=3)
        assert isinstance(scores, pd.Series) and scores.name == "cluster"
        assert scores.index.equals(pd.RangeIndex(len(t)))
        np.testing.assert_array_equal(scores.to_numpy(), rust_scores)
    batch = table.to_batches()[0]
    np.testing.assert_array_equal(model.score_frame(batch).to_numpy(), rust_scores[: batch.num_rows])


def test_pyarrow_nulls(model, sample_frame):
    table = pa.Table.from_pandas(sample_frame.head(10), preserve_index=False)
    met = pa.array([1.0, None] + [2.0] * 8, type=pa.float32())
    table = table.set_column(table.schema.get_field_index("MET_pt"), "MET_pt", met)
    with pytest.raises(bead.BeadError, match=r"event 1, feature 0 \(MET_pt\)"):
        model.score_frame(table)


def test_missing_column(model, sample_frame):
    with pytest.raises(bead.BeadError, match=r"missing column\(s\) mu1_pt, j3_eta: the model takes 57"):
        model.score_frame(sample_frame.drop(columns=["mu1_pt", "j3_eta"]))
    table = pa.Table.from_pandas(sample_frame.drop(columns=["MET_phi"]))
    with pytest.raises(bead.BeadError, match=r"missing column\(s\) MET_phi"):
        model.score_frame(table)


def test_non_numeric_column(model, sample_frame):
    frame = sample_frame.head(5).copy()
    frame["j1_pt"] = "high"
    with pytest.raises(bead.BeadError, match="column j1_pt: cannot convert"):
        model.score_frame(frame)


def test_not_a_frame(model, sample_x):
    with pytest.raises(TypeError, match="pandas DataFrame or a pyarrow Table"):
        model.score_frame(sample_x)


def test_score_refuses_frames(model, sample_frame):
    # score() would take the frame's column order; frames go through score_frame.
    with pytest.raises(TypeError, match="not a DataFrame: score data frames by column name with score_frame"):
        model.score(sample_frame[model.feature_names])
    with pytest.raises(TypeError, match="not a Table"):
        model.score(pa.Table.from_pandas(sample_frame[model.feature_names]))


def test_empty_frame(model, sample_frame):
    scores = model.score_frame(sample_frame.head(0))
    assert len(scores) == 0 and scores.dtype == np.float32
