//! Cross-validation: folds are encoded once (preprocessing fitted on each
//! fold's training rows only), then every trial fits on a fold's training
//! rows and is scored on its held-out rows through the portable model.

use std::time::Instant;

use rayon::prelude::*;

use crate::data::{complement, Dataset, Target};
use crate::learners::{Family, TrainSet};
use crate::metrics::Metric;
use crate::model::Estimator;
use crate::prep::Prep;
use crate::search::space::Params;

/// An encoded block of rows: raw features and their standardised copy.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Row-major features.
    pub raw: Vec<f64>,
    /// The same, standardised with the fold's scaler.
    pub scaled: Vec<f64>,
    /// Rows.
    pub n: usize,
    /// Features.
    pub d: usize,
}

impl Encoded {
    fn new(prep: &Prep, table: &crate::data::Table) -> crate::error::Result<Encoded> {
        let (raw, d) = prep.encode_table(table)?;
        let mut scaled = raw.clone();
        prep.scale_matrix(&mut scaled, d);
        Ok(Encoded {
            raw,
            scaled,
            n: table.rows,
            d,
        })
    }

    /// The features a learner wants.
    pub fn features(&self, scaled: bool) -> &[f64] {
        if scaled {
            &self.scaled
        } else {
            &self.raw
        }
    }
}

/// One fold: its fitted preprocessing and encoded rows.
#[derive(Debug, Clone)]
pub struct Fold {
    /// Preprocessing fitted on the training rows (scaler included).
    pub prep: Prep,
    /// Training rows.
    pub train: Encoded,
    /// Held-out rows.
    pub valid: Encoded,
    /// Target of the training rows.
    pub train_target: Target,
    /// Target of the held-out rows.
    pub valid_target: Target,
}

/// Encodes every fold of `data` given held-out row sets.
pub fn encode_folds(data: &Dataset, held_out: &[Vec<usize>]) -> crate::error::Result<Vec<Fold>> {
    held_out
        .par_iter()
        .map(|valid_rows| {
            let train_rows = complement(data.inputs.rows, valid_rows);
            let train_table = data.inputs.take(&train_rows);
            let valid_table = data.inputs.take(valid_rows);
            let prep = Prep::fit(&train_table);
            Ok(Fold {
                train: Encoded::new(&prep, &train_table)?,
                valid: Encoded::new(&prep, &valid_table)?,
                train_target: data.target.take(&train_rows),
                valid_target: data.target.take(valid_rows),
                prep,
            })
        })
        .collect()
}

/// What one fold of a trial produced.
#[derive(Debug, Clone)]
pub struct FoldScore {
    /// Value of each reported metric.
    pub metrics: Vec<f64>,
    /// Seconds spent fitting.
    pub fit_seconds: f64,
    /// Seconds spent scoring the held-out rows.
    pub predict_seconds: f64,
    /// Held-out rows scored.
    pub rows: usize,
    /// Size of the lowered model in bytes (JSON).
    pub model_bytes: usize,
    /// The lowered model of the first fold, kept so that the best trial can
    /// be deployed as it was scored if refitting on all rows would overrun
    /// the budget.
    pub estimator: Option<Estimator>,
}

/// Why a fold produced no score.
#[derive(Debug, Clone)]
pub enum FoldError {
    /// The learner failed.
    Failed(String),
    /// The time budget ran out before the fold started.
    OutOfTime,
}

/// Fits and scores `family` with `params` on every fold, in parallel. A fold
/// that would start after `deadline` is not run.
pub fn cross_validate(
    family: Family,
    params: &Params,
    folds: &[Fold],
    metrics: &[Metric],
    seed: u64,
    deadline: Option<Instant>,
) -> Result<Vec<FoldScore>, FoldError> {
    folds
        .par_iter()
        .enumerate()
        .map(|(i, fold)| {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(FoldError::OutOfTime);
            }
            let mut score = score_fold(family, params, fold, metrics, seed)?;
            if i > 0 {
                score.estimator = None;
            }
            Ok(score)
        })
        .collect()
}

fn score_fold(
    family: Family,
    params: &Params,
    fold: &Fold,
    metrics: &[Metric],
    seed: u64,
) -> Result<FoldScore, FoldError> {
    let learner = family.learner();
    let scaled = learner.scaled();
    let train = TrainSet {
        x: fold.train.features(scaled),
        n: fold.train.n,
        d: fold.train.d,
        target: &fold.train_target,
    };
    let started = Instant::now();
    let estimator = learner
        .fit(&train, params, seed)
        .map_err(FoldError::Failed)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    // The same scorer as `Model::predict_features`, on rows this fold's
    // preprocessing already encoded: CV scores what will be deployed.
    let pred = estimator.score_rows(
        fold.valid.features(scaled),
        fold.valid.d,
        fold.valid_target.width(),
    );
    let predict_seconds = started.elapsed().as_secs_f64();
    if pred.outputs.iter().any(|v| !v.is_finite()) {
        return Err(FoldError::Failed(
            "the model predicted a non-finite value".into(),
        ));
    }
    Ok(FoldScore {
        metrics: metrics
            .iter()
            .map(|m| m.compute(&fold.valid_target, &pred))
            .collect(),
        fit_seconds,
        predict_seconds,
        rows: fold.valid.n,
        model_bytes: serde_json::to_vec(&estimator).map_or(0, |v| v.len()),
        estimator: Some(estimator),
    })
}
