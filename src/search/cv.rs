//! Cross-validation: folds are encoded once (preprocessing fitted on each
//! fold's training rows only), then every trial fits on a fold's training
//! rows and is scored on its held-out rows through the portable model.
//! Clustering has one "fold": fitted on every row, scored on a sample of
//! them. Anomaly detectors are also compared across folds: the rows each
//! fold's detector flags give the stability score.

use std::time::Instant;

use rayon::prelude::*;

use crate::data::split::complement;
use crate::data::{Dataset, Target, Task};
use crate::learners::space::Params;
use crate::learners::{Cancel, Family, TrainSet};
use crate::metrics::unsupervised::{adjusted_rand, average_precision, jaccard, Clustering};
use crate::metrics::{auc_of, Metric};
use crate::model::{Estimator, Predictions};
use crate::prep::Prep;

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
    /// Row numbers (in the dataset) of the training rows.
    pub train_rows: Vec<usize>,
    /// Row numbers of the held-out rows.
    pub valid_rows: Vec<usize>,
}

/// Encodes every fold of `data` given held-out row sets. A clustering run
/// trains on every row and scores on the held-out sample.
pub fn encode_folds(data: &Dataset, held_out: &[Vec<usize>]) -> crate::error::Result<Vec<Fold>> {
    let kinds = Prep::kinds(&data.inputs);
    held_out
        .par_iter()
        .map(|valid_rows| {
            let train_rows = if data.task == Task::Cluster {
                (0..data.inputs.rows).collect()
            } else {
                complement(data.inputs.rows, valid_rows)
            };
            let train_table = data.inputs.take(&train_rows);
            let valid_table = data.inputs.take(valid_rows);
            let prep = Prep::fit_with(&train_table, &kinds);
            Ok(Fold {
                train: Encoded::new(&prep, &train_table)?,
                valid: Encoded::new(&prep, &valid_table)?,
                train_target: data.target.take(&train_rows),
                valid_target: data.target.take(valid_rows),
                prep,
                valid_rows: valid_rows.clone(),
                train_rows,
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
    /// For a detector: every dataset row this fold's model flags, sorted.
    pub flagged: Vec<usize>,
    /// For a supervised task: the held-out rows' predictions, for
    /// ensemble selection.
    pub predictions: Option<Predictions>,
}

/// What a trial is asked to do, apart from the data.
#[derive(Debug, Clone)]
pub struct TrialSpec {
    /// Learner family.
    pub family: Family,
    /// Its hyperparameters.
    pub params: Params,
    /// The task.
    pub task: Task,
    /// Metrics to report, primary first.
    pub metrics: Vec<Metric>,
    /// Seed for the learner.
    pub seed: u64,
    /// Share of rows a detector flags.
    pub contamination: Option<f64>,
}

/// Why a fold produced no score.
#[derive(Debug, Clone)]
pub enum FoldError {
    /// The learner failed.
    Failed(String),
    /// The time budget ran out before the fold started.
    OutOfTime,
    /// The run was asked to stop.
    Stopped,
}

/// Fits and scores a trial on every fold, in parallel. A fold that would
/// start after `deadline` is not run.
pub fn cross_validate(
    spec: &TrialSpec,
    folds: &[Fold],
    deadline: Option<Instant>,
    cancel: &Cancel,
) -> Result<Vec<FoldScore>, FoldError> {
    let mut scores = folds
        .par_iter()
        .enumerate()
        .map(|(i, fold)| {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(FoldError::OutOfTime);
            }
            if cancel.cancelled() {
                return Err(FoldError::Stopped);
            }
            let mut score = score_fold(spec, fold, cancel)?;
            if i > 0 {
                score.estimator = None;
            }
            Ok(score)
        })
        .collect::<Result<Vec<FoldScore>, FoldError>>()?;
    if let Some(at) = spec.metrics.iter().position(|m| *m == Metric::Stability) {
        set_stability(&mut scores, at);
    }
    Ok(scores)
}

/// Each fold's stability: its flagged rows' mean Jaccard overlap with every
/// other fold's, so the mean over folds is the mean pairwise overlap.
fn set_stability(scores: &mut [FoldScore], at: usize) {
    let k = scores.len();
    let values: Vec<f64> = (0..k)
        .map(|i| {
            let others = (0..k).filter(|&j| j != i);
            let total: f64 = others
                .map(|j| jaccard(&scores[i].flagged, &scores[j].flagged))
                .sum();
            total / (k - 1).max(1) as f64
        })
        .collect();
    for (s, v) in scores.iter_mut().zip(values) {
        s.metrics[at] = v;
    }
}

fn score_fold(spec: &TrialSpec, fold: &Fold, cancel: &Cancel) -> Result<FoldScore, FoldError> {
    let learner = spec.family.learner();
    let scaled = learner.scaled();
    let train = TrainSet {
        x: fold.train.features(scaled),
        n: fold.train.n,
        d: fold.train.d,
        target: &fold.train_target,
        contamination: spec.contamination,
        cancel,
    };
    let started = Instant::now();
    let estimator = learner
        .fit(&train, &spec.params, spec.seed)
        .map_err(FoldError::Failed)?;
    if !estimator.as_kind().finite() {
        // JSON can't hold it: such a model could be saved but not loaded.
        return Err(FoldError::Failed(
            "the fitted model holds a number that is not finite".into(),
        ));
    }
    let fit_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    // The same scorer as `Model::predict_features`, on rows this fold's
    // preprocessing already encoded: CV scores what will be deployed.
    let width = estimator.width(fold.valid_target.width());
    let pred = score_in_blocks(&estimator, &fold.valid, scaled, width, cancel)?;
    let predict_seconds = started.elapsed().as_secs_f64();
    if pred.outputs.iter().any(|v| !v.is_finite()) {
        return Err(FoldError::Failed(
            "the model predicted a non-finite value".into(),
        ));
    }
    let metrics = if spec.task.is_supervised() {
        spec.metrics
            .iter()
            .map(|m| m.compute(&fold.valid_target, &pred))
            .collect()
    } else {
        unsupervised_metrics(spec, fold, &pred)?
    };
    let flagged = if spec.task == Task::Anomaly {
        flagged_rows(&estimator, fold, scaled)
    } else {
        Vec::new()
    };
    Ok(FoldScore {
        metrics,
        fit_seconds,
        predict_seconds,
        rows: fold.valid.n,
        model_bytes: serde_json::to_vec(&estimator).map_or(0, |v| v.len()),
        estimator: Some(estimator),
        flagged,
        predictions: spec.task.is_supervised().then_some(pred),
    })
}

/// Rows scored between two looks at `cancel`: scoring kNN on a large fold
/// takes as long as a fit.
const SCORE_BLOCK: usize = 2048;

/// `Estimator::score_rows` on `block`, a slice of rows at a time, giving up
/// between slices when the trial is cancelled.
fn score_in_blocks(
    estimator: &Estimator,
    block: &Encoded,
    scaled: bool,
    width: usize,
    cancel: &Cancel,
) -> Result<Predictions, FoldError> {
    let x = block.features(scaled);
    if block.d == 0 {
        return Ok(estimator.score_rows(x, block.d, width));
    }
    let mut outputs = Vec::with_capacity(block.n * width);
    for rows in x.chunks(SCORE_BLOCK * block.d) {
        if cancel.cancelled() {
            return Err(FoldError::Stopped);
        }
        outputs.extend(estimator.score_rows(rows, block.d, width).outputs);
    }
    Ok(Predictions { outputs, width })
}

/// Cluster and anomaly metrics of the held-out rows. Stability is filled
/// in once every fold is done.
fn unsupervised_metrics(
    spec: &TrialSpec,
    fold: &Fold,
    pred: &Predictions,
) -> Result<Vec<f64>, FoldError> {
    let first: Vec<f64> = (0..pred.rows()).map(|r| pred.row(r)[0]).collect();
    let truth = match &fold.valid_target {
        Target::Classes { y, .. } => y.as_slice(),
        _ => &[],
    };
    if spec.task == Task::Cluster {
        let labels: Vec<i64> = first.iter().map(|v| *v as i64).collect();
        let found = Clustering {
            x: &fold.valid.scaled,
            d: fold.valid.d,
            labels: &labels,
        };
        let clusters = found.clusters().len();
        if clusters < 2 {
            return Err(FoldError::Failed(format!(
                "found {clusters} cluster(s) in the scored rows; ranking needs two or more"
            )));
        }
        return Ok(spec
            .metrics
            .iter()
            .map(|m| match m {
                Metric::Silhouette => found.silhouette(),
                Metric::BalancedSilhouette => found.silhouette() * found.balance(),
                Metric::CalinskiHarabasz => found.calinski_harabasz(),
                Metric::DaviesBouldin => found.davies_bouldin(),
                Metric::AdjustedRand => adjusted_rand(truth, &labels),
                _ => f64::NAN,
            })
            .collect());
    }
    let scored = || -> Vec<(f64, bool)> {
        first
            .iter()
            .zip(truth)
            .map(|(s, y)| (*s, *y == 1))
            .collect()
    };
    Ok(spec
        .metrics
        .iter()
        .map(|m| match m {
            Metric::RocAuc => auc_of(scored()),
            Metric::AveragePrecision => average_precision(scored()),
            _ => f64::NAN,
        })
        .collect())
}

/// Dataset rows (training and held-out) that a detector flags.
fn flagged_rows(estimator: &Estimator, fold: &Fold, scaled: bool) -> Vec<usize> {
    let mut out = Vec::new();
    for (block, rows) in [
        (&fold.train, &fold.train_rows),
        (&fold.valid, &fold.valid_rows),
    ] {
        let pred = estimator.score_rows(block.features(scaled), block.d, 2);
        out.extend(
            (0..pred.rows())
                .filter(|&r| pred.row(r)[1] == 1.0)
                .map(|r| rows[r]),
        );
    }
    out.sort_unstable();
    out
}
