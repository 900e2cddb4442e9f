"""LightGBM beside automl's booster on the same encoded rows and settings.

Reads DIR/train.csv and DIR/test.csv (encoded features, target last) and
DIR/automl.csv (automl's test predictions) written by the boosting_race
example, fits LightGBM with the same hyperparameters (median fit time of
REPEATS), scores both on the test rows and prints one JSON line.
Usage: python boosting.py DIR TASK name=value ...   (automl's names)
"""
import json
import os
import sys
import time

import lightgbm as lgb
import numpy as np
from sklearn.metrics import log_loss, r2_score, roc_auc_score


def settings(pairs, task, classes):
    p = dict(pair.split("=", 1) for pair in pairs)
    params = {
        "n_estimators": int(float(p.get("iterations", 100))),
        "learning_rate": float(p.get("learning_rate", 0.1)),
        "num_leaves": int(float(p.get("max_leaves", 31))),
        "min_child_samples": int(float(p.get("min_leaf_rows", 20))),
        "reg_lambda": float(p.get("l2", 1.0)),
        "min_child_weight": 1e-3,
        "colsample_bytree": float(p.get("colsample_bytree", 1.0)),
        "subsample": float(p.get("subsample", 1.0)),
        "subsample_freq": 1 if float(p.get("subsample", 1.0)) < 1 else 0,
        "max_bin": 255,
        "n_jobs": 2,
        "random_state": 1,
        "verbose": -1,
    }
    if task == "multiclass":
        params["objective"] = "multiclass"
        params["num_class"] = classes
    elif task == "binary":
        params["objective"] = "binary"
    else:
        params["objective"] = "regression"
    return params


def score(task, y, pred, classes):
    if task == "binary":
        return roc_auc_score(y, pred[:, 1])
    if task == "multiclass":
        return log_loss(y, pred, labels=list(range(classes)))
    return r2_score(y, pred[:, 0] if pred.ndim == 2 else pred)


def main():
    folder, task, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
    train = np.loadtxt(os.path.join(folder, "train.csv"), delimiter=",", ndmin=2)
    test = np.loadtxt(os.path.join(folder, "test.csv"), delimiter=",", ndmin=2)
    ours = np.loadtxt(os.path.join(folder, "automl.csv"), delimiter=",", ndmin=2)
    x, y = train[:, :-1], train[:, -1]
    tx, ty = test[:, :-1], test[:, -1]
    classes = int(y.max()) + 1 if task != "regression" else 1
    params = settings(pairs, task, classes)
    seconds = []
    for _ in range(int(os.environ.get("REPEATS", "3"))):
        model = lgb.LGBMClassifier(**params) if task != "regression" else lgb.LGBMRegressor(**params)
        started = time.perf_counter()
        model.fit(x, y.astype(int) if task != "regression" else y)
        seconds.append(time.perf_counter() - started)
    pred = model.predict_proba(tx) if task != "regression" else model.predict(tx)
    print(json.dumps({
        "lightgbm_seconds": sorted(seconds)[len(seconds) // 2],
        "lightgbm": score(task, ty.astype(int) if task != "regression" else ty, np.asarray(pred), classes),
        "automl": score(task, ty.astype(int) if task != "regression" else ty, ours, classes),
        "lightgbm_version": lgb.__version__,
    }))


if __name__ == "__main__":
    main()
