//! Scores of predictions against truth: ROC AUC, log loss, accuracy, F1 for
//! classes; RMSE, MAE and R² for values; silhouette, Calinski–Harabasz,
//! Davies–Bouldin and adjusted Rand for clusters; ROC AUC, average precision
//! and stability for anomaly scores. The leaderboard ranks trials by one of
//! them (the primary metric) and shows the others beside it.

pub mod unsupervised;

use serde::{Deserialize, Serialize};

use crate::data::{Target, Task};
use crate::model::{argmax, Predictions};

/// Probabilities are clipped to `[EPS, 1 - EPS]` in log loss, as in
/// scikit-learn, so one confident mistake costs a lot but not infinity.
const EPS: f64 = 1e-15;

/// A metric that can rank trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Metric {
    /// Area under the ROC curve (binary: of the second class; multiclass:
    /// mean one-vs-rest).
    RocAuc,
    /// Mean negative log-likelihood of the true class.
    LogLoss,
    /// Share of rows whose most probable class is the true one.
    Accuracy,
    /// F1 of the second class (binary) or mean over classes (multiclass).
    F1,
    /// Root mean squared error.
    Rmse,
    /// Mean absolute error.
    Mae,
    /// Coefficient of determination.
    R2,
    /// Mean silhouette of the clustered rows (noise counts 0).
    Silhouette,
    /// The silhouette times the clusters' balance (the entropy of their
    /// shares over ln k): one big cluster beside a few far-off rows, which
    /// the silhouette alone rates highly, scores low.
    BalancedSilhouette,
    /// Calinski–Harabasz index: between- over within-cluster dispersion.
    CalinskiHarabasz,
    /// Davies–Bouldin index: mean worst-case cluster overlap (lower is better).
    DaviesBouldin,
    /// Adjusted Rand index of the clusters against `--label`.
    AdjustedRand,
    /// Average precision of the anomaly score against `--label`.
    AveragePrecision,
    /// Mean Jaccard overlap of the rows flagged by the detectors fitted on
    /// different folds: how little the flagged set depends on the sample.
    Stability,
}

