//! ONNX export: for every bundled data set and every family, train a small
//! model, export it with `automl export --onnx`, score every row with ONNX
//! Runtime (`tests/onnx/parity.py`, run by the Python that
//! `AUTOML_ONNX_PYTHON` names; `scripts/test.sh` makes a virtual
//! environment with onnxruntime) and compare with `automl predict`:
//! classes, clusters and flags identical, numbers within 1e-12 of
//! max(1, |value|).

use std::path::Path;
use std::process::Command;

use crate::export::{damaged_titanic, train_ensemble, ANOMALY_SETS, CLUSTER_SETS, SETS};
use crate::support::{automl, dataset, predict, train, train_unsupervised};

/// The Python with onnxruntime and jsonschema that the tests use.
pub fn python() -> String {
    std::env::var("AUTOML_ONNX_PYTHON").expect(
        "AUTOML_ONNX_PYTHON is unset: run the tests with scripts/test.sh, which installs onnxruntime and jsonschema",
    )
}

/// What `parity.py` reports.
struct Parity {
    rows: usize,
    compared: usize,
    exact: usize,
}

/// Exports `run`'s model to ONNX, scores `data` with it and with `automl
/// predict`, and asserts they agree on every row.
fn check(dir: &Path, run: &Path, data: &Path, what: &str) -> Parity {
    let model = run.join("model.json");
    let onnx = dir.join("model.onnx");
    automl()
        .args(["export", "--onnx", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&onnx)
        .assert()
        .success();
    let expected = dir.join("expected.csv");
    predict(&model, data, &expected);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/parity.py");
    let out = Command::new(python())
        .arg(script)
        .arg(&onnx)
        .arg(data)
        .arg(&expected)
        .output()
        .expect("the ONNX Python runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: ONNX Runtime disagrees with automl predict: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(report.trim()).expect("a JSON report");
    let count = |k: &str| json[k].as_u64().unwrap_or(0) as usize;
    Parity {
        rows: count("rows"),
        compared: count("compared"),
        exact: count("exact"),
    }
}

/// Sums reports and prints the family's line for the closing figures.
fn total(what: &str, parts: Vec<Parity>) -> usize {
    let rows: usize = parts.iter().map(|p| p.rows).sum();
    let compared: usize = parts.iter().map(|p| p.compared).sum();
    let exact: usize = parts.iter().map(|p| p.exact).sum();
    eprintln!("{what}: {rows} rows, {compared} values, {exact} bit-identical, 0 mismatches");
    rows
}

/// Trains `family` on every bundled supervised set and checks its file.
fn supervised(family: &str) -> usize {
    let mut parts = Vec::new();
    for (file, target, classification) in SETS {
        if family == "naive_bayes" && !classification {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        train(&dataset(file), target, &run, 2, &["--include", family]);
        parts.push(check(
            dir.path(),
            &run,
            &dataset(file),
            &format!("{family} on {file}"),
        ));
    }
    total(family, parts)
}

/// Trains an unsupervised `family` on each set of `task` and checks it.
fn unsupervised(task: &str, family: &str) -> usize {
    let sets: &[(&str, &str)] = if task == "cluster" {
        &CLUSTER_SETS
    } else {
        &ANOMALY_SETS
    };
    let mut parts = Vec::new();
    for (file, label) in sets {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let mut extra = vec!["--include", family];
        if task == "anomaly" {
            extra.extend(["--contamination", "0.05"]);
        }
        let trials = if family == "dbscan" { 25 } else { 3 };
        train_unsupervised(&dataset(file), task, label, &run, trials, &extra);
        let what = format!("{family} {task} on {file}");
        parts.push(check(dir.path(), &run, &dataset(file), &what));
    }
    total(&format!("{family} ({task})"), parts)
}

#[test]
fn gbdt_onnx_matches_predict() {
    assert!(supervised("gbdt") > 10_000);
}

#[test]
fn random_forest_onnx_matches_predict() {
    assert!(supervised("random_forest") > 10_000);
}

#[test]
fn extra_trees_onnx_matches_predict() {
    assert!(supervised("extra_trees") > 10_000);
}

#[test]
fn decision_tree_onnx_matches_predict() {
    assert!(supervised("decision_tree") > 10_000);
}

#[test]
fn linear_onnx_matches_predict() {
    assert!(supervised("linear") > 10_000);
}

#[test]
fn naive_bayes_onnx_matches_predict() {
    assert!(supervised("naive_bayes") > 2_000);
}

#[test]
fn knn_onnx_matches_predict() {
    assert!(supervised("knn") > 10_000);
}

#[test]
fn mlp_onnx_matches_predict() {
    assert!(supervised("mlp") > 10_000);
}

/// The ensembles of the Rust export's test (members reading raw and
/// standardised features) as one ONNX graph each.
#[test]
fn ensemble_onnx_matches_predict() {
    let mut parts = Vec::new();
    for (file, target, classification) in SETS {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        train_ensemble(file, target, classification, &run);
        parts.push(check(
            dir.path(),
            &run,
            &dataset(file),
            &format!("ensemble on {file}"),
        ));
    }
    assert!(total("ensemble", parts) > 10_000);
}

#[test]
fn kmeans_clusters_onnx_match_predict() {
    assert!(unsupervised("cluster", "kmeans") > 600);
}

#[test]
fn gaussian_mixture_clusters_onnx_match_predict() {
    assert!(unsupervised("cluster", "gaussian_mixture") > 600);
}

#[test]
fn dbscan_onnx_matches_predict() {
    assert!(unsupervised("cluster", "dbscan") > 600);
}

#[test]
fn isolation_forest_onnx_matches_predict() {
    assert!(unsupervised("anomaly", "isolation_forest") > 8_000);
}

#[test]
fn kmeans_detector_onnx_matches_predict() {
    assert!(unsupervised("anomaly", "kmeans") > 8_000);
}

#[test]
fn gaussian_mixture_detector_onnx_matches_predict() {
    assert!(unsupervised("anomaly", "gaussian_mixture") > 8_000);
}

#[test]
fn autoencoder_detector_onnx_matches_predict() {
    assert!(unsupervised("anomaly", "autoencoder") > 7_000);
}

/// A `--na-values` number, infinities and text in a mostly numeric column,
/// and missing categories: the file reads them as missing by itself.
#[test]
fn missing_markers_and_mostly_numeric_columns_onnx_match_predict() {
    let mut parts = Vec::new();
    for family in ["gbdt", "linear"] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("titanic.csv");
        std::fs::write(&data, damaged_titanic()).unwrap();
        let run = dir.path().join("run");
        let extra = ["--include", family, "--na-values", "-999"];
        train(&data, "survived", &run, 2, &extra);
        parts.push(check(
            dir.path(),
            &run,
            &data,
            &format!("{family} on damaged titanic"),
        ));
    }
    assert!(total("markers", parts) > 1_700);
}

/// An input column named like an output can't be told apart from it in
/// the file: a clear error, exit 5, nothing written.
#[test]
fn a_column_named_like_an_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(dataset("iris.csv")).unwrap();
    let data = dir.path().join("iris.csv");
    std::fs::write(&data, csv.replacen("sepal_length_cm", "probabilities", 1)).unwrap();
    let run = dir.path().join("run");
    train(&data, "species", &run, 1, &["--include", "linear"]);
    let out = dir.path().join("model.onnx");
    automl()
        .args(["export", "--onnx", "--model"])
        .arg(run.join("model.json"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(5)
        .stderr(predicates::str::contains(
            "input column 'probabilities' has the name of an ONNX output",
        ));
    assert!(!out.exists());
}
