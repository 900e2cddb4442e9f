"""Times LightGBM's predict on a boosted model from automl's model.json:
the trees are written in LightGBM's text model format (an `x < t` split as
`x <= ` the double below `t`, the base values as one-leaf trees before the
others), loaded with `lightgbm.Booster(model_str=...)` and scored on the
encoded rows `score_speed --encode` writes, one thread: one row per call,
then batches of 1 000. Checks the probabilities against automl's (from
`score_speed --encode`'s second file) first. Prints both times, nanoseconds
per row, or `n/a n/a` for a model LightGBM cannot hold (anything but one
boosted sum with a sigmoid, softmax or identity link). LightGBM reads a
value within 1e-35 of zero as zero, so rows with such values (none in the
benchmark's) could take another branch; the check would say so. Used by
bench/inference.sh.

Usage: lightgbm_speed.py MODEL.json ENCODED.csv EXPECTED.csv REPEATS
"""

import json
import math
import struct
import sys
import time

import lightgbm
import numpy as np

BATCH = 1000
OBJECTIVE = {"sigmoid": "binary sigmoid:1", "identity": "regression", "softmax": "multiclass num_class:{k}"}


def below(t):
    """The largest double below `t`: `x < t` is `x <= below(t)`."""
    if t == 0.0:
        return -5e-324
    bits = struct.unpack("<q", struct.pack("<d", t))[0]
    return struct.unpack("<d", struct.pack("<q", bits - 1 if t > 0 else bits + 1))[0]


def split_value(tree, node):
    t = tree["threshold"][node]
    return below(t) if tree["rule"] == "less" else t


def tree_text(index, tree):
    """One LightGBM tree: internal nodes and leaves numbered in node order,
    a child that is a leaf written as -(leaf + 1)."""
    if tree is None or tree["feature"][0] < 0:
        value = 0.0 if tree is None else tree["values"][0]
        return f"Tree={index}\nnum_leaves=1\nnum_cat=0\nleaf_value={value!r}\nis_linear=0\nshrinkage=1\n\n"
    number, splits, leaves = {}, [], []
    for node, feature in enumerate(tree["feature"]):
        if feature < 0:
            number[node] = -(len(leaves) + 1)
            leaves.append(node)
        else:
            number[node] = len(splits)
            splits.append(node)
    join = lambda v: " ".join(str(x) if isinstance(x, int) else repr(x) for x in v)
    lines = [
        f"Tree={index}", f"num_leaves={len(leaves)}", "num_cat=0",
        "split_feature=" + join([tree["feature"][n] for n in splits]),
        "split_gain=" + join([1] * len(splits)),
        "threshold=" + join([split_value(tree, n) for n in splits]),
        "decision_type=" + join([0] * len(splits)),
        "left_child=" + join([number[tree["left"][n]] for n in splits]),
        "right_child=" + join([number[tree["right"][n]] for n in splits]),
        "leaf_value=" + join([tree["values"][n] for n in leaves]),
        "leaf_weight=" + join([1] * len(leaves)),
        "leaf_count=" + join([1] * len(leaves)),
        "internal_value=" + join([0] * len(splits)),
        "internal_weight=" + join([1] * len(splits)),
        "internal_count=" + join([1] * len(splits)),
        "is_linear=0", "shrinkage=1",
    ]
    return "\n".join(lines) + "\n\n"


def model_text(est, d):
    """The whole model, or None when LightGBM cannot hold it."""
    if est["kind"] != "trees":
        return None
    k, trees = len(est["base"]), est["trees"]
    boosted = est["combine"] == "sum" and est["link"] in OBJECTIVE
    if not boosted or any(t["width"] != 1 or t["output"] != i % k for i, t in enumerate(trees)):
        return None
    if (k > 1) != (est["link"] == "softmax"):
        return None
    base = [{"feature": [-1], "values": [b]} for b in est["base"]]
    body = "".join(tree_text(i, t) for i, t in enumerate(base + trees))
    header = [
        "tree", "version=v4", f"num_class={k}", f"num_tree_per_iteration={k}", "label_index=0",
        f"max_feature_idx={d - 1}", "objective=" + OBJECTIVE[est["link"]].format(k=k),
        "feature_names=" + " ".join(f"f{j}" for j in range(d)),
        "feature_infos=" + " ".join(["none"] * d),
    ]
    return "\n".join(header) + "\n\n" + body + "end of trees\n\nparameters:\nend of parameters\n\n"


def main():
    path, data, expected, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    x = np.loadtxt(data, delimiter=",", ndmin=2)
    text = model_text(json.load(open(path))["estimator"], x.shape[1])
    if text is None:
        print("n/a n/a")
        return
    booster = lightgbm.Booster(model_str=text, params={"num_threads": 1})
    want = np.loadtxt(expected, delimiter=",", ndmin=2)
    got = booster.predict(x, num_threads=1).reshape(len(x), -1)
    if want.shape[1] == 2 and got.shape[1] == 1:
        got = np.hstack([1 - got, got])
    gap = float(np.max(np.abs(got - want[:, :got.shape[1]])))
    if not math.isfinite(gap) or gap > 1e-9:
        sys.exit(f"LightGBM's predictions differ from automl's by up to {gap}")
    print(f"LightGBM predictions within {gap:.1e} of automl's", file=sys.stderr)
    n = len(x)
    started = time.perf_counter_ns()
    for _ in range(repeats):
        for r in range(n):
            booster.predict(x[r:r + 1], num_threads=1)
    single = (time.perf_counter_ns() - started) / (repeats * n)
    started = time.perf_counter_ns()
    for _ in range(repeats):
        for b in range(0, n, BATCH):
            booster.predict(x[b:b + BATCH], num_threads=1)
    batch = (time.perf_counter_ns() - started) / (repeats * n)
    print(f"{single:.1f} {batch:.1f}")


if __name__ == "__main__":
    main()
