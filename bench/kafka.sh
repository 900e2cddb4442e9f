#!/usr/bin/env bash
# Throughput and end-to-end latency of the generated Kafka consumer for
# 100 000 records on loopback, with one and with two consumers. Starts its
# own tansu broker (installed by scripts/test.sh).
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
CARGO_TARGET_DIR="$(pwd)/target/kafka-consumer" cargo build --release --quiet --manifest-path "$work/titanic-scorer/Cargo.toml"
for c in 1 2; do
  target/release/examples/kafka_bench "127.0.0.1:$port" target/kafka-consumer/release/titanic-scorer "$N" "$c" 2>/dev/null
done
