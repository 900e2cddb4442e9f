#!/usr/bin/env bash
# Clustering and anomaly detection on the bundled labelled sets: a seeded
# stratified 75/25 split, `automl train` on the larger part (labels only
# score the leaderboard), `automl predict` on the rest, and the held-out
# adjusted Rand index (clusters) or ROC AUC / average precision (anomalies),
# beside scikit-learn's KMeans / IsolationForest with defaults on the same
# split. Prints Markdown tables.
# Usage: bench/unsupervised.sh [BUDGET]   (default: 30)
# Needs: a release build and a Python with numpy, pandas and scikit-learn as
# $PYTHON (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BIN=target/release/automl
budget=${1:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# file label task contamination ranking (labelled: --label ranks the trials;
# unlabelled: --ignore, so the unsupervised criterion ranks them)
sets="annthyroid is_anomaly anomaly 0.075 labelled
annthyroid is_anomaly anomaly 0.075 unlabelled
wine cultivar cluster - labelled
wine cultivar cluster - unlabelled
iris species cluster - labelled
penguins species cluster - labelled"

while read -r name label task contamination ranking; do
  "$PYTHON" - "datasets/$name.csv" "$label" "$work/$name" <<'PY'
import sys, pandas as pd
from sklearn.model_selection import train_test_split
path, label, out = sys.argv[1:]
d = pd.read_csv(path)
train, test = train_test_split(d, test_size=0.25, stratify=d[label], random_state=0)
train.to_csv(out + ".train.csv", index=False)
test.to_csv(out + ".test.csv", index=False)
PY
  extra=(--label "$label")
  [ "$ranking" = unlabelled ] && extra=(--ignore "$label")
  [ "$contamination" != "-" ] && extra+=(--contamination "$contamination")
  start=$(date +%s.%N)
  "$BIN" train --task "$task" --data "$work/$name.train.csv" "${extra[@]}" \
    --time-budget "$budget" --out "$work/$name.run" --quiet > "$work/$name.board.txt"
  end=$(date +%s.%N)
  "$BIN" predict --model "$work/$name.run/model.json" --data "$work/$name.test.csv" --out "$work/$name.pred.csv"
  echo
  echo "### $name ($task, $ranking, --time-budget $budget, wall $(echo "$end - $start" | bc) s)"
  echo
  "$BIN" leaderboard "$work/$name.run" --top 8 | sed 's/^/    /'
  echo
  "$PYTHON" - "$work/$name" "$label" "$task" <<'PY'
import sys, json, numpy as np, pandas as pd
from sklearn.cluster import KMeans
from sklearn.ensemble import IsolationForest
from sklearn.metrics import adjusted_rand_score, average_precision_score, roc_auc_score
from sklearn.preprocessing import StandardScaler
base, label, task = sys.argv[1:]
train, test = pd.read_csv(base + ".train.csv"), pd.read_csv(base + ".test.csv")
pred = pd.read_csv(base + ".pred.csv")
model = json.load(open(base + ".run/model.json"))
def features(d, like):
    x = pd.get_dummies(d.drop(columns=[label]), dtype=float)
    return x.reindex(columns=like, fill_value=0.0) if like is not None else x
xtr = features(train, None); xte = features(test, xtr.columns)
fill = xtr.median()
xtr, xte = xtr.fillna(fill).values, xte.fillna(fill).values
meta = model["meta"]
print(f"best: {meta['model_id']} ({meta['metric']} = {meta['cv_score']:.4f})")
print()
if task == "anomaly":
    y = (test[label] == sorted(train[label].unique())[-1]).values
    iso = IsolationForest(random_state=0).fit(xtr)
    s = -iso.score_samples(xte)
    print("| held-out | automl | sklearn IsolationForest() |\n|---|---:|---:|")
    print(f"| ROC AUC | {roc_auc_score(y, pred['score']):.4f} | {roc_auc_score(y, s):.4f} |")
    print(f"| average precision | {average_precision_score(y, pred['score']):.4f} | {average_precision_score(y, s):.4f} |")
    print(f"| flagged share | {pred['is_anomaly'].mean():.4f} | {(iso.predict(xte) == -1).mean():.4f} |")
else:
    y = test[label].values
    k = train[label].nunique()
    km = KMeans(random_state=0).fit(xtr)
    sc = StandardScaler().fit(xtr)
    kk = KMeans(n_clusters=k, random_state=0).fit(sc.transform(xtr))
    print(f"| held-out | automl | sklearn KMeans() | sklearn KMeans({k}) on standardised |\n|---|---:|---:|---:|")
    print(f"| adjusted Rand | {adjusted_rand_score(y, pred['cluster']):.4f} | "
          f"{adjusted_rand_score(y, km.predict(xte)):.4f} | {adjusted_rand_score(y, kk.predict(sc.transform(xte))):.4f} |")
    print(f"| clusters found | {pred['cluster'].nunique()} | {len(set(km.predict(xte)))} | {k} |")
PY
done <<< "$sets"
