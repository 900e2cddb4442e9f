//! The training path end to end, as the library runs it for `automl train`:
//! validated [`settings`] → the [`plan`] (data, metric, families, folds) →
//! encode the folds → search → the [`final_model`] → the outputs and the
//! [`record`]. The budget covers it all.

pub mod checkpoint;
pub mod final_model;
pub mod plan;
pub mod record;
pub mod settings;

use std::sync::Arc;
use std::time::Instant;

pub use plan::{Plan, CLUSTER_SCORE_ROWS};
pub use record::{RunRecord, SchemaColumn, Timings};
pub use settings::{TrainConfig, TrainSettings, DEFAULT_CONTAMINATION};

use crate::error::{Error, Result};
use crate::leaderboard::Leaderboard;
use crate::model::Model;
use crate::output::check_out_dir;
use crate::page::{self, ReportData};
use crate::search::budget::{self, Stop};
use crate::search::{self, cv, importance, Budget, Event, Phase, SearchConfig};

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
/// `started` is when the command began: the budget counts from there. When
/// `stop` is requested the search ends, the best model so far is kept and
/// written (without a refit), and the run record says `interrupted`. Work
/// given up at the deadline is cancelled and waited for: when this returns,
/// no thread of the run is still working (a library fit in progress can't
/// stop inside, so this may be that fit's remaining time after the budget).
pub fn train(
    settings: &TrainConfig,
    started: Instant,
    stop: &Stop,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainReport> {
    let budget = budget(settings, started, stop);
    let report = run(settings, &budget, on_event);
    budget.join_abandoned();
    report
}

/// [`train`] for a program that exits as soon as this returns, as `automl
/// train` does: cancelled work still inside a library fit is left to end
/// with the process rather than waited for, so the command keeps to its
/// budget. The outputs are written either way.
pub fn train_then_exit(
    settings: &TrainConfig,
    started: Instant,
    stop: &Stop,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainReport> {
    run(settings, &budget(settings, started, stop), on_event)
}

fn budget(settings: &TrainConfig, started: Instant, stop: &Stop) -> Budget {
    Budget::new(started, settings.time_budget, settings.max_trials).with_stop(stop.clone())
}

fn run(
    settings: &TrainConfig,
    budget: &Budget,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainReport> {
    check_out_dir(&settings.out)?;
    let (replay, mut writer) = checkpoint::start(settings)?;
    let report = run_writing(settings, budget, replay, &mut writer, on_event);
    writer.finish(report.is_ok());
    report
}

/// [`run`] with the trials of a run it resumes (`replay`), writing the
/// checkpoint with `writer` as the search goes.
fn run_writing(
    settings: &TrainConfig,
    budget: &Budget,
    replay: Vec<search::Trial>,
    writer: &mut checkpoint::Writer,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainReport> {
    on_event(Event::Phase(Phase::Load));
    let plan = Plan::reading(settings, &mut |n| on_event(Event::Records(n)))?;
    writer.hash_data(plan.data_path(settings))?;
    for note in &plan.notes {
        on_event(Event::Note(note));
    }
    let mut timings = Timings {
        load: budget.elapsed(),
        ..Timings::default()
    };
    on_event(Event::Phase(Phase::Encode));
    let folds = Arc::new(cv::encode_folds(&plan.dataset, &plan.held_out)?);
    let config = SearchConfig {
        families: plan.families.clone(),
        metric: plan.metric,
        seed: settings.seed,
        budget: budget.clone(),
        contamination: plan.contamination,
        ensemble: settings.ensemble,
        replay,
    };
    on_event(Event::Phase(Phase::Search));
    let outcome = search::run(&plan.dataset, Arc::clone(&folds), &config, &mut |e| {
        if let Event::Trial { trial, .. } = &e {
            if let Err(err) = writer.record(trial) {
                on_event(Event::Note(&format!("checkpoint not written: {err}")));
            }
        }
        on_event(e);
    });
    if let Some(why) = &outcome.diverged {
        return Err(Error::Training(format!(
            "--resume: the search no longer follows the checkpoint: {why}"
        )));
    }
    timings.search = budget.elapsed() - timings.load;
    timings.refit_estimate = outcome.refit_seconds;
    timings.write_reserve = outcome.write_seconds;
    let (task, labelled) = (plan.dataset.task, plan.dataset.labelled());
    let leaderboard = Leaderboard::new(task, plan.metric, labelled, &outcome.trials);
    let best = final_model::winner(&outcome.trials, &leaderboard, budget)?;
    on_event(Event::Phase(Phase::Refit));
    let meta = final_model::meta(&plan.dataset, best, plan.metric, settings.seed);
    let validation = plan.validation();
    let topic = plan.topic;
    let (metric, dataset) = (plan.metric, Arc::new(plan.dataset));
    let fitted = final_model::final_model(
        &dataset,
        best,
        &outcome,
        &folds[0],
        meta,
        budget,
        config.contamination,
    )?;
    timings.refit = budget.elapsed() - timings.load - timings.search;
    let measuring = budget.elapsed();
    let mut fitted = fitted;
    let measured = importance_of(
        &folds,
        &outcome,
        best,
        &dataset,
        metric,
        budget,
        settings.seed,
    );
    match measured {
        Ok(importance) => fitted.model.meta.importance = Some(importance),
        Err(why) => on_event(Event::Note(&format!(
            "feature importance not measured: {why}"
        ))),
    }
    timings.importance = budget.elapsed() - measuring;
    let ran = record::Ran {
        notes: plan.notes.clone(),
        dataset: &dataset,
        metric,
        validation,
        trials: &outcome.trials,
        best,
    };
    let mut record = RunRecord::new(settings, ran, &fitted, timings);
    record.interrupted = budget.stopped();
    record.topic_offsets = topic.map_or(Vec::new(), |t| t.ranges);
    on_event(Event::Phase(Phase::Write));
    let gathering = budget.elapsed();
    let report = ReportData::gather(&page::Run {
        data: &dataset,
        folds: &folds,
        trials: &outcome.trials,
        metric,
        model: &fitted.model,
        fold_models: &outcome.best_fold_models,
        scaled: best.reads_scaled(),
    })?;
    record.timings.report = budget.elapsed() - gathering;
    let model = fitted.model;
    let checkpoint = writer.json()?;
    let outputs = record::Outputs {
        model: &model,
        board: &leaderboard,
        report: &report,
        checkpoint: &checkpoint,
    };
    let record = record::write_outputs(settings, &outputs, record, budget)?;
    Ok(TrainReport {
        leaderboard,
        model,
        record,
    })
}

/// The winner's permutation importance on the folds, in the time left
/// before writing its outputs; why not, if it can't be measured.
fn importance_of(
    folds: &[cv::Fold],
    outcome: &search::SearchOutcome,
    best: &search::Trial,
    dataset: &crate::data::Dataset,
    metric: crate::metrics::Metric,
    budget: &Budget,
    seed: u64,
) -> std::result::Result<crate::model::Importance, String> {
    let write = budget::write_reserve(best.model_bytes);
    let (task, models) = (dataset.task, &outcome.best_fold_models);
    importance::measure_winner(folds, models, best, task, metric, budget, write, seed)
}
