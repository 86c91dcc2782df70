"""The Dask recipe: `dd.read_parquet(files).map_partitions(model.score_frame)` on a two-process
LocalCluster gives exactly `bead score`'s numbers (the model is pickled to the workers)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TEST_FILES

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


def test_map_partitions_on_local_cluster(model, rust_scores):
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        frame = dd.read_parquet([str(p) for p in TEST_FILES])
        assert frame.npartitions >= 2
        scores = frame.map_partitions(model.score_frame, meta=(model.score_name, "f4"))
        result = scores.compute()
        assert len(client.scheduler_info()["workers"]) == 2
    assert result.name == model.score_name
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result.to_numpy(), rust_scores)


def test_meta_inference(model):
    # Without meta=, Dask calls score_frame on a fake partition to learn the output type.
    frame = dd.read_parquet([str(TEST_FILES[0])])
    scores = frame.map_partitions(model.score_frame)
    assert scores.dtype == np.float32
    assert scores.name == model.score_name
