//! Reason codes: exact contributions for every family that has them, on a
//! bundled data set of each supervised task, through the library and
//! through `automl predict --explain`.

use automl::model::kernels::apply_link;
use automl::Model;

use crate::support::{automl, dataset, read_csv, train};

/// (data set, target, families with reason codes).
const CASES: &[(&str, &str, &[&str])] = &[
    (
        "titanic.csv",
        "survived",
        &[
            "gbdt",
            "random_forest",
            "extra_trees",
            "decision_tree",
            "linear",
        ],
    ),
    ("iris.csv", "species", &["gbdt", "random_forest", "linear"]),
    ("abalone.csv", "rings", &["gbdt", "extra_trees", "linear"]),
];

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

/// Every raw output's contributions, summed and put through the link,
/// give the model's prediction on every row.
fn check_library(model: &Model, data: &std::path::Path) -> usize {
    let table = automl::data::load(data, &model.prep.missing_markers).unwrap();
    let (mut x, d) = model.prep.encode_table(&table).unwrap();
    model.prep.scale_matrix(&mut x, d);
    let pred = model.predict_features(&x, d);
    let kind = model.estimator.as_kind();
    let (outputs, link) = kind.explains().unwrap();
    let mut phi = vec![0.0; outputs * (d + 1)];
    for (r, row) in x.chunks_exact(d).enumerate() {
        kind.contributions(row, &mut phi);
        let mut raw: Vec<f64> = phi.chunks_exact(d + 1).map(|p| p.iter().sum()).collect();
        raw.resize(pred.width, 0.0);
        apply_link(link, &mut raw);
        for (a, b) in raw.iter().zip(pred.row(r)) {
            assert!(close(*a, *b), "row {r}: {raw:?} vs {:?}", pred.row(r));
        }
    }
    pred.rows()
}

/// `predict --explain` with every column: the contributions and the base
/// add up to the raw score, largest first, each input column once.
fn check_cli(model_path: &std::path::Path, data: &std::path::Path, columns: usize) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reasons.csv");
    automl()
        .args(["predict", "--explain", "1000", "--model"])
        .arg(model_path)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let (header, rows) = read_csv(&out);
    let at = header.iter().position(|h| h == "raw").unwrap();
    assert_eq!(header.len(), at + 2 + 2 * columns, "{header:?}");
    for row in &rows {
        let raw: f64 = row[at].parse().unwrap();
        let base: f64 = row[at + 1].parse().unwrap();
        let pairs: Vec<(&str, f64)> = row[at + 2..]
            .chunks(2)
            .map(|p| (p[0].as_str(), p[1].parse().unwrap()))
            .collect();
        let sum: f64 = pairs.iter().map(|(_, v)| v).sum();
        assert!(close(base + sum, raw), "{row:?}");
        assert!(
            pairs.windows(2).all(|w| w[0].1.abs() >= w[1].1.abs()),
            "{row:?}"
        );
        let mut names: Vec<&str> = pairs.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), columns);
    }
}

#[test]
fn reason_codes_add_up_to_the_raw_score_on_every_row_of_every_family() {
    let mut checked = 0;
    for (data, target, families) in CASES {
        for family in *families {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("run");
            let args = ["--include", family, "--no-ensemble"];
            train(&dataset(data), target, &out, 2, &args);
            let model = Model::load(out.join("model.json")).unwrap();
            checked += check_library(&model, &dataset(data));
            check_cli(
                &out.join("model.json"),
                &dataset(data),
                model.input_columns().len(),
            );
        }
    }
    assert_eq!(checked, 5 * 891 + 3 * 150 + 3 * 4177);
}

#[test]
fn a_model_without_reason_codes_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "iris.csv",
            "species",
            &["--include", "knn", "--no-ensemble"][..],
            "reason codes are exact for tree ensembles and linear models",
        ),
        (
            "titanic.csv",
            "survived",
            &["--include", "gbdt"][..],
            "scores through a sigmoid link, so the ensemble's probabilities are not a sum",
        ),
    ];
    for (i, (data, target, args, why)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("run{i}"));
        train(&dataset(data), target, &out, 3, args);
        automl()
            .args(["predict", "--explain", "3", "--model"])
            .arg(out.join("model.json"))
            .arg("--data")
            .arg(dataset(data))
            .assert()
            .code(4)
            .stdout("")
            .stderr(predicates::str::contains("has no reason codes: "))
            .stderr(predicates::str::contains(why));
    }
}

/// A main.rs printing `predict_explained`'s reason codes for every row as
/// `automl predict --explain` prints them (rows in the export harness's
/// separators).
const EXPLAIN_HARNESS: &str = r#"mod model;

