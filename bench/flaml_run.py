#!/usr/bin/env python3
"""Trains FLAML on a benchmark split and writes its test predictions in the
format score.py reads (`prediction`, and `p_<class>` for classes), for
bench/compare.sh. FLAML comes from a virtual environment outside the repo.

    flaml_run.py --train T.csv --test S.csv --target COL --task TASK --budget S --seed N --pred OUT.csv
"""
import argparse

import pandas as pd
from flaml import AutoML


def read_csv(path):
    # The benchmark's one reading rule: only an empty field is missing.
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def main():
    a = argparse.ArgumentParser()
    for flag in ["--train", "--test", "--target", "--task", "--pred"]:
        a.add_argument(flag, required=True)
    a.add_argument("--budget", type=float, required=True)
    a.add_argument("--seed", type=int, required=True)
    args = a.parse_args()
    train, test = read_csv(args.train), read_csv(args.test)
    y = train.pop(args.target)
    test = test.drop(columns=[args.target])
    for frame in (train, test):
        for c in frame.columns:
            if frame[c].dtype == object:
                frame[c] = frame[c].astype("category")
    task = "regression" if args.task == "regression" else "classification"
    automl = AutoML()
    automl.fit(train, y, task=task, time_budget=args.budget, seed=args.seed, verbose=0)
    out = pd.DataFrame({"prediction": automl.predict(test)})
    if task == "classification":
        proba = automl.predict_proba(test)
        for i, c in enumerate(automl.classes_):
            out[f"p_{c}"] = proba[:, i]
    out.to_csv(args.pred, index=False)
    print(automl.best_estimator)


if __name__ == "__main__":
    main()
