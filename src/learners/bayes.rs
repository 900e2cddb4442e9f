//! Gaussian naive Bayes through linfa-bayes, whose `var_smoothing` keeps
//! features that are constant within a class usable. Its class statistics
//! are private but serialised; they are read from that form.

use linfa::prelude::*;
use ndarray::{Array1, ArrayView2};

use super::serde_read::{field, number, numbers};
use super::{Adapter, TrainSet};
use crate::data::Task;
use crate::learners::space::{hyperparameters, real};
use crate::model::estimator::NaiveBayes as NbModel;
use crate::model::Estimator;

/// The naive-Bayes adapter.
pub struct NaiveBayes;

hyperparameters! {
    /// Naive Bayes' hyperparameter.
    BayesParams(_task) {
        /// Share of the largest feature variance added to every variance.
        var_smoothing: f64 = real(1e-12, 1.0, true, 1e-9),
    }
}

impl Adapter for NaiveBayes {
    type Params = BayesParams;

    fn supports(&self, task: Task) -> bool {
        task.is_classification()
    }

    fn scaled(&self) -> bool {
        true
    }

    fn cost(&self, _p: &BayesParams, n: usize, d: usize, k: usize) -> f64 {
        n as f64 * d as f64 * k as f64 * 20.0
    }

    fn fit(&self, data: &TrainSet<'_>, p: &BayesParams, _seed: u64) -> Result<Estimator, String> {
        let model = fit_native(data, p.var_smoothing)?;
        lower(&model, data.d, data.width()).map(Estimator::NaiveBayes)
    }
}

fn fit_native(
    data: &TrainSet<'_>,
    smoothing: f64,
) -> Result<linfa_bayes::GaussianNb<f64, usize>, String> {
    let x = ArrayView2::from_shape((data.n, data.d), data.x).map_err(|e| e.to_string())?;
    let y = Array1::from(data.classes().to_vec());
    linfa_bayes::GaussianNb::params()
        .var_smoothing(smoothing)
        .fit(&DatasetView::new(x, y.view()))
        .map_err(|e| e.to_string())
}

/// Reads `class_info` (class → prior, theta, sigma). A class absent from
/// the training rows gets prior 0, so its log-score is -inf and its
/// probability exactly 0.
fn lower(
    model: &linfa_bayes::GaussianNb<f64, usize>,
    d: usize,
    k: usize,
) -> Result<NbModel, String> {
    let v = serde_json::to_value(model).map_err(|e| e.to_string())?;
    let info = field(&v, "class_info")?
        .as_object()
        .ok_or("class_info is not a map")?;
    let mut nb = NbModel {
        prior: vec![0.0; k],
        mean: vec![0.0; k * d],
        variance: vec![1.0; k * d],
    };
    for (label, stats) in info {
        let c: usize = label
            .parse()
            .map_err(|_| format!("class label '{label}' is not an index"))?;
        if c >= k {
            return Err(format!("class {c} out of range"));
        }
        nb.prior[c] = number(stats, "prior")?;
        let theta = numbers(field(field(stats, "theta")?, "data")?)?;
        let sigma = numbers(field(field(stats, "sigma")?, "data")?)?;
        if theta.len() != d || sigma.len() != d {
            return Err("class statistics do not match the feature count".into());
        }
        nb.mean[c * d..(c + 1) * d].copy_from_slice(&theta);
        nb.variance[c * d..(c + 1) * d].copy_from_slice(&sigma);
    }
    Ok(nb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::testdata;

    #[test]
    fn lowered_naive_bayes_predicts_like_linfa() {
        for (file, target) in [("iris.csv", "species"), ("titanic.csv", "survived")] {
            let (x, n, d, target, _) = testdata::load(file, target);
            let data = testdata::set(&x, n, d, &target);
            let model = fit_native(&data, 1e-9).unwrap();
            let view = ArrayView2::from_shape((n, d), &x[..]).unwrap();
            let native = model.predict(&view);
            let est = Estimator::NaiveBayes(lower(&model, d, data.width()).unwrap());
            let mut out = vec![0.0; data.width()];
            for (r, row) in x.chunks(d).enumerate() {
                est.score(row, &mut out);
                assert_eq!(crate::model::argmax(&out), native[r], "{file} row {r}");
            }
        }
    }
}
