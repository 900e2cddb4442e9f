//! The training path end to end, as the library runs it for `automl train`:
//! load → prepare → fold and encode → search → refit the winner on all rows
//! → write the model, leaderboard and run record. The budget covers it all.

use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::data::split::HOLDOUT_ROWS;
use crate::data::{self, Dataset, Task};
use crate::error::{Error, Result};
use crate::leaderboard::Leaderboard;
use crate::learners::clustering::DBSCAN_MAX_ROWS;
use crate::learners::{Family, TrainSet};
use crate::metrics::Metric;
use crate::model::{Model, ModelMeta, FORMAT_VERSION};
use crate::output::{prepare_dir, write_atomic};
use crate::prep::{ColumnKind, Prep};
use crate::search::{self, cv, Budget, Event, SearchConfig, Status, Trial};

/// Everything `automl train` was asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSettings {
    /// Data file.
    pub data: PathBuf,
    /// Target column (supervised tasks).
    pub target: Option<String>,
    /// Column to score clusters or anomaly scores against; never used to fit.
    pub label: Option<String>,
    /// Share of training rows a detector flags (anomaly task).
    pub contamination: Option<f64>,
    /// Forced task, else inferred.
    pub task: Option<Task>,
    /// Columns to drop.
    pub ignore: Vec<String>,
    /// Primary metric, else the task's default.
    pub metric: Option<Metric>,
    /// CV folds (data over `HOLDOUT_ROWS` rows uses one holdout split).
    pub folds: usize,
    /// Seed.
    pub seed: u64,
    /// Wall-clock budget in seconds for the whole command.
    pub time_budget: Option<f64>,
    /// Most trials to run.
    pub max_trials: Option<usize>,
    /// Families to try (empty: all that fit the task).
    pub families: Vec<Family>,
    /// Output folder.
    pub out: PathBuf,
}

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
    /// Writing outputs.
    pub write: f64,
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
    /// Trials run (ok or failed).
    pub trials: usize,
    /// Winning model id.
    pub best: String,
    /// How the saved model was fitted: on all rows, or (when refitting would
    /// have overrun the budget) the winner's first-fold model as scored.
    pub final_fit: String,
    /// Phase timings.
    pub timings: Timings,
}

/// What a finished training run produced.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// The leaderboard.
    pub leaderboard: Leaderboard,
    /// The final model (also in `out/model.json`).
    pub model: Model,
    /// The run record (also in `out/run.json`).
    pub record: RunRecord,
}

