//! The portable model: the end of the training path and the start of every
//! deployment. Plain serde data — input schema and fitted preprocessing,
//! estimator, label map, training metadata — with one reference scorer.
//! Cross-validation scores through it, `automl predict` and the library API
//! load it, and exports are tested against it row by row.

pub mod drift;
pub mod estimator;
pub mod explain;
pub mod graph;
pub mod kernels;
pub mod psi;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use estimator::Estimator;
pub use explain::Explanation;
pub use kernels::argmax;

use crate::data::{Table, Task, Value};
use crate::error::{Error, Result};
use crate::output::write_atomic;
use crate::prep::Prep;

/// The format version written into `model.json`; loading refuses others.
pub const FORMAT_VERSION: u32 = 1;

/// How the model was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Learner family.
    pub family: String,
    /// Hyperparameters of the winning trial.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Leaderboard id of the winning trial.
    pub model_id: String,
    /// Primary metric and its cross-validated mean.
    pub metric: String,
    /// Cross-validated score of the primary metric.
    pub cv_score: f64,
    /// Rows the final model was fitted on.
    pub trained_rows: usize,
    /// Seed of the run.
    pub seed: u64,
    /// Version of automl that wrote the model.
    pub tool_version: String,
    /// How much each input column matters to the model, when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<Importance>,
}

/// How much each input column matters to a model, measured on held-out
/// rows by shuffling the column's values among them (permutation
/// importance). Stored in the model's metadata and in `importance.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    /// What a column's importance is when it is shuffled: how much the
    /// primary metric worsens (supervised), or the share of rows whose
    /// cluster or anomaly flag changes.
    pub measure: String,
    /// Shuffles of each column: folds times repeats.
    pub shuffles: usize,
    /// Held-out rows each model scored per shuffle, summed over folds.
    pub rows: usize,
    /// Every input column, most important first.
    pub columns: Vec<ColumnImportance>,
}

/// One input column's importance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnImportance {
    /// The input column.
    pub column: String,
    /// The mean over shuffles.
    pub importance: f64,
    /// Its standard deviation over shuffles.
    pub std: f64,
}

/// A deployable model: preprocessing plus estimator plus label map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Format version of this file.
    pub format_version: u32,
    /// The task.
    pub task: Task,
    /// Name of the target column in training data.
    pub target: String,
    /// Class names, by class index (empty for regression).
    pub classes: Vec<String>,
    /// Input schema and fitted preprocessing.
    pub prep: Prep,
    /// The fitted estimator.
    pub estimator: Estimator,
    /// Training metadata.
    pub meta: ModelMeta,
    /// The training distributions of the inputs and predictions, which a
    /// deployed model's inputs are compared against (absent in models
    /// written before automl measured them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<drift::Reference>,
}

/// Predictions for many rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Per row: class probabilities (width = classes) or one value.
    pub outputs: Vec<f64>,
    /// Values per row.
    pub width: usize,
}

impl Predictions {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.outputs.len() / self.width.max(1)
    }

    /// Row `r`'s outputs.
    pub fn row(&self, r: usize) -> &[f64] {
        &self.outputs[r * self.width..(r + 1) * self.width]
    }

    /// The rows numbered `rows`, in that order.
    pub fn take(&self, rows: &[usize]) -> Predictions {
        Predictions {
            outputs: rows.iter().flat_map(|&r| self.row(r)).copied().collect(),
            width: self.width,
        }
    }

    /// Predicted class index of row `r` (the first most probable class).
    pub fn class(&self, r: usize) -> usize {
        argmax(self.row(r))
    }
}

impl Model {
    /// Values `predict` returns per row: class probabilities, one value,
    /// the cluster (and mixture memberships), or an anomaly score and flag.
    pub fn output_width(&self) -> usize {
        self.estimator.width(self.classes.len())
    }

    /// Column names of `automl predict`'s output.
    pub fn output_header(&self) -> Vec<String> {
        match self.task {
            Task::Binary | Task::Multiclass => std::iter::once("prediction".to_string())
                .chain(self.classes.iter().map(|c| format!("p_{c}")))
                .collect(),
            Task::Regression => vec!["prediction".into()],
            Task::Cluster => std::iter::once("cluster".to_string())
                .chain((1..self.output_width()).map(|c| format!("p_{}", c - 1)))
                .collect(),
            Task::Anomaly => vec!["score".into(), "is_anomaly".into()],
        }
    }

