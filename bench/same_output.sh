#!/usr/bin/env bash
# Behaviour check for refactors: trains with two automl binaries (say the
# last release and a new build), same seed and --max-trials, and reports
# whether model.json is byte-identical and the leaderboard equal (timing and
# size columns aside) on supervised, clustering and anomaly sets.
# Usage: bench/same_output.sh OLD_BINARY NEW_BINARY [TRIALS]
set -uo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 trials=${3:-25}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
while read -r data args; do
  for side in old new; do
    bin=$old; [ "$side" = new ] && bin=$new
    # shellcheck disable=SC2086
    "$bin" train --data "datasets/$data" $args --max-trials "$trials" --seed 7 --quiet --out "$work/$side" >/dev/null 2>&1 ||
      echo "training failed: $side $data"
  done
  model=DIFF
  cmp -s "$work/old/model.json" "$work/new/model.json" && model=same
  board=$(python3 - "$work" <<'PY'
import json, sys
def rows(p):
    keep = lambda k: not any(w in k for w in ("second", "predict_us", "bytes"))
    return [{k: v for k, v in r.items() if keep(k)} for r in json.load(open(p))["rows"]]
d = sys.argv[1]
print("same" if rows(d + "/old/leaderboard.json") == rows(d + "/new/leaderboard.json") else "DIFF")
PY
)
  echo "$data $args: model.json $model, leaderboard $board"
  rm -rf "$work/old" "$work/new"
done <<'LIST'
titanic.csv --target survived
iris.csv --target species
diabetes.csv --target progression
penguins.csv --target species
wine.csv --task cluster --label cultivar
annthyroid.csv --task anomaly --label is_anomaly
LIST
