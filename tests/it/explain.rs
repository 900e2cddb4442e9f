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
