#!/usr/bin/env bash
# automl's booster beside LightGBM 4 at equal rounds, leaves, learning rate
# and leaf limits, on the same rows encoded by automl's preprocessing: fit
# time (median of REPEATS, default 3; both on the machine's cores) and the
# held-out metric (AUC for adult, log loss for the 26-class letter set).
# Usage: bench/boosting.sh
# Env: VENV, a Python virtual environment outside the repo with lightgbm,
#   numpy and scikit-learn (default /tmp/peers-venv; made with
#   python3 -m venv DIR && DIR/bin/pip install lightgbm scikit-learn).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
VENV=${VENV:-/tmp/peers-venv}
cargo build --release --example boosting_race -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# set train test target task metric settings...
runs="adult $SHARED/splits/adult.train.csv $SHARED/splits/adult.test.csv income binary AUC iterations=300 max_leaves=31 learning_rate=0.1 min_leaf_rows=20 l2=1 stopping=rounds
letter bench/data/letter.train.csv bench/data/letter.test.csv letter multiclass log_loss iterations=100 max_leaves=31 learning_rate=0.1 min_leaf_rows=20 l2=1 stopping=rounds"

printf '| set | settings | automl fit s | LightGBM fit s | ratio | automl %s | LightGBM |\n' metric
printf '|---|---|---:|---:|---:|---:|---:|\n'
while read -r name train test target task metric settings; do
  dir="$work/$name"
  # shellcheck disable=SC2086
  ours=$(target/release/examples/boosting_race "$train" "$test" "$target" "$dir" $settings)
  # shellcheck disable=SC2086
  theirs=$("$VENV/bin/python" bench/boosting.py "$dir" "$task" $settings)
  "$VENV/bin/python" - "$name" "$metric" "$settings" "$ours" "$theirs" <<'PY'
import json, sys
name, metric, settings, ours, theirs = sys.argv[1:]
a, b = json.loads(ours), json.loads(theirs)
print(f"| {name} ({metric}) | {settings.replace(' stopping=rounds', '')} | {a['fit_seconds']:.2f} | "
      f"{b['lightgbm_seconds']:.2f} | {a['fit_seconds'] / b['lightgbm_seconds']:.2f}× | "
      f"{b['automl']:.4f} | {b['lightgbm']:.4f} |")
PY
done <<<"$runs"
