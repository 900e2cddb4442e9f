//! Bad input: a message naming the file, column or value, the documented
//! exit code, never a panic, and no output files left behind.

use std::path::Path;

use predicates::prelude::*;

use crate::support::{automl, dataset, train};

const DATA: i32 = 3;
const MODEL: i32 = 4;
const OUTPUT: i32 = 5;
const USAGE: i32 = 2;

/// Runs `train` on `csv` (written to a temp file) and checks the failure.
fn train_fails(csv: &str, target: &str, extra: &[&str], code: i32, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    std::fs::write(&data, csv).unwrap();
    let mut args = vec!["--target", target];
    args.extend_from_slice(extra);
    train_on_fails(&data, &args, code, message);
}

/// Runs `train` on `data` with `args`; checks the exit code, the message,
/// that nothing panicked and that no output was written.
fn train_on_fails(data: &Path, args: &[&str], code: i32, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    automl()
        .args(["train", "--data"])
        .arg(data)
        .args(["--max-trials", "2", "--quiet", "--out"])
        .arg(&out)
        .args(args)
        .assert()
        .code(code)
        .stderr(predicate::str::contains(message))
        .stderr(predicate::str::contains("panicked").not());
    assert_no_outputs(&out);
}

fn assert_no_outputs(out: &Path) {
    assert!(!out.exists(), "a failed run created {}", out.display());
    for f in [
        "model.json",
        "leaderboard.csv",
        "leaderboard.json",
        "run.json",
    ] {
        assert!(!out.join(f).exists(), "{f} was written");
    }
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    automl()
        .args([
            "train",
            "--data",
            "no/such/file.csv",
            "--target",
            "y",
            "--out",
        ])
        .arg(dir.path().join("run"))
        .assert()
        .code(DATA)
        .stderr(predicate::str::contains("no/such/file.csv"));
}

#[test]
fn empty_file() {
    train_fails("", "y", &[], DATA, "empty");
}

#[test]
fn header_only() {
    train_fails("a,b,y\n", "y", &[], DATA, "no data rows");
}

#[test]
fn ragged_rows() {
    train_fails(
        "a,b,y\n1,2,0\n3,4\n5,6,1\n",
        "y",
        &[],
        DATA,
        "line 3 has 2 fields",
    );
}

#[test]
fn unknown_target() {
    train_fails(
        "a,b,y\n1,2,0\n3,4,1\n",
        "nope",
        &[],
        DATA,
        "target column 'nope'",
    );
}

#[test]
fn single_class_target() {
    train_fails(
        "a,y\n1,x\n2,x\n3,x\n",
        "y",
        &["--task", "binary"],
        DATA,
        "only one class ('x')",
    );
}

#[test]
fn all_missing_column() {
    train_fails(
        "a,b,y\n1,,0\n2,NA,1\n3,,0\n4,,1\n",
        "y",
        &[],
        DATA,
        "column 'b' has no values",
    );
}

#[test]
fn non_numeric_regression_target() {
    train_fails(
        "a,y\n1,2.5\n2,abc\n3,4\n",
        "y",
        &["--task", "regression"],
        DATA,
        "value 'abc'",
    );
}

#[test]
fn unknown_ignore_column() {
    train_fails(
        "a,b,y\n1,2,0\n3,4,1\n",
        "y",
        &["--ignore", "zzz"],
        DATA,
        "--ignore column 'zzz'",
    );
}

#[test]
fn non_positive_budget() {
    train_fails(
        "a,y\n1,0\n2,1\n",
        "y",
        &["--time-budget", "0"],
        USAGE,
        "--time-budget",
    );
    train_fails(
        "a,y\n1,0\n2,1\n",
        "y",
        &["--time-budget", "-5"],
        USAGE,
        "--time-budget",
    );
}

#[test]
fn out_of_range_numbers_are_usage_errors_not_panics() {
    let csv = "a,y\n1,0\n2,1\n3,0\n4,1\n";
    for (flag, value, message) in [
        ("--time-budget", "1e19", "at most 31536000 seconds"),
        ("--time-budget", "inf", "positive number of seconds"),
        ("--folds", "1000000000", "--folds must be between 2 and 100"),
        ("--folds", "1", "--folds must be between 2 and 100"),
    ] {
        train_fails(csv, "y", &[flag, value], USAGE, message);
    }
}