impl Metric {
    /// Name as shown in tables and files.
    pub fn name(self) -> &'static str {
        match self {
            Metric::RocAuc => "roc_auc",
            Metric::LogLoss => "log_loss",
            Metric::Accuracy => "accuracy",
            Metric::F1 => "f1",
            Metric::Rmse => "rmse",
            Metric::Mae => "mae",
            Metric::R2 => "r2",
            Metric::Silhouette => "silhouette",
            Metric::BalancedSilhouette => "balanced_silhouette",
            Metric::CalinskiHarabasz => "calinski_harabasz",
            Metric::DaviesBouldin => "davies_bouldin",
            Metric::AdjustedRand => "adjusted_rand",
            Metric::AveragePrecision => "average_precision",
            Metric::Stability => "stability",
        }
    }

    /// Whether larger values are better.
    pub fn higher_is_better(self) -> bool {
        !matches!(
            self,
            Metric::LogLoss | Metric::Rmse | Metric::Mae | Metric::DaviesBouldin
        )
    }

    /// The default primary metric of a task; `labelled` says whether an
    /// unsupervised task has a `--label` column to score against.
    pub fn default_for(task: Task, labelled: bool) -> Metric {
        Metric::all_for(task, labelled)[0]
    }

    /// The metrics reported for a task, primary default first.
    pub fn all_for(task: Task, labelled: bool) -> &'static [Metric] {
        match task {
            Task::Cluster if labelled => &[
                Metric::BalancedSilhouette,
                Metric::Silhouette,
                Metric::CalinskiHarabasz,
                Metric::DaviesBouldin,
                Metric::AdjustedRand,
            ],
            Task::Cluster => &[
                Metric::BalancedSilhouette,
                Metric::Silhouette,
                Metric::CalinskiHarabasz,
                Metric::DaviesBouldin,
            ],
            Task::Anomaly if labelled => {
                &[Metric::RocAuc, Metric::AveragePrecision, Metric::Stability]
            }
            Task::Anomaly => &[Metric::Stability],
            Task::Binary => &[
                Metric::RocAuc,
                Metric::LogLoss,
                Metric::Accuracy,
                Metric::F1,
            ],
            Task::Multiclass => &[
                Metric::LogLoss,
                Metric::Accuracy,
                Metric::F1,
                Metric::RocAuc,
            ],
            Task::Regression => &[Metric::Rmse, Metric::Mae, Metric::R2],
        }
    }

    /// Whether the metric applies to a task.
    pub fn fits(self, task: Task, labelled: bool) -> bool {
        Metric::all_for(task, labelled).contains(&self)
    }

    /// The metric of supervised predictions `pred` against `truth`.
    pub fn compute(self, truth: &Target, pred: &Predictions) -> f64 {
        match truth {
            Target::Classes { y, labels } => classification(self, y, labels.len(), pred),
            Target::Values(v) => regression(self, v, pred),
            Target::Unlabelled(_) => f64::NAN,
        }
    }

    /// The metric as a loss (lower is better), for the search.
    pub fn loss(self, value: f64) -> f64 {
        if self.higher_is_better() {
            -value
        } else {
            value
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn classification(m: Metric, y: &[usize], k: usize, pred: &Predictions) -> f64 {
    match m {
        Metric::RocAuc if k == 2 => auc(y, 1, pred),
        Metric::RocAuc => (0..k).map(|c| auc(y, c, pred)).sum::<f64>() / k as f64,
        Metric::LogLoss => {
            let total: f64 = y
                .iter()
                .enumerate()
                .map(|(r, &c)| -pred.row(r)[c].clamp(EPS, 1.0 - EPS).ln())
                .sum();
            total / y.len().max(1) as f64
        }
        Metric::Accuracy => {
            let hits = y
                .iter()
                .enumerate()
                .filter(|(r, &c)| argmax(pred.row(*r)) == c)
                .count();
            hits as f64 / y.len().max(1) as f64
        }
        Metric::F1 => {
            // Each row's predicted class once: per class it would cost
            // rows × classes², minutes with a thousand classes.
            let predicted: Vec<usize> = (0..y.len()).map(|r| argmax(pred.row(r))).collect();
            if k == 2 {
                f1(y, &predicted, 1)
            } else {
                (0..k).map(|c| f1(y, &predicted, c)).sum::<f64>() / k as f64
            }
        }
        _ => f64::NAN,
    }
}

/// ROC AUC of class `c` against the rest, with ties counted half
/// (Mann–Whitney U).
fn auc(y: &[usize], c: usize, pred: &Predictions) -> f64 {
    auc_of(
        y.iter()
            .enumerate()
            .map(|(r, &t)| (pred.row(r)[c], t == c))
            .collect(),
    )
}

/// ROC AUC of (score, is positive) pairs.
pub fn auc_of(mut scored: Vec<(f64, bool)>) -> f64 {
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = scored.iter().filter(|s| s.1).count() as f64;
    let negatives = scored.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return 0.5;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < scored.len() {
        let mut j = i;
        while j < scored.len() && scored[j].0 == scored[i].0 {
            j += 1;
        }
        let mid_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += mid_rank * scored[i..j].iter().filter(|s| s.1).count() as f64;
        i = j;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

fn f1(y: &[usize], predicted: &[usize], c: usize) -> f64 {
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for (&t, &p) in y.iter().zip(predicted) {
        match (p == c, t == c) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            _ => {}
        }
    }
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fn_)
    }
}

fn regression(m: Metric, v: &[f64], pred: &Predictions) -> f64 {
    let n = v.len().max(1) as f64;
    let err = v.iter().enumerate().map(|(r, t)| pred.row(r)[0] - t);
    match m {
        Metric::Rmse => (err.map(|e| e * e).sum::<f64>() / n).sqrt(),
        Metric::Mae => err.map(f64::abs).sum::<f64>() / n,
        Metric::R2 => {
            let mean = v.iter().sum::<f64>() / n;
            let ss_tot: f64 = v.iter().map(|t| (t - mean).powi(2)).sum();
            let ss_res: f64 = err.map(|e| e * e).sum();
            if ss_tot == 0.0 {
                0.0
            } else {
                1.0 - ss_res / ss_tot
            }
        }
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probs(p: &[f64]) -> Predictions {
        Predictions {
            outputs: p.iter().flat_map(|x| [1.0 - x, *x]).collect(),
            width: 2,
        }
    }

    #[test]
    fn auc_counts_ties_half() {
        let y = [0, 0, 1, 1];
        assert_eq!(auc(&y, 1, &probs(&[0.1, 0.4, 0.35, 0.8])), 0.75);
        assert_eq!(auc(&y, 1, &probs(&[0.5, 0.5, 0.5, 0.5])), 0.5);
        assert_eq!(auc(&y, 1, &probs(&[0.1, 0.2, 0.3, 0.4])), 1.0);
    }

    #[test]
    fn log_loss_and_accuracy() {
        let t = Target::Classes {
            labels: vec!["a".into(), "b".into()],
            y: vec![0, 1],
        };
        let p = probs(&[0.2, 0.9]);
        let expect = -((0.8f64).ln() + (0.9f64).ln()) / 2.0;
        assert!((Metric::LogLoss.compute(&t, &p) - expect).abs() < 1e-12);
        assert_eq!(Metric::Accuracy.compute(&t, &p), 1.0);
    }

    #[test]
    fn regression_metrics() {
        let t = Target::Values(vec![1.0, 2.0, 3.0]);
        let p = Predictions {
            outputs: vec![1.0, 2.0, 5.0],
            width: 1,
        };
        assert!((Metric::Rmse.compute(&t, &p) - (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((Metric::Mae.compute(&t, &p) - 2.0 / 3.0).abs() < 1e-12);
        assert!((Metric::R2.compute(&t, &p) - (1.0 - 4.0 / 2.0)).abs() < 1e-12);
    }
}
