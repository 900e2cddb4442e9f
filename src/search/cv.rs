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

impl FoldScore {
    /// The loss of `primary`, the first of the metrics this fold reports.
    pub fn loss(&self, primary: Metric) -> f64 {
        primary.loss(self.metrics[0])
    }
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
    /// The trial lost its race: the scores of the folds it ran.
    Pruned(Vec<FoldScore>),
}

/// A race against a rival trial: a trial first runs `folds` folds and goes
/// on only if it has not clearly lost there. Clearly lost means worse than
/// the rival on each of those folds and, on their mean, by more than
/// `margin` (the rival's standard deviation over all its folds): a
/// configuration that would come close is not stopped, since fold-to-fold
/// spread is larger than the paired differences between good ones.
#[derive(Debug, Clone)]
pub struct Race {
    /// Folds run before the check.
    pub folds: usize,
    /// The rival's loss on each of them.
    pub rival: Vec<f64>,
    /// How much worse on their mean counts as lost.
    pub margin: f64,
    /// The primary metric, whose losses are compared.
    pub metric: Metric,
}

impl Race {
    /// Whether `scores` (the first folds, primary metric first) lose.
    pub fn lost(&self, scores: &[FoldScore]) -> bool {
        let losses: Vec<f64> = scores.iter().map(|s| s.loss(self.metric)).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let worse_on_each =
            losses.len() == self.rival.len() && losses.iter().zip(&self.rival).all(|(a, b)| a > b);
        worse_on_each && mean(&losses) - mean(&self.rival) > self.margin
    }
}

/// Fits and scores a trial on every fold, in parallel; with a `race`, its
/// first folds first, stopping there if the trial lost. A fold that would
/// start after `deadline` is not run.
pub fn cross_validate(
    spec: &TrialSpec,
    folds: &[Fold],
    deadline: Option<Instant>,
    cancel: &Cancel,
    race: Option<&Race>,
) -> Result<Vec<FoldScore>, FoldError> {
    let first = race.map_or(folds.len(), |r| r.folds.min(folds.len()));
    let mut scores = score_folds(spec, &folds[..first], 0, deadline, cancel)?;
    if first < folds.len() {
        if race.is_some_and(|r| r.lost(&scores)) {
            return Err(FoldError::Pruned(scores));
        }
        scores.extend(score_folds(spec, &folds[first..], first, deadline, cancel)?);
    }
    if let Some(at) = spec.metrics.iter().position(|m| *m == Metric::Stability) {
        set_stability(&mut scores, at);
    }
    Ok(scores)
}

/// Scores `folds` (the first of them fold number `offset`) in parallel;
/// only fold 0 keeps its model.
fn score_folds(
    spec: &TrialSpec,
    folds: &[Fold],
    offset: usize,
    deadline: Option<Instant>,
    cancel: &Cancel,
) -> Result<Vec<FoldScore>, FoldError> {
    folds
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
            if offset + i > 0 {
                score.estimator = None;
            }
            Ok(score)
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data;

    fn race(rival: Vec<f64>, margin: f64) -> Race {
        Race {
            folds: rival.len(),
            rival,
            margin,
            metric: Metric::RocAuc,
        }
    }

    fn aucs(values: &[f64]) -> Vec<FoldScore> {
        values
            .iter()
            .map(|&v| FoldScore {
                metrics: vec![v],
                fit_seconds: 0.0,
                predict_seconds: 0.0,
                rows: 1,
                model_bytes: 0,
                estimator: None,
                flagged: Vec::new(),
                predictions: None,
            })
            .collect()
    }

    #[test]
    fn a_race_is_lost_only_when_worse_on_every_fold_and_by_more_than_the_margin() {
        // Rival AUCs 0.9 and 0.8 are losses -0.9 and -0.8.
        let r = race(vec![-0.9, -0.8], 0.02);
        assert!(r.lost(&aucs(&[0.85, 0.75])));
        assert!(!r.lost(&aucs(&[0.89, 0.79])), "within the margin");
        assert!(!r.lost(&aucs(&[0.95, 0.6])), "better on one fold");
        assert!(!r.lost(&aucs(&[0.5])), "fewer folds than the race");
    }

    #[test]
    fn a_lost_race_stops_after_its_folds_and_a_close_one_runs_them_all() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/titanic.csv");
        let table = data::load(&path, &[]).unwrap();
        let ds = data::prepare(table, "survived", &[], None).unwrap();
        let folds = encode_folds(&ds, &data::split::folds(&ds.target, 5, 3)).unwrap();
        let space = Family::Linear.learner().space(ds.task);
        let spec = TrialSpec {
            family: Family::Linear,
            params: Params::decode(&space, &vec![0.5; space.len()]),
            task: ds.task,
            metrics: vec![Metric::RocAuc],
            seed: 7,
            contamination: None,
        };
        let cancel = Cancel::new();
        let perfect = race(vec![-1.0, -1.0], 0.0);
        match cross_validate(&spec, &folds, None, &cancel, Some(&perfect)) {
            Err(FoldError::Pruned(scores)) => {
                assert_eq!(scores.len(), 2);
                assert!(scores[0].estimator.is_some() && scores[1].estimator.is_none());
            }
            other => panic!("expected a pruned trial, got {other:?}"),
        }
        let hopeless = race(vec![0.0, 0.0], 0.0);
        let all = cross_validate(&spec, &folds, None, &cancel, Some(&hopeless)).unwrap();
        let plain = cross_validate(&spec, &folds, None, &cancel, None).unwrap();
        assert_eq!(all.len(), 5);
        let values = |s: &[FoldScore]| s.iter().map(|f| f.metrics[0]).collect::<Vec<_>>();
        assert_eq!(values(&all), values(&plain));
        assert!(all[0].estimator.is_some() && all[1..].iter().all(|s| s.estimator.is_none()));
    }
}