#[test]
fn a_class_too_small_to_cross_validate_is_named() {
    train_fails(
        "x,y\n1,a\n2,a\n3,b\n",
        "y",
        &[],
        DATA,
        "too few rows to cross-validate: class 'b' of 'y' has 1 row",
    );
}

#[test]
fn too_many_folds_are_lowered_with_a_note_in_stderr_and_run_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    automl()
        .args(["train", "--data"])
        .arg(dataset("iris.csv"))
        .args(["--target", "species", "--folds", "80", "--max-trials", "1"])
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "note: --folds 80 lowered to 50: class 'setosa' of 'species' has 50 rows",
        ));
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["validation"], "3×50-fold", "iris is cut three times");
    let notes = record["notes"].as_array().unwrap();
    assert!(notes
        .iter()
        .any(|n| n.as_str().unwrap().contains("lowered to 50")));
}

#[test]
fn nameless_or_repeated_column_names() {
    train_fails(
        "x,x,y\n1,2,0\n3,4,1\n",
        "y",
        &[],
        DATA,
        "column name 'x' appears twice (columns 1 and 2)",
    );
    train_fails(
        "x,,y\n1,2,0\n3,4,1\n",
        "y",
        &[],
        DATA,
        "column 2 has no name",
    );
}

/// The files of a folder, by name, with their bytes.
fn contents(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_failed_run_leaves_an_existing_run_folder_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&dataset("iris.csv"), "species", &out, 2, &[]);
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let before = contents(&out);
    // A budget spent before the first trial could start: exit 6, after
    // the data was read and the search ran.
    automl()
        .args(["train", "--data"])
        .arg(dataset("wine.csv"))
        .args(["--target", "cultivar", "--time-budget", "0.000001", "--out"])
        .arg(&out)
        .assert()
        .code(6)
        .stderr(predicate::str::contains("no trial could finish"));
    assert_eq!(contents(&out), before, "the old run's files changed");
    // A successful run replaces the outputs and keeps the user's file.
    train(&dataset("wine.csv"), "cultivar", &out, 2, &[]);
    let after = std::fs::read_to_string(out.join("model.json")).unwrap();
    assert!(after.contains("cultivar"));
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    let strays = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(strays, 1, "staging folders were left beside the run");
}

#[test]
fn unwritable_output_dir() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    automl()
        .args(["train", "--data"])
        .arg(dataset("iris.csv"))
        .args(["--target", "species", "--max-trials", "1", "--out"])
        .arg(blocker.join("run"))
        .assert()
        .code(OUTPUT)
        .stderr(predicate::str::contains("cannot write"));
}

fn trained_iris(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("run");
    train(
        &dataset("iris.csv"),
        "species",
        &out,
        2,
        &["--include", "linear"],
    );
    out.join("model.json")
}

