#!/usr/bin/env bash
# The project's test command. Starts a Kafka-protocol broker (tansu, on a
# fresh SQLite store) on a free port of 127.0.0.1 for the Kafka tests, runs the whole
# test suite, and stops the broker. Installs tansu with cargo when missing
# (about 13 minutes of compiling on 2 cores, once).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# The tests lint what they generate: clippy for the exported module, rustfmt
# and clippy for the consumer project.
if command -v rustup >/dev/null 2>&1; then
  rustup component add clippy rustfmt >/dev/null
fi

# SQLite storage (libsql) for the shared broker and for the test that
# crashes and restarts a broker of its own; in-memory storage (dynostore)
# for bench/kafka.sh.
if ! grep -q '"tansu 0.6.0 [^}]*"libsql"' "$HOME/.cargo/.crates2.json" 2>/dev/null; then
  cargo install tansu --version 0.6.0 --locked --features dynostore,libsql --force
fi

# Headless Chromium (Debian's package) draws report.html for the report
# test.
if ! command -v chromium-headless-shell >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium-headless-shell >/dev/null
fi

# ONNX Runtime and jsonschema (PyPI) in a virtual environment under
# target/, for the ONNX parity tests and the JSON Schema test.
venv=target/onnx-venv
if ! "$venv/bin/python" -c 'import onnxruntime, jsonschema' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet onnxruntime==1.32.0 numpy jsonschema==4.26.0
fi
export AUTOML_ONNX_PYTHON="$PWD/$venv/bin/python"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
# SQLite storage, fresh for each run: tansu 0.6.0's memory engine skips the
# rest of a record batch when a fetch starts inside it (as a consumer does
# from a committed offset after a rebalance), losing records that real
# Kafka serves; examples/tansu_midbatch_fetch.rs shows it.
rm -f target/tansu-tests.db*
tansu broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine sqlite://target/tansu-tests.db > target/tansu.log 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done
sleep 0.5
if ! kill -0 "$broker" 2>/dev/null; then
  echo "the broker did not start; see target/tansu.log" >&2
  exit 1
fi
export AUTOML_KAFKA_BROKERS="127.0.0.1:$port"

cargo test --release "$@"
