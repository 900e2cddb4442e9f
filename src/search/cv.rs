//! Cross-validation: folds are encoded once (preprocessing fitted on each
//! fold's training rows only), then every trial fits on a fold's training
//! rows and is scored on its held-out rows through the portable model.
//! Clustering has one "fold": fitted on every row, scored on a sample of
//! them. Anomaly detectors are also compared across folds: the rows each
//! fold's detector flags give the stability score. On large data scored
//! on one holdout split, every supervised trial is first fitted on a rung
//! of a quarter of the training rows (one rung of successive halving).

use std::time::Instant;

use rand::seq::index::sample;
use rand::SeedableRng;
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

    /// The rows numbered `rows`, in that order.
    fn take(&self, rows: &[usize]) -> Encoded {
        let pick = |m: &[f64]| -> Vec<f64> {
            rows.iter()
                .flat_map(|&r| &m[r * self.d..(r + 1) * self.d])
                .copied()
                .collect()
        };
        Encoded {
            raw: pick(&self.raw),
            scaled: pick(&self.scaled),
            n: rows.len(),
            d: self.d,
        }
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
    /// On a single holdout split of supervised data: the rung every
    /// trial is fitted on first.
    pub rung: Option<Rung>,
}

/// Every how many training rows the rung keeps one.
pub const RUNG_SHARE: usize = 4;
/// Seeds the rung's sample: the same rows for every trial, so trials are
/// compared there on equal terms.
const RUNG_SEED: u64 = 0x52554e47;

/// A seeded quarter of a holdout split's training rows, encoded by the
/// fold's preprocessing. A trial fitted there and scored on the holdout
/// that clearly loses to its rival (scored the same way) is never fitted
/// on all of them: the large-data counterpart of racing on the folds.
#[derive(Debug, Clone)]
pub struct Rung {
    /// The rung's training rows.
    pub train: Encoded,
    /// Their target.
    pub target: Target,
}

impl Rung {
    /// The rung of `fold`: a quarter of its training rows, in their order.
    fn of(fold: &Fold) -> Rung {
        let n = fold.train.n;
        let mut rng = rand::rngs::StdRng::seed_from_u64(RUNG_SEED);
        let mut rows = sample(&mut rng, n, n / RUNG_SHARE).into_vec();
        rows.sort_unstable();
        Rung {
            train: fold.train.take(&rows),
            target: fold.train_target.take(&rows),
        }
    }
}

/// Encodes every fold of `data` given held-out row sets. A clustering run
/// trains on every row and scores on the held-out sample; supervised data
/// on one holdout split gets its [`Rung`].
pub fn encode_folds(data: &Dataset, held_out: &[Vec<usize>]) -> crate::error::Result<Vec<Fold>> {
    let mut folds = encode_each(data, held_out)?;
    if let [fold] = folds.as_mut_slice() {
        if data.task.is_supervised() {
            fold.rung = Some(Rung::of(fold));
        }
    }
    Ok(folds)
}

fn encode_each(data: &Dataset, held_out: &[Vec<usize>]) -> crate::error::Result<Vec<Fold>> {
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
                rung: None,
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
    /// The lowered model this fold scored: the first fold's is deployed as
    /// scored when refitting on all rows would overrun the budget, and every
    /// fold's measures the winner's feature importance on its held-out rows.
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
    /// The trial lost its race: what it scored up to there.
    Pruned(Scored),
}

/// What a trial scored.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Each fold's scores; for a trial pruned on the rung, the rung's.
    pub folds: Vec<FoldScore>,
    /// On a fold with a rung: the primary metric's loss of the rung's
    /// model on each half of the held-out rows, what a race compares.
    pub rung: Vec<f64>,
}

/// A race against a rival trial. With several folds a trial first runs as
/// many folds as the rival has losses; on a holdout split with a rung it is
/// fitted on the rung and scored on each half of the held-out rows. It goes
/// on only if it has not clearly lost there: worse than the rival on each
/// of those parts and, on their mean, by more than `margin` (the rival's
/// spread across its parts). A configuration that would come close is not
/// stopped, since that spread is larger than the paired differences
/// between good ones.
#[derive(Debug, Clone)]
pub struct Race {
    /// The rival's loss on each part.
    pub rival: Vec<f64>,
    /// How much worse on their mean counts as lost.
    pub margin: f64,
}

