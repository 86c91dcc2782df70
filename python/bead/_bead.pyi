"""Type stubs of the compiled module ``bead._bead`` (re-exported as ``bead``)."""

from os import PathLike
from typing import Any, Literal, TypedDict, final

import numpy as np
import numpy.typing as npt
from typing_extensions import NotRequired, Self

__all__ = ["BeadError", "Model"]

class BeadError(ValueError):
    """A model that cannot be loaded, or input that cannot be scored. The message is the runtime's."""

class _Threshold(TypedDict):
    fpr: float
    """False-positive rate on the calibration background."""
    value: float
    """Accept events scoring above this."""
    rate_hz: NotRequired[float]
    """Accept rate this working point was calibrated for (``bead calibrate --rate-hz``)."""

_NonFinite = Literal["raise", "nan"]

@final
class Model:
    """An exported bead model (one ONNX file), ready to score events.

    ``Model(path)`` loads and checks the file. A Model can be shared by threads and pickled
    (it carries the ONNX bytes), so it can be sent to Dask workers.
    """

    def __new__(cls, path: str | PathLike[str]) -> Self: ...
    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> Self:
        """Loads a model from the bytes of an ONNX file; ``name`` is used in error messages."""
    @property
    def feature_names(self) -> list[str]:
        """Names of the input features, in column order of ``score``'s ``x``."""
    @property
    def num_features(self) -> int:
        """Number of input features per event (``len(feature_names)``)."""
    @property
    def score_name(self) -> str:
        """The score head, e.g. ``"cluster"`` or ``"mu2"``; the name of ``score_frame``'s Series."""
    @property
    def sources(self) -> list[str]:
        """The training sources (generators and tunes) the model was trained on."""
    @property
    def thresholds(self) -> list[_Threshold]:
        """Calibrated working points (``bead calibrate``)."""
    @property
    def metadata(self) -> dict[str, Any]:
        """The whole ``bead`` metadata of the ONNX file."""
    @property
    def name(self) -> str:
        """The file the model was loaded from (or the name given to ``from_bytes``)."""
    @property
    def kernel(self) -> str:
        """The kernel chosen for this CPU: ``"avx512f"``, ``"avx2+fma"`` or ``"portable"``."""
    def threshold(self, fpr: float) -> float:
        """The score threshold calibrated for this false-positive rate; BeadError if there is none."""
    def score(
        self,
        x: npt.ArrayLike,
        *,
        threads: int = 1,
        nonfinite: _NonFinite = "raise",
    ) -> npt.NDArray[np.float32]:
        """Scores events ``x`` ``[N, F]`` (float32 read in place when C-contiguous); float32 ``[N]``.

        ``threads`` > 1 splits large batches over that many threads (0: one per core), with
        identical results. ``nonfinite="nan"`` scores events with a NaN/Inf feature as NaN
        instead of raising BeadError.
        """
    def accept(
        self,
        x: npt.ArrayLike,
        fpr: float,
        *,
        threads: int = 1,
        nonfinite: _NonFinite = "raise",
    ) -> npt.NDArray[np.bool_]:
        """``score(x) > threshold(fpr)``, as a bool array."""
    def score_frame(
        self,
        frame: Any,
        *,
        threads: int = 1,
        nonfinite: _NonFinite = "raise",
    ) -> Any:
        """Scores a pandas DataFrame or pyarrow Table/RecordBatch by column name.

        Returns a float32 ``pandas.Series`` named ``score_name`` on the frame's index.
        """
    def _score_columns(
        self,
        columns: list[npt.NDArray[np.float32] | npt.NDArray[np.float64]],
        threads: int = 1,
        nonfinite: str = "raise",
    ) -> npt.NDArray[np.float32]: ...
    def __reduce__(self) -> tuple[Any, tuple[bytes, str]]: ...
