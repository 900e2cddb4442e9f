//! Snapshots of CLI text that users and scripts read: help, inspect, the
//! leaderboard table. Times, versions and paths are redacted.

use crate::support::{automl, dataset, train};

#[test]
fn train_help() {
    let out = automl().args(["train", "--help"]).assert().success();
    insta::assert_snapshot!(String::from_utf8_lossy(&out.get_output().stdout));
}

#[test]
fn inspect_of_a_seeded_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(
        &dataset("penguins.csv"),
        "species",
        &out,
        3,
        &["--include", "linear"],
    );
    let text = automl()
        .arg("inspect")
        .arg(out.join("model.json"))
        .assert()
        .success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    insta::with_settings!({filters => vec![(r"automl \d+\.\d+\.\d+", "automl [VERSION]")]}, {
        insta::assert_snapshot!(text);
    });
}

#[test]
fn leaderboard_table_without_timing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(
        &dataset("iris.csv"),
        "species",
        &out,
        4,
        &["--include", "linear,naive_bayes"],
    );
    let text = automl().arg("leaderboard").arg(&out).assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    // fit_seconds and predict_us_per_row are the last two numeric columns
    // before status; blank them so the table is stable.
    insta::with_settings!({filters => vec![(r"┆ [0-9.e-]+ +┆ [0-9.e-]+ +┆ ok", "┆ [TIME] ┆ [TIME] ┆ ok")]}, {
        insta::assert_snapshot!(text);
    });
}

#[test]
fn train_ends_with_each_familys_best_then_the_top_five_in_100_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let run = automl()
        .args(["train", "--data"])
        .arg(dataset("iris.csv"))
        .args(["--target", "species", "--max-trials", "8", "--seed", "7"])
        .args(["--include", "linear,naive_bayes,decision_tree", "--out"])
        .arg(&out)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&run.get_output().stdout).to_string();
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    insta::with_settings!({filters => vec![
        (r"┆ [0-9]+\.[0-9]{2} +│", "┆ [TIME] │"),
        (r"trials in [0-9.]+ s; wrote .*", "trials in [TIME] s; wrote [OUT]"),
    ]}, {
        insta::assert_snapshot!(text);
    });
}
