//! The portable model: the end of the training path and the start of every
//! deployment. Plain serde data — input schema and fitted preprocessing,
//! estimator, label map, training metadata — with one reference scorer.
//! Cross-validation scores through it, `automl predict` and the library API
//! load it, and exports are tested against it row by row.

pub mod estimator;
pub mod kernels;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use estimator::Estimator;
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
        let raw: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        match raw
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(bad(format!(
                "format version {v} is not supported (this automl reads version {FORMAT_VERSION})"
            )))
            }
            None => return Err(bad("not an automl model (no format_version)".into())),
        }
        let model: Model =
            serde_json::from_value(raw).map_err(|e| bad(format!("corrupt model: {e}")))?;
        model.check().map_err(bad)?;
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
        self.estimator.check(d, w)
    }
}