    /// One output row as text cells under `output_header`. Floats are
    /// written in shortest round-trip form; DBSCAN noise is cluster -1.
    pub fn output_cells(&self, row: &[f64]) -> Vec<String> {
        match self.task {
            Task::Binary | Task::Multiclass => std::iter::once(self.classes[argmax(row)].clone())
                .chain(row.iter().map(|p| format!("{p}")))
                .collect(),
            Task::Regression => vec![format!("{}", row[0])],
            Task::Cluster => std::iter::once(format!("{}", row[0] as i64))
                .chain(row[1..].iter().map(|p| format!("{p}")))
                .collect(),
            Task::Anomaly => vec![format!("{}", row[0]), (row[1] == 1.0).to_string()],
        }
    }

    /// Input column names, in the order `predict_row` takes them.
    pub fn input_columns(&self) -> Vec<&str> {
        self.prep.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Scores every row of `table`; columns are matched by name and extra
    /// columns (such as the target) are ignored.
    pub fn predict_table(&self, table: &Table) -> Result<Predictions> {
        let (mut x, d) = self.prep.encode_table(table)?;
        self.prep.scale_matrix(&mut x, d);
        Ok(self.predict_features(&x, d))
    }

    /// Scores encoded, scaled rows (row-major, width `d`).
    pub fn predict_features(&self, x: &[f64], d: usize) -> Predictions {
        self.estimator.score_rows(x, d, self.output_width())
    }

    /// Scores one row of raw values given in `input_columns()` order.
    pub fn predict_row(&self, values: &[Value<'_>]) -> Result<Vec<f64>> {
        let mut x = vec![0.0; self.prep.width()];
        self.prep.encode_row(values, &mut x)?;
        let mut out = vec![0.0; self.output_width()];
        self.estimator.score(&x, &mut out);
        Ok(out)
    }

    /// Reads a model file, refusing other format versions.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let bad = |reason: String| Error::Model {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Model::from_json(&text).map_err(bad)
    }

    /// Reads a model from the text of a model file, refusing other format
    /// versions and any structure that would score wrongly.
    pub fn from_json(text: &str) -> std::result::Result<Model, String> {
        let raw: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        match raw
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(format!(
                "format version {v} is not supported (this automl reads version {FORMAT_VERSION})"
            ))
            }
            None => return Err("not an automl model (no format_version)".into()),
        }
        let model: Model =
            serde_json::from_value(raw).map_err(|e| format!("corrupt model: {e}"))?;
        model.check()?;
        Ok(model)
    }

    /// Writes the model as JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string(self).map_err(|e| Error::output(path, e))?;
        write_atomic(path, text.as_bytes())
    }

    /// Structural checks so a hand-edited or truncated file fails on load,
    /// not with an out-of-bounds index while scoring; training runs them
    /// too before saving, so what is saved can be loaded.
    pub fn check(&self) -> std::result::Result<(), String> {
        let d = self.prep.width();
        let w = self.output_width();
        if self.task.is_classification() && self.classes.len() < 2 {
            return Err("a classifier needs at least two classes".into());
        }
        if !self.task.is_classification() && !self.classes.is_empty() {
            return Err(format!(
                "a {} model has no classes, but this one lists {}",
                self.task,
                self.classes.len()
            ));
        }
        if self.estimator.is_unsupervised() == self.task.is_supervised() {
            return Err(format!(
                "a {} estimator can't serve a {} task",
                self.estimator.kind(),
                self.task
            ));
        }
        if self.task == Task::Anomaly && w != 2 {
            return Err("an anomaly model must give a score and a flag".into());
        }
        self.prep.check()?;
        if let Some(reference) = &self.drift {
            reference.check(&self.prep)?;
        }
        self.estimator.check(d, w)
    }
}