#[test]
fn corrupt_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained_iris(dir.path());
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, &text[..text.len() / 2]).unwrap();
    let out = dir.path().join("pred.csv");
    automl()
        .args(["predict", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(dataset("iris.csv"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(MODEL)
        .stderr(predicate::str::contains("model.json"));
    assert!(!out.exists());
}

/// A trained model edited by `edit`; every command that loads it must exit 4
/// naming `reason`, and write nothing.
fn edited_model_is_refused(family: &str, edit: fn(&mut serde_json::Value), reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(
        &dataset("iris.csv"),
        "species",
        &run,
        2,
        &["--include", family],
    );
    let path = run.join("model.json");
    let mut model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut model);
    std::fs::write(&path, model.to_string()).unwrap();
    let out = dir.path().join("out.rs");
    for args in [
        vec!["inspect"],
        vec!["export", "--rust", "--out", out.to_str().unwrap()],
        vec!["predict", "--data", dataset("iris.csv").to_str().unwrap()],
    ] {
        let mut cmd = automl();
        cmd.arg(args[0]);
        if args[0] == "inspect" {
            cmd.arg(&path);
        } else {
            cmd.arg("--model").arg(&path);
        }
        cmd.args(&args[1..])
            .assert()
            .code(MODEL)
            .stderr(predicate::str::contains(reason))
            .stderr(predicate::str::contains("panicked").not());
    }
    assert!(!out.exists());
}

#[test]
fn hand_edited_models_that_would_score_wrongly_are_refused() {
    edited_model_is_refused(
        "naive_bayes",
        |m| m["estimator"]["variance"][0] = serde_json::json!(-1.0),
        "a variance is not positive",
    );
    edited_model_is_refused(
        "linear",
        |m| m["estimator"]["intercept"] = serde_json::json!([]),
        "12 weights for 0 outputs of 4 features",
    );
    edited_model_is_refused(
        "decision_tree",
        |m| m["task"] = serde_json::json!("regression"),
        "a regression model has no classes, but this one lists 3",
    );
    edited_model_is_refused(
        "knn",
        |m| m["prep"]["columns"][0]["kind"] = serde_json::json!("categorical"),
        "its encoding does not fit a Categorical column",
    );
}

#[test]
fn huge_values_still_give_a_model_that_loads_and_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("huge.csv");
    let mut csv = String::from("x,y\n");
    for (i, v) in [
        "1e300", "-1e300", "2e300", "5", "7", "1e299", "-3e300", "4", "8", "9", "1e308", "-1e308",
    ]
    .iter()
    .enumerate()
    {
        csv.push_str(&format!("{v},{}\n", i % 2));
    }
    std::fs::write(&data, csv).unwrap();
    for family in ["linear", "knn", "naive_bayes", "gbdt"] {
        let run = dir.path().join(family);
        train(&data, "y", &run, 3, &["--include", family]);
        automl()
            .args(["predict", "--model"])
            .arg(run.join("model.json"))
            .arg("--data")
            .arg(&data)
            .assert()
            .success();
    }
}

#[test]
fn model_of_another_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained_iris(dir.path());
    let text = std::fs::read_to_string(&model)
        .unwrap()
        .replace("\"format_version\":1", "\"format_version\":99");
    std::fs::write(&model, text).unwrap();
    automl()
        .args(["inspect"])
        .arg(&model)
        .assert()
        .code(MODEL)
        .stderr(predicate::str::contains("format version 99"));
}

#[test]
fn predict_data_lacking_a_column() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained_iris(dir.path());
    let data = dir.path().join("new.csv");
    std::fs::write(
        &data,
        "sepal_length_cm,sepal_width_cm,petal_length_cm\n5.1,3.5,1.4\n",
    )
    .unwrap();
    let out = dir.path().join("pred.csv");
    automl()
        .args(["predict", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(DATA)
        .stderr(predicate::str::contains("petal_width_cm"));
    assert!(!out.exists());
}

#[test]
fn predict_data_with_text_in_a_numeric_column() {
    let dir = tempfile::tempdir().unwrap();
    let model = trained_iris(dir.path());
    let data = dir.path().join("new.csv");
    std::fs::write(
        &data,
        "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n5.1,3.5,1.4,0.2\n5.0,wide,1.3,0.2\n",
    )
    .unwrap();
    automl()
        .args(["predict", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .assert()
        .code(DATA)
        .stderr(
            predicate::str::contains("'sepal_width_cm'").and(predicate::str::contains("'wide'")),
        );
}

/// Runs `train` with `args` on the bundled iris data and checks the failure.
fn unsupervised_fails(args: &[&str], code: i32, message: &str) {
    train_on_fails(&dataset("iris.csv"), args, code, message);
}

#[test]
fn unsupervised_settings_that_do_not_fit_together() {
    unsupervised_fails(
        &["--task", "cluster", "--target", "species"],
        USAGE,
        "take no --target",
    );
    unsupervised_fails(
        &["--target", "species", "--label", "species"],
        USAGE,
        "--label is for",
    );
    unsupervised_fails(
        &["--task", "anomaly", "--contamination", "0.7"],
        USAGE,
        "between 0 and 0.5",
    );
    unsupervised_fails(
        &["--task", "cluster", "--contamination", "0.1"],
        USAGE,
        "--contamination is for --task anomaly",
    );
    unsupervised_fails(
        &["--task", "anomaly", "--metric", "silhouette"],
        USAGE,
        "does not apply",
    );
    unsupervised_fails(&["--task", "cluster", "--label", "nope"], DATA, "'nope'");
    // Anomaly labels must say normal or anomalous: two values.
    unsupervised_fails(
        &["--task", "anomaly", "--label", "species"],
        DATA,
        "'species'",
    );
}
