//! Greedy ensemble selection (Caruana et al., 2004), the last step of the
//! search. The best trials of every family keep their held-out predictions
//! of every fold (the library, bounded in memory); selection then adds, a
//! round at a time and with replacement, the trial whose predictions most
//! improve the weighted mean, and keeps the best round. The result is
//! scored fold by fold with the same metrics as every trial, so it ranks
//! on the leaderboard beside them.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::learners::Family;
use crate::metrics::Metric;
use crate::model::estimator::{Ensemble, Member};
use crate::model::{kernels, Estimator, Predictions};

use super::cv::Fold;

/// Trials of one family kept in the library: diversity comes from other
/// families more than from a family's runners-up.
pub const PER_FAMILY: usize = 3;

/// Held-out predictions the library keeps at most, in bytes.
pub const MAX_PREDICTION_BYTES: usize = 256 << 20;

/// Lowered fold models the library keeps at most (JSON bytes).
pub const MAX_MODEL_BYTES: usize = 512 << 20;

/// Rounds of selection: the ensemble's weights are multiples of 1/ROUNDS.
pub const ROUNDS: usize = 25;

/// A trial kept for selection.
#[derive(Debug, Clone)]
pub struct Kept {
    /// Its trial number.
    pub number: usize,
    /// Its family.
    pub family: Family,
    /// Its cross-validated loss of the primary metric.
    pub loss: f64,
    /// Held-out predictions of each fold, in fold order.
    pub folds: Vec<Predictions>,
    /// Its model from each fold, as scored, in fold order.
    pub models: Vec<Estimator>,
    /// Size of those models (JSON bytes).
    pub model_bytes: usize,
}

impl Kept {
    fn prediction_bytes(&self) -> usize {
        self.folds.iter().map(|p| p.outputs.len() * 8).sum()
    }
}

/// The trials selection may combine.
#[derive(Debug, Clone, Default)]
pub struct Library {
    kept: Vec<Kept>,
}

impl Library {
    /// Keeps `trial` if it is among its family's best [`PER_FAMILY`], then
    /// drops the worst kept trials while the library is over its bounds;
    /// `true` if it was kept.
    pub fn offer(&mut self, trial: Kept) -> bool {
        let number = trial.number;
        self.kept.push(trial);
        self.kept
            .sort_by(|a, b| a.loss.total_cmp(&b.loss).then(a.number.cmp(&b.number)));
        let mut seen: BTreeMap<Family, usize> = BTreeMap::new();
        self.kept.retain(|k| {
            let count = seen.entry(k.family).or_insert(0);
            *count += 1;
            *count <= PER_FAMILY
        });
        while self.kept.len() > 1 && self.over_bounds() {
            self.kept.pop();
        }
        self.get(number).is_some()
    }

    /// Whether a trial of `family` with `loss` would be among its family's
    /// best [`PER_FAMILY`] (so that a model is cloned only to be kept).
    pub fn would_keep(&self, family: Family, loss: f64) -> bool {
        let better = self
            .kept
            .iter()
            .filter(|k| k.family == family && k.loss <= loss)
            .count();
        better < PER_FAMILY
    }

    fn over_bounds(&self) -> bool {
        let predictions: usize = self.kept.iter().map(Kept::prediction_bytes).sum();
        let models: usize = self.kept.iter().map(|k| k.model_bytes).sum();
        predictions > MAX_PREDICTION_BYTES || models > MAX_MODEL_BYTES
    }

    /// The kept trial numbered `number`.
    pub fn get(&self, number: usize) -> Option<&Kept> {
        self.kept.iter().find(|k| k.number == number)
    }

