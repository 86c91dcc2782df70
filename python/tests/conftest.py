"""Fixtures: a model trained, exported and calibrated by the workspace's `bead` binary.

The binary is `$BEAD_BIN`, else `$CARGO_TARGET_DIR/release/bead`, else `target/release/bead`
in the repository (`cargo build --release --workspace` builds it). Training takes 2 epochs
on the shipped sample, about 10 s.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import bead

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
TEST_FILES = sorted((SAMPLE / "test").glob("*.parquet"))


def _bead_bin() -> Path:
    candidates = [os.environ.get("BEAD_BIN")]
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "bead"))
    candidates.append(str(REPO / "target" / "release" / "bead"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    pytest.fail(
        "no bead binary: set BEAD_BIN or build it with `cargo build --release --workspace`",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def bead_bin() -> Path:
    return _bead_bin()


def run_bead(bead_bin: Path, *args: str | os.PathLike[str]) -> None:
    subprocess.run([str(bead_bin), *map(str, args)], cwd=REPO, check=True)


@pytest.fixture(scope="session")
def model_dir(bead_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory with `model.onnx` (cluster head, thresholds for FPR 1e-2 and 1e-3)
    and, outside it, `rate/model.onnx` calibrated for 400 Hz out of 40 kHz."""
    out = tmp_path_factory.mktemp("bead") / "model"
    rate = out.parent / "rate"
    rate.mkdir()
    run_bead(bead_bin, "train", "--config", "configs/quickstart.toml", "--epochs", "2", "--out", out, "-q")
    run_bead(bead_bin, "export", "--model", out, "--score", "cluster", "-o", out / "model.onnx")
    run_bead(bead_bin, "export", "--model", out, "--score", "cluster", "-o", rate / "model.onnx")
    run_bead(
        bead_bin,
        "calibrate",
        "--model",
        out,
        "--rate-hz",
        "400",
        "--input-rate-hz",
        "40000",
        "--onnx",
        rate / "model.onnx",
    )
    run_bead(bead_bin, "calibrate", "--model", out, "--fpr", "1e-2", "1e-3")
    return out


@pytest.fixture(scope="session")
def model_path(model_dir: Path) -> Path:
    return model_dir / "model.onnx"


@pytest.fixture(scope="session")
def model(model_path: Path) -> bead.Model:
    return bead.Model(model_path)


@pytest.fixture(scope="session")
def rust_scores(bead_bin: Path, model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """`bead score` (the Rust batch path) on every test file, concatenated in TEST_FILES order."""
    out = tmp_path_factory.mktemp("scores")
    parts = []
    for i, path in enumerate(TEST_FILES):
        run_bead(bead_bin, "score", "--model", model_path, "--input", path, "-o", out / f"{i}.parquet", "-q")
        parts.append(pq.read_table(out / f"{i}.parquet").column("score").to_numpy())
    return np.concatenate(parts)


@pytest.fixture(scope="session")
def sample_frame() -> pd.DataFrame:
    """The shipped test sample as one pandas DataFrame (TEST_FILES order)."""
    return pd.concat([pd.read_parquet(p) for p in TEST_FILES], ignore_index=True)


@pytest.fixture(scope="session")
def sample_x(model: bead.Model, sample_frame: pd.DataFrame) -> np.ndarray:
    """[N, F] float32, C-contiguous, in the model's feature order."""
    return np.ascontiguousarray(sample_frame[model.feature_names].to_numpy(dtype=np.float32))