#[cfg(test)]
mod tests {
    //! Property tests: no model file, however damaged, panics the loader or
    //! a model it accepts. Cases per property: `PROPTEST_CASES` (the tests
    //! run 2 000; `bench/fuzz.sh` a million).
    use proptest::prelude::*;

    use super::*;
    use crate::data::{self, Target};
    use crate::learners::space::Params;
    use crate::learners::Family;

    /// A model of `family` trained on iris, as model.json text.
    fn trained(family: Family) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/iris.csv");
        let ds = data::prepare(data::load(&path, &[]).unwrap(), "species", &[], None).unwrap();
        let space = family.learner().space(ds.task);
        let init: Vec<f64> = space.iter().map(|dim| dim.init).collect();
        let params = Params::decode(&space, &init);
        let (prep, estimator) =
            crate::learners::fit_all_rows(&ds, family, &params, 1, None, &Default::default())
                .unwrap();
        let Target::Classes { labels, .. } = &ds.target else {
            unreachable!()
        };
        let model = Model {
            format_version: FORMAT_VERSION,
            task: ds.task,
            target: "species".into(),
            classes: labels.clone(),
            prep,
            estimator,
            meta: ModelMeta {
                family: family.name().into(),
                params: BTreeMap::new(),
                model_id: "fuzz-1".into(),
                metric: "log_loss".into(),
                cv_score: 0.0,
                trained_rows: 150,
                seed: 1,
                tool_version: "0".into(),
                importance: None,
            },
            drift: None,
        };
        serde_json::to_string(&model).unwrap()
    }

    /// JSON pointers to every leaf (and every array and object) of `v`.
    fn places(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    places(item, format!("{at}/{i}"), out);
                }
            }
            serde_json::Value::Object(map) => {
                for (k, item) in map {
                    places(item, format!("{at}/{k}"), out);
                }
            }
            _ => {}
        }
    }

    /// A damaging replacement for a place.
    fn damage() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            any::<f64>().prop_map(|x| serde_json::json!(x)),
            prop_oneof![
                Just(0i64),
                Just(-1),
                Just(1),
                Just(2),
                Just(3),
                Just(1_000_000)
            ]
            .prop_map(|x| serde_json::json!(x)),
            Just(serde_json::Value::Null),
            Just(serde_json::json!([])),
            Just(serde_json::json!({})),
            "[a-z_]{0,12}".prop_map(serde_json::Value::String),
        ]
    }

    fn loads_or_refuses(text: &str, rows: &[Vec<Value<'_>>]) {
        if let Ok(model) = Model::from_json(text) {
            for row in rows {
                let _ = model.predict_row(row);
            }
        }
    }

    fn iris_rows() -> Vec<Vec<Value<'static>>> {
        vec![
            vec![
                Value::Number(5.1),
                Value::Number(3.5),
                Value::Number(1.4),
                Value::Number(0.2),
            ],
            vec![
                Value::Missing,
                Value::Text("x"),
                Value::Number(f64::MAX),
                Value::Number(-1e308),
            ],
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
        ))]

        #[test]
        fn a_damaged_model_file_is_refused_or_scores_without_panicking(
            family in prop::sample::select(vec![
                Family::Gbdt, Family::RandomForest, Family::DecisionTree,
                Family::Linear, Family::NaiveBayes, Family::Knn,
            ]),
            picks in prop::collection::vec((any::<prop::sample::Index>(), damage()), 1..4),
        ) {
            thread_local! {
                static MODELS: std::cell::RefCell<BTreeMap<String, String>> = Default::default();
            }
            let text = MODELS.with(|m| {
                m.borrow_mut().entry(family.name().into()).or_insert_with(|| trained(family)).clone()
            });
            let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
            for (pick, value) in picks {
                let mut all = Vec::new();
                places(&json, String::new(), &mut all);
                let at = pick.get(&all).clone();
                if at.is_empty() {
                    continue;
                }
                if let Some(slot) = json.pointer_mut(&at) {
                    *slot = value;
                }
            }
            loads_or_refuses(&json.to_string(), &iris_rows());
        }

        #[test]
        fn arbitrary_text_is_refused_as_a_model(text in ".{0,200}") {
            prop_assert!(Model::from_json(&text).is_err());
        }
    }
}
