"""Times TL2cgen (Treelite's compiler) on a tree model from automl's
model.json: the trees are rebuilt with Treelite's model builder (thresholds
and leaves in doubles, the same comparisons), compiled to a shared library
with gcc, and scored on encoded rows (the model's preprocessing applied by
`score_speed --encode`, which writes them), one thread: one row per call,
then batches of 1 000. Prints both, nanoseconds per row, or `n/a n/a` for a
model that is not one tree ensemble. Used by bench/inference.sh.

Usage: tl2cgen_speed.py MODEL.json ENCODED.csv REPEATS WORKDIR
"""

import json
import os
import sys
import time

import numpy as np
import tl2cgen
import treelite.model_builder as mb

BATCH = 1000


def build(model, d):
    """The model's trees over `d` encoded features as a Treelite model."""
    est = model["estimator"]
    raw = len(est["base"])
    builder = mb.ModelBuilder(
        threshold_type="float64",
        leaf_output_type="float64",
        metadata=mb.Metadata(
            num_feature=d,
            task_type="kRegressor" if raw == 1 else "kMultiClf",
            average_tree_output=est["combine"] == "mean",
            num_target=1,
            num_class=[raw],
            leaf_vector_shape=(1, raw) if est["trees"][0]["width"] > 1 else (1, 1),
        ),
        tree_annotation=mb.TreeAnnotation(
            num_tree=len(est["trees"]),
            target_id=[0] * len(est["trees"]),
            class_id=[t["output"] if t["width"] == 1 else -1 for t in est["trees"]],
        ),
        postprocessor=mb.PostProcessorFunc(name="identity"),
        base_scores=est["base"],
    )
    for tree in est["trees"]:
        builder.start_tree()
        op = "<" if tree["rule"] == "less" else "<="
        w = tree["width"]
        for node, feature in enumerate(tree["feature"]):
            builder.start_node(node)
            if feature < 0:
                values = tree["values"][node * w:(node + 1) * w]
                builder.leaf(values[0] if w == 1 else values)
            else:
                builder.numerical_test(feature, tree["threshold"][node], default_left=True,
                                       opname=op, left_child_key=tree["left"][node],
                                       right_child_key=tree["right"][node])
            builder.end_node()
        builder.end_tree()
    return builder.commit()


def main():
    path, data, repeats, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    model = json.load(open(path))
    if model["estimator"]["kind"] != "trees":
        print("n/a n/a")
        return
    x = np.loadtxt(data, delimiter=",", ndmin=2)
    lib = f"{work}/tl2cgen.so"
    # Built once; bench/inference.sh times every round with the same library.
    if not os.path.exists(lib):
        tl2cgen.export_lib(build(model, x.shape[1]), toolchain="gcc", libpath=lib,
                           params={"parallel_comp": 8}, nthread=1)
    predictor = tl2cgen.Predictor(lib, nthread=1)
    n = len(x)
    rows = [tl2cgen.DMatrix(x[r:r + 1]) for r in range(n)]
    started = time.perf_counter_ns()
    for _ in range(repeats):
        for row in rows:
            predictor.predict(row)
    single = (time.perf_counter_ns() - started) / (repeats * n)
    batches = [tl2cgen.DMatrix(x[b:b + BATCH]) for b in range(0, n, BATCH)]
    started = time.perf_counter_ns()
    for _ in range(repeats):
        for batch in batches:
            predictor.predict(batch)
    batch = (time.perf_counter_ns() - started) / (repeats * n)
    print(f"{single:.1f} {batch:.1f}")


if __name__ == "__main__":
    main()
