//! The bad-input corpus: hostile files, flags, models and output places, one
//! row each. Every case runs the real binary and checks the documented exit
//! code, that the first line of stderr is an `error:` naming the file,
//! column or value at fault, that nothing panicked, and what is left on
//! disk: no output of a failed command, an existing run folder unchanged.
//! `cargo test --test it corpus -- --nocapture` prints the table.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::support::{automl, dataset};

const USAGE: i32 = 2;
const DATA: i32 = 3;
const MODEL: i32 = 4;
const OUTPUT: i32 = 5;

/// What a failed command must leave on disk.
#[derive(Clone, Copy)]
enum Left {
    /// The command's output path (`{d}/out`) does not exist.
    Nothing,
    /// `{d}/out` was an earlier run's folder and is byte for byte as it was.
    Unchanged,
}

struct Case {
    name: &'static str,
    /// Writes the case's files into its folder.
    setup: fn(&Path),
    /// Arguments; `{d}` is the case's folder.
    args: &'static [&'static str],
    code: i32,
    /// Texts the error message (from its `error:` line on) must hold.
    says: &'static [&'static str],
    left: Left,
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn nothing(_: &Path) {}

fn rows(n: usize, row: impl Fn(usize) -> String) -> String {
    (0..n).map(|i| row(i) + "\n").collect()
}

/// 40 rows of a numeric `x`, a text `c` and a binary `y`.
fn good(dir: &Path) {
    let body = rows(40, |i| format!("{i},{},{}", ["a", "b"][i % 3 % 2], i % 2));
    write(dir, "d.csv", format!("x,c,y\n{body}"));
}

/// `good` plus an earlier run in `{d}/out` to be left alone.
fn good_with_old_run(dir: &Path) {
    good(dir);
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    write(&out, "model.json", "the old model");
    write(&out, "notes.txt", "mine");
}

/// A trained iris model, shared by the model cases.
fn iris_model() -> &'static str {
    static MODEL: OnceLock<String> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        automl()
            .args(["train", "--data"])
            .arg(dataset("iris.csv"))
            .args(["--target", "species", "--max-trials", "1", "--quiet"])
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        std::fs::read_to_string(out.join("model.json")).unwrap()
    })
}

/// Writes the iris model with `edit` applied as `m.json`, and iris as
/// `d.csv`.
fn edited_model(dir: &Path, edit: fn(&mut serde_json::Value)) {
    let mut model: serde_json::Value = serde_json::from_str(iris_model()).unwrap();
    edit(&mut model);
    write(dir, "m.json", model.to_string());
    std::fs::copy(dataset("iris.csv"), dir.join("d.csv")).unwrap();
}

