//! The final model: the winner refitted on every row when that fits in
//! the time left, else the winner's first-fold model as it was scored.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::data::{self, Dataset, Task};
use crate::error::{Error, Result};
use crate::leaderboard::Leaderboard;
use crate::learners::space::Params;
use crate::learners::{fit_members_all_rows, Cancel, Family};
use crate::metrics::Metric;
use crate::model::drift::Reference;
use crate::model::estimator::{Ensemble, Member};
use crate::model::{Estimator, Model, ModelMeta, FORMAT_VERSION};
use crate::prep::Prep;
use crate::search::budget::Finished;
use crate::search::{cv, Budget, Recipe, SearchOutcome, Status, Trial};

/// The saved model and how it was fitted (for `run.json`).
pub struct FinalModel {
    /// The model.
    pub model: Model,
    /// `refit on all rows`, or why not.
    pub fit: String,
}

/// The leaderboard's winner among the search's trials.
pub fn winner<'a>(trials: &'a [Trial], board: &Leaderboard, budget: &Budget) -> Result<&'a Trial> {
    if budget.stopped() && !trials.iter().any(|t| t.status == Status::Ok) {
        return Err(Error::Interrupted(
            "stopped before any trial finished; nothing was written".into(),
        ));
    }
    board
        .rows
        .first()
        .filter(|r| r.status == "ok")
        .and_then(|r| trials.iter().find(|t| t.model_id == r.model_id))
        .ok_or_else(|| no_winner(trials))
}

/// Why no trial won: the failures' reasons (a failed run writes no
/// files, so the message carries them), or the budget.
fn no_winner(trials: &[Trial]) -> Error {
    let failed: Vec<&Trial> = trials
        .iter()
        .filter(|t| matches!(t.status, Status::Failed(_)))
        .collect();
    let Some(first) = failed.first() else {
        return Error::Training(
            "no trial could finish within the time budget; raise --time-budget".into(),
        );
    };
    let mut reasons: Vec<&str> = Vec::new();
    for t in &failed {
        if let Status::Failed(reason) = &t.status {
            if !reasons.contains(&reason.as_str()) {
                reasons.push(reason);
            }
        }
    }
    Error::Training(format!(
        "all {} trials failed, the first ({}) with: {}",
        failed.len(),
        first.model_id,
        reasons.join("; or: ")
    ))
}

/// The model metadata of the winning trial.
pub fn meta(data: &Dataset, best: &Trial, metric: Metric, seed: u64) -> ModelMeta {
    ModelMeta {
        family: best.family_name().to_string(),
        params: params_json(&best.recipe),
        model_id: best.model_id.clone(),
        metric: metric.name().to_string(),
        cv_score: best.metric(metric).unwrap_or(f64::NAN),
        trained_rows: data.inputs.rows,
        seed,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        importance: None,
    }
}

/// A learner's hyperparameters; for an ensemble, each member's family,
/// weight and hyperparameters under its trial's id.
fn params_json(recipe: &Recipe) -> BTreeMap<String, serde_json::Value> {
    match recipe {
        Recipe::Learner { params, .. } => params.to_json(),
        Recipe::Ensemble(parts) => parts
            .iter()
            .map(|p| {
                let member = serde_json::json!({
                    "family": p.family.name(),
                    "weight": p.weight,
                    "params": p.params.to_json(),
                });
                (p.model_id.clone(), member)
            })
            .collect(),
    }
}

