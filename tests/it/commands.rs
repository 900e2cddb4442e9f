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

/// Writes iris as Parquet with typed columns (floats and a string target).
fn iris_parquet(path: &std::path::Path) {
    use polars::prelude::*;
    let text = std::fs::read_to_string(dataset("iris.csv")).unwrap();
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut columns: Vec<Column> = (0..4)
        .map(|j| {
            Column::new(
                names[j].into(),
                rows.iter()
                    .map(|r| r[j].parse::<f64>().unwrap())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    columns.push(Column::new(
        names[4].into(),
        rows.iter().map(|r| r[4]).collect::<Vec<_>>(),
    ));
    let mut frame = DataFrame::new_infer_height(columns).unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut frame)
        .unwrap();
}

#[test]
fn trains_and_predicts_on_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("iris.parquet");
    iris_parquet(&data);
    let out = dir.path().join("run");
    train(&data, "species", &out, 4, &[]);
    let pred = dir.path().join("pred.csv");
    crate::support::predict(&out.join("model.json"), &data, &pred);
    let (header, rows) = read_csv(&pred);
    assert_eq!(
        header,
        ["prediction", "p_setosa", "p_versicolor", "p_virginica"]
    );
    let truth = crate::support::column(&dataset("iris.csv"), "species");
    let hits = rows.iter().zip(&truth).filter(|(r, t)| &r[0] == *t).count();
    assert!(hits >= 140, "{hits} of 150 right on training rows");
}

#[test]
fn rows_with_a_missing_target_are_dropped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    let mut csv = String::from("x,g,y\n");
    for i in 0..40 {
        let y = if i % 10 == 3 {
            "NA".to_string()
        } else {
            (i % 2).to_string()
        };
        csv.push_str(&format!("{i},{},{y}\n", if i % 3 == 0 { "a" } else { "b" }));
    }
    std::fs::write(&data, csv).unwrap();
    automl()
        .args(["train", "--data"])
        .arg(&data)
        .args([
            "--target",
            "y",
            "--max-trials",
            "2",
            "--ignore",
            "g",
            "--out",
        ])
        .arg(dir.path().join("run"))
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "dropped 4 rows whose target 'y' was missing",
        ));
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run/run.json")).unwrap()).unwrap();
    assert_eq!(run["rows"], 36);
    assert_eq!(
        run["schema"].as_array().unwrap().len(),
        1,
        "only x is an input"
    );
}

#[test]
fn train_measures_each_input_columns_importance_and_inspect_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&dataset("titanic.csv"), "survived", &out, 6, &[]);
    let text = std::fs::read_to_string(out.join("importance.json")).unwrap();
    let importance: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(importance["measure"], "fall in roc_auc");
    assert_eq!(importance["shuffles"], 5);
    assert_eq!(
        importance["rows"], 891,
        "every held-out row of the five folds"
    );
    let columns = importance["columns"].as_array().unwrap();
    let mut names: Vec<&str> = columns
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    let values: Vec<f64> = columns
        .iter()
        .map(|c| c["importance"].as_f64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] >= w[1]),
        "most important first"
    );
    assert!(values[0] > 0.01, "{values:?}");
    names.sort_unstable();
    let model = Model::load(out.join("model.json")).unwrap();
    let mut inputs = model.input_columns();
    inputs.sort_unstable();
    assert_eq!(names, inputs, "every input column, once");
    let stored = serde_json::to_value(model.meta.importance.as_ref().unwrap()).unwrap();
    assert_eq!(stored, importance, "model.json holds the same");
    let shown = automl()
        .arg("inspect")
        .arg(out.join("model.json"))
        .assert()
        .success();
    let shown = String::from_utf8_lossy(&shown.get_output().stdout).to_string();
    let first = columns[0]["column"].as_str().unwrap();
    assert!(
        shown
            .contains("importance fall in roc_auc when shuffled (5 shuffles of 891 held-out rows)"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("  {first:<24} {:>10.6}", values[0])),
        "{shown}"
    );
}
