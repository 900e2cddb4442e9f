//! What the report draws, gathered once at the end of a run and kept in
//! `report.json`: the search's trajectory and, from out-of-fold
//! predictions (each fold's model on its held-out rows), the task's
//! curves, matrix or points; for clustering and anomaly detection, the
//! saved model's view of a sample of the rows.

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Target, Task};
use crate::error::Result;
use crate::metrics::unsupervised::average_precision;
use crate::metrics::{auc_of, Metric};
use crate::model::{argmax, Estimator, Model, Predictions};
use crate::search::cv::Fold;
use crate::search::{Status, Trial};

/// Points of a curve or a scatter.
pub type Points = Vec<(f64, f64)>;

/// Points kept per curve, and rows per scatter, at most.
pub const MAX_POINTS: usize = 400;
/// Rows sampled for the cluster projection and the score histogram.
pub const MAX_ROWS: usize = 5_000;

/// Everything the report's charts draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    /// The task.
    pub task: Task,
    /// The primary metric's name.
    pub metric: String,
    /// Whether a higher metric is better.
    pub higher_is_better: bool,
    /// The winner's id.
    pub model_id: String,
    /// Every scored trial in the order it finished.
    pub trajectory: Vec<Step>,
    /// The task's own view of the winner.
    pub outcomes: Outcomes,
}

/// One finished trial on the search's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Seconds since the run started.
    pub seconds: f64,
    /// Its family (`ensemble` for an ensemble).
    pub family: String,
    /// Its primary metric.
    pub value: f64,
}

/// A curve: its points and the area the metric gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// The class it is drawn for (positives).
    pub class: String,
    /// (x, y) points in order.
    pub points: Vec<(f64, f64)>,
    /// ROC AUC or average precision.
    pub area: f64,
}

/// The winner seen through its task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcomes {
    /// Out-of-fold ROC and precision–recall curves (one per class, the
    /// second class only for a binary task) and the confusion matrix.
    Classification {
        /// Class names.
        classes: Vec<String>,
        /// ROC curves (false positive rate, true positive rate).
        roc: Vec<Curve>,
        /// Precision–recall curves (recall, precision).
        pr: Vec<Curve>,
        /// Counts, `[actual][predicted]`.
        confusion: Vec<Vec<usize>>,
    },
    /// Out-of-fold (actual, predicted) pairs, a sample.
    Regression {
        /// The pairs.
        points: Vec<(f64, f64)>,
    },
    /// The saved model's clusters on a sample of the rows.
    Cluster {
        /// Rows per cluster (`-1`: noise).
        sizes: Vec<(i64, usize)>,
        /// Rows projected on their first two principal components, with
        /// their cluster.
        projection: Vec<(f64, f64, i64)>,
    },
    /// The saved model's anomaly scores on a sample of the rows.
    Anomaly {
        /// The scores.
        scores: Vec<f64>,
        /// Scores above it are flagged.
        threshold: f64,
    },
}

impl ReportData {
    /// The report data of a run: its trials, and the winner `model` with
    /// its model from each fold (`fold_models`, for out-of-fold
    /// predictions) on `data`.
    pub fn gather(run: &Run<'_>) -> Result<ReportData> {
        let metric = run.metric;
        Ok(ReportData {
            task: run.data.task,
            metric: metric.name().to_string(),
            higher_is_better: metric.higher_is_better(),
            model_id: run.model.meta.model_id.clone(),
            trajectory: trajectory(run.trials, metric),
            outcomes: run.outcomes()?,
        })
    }
}

/// What [`ReportData::gather`] reads.
pub struct Run<'a> {
    /// The data set trained on.
    pub data: &'a Dataset,
    /// The folds.
    pub folds: &'a [Fold],
    /// Every trial.
    pub trials: &'a [Trial],
    /// The primary metric.
    pub metric: Metric,
    /// The saved model.
    pub model: &'a Model,
    /// The winner's model from each fold (empty if not kept).
    pub fold_models: &'a [Estimator],
    /// Whether the winner reads standardised features.
    pub scaled: bool,
}

fn trajectory(trials: &[Trial], metric: Metric) -> Vec<Step> {
    let mut steps: Vec<Step> = trials
        .iter()
        .filter(|t| t.status == Status::Ok)
        .filter_map(|t| {
            Some(Step {
                seconds: t.finished,
                family: t.family_name().to_string(),
                value: t.metric(metric)?,
            })
        })
        .collect();
    steps.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    steps
}

