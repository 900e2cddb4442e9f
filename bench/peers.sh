#!/usr/bin/env bash
# Trains automl on the fixed benchmark splits of ../shared/bench and scores
# the held-out rows with its score.py, for comparison with peers.md.
# Usage: bench/peers.sh [BUDGET ...]   (default: 30 60)
# Needs: a release build (cargo build --release) and a Python with numpy,
# pandas and scikit-learn as $PYTHON (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
PYTHON=${PYTHON:-python3}
BIN=target/release/automl
budgets=("${@:-30 60}")
[ $# -eq 0 ] && budgets=(30 60)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name target task metric
sets="titanic survived binary roc_auc
breast_cancer diagnosis binary roc_auc
credit_g class binary roc_auc
adult income binary roc_auc
penguins species multiclass accuracy
diabetes progression regression r2
abalone rings regression r2
california median_house_value regression r2"

printf '| dataset | budget s | wall s | trials | best family | final fit | metric | held-out |\n|---|---:|---:|---:|---|---|---|---:|\n'
while read -r name target task metric; do
  for b in "${budgets[@]}"; do
    run="$work/$name-$b"
    start=$(date +%s.%N)
    "$BIN" train --data "$SHARED/splits/$name.train.csv" --target "$target" --task "$task" \
      --time-budget "$b" --out "$run" --quiet --json > "$run.json"
    end=$(date +%s.%N)
    "$BIN" predict --model "$run/model.json" --data "$SHARED/splits/$name.test.csv" --out "$run.pred.csv"
    score=$("$PYTHON" "$SHARED/score.py" --test "$SHARED/splits/$name.test.csv" --target "$target" \
      --task "$task" --pred "$run.pred.csv" --json)
    "$PYTHON" - "$run" "$score" "$metric" "$name" "$b" "$start" "$end" <<'PY'
import json, sys
run, score, metric, name, budget, start, end = sys.argv[1:]
summary = json.load(open(run + ".json"))
record = json.load(open(run + "/run.json"))
s = json.loads(score)
s = s.get("metrics", s)
print(f"| {name} | {budget} | {float(end) - float(start):.1f} | {summary['trials']} | {summary['family']} "
      f"| {'refit' if record['final_fit'].startswith('refit') else 'first fold'} | {metric} | {s[metric]:.4f} |")
PY
  done
done <<< "$sets"
