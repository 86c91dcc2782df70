#!/usr/bin/env bash
# All tests: Rust (unit, integration, doc), the quickstart end to end, ONNX checker and
# ONNX Runtime against the runtime, and the C/C++ API through CMake/CTest (with valgrind).
# Needs cmake, valgrind, pkg-config and the Python packages onnx, onnxruntime, numpy, pyarrow, scikit-learn, uproot, awkward
# (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
bead="$CARGO_TARGET_DIR/release/bead"

echo "== cargo fmt, cargo clippy -D warnings (infer and ffi also deny unwrap/expect/panic/indexing;"
echo "   every unsafe block needs a SAFETY comment: clippy::undocumented_unsafe_blocks in Cargo.toml)"
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings

echo "== the runtime without default features (no tract): bead-infer and bead-ffi, clippy only"
# A check build (metadata, no codegen) of the two crates and their few small dependencies: burn
# and tract are not in this graph, so it costs about a minute once and seconds afterwards, and
# its artifacts sit beside the workspace ones instead of replacing them (unlike a `cargo build`
# of libbead_ffi.a with other features).
cargo clippy --release -p bead-ffi --no-default-features --all-targets -- -D warnings

echo "== cargo doc, warnings denied"
RUSTDOCFLAGS='-D warnings' cargo doc --release --workspace --no-deps

echo "== cargo test (release, whole workspace)"
cargo test --release --workspace

echo "== fuzz smoke run: mutated models, Parquet and CSV files through the loaders"
# Fixed seed, at most 25,000 mutants per target and 60 s (about 75,000 mutants on 2 cores). A
# crash (panic, abort, allocation over the caps, hang) fails the run and leaves its input in
# fuzz/regressions/ for `cargo test -p bead-fuzz`; mismatches with tract go to runs/ for
# fuzz/triage.py.
cargo build --release -p bead-fuzz
"$CARGO_TARGET_DIR/release/bead-fuzz" --seed 1 --iterations 25000 --seconds 60 --jobs 2 \
  --mismatches runs/fuzz-mismatches

echo "== quickstart on the shipped sample"
bash scripts/quickstart.sh

echo "== ROOT input: flat and NanoAOD-style trees written by uproot score like the Parquet files"
python3 tests/root_check.py "$bead" runs/quickstart runs/test-root

echo "== every score head and a flow model through onnx.checker and ONNX Runtime"
out=runs/test-heads
rm -rf "$out" && mkdir -p "$out"
"$bead" train --train 'data/sample/train/*.parquet' --model planar_vae --epochs 3 --out "$out/planar" -q
for h in mu2 kl cluster recon; do
  "$bead" export --model runs/quickstart --score "$h" -o "$out/vae_$h.onnx"
done
"$bead" export --model "$out/planar" --score flow_nll -o "$out/planar_flow_nll.onnx"
"$bead" export --model "$out/planar" --score recon --f16 -o "$out/planar_recon_f16.onnx"
python3 tests/onnx_runtime_check.py "$bead" data/sample/test/pythia-vincia.parquet \
  "$out"/*.onnx runs/quickstart/model.onnx

echo "== bead import: one foreign model per supported operator form against ONNX Runtime; an"
echo "   imported encoder through score, calibrate, evaluate and bench"
python3 tests/import_ops_check.py "$bead" runs/test-import data/sample

echo "== C and C++ API (CMake, CTest, valgrind)"
cmake -S ffi -B build/ffi -DBEAD_TEST_MODEL="$PWD/runs/quickstart/model.onnx" \
  -DBEAD_CARGO_TARGET_DIR="$CARGO_TARGET_DIR"
cmake --build build/ffi -j2
ctest --test-dir build/ffi --output-on-failure

echo "== weighted evaluation against numpy and scikit-learn; bead robustness end to end"
python3 tests/weights_check.py "$bead" runs/quickstart/model.onnx runs/test-weights
"$bead" robustness --train 'data/sample/train/*.parquet' --test 'data/sample/test/*.parquet' \
  --signal 'data/sample/signals/*.parquet' --epochs 2 --seeds 2 --fpr 1e-1 1e-2 \
  --out runs/test-robustness -q >/dev/null
python3 - <<'PY'
import json, pathlib
out = pathlib.Path("runs/test-robustness")
r = json.loads((out / "robustness.json").read_text())
assert len(r["left_out"]) == 3 and len(r["single_source"]) == 3, r.keys()
for s in r["left_out"]:
    assert (out / f"inflation_{s['source']}.png").stat().st_size > 10_000
    for h in s["heads"]:
        for key, v in h["inflation"].items():
            assert v["lo"] <= v["hi"] and v["std"] >= 0, (s["source"], h["score"], key, v)
print("robustness report: 3 left-out sources, 3 single-source baselines, plots written")
PY

echo "== Python package (pip install ./python, pytest)"
BEAD_BIN="$bead" bash python/test.sh
