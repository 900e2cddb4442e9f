//! k nearest neighbours through smartcore. The fitted index is private, but
//! a kNN model is its training rows: the lowered model stores the scaled
//! training features and targets and searches them exhaustively.

use smartcore::neighbors::knn_classifier::{KNNClassifier, KNNClassifierParameters};
use smartcore::neighbors::knn_regressor::{KNNRegressor, KNNRegressorParameters};
use smartcore::neighbors::KNNWeightFunction;

use super::forest::matrix;
use super::{Adapter, TrainSet};
use crate::data::Task;
use crate::learners::space::{choice, hyperparameters, int, Choice, FromParam, Params};
use crate::model::estimator::{Neighbors, Weighting};
use crate::model::Estimator;

/// The kNN adapter.
pub struct Knn;

impl Adapter for Knn {
    type Params = KnnParams;

    fn supports(&self, task: Task) -> bool {
        task.is_supervised()
    }

    fn scaled(&self) -> bool {
        true
    }

    fn cost(&self, _p: &KnnParams, n: usize, d: usize, _k: usize) -> f64 {
        // Scoring a fold compares every held-out row with every training row.
        n as f64 * (n as f64 / 4.0) * d as f64 * 1.5
    }

    fn refit_cost(&self, _p: &KnnParams, n: usize, d: usize, _k: usize) -> f64 {
        // Keeping the rows, and smartcore's index over them.
        n as f64 * d as f64 * (n.max(2) as f64).log2() * 20.0
    }

    fn fit(&self, data: &TrainSet<'_>, p: &KnnParams, _seed: u64) -> Result<Estimator, String> {
        // smartcore is fitted too, so a data set it refuses fails the trial
        // the same way; its index is not needed for scoring.
        let x = matrix(data)?;
        let weighting = p.weights;
        if data.width() == 1 {
            KNNRegressor::fit(&x, &data.values().to_vec(), regressor_params(p))
                .map_err(|e| e.to_string())?;
        } else {
            let y: Vec<u32> = data.classes().iter().map(|&c| c as u32).collect();
            KNNClassifier::fit(&x, &y, classifier_params(p)).map_err(|e| e.to_string())?;
        }
        let targets = if data.width() == 1 {
            data.values().to_vec()
        } else {
            data.classes().iter().map(|&c| c as f64).collect()
        };
        Ok(Estimator::Neighbors(Neighbors {
            k: p.k.max(1),
            weighting,
            points: data.x.to_vec(),
            targets,
        }))
    }
}

// The kernels' weighting is the choice itself.
impl Choice for Weighting {
    const NAMES: &'static [&'static str] = &["uniform", "distance"];
    const ALL: &'static [Self] = &[Weighting::Uniform, Weighting::Distance];
}

impl FromParam for Weighting {
    fn from_param(p: &Params, name: &str) -> Result<Self, String> {
        p.option(name)
    }
}

hyperparameters! {
    /// kNN's hyperparameters.
    KnnParams(_task) {
        /// Neighbours that vote.
        k: usize = int(1, 50, true, 5),
        /// How their votes are weighted.
        weights: Weighting = choice(Weighting::Uniform),
    }
}

fn native_weight(p: &KnnParams) -> KNNWeightFunction {
    match p.weights {
        Weighting::Distance => KNNWeightFunction::Distance,
        Weighting::Uniform => KNNWeightFunction::Uniform,
    }
}

fn classifier_params(
    p: &KnnParams,
) -> KNNClassifierParameters<f64, smartcore::metrics::distance::euclidian::Euclidian<f64>> {
    KNNClassifierParameters::default()
        .with_k(p.k.max(1))
        .with_weight(native_weight(p))
}

fn regressor_params(
    p: &KnnParams,
) -> KNNRegressorParameters<f64, smartcore::metrics::distance::euclidian::Euclidian<f64>> {
    KNNRegressorParameters::default()
        .with_k(p.k.max(1))
        .with_weight(native_weight(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::space::Param;
    use crate::learners::testdata;
    use crate::learners::Learner;

    fn params(k: i64, weights: &str) -> Params {
        let mut p = Params::default();
        p.0.insert("k".into(), Param::Int(k));
        p.0.insert("weights".into(), Param::Choice(weights.into()));
        p
    }

    #[test]
    fn lowered_knn_classifier_predicts_like_smartcore() {
        let (x, n, d, target, _) = testdata::load("breast_cancer.csv", "diagnosis");
        let data = testdata::set(&x, n, d, &target);
        for (k, w) in [(5, "uniform"), (8, "distance")] {
            let p = params(k, w);
            let m = matrix(&data).unwrap();
            let y: Vec<u32> = data.classes().iter().map(|&c| c as u32).collect();
            let native =
                KNNClassifier::fit(&m, &y, classifier_params(&KnnParams::decode(&p).unwrap()))
                    .unwrap()
                    .predict(&m)
                    .unwrap();
            let est = Learner::fit(&Knn, &data, &p, 0).unwrap();
            testdata::assert_classes(&est, &x, d, data.width(), &native, &format!("k={k} {w}"));
        }
    }

    #[test]
    fn lowered_knn_regressor_predicts_like_smartcore() {
        let (x, n, d, target, _) = testdata::load("diabetes.csv", "progression");
        let data = testdata::set(&x, n, d, &target);
        let p = params(7, "uniform");
        let m = matrix(&data).unwrap();
        let native = KNNRegressor::fit(
            &m,
            &data.values().to_vec(),
            regressor_params(&KnnParams::decode(&p).unwrap()),
        )
        .unwrap()
        .predict(&m)
        .unwrap();
        let est = Learner::fit(&Knn, &data, &p, 0).unwrap();
        testdata::assert_values(&est, &x, d, &native, "lowered model");
    }
}
