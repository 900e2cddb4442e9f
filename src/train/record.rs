//! The run record (`run.json`) and the writing of a run's outputs.

use serde::Serialize;

use super::final_model::FinalModel;
use super::{TrainConfig, TrainSettings};
use crate::data::topic::PartitionRange;
use crate::data::{Dataset, Task};
use crate::error::{Error, Result};
use crate::leaderboard::Leaderboard;
use crate::metrics::Metric;
use crate::model::Model;
use crate::output::{write_atomic, Staged};
use crate::page::ReportData;
use crate::prep::{ColumnKind, Prep};
use crate::search::{Budget, Status, Trial};

/// A column of the inferred schema, for `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaColumn {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: ColumnKind,
    /// Features it encodes to.
    pub features: usize,
}

/// Seconds spent in each phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Reading and preparing data.
    pub load: f64,
    /// Encoding folds and searching.
    pub search: f64,
    /// Refitting the winner on all rows.
    pub refit: f64,
    /// What the search estimated the refit would take (before padding),
    /// when it had an estimate: the time held back for it was sized by it.
    pub refit_estimate: Option<f64>,
    /// Measuring the winner's feature importance.
    pub importance: f64,
    /// Gathering what the report draws (out-of-fold predictions, curves).
    pub report: f64,
    /// Writing outputs.
    pub write: f64,
    /// The time held back for measuring importance and writing.
    pub write_reserve: f64,
    /// Whole command.
    pub total: f64,
}

/// The record written as `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// automl version.
    pub tool_version: String,
    /// Settings as given.
    pub settings: TrainSettings,
    /// Task used.
    pub task: Task,
    /// Primary metric used.
    pub metric: Metric,
    /// Rows used for training.
    pub rows: usize,
    /// Rows dropped for a missing target.
    pub dropped_rows: usize,
    /// Validation scheme: `5-fold` or `holdout`.
    pub validation: String,
    /// Inferred input schema.
    pub schema: Vec<SchemaColumn>,
    /// Trials run (ok or failed), not counting the ensemble built from them.
    pub trials: usize,
    /// Winning model id.
    pub best: String,
    /// How the saved model was fitted: on all rows, or (when refitting would
    /// have overrun the budget) the winner's first-fold model as scored.
    pub final_fit: String,
    /// What the plan changed from the settings (such as fewer folds).
    pub notes: Vec<String>,
    /// Whether the run was stopped early (Ctrl-C, SIGTERM) and kept the best
    /// model found so far.
    pub interrupted: bool,
    /// Phase timings.
    pub timings: Timings,
    /// For a run trained from a Kafka topic: the offsets read from each
    /// partition, so a retraining can read the same records.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub topic_offsets: Vec<PartitionRange>,
}

/// What the run did, for its record.
pub struct Ran<'a> {
    /// What the plan changed from the settings.
    pub notes: Vec<String>,
    /// The data trained on.
    pub dataset: &'a Dataset,
    /// The primary metric.
    pub metric: Metric,
    /// The validation scheme.
    pub validation: String,
    /// Every trial.
    pub trials: &'a [Trial],
    /// The winner.
    pub best: &'a Trial,
}

impl RunRecord {
    /// The record of a run (write timings are added when writing).
    pub fn new(config: &TrainConfig, ran: Ran<'_>, fitted: &FinalModel, timings: Timings) -> Self {
        let skipped = |t: &&Trial| matches!(t.status, Status::Skipped(_));
        RunRecord {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            settings: TrainSettings::clone(config),
            task: ran.dataset.task,
            metric: ran.metric,
            rows: ran.dataset.inputs.rows,
            dropped_rows: ran.dataset.dropped_rows,
            validation: ran.validation,
            schema: schema(&fitted.model.prep),
            trials: ran
                .trials
                .iter()
                .filter(|t| !skipped(t) && t.learner().is_some())
                .count(),
            best: ran.best.model_id.clone(),
            final_fit: fitted.fit.clone(),
            notes: ran.notes,
            interrupted: false,
            topic_offsets: Vec::new(),
            timings,
        }
    }
}

/// The input schema as `run.json` lists it.
pub fn schema(prep: &Prep) -> Vec<SchemaColumn> {
    prep.columns
        .iter()
        .map(|c| SchemaColumn {
            name: c.name.clone(),
            kind: c.kind,
            features: c.width(),
        })
        .collect()
}

/// What a run writes besides its record.
pub struct Outputs<'a> {
    /// The final model.
    pub model: &'a Model,
    /// The leaderboard.
    pub board: &'a Leaderboard,
    /// What the report draws.
    pub report: &'a ReportData,
    /// The search's checkpoint, for `--resume`.
    pub checkpoint: &'a [u8],
}

/// `report.json` and `report.html` into the staging folder.
fn write_report(staged: &Staged, outputs: &Outputs<'_>, out: &std::path::Path) -> Result<()> {
    let json = serde_json::to_string(outputs.report).map_err(|e| Error::output(out, e))?;
    write_atomic(&staged.path("report.json"), json.as_bytes())?;
    let importance = outputs.model.meta.importance.as_ref();
    let html = crate::page::render(outputs.board, importance, outputs.report)?;
    write_atomic(&staged.path("report.html"), html.as_bytes())
}

/// Writes the model, the leaderboard, the report and the run record,
/// timing the write; they appear in `--out` together, when all are
/// written.
pub fn write_outputs(
    s: &TrainSettings,
    outputs: &Outputs<'_>,
    mut record: RunRecord,
    budget: &Budget,
) -> Result<RunRecord> {
    let (model, board) = (outputs.model, outputs.board);
    model
        .check()
        .map_err(|e| Error::Training(format!("the final model can't be saved: {e}")))?;
    let before = budget.elapsed();
    let staged = Staged::new(&s.out)?;
    model.save(&staged.path("model.json"))?;
    if let Some(importance) = &model.meta.importance {
        let json =
            serde_json::to_string_pretty(importance).map_err(|e| Error::output(&s.out, e))?;
        write_atomic(&staged.path("importance.json"), json.as_bytes())?;
    }
    board.write(staged.folder())?;
    write_report(&staged, outputs, &s.out)?;
    write_atomic(&staged.path(super::checkpoint::FILE), outputs.checkpoint)?;
    record.timings.write = budget.elapsed() - before;
    record.timings.total = budget.elapsed();
    let json = serde_json::to_string_pretty(&record).map_err(|e| Error::output(&s.out, e))?;
    write_atomic(&staged.path("run.json"), json.as_bytes())?;
    staged.publish()?;
    if model.meta.importance.is_none() {
        // Not measured this time: an earlier run's file would describe
        // another model.
        let stale = s.out.join("importance.json");
        if let Err(e) = std::fs::remove_file(&stale) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(Error::output(&stale, e));
            }
        }
    }
    Ok(record)
}
