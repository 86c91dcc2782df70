"""Data frames (pandas, pyarrow) to feature columns, for ``Model.score_frame``.

The columns are handed to the runtime one array per feature; it packs rows block by block,
so the frame is never copied into a whole ``[N, F]`` matrix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._bead import BeadError

if TYPE_CHECKING:
    import pandas as pd

    from ._bead import Model


def score_frame(model: Model, frame: Any, threads: int, nonfinite: str) -> pd.Series:
    import pandas as pd

    names = model.feature_names
    if isinstance(frame, pd.DataFrame):
        _check_columns(names, frame.columns)
        columns = [_pandas_column(frame, name) for name in names]
        index = frame.index
    elif _is_arrow(frame):
        _check_columns(names, frame.schema.names)
        columns = [_arrow_column(frame.column(name), name) for name in names]
        index = None
    else:
        raise TypeError(
            f"score_frame takes a pandas DataFrame or a pyarrow Table/RecordBatch, not {type(frame).__name__}"
        )
    scores = model._score_columns(columns, threads, nonfinite)
    return pd.Series(scores, index=index, name=model.score_name, copy=False)


def _is_arrow(frame: Any) -> bool:
    try:
        import pyarrow as pa
    except ImportError:
        return False
    return isinstance(frame, (pa.Table, pa.RecordBatch))


def _check_columns(names: list[str], present: Any) -> None:
    present = set(present)
    missing = [name for name in names if name not in present]
    if missing:
        shown = ", ".join(missing[:8]) + (", …" if len(missing) > 8 else "")
        raise BeadError(
            f"missing column(s) {shown}: the model takes {len(names)} features "
            f"(Model.feature_names), {len(missing)} of them are not in the frame"
        )


def _as_float(values: Any, name: str) -> np.ndarray:
    """float32 and float64 are passed as they are (the runtime converts while packing)."""
    array = np.asarray(values)
    if array.dtype in (np.float32, np.float64):
        return array
    try:
        return array.astype(np.float32)
    except (TypeError, ValueError) as err:
        raise BeadError(f"column {name}: cannot convert {array.dtype} to float32 ({err})") from None


def _pandas_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    import pandas as pd

    column = frame[name]
    if isinstance(column, pd.DataFrame):
        raise BeadError(f"column {name} appears more than once in the frame")
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
        # Nullable and Arrow-backed dtypes: missing values become NaN, which the runtime
        # refuses (or scores NaN with nonfinite="nan") like any other non-finite value.
        try:
            return column.to_numpy(dtype=np.float32, na_value=np.nan)
        except (TypeError, ValueError) as err:
            raise BeadError(f"column {name}: cannot convert {column.dtype} to float32 ({err})") from None
    return _as_float(column.to_numpy(), name)


def _arrow_column(column: Any, name: str) -> np.ndarray:
    # ChunkedArray (Table) or Array (RecordBatch); nulls become NaN.
    try:
        values = column.to_numpy() if hasattr(column, "num_chunks") else column.to_numpy(zero_copy_only=False)
    except Exception as err:  # pyarrow raises ArrowInvalid / ArrowNotImplementedError
        raise BeadError(f"column {name}: cannot convert {column.type} to float32 ({err})") from None
    return _as_float(values, name)
