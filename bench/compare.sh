#!/usr/bin/env bash
# automl and FLAML in the same run: the same split of ../shared/bench, the
# same budget, the same seeds, one after the other on this machine, both
# scored by the benchmark's score.py. Prints one row per set and budget with
# the median of the seeds, then the mean scaled score (AMLB style: the
# random forest of peers.md = 0, the best of the two = 1).
# Usage: bench/compare.sh [BUDGET ...]   (default: 30 60)
# Env: VENV, a Python virtual environment outside the repo with flaml[automl],
#   pandas and scikit-learn (default /tmp/peers-venv; made with
#   python3 -m venv DIR && DIR/bin/pip install "flaml[automl]" pandas scikit-learn);
#   SEEDS (default "1 2 3"); SETS (default: all ten); LOG, a file that gets
#   one line per set, budget and seed (both values, automl's winning family,
#   its final fit and wall seconds); BIN, the automl binary (default
#   target/release/automl; a copy elsewhere lets cargo rebuild meanwhile).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
VENV=${VENV:-/tmp/peers-venv}
PY="$VENV/bin/python"
LOG=${LOG:-/dev/null}
SEEDS=${SEEDS:-1 2 3}
BIN=${BIN:-target/release/automl}
[ $# -eq 0 ] && set -- 30 60
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name target task metric (↑ better unless log_loss) sklearn-RF figure from peers.md
all="adult income binary roc_auc 0.9085
breast_cancer diagnosis binary roc_auc 0.9888
credit_g class binary roc_auc 0.8258
titanic survived binary roc_auc 0.8408
iris species multiclass log_loss 0.0669
penguins species multiclass log_loss 0.0965
abalone rings regression r2 0.5466
california median_house_value regression r2 0.8128
diabetes progression regression r2 0.2223
wine_quality quality regression r2 0.5049"
sets=${SETS:-$(echo "$all" | cut -d' ' -f1 | tr '\n' ' ')}

score() { # test target task pred metric
  "$PY" "$SHARED/score.py" --test "$1" --target "$2" --task "$3" --pred "$4" --json |
    "$PY" -c "import json,sys; s=json.load(sys.stdin); print(s.get('metrics', s)['$5'])"
}

printf '| set | budget s | metric | automl | FLAML | sklearn RF |\n|---|---:|---|---:|---:|---:|\n'
for b in "$@"; do
  while read -r name target task metric rf; do
    case " $sets " in *" $name "*) ;; *) continue ;; esac
    train="$SHARED/splits/$name.train.csv" test="$SHARED/splits/$name.test.csv"
    ours=() theirs=()
    for seed in $SEEDS; do
      run="$work/$name-$b-$seed"
      "$BIN" train --data "$train" --target "$target" --task "$task" --time-budget "$b" \
        --seed "$seed" --out "$run" --quiet --json > "$run.json"
      "$BIN" predict --model "$run/model.json" --data "$test" --out "$run.pred.csv"
      ours+=("$(score "$test" "$target" "$task" "$run.pred.csv" "$metric")")
      "$PY" bench/flaml_run.py --train "$train" --test "$test" --target "$target" --task "$task" \
        --budget "$b" --seed "$seed" --pred "$run.flaml.csv" > /dev/null 2>&1
      theirs+=("$(score "$test" "$target" "$task" "$run.flaml.csv" "$metric")")
      "$PY" - "$run.json" "$run/run.json" "$name $b $seed ${ours[-1]} ${theirs[-1]}" >> "$LOG" <<'PY'
import json, sys
summary, record = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(sys.argv[3], summary["family"], repr(record["final_fit"]), round(summary["seconds"], 1))
PY
    done
    "$PY" - "$name" "$b" "$metric" "$rf" "${ours[*]}" "${theirs[*]}" <<'PY' | tee -a "$work/rows"
import statistics, sys
name, budget, metric, rf, ours, theirs = sys.argv[1:]
a = statistics.median(map(float, ours.split()))
f = statistics.median(map(float, theirs.split()))
print(f"| {name} | {budget} | {metric} | {a:.4f} | {f:.4f} | {float(rf):.4f} |")
PY
  done <<< "$all"
done
"$PY" - "$work/rows" <<'PY'
import sys
rows = [l.strip("|\n ").split(" | ") for l in open(sys.argv[1])]
def scaled(v, rf, best, lower):
    if lower:
        v, rf, best = -v, -rf, -best
    return (v - rf) / (best - rf) if best != rf else 1.0
for system, col in (("automl", 3), ("FLAML", 4)):
    s = []
    for r in rows:
        lower = r[2] == "log_loss"
        a, f, rf = float(r[3]), float(r[4]), float(r[5])
        best = min(a, f) if lower else max(a, f)
        s.append(scaled(float(r[col]), rf, best, lower))
    print(f"{system}: mean scaled score {sum(s) / len(s):.3f} over {len(s)} rows (random forest = 0, best of the two = 1)")
PY