/// Runs training as configured, reporting progress through `on_event`.
/// `started` is when the command began: the budget counts from there.
pub fn train(
    settings: &TrainSettings,
    started: Instant,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainReport> {
    check(settings)?;
    prepare_dir(&settings.out)?;
    let budget = Budget {
        start: started,
        seconds: settings.time_budget,
        max_trials: settings.max_trials,
    };
    let dataset = load_dataset(settings)?;
    let labelled = dataset.labelled();
    let metric = settings
        .metric
        .unwrap_or(Metric::default_for(dataset.task, labelled));
    if !metric.fits(dataset.task, labelled) {
        return Err(Error::Settings(format!(
            "metric {metric} does not apply to a{} {} task",
            if dataset.task.is_supervised() || labelled {
                ""
            } else {
                "n unlabelled"
            },
            dataset.task
        )));
    }
    let families = families(settings, dataset.task, dataset.inputs.rows)?;
    let mut timings = Timings {
        load: budget.elapsed(),
        ..Timings::default()
    };
    let held_out = held_out_rows(&dataset, settings);
    let k = held_out.len();
    let folds = Arc::new(cv::encode_folds(&dataset, &held_out)?);
    let config = SearchConfig {
        families,
        metric,
        seed: settings.seed,
        budget,
        contamination: contamination(settings, dataset.task),
    };
    let outcome = search::run(&dataset, Arc::clone(&folds), &config, on_event);
    timings.search = budget.elapsed() - timings.load;
    let leaderboard = Leaderboard::new(dataset.task, metric, labelled, &outcome.trials);
    let best = match winner(&outcome.trials, &leaderboard) {
        Ok(best) => best,
        Err(e) => {
            // The failed trials' errors are the useful part of such a run.
            leaderboard.write(&settings.out)?;
            return Err(e);
        }
    };
    let meta = meta(&dataset, best, metric, settings.seed);
    let dataset = Arc::new(dataset);
    let (model, final_fit) = final_model(
        &dataset,
        best,
        &outcome,
        &folds[0],
        meta,
        &budget,
        config.contamination,
    )?;
    timings.refit = budget.elapsed() - timings.load - timings.search;
    let record = RunRecord {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        settings: settings.clone(),
        task: dataset.task,
        metric,
        rows: dataset.inputs.rows,
        dropped_rows: dataset.dropped_rows,
        validation: match (dataset.task, k) {
            (Task::Cluster, _) => format!("all rows, scored on {}", folds[0].valid.n),
            (_, 1) => "holdout".into(),
            _ => format!("{k}-fold"),
        },
        schema: schema(&model.prep),
        trials: outcome
            .trials
            .iter()
            .filter(|t| !matches!(t.status, Status::Skipped(_)))
            .count(),
        best: best.model_id.clone(),
        final_fit,
        timings,
    };
    let record = write_outputs(settings, &model, &leaderboard, record, &budget)?;
    Ok(TrainReport {
        leaderboard,
        model,
        record,
    })
}

/// Clustering scores on at most this many rows: the silhouette compares
/// every pair of them.
pub const CLUSTER_SCORE_ROWS: usize = 2_000;
/// Share of rows flagged when `--contamination` is not given.
pub const DEFAULT_CONTAMINATION: f64 = 0.05;

fn load_dataset(s: &TrainSettings) -> Result<Dataset> {
    let table = data::load(&s.data)?;
    match (s.task, &s.target) {
        (Some(task), _) if !task.is_supervised() => {
            data::prepare_unsupervised(table, task, s.label.as_deref(), &s.ignore)
        }
        (_, Some(target)) => data::prepare(table, target, &s.ignore, s.task),
        (_, None) => Err(Error::Settings(
            "--target is required (or --task cluster / --task anomaly, which take none)".into(),
        )),
    }
}

fn contamination(s: &TrainSettings, task: Task) -> Option<f64> {
    (task == Task::Anomaly).then(|| s.contamination.unwrap_or(DEFAULT_CONTAMINATION))
}

/// Held-out rows of each fold. Clustering fits on every row and scores a
/// sample; detectors always get k folds, which stability compares; large
/// supervised data uses one holdout split.
fn held_out_rows(data: &Dataset, s: &TrainSettings) -> Vec<Vec<usize>> {
    let n = data.inputs.rows;
    match data.task {
        Task::Cluster => {
            let mut rows: Vec<usize> = (0..n).collect();
            let mut rng = rand::rngs::StdRng::seed_from_u64(s.seed);
            rows.shuffle(&mut rng);
            rows.truncate(CLUSTER_SCORE_ROWS);
            rows.sort_unstable();
            vec![rows]
        }
        Task::Anomaly => data::split::folds(&data.target, s.folds, s.seed),
        _ if n > HOLDOUT_ROWS => data::split::folds(&data.target, 1, s.seed),
        _ => data::split::folds(&data.target, s.folds, s.seed),
    }
}

fn check(s: &TrainSettings) -> Result<()> {
    let unsupervised = s.task.is_some_and(|t| !t.is_supervised());
    if unsupervised && s.target.is_some() {
        return Err(Error::Settings(
            "clustering and anomaly detection take no --target; use --label COL to score against a column"
                .into(),
        ));
    }
    if !unsupervised && s.label.is_some() {
        return Err(Error::Settings(
            "--label is for --task cluster or --task anomaly; supervised tasks use --target".into(),
        ));
    }
    if let Some(c) = s.contamination {
        if s.task != Some(Task::Anomaly) {
            return Err(Error::Settings(
                "--contamination is for --task anomaly".into(),
            ));
        }
        if !(c > 0.0 && c < 0.5) {
            return Err(Error::Settings(format!(
                "--contamination must be between 0 and 0.5, not {c}"
            )));
        }
    }
    if let Some(b) = s.time_budget {
        if !(b > 0.0 && b.is_finite()) {
            return Err(Error::Settings(format!(
                "--time-budget must be a positive number of seconds, not {b}"
            )));
        }
    }
    if s.max_trials == Some(0) {
        return Err(Error::Settings("--max-trials must be at least 1".into()));
    }
    if s.folds < 2 {
        return Err(Error::Settings(format!(
            "--folds must be at least 2, not {}",
            s.folds
        )));
    }
    Ok(())
}

fn families(s: &TrainSettings, task: Task, rows: usize) -> Result<Vec<Family>> {
    let asked: Vec<Family> = if s.families.is_empty() {
        Family::ALL.to_vec()
    } else {
        s.families.clone()
    };
    let usable: Vec<Family> = asked
        .into_iter()
        .filter(|f| f.learner().supports(task))
        .filter(|f| *f != Family::Dbscan || rows <= DBSCAN_MAX_ROWS)
        .collect();
    if usable.is_empty() {
        return Err(Error::Settings(format!(
            "none of the chosen families handles a {task} task"
        )));
    }
    Ok(usable)
}

fn winner<'a>(trials: &'a [Trial], board: &Leaderboard) -> Result<&'a Trial> {
    board
        .rows
        .first()
        .filter(|r| r.status == "ok")
        .and_then(|r| trials.iter().find(|t| t.model_id == r.model_id))
        .ok_or_else(|| {
            let failed = trials
                .iter()
                .filter(|t| matches!(t.status, Status::Failed(_)))
                .count();
            Error::Training(if failed > 0 {
                format!("all {failed} trials failed; see the leaderboard for their errors")
            } else {
                "no trial could finish within the time budget; raise --time-budget".into()
            })
        })
}