impl Run<'_> {
    fn outcomes(&self) -> Result<Outcomes> {
        Ok(match self.data.task {
            Task::Cluster => self.clusters()?,
            Task::Anomaly => self.anomalies()?,
            _ => self.out_of_fold(),
        })
    }

    /// Each fold's model on its held-out rows, with their target.
    fn held_out(&self) -> Vec<(Predictions, &Target)> {
        self.folds
            .iter()
            .zip(self.fold_models)
            .map(|(fold, model)| {
                let valid = &fold.valid;
                let width = model.width(fold.valid_target.width());
                let pred = model.score_rows(valid.features(self.scaled), valid.d, width);
                (pred, &fold.valid_target)
            })
            .collect()
    }

    fn out_of_fold(&self) -> Outcomes {
        let held = self.held_out();
        match &self.data.target {
            Target::Classes { labels, .. } => classification(labels, &held),
            _ => {
                let points = held
                    .iter()
                    .flat_map(|(pred, target)| match target {
                        Target::Values(v) => {
                            (0..pred.rows()).map(|r| (v[r], pred.row(r)[0])).collect()
                        }
                        _ => Vec::new(),
                    })
                    .collect::<Vec<_>>();
                Outcomes::Regression {
                    points: thin(points, MAX_POINTS * 5),
                }
            }
        }
    }

    /// The saved model's outputs on up to [`MAX_ROWS`] rows, evenly
    /// spread, with those rows' encoded (standardised) features.
    fn sample(&self) -> Result<(Predictions, Vec<f64>, usize)> {
        let n = self.data.inputs.rows;
        let rows: Vec<usize> = (0..n).step_by(n.div_ceil(MAX_ROWS).max(1)).collect();
        let table = self.data.inputs.take(&rows);
        let (mut x, d) = self.model.prep.encode_table(&table)?;
        self.model.prep.scale_matrix(&mut x, d);
        let pred = self.model.predict_features(&x, d);
        Ok((pred, x, d))
    }

    fn clusters(&self) -> Result<Outcomes> {
        let (pred, x, d) = self.sample()?;
        let labels: Vec<i64> = (0..pred.rows()).map(|r| pred.row(r)[0] as i64).collect();
        let mut sizes: Vec<(i64, usize)> = Vec::new();
        for &l in &labels {
            match sizes.iter_mut().find(|(c, _)| *c == l) {
                Some((_, n)) => *n += 1,
                None => sizes.push((l, 1)),
            }
        }
        sizes.sort_unstable();
        let (a, b) = principal_plane(&x, d);
        let projection = x
            .chunks_exact(d.max(1))
            .zip(&labels)
            .map(|(row, l)| (dot(row, &a), dot(row, &b), *l))
            .collect();
        Ok(Outcomes::Cluster {
            sizes,
            projection: thin(projection, MAX_POINTS * 5),
        })
    }

    fn anomalies(&self) -> Result<Outcomes> {
        let (pred, _, _) = self.sample()?;
        Ok(Outcomes::Anomaly {
            scores: (0..pred.rows()).map(|r| pred.row(r)[0]).collect(),
            threshold: self.model.estimator.threshold().unwrap_or(f64::NAN),
        })
    }
}

/// Curves per class and the confusion matrix of out-of-fold predictions.
fn classification(labels: &[String], held: &[(Predictions, &Target)]) -> Outcomes {
    let k = labels.len();
    let mut confusion = vec![vec![0; k]; k];
    let mut scored: Vec<(Vec<f64>, usize)> = Vec::new();
    for (pred, target) in held {
        let Target::Classes { y, .. } = target else {
            continue;
        };
        for (r, &actual) in y.iter().enumerate() {
            let p = pred.row(r);
            confusion[actual][argmax(p)] += 1;
            scored.push((p.to_vec(), actual));
        }
    }
    let classes: Vec<usize> = if k == 2 { vec![1] } else { (0..k).collect() };
    let (mut roc, mut pr) = (Vec::new(), Vec::new());
    for c in classes {
        let pairs: Vec<(f64, bool)> = scored.iter().map(|(p, y)| (p[c], *y == c)).collect();
        let (roc_points, pr_points) = curves(&pairs);
        let class = labels[c].clone();
        roc.push(Curve {
            class: class.clone(),
            points: thin(roc_points, MAX_POINTS),
            area: auc_of(pairs.clone()),
        });
        pr.push(Curve {
            class,
            points: thin(pr_points, MAX_POINTS),
            area: average_precision(pairs),
        });
    }
    Outcomes::Classification {
        classes: labels.to_vec(),
        roc,
        pr,
        confusion,
    }
}

