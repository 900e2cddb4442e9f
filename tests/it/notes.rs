//! Notes instead of silence: what the tool decided about the data is said
//! on stderr, and cells that only look broken are read as a user means them.

use predicates::prelude::*;

use crate::support::{automl, dataset};

/// Trains on `csv` (written to a temp file) for one trial; returns the
/// command's assertion for its stderr to be checked.
fn train_csv(csv: &str, target: &str) -> assert_cmd::assert::Assert {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    std::fs::write(&data, csv).unwrap();
    automl()
        .args(["train", "--data"])
        .arg(&data)
        .args(["--target", target, "--max-trials", "1", "--out"])
        .arg(dir.path().join("run"))
        .assert()
        .success()
}

#[test]
fn the_inferred_task_is_said_with_its_reason() {
    automl()
        .args(["train", "--data"])
        .arg(dataset("wine_quality.csv"))
        .args(["--target", "quality", "--max-trials", "1", "--out"])
        .arg(tempfile::tempdir().unwrap().path().join("run"))
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "note: task regression: target 'quality' is numeric with 7 distinct values; \
             they are whole numbers, so if they are classes use --task multiclass",
        ));
    let csv: String = std::iter::once("x,y\n".to_string())
        .chain((0..40).map(|i| format!("{i},{}\n", ["no", "yes"][i % 2])))
        .collect();
    train_csv(&csv, "y").stderr(predicate::str::contains(
        "note: task binary: target 'y' has two values ('no', 'yes')",
    ));
}

/// `automl predict` of the model in `run` on `csv`: its output lines.
fn predict_csv(run: &std::path::Path, csv: &str) -> Vec<String> {
    let data = run.with_file_name("new.csv");
    std::fs::write(&data, csv).unwrap();
    let out = automl()
        .args(["predict", "--model"])
        .arg(run.join("model.json"))
        .arg("--data")
        .arg(&data)
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    text.lines().map(str::to_string).collect()
}

fn model_json(run: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("model.json")).unwrap()).unwrap()
}

/// 40 rows: `x` counts up, but for `bad` at row 7 and `marker` at row 9.
fn stray_cells(bad: &str, marker: &str) -> String {
    std::iter::once("x,y\n".to_string())
        .chain((0..40).map(|i| {
            let x = match i {
                7 => bad.to_string(),
                9 => marker.to_string(),
                _ => i.to_string(),
            };
            format!("{x},{}\n", i % 2)
        }))
        .collect()
}

#[test]
fn a_numeric_column_with_a_stray_word_stays_numeric_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    std::fs::write(&data, stray_cells("abc", "inf")).unwrap();
    let run = dir.path().join("run");
    automl()
        .args(["train", "--data"])
        .arg(&data)
        .args(["--target", "y", "--max-trials", "1", "--out"])
        .arg(&run)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "note: column 'x' is read as numbers: 2 of 40 cells are not numbers (such as 'abc') \
             and count as missing, in training and when scoring",
        ));
    let model = model_json(&run);
    assert_eq!(model["prep"]["columns"][0]["kind"], "mostly_numeric");
    // Scoring reads what is not a number as missing too, not as an error.
    let lines = predict_csv(&run, "x\n3\noops\n\n");
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[2], lines[3], "'oops' scores as a missing cell");
}

#[test]
fn na_values_are_missing_in_training_and_in_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    std::fs::write(&data, stray_cells("-999", "n/a")).unwrap();
    let run = dir.path().join("run");
    automl()
        .args(["train", "--data"])
        .arg(&data)
        .args([
            "--target",
            "y",
            "--max-trials",
            "1",
            "--na-values",
            "-999, n/a",
        ])
        .arg("--out")
        .arg(&run)
        .assert()
        .success()
        .stderr(predicate::str::contains("read as numbers").not());
    let model = model_json(&run);
    assert_eq!(model["prep"]["columns"][0]["kind"], "numeric");
    assert_eq!(
        model["prep"]["missing_markers"],
        serde_json::json!(["-999", "n/a"])
    );
    let lines = predict_csv(&run, "x\n-999\nn/a\n\n");
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[1] == lines[3] && lines[2] == lines[3], "{lines:?}");
}

#[test]
fn a_question_mark_is_a_missing_value_as_in_uci_files() {
    let csv: String = std::iter::once("x,y\n".to_string())
        .chain((0..40).map(|i| {
            let x = if i % 9 == 0 {
                "?".to_string()
            } else {
                i.to_string()
            };
            format!("{x},{}\n", i % 2)
        }))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    std::fs::write(&data, csv).unwrap();
    let run = dir.path().join("run");
    automl()
        .args(["train", "--data"])
        .arg(&data)
        .args(["--target", "y", "--max-trials", "1", "--quiet", "--out"])
        .arg(&run)
        .assert()
        .success()
        .stderr(predicate::str::contains("categorical").not());
    automl()
        .arg("inspect")
        .arg(run.join("model.json"))
        .assert()
        .success()
        .stdout(
            predicate::str::contains("numeric").and(predicate::str::contains("missing indicator")),
        );
}

#[test]
fn a_value_only_one_fold_holds_is_an_unseen_level_not_a_failure() {
    // One `unknown` in a true/false column, one word in a column that is
    // otherwise empty: whichever fold holds it out, the run goes on.
    let csv: String = std::iter::once("flag,note,x,y\n".to_string())
        .chain((0..60).map(|i| {
            let flag = if i == 30 {
                "unknown"
            } else {
                ["false", "true"][i % 2]
            };
            let note = if i == 17 { "late" } else { "" };
            format!("{flag},{note},{i},{}\n", i % 2)
        }))
        .collect();
    train_csv(&csv, "y");
}