    /// Greedy selection over the kept trials, scored on `folds` by `metric`,
    /// stopping early at `deadline`. `None` unless the best round combines
    /// two or more trials (one trial alone is already on the leaderboard).
    pub fn select(
        &self,
        folds: &[Fold],
        metric: Metric,
        deadline: Option<Instant>,
    ) -> Option<Selection> {
        if self.kept.len() < 2 {
            return None;
        }
        let mut sums: Vec<Vec<f64>> = self.kept[0]
            .folds
            .iter()
            .map(|p| vec![0.0; p.outputs.len()])
            .collect();
        let mut counts = vec![0usize; self.kept.len()];
        let mut best: Option<(f64, Vec<usize>)> = None;
        for round in 1..=ROUNDS {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let (pick, loss) = self.best_addition(&sums, round, folds, metric)?;
            counts[pick] += 1;
            for (sum, p) in sums.iter_mut().zip(&self.kept[pick].folds) {
                sum.iter_mut().zip(&p.outputs).for_each(|(s, v)| *s += v);
            }
            if best.as_ref().is_none_or(|(l, _)| loss < *l) {
                best = Some((loss, counts.clone()));
            }
        }
        let (_, counts) = best?;
        let total: usize = counts.iter().sum();
        let members: Vec<(usize, f64)> = self
            .kept
            .iter()
            .zip(&counts)
            .filter(|(_, c)| **c > 0)
            .map(|(k, c)| (k.number, *c as f64 / total as f64))
            .collect();
        (members.len() >= 2).then(|| Selection::new(members))
    }

    /// The kept trial whose addition (as round `round`) gives the lowest
    /// mean loss over folds, and that loss; ties go to the earlier kept.
    fn best_addition(
        &self,
        sums: &[Vec<f64>],
        round: usize,
        folds: &[Fold],
        metric: Metric,
    ) -> Option<(usize, f64)> {
        let mut best: Option<(usize, f64)> = None;
        for (i, k) in self.kept.iter().enumerate() {
            let loss = mean_loss(folds, metric, |f| {
                let width = k.folds[f].width;
                let outputs = sums[f]
                    .iter()
                    .zip(&k.folds[f].outputs)
                    .map(|(s, v)| (s + v) / round as f64)
                    .collect();
                Predictions { outputs, width }
            });
            if loss.is_finite() && best.is_none_or(|(_, l)| loss < l) {
                best = Some((i, loss));
            }
        }
        best
    }
}

/// The chosen members (trial number and weight, by trial number).
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Trial numbers and weights; the weights sum to 1.
    pub members: Vec<(usize, f64)>,
}

impl Selection {
    fn new(mut members: Vec<(usize, f64)>) -> Selection {
        members.sort_by_key(|(n, _)| *n);
        Selection { members }
    }

    /// The ensemble of the members' models from fold `f`, as scored on
    /// that fold: they read its encoding, and those of them that take
    /// standardised features its scaler.
    pub fn fold_model(&self, library: &Library, folds: &[Fold], f: usize) -> Option<Estimator> {
        let fold = folds.get(f)?;
        let members = self
            .members
            .iter()
            .map(|(n, _)| {
                let k = library.get(*n)?;
                Some(Member {
                    scaled: k.family.learner().scaled(),
                    estimator: k.models.get(f)?.clone(),
                })
            })
            .collect::<Option<Vec<Member>>>()?;
        Some(Ensemble::of(
            self.weights(),
            members,
            fold.prep.scaler.clone(),
        ))
    }

    /// The members' weights, in member order.
    pub fn weights(&self) -> Vec<f64> {
        self.members.iter().map(|(_, w)| *w).collect()
    }

    /// The ensemble's held-out predictions on fold `f`, blended by the
    /// kernel the saved ensemble scores with, so they are the first-fold
    /// ensemble's predictions bit for bit.
    pub fn blend(&self, library: &Library, f: usize) -> Option<Predictions> {
        let parts: Vec<&Predictions> = self
            .members
            .iter()
            .map(|(n, _)| library.get(*n).map(|k| &k.folds[f]))
            .collect::<Option<_>>()?;
        let width = parts.first()?.width;
        let weights = self.weights();
        let rows = parts[0].rows();
        let mut outputs = vec![0.0; rows * width];
        let mut part = vec![0.0; width];
        for (r, out) in outputs.chunks_mut(width).enumerate() {
            kernels::ensemble(&weights, &mut part, out, |i, part| {
                part.copy_from_slice(parts[i].row(r));
            });
        }
        Some(Predictions { outputs, width })
    }
}