fn main() {
    let path = std::env::args().nth(1).expect("rows path");
    let text = std::fs::read_to_string(path).expect("rows");
    let mut lines = text.split('\u{1e}').filter(|l| !l.is_empty());
    let names: Vec<&str> = lines.next().expect("header").split('\u{1f}').collect();
    let index: Vec<usize> = model::INPUT_COLUMNS
        .iter()
        .map(|c| names.iter().position(|n| n == c).expect("column"))
        .collect();
    for line in lines {
        let cells: Vec<&str> = line.split('\u{1f}').collect();
        let values: [model::Value<'_>; model::INPUT_COLUMNS.len()] = std::array::from_fn(|i| {
            let cell = cells[index[i]];
            if cell.is_empty() { model::Value::Missing } else { model::Value::Text(cell) }
        });
        let (_, e) = model::predict_explained(&values).expect("row scores");
        let mut out = vec![e.explained.to_string(), format!("{}", e.raw), format!("{}", e.base)];
        for (column, value) in e.reasons() {
            out.push(column.to_string());
            out.push(format!("{value}"));
        }
        println!("{}", out.join(","));
    }
}
"#;

/// The columns of `predict --explain`'s CSV from `explained` on.
fn reason_columns(csv: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == "explained").unwrap();
    lines
        .map(|l| l.split(',').skip(at).collect::<Vec<_>>().join(","))
        .collect()
}

#[test]
fn generated_predict_explained_equals_predict_explain_to_the_bit() {
    let cases: [(&str, &str, &[&str]); 4] = [
        (
            "titanic.csv",
            "survived",
            &["--include", "gbdt", "--no-ensemble"],
        ),
        (
            "iris.csv",
            "species",
            &["--include", "random_forest", "--no-ensemble"],
        ),
        (
            "abalone.csv",
            "rings",
            &["--include", "linear", "--no-ensemble"],
        ),
        // A weighted mean of forests and trees: members without a link.
        (
            "titanic.csv",
            "survived",
            &["--include", "random_forest,extra_trees,decision_tree"],
        ),
    ];
    let mut rows = 0;
    for (data, target, args) in cases {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        train(&dataset(data), target, &run, 4, args);
        let model = run.join("model.json");
        automl()
            .args(["export", "--rust", "--explain", "--model"])
            .arg(&model)
            .arg("--out")
            .arg(dir.path().join("model.rs"))
            .assert()
            .success();
        let bin = crate::export::compile_main(dir.path(), EXPLAIN_HARNESS, &[]);
        let csv = std::fs::read_to_string(dataset(data)).unwrap();
        let usv = dir.path().join("rows.usv");
        std::fs::write(&usv, crate::export::unit_separated(&csv)).unwrap();
        let generated = std::process::Command::new(&bin).arg(&usv).output().unwrap();
        assert!(
            generated.status.success(),
            "{}",
            String::from_utf8_lossy(&generated.stderr)
        );
        let expected = automl()
            .args(["predict", "--explain", "1000", "--model"])
            .arg(&model)
            .arg("--data")
            .arg(dataset(data))
            .assert()
            .success();
        let expected = reason_columns(&String::from_utf8_lossy(&expected.get_output().stdout));
        let generated: Vec<String> = String::from_utf8(generated.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(generated.len(), expected.len(), "{data}");
        for (i, (g, e)) in generated.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "{data} {args:?}, row {}", i + 1);
        }
        rows += expected.len();
    }
    assert_eq!(rows, 891 + 150 + 4177 + 891);
}

#[test]
fn tree_shap_equals_shapley_values_by_their_definition_on_iris() {
    let mut rows = 0;
    for family in ["gbdt", "random_forest", "decision_tree"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        train(
            &dataset("iris.csv"),
            "species",
            &out,
            2,
            &["--include", family, "--no-ensemble"],
        );
        let model = Model::load(out.join("model.json")).unwrap();
        let automl::model::Estimator::Trees(trees) = &model.estimator else {
            panic!("{family} is a tree model");
        };
        let table = automl::data::load(&dataset("iris.csv"), &[]).unwrap();
        let (x, d) = model.prep.encode_table(&table).unwrap();
        assert_eq!(d, 4);
        let mut phi = vec![0.0; trees.base.len() * (d + 1)];
        for row in x.chunks_exact(d) {
            model.estimator.as_kind().contributions(row, &mut phi);
            let expected = trees.shapley_by_definition(row);
            for (a, b) in phi.iter().zip(&expected) {
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                    "{family}: {phi:?} vs {expected:?}"
                );
            }
            rows += 1;
        }
    }
    assert_eq!(rows, 3 * 150);
}
