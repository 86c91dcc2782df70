"""Writes fuzz/corpus/parquet/: small Parquet files in the encodings, page versions and
codecs that writers other than pyarrow's defaults produce, so that `bead-fuzz` mutates the
page decoders of each (the shipped sample is all dictionary + PLAIN, v1 pages).

Run from the repository root: python3 fuzz/corpus/make.py (pyarrow). Deterministic."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

OUT = "fuzz/corpus/parquet"
n = 300


def table(nulls=False):
    """The same events in every file (so the files can be compared with each other)."""
    rng = np.random.default_rng(7)
    pt = rng.exponential(30.0, n).astype(np.float32)
    eta = rng.normal(0.0, 1.5, n).astype(np.float32)
    cols = {
        "met_pt": pa.array(pt),
        "j1_eta": pa.array(eta, mask=(rng.random(n) < 0.1) if nulls else None),
        "j1_phi": pa.array(rng.uniform(-3.14, 3.14, n).astype(np.float32)),
        "ht": pa.array(rng.exponential(100.0, n)),  # float64
        "event_id": pa.array(np.arange(1000, 1000 + n, dtype=np.int64) * 3),
        "n_jets": pa.array(rng.integers(0, 10, n).astype(np.int32)),
        "source": pa.array(
            [["pythia-a14", "pythia-monash", "pythia-vincia-long-name"][i % 3] for i in range(n)]
        ),
        "weight": pa.array(rng.uniform(0.5, 1.5, n).astype(np.float32)),
    }
    return pa.table(cols)


def write(name, t, **kw):
    pq.write_table(t, f"{OUT}/{name}.parquet", **kw)


# v2 pages, no dictionary: DELTA_BINARY_PACKED integers, DELTA_BYTE_ARRAY strings,
# BYTE_STREAM_SPLIT floats, several pages per chunk; zstd, and uncompressed so that mutations
# reach the encoded values directly.
DELTA_BSS = {
    "event_id": "DELTA_BINARY_PACKED",
    "n_jets": "DELTA_BINARY_PACKED",
    "source": "DELTA_BYTE_ARRAY",
    "met_pt": "BYTE_STREAM_SPLIT",
    "j1_phi": "BYTE_STREAM_SPLIT",
    "ht": "BYTE_STREAM_SPLIT",
}
for codec in ["zstd", "none"]:
    write(
        f"v2_delta_bss_{codec}",
        table(),
        data_page_version="2.0",
        use_dictionary=False,
        compression=codec,
        data_page_size=512,
        column_encoding=DELTA_BSS,
    )
# v1 pages: DELTA_LENGTH_BYTE_ARRAY strings, PLAIN numbers; uncompressed, and gzip with
# small pages.
write(
    "v1_delta_length_none",
    table(),
    data_page_version="1.0",
    use_dictionary=False,
    compression="none",
    column_encoding={"source": "DELTA_LENGTH_BYTE_ARRAY"},
)
write(
    "v1_delta_length_gzip",
    table(),
    data_page_version="1.0",
    use_dictionary=False,
    compression="gzip",
    data_page_size=256,
    column_encoding={"source": "DELTA_LENGTH_BYTE_ARRAY", "event_id": "PLAIN"},
)
# Definition levels: a feature with nulls, dictionary pages, v2, uncompressed.
write("v2_nulls_dictionary", table(nulls=True), data_page_version="2.0", compression="none")
# The same with v1 pages and snappy.
write("v1_nulls_snappy", table(nulls=True), data_page_version="1.0", compression="snappy")
# pyarrow's defaults (dictionary, v2 pages, snappy): the reference the others are held to.
write("defaults", table())
