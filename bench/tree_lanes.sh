#!/usr/bin/env bash
# How many trees the packed walk should take side by side (kernels::LANES):
# the generated module of synthetic boosted ensembles (20 numeric columns,
# 2 000 random rows) compiled once per lane count, the count set by editing
# the embedded kernels' constant, each timed one row at a time and in
# batches of 1 000 (raw cells in), one thread, in ROUNDS rounds over the
# lane counts. Prints a Markdown table of median ns/row.
# Usage: bench/tree_lanes.sh   (after cargo build --release --examples)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/automl
LANES=${LANES:-1 2 4 8 16}
ROUNDS=${ROUNDS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/scorers.sh

synthetic_rows "$work/synthetic.csv"
printf '| model |%s\n|---|%s\n' "$(for l in $LANES; do printf ' %s lanes, single | batch |' "$l"; done)" "$(for l in $LANES; do printf -- '---:|---:|'; done)"
for shape in "100 6" "500 6" "500 8" "1000 8"; do
  read -r trees depth <<< "$shape"
  target/release/examples/large_model "$trees" "$depth" 20 "$work/m.json"
  "$BIN" export --rust --model "$work/m.json" --out "$work/model.rs"
  harness > "$work/main.rs"
  for lanes in $LANES; do
    sed -i -E "s/pub const LANES: usize = [0-9]+;/pub const LANES: usize = $lanes;/" "$work/model.rs"
    rustc --edition 2021 -C opt-level=3 -C codegen-units=1 "$work/main.rs" -o "$work/h$lanes"
  done
  # Rounds over every lane count in turn, so a slow spell of this shared
  # machine falls on all of them; the median of each.
  for round in $(seq "$ROUNDS"); do
    for lanes in $LANES; do
      echo "$lanes $(taskset -c 0 "$work/h$lanes" "$work/synthetic.csv" 2)"
    done
  done > "$work/times"
  python3 - "$trees" "$depth" "$work/times" "$LANES" <<'PY'
import statistics, sys
trees, depth, path, lanes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
times = {l: [] for l in lanes}
for line in open(path):
    l, single, batch = line.split()
    times[l].append((float(single), float(batch)))
cells = []
for l in lanes:
    cells += [f"{statistics.median(s for s, _ in times[l]):.0f}", f"{statistics.median(b for _, b in times[l]):.0f}"]
print(f"| {trees} trees of depth {depth} | " + " | ".join(cells) + " |")
PY
done