impl Race {
    /// Whether `losses` (one per part) lose.
    pub fn lost(&self, losses: &[f64]) -> bool {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let worse_on_each =
            losses.len() == self.rival.len() && losses.iter().zip(&self.rival).all(|(a, b)| a > b);
        worse_on_each && mean(losses) - mean(&self.rival) > self.margin
    }
}

/// Fits and scores a trial on every fold, in parallel; first on the rung
/// if the fold has one, then with a `race`, its first folds first, stopping
/// there if the trial lost. A fold that would start after `deadline` is
/// not run.
pub fn cross_validate(
    spec: &TrialSpec,
    folds: &[Fold],
    deadline: Option<Instant>,
    cancel: &Cancel,
    race: Option<&Race>,
) -> Result<Scored, FoldError> {
    if let Some((fold, rung)) = folds.first().and_then(|f| Some((f, f.rung.as_ref()?))) {
        let (score, halves) = score_rung(spec, fold, rung, deadline, cancel)?;
        if race.is_some_and(|r| r.lost(&halves)) {
            let folds = vec![score];
            return Err(FoldError::Pruned(Scored {
                folds,
                rung: halves,
            }));
        }
        let folds = score_folds(spec, folds, deadline, cancel)?;
        return Ok(Scored {
            folds,
            rung: halves,
        });
    }
    let first = race.map_or(folds.len(), |r| r.rival.len().min(folds.len()));
    let mut scores = score_folds(spec, &folds[..first], deadline, cancel)?;
    let pruned = |scores: Vec<FoldScore>| {
        FoldError::Pruned(Scored {
            folds: scores,
            rung: vec![],
        })
    };
    if first < folds.len() {
        let losses: Vec<f64> = scores.iter().map(|s| s.loss(spec.metrics[0])).collect();
        if race.is_some_and(|r| r.lost(&losses)) {
            return Err(pruned(scores));
        }
        scores.extend(score_folds(spec, &folds[first..], deadline, cancel)?);
    }
    if let Some(at) = spec.metrics.iter().position(|m| *m == Metric::Stability) {
        set_stability(&mut scores, at);
    }
    Ok(Scored {
        folds: scores,
        rung: Vec::new(),
    })
}

/// A trial fitted on `rung` and scored on all of `fold`'s held-out rows
/// (no model kept), and its primary loss on each half of them (alternate
/// rows).
fn score_rung(
    spec: &TrialSpec,
    fold: &Fold,
    rung: &Rung,
    deadline: Option<Instant>,
    cancel: &Cancel,
) -> Result<(FoldScore, Vec<f64>), FoldError> {
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Err(FoldError::OutOfTime);
    }
    let mut score = score_fit(spec, &rung.train, &rung.target, fold, cancel)?;
    score.estimator = None;
    let pred = score
        .predictions
        .take()
        .ok_or_else(|| FoldError::Failed("a supervised model gave no predictions".into()))?;
    let halves = (0..2)
        .map(|h| {
            let rows: Vec<usize> = (h..fold.valid.n).step_by(2).collect();
            let value = spec.metrics[0].compute(&fold.valid_target.take(&rows), &pred.take(&rows));
            spec.metrics[0].loss(value)
        })
        .collect();
    Ok((score, halves))
}