/// The ROC curve (false positive rate, true positive rate) and the
/// precision–recall curve (recall, precision) of scored rows, one point
/// per distinct score, highest first.
pub fn curves(scored: &[(f64, bool)]) -> (Points, Points) {
    let mut sorted = scored.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = sorted.iter().filter(|s| s.1).count().max(1) as f64;
    let negatives = (sorted.len() as f64 - positives).max(1.0);
    let (mut roc, mut pr) = (vec![(0.0, 0.0)], Vec::new());
    let (mut tp, mut fp, mut i) = (0.0, 0.0, 0);
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            if sorted[j].1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        roc.push((fp / negatives, tp / positives));
        pr.push((tp / positives, tp / (tp + fp)));
        i = j;
    }
    (roc, pr)
}

/// At most `most` of `points`, evenly spread, the last one kept.
fn thin<T: Clone>(points: Vec<T>, most: usize) -> Vec<T> {
    if points.len() <= most {
        return points;
    }
    let step = points.len().div_ceil(most);
    let last = points.last().cloned();
    let mut kept: Vec<T> = points.into_iter().step_by(step).collect();
    kept.extend(last);
    kept
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The first two principal directions of rows `x` (`d` values each), by
/// power iteration on their covariance with the first deflated; the rows
/// are standardised already, so their means are near zero and are taken
/// out here all the same.
fn principal_plane(x: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len().checked_div(d).unwrap_or(0);
    if n == 0 || d == 0 {
        return (vec![0.0; d], vec![0.0; d]);
    }
    let mean: Vec<f64> = (0..d)
        .map(|j| x.chunks_exact(d).map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let mut cov = vec![0.0; d * d];
    for row in x.chunks_exact(d) {
        for i in 0..d {
            for j in 0..d {
                cov[i * d + j] += (row[i] - mean[i]) * (row[j] - mean[j]);
            }
        }
    }
    let first = power_iteration(&cov, d);
    let lambda = rayleigh(&cov, &first, d);
    for i in 0..d {
        for j in 0..d {
            cov[i * d + j] -= lambda * first[i] * first[j];
        }
    }
    let second = power_iteration(&cov, d);
    (first, second)
}

fn power_iteration(m: &[f64], d: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..d).map(|i| 1.0 + i as f64 / d as f64).collect();
    for _ in 0..200 {
        let next: Vec<f64> = (0..d).map(|i| dot(&m[i * d..(i + 1) * d], &v)).collect();
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            break;
        }
        v = next.iter().map(|x| x / norm).collect();
    }
    v
}

fn rayleigh(m: &[f64], v: &[f64], d: usize) -> f64 {
    (0..d).map(|i| v[i] * dot(&m[i * d..(i + 1) * d], v)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_run_from_nothing_to_everything_flagged() {
        let scored = [(0.9, true), (0.8, false), (0.7, true), (0.1, false)];
        let (roc, pr) = curves(&scored);
        assert_eq!(
            roc,
            [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
        assert_eq!(pr[0], (0.5, 1.0));
        assert_eq!(pr[3], (1.0, 0.5));
    }

    #[test]
    fn the_principal_plane_of_a_line_is_along_it() {
        let x: Vec<f64> = (0..50)
            .flat_map(|i| [i as f64, 2.0 * i as f64, 0.0])
            .collect();
        let (a, _) = principal_plane(&x, 3);
        let expected = [1.0 / 5f64.sqrt(), 2.0 / 5f64.sqrt(), 0.0];
        for (a, e) in a.iter().zip(expected) {
            assert!((a.abs() - e).abs() < 1e-9, "{a:?}");
        }
    }

    #[test]
    fn thinning_keeps_the_ends() {
        let kept = thin((0..1000).collect(), 10);
        assert!(kept.len() <= 11 && kept[0] == 0 && *kept.last().unwrap() == 999);
    }
}
