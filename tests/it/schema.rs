//! `automl export --schema`: the JSON Schema of a model's input records,
//! checked with the `jsonschema` package (`tests/schema/validate.py`, run by
//! the Python of the ONNX tests, which `scripts/test.sh` sets up): every
//! training row, sent as a producer would send it, is valid; values the
//! model refuses are not; unseen levels and unknown fields are.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Map, Value as Json};

use crate::onnx::python;
use crate::support::{automl, dataset, train};

/// The rows of a CSV without quoted cells as JSON records: an empty cell
/// is null, a cell that reads as a number is a number, others are text.
fn records(path: &Path) -> Vec<Json> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            let fields: Map<String, Json> = names
                .iter()
                .zip(line.split(','))
                .map(|(name, cell)| {
                    let value = match cell.parse::<f64>() {
                        _ if cell.is_empty() => Json::Null,
                        Ok(x) => json!(x),
                        Err(_) => json!(cell),
                    };
                    (name.to_string(), value)
                })
                .collect();
            Json::Object(fields)
        })
        .collect()
}

/// The verdicts of `validate.py` on `records` against `schema`.
fn verdicts(dir: &Path, schema: &Path, records: &[Json]) -> Vec<String> {
    let lines: Vec<String> = records.iter().map(Json::to_string).collect();
    let file = dir.join("records.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema/validate.py");
    let out = Command::new(python())
        .arg(script)
        .arg(schema)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn the_schema_takes_every_training_row_and_refuses_what_the_model_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(
        &dataset("titanic.csv"),
        "survived",
        &run,
        1,
        &["--include", "linear"],
    );
    let schema = dir.path().join("schema.json");
    automl()
        .args(["export", "--schema", "--model"])
        .arg(run.join("model.json"))
        .arg("--out")
        .arg(&schema)
        .assert()
        .success();
    let rows = records(&dataset("titanic.csv"));
    let all = verdicts(dir.path(), &schema, &rows);
    assert_eq!(all.len(), 891);
    assert!(all.iter().all(|v| v == "ok"), "a training row is invalid");
    // Numeric `age`, true/false `adult_male`, categorical `deck` and `who`.
    let cases = [
        (json!({"age": " 31.5 "}), "ok"),
        (json!({"age": "NA", "deck": null}), "ok"),
        (json!({"age": "abc"}), "invalid"),
        (json!({"age": [1]}), "invalid"),
        (json!({"adult_male": "TRUE"}), "ok"),
        (json!({"adult_male": true}), "ok"),
        (json!({"adult_male": 1}), "ok"),
        (json!({"adult_male": 2}), "invalid"),
        (json!({"adult_male": "maybe"}), "invalid"),
        (json!({"deck": "Z", "who": 7}), "ok"),
        (json!({"who": {"a": 1}}), "invalid"),
        (json!({"not_a_column": [1, {"b": 2}]}), "ok"),
        (json!([1, 2]), "invalid"),
    ];
    let records: Vec<Json> = cases.iter().map(|(r, _)| r.clone()).collect();
    let got = verdicts(dir.path(), &schema, &records);
    for ((record, want), got) in cases.iter().zip(&got) {
        assert_eq!(got, want, "{record}");
    }
}
