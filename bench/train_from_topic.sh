#!/usr/bin/env bash
# How long `automl train --kafka-topic` takes to read N records (titanic
# rows as JSON, 4 partitions) before it trains: the run's `load` timing,
# and the whole command with one trial, median of ROUNDS.
# Usage: BROKERS=127.0.0.1:9092 N=100000 bench/train_from_topic.sh
#        (after cargo build --release --examples; a broker running, tansu on PATH)
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/automl}
N=${N:-100000}
ROUNDS=${ROUNDS:-3}
: "${BROKERS:?set BROKERS to the address of a broker}"
topic="train-from-topic-$$-$(date +%s)"
target/release/examples/kafka_produce "$BROKERS" "$topic" "$N" 4

for round in $(seq "$ROUNDS"); do
  t0=$(date +%s.%N)
  "$BIN" train --kafka-brokers "$BROKERS" --kafka-topic "$topic" --target survived \
    --max-trials 1 --include linear --no-ensemble --seed 7 --quiet --out "$work/run$round" > /dev/null
  t1=$(date +%s.%N)
  python3 -c "import json,sys; r=json.load(open('$work/run$round/run.json')); print(r['timings']['load'], sum(p['records'] for p in r['topic_offsets']), $t1 - $t0)"
done | python3 -c "
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin]
load, n, total = (statistics.median(c) for c in zip(*rows))
print(f'{int(n)} records: read and loaded in {load:.2f} s ({n / load:,.0f} records/s), whole command {total:.2f} s (median of {len(rows)})')
"