/// Mean over folds of `metric`'s loss of the predictions `pred(f)` makes
/// for fold `f`.
fn mean_loss(folds: &[Fold], metric: Metric, pred: impl Fn(usize) -> Predictions) -> f64 {
    let total: f64 = folds
        .iter()
        .enumerate()
        .map(|(f, fold)| metric.loss(metric.compute(&fold.valid_target, &pred(f))))
        .sum();
    total / folds.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{self, Dataset};
    use crate::learners::space::Params;
    use crate::learners::Cancel;
    use crate::search::cv::{cross_validate, encode_folds, TrialSpec};

    fn titanic() -> (Dataset, Vec<Fold>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/titanic.csv");
        let table = data::load(&path, &[]).unwrap();
        let ds = data::prepare(table, "survived", &[], None).unwrap();
        let folds = encode_folds(&ds, &data::split::folds(&ds.target, 5, 3)).unwrap();
        (ds, folds)
    }

    /// Cross-validates `family` at the middle of its space as trial
    /// `number`, kept as the library keeps it.
    fn kept(ds: &Dataset, folds: &[Fold], number: usize, family: Family) -> Kept {
        let space = family.learner().space(ds.task);
        let spec = TrialSpec {
            family,
            params: Params::decode(&space, &vec![0.5; space.len()]),
            task: ds.task,
            metrics: vec![Metric::RocAuc],
            seed: 7,
            contamination: None,
        };
        let mut scores = cross_validate(&spec, folds, None, &Cancel::new(), None)
            .unwrap()
            .folds;
        let mean = scores.iter().map(|s| s.metrics[0]).sum::<f64>() / scores.len() as f64;
        Kept {
            number,
            family,
            loss: Metric::RocAuc.loss(mean),
            models: scores
                .iter_mut()
                .map(|s| s.estimator.take().unwrap())
                .collect(),
            folds: scores
                .iter_mut()
                .map(|s| s.predictions.take().unwrap())
                .collect(),
            model_bytes: 0,
        }
    }

    #[test]
    fn the_ensemble_is_no_worse_than_its_best_member_and_its_model_scores_as_it_was_blended() {
        let (ds, folds) = titanic();
        let mut library = Library::default();
        let families = [
            Family::Gbdt,
            Family::Linear,
            Family::Knn,
            Family::NaiveBayes,
        ];
        for (i, family) in families.into_iter().enumerate() {
            library.offer(kept(&ds, &folds, i + 1, family));
        }
        let best_single = library
            .kept
            .iter()
            .map(|k| k.loss)
            .fold(f64::INFINITY, f64::min);
        let selection = library
            .select(&folds, Metric::RocAuc, None)
            .expect("a blend wins");
        assert!(selection.members.len() >= 2);
        let total: f64 = selection.members.iter().map(|(_, w)| w).sum();
        assert!((total - 1.0).abs() < 1e-12);
        let blended = |f: usize| selection.blend(&library, f).unwrap();
        let loss = mean_loss(&folds, Metric::RocAuc, blended);
        assert!(
            loss <= best_single,
            "ensemble {loss} vs best member {best_single}"
        );
        // What is scored is what is saved: each fold's ensemble, given the
        // fold's raw features, predicts the blended predictions bit for bit.
        for (f, fold) in folds.iter().enumerate() {
            let model = selection.fold_model(&library, &folds, f).unwrap();
            let pred = model.score_rows(&fold.valid.raw, fold.valid.d, 2);
            assert_eq!(pred, blended(f), "fold {f}");
        }
    }

    #[test]
    fn the_library_keeps_each_familys_best_three() {
        let mut library = Library::default();
        let model = Estimator::Linear(crate::model::estimator::Linear {
            weights: vec![1.0],
            intercept: vec![0.0],
            link: kernels::Link::Identity,
        });
        for (number, loss) in [0.5, 0.1, 0.4, 0.2, 0.3].into_iter().enumerate() {
            library.offer(Kept {
                number: number + 1,
                family: Family::Linear,
                loss,
                folds: Vec::new(),
                models: vec![model.clone()],
                model_bytes: 10,
            });
        }
        library.offer(Kept {
            number: 6,
            family: Family::Knn,
            loss: 0.9,
            folds: Vec::new(),
            models: vec![model],
            model_bytes: 10,
        });
        let kept: Vec<usize> = library.kept.iter().map(|k| k.number).collect();
        assert_eq!(kept, [2, 4, 5, 6]);
        assert!(!library.would_keep(Family::Linear, 0.45));
        assert!(library.would_keep(Family::Linear, 0.25));
        assert!(library.would_keep(Family::Gbdt, 9.0));
    }
}
