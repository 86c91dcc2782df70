"""Write the ROOT fixtures read by `bead-train`'s tests (`data::root::tests`) with uproot.

    python3 -m pip install uproot awkward
    python3 train/tests/data/root/make_fixtures.py     # writes flat.root and nano.root here

The values are small and spelled out here; the Rust tests hold the same numbers.
"""

import pathlib
import uuid

import awkward as ak
import numpy as np
import uproot

HERE = pathlib.Path(__file__).resolve().parent
F4, F8 = np.float32, np.float64


def recreate(path, compression):
    # A fixed UUID keeps the files byte-identical from run to run.
    return uproot.recreate(path, compression=compression, uuid_function=lambda: uuid.UUID(int=0))


def jagged(rows, dtype=F4):
    return ak.values_astype(ak.Array(rows), dtype)


def flat():
    """Tree `Events` (ZLIB): one branch per feature, metadata, and unusable branches; trees
    `Friends` (ZSTD) and `Lz4` (LZ4) beside it, each `x` = i % 5 for i < 2000."""
    events = {
        "MET_pt": np.array([10.5, 20.25, 0.0, 3.0, 4.0], F4),
        "MET_eta": np.zeros(5, F4),
        "MET_phi": np.array([0.1, -0.2, 0.3, -3.0, 3.0], F8),
        "j1_pt": np.array([50, 60, 0, 0, 70], np.int32),
        "j1_eta": np.array([1.5, -1.5, 0.0, 0.0, 2.5], F4),
        "n_small": np.array([1, 2, 3, 4, 255], np.uint8),
        "event_id": np.array([10**12, 10**12 + 1, 7, 8, 9], np.int64),
        "weight": np.array([1.0, 0.5, 2.0, 1.0, 1.0], F4),
        "source": np.array(["gen-a", "gen-b", "gen-a", "gen-c", "gen-b"]),
        "process": np.array(["qcd", "ttbar", "qcd", "wjet", "zjet"]),
        "flag": np.array([True, False, True, True, False]),
        "arr": np.arange(15, dtype=F4).reshape(5, 3),
    }
    # Compressible padding, so that the baskets are stored compressed (small ones are not).
    pad = {"Pad": ak.zip({"x": jagged([[float(i % 7) for i in range(400)]] * 5)})}
    with recreate(HERE / "flat.root", uproot.ZLIB(1)) as f:
        types = {k: ("string" if v.dtype.kind == "U" else (v.dtype, v.shape[1:]) if v.ndim > 1 else v.dtype)
                 for k, v in events.items()}
        types = {k: (f"{v[1][0]} * float32" if isinstance(v, tuple) else v) for k, v in types.items()}
        f.mktree("Events", types | {"Pad": pad["Pad"].type})
        f["Events"].extend(events | pad)
        f.compression = uproot.ZSTD(3)
        f.mktree("Friends", {"x": F8})
        f["Friends"].extend({"x": np.arange(2000, dtype=F8) % 5})
        f.compression = uproot.LZ4(1)
        f.mktree("Lz4", {"x": F8})
        f["Lz4"].extend({"x": np.arange(2000, dtype=F8) % 5})


def nano():
    """Tree `nano` (LZMA), NanoAOD style: objects in no particular order, ties, empty events,
    more jets than slots; `Tau_eta` counted apart from `Tau_pt` (mismatched lengths)."""
    jets = ak.zip({
        "pt": jagged([[30, 100, 50], [], [40, 40, 90, 10], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]]),
        "eta": jagged([[0.3, 1.0, 0.5], [], [-1.0, -2.0, 0.9, 0.1], [0.1 * i for i in range(12)]]),
        "phi": jagged([[3.0, 1.0, 2.0], [], [0.5, 0.6, 0.7, 0.8], [-0.1 * i for i in range(12)]]),
        "bad": jagged([[True, False, True], [], [False] * 4, [True] * 12], bool),
    })
    electrons = ak.zip({
        "pt": jagged([[], [25], [8, 80], []]),
        "eta": jagged([[], [0.2], [0.8, -0.8], []]),
        "phi": jagged([[], [1.2], [2.8, -2.8], []]),
    })
    muons = ak.zip({
        "pt": jagged([[5], [], [], [60, 61]], F8),
        "eta": jagged([[2.0], [], [], [0.0, -0.5]], F8),
        "phi": jagged([[-1.0], [], [], [1.5, -1.5]], F8),
    })
    taus = ak.zip({"pt": jagged([[20], [], [], []])})
    data = {
        "Jet": jets,
        "Electron": electrons,
        "Muon": muons,
        "Tau": taus,
        "Tau_eta": jagged([[], [1.0], [], []]),
        "MET_pt": np.array([150.0, 12.0, 33.0, 4.5], F4),
        "MET_phi": np.array([0.5, -0.5, 1.0, -1.0], F4),
        "event": np.array([1, 2, 3, 2**40], np.uint64),
        "source": np.array(["nano-a", "nano-a", "nano-b", "nano-a"]),
        "Pad": ak.zip({"x": jagged([[float(i % 7) for i in range(400)]] * 4)}),
    }
    with recreate(HERE / "nano.root", uproot.LZMA(1)) as f:
        f.mktree("nano", {k: (v.type if isinstance(v, ak.Array) else ("string" if v.dtype.kind == "U" else v.dtype))
                          for k, v in data.items()})
        f["nano"].extend(data)


if __name__ == "__main__":
    flat()
    nano()
    for p in sorted(HERE.glob("*.root")):
        print(p.name, p.stat().st_size, "bytes")
