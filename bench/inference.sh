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
# Prints a Markdown table with each runtime's time over the generated
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
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/scorers.sh
export RAYON_NUM_THREADS=1

ratio() { [[ $1 =~ ^[0-9.]+$ ]] && echo "$1 / $2" | bc -l | xargs printf '%.1f×' || echo n/a; }

# What a model is: its estimator's kind and size, from `automl inspect`.
what() { "$BIN" inspect "$1" | grep '^estimator' | grep -o -E 'weighted ensemble of [0-9]+ members|[0-9]+ trees' | head -1; }

measure() { # label model.json data.csv repeats
  local label=$1 model=$2 data=$3 repeats=$4 dir="$work/$1"
  mkdir -p "$dir"
  compile_harness "$model" "$dir" > /dev/null
  "$BIN" export --onnx --model "$model" --out "$dir/model.onnx"
  target/release/examples/score_speed "$model" "$data" --encode "$dir/encoded.csv"
  local gen gen_b enc enc_b port port_b ort ort_b tl tl_b lg lg_b
  read -r gen gen_b enc enc_b < <(taskset -c 0 "$dir/h" "$data" "$repeats" "$dir/encoded.csv")
  read -r port port_b < <(taskset -c 0 target/release/examples/score_speed "$model" "$data" "$repeats")
  read -r ort ort_b < <(taskset -c 0 "$VENV/bin/python" bench/onnx_speed.py "$dir/model.onnx" "$data" 1)
  read -r tl tl_b < <(taskset -c 0 timeout "$TL2CGEN_SECONDS" "$VENV/bin/python" bench/tl2cgen_speed.py "$model" "$dir/encoded.csv" 1 "$dir" 2>/dev/null | tail -1)
  tl=${tl:-"over ${TL2CGEN_SECONDS} s"} tl_b=${tl_b:-"(gcc build)"}
  read -r lg lg_b < <(taskset -c 0 "$VENV/bin/python" bench/lightgbm_speed.py "$model" "$dir/encoded.csv" "$dir/encoded.csv.outputs.csv" 1)
  printf '| %s | %s | %s | %s | %s | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %s (%s) |\n' "$label" "$gen" "$gen_b" "$enc" "$enc_b" \
    "$port" "$(ratio "$port" "$gen")" "$port_b" "$(ratio "$port_b" "$gen_b")" \
    "$ort" "$(ratio "$ort" "$gen")" "$ort_b" "$(ratio "$ort_b" "$gen_b")" \
    "$tl" "$(ratio "$tl" "$enc")" "$tl_b" "$(ratio "$tl_b" "$enc_b")" \
    "$lg" "$(ratio "$lg" "$enc")" "$lg_b" "$(ratio "$lg_b" "$enc_b")"
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
