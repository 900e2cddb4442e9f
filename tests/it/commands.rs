//! predict, leaderboard, inspect and the library API on one trained model.

use automl::{Model, Value};

use crate::support::{automl, dataset, read_csv, train};

#[test]
fn predict_writes_classes_and_probabilities_and_ignores_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&dataset("titanic.csv"), "survived", &out, 6, &[]);
    let pred = dir.path().join("pred.csv");
    crate::support::predict(&out.join("model.json"), &dataset("titanic.csv"), &pred);
    let (header, rows) = read_csv(&pred);
    assert_eq!(header, ["prediction", "p_0", "p_1"]);
    assert_eq!(rows.len(), 891);
    for r in &rows {
        let (p0, p1): (f64, f64) = (r[1].parse().unwrap(), r[2].parse().unwrap());
        assert!((p0 + p1 - 1.0).abs() < 1e-9);
        assert_eq!(r[0], if p1 > p0 { "1" } else { "0" });
    }
    // The library API gives the same probabilities as `automl predict`.
    let model = Model::load(out.join("model.json")).unwrap();
    assert_eq!(
        model.input_columns(),
        [
            "pclass",
            "sex",
            "age",
            "sibsp",
            "parch",
            "fare",
            "embarked",
            "who",
            "adult_male",
            "deck",
            "alone"
        ]
    );
    let row = [
        Value::Number(3.0),
        Value::Text("male"),
        Value::Number(22.0),
        Value::Number(1.0),
        Value::Number(0.0),
        Value::Number(7.25),
        Value::Text("S"),
        Value::Text("man"),
        Value::Text("True"),
        Value::Missing,
        Value::Text("False"),
    ];
    let p = model.predict_row(&row).unwrap();
    assert_eq!(format!("{}", p[1]), rows[0][2]);
}

#[test]
fn leaderboard_inspect_and_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let assert = automl()
        .args(["train", "--data"])
        .arg(dataset("diabetes.csv"))
        .args([
            "--target",
            "progression",
            "--max-trials",
            "7",
            "--json",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(summary["task"], "regression");
    assert_eq!(summary["metric"], "rmse");
    assert_eq!(summary["trials"], 7);
    for f in [
        "leaderboard.csv",
        "leaderboard.json",
        "leaderboard.md",
        "model.json",
        "run.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let best = summary["best"].as_str().unwrap().to_string();
    let board = automl().arg("leaderboard").arg(&out).assert().success();
    let text = String::from_utf8_lossy(&board.get_output().stdout).to_string();
    assert!(text.contains(&best) && text.contains("rmse_mean"));
    let inspect = automl()
        .arg("inspect")
        .arg(out.join("model.json"))
        .assert()
        .success();
    let text = String::from_utf8_lossy(&inspect.get_output().stdout).to_string();
    assert!(text.contains(&best) && text.contains("regression on target 'progression'"));
    let (header, rows) = read_csv(&out.join("leaderboard.csv"));
    assert_eq!(
        header[..6],
        [
            "rank",
            "model_id",
            "family",
            "params",
            "rmse_mean",
            "rmse_std"
        ]
    );
    assert_eq!(rows[0][1], best);
}
