#!/usr/bin/env bash
# How many trees the packed walk should take side by side (kernels::LANES):
# the generated module of synthetic boosted ensembles (20 numeric columns,
# 2 000 random rows) compiled once per lane count, the count set by editing
# the embedded kernels' constant, each timed one row at a time and in
# batches of 1 000 (raw cells in), one thread. Prints a Markdown table of
# ns/row.
# Usage: bench/tree_lanes.sh   (after cargo build --release --examples)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/automl
LANES=${LANES:-1 2 4 8 16}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/scorers.sh

python3 - "$work/synthetic.csv" <<'PY'
import random, sys
random.seed(1)
with open(sys.argv[1], "w") as f:
    f.write(",".join(f"x{j}" for j in range(20)) + "\n")
    for _ in range(2000):
        f.write(",".join(f"{random.uniform(-3, 3):.4f}" for _ in range(20)) + "\n")
PY
printf '| model |%s\n|---|%s\n' "$(for l in $LANES; do printf ' %s lanes, single | batch |' "$l"; done)" "$(for l in $LANES; do printf -- '---:|---:|'; done)"
for shape in "100 6" "500 6" "500 8" "1000 8"; do
  read -r trees depth <<< "$shape"
  target/release/examples/large_model "$trees" "$depth" 20 "$work/m.json"
  "$BIN" export --rust --model "$work/m.json" --out "$work/model.rs"
  harness > "$work/main.rs"
  row="| $trees trees of depth $depth |"
  for lanes in $LANES; do
    sed -i -E "s/pub const LANES: usize = [0-9]+;/pub const LANES: usize = $lanes;/" "$work/model.rs"
    rustc --edition 2021 -C opt-level=3 -C codegen-units=1 "$work/main.rs" -o "$work/h"
    read -r single batch < <(taskset -c 0 "$work/h" "$work/synthetic.csv" 5)
    row="$row $single | $batch |"
  done
  echo "$row"
done