/// Scores `folds` in parallel, each keeping its model.
fn score_folds(
    spec: &TrialSpec,
    folds: &[Fold],
    deadline: Option<Instant>,
    cancel: &Cancel,
) -> Result<Vec<FoldScore>, FoldError> {
    folds
        .par_iter()
        .map(|fold| {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(FoldError::OutOfTime);
            }
            if cancel.cancelled() {
                return Err(FoldError::Stopped);
            }
            score_fold(spec, fold, cancel)
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
    score_fit(spec, &fold.train, &fold.train_target, fold, cancel)
}

/// Fits on `rows` and scores on `fold`'s held-out rows.
fn score_fit(
    spec: &TrialSpec,
    rows: &Encoded,
    target: &Target,
    fold: &Fold,
    cancel: &Cancel,
) -> Result<FoldScore, FoldError> {
    let learner = spec.family.learner();
    let scaled = learner.scaled();
    let train = TrainSet {
        x: rows.features(scaled),
        n: rows.n,
        d: rows.d,
        target,
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
pub(crate) mod tests {
    use super::*;
    use crate::data::{self, Dataset};

    fn race(rival: Vec<f64>, margin: f64) -> Race {
        Race { rival, margin }
    }

    /// ROC AUCs as losses.
    fn aucs(values: &[f64]) -> Vec<f64> {
        values.iter().map(|&v| Metric::RocAuc.loss(v)).collect()
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

    fn titanic() -> Dataset {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/titanic.csv");
        let table = data::load(&path, &[]).unwrap();
        data::prepare(table, "survived", &[], None).unwrap()
    }

    /// A linear trial at the middle of its space, scored by ROC AUC.
    pub(crate) fn linear_spec(ds: &Dataset) -> TrialSpec {
        let space = Family::Linear.learner().space(ds.task);
        TrialSpec {
            family: Family::Linear,
            params: Params::decode(&space, &vec![0.5; space.len()]),
            task: ds.task,
            metrics: vec![Metric::RocAuc],
            seed: 7,
            contamination: None,
        }
    }

    #[test]
    fn a_lost_race_stops_after_its_folds_and_a_close_one_runs_them_all() {
        let ds = titanic();
        let folds = encode_folds(&ds, &data::split::folds(&ds.target, 5, 3)).unwrap();
        assert!(
            folds.iter().all(|f| f.rung.is_none()),
            "folds race on folds"
        );
        let spec = linear_spec(&ds);
        let cancel = Cancel::new();
        let perfect = race(vec![-1.0, -1.0], 0.0);
        match cross_validate(&spec, &folds, None, &cancel, Some(&perfect)) {
            Err(FoldError::Pruned(Scored { folds: scores, .. })) => {
                assert_eq!(scores.len(), 2);
                assert!(scores.iter().all(|s| s.estimator.is_some()));
            }
            other => panic!("expected a pruned trial, got {other:?}"),
        }
        let hopeless = race(vec![0.0, 0.0], 0.0);
        let all = cross_validate(&spec, &folds, None, &cancel, Some(&hopeless))
            .unwrap()
            .folds;
        let plain = cross_validate(&spec, &folds, None, &cancel, None)
            .unwrap()
            .folds;
        assert_eq!(all.len(), 5);
        let values = |s: &[FoldScore]| s.iter().map(|f| f.metrics[0]).collect::<Vec<_>>();
        assert_eq!(values(&all), values(&plain));
        assert!(
            all.iter().all(|s| s.estimator.is_some()),
            "every fold's model"
        );
    }

    #[test]
    fn a_holdout_fits_on_a_quarter_first_and_stops_there_when_it_clearly_loses() {
        let ds = titanic();
        let folds = encode_folds(&ds, &[(0..ds.inputs.rows).step_by(5).collect()]).unwrap();
        let rung = folds[0].rung.as_ref().expect("a holdout split has a rung");
        assert_eq!(rung.train.n, folds[0].train.n / RUNG_SHARE);
        assert_eq!(rung.target.rows(), rung.train.n);
        let (spec, cancel) = (linear_spec(&ds), Cancel::new());
        let perfect = race(vec![-1.0, -1.0], 0.0);
        match cross_validate(&spec, &folds, None, &cancel, Some(&perfect)) {
            Err(FoldError::Pruned(Scored {
                folds: scores,
                rung,
            })) => {
                assert_eq!((scores.len(), rung.len()), (1, 2));
                assert!(
                    scores[0].estimator.is_none(),
                    "a rung's model is never deployed"
                );
                assert!(rung.iter().all(|l| *l > -1.0));
            }
            other => panic!("expected a trial pruned on the rung, got {other:?}"),
        }
        let hopeless = race(vec![0.0, 0.0], 0.0);
        let raced = cross_validate(&spec, &folds, None, &cancel, Some(&hopeless)).unwrap();
        let plain = cross_validate(&spec, &folds, None, &cancel, None).unwrap();
        assert_eq!(raced.rung, plain.rung);
        assert_eq!(raced.folds[0].metrics, plain.folds[0].metrics);
        assert!(
            raced.folds[0].estimator.is_some(),
            "the holdout's model is kept"
        );
    }
}
