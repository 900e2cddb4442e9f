"""Scores a CSV with ONNX Runtime on an `automl export --onnx` file and
compares every row with `automl predict`'s output for the same CSV.

Usage: parity.py MODEL.onnx DATA.csv PREDICTED.csv

Inputs are built as the book's ONNX section tells a user to: doubles for
numeric and true/false columns (NaN for missing or unreadable cells), the
trimmed text for categorical ones. A `--na-values` marker is passed as
it stands (-999 as the number -999): the file itself reads it as missing. Classes, clusters and flags must be
identical; numbers must agree within 1e-12 of max(1, |a|, |b|). Prints one
JSON line: rows, outputs compared, exact matches, largest difference; exits
1 on a mismatch.
"""

import csv
import json
import math
import sys

import numpy as np
import onnxruntime as ort

MISSING = {"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"}
TOLERANCE = 1e-12


def number(text):
    text = text.strip()
    if text in MISSING:
        return math.nan
    if text.lower() in ("true", "false"):
        return 1.0 if text.lower() == "true" else 0.0
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_feeds(session, data):
    """The rows of CSV file `data`, and the session's inputs for all of them."""
    with open(data, newline="") as f:
        rows = list(csv.DictReader(f))
    feeds = {}
    for i in session.get_inputs():
        cells = [r[i.name] for r in rows]
        if i.type == "tensor(string)":
            feeds[i.name] = np.array([c.strip() for c in cells], dtype=object)
        else:
            feeds[i.name] = np.array([number(c) for c in cells], dtype=np.float64)
    return rows, feeds


def main():
    model, data, predicted = sys.argv[1:]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    rows, feeds = read_feeds(session, data)
    names = [o.name for o in session.get_outputs()]
    results = dict(zip(names, session.run(None, feeds)))
    with open(predicted, newline="") as f:
        expected = list(csv.DictReader(f))
    compared = exact = bad = 0
    worst = 0.0

    def check(r, what, ours, theirs):
        nonlocal compared, exact, bad, worst
        compared += 1
        if isinstance(ours, str):
            same = ours == theirs
            diff = 0.0 if same else math.inf
        else:
            a, b = float(ours), float(theirs)
            diff = abs(a - b)
            same = diff <= TOLERANCE * max(1.0, abs(a), abs(b))
        exact += int(bool(ours == theirs))
        worst = max(worst, diff)
        if not same:
            bad += 1
            if bad <= 5:
                print(f"row {r + 1} {what}: automl {ours!r}, onnx {theirs!r}", file=sys.stderr)

    for r, row in enumerate(expected):
        for column, value in row.items():
            if column == "prediction" and "probabilities" in results:
                check(r, column, value, str(results["prediction"][r]))
            elif column.startswith("p_") and "probabilities" in results:
                classes = [c for c in row if c.startswith("p_")]
                check(r, column, float(value), results["probabilities"][r][classes.index(column)])
            elif column.startswith("p_"):
                check(r, column, float(value), results["memberships"][r][int(column[2:])])
            elif column == "cluster":
                check(r, column, value, str(int(results["cluster"][r])))
            elif column == "is_anomaly":
                check(r, column, value, str(bool(results["is_anomaly"][r])).lower())
            else:
                check(r, column, float(value), results[column][r])
    print(json.dumps({"rows": len(expected), "compared": compared, "exact": exact,
                      "mismatches": bad, "largest_difference": worst}))
    sys.exit(1 if bad or len(expected) != len(rows) else 0)


if __name__ == "__main__":
    main()
