#!/usr/bin/env bash
# What reason codes cost in the generated code: per family trained on
# titanic (no ensemble), nanoseconds per row of `predict` and of
# `predict_explained` (the same rows, one thread, median of ROUNDS
# interleaved rounds), and their ratio; and how long `automl predict
# --explain` takes beside plain `automl predict` on the same rows.
# Prints a Markdown table. Usage: bench/explain.sh (after cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/automl}
ROUNDS=${ROUNDS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=datasets/titanic.csv

harness() {
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
    let plain = per_row(started);
    let started = std::time::Instant::now();
    for _ in 0..repeats {
        for row in &rows {
            let _ = black_box(model::predict_explained(black_box(row)));
        }
    }
    println!("{plain:.0} {:.0}", per_row(started));
}
RS
}

printf '| model | trees, nodes | predict ns/row | predict_explained ns/row | ratio | `automl predict` s | `--explain 3` s |\n|---|---|---:|---:|---:|---:|---:|\n'
for family in gbdt random_forest extra_trees decision_tree linear; do
  dir="$work/$family"
  mkdir -p "$dir"
  "$BIN" train --data "$data" --target survived --include "$family" --no-ensemble \
    --max-trials 4 --seed 7 --quiet --out "$dir/run" > /dev/null
  "$BIN" export --rust --explain --model "$dir/run/model.json" --out "$dir/model.rs"
  harness > "$dir/main.rs"
  rustc --edition 2021 -C opt-level=3 -C codegen-units=1 "$dir/main.rs" -o "$dir/h"
  size=$("$BIN" inspect "$dir/run/model.json" | sed -n 's/^estimator  //p' | cut -d, -f1-2)
  for round in $(seq "$ROUNDS"); do
    read -r plain explained < <(taskset -c 0 "$dir/h" "$data" 20)
    t0=$(date +%s.%N); "$BIN" predict --model "$dir/run/model.json" --data "$data" > /dev/null; t1=$(date +%s.%N)
    "$BIN" predict --explain 3 --model "$dir/run/model.json" --data "$data" > /dev/null; t2=$(date +%s.%N)
    echo "$plain $explained $(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)"
  done > "$dir/times"
  python3 - "$family" "$size" "$dir/times" <<'PY'
import statistics, sys
family, size, path = sys.argv[1], sys.argv[2], sys.argv[3]
cols = list(zip(*[map(float, l.split()) for l in open(path)]))
p, e, a, b = (statistics.median(c) for c in cols)
print(f"| {family} | {size} | {p:.0f} | {e:.0f} | {e / p:.1f}× | {a:.3f} | {b:.3f} |")
PY
done
