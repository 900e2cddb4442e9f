//! Shared helpers: a temporary folder, the binary, bundled data, splits.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The `automl` binary.
pub fn automl() -> Command {
    Command::cargo_bin("automl").expect("binary builds")
}

/// Path of a bundled data set.
pub fn dataset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets")
        .join(name)
}

/// Splits a bundled CSV into train and test files (rows 0, 4, 8, … to test)
/// inside `dir`; returns their paths. (Held-out R² on diabetes ranges
/// 0.39–0.56 over the four interleaved splits: 111 test rows are few.)
pub fn split(name: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(dataset(name)).expect("bundled data");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let (mut train, mut test) = (format!("{header}\n"), format!("{header}\n"));
    for (i, line) in lines.enumerate() {
        let dest = if i % 4 == 0 { &mut test } else { &mut train };
        dest.push_str(line);
        dest.push('\n');
    }
    let (a, b) = (dir.join("train.csv"), dir.join("test.csv"));
    std::fs::write(&a, train).expect("write train");
    std::fs::write(&b, test).expect("write test");
    (a, b)
}

/// Reads a CSV written by automl into a header and rows of cells.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).expect("csv exists");
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

/// Column `name` of a bundled-format CSV as text cells.
pub fn column(path: &Path, name: &str) -> Vec<String> {
    let (header, rows) = read_csv(path);
    let i = header
        .iter()
        .position(|h| h == name)
        .expect("column present");
    rows.into_iter().map(|r| r[i].clone()).collect()
}

/// Trains on `data` with a fixed seed and trial count into `out`.
pub fn train(data: &Path, target: &str, out: &Path, trials: usize, extra: &[&str]) {
    run_train(data, &["--target", target], out, trials, extra);
}

/// Trains a clustering or anomaly task (`task`) on `data`, scoring against
/// `label`, with a fixed seed and trial count into `out`.
pub fn train_unsupervised(
    data: &Path,
    task: &str,
    label: &str,
    out: &Path,
    trials: usize,
    extra: &[&str],
) {
    run_train(
        data,
        &["--task", task, "--label", label],
        out,
        trials,
        extra,
    );
}

fn run_train(data: &Path, what: &[&str], out: &Path, trials: usize, extra: &[&str]) {
    automl()
        .args(["train", "--data"])
        .arg(data)
        .args(what)
        .args([
            "--max-trials",
            &trials.to_string(),
            "--seed",
            "7",
            "--quiet",
            "--out",
        ])
        .arg(out)
        .args(extra)
        .assert()
        .success();
}

/// Scores `data` with `model` into `out`.
pub fn predict(model: &Path, data: &Path, out: &Path) {
    automl()
        .args(["predict", "--model"])
        .arg(model)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
}
