"""Score events with bead anomaly detectors (exported ONNX models) from Python.

>>> import bead
>>> model = bead.Model("model.onnx")
>>> scores = model.score(x)                  # x: [N, F] float32/float64, F = len(model.feature_names)
>>> keep = model.accept(x, fpr=1e-3)         # score > model.threshold(1e-3)
>>> series = model.score_frame(df)           # pandas DataFrame or pyarrow Table, columns by name

The scoring runs in bead's Rust runtime with the GIL released; ``threads=`` spreads a batch
over several cores. ``bead.coffea`` pads awkward/coffea collections into the model's
feature layout. Models pickle (they carry their ONNX bytes), so they travel to Dask workers.
"""

from importlib.metadata import PackageNotFoundError, version

from ._bead import BeadError, Model

try:
    __version__ = version("bead-infer")
except PackageNotFoundError:  # imported from a source tree
    __version__ = "0+unknown"

__all__ = ["BeadError", "Model", "__version__"]
