#!/usr/bin/env python3
"""Cut the small sample shipped in data/sample/ from the full data set.

Usage (from any directory):

    pip install pyarrow
    python3 data/make_sample.py [--src SRC] [--dst DST]

--src defaults to the data set kept beside the checkout, <repo>/../shared/data (found from
this script's location, so the working directory does not matter); --dst defaults to
<repo>/data/sample.

Writes, with the same schema as the source files (57 float32 features, then
source, process, event_id, weight) and zstd compression:

* sample/train/<source>.parquet    first 2500 events of each train file
* sample/test/<source>.parquet     first 2500 events of each test file
* sample/signals/<name>.parquet    first 1000 events of each signal file
* sample/events.csv                first 200 rows of test/pythia-simple-monash.parquet:
                                   the 57 features in file order, then source,process,event_id

The cut is deterministic (head of each file), so rerunning gives identical content.
"""

import argparse
import pathlib

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

COUNTS = {"train": 2500, "test": 2500, "signals": 1000}
CSV_ROWS = 200
CSV_FILE = "test/pythia-simple-monash.parquet"
META = ["source", "process", "event_id", "weight"]


def head(path: pathlib.Path, n: int):
    table = pq.read_table(path)
    if table.num_rows < n:
        raise SystemExit(f"{path}: has {table.num_rows} rows, need {n}")
    return table.slice(0, n)


REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_SRC = REPO.parent / "shared" / "data"
DEFAULT_DST = REPO / "data" / "sample"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=DEFAULT_SRC, type=pathlib.Path,
                    help="full data set with train/, test/, signals/ (default: %(default)s)")
    ap.add_argument("--dst", default=DEFAULT_DST, type=pathlib.Path,
                    help="where the sample is written (default: %(default)s)")
    args = ap.parse_args()

    total = 0
    for split, n in COUNTS.items():
        files = sorted((args.src / split).glob("*.parquet"))
        if not files:
            raise SystemExit(f"no parquet files in {args.src / split}")
        out_dir = args.dst / split
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in files:
            table = head(f, n)
            out = out_dir / f.name
            pq.write_table(table, out, compression="zstd", compression_level=19)
            total += out.stat().st_size
            print(f"{out}: {table.num_rows} rows, {out.stat().st_size} bytes")

    table = head(args.src / CSV_FILE, CSV_ROWS)
    features = [c for c in table.column_names if c not in META]
    if len(features) != 57:
        raise SystemExit(f"expected 57 feature columns, found {len(features)}")
    table = table.select(features + ["source", "process", "event_id"])
    out = args.dst / "events.csv"
    # plain header (no quotes) for simple C++ readers; float32 values written shortest-round-trip
    with open(out, "wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    total += out.stat().st_size
    print(f"{out}: {table.num_rows} rows, {out.stat().st_size} bytes")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