/// The model to save: the winner refitted on all rows when that fits in the
/// time left, else the winner's first-fold model (the one scored on the
/// leaderboard). The refit runs against the budget's deadline, so one
/// slower than estimated is abandoned rather than breaking the budget.
pub fn final_model(
    data: &Arc<Dataset>,
    best: &Trial,
    outcome: &SearchOutcome,
    fold: &cv::Fold,
    meta: ModelMeta,
    budget: &Budget,
    contamination: Option<f64>,
) -> Result<FinalModel> {
    if data.task == Task::Cluster {
        // The clustering "fold" already trained on every row.
        let (prep, estimator) = kept_fold_model(best, outcome, fold)?;
        let fit = "fitted on all rows during the search".into();
        return assemble(data, prep, estimator, meta, fit);
    }
    let write = outcome.write_seconds;
    if !budget.stopped() && outcome.refit_fits {
        let (shared, recipe, seed) = (Arc::clone(data), best.recipe.clone(), best.seed);
        let deadline = budget.deadline_before(write);
        let work = move |cancel: &Cancel| refit(&shared, &recipe, seed, contamination, cancel);
        match budget.run_until(deadline, work) {
            Finished::Done(fitted) => {
                let (prep, estimator) = fitted?;
                let fit = "refit on all rows".into();
                return assemble(data, prep, estimator, meta, fit);
            }
            Finished::Panicked => {
                return Err(Error::Training(format!(
                    "refitting {} on all rows panicked in its library",
                    best.family_name()
                )))
            }
            Finished::TimedOut | Finished::Stopped => {}
        }
    }
    let (prep, estimator) = kept_fold_model(best, outcome, fold)?;
    let mut meta = meta;
    meta.trained_rows = fold.train.n;
    let fit = if budget.stopped() {
        "first-fold model: the run was stopped before refitting on all rows"
    } else {
        "first-fold model: refitting on all rows would not fit in the time budget"
    };
    assemble(data, prep, estimator, meta, fit.into())
}

/// The winner's model from the first fold, as it was scored, with that
/// fold's preprocessing.
fn kept_fold_model(
    best: &Trial,
    outcome: &SearchOutcome,
    fold: &cv::Fold,
) -> Result<(Prep, Estimator)> {
    let estimator = outcome
        .best_fold_models
        .first()
        .cloned()
        .ok_or_else(|| Error::Training("the best trial's model was not kept".into()))?;
    let mut prep = fold.prep.clone();
    // An ensemble holds its members' scaler itself.
    if !best.reads_scaled() {
        prep.scaler = None;
    }
    Ok((prep, estimator))
}

/// The model file's content; its trees record how many training rows
/// reach each node (their cover, which reason codes weigh paths by).
fn assemble(
    data: &Dataset,
    prep: Prep,
    estimator: Estimator,
    meta: ModelMeta,
    fit: String,
) -> Result<FinalModel> {
    let mut estimator = estimator;
    let (mut x, d) = prep.encode_table(&data.inputs)?;
    prep.scale_matrix(&mut x, d);
    estimator.as_kind_mut().record_cover(&x, d);
    let mut model = Model {
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
        drift: None,
    };
    let predict = |rows: &[usize]| {
        let sample: Vec<f64> = rows
            .iter()
            .flat_map(|&r| x[r * d..(r + 1) * d].iter().copied())
            .collect();
        model.predict_features(&sample, d)
    };
    let reference = Reference::fit(
        &data.inputs,
        &model.prep,
        model.task,
        model.classes.len(),
        predict,
    );
    model.drift = Some(reference);
    Ok(FinalModel { model, fit })
}

