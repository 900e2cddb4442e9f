#!/usr/bin/env bash
# Generated Rust against the portable model's own scorer: per family, the
# generated file's size, its release compile time and peak rustc memory, and
# nanoseconds per row for both scorers, one row at a time and in one batch
# of every row; then synthetic boosted models of 100, 500 and 1000 trees.
# Prints a Markdown table.
# Usage: bench/codegen.sh   (after cargo build --release --examples)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/automl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A timing harness: parse every row once, then time predict over all rows,
# then predict_batch over all of them at once; prints both, ns per row.
harness() { # classification?
  cat <<'RS'
mod model;
use std::hint::black_box;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).expect("csv");
    let repeats: usize = args[2].parse().expect("repeats");
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().expect("header").split(',').collect();
    let index: Vec<usize> = model::INPUT_COLUMNS.iter().map(|c| names.iter().position(|n| n == c).expect("column")).collect();
    let rows: Vec<[model::Value<'_>; model::INPUT_COLUMNS.len()]> = lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            std::array::from_fn(|i| if cells[index[i]].is_empty() { model::Value::Missing } else { model::Value::Text(cells[index[i]]) })
        })
        .collect();
    let per_row = |t: std::time::Instant| t.elapsed().as_nanos() as f64 / (repeats * rows.len()) as f64;
    let started = std::time::Instant::now();
    for _ in 0..repeats {
        for row in &rows {
            let _ = black_box(model::predict(black_box(row)));
        }
    }
    let single = per_row(started);
    let started = std::time::Instant::now();
    for _ in 0..repeats {
        model::predict_batch(black_box(&rows), |i, p| {
            black_box((i, p.is_ok()));
        });
    }
    println!("{single:.1} {:.1}", per_row(started));
}
RS
}

measure() { # label model.json data.csv repeats
  local label=$1 model=$2 data=$3 repeats=$4 dir="$work/$1"
  mkdir -p "$dir"
  "$BIN" export --rust --model "$model" --out "$dir/model.rs"
  harness > "$dir/main.rs"
  local t0 t1 mem
  t0=$(date +%s.%N)
  mem=$( { /usr/bin/time -f "%M" rustc --edition 2021 -C opt-level=3 -C codegen-units=1 "$dir/main.rs" -o "$dir/h" >/dev/null; } 2>&1 | tail -1 )
  t1=$(date +%s.%N)
  local gen gen_batch interp interp_batch size
  read -r gen gen_batch < <("$dir/h" "$data" "$repeats")
  read -r interp interp_batch < <(target/release/examples/score_speed "$model" "$data" "$repeats")
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
python3 - "$work/synthetic.csv" <<'PY'
import random, sys
random.seed(1)
with open(sys.argv[1], "w") as f:
    f.write(",".join(f"x{j}" for j in range(20)) + "\n")
    for _ in range(2000):
        f.write(",".join(f"{random.uniform(-3, 3):.4f}" for _ in range(20)) + "\n")
PY
for trees in 100 500 1000; do
  target/release/examples/large_model "$trees" 8 20 "$work/gbdt-$trees.json"
  measure "boosted, $trees trees of depth 8" "$work/gbdt-$trees.json" "$work/synthetic.csv" 20
done
