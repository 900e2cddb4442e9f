//! Training through the binary: quality on held-out rows, reproducible
//! leaderboards, and the time budget.

use std::time::Instant;

use automl::data::Target;
use automl::metrics::Metric;
use automl::model::Predictions;

use crate::support::{automl, column, dataset, predict, read_csv, split, train};

/// Trains on 3/4 of a bundled set, predicts the rest, returns the metric.
fn held_out(name: &str, target: &str, metric: Metric, trials: usize) -> f64 {
    held_out_with(name, target, metric, trials, &[])
}

/// `held_out` with more `train` arguments.
fn held_out_with(name: &str, target: &str, metric: Metric, trials: usize, extra: &[&str]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let (tr, te) = split(name, dir.path());
    let out = dir.path().join("run");
    train(&tr, target, &out, trials, extra);
    let pred_path = dir.path().join("pred.csv");
    predict(&out.join("model.json"), &te, &pred_path);
    let truth = column(&te, target);
    let (header, rows) = read_csv(&pred_path);
    assert_eq!(rows.len(), truth.len(), "one prediction per row");
    if header.len() == 1 {
        let outputs = rows.iter().map(|r| r[0].parse::<f64>().unwrap()).collect();
        let values = truth.iter().map(|t| t.parse::<f64>().unwrap()).collect();
        return metric.compute(&Target::Values(values), &Predictions { outputs, width: 1 });
    }
    let labels: Vec<String> = header[1..]
        .iter()
        .map(|h| h.trim_start_matches("p_").to_string())
        .collect();
    let y = truth
        .iter()
        .map(|t| labels.iter().position(|l| same_label(l, t)).unwrap())
        .collect();
    let outputs = rows
        .iter()
        .flat_map(|r| r[1..].iter().map(|p| p.parse::<f64>().unwrap()))
        .collect();
    metric.compute(
        &Target::Classes {
            labels: labels.clone(),
            y,
        },
        &Predictions {
            outputs,
            width: labels.len(),
        },
    )
}

/// Labels match as text, or as numbers when both are numbers ("1" = "1.0").
fn same_label(a: &str, b: &str) -> bool {
    a == b || matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
}

#[test]
fn iris_held_out_accuracy_floor() {
    let acc = held_out("iris.csv", "species", Metric::Accuracy, 12);
    assert!(acc >= 0.93, "accuracy {acc}");
}

#[test]
fn breast_cancer_held_out_auc_floor() {
    let auc = held_out("breast_cancer.csv", "diagnosis", Metric::RocAuc, 12);
    assert!(auc >= 0.97, "auc {auc}");
}

#[test]
fn diabetes_held_out_r2_floor() {
    let r2 = held_out("diabetes.csv", "progression", Metric::R2, 12);
    assert!(r2 >= 0.40, "r2 {r2}");
}

#[test]
fn titanic_held_out_auc_floor() {
    let auc = held_out("titanic.csv", "survived", Metric::RocAuc, 12);
    assert!(auc >= 0.82, "auc {auc}");
}

/// `family` alone clears the same floors as the whole search.
fn family_floors(family: &str, titanic_trials: usize, trials: usize) {
    let only = ["--include", family];
    let auc = held_out_with(
        "titanic.csv",
        "survived",
        Metric::RocAuc,
        titanic_trials,
        &only,
    );
    assert!(auc >= 0.82, "{family}: titanic auc {auc}");
    let r2 = held_out_with("diabetes.csv", "progression", Metric::R2, trials, &only);
    assert!(r2 >= 0.40, "{family}: diabetes r2 {r2}");
    let acc = held_out_with("iris.csv", "species", Metric::Accuracy, trials, &only);
    assert!(acc >= 0.93, "{family}: iris accuracy {acc}");
}

#[test]
fn extra_trees_held_out_floors() {
    family_floors("extra_trees", 12, 6);
}

#[test]
fn mlp_held_out_floors() {
    family_floors("mlp", 8, 8);
}

