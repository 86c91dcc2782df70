"""Score awkward arrays and coffea NanoEvents with a bead model, as ``coffea.ml_tools`` does.

A bead model takes a flat, fixed layout of features named after the objects they come from:
``j1_pt, j1_eta, j1_phi, …, j10_phi`` (jets by decreasing pT), ``e1_…``, ``mu1_…`` and
``MET_pt, MET_eta, MET_phi``. :class:`bead_wrapper` reads those names, takes the matching
collections (``Jet``, ``Electron``, ``Muon``, ``MET`` by default), sorts each object
collection by decreasing pT, pads it with zeros to the number of slots the model has (or cuts
it), and scores the result::

    from bead.coffea import bead_wrapper

    scorer = bead_wrapper("model.onnx")
    scores = scorer(events)                      # events.Jet, events.Electron, events.Muon, events.MET
    scores = scorer(Jet=jets, MET=met, ...)      # or the collections one by one

With coffea installed, ``bead_wrapper`` is a ``coffea.ml_tools.helper.numpy_call_wrapper``, so
it also takes dask-awkward arrays (it then returns a lazy dask-awkward array). Without coffea
it takes awkward arrays and numpy matrices. coffea is only imported by this module, never by
``bead`` itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._bead import BeadError, Model

try:
    from coffea.ml_tools.helper import numpy_call_wrapper as _wrapper_base
except ImportError:  # coffea is optional: awkward arrays and numpy still work

    class _wrapper_base:  # type: ignore[no-redef]
        """The part of coffea's ``numpy_call_wrapper`` used here (awkward and numpy inputs)."""

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            import awkward as ak

            if any(isinstance(a, ak.Array) for a in (*args, *kwargs.values())):
                ak_args, ak_kwargs = self.prepare_awkward(*args, **kwargs)
                np_args = [ak.to_numpy(a) for a in ak_args]
                return ak.from_numpy(self._call_numpy(*np_args, **ak_kwargs))
            return self._call_numpy(*args, **kwargs)

        def _call_numpy(self, *args: Any, **kwargs: Any) -> Any:
            self.validate_numpy_input(*args, **kwargs)
            return self.numpy_call(*args, **kwargs)

        def prepare_awkward(self, *args: Any, **kwargs: Any) -> tuple[list[Any], dict]:
            raise NotImplementedError

        def validate_numpy_input(self, *args: Any, **kwargs: Any) -> None:
            raise NotImplementedError

        def numpy_call(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError


#: Feature-name prefix → collection, as bead's data names them (``data/sample``).
DEFAULT_COLLECTIONS: dict[str, str] = {"j": "Jet", "e": "Electron", "mu": "Muon", "MET": "MET"}

#: Features filled with a constant when their collection lacks the field: NanoAOD's MET has
#: no eta, and bead's data sets ``MET_eta`` to 0.
DEFAULT_FILL: dict[str, float] = {"MET_eta": 0.0}

# `j1_pt` → ("j", 1, "pt"); `mu10_eta` → ("mu", 10, "eta")
_OBJECT_FEATURE = re.compile(r"^(?P<prefix>[A-Za-z]+?)(?P<slot>[0-9]+)_(?P<field>.+)$")
# `MET_pt` → ("MET", "pt")
_EVENT_FEATURE = re.compile(r"^(?P<prefix>[A-Za-z][A-Za-z0-9]*?)_(?P<field>.+)$")


@dataclass(frozen=True)
class Feature:
    """Where one model feature comes from."""

    name: str
    collection: str
    field: str
    slot: int | None
    """0-based rank by decreasing pT; None for a per-event quantity (MET)."""


def feature_layout(feature_names: list[str], collections: Mapping[str, str]) -> list[Feature]:
    """Maps each feature name to its collection, field and pT rank."""
    layout = []
    for name in feature_names:
        m = _OBJECT_FEATURE.match(name)
        if m and m["prefix"] in collections:
            slot = int(m["slot"]) - 1
            layout.append(Feature(name, collections[m["prefix"]], m["field"], slot))
            continue
        m = _EVENT_FEATURE.match(name)
        if m and m["prefix"] in collections:
            layout.append(Feature(name, collections[m["prefix"]], m["field"], None))
            continue
        raise BeadError(
            f"feature {name}: no collection for it (collections={dict(collections)}; "
            "pass collections={prefix: collection name})"
        )
    return layout


def _awkward_lib(arrays: list[Any]) -> Any:
    if any(type(a).__module__.startswith("dask_awkward") for a in arrays):
        import dask_awkward

        return dask_awkward
    import awkward

    return awkward


class bead_wrapper(_wrapper_base):
    """Scores awkward / coffea event collections with a bead model (``coffea.ml_tools`` style).

    Parameters
    ----------
    model : bead.Model or path
        The exported model (an ONNX file written by ``bead export``).
    collections : dict, optional
        Feature-name prefix → collection name, merged over :data:`DEFAULT_COLLECTIONS`
        (``{"j": "Jet", "e": "Electron", "mu": "Muon", "MET": "MET"}``).
    fill : dict, optional
        Feature name → constant used when its collection has no such field, merged over
        :data:`DEFAULT_FILL` (``{"MET_eta": 0.0}``).
    sort_by : str or None
        Field to sort object collections by, decreasing (``"pt"``); None keeps their order.
    threads : int
        Passed to :meth:`bead.Model.score`.

    Call it with an event record (``scorer(events)``, its fields named as the collections) or
    with the collections as keywords (``scorer(Jet=..., Electron=..., Muon=..., MET=...)``);
    keywords override the event record's fields. Returns the scores (float32), one per event.
    """

    def __init__(
        self,
        model: Model | str | os.PathLike[str],
        *,
        collections: Mapping[str, str] | None = None,
        fill: Mapping[str, float] | None = None,
        sort_by: str | None = "pt",
        threads: int = 1,
    ) -> None:
        super().__init__()
        self.model = model if isinstance(model, Model) else Model(model)
        self.collections = {**DEFAULT_COLLECTIONS, **(collections or {})}
        self.fill = {**DEFAULT_FILL, **(fill or {})}
        self.sort_by = sort_by
        self.threads = threads
        self.layout = feature_layout(self.model.feature_names, self.collections)

    def prepare_awkward(self, events: Any = None, **collections: Any) -> tuple[list[Any], dict]:
        """One flat awkward array (one value per event) per model feature."""
        lib = _awkward_lib([events, *collections.values()])
        found: dict[str, Any] = {}
        padded: dict[tuple[str, str], Any] = {}
        columns = []
        for feature in self.layout:
            if feature.collection not in found:
                found[feature.collection] = self._collection(lib, feature.collection, events, collections)
            collection = found[feature.collection]
            if feature.field not in collection.fields:
                columns.append(self._constant(lib, feature, collection))
            elif feature.slot is None:
                columns.append(collection[feature.field])
            else:
                key = (feature.collection, feature.field)
                if key not in padded:
                    slots = 1 + max(
                        f.slot for f in self.layout if f.slot is not None and (f.collection, f.field) == key
                    )
                    values = lib.pad_none(collection[feature.field], slots, axis=1, clip=True)
                    padded[key] = lib.fill_none(values, 0.0)
                columns.append(padded[key][:, feature.slot])
        return columns, {}

    def _collection(self, lib: Any, name: str, events: Any, collections: Mapping[str, Any]) -> Any:
        if name in collections:
            collection = collections[name]
        elif events is not None and name in events.fields:
            collection = events[name]
        else:
            raise BeadError(
                f"collection {name} not given (needed for "
                f"{', '.join(f.name for f in self.layout if f.collection == name)})"
            )
        is_objects = any(f.slot is not None for f in self.layout if f.collection == name)
        if is_objects and self.sort_by is not None:
            if self.sort_by not in collection.fields:
                raise BeadError(f"collection {name} has no field {self.sort_by!r} to sort by")
            order = lib.argsort(collection[self.sort_by], axis=1, ascending=False)
            collection = collection[order]
        return collection

    def _constant(self, lib: Any, feature: Feature, collection: Any) -> Any:
        if feature.name not in self.fill:
            raise BeadError(
                f"feature {feature.name}: collection {feature.collection} has no field "
                f"{feature.field!r} (fields: {', '.join(collection.fields)}); pass "
                f"fill={{{feature.name!r}: value}} to use a constant"
            )
        if feature.slot is None:
            template = collection[collection.fields[0]]
        else:
            template = lib.num(collection, axis=1)
        return lib.full_like(template, self.fill[feature.name], dtype=np.float32)

    def validate_numpy_input(self, *columns: np.ndarray) -> None:
        """Checks that there is one 1-D column per feature, all of one length."""
        if len(columns) != len(self.layout):
            raise BeadError(f"expected {len(self.layout)} feature columns, got {len(columns)}")
        lengths = {np.shape(c) for c in columns}
        if len(lengths) != 1 or len(next(iter(lengths))) != 1:
            raise BeadError(f"feature columns must be 1-D and of one length, got shapes {sorted(lengths)}")

    def numpy_call(self, *columns: np.ndarray) -> np.ndarray:
        """Stacks the feature columns into ``[N, F]`` float32 and scores it."""
        x = np.empty((len(columns[0]), len(columns)), dtype=np.float32)
        for j, column in enumerate(columns):
            x[:, j] = column
        return self.model.score(x, threads=self.threads)