fn meta(data: &Dataset, best: &Trial, metric: Metric, seed: u64) -> ModelMeta {
    ModelMeta {
        family: best.family.name().to_string(),
        params: best.params.to_json(),
        model_id: best.model_id.clone(),
        metric: metric.name().to_string(),
        cv_score: best.metric(metric).unwrap_or(f64::NAN),
        trained_rows: data.inputs.rows,
        seed,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// The model to save: the winner refitted on all rows when that fits in the
/// time left, else the winner's first-fold model (the one scored on the
/// leaderboard). The refit runs on a worker thread so that one slower than
/// estimated is abandoned at the deadline rather than breaking the budget.
fn final_model(
    data: &Arc<Dataset>,
    best: &Trial,
    outcome: &search::SearchOutcome,
    fold: &cv::Fold,
    meta: ModelMeta,
    budget: &Budget,
    contamination: Option<f64>,
) -> Result<(Model, String)> {
    if data.task == Task::Cluster {
        // The clustering "fold" already trained on every row.
        let (prep, estimator) = kept_fold_model(best, outcome, fold)?;
        return Ok((
            assemble(data, prep, estimator, meta),
            "fitted on all rows during the search".into(),
        ));
    }
    let left = budget.remaining() - search::WRITE_RESERVE;
    let affordable = outcome
        .refit_seconds
        .is_none_or(|s| s * search::SAFETY <= left);
    if affordable {
        let (tx, rx) = mpsc::channel();
        let (shared, family, params, seed) = (
            Arc::clone(data),
            best.family,
            best.params.clone(),
            best.seed,
        );
        std::thread::spawn(move || {
            let run = std::panic::AssertUnwindSafe(|| {
                refit(&shared, family, &params, seed, contamination)
            });
            let result = std::panic::catch_unwind(run).unwrap_or_else(|_| {
                Err(Error::Training(format!(
                    "refitting {family} on all rows panicked in its library"
                )))
            });
            let _ = tx.send(result);
        });
        let result = match budget.deadline_before(search::WRITE_RESERVE) {
            Some(d) => rx
                .recv_timeout(d.saturating_duration_since(Instant::now()))
                .ok(),
            None => rx.recv().ok(),
        };
        if let Some(fitted) = result {
            let (prep, estimator) = fitted?;
            return Ok((
                assemble(data, prep, estimator, meta),
                "refit on all rows".into(),
            ));
        }
    }
    let (prep, estimator) = kept_fold_model(best, outcome, fold)?;
    let mut meta = meta;
    meta.trained_rows = fold.train.n;
    Ok((
        assemble(data, prep, estimator, meta),
        "first-fold model: refitting on all rows would not fit in the time budget".into(),
    ))
}

/// The winner's model from the first fold, as it was scored, with that
/// fold's preprocessing.
fn kept_fold_model(
    best: &Trial,
    outcome: &search::SearchOutcome,
    fold: &cv::Fold,
) -> Result<(Prep, crate::model::Estimator)> {
    let estimator = outcome
        .best_fold_model
        .clone()
        .ok_or_else(|| Error::Training("the best trial's model was not kept".into()))?;
    let mut prep = fold.prep.clone();
    if !best.family.learner().scaled() {
        prep.scaler = None;
    }
    Ok((prep, estimator))
}

fn assemble(
    data: &Dataset,
    prep: Prep,
    estimator: crate::model::Estimator,
    meta: ModelMeta,
) -> Model {
    Model {
        format_version: FORMAT_VERSION,
        task: data.task,
        target: data.target_name.clone(),
        classes: match &data.target {
            data::Target::Classes { labels, .. } if data.task.is_supervised() => labels.clone(),
            _ => Vec::new(),
        },
        prep,
        estimator,
        meta,
    }
}

/// Fits a configuration on every row, preprocessing included.
fn refit(
    data: &Dataset,
    family: Family,
    params: &crate::learners::space::Params,
    seed: u64,
    contamination: Option<f64>,
) -> Result<(Prep, crate::model::Estimator)> {
    let learner = family.learner();
    let mut prep = Prep::fit(&data.inputs);
    let (mut x, d) = prep.encode_table(&data.inputs)?;
    if learner.scaled() {
        prep.scale_matrix(&mut x, d);
    } else {
        prep.scaler = None;
    }
    let set = TrainSet {
        x: &x,
        n: data.inputs.rows,
        d,
        target: &data.target,
        contamination,
    };
    let estimator = learner
        .fit(&set, params, seed)
        .map_err(|e| Error::Training(format!("refitting {family} on all rows failed: {e}")))?;
    Ok((prep, estimator))
}

fn schema(prep: &Prep) -> Vec<SchemaColumn> {
    prep.columns
        .iter()
        .map(|c| SchemaColumn {
            name: c.name.clone(),
            kind: c.kind,
            features: c.width(),
        })
        .collect()
}

fn write_outputs(
    s: &TrainSettings,
    model: &Model,
    board: &Leaderboard,
    mut record: RunRecord,
    budget: &Budget,
) -> Result<RunRecord> {
    let before = budget.elapsed();
    model.save(&s.out.join("model.json"))?;
    board.write(&s.out)?;
    record.timings.write = budget.elapsed() - before;
    record.timings.total = budget.elapsed();
    let json = serde_json::to_string_pretty(&record).map_err(|e| Error::output(&s.out, e))?;
    write_atomic(&s.out.join("run.json"), json.as_bytes())?;
    Ok(record)
}