/// The ensemble row names its members and weights, and scores at least as
/// well on cross-validation as the best of them (and is saved when it leads).
#[test]
fn the_ensemble_is_at_least_as_good_as_its_best_member() {
    for (file, target, higher_is_better) in [
        ("titanic.csv", "survived", true),
        ("diabetes.csv", "progression", false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        train(&dataset(file), target, &out, 20, &[]);
        let (header, rows) = read_csv(&out.join("leaderboard.csv"));
        let score = header.iter().position(|h| h.ends_with("_mean")).unwrap();
        let value = |id: &str| -> f64 {
            let row = rows.iter().find(|r| r[1] == id).unwrap();
            row[score].parse().unwrap()
        };
        let ensemble = rows
            .iter()
            .find(|r| r[2] == "ensemble")
            .expect("an ensemble row");
        let members: Vec<(&str, f64)> = ensemble[3]
            .split(' ')
            .map(|m| {
                let (id, w) = m.split_once('×').unwrap();
                (id, w.parse().unwrap())
            })
            .collect();
        assert!(members.len() >= 2, "{file}: {members:?}");
        let total: f64 = members.iter().map(|(_, w)| w).sum();
        assert!((total - 1.0).abs() < 1e-3, "{file}: weights sum to {total}");
        let own = value(&ensemble[1]);
        for (id, _) in &members {
            let member = value(id);
            let ok = if higher_is_better {
                own >= member
            } else {
                own <= member
            };
            assert!(ok, "{file}: ensemble {own} vs member {id} {member}");
        }
        if ensemble[0] == "1" {
            let model = automl::Model::load(out.join("model.json")).unwrap();
            assert_eq!(model.estimator.kind(), "ensemble");
            assert_eq!(model.meta.model_id, ensemble[1]);
            // `inspect` lists each member with its weight and parameters.
            let shown = automl()
                .arg("inspect")
                .arg(out.join("model.json"))
                .output()
                .unwrap();
            let text = String::from_utf8(shown.stdout).unwrap();
            for (id, _) in &members {
                let line = text.lines().find(|l| l.contains(&format!("× {id} (")));
                assert!(line.is_some(), "{file}: {id} missing from\n{text}");
            }
        }
    }
}

/// Leaderboard columns that measure time and so differ between runs.
const TIMING: [&str; 2] = ["fit_seconds", "predict_us_per_row"];

fn without_timing(path: &std::path::Path) -> Vec<Vec<String>> {
    let (header, rows) = read_csv(path);
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !TIMING.contains(&header[i].as_str()))
        .collect();
    std::iter::once(header)
        .chain(rows)
        .map(|r| keep.iter().map(|&i| r[i].clone()).collect())
        .collect()
}

#[test]
fn same_seed_and_trials_give_identical_leaderboards() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::support::dataset("penguins.csv");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    train(&data, "species", &a, 9, &[]);
    train(&data, "species", &b, 9, &[]);
    let (la, lb) = (
        without_timing(&a.join("leaderboard.csv")),
        without_timing(&b.join("leaderboard.csv")),
    );
    assert_eq!(
        la.len(),
        10,
        "header and 9 trials (none combine into a better ensemble)"
    );
    assert_eq!(la, lb);
    assert_eq!(
        std::fs::read(a.join("model.json")).unwrap(),
        std::fs::read(b.join("model.json")).unwrap()
    );
}

#[test]
fn time_budget_is_kept_and_a_model_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let budget = 4.0;
    let started = Instant::now();
    crate::support::automl()
        .args(["train", "--data"])
        .arg(crate::support::dataset("wine_quality.csv"))
        .args([
            "--target",
            "quality",
            "--time-budget",
            "4",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let wall = started.elapsed().as_secs_f64();
    assert!(
        wall <= budget * 1.02 + 0.5,
        "took {wall:.2} s for a {budget} s budget"
    );
    assert!(out.join("model.json").is_file());
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert!(run["trials"].as_u64().unwrap() >= 1);
}

/// Sends `signal` to a training run a few seconds in; it must stop at
/// once with exit 130, keeping the best model so far.
fn stopped_by(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("automl"))
        .args(["train", "--data"])
        .arg(dataset("wine_quality.csv"))
        .args([
            "--target",
            "quality",
            "--max-trials",
            "100000",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let sent = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(
        sent.elapsed().as_secs_f64() < 5.0,
        "took {:?} to stop",
        sent.elapsed()
    );
    assert_eq!(exit.code(), Some(130), "{signal}");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["interrupted"], true);
    assert!(record["final_fit"].as_str().unwrap().contains("stopped"));
    automl()
        .arg("inspect")
        .arg(out.join("model.json"))
        .assert()
        .success();
}

#[test]
fn ctrl_c_stops_the_search_and_keeps_the_best_model() {
    stopped_by("-INT");
}

#[test]
fn sigterm_stops_the_search_and_keeps_the_best_model() {
    stopped_by("-TERM");
}

/// `--repeats 2` scores every trial on two cuts of the folds and says so.
#[test]
fn repeats_cut_the_folds_twice() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(
        &dataset("iris.csv"),
        "species",
        &out,
        3,
        &["--repeats", "2"],
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["validation"], "2×5-fold");
    assert_eq!(record["settings"]["repeats"], 2);
}
