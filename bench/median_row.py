"""Prints one Markdown row of bench/inference.sh's table from the rounds of
timings of one model: each cell the median over the rounds, and in brackets
the median over the rounds of that runtime's time over the generated Rust's
in the same round (so a slow spell of a shared machine, which hits one round,
moves neither much).

Usage: median_row.py LABEL ROUNDS_FILE
ROUNDS_FILE: one line a round, 12 fields: generated (single, batch), generated
on encoded rows (single, batch), portable (single, batch), ONNX Runtime
(single, batch), TL2cgen (single, batch), LightGBM (single, batch); a field
that is not a number (n/a, a build that timed out) is printed as it is.
"""

import statistics
import sys

# Which generated-Rust column each other column is compared with.
BASE = {4: 0, 5: 1, 6: 0, 7: 1, 8: 2, 9: 3, 10: 2, 11: 3}


def number(field):
    try:
        return float(field)
    except ValueError:
        return None


def cell(rounds, column):
    values = [number(r[column]) for r in rounds]
    if any(v is None for v in values):
        return rounds[-1][column]
    return f"{statistics.median(values):,.0f}".replace(",", " ")


def ratio(rounds, column):
    pairs = [(number(r[column]), number(r[BASE[column]])) for r in rounds]
    if any(a is None or not b for a, b in pairs):
        return "n/a"
    return f"{statistics.median(a / b for a, b in pairs):.1f}×"


def main():
    label, path = sys.argv[1], sys.argv[2]
    rounds = [line.split() for line in open(path) if line.strip()]
    cells = [cell(rounds, c) for c in range(4)]
    cells += [f"{cell(rounds, c)} ({ratio(rounds, c)})" for c in range(4, 12)]
    print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