fn iris_model_files(dir: &Path) {
    edited_model(dir, |_| {});
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    // ---- the data file ----
    Case { name: "data file missing", setup: nothing, args: &["train", "--data", "{d}/none.csv", "--target", "y"], code: DATA, says: &["none.csv"], left: Left::Nothing },
    Case { name: "data path is a folder", setup: |d| std::fs::create_dir(d.join("f.csv")).unwrap(), args: &["train", "--data", "{d}/f.csv", "--target", "y"], code: DATA, says: &["f.csv", "folder"], left: Left::Nothing },
    Case { name: "empty file", setup: |d| write(d, "d.csv", ""), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["d.csv", "empty"], left: Left::Nothing },
    Case { name: "header only", setup: |d| write(d, "d.csv", "x,y\n"), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["d.csv", "no data rows"], left: Left::Nothing },
    Case { name: "ragged row", setup: |d| write(d, "d.csv", "x,y\n1,0\n2,1,9\n3,0\n"), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["d.csv", "line 3"], left: Left::Nothing },
    Case { name: "binary garbage", setup: |d| write(d, "d.csv", [0u8, 159, 146, 150, 0, 255, 10, 1, 2, 3]), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["'y'", "not in the data"], left: Left::Nothing },
    Case { name: "not UTF-8 text", setup: |d| write(d, "d.csv", b"x,y\n\xff\xfe,1\n2,0\n"), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["d.csv"], left: Left::Nothing },
    Case { name: "column without a name", setup: |d| write(d, "d.csv", format!("x,,y\n{}", rows(20, |i| format!("{i},{i},{}", i % 2)))), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["d.csv", "column 2 has no name"], left: Left::Nothing },
    Case { name: "column name used twice", setup: |d| write(d, "d.csv", format!("x,x,y\n{}", rows(20, |i| format!("{i},{i},{}", i % 2)))), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["d.csv", "'x'"], left: Left::Nothing },
    Case { name: "corrupt parquet", setup: |d| write(d, "d.parquet", "PAR1 this is not parquet"), args: &["train", "--data", "{d}/d.parquet", "--target", "y"], code: DATA, says: &["d.parquet"], left: Left::Nothing },
    Case { name: "only the target column", setup: |d| write(d, "d.csv", format!("y\n{}", rows(20, |i| (i % 2).to_string()))), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["no input columns"], left: Left::Nothing },
    // ---- the target ----
    Case { name: "unknown target", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "nope"], code: DATA, says: &["'nope'"], left: Left::Nothing },
    Case { name: "one-class target", setup: |d| write(d, "d.csv", format!("x,y\n{}", rows(20, |i| format!("{i},a")))), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["'y'", "one"], left: Left::Nothing },
    Case { name: "target always missing", setup: |d| write(d, "d.csv", format!("x,y\n{}", rows(20, |i| format!("{i},")))), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["'y'"], left: Left::Nothing },
    Case { name: "class of one row", setup: |d| write(d, "d.csv", format!("x,y\n{}", rows(30, |i| format!("{i},{}", if i == 0 { "rare" } else { ["a", "b"][i % 2] })))), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["'rare'"], left: Left::Nothing },
    Case { name: "text target forced to regression", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "c", "--task", "regression"], code: DATA, says: &["'c'"], left: Left::Nothing },
    Case { name: "target given for clustering", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--task", "cluster"], code: USAGE, says: &["--target"], left: Left::Nothing },
    Case { name: "no target for a supervised task", setup: good, args: &["train", "--data", "{d}/d.csv"], code: USAGE, says: &["--target"], left: Left::Nothing },
    // ---- columns ----
    Case { name: "a column with no values", setup: |d| write(d, "d.csv", format!("x,e,y\n{}", rows(20, |i| format!("{i},,{}", i % 2)))), args: &["train", "--data", "{d}/d.csv", "--target", "y"], code: DATA, says: &["'e'", "--ignore"], left: Left::Nothing },
    Case { name: "unknown --ignore column", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--ignore", "zz"], code: DATA, says: &["'zz'"], left: Left::Nothing },
    Case { name: "every input ignored", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--ignore", "x", "--ignore", "c"], code: DATA, says: &["no input columns"], left: Left::Nothing },
    Case { name: "unknown --label column", setup: good, args: &["train", "--data", "{d}/d.csv", "--task", "anomaly", "--label", "zz"], code: DATA, says: &["'zz'"], left: Left::Nothing },
    // ---- flags ----
    Case { name: "time budget zero", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--time-budget", "0"], code: USAGE, says: &["--time-budget", "0"], left: Left::Nothing },
    Case { name: "time budget negative", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--time-budget", "-5"], code: USAGE, says: &["--time-budget", "-5"], left: Left::Nothing },
    Case { name: "time budget NaN", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--time-budget", "NaN"], code: USAGE, says: &["--time-budget", "NaN"], left: Left::Nothing },
    Case { name: "time budget 1e19", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--time-budget", "1e19"], code: USAGE, says: &["--time-budget"], left: Left::Nothing },
    Case { name: "time budget not a number", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--time-budget", "soon"], code: USAGE, says: &["soon"], left: Left::Nothing },
    Case { name: "one fold", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--folds", "1"], code: USAGE, says: &["--folds", "1"], left: Left::Nothing },
    Case { name: "a thousand folds", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--folds", "1000"], code: USAGE, says: &["--folds", "1000"], left: Left::Nothing },
    Case { name: "folds beyond usize", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--folds", "99999999999999999999999"], code: USAGE, says: &["99999999999999999999999"], left: Left::Nothing },
    Case { name: "max trials negative", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--max-trials", "-1"], code: USAGE, says: &["-1"], left: Left::Nothing },
    Case { name: "unknown family", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--include", "xgboost"], code: USAGE, says: &["xgboost"], left: Left::Nothing },
    Case { name: "families that do not fit the task", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--include", "kmeans"], code: USAGE, says: &["binary"], left: Left::Nothing },
    Case { name: "metric of another task", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--metric", "rmse"], code: USAGE, says: &["rmse"], left: Left::Nothing },
    Case { name: "unknown metric", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--metric", "vibes"], code: USAGE, says: &["vibes"], left: Left::Nothing },
    Case { name: "unknown task", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--task", "ranking"], code: USAGE, says: &["ranking"], left: Left::Nothing },
    Case { name: "contamination without anomaly", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--contamination", "0.1"], code: USAGE, says: &["--contamination"], left: Left::Nothing },
    Case { name: "contamination out of range", setup: good, args: &["train", "--data", "{d}/d.csv", "--task", "anomaly", "--contamination", "0.7"], code: USAGE, says: &["--contamination", "0.7"], left: Left::Nothing },
    Case { name: "label on a supervised task", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--label", "c"], code: USAGE, says: &["--label"], left: Left::Nothing },
    Case { name: "seed not a number", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--seed", "lucky"], code: USAGE, says: &["lucky"], left: Left::Nothing },
    Case { name: "unknown flag", setup: good, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--turbo"], code: USAGE, says: &["--turbo"], left: Left::Nothing },
    // ---- where outputs go ----
    Case { name: "--out under a file", setup: |d| { good(d); write(d, "file", "x"); }, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--out", "{d}/file/run"], code: OUTPUT, says: &["file"], left: Left::Nothing },
    Case { name: "--out is a file", setup: |d| { good(d); write(d, "out", "x"); }, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--out", "{d}/out"], code: OUTPUT, says: &["out", "not a folder"], left: Left::Unchanged },
    Case { name: "bad data into an earlier run's folder", setup: |d| { good_with_old_run(d); write(d, "bad.csv", "x,y\n"); }, args: &["train", "--data", "{d}/bad.csv", "--target", "y", "--out", "{d}/out"], code: DATA, says: &["bad.csv"], left: Left::Unchanged },
    Case { name: "bad flag into an earlier run's folder", setup: good_with_old_run, args: &["train", "--data", "{d}/d.csv", "--target", "y", "--folds", "1", "--out", "{d}/out"], code: USAGE, says: &["--folds"], left: Left::Unchanged },
    Case { name: "unknown target into an earlier run's folder", setup: good_with_old_run, args: &["train", "--data", "{d}/d.csv", "--target", "nope", "--out", "{d}/out"], code: DATA, says: &["'nope'"], left: Left::Unchanged },
    // ---- model files ----
    Case { name: "model file missing", setup: good, args: &["predict", "--model", "{d}/none.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: MODEL, says: &["none.json"], left: Left::Nothing },
    Case { name: "model file empty", setup: |d| { good(d); write(d, "m.json", ""); }, args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: MODEL, says: &["m.json"], left: Left::Nothing },
    Case { name: "model file not JSON", setup: |d| { good(d); write(d, "m.json", "model, please"); }, args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: MODEL, says: &["m.json"], left: Left::Nothing },
    Case { name: "model of another format version", setup: |d| edited_model(d, |m| m["format_version"] = 99.into()), args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: MODEL, says: &["m.json", "99"], left: Left::Nothing },
    Case { name: "model with a link that does not fit its task", setup: |d| edited_model(d, |m| m["task"] = "regression".into()), args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: MODEL, says: &["m.json"], left: Left::Nothing },
    Case { name: "model with a feature width that does not fit", setup: |d| edited_model(d, |m| { m["prep"]["columns"].as_array_mut().unwrap().pop(); }), args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: MODEL, says: &["m.json"], left: Left::Nothing },
    Case { name: "model whose encoding does not fit its kind", setup: |d| edited_model(d, |m| m["prep"]["columns"][0]["kind"] = "categorical".into()), args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: MODEL, says: &["m.json"], left: Left::Nothing },
    Case { name: "model with a non-finite number", setup: |d| edited_model(d, |m| m["prep"]["columns"][0]["encoding"]["fill"] = serde_json::Value::Null), args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: MODEL, says: &["m.json"], left: Left::Nothing },
    Case { name: "model without classes", setup: |d| edited_model(d, |m| m["classes"] = serde_json::json!([])), args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: MODEL, says: &["m.json"], left: Left::Nothing },
    Case { name: "inspect a damaged model", setup: |d| edited_model(d, |m| m["estimator"] = serde_json::json!({"kind": "trees"})), args: &["inspect", "{d}/m.json"], code: MODEL, says: &["m.json"], left: Left::Nothing },
    Case { name: "export a damaged model", setup: |d| edited_model(d, |m| m["estimator"] = serde_json::json!({"kind": "linear"})), args: &["export", "--rust", "--model", "{d}/m.json", "--out", "{d}/out"], code: MODEL, says: &["m.json"], left: Left::Nothing },
    Case { name: "export a consumer of a damaged model", setup: |d| edited_model(d, |m| m["format_version"] = serde_json::json!("one")), args: &["export", "--kafka-consumer", "--model", "{d}/m.json", "--out", "{d}/out"], code: MODEL, says: &["m.json"], left: Left::Nothing },
    // ---- scoring data ----
    Case { name: "predict data lacking a column", setup: |d| { iris_model_files(d); write(d, "d.csv", "sepal_length_cm,petal_length_cm\n1,2\n"); }, args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: DATA, says: &["'sepal_width_cm'"], left: Left::Nothing },
    Case { name: "predict data with text in a numeric column", setup: |d| { iris_model_files(d); let csv = std::fs::read_to_string(d.join("d.csv")).unwrap(); write(d, "d.csv", csv.replacen("5.1", "five", 1)); }, args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: DATA, says: &["'sepal_length_cm'", "'five'", "row 1"], left: Left::Nothing },
    Case { name: "predict data file missing", setup: iris_model_files, args: &["predict", "--model", "{d}/m.json", "--data", "{d}/none.csv", "--out", "{d}/out"], code: DATA, says: &["none.csv"], left: Left::Nothing },
    Case { name: "predict data empty", setup: |d| { iris_model_files(d); write(d, "d.csv", ""); }, args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/out"], code: DATA, says: &["d.csv", "empty"], left: Left::Nothing },
    Case { name: "predict --out under a file", setup: |d| { iris_model_files(d); write(d, "file", "x"); }, args: &["predict", "--model", "{d}/m.json", "--data", "{d}/d.csv", "--out", "{d}/file/p.csv"], code: OUTPUT, says: &["file"], left: Left::Nothing },
    Case { name: "export --out under a file", setup: |d| { iris_model_files(d); write(d, "file", "x"); }, args: &["export", "--rust", "--model", "{d}/m.json", "--out", "{d}/file/model.rs"], code: OUTPUT, says: &["file"], left: Left::Nothing },
    Case { name: "consumer into an existing folder", setup: |d| { iris_model_files(d); std::fs::create_dir(d.join("out")).unwrap(); write(&d.join("out"), "model.json", "the old model"); write(&d.join("out"), "notes.txt", "mine"); }, args: &["export", "--kafka-consumer", "--model", "{d}/m.json", "--out", "{d}/out"], code: OUTPUT, says: &["out"], left: Left::Unchanged },
    // ---- leaderboards ----
    Case { name: "leaderboard of a missing run", setup: nothing, args: &["leaderboard", "{d}/none"], code: DATA, says: &["none"], left: Left::Nothing },
    Case { name: "leaderboard file corrupt", setup: |d| write(d, "leaderboard.json", "{\"rows\": 7}"), args: &["leaderboard", "{d}/leaderboard.json"], code: DATA, says: &["leaderboard.json"], left: Left::Nothing },
];

fn expand(arg: &str, dir: &Path) -> String {
    arg.replace("{d}", &dir.display().to_string())
}

/// Every file at or under `dir` with its bytes, sorted.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    if dir.is_file() {
        return vec![(dir.to_path_buf(), std::fs::read(dir).unwrap())];
    }
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(snapshot(&path));
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Runs one case; returns its exit code and first line of stderr, or why it
/// does not behave as the corpus says.
fn run(case: &Case) -> Result<(i32, String), String> {
    let dir = tempfile::tempdir().unwrap();
    (case.setup)(dir.path());
    let out = dir.path().join("out");
    let before = snapshot(&out);
    let mut args: Vec<String> = case.args.iter().map(|a| expand(a, dir.path())).collect();
    if args[0] == "train" {
        if !case.args.contains(&"--out") {
            args.extend(["--out".into(), out.display().to_string()]);
        }
        if !case.args.contains(&"--max-trials") {
            args.extend(["--max-trials".into(), "2".into()]);
        }
    }
    let output = automl().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let message = stderr.find("error:").map_or("", |at| &stderr[at..]);
    let first = message.lines().next().unwrap_or("").to_string();
    let code = output.status.code().unwrap_or(-1);
    let mut wrong = Vec::new();
    if code != case.code {
        wrong.push(format!("exit {code}, not {}", case.code));
    }
    if stderr.contains("panicked") || first.is_empty() {
        wrong.push("no error: line, or a panic".into());
    }
    for s in case.says {
        if !message.contains(s) {
            wrong.push(format!("the message does not say {s:?}"));
        }
    }
    let left_ok = match case.left {
        Left::Nothing => !out.exists(),
        Left::Unchanged => snapshot(&out) == before,
    };
    if !left_ok {
        wrong.push("it left or changed files in out".into());
    }
    if wrong.is_empty() {
        Ok((code, first))
    } else {
        Err(format!(
            "{}: {} (stderr: {stderr})",
            case.name,
            wrong.join("; ")
        ))
    }
}

#[test]
fn every_bad_input_gets_its_exit_code_a_named_message_and_leaves_nothing() {
    assert!(CASES.len() >= 60, "the corpus has {} cases", CASES.len());
    let mut failures = Vec::new();
    eprintln!("| case | exit | first line of stderr |\n|---|---:|---|");
    for case in CASES {
        match run(case) {
            Ok((code, first)) => {
                let shown = first.replace(std::env::temp_dir().to_str().unwrap(), "$TMP");
                eprintln!(
                    "| {} | {code} | `{}` |",
                    case.name,
                    shown.replace('|', "\\|")
                );
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
