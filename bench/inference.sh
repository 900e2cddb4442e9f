#!/usr/bin/env bash
# Scoring speed of one model in several runtimes, one thread, per row: one
# row at a time and in batches of 1 000. For a trained titanic winner (the
# default search, 40 trials), a trained adult booster and synthetic boosted
# ensembles of 100 / 500 / 1 000 trees of depth 6 and 8 (20 features, 2 000
# random rows): the generated Rust (`export --rust`, compiled as a release
# build), the portable model (`automl predict`'s scorer; its batch is the
# whole table), ONNX Runtime on the `export --onnx` file (through its
# Python API) and, for a model that is one tree ensemble, TL2cgen 1.0 on the
# same trees rebuilt with Treelite's model builder (gcc; on the encoded
# rows; bench/tl2cgen_speed.py) and, for a boosted sum, LightGBM 4.7 on the
# same trees written in its text model format (on the encoded rows, its
# predictions checked against automl's first; bench/lightgbm_speed.py).
# Every runtime is timed once a round, one after another, in ROUNDS rounds
# (default 5), so that a slow spell of a shared machine hits every runtime
# of a round alike. Prints a Markdown table of medians over the rounds with
# the median of each round's ratio of the runtime's time over the generated
# Rust's fed what that runtime is fed: raw cells for the portable model and
# ONNX Runtime (`predict`, `predict_batch`), encoded rows for TL2cgen and
# LightGBM (`predict_row`, `predict_rows`).
# Usage: bench/inference.sh   (after cargo build --release --examples)
# Env: VENV, a Python virtual environment outside the repo with onnxruntime,
#   numpy, treelite, tl2cgen and lightgbm (default /tmp/onnx-venv); SHARED (default
#   ../shared/bench).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/automl
VENV=${VENV:-/tmp/onnx-venv}
SHARED=${SHARED:-../shared/bench}
# TL2cgen's gcc build of a large model can take very long; past this it is
# reported as not built.
TL2CGEN_SECONDS=${TL2CGEN_SECONDS:-1500}
# Rounds of timings a model; the table shows medians.
ROUNDS=${ROUNDS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/scorers.sh
export RAYON_NUM_THREADS=1

# What a model is: its estimator's kind and size, from `automl inspect`.
what() { "$BIN" inspect "$1" | grep '^estimator' | grep -o -E 'weighted ensemble of [0-9]+ members|[0-9]+ trees' | head -1; }

# One round: every runtime once on the model in $dir, one line of 12 fields.
round() { # model.json data.csv repeats dir
  local model=$1 data=$2 repeats=$3 dir=$4 tl="" tl_b=""
  if [[ ! -e $dir/tl2cgen.timeout ]]; then
    read -r tl tl_b < <(taskset -c 0 timeout "$TL2CGEN_SECONDS" "$VENV/bin/python" bench/tl2cgen_speed.py "$model" "$dir/encoded.csv" 1 "$dir" 2>/dev/null | tail -1) || true
    [[ -n $tl ]] || touch "$dir/tl2cgen.timeout"
  fi
  echo "$(taskset -c 0 "$dir/h" "$data" "$repeats" "$dir/encoded.csv")" \
    "$(taskset -c 0 target/release/examples/score_speed "$model" "$data" "$repeats")" \
    "$(taskset -c 0 "$VENV/bin/python" bench/onnx_speed.py "$dir/model.onnx" "$data" 1)" \
    "${tl:-over_${TL2CGEN_SECONDS}_s}" "${tl_b:-(gcc_build)}" \
    "$(taskset -c 0 "$VENV/bin/python" bench/lightgbm_speed.py "$model" "$dir/encoded.csv" "$dir/encoded.csv.outputs.csv" 1)"
}

# Builds what the runtimes need (TL2cgen's library in the first round), then
# times them in ROUNDS rounds, one runtime after another, and prints the
# model's row of medians.
measure() { # label model.json data.csv repeats
  local label=$1 model=$2 data=$3 repeats=$4 dir="$work/$1"
  mkdir -p "$dir"
  compile_harness "$model" "$dir" > /dev/null
  "$BIN" export --onnx --model "$model" --out "$dir/model.onnx"
  target/release/examples/score_speed "$model" "$data" --encode "$dir/encoded.csv"
  for _ in $(seq "$ROUNDS"); do round "$model" "$data" "$repeats" "$dir"; done > "$dir/rounds"
  python3 bench/median_row.py "$label" "$dir/rounds"
}

printf '| model | generated, ns/row | generated, batch | generated, encoded rows | generated, encoded batch | portable | portable, batch | ONNX Runtime | ONNX Runtime, batch | TL2cgen | TL2cgen, batch | LightGBM | LightGBM, batch |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
"$BIN" train --data datasets/titanic.csv --target survived --max-trials 40 --seed 1 --quiet --out "$work/titanic" >/dev/null
measure "titanic winner: $(what "$work/titanic/model.json")" "$work/titanic/model.json" datasets/titanic.csv 100
"$BIN" train --data "$SHARED/splits/adult.train.csv" --target income --include gbdt --no-ensemble --max-trials 6 --seed 1 --quiet --out "$work/adult" >/dev/null
head -2001 "$SHARED/splits/adult.test.csv" > "$work/adult.csv"
measure "adult gbdt: $(what "$work/adult/model.json")" "$work/adult/model.json" "$work/adult.csv" 20
synthetic_rows "$work/synthetic.csv"
for depth in 6 8; do
  for trees in 100 500 1000; do
    target/release/examples/large_model "$trees" "$depth" 20 "$work/gbdt-$trees-$depth.json"
    measure "$trees trees of depth $depth" "$work/gbdt-$trees-$depth.json" "$work/synthetic.csv" 5
  done
done
