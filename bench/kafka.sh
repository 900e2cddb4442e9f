#!/usr/bin/env bash
# Throughput and end-to-end latency of the generated Kafka consumer for
# 100 000 records on loopback: one and two consumers scoring with the
# champion only, then one consumer with drift monitoring, with a challenger
# (a linear model, to a shadow topic), and with both. Starts its own tansu
# broker (installed by scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
N=${N:-100000}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tansu broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ > "$work/tansu.log" 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1
cargo build --release --quiet --example kafka_bench
target/release/automl train --data datasets/titanic.csv --target survived --include gbdt --max-trials 4 --seed 7 --quiet --out "$work/run" >/dev/null
target/release/automl export --model "$work/run/model.json" --kafka-consumer --out "$work/titanic-scorer"
target/release/automl train --data datasets/titanic.csv --target survived --include linear --max-trials 1 --seed 7 --quiet --out "$work/challenger" >/dev/null
target/release/automl export --model "$work/run/model.json" --challenger "$work/challenger/model.json" --kafka-consumer --out "$work/titanic-challenged"
for p in titanic-scorer titanic-challenged; do
  CARGO_TARGET_DIR="$(pwd)/target/kafka-consumer" cargo build --release --quiet --manifest-path "$work/$p/Cargo.toml"
done
bench() { target/release/examples/kafka_bench "127.0.0.1:$port" "target/kafka-consumer/release/$1" "$N" "$2" "$3" 2>/dev/null; }
bench titanic-scorer 1 plain
bench titanic-scorer 2 plain
bench titanic-scorer 1 drift
bench titanic-challenged 1 challenger
bench titanic-challenged 1 both
