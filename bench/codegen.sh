#!/usr/bin/env bash
# Generated Rust against the portable model's own scorer: per family, the
# generated file's size, its release compile time and peak rustc memory, and
# nanoseconds per row for both scorers, one row at a time and in batches
# (of 1 000 rows generated, of every row through the portable model); then synthetic boosted models of 100, 500 and 1000 trees.
# Prints a Markdown table.
# Usage: bench/codegen.sh   (after cargo build --release --examples)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/automl}
EXAMPLES=${EXAMPLES:-target/release/examples}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

source bench/scorers.sh

measure() { # label model.json data.csv repeats
  local label=$1 model=$2 data=$3 repeats=$4 dir="$work/$1"
  mkdir -p "$dir"
  local t0 t1 mem
  t0=$(date +%s.%N)
  mem=$(compile_harness "$model" "$dir")
  t1=$(date +%s.%N)
  local gen gen_batch interp interp_batch size
  read -r gen gen_batch < <("$dir/h" "$data" "$repeats")
  read -r interp interp_batch < <("$EXAMPLES"/score_speed "$model" "$data" "$repeats")
  size=$(stat -c %s "$dir/model.rs")
  printf '| %s | %s KB | %.1f s | %s MB | %s | %s | %.1f× | %s | %s |\n' "$label" "$((size / 1024))" "$(echo "$t1 - $t0" | bc)" "$((mem / 1024))" \
    "$gen" "$interp" "$(echo "$interp / $gen" | bc -l)" "$gen_batch" "$interp_batch"
}

printf '| model | generated file | release compile | rustc peak | ns/row generated | ns/row portable model | speed-up | ns/row generated, batch | ns/row portable, batch |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for family in gbdt random_forest decision_tree linear naive_bayes knn; do
  "$BIN" train --data datasets/titanic.csv --target survived --include "$family" --max-trials 6 --seed 1 --quiet --out "$work/run-$family" >/dev/null
  measure "$family (titanic)" "$work/run-$family/model.json" datasets/titanic.csv 200
done
# The default search's winner on titanic: a weighted ensemble (boosting,
# forests, extra trees, a network, linear models: each its own tables).
"$BIN" train --data datasets/titanic.csv --target survived --max-trials 40 --seed 1 --quiet --out "$work/run-ensemble" >/dev/null
measure "ensemble of $("$BIN" inspect "$work/run-ensemble/model.json" | grep -o '[0-9]* members') (titanic)" "$work/run-ensemble/model.json" datasets/titanic.csv 200
synthetic_rows "$work/synthetic.csv"
for trees in 100 500 1000; do
  "$EXAMPLES"/large_model "$trees" 8 20 "$work/gbdt-$trees.json"
  measure "boosted, $trees trees of depth 8" "$work/gbdt-$trees.json" "$work/synthetic.csv" 20
done
