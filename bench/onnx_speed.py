"""Times ONNX Runtime (one intra-op thread) on an `automl export --onnx`
file over every row of a CSV: one `run` per row, then batches of 1 000 rows.
Prints both, nanoseconds per row. Used by bench/inference.sh.

Usage: onnx_speed.py MODEL.onnx DATA.csv REPEATS
"""

import pathlib
import sys
import time

import onnxruntime as ort

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "onnx"))
from parity import read_feeds  # noqa: E402

BATCH = 1000


def main():
    model, data, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    rows, feeds = read_feeds(session, data)
    n = len(rows)
    singles = [{k: v[r:r + 1] for k, v in feeds.items()} for r in range(n)]
    started = time.perf_counter_ns()
    for _ in range(repeats):
        for feed in singles:
            session.run(None, feed)
    single = (time.perf_counter_ns() - started) / (repeats * n)
    batches = [{k: v[b:b + BATCH] for k, v in feeds.items()} for b in range(0, n, BATCH)]
    started = time.perf_counter_ns()
    for _ in range(repeats):
        for feed in batches:
            session.run(None, feed)
    batch = (time.perf_counter_ns() - started) / (repeats * n)
    print(f"{single:.1f} {batch:.1f}")


if __name__ == "__main__":
    main()