/// Fits a trial's recipe on every row, preprocessing included: one
/// learner, or every member of an ensemble with the weights it was scored
/// with.
fn refit(
    data: &Dataset,
    recipe: &Recipe,
    seed: u64,
    contamination: Option<f64>,
    cancel: &Cancel,
) -> Result<(Prep, Estimator)> {
    match recipe {
        Recipe::Learner { family, params } => {
            crate::learners::fit_all_rows(data, *family, params, seed, contamination, cancel)
                .map_err(|e| Error::Training(format!("refitting {family} on all rows failed: {e}")))
        }
        Recipe::Ensemble(parts) => {
            let configs: Vec<(Family, &Params, u64)> = parts
                .iter()
                .map(|p| (p.family, &p.params, p.seed))
                .collect();
            let (mut prep, fitted) =
                fit_members_all_rows(data, &configs, None, cancel).map_err(|e| {
                    Error::Training(format!("refitting the ensemble on all rows failed: {e}"))
                })?;
            let members = parts
                .iter()
                .zip(fitted)
                .map(|(p, estimator)| Member {
                    scaled: p.family.learner().scaled(),
                    estimator,
                })
                .collect();
            let weights = parts.iter().map(|p| p.weight).collect();
            let scaler = prep.scaler.take();
            Ok((prep, Ensemble::of(weights, members, scaler)))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::data::{Column, Table};
    use crate::learners::TrainSet;
    use crate::search::budget::{Clock, FakeClock};
    use crate::search::{self, SearchConfig};

    /// Rows a 1-D threshold separates perfectly: every family scores an
    /// AUC of 1.0, so the winner is decided by the tie-break.
    fn separable() -> Dataset {
        let high = |i: i32| i >= 40;
        let x = (0..80).map(|i| Some(f64::from(i + if high(i) { 100 } else { 0 })));
        let y = (0..80).map(|i| Some(high(i).to_string()));
        let table = Table {
            names: vec!["x".into(), "y".into()],
            columns: vec![Column::Numbers(x.collect()), Column::Texts(y.collect())],
            rows: 80,
            markers: Vec::new(),
        };
        data::prepare(table, "y", &[], None).unwrap()
    }

    #[test]
    fn the_first_fold_fallback_saves_leaderboard_row_one() {
        let dataset = separable();
        let folds = Arc::new(
            cv::encode_folds(&dataset, &data::split::folds(&dataset.target, 4, 1)).unwrap(),
        );
        let config = SearchConfig {
            // kNN is cheaper, so it runs (and reaches AUC 1.0) first.
            families: vec![Family::Knn, Family::DecisionTree],
            metric: Metric::RocAuc,
            seed: 1,
            budget: Budget::new(Instant::now(), None, Some(2)),
            contamination: None,
            ensemble: true,
            replay: Vec::new(),
        };
        let outcome = search::run(&dataset, Arc::clone(&folds), &config, &mut |_| {});
        let scores: Vec<_> = outcome
            .trials
            .iter()
            .map(|t| t.metric(Metric::RocAuc))
            .collect();
        assert_eq!(scores, [Some(1.0), Some(1.0)], "the test needs a tie");
        let board = Leaderboard::new(Task::Binary, Metric::RocAuc, true, &outcome.trials);
        let best = winner(
            &outcome.trials,
            &board,
            &Budget::new(Instant::now(), None, None),
        )
        .unwrap();
        let (family, params) = best.learner().unwrap();
        assert_eq!(
            family,
            Family::DecisionTree,
            "registry order breaks the tie"
        );
        // A budget already spent: the refit can't run, the fold model is kept.
        let clock = Arc::new(FakeClock::new());
        let late = Budget::with_clock(clock.clone(), clock.now(), Some(1.0), None);
        clock.advance(5.0);
        let meta = meta(&dataset, best, Metric::RocAuc, 1);
        let data = Arc::new(dataset);
        let saved = final_model(&data, best, &outcome, &folds[0], meta, &late, None).unwrap();
        assert!(saved.fit.starts_with("first-fold model"));
        assert_eq!(saved.model.meta.model_id, best.model_id);
        assert_eq!(saved.model.estimator.kind(), "trees");
        assert!(
            saved.model.prep.scaler.is_none(),
            "a tree takes raw features"
        );
        let fold = &folds[0];
        let set = TrainSet {
            x: fold.train.features(false),
            n: fold.train.n,
            d: fold.train.d,
            target: &fold.train_target,
            contamination: None,
            cancel: &Cancel::default(),
        };
        let mut refit = family.learner().fit(&set, params, best.seed).unwrap();
        // The saved trees record how the training rows spread over them.
        let (x, d) = saved.model.prep.encode_table(&data.inputs).unwrap();
        refit.as_kind_mut().record_cover(&x, d);
        assert_eq!(saved.model.estimator, refit, "the estimator row 1 scored");
    }
}
