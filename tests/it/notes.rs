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

#[test]
fn a_numeric_column_with_a_stray_word_is_named() {
    let csv: String = std::iter::once("x,y\n".to_string())
        .chain((0..40).map(|i| {
            let x = if i == 7 {
                "abc".to_string()
            } else {
                i.to_string()
            };
            format!("{x},{}\n", i % 2)
        }))
        .collect();
    train_csv(&csv, "y").stderr(predicate::str::contains(
        "note: column 'x' is read as categorical: 1 of 40 cells are not numbers (such as 'abc')",
    ));
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
