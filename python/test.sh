#!/usr/bin/env bash
# The Python package's checks: rustfmt and clippy on the extension, ruff on the Python code,
# `pip install ./python`, then pytest (numpy, pandas, pyarrow, Dask on a LocalCluster, coffea
# wrapper) against a model trained by the workspace's `bead` binary.
#
# Environment:
#   BEAD_BIN                  bead binary (default: $CARGO_TARGET_DIR/release/bead, built if missing)
#   BEAD_PYTHON_TARGET_DIR    cargo target dir of the extension (default /var/tmp/bead-python-target;
#                             kept apart from the workspace's, whose burn build it does not need)
#   BEAD_PYTHON_VENV          virtual environment to use or create (default /var/tmp/bead-pyvenv;
#                             an already active one is used as it is)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
bead_bin="${BEAD_BIN:-$CARGO_TARGET_DIR/release/bead}"
if [[ ! -x "$bead_bin" ]]; then
  echo "== building the bead binary ($bead_bin)"
  cargo build --release --workspace
fi

if [[ -z "${VIRTUAL_ENV:-}" ]]; then
  venv="${BEAD_PYTHON_VENV:-/var/tmp/bead-pyvenv}"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  # shellcheck disable=SC1091
  . "$venv/bin/activate"
fi
python -m pip install -q --upgrade pip
python -m pip install -q pytest ruff numpy pandas pyarrow dask distributed awkward coffea uproot

ext_target="${BEAD_PYTHON_TARGET_DIR:-/var/tmp/bead-python-target}"
echo "== python/: cargo fmt, cargo clippy -D warnings, ruff"
(cd python && cargo fmt -- --check && CARGO_TARGET_DIR="$ext_target" PYO3_PYTHON="$(command -v python)" \
  cargo clippy --release --all-targets -- -D warnings && ruff check . && ruff format --check .)

echo "== pip install ./python"
CARGO_TARGET_DIR="$ext_target" python -m pip install -q ./python

echo "== pytest python/tests"
# Run from python/ with the venv's pytest (not `python -m pytest`, which would put python/ on
# sys.path and import the uncompiled source package instead of the installed one).
cd python
BEAD_BIN="$bead_bin" pytest tests -q -rs
