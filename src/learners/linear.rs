//! Regularised linear models through smartcore: L2-penalised logistic
//! regression for classes, elastic net (L1 to L2 by `l1_ratio`) for values.
//! Both are fitted on standardised features; the scaler is part of the model.

use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::elastic_net::{ElasticNet, ElasticNetParameters};
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

use super::forest::matrix;
use super::{Adapter, TrainSet};
use crate::data::Task;
use crate::learners::space::{hyperparameters, real};
use crate::model::estimator::{Linear, Link};
use crate::model::Estimator;

/// The linear-model adapter.
pub struct LinearModel;

/// Intercept given to classes absent from a training fold: their softmax
/// share underflows to exactly zero.
const ABSENT: f64 = -1e30;

hyperparameters! {
    /// The linear models' hyperparameters.
    LinearParams(task) {
        /// Penalty strength.
        alpha: f64 = if task.is_classification() {
            real(1e-4, 100.0, true, 1.0)
        } else {
            real(1e-4, 10.0, true, 0.1)
        },
        /// Elastic net's mix of L1 in the penalty (regression only).
        l1_ratio: Option<f64> where { !task.is_classification() } = real(0.0, 1.0, false, 0.5),
    }
}

impl Adapter for LinearModel {
    type Params = LinearParams;

    fn supports(&self, task: Task) -> bool {
        task.is_supervised()
    }

    fn scaled(&self) -> bool {
        true
    }

    fn cost(&self, _p: &LinearParams, n: usize, d: usize, k: usize) -> f64 {
        n as f64 * (d as f64 + 1.0) * k.max(1) as f64 * 400.0
    }

    fn fit(&self, data: &TrainSet<'_>, p: &LinearParams, _seed: u64) -> Result<Estimator, String> {
        let x = matrix(data)?;
        if data.width() == 1 {
            fit_elastic_net(data, &x, p)
        } else {
            fit_logistic(data, &x, p)
        }
    }
}

fn elastic_params(p: &LinearParams) -> ElasticNetParameters {
    ElasticNetParameters {
        alpha: p.alpha,
        l1_ratio: p.l1_ratio.unwrap_or(0.0),
        normalize: false,
        ..Default::default()
    }
}

fn fit_elastic_net(
    data: &TrainSet<'_>,
    x: &DenseMatrix<f64>,
    p: &LinearParams,
) -> Result<Estimator, String> {
    let y = data.values().to_vec();
    let model = ElasticNet::fit(x, &y, elastic_params(p)).map_err(|e| e.to_string())?;
    Ok(Estimator::Linear(Linear {
        weights: flat(model.coefficients()),
        intercept: vec![*model.intercept()],
        link: Link::Identity,
    }))
}

fn fit_logistic(
    data: &TrainSet<'_>,
    x: &DenseMatrix<f64>,
    p: &LinearParams,
) -> Result<Estimator, String> {
    let y: Vec<u32> = data.classes().iter().map(|&c| c as u32).collect();
    let params = LogisticRegressionParameters::default().with_alpha(p.alpha);
    let model = LogisticRegression::fit(x, &y, params).map_err(|e| e.to_string())?;
    let classes: Vec<usize> = model.classes().iter().map(|&c| c as usize).collect();
    let (w, b) = (flat(model.coefficients()), flat(model.intercept()));
    Ok(Estimator::Linear(spread(
        &classes,
        &w,
        &b,
        data.d,
        data.width(),
    )))
}

/// Places smartcore's weights (for the classes present in the fold) into a
/// model over all `k` classes: a sigmoid when all of two classes are present,
/// else a softmax in which a binary fit's first class scores 0.
fn spread(classes: &[usize], w: &[f64], b: &[f64], d: usize, k: usize) -> Linear {
    if k == 2 && classes.len() == 2 {
        return Linear {
            weights: w.to_vec(),
            intercept: b.to_vec(),
            link: Link::Sigmoid,
        };
    }
    let mut weights = vec![0.0; k * d];
    let mut intercept = vec![ABSENT; k];
    if classes.len() == 2 {
        intercept[classes[0]] = 0.0;
        weights[classes[1] * d..(classes[1] + 1) * d].copy_from_slice(&w[..d]);
        intercept[classes[1]] = b[0];
    } else {
        for (row, &c) in classes.iter().enumerate() {
            weights[c * d..(c + 1) * d].copy_from_slice(&w[row * d..(row + 1) * d]);
            intercept[c] = b[row];
        }
    }
    Linear {
        weights,
        intercept,
        link: Link::Softmax,
    }
}

/// A smartcore matrix's values, row by row.
fn flat(m: &DenseMatrix<f64>) -> Vec<f64> {
    let (rows, cols) = m.shape();
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            out.push(*m.get((r, c)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::space::Params;
    use crate::learners::testdata;
    use crate::learners::Learner;

    #[test]
    fn lowered_logistic_predicts_like_smartcore() {
        for (file, target) in [("breast_cancer.csv", "diagnosis"), ("iris.csv", "species")] {
            let (x, n, d, target, _) = testdata::load(file, target);
            let data = testdata::set(&x, n, d, &target);
            let m = matrix(&data).unwrap();
            let y: Vec<u32> = data.classes().iter().map(|&c| c as u32).collect();
            let params = LogisticRegressionParameters::default().with_alpha(0.5);
            let native = LogisticRegression::fit(&m, &y, params)
                .unwrap()
                .predict(&m)
                .unwrap();
            let mut p = Params::default();
            p.0.insert("alpha".into(), crate::learners::space::Param::Float(0.5));
            let est = Learner::fit(&LinearModel, &data, &p, 0).unwrap();
            testdata::assert_classes(&est, &x, d, data.width(), &native, file);
        }
    }

    #[test]
    fn lowered_elastic_net_predicts_like_smartcore() {
        let (x, n, d, target, _) = testdata::load("diabetes.csv", "progression");
        let data = testdata::set(&x, n, d, &target);
        let mut p = Params::default();
        p.0.insert("alpha".into(), crate::learners::space::Param::Float(0.05));
        p.0.insert("l1_ratio".into(), crate::learners::space::Param::Float(0.3));
        let m = matrix(&data).unwrap();
        let native = ElasticNet::fit(
            &m,
            &data.values().to_vec(),
            elastic_params(&LinearParams::decode(&p).unwrap()),
        )
        .unwrap()
        .predict(&m)
        .unwrap();
        let est = Learner::fit(&LinearModel, &data, &p, 0).unwrap();
        testdata::assert_values(&est, &x, d, &native, "lowered model");
    }
}
