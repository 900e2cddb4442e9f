//! Gaussian naive Bayes: per class, a prior and per-feature means and
//! variances.

use serde::{Deserialize, Serialize};

use super::{all_finite, ensure, Kind, Lowered, Shape, Table};
use crate::model::graph::Graph;
use crate::model::kernels::{self, Link};

/// Per class: prior, per-feature mean and variance. The class log-score is
/// `ln prior - 0.5 * sum ln(2 pi var) - 0.5 * sum (x - mean)^2 / var`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NaiveBayes {
    /// Class priors.
    pub prior: Vec<f64>,
    /// Row-major means, one row per class.
    pub mean: Vec<f64>,
    /// Row-major variances (smoothed), one row per class.
    pub variance: Vec<f64>,
}

impl Kind for NaiveBayes {
    fn shape(&self) -> Shape {
        Shape::Supervised
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        kernels::naive_bayes(&self.prior, &self.mean, &self.variance, x, out);
    }

    fn check(&self, d: usize, w: usize) -> Result<(), String> {
        let k = self.prior.len();
        ensure(
            k == w && self.mean.len() == k * d && self.variance.len() == k * d,
            || format!("{k} classes do not match {w} outputs and {d} features"),
        )?;
        ensure(self.variance.iter().all(|v| *v > 0.0), || {
            "a variance is not positive".into()
        })?;
        ensure(self.prior.iter().all(|p| *p >= 0.0), || {
            "a class prior is negative".into()
        })
    }

    fn summary(&self) -> String {
        format!("gaussian naive bayes, {} classes", self.prior.len())
    }

    fn finite(&self) -> bool {
        all_finite(&self.prior) && all_finite(&self.mean) && all_finite(&self.variance)
    }

    fn lower(&self) -> Lowered {
        Lowered::new(
            vec![
                ("PRIOR", Table::F64s(self.prior.clone())),
                ("MEAN", Table::F64s(self.mean.clone())),
                ("VARIANCE", Table::F64s(self.variance.clone())),
            ],
            "kernels::naive_bayes(&PRIOR, &MEAN, &VARIANCE, x, out);",
        )
    }

    /// [`kernels::naive_bayes`]: each class's constant less half the
    /// variance-scaled squared distance, then a softmax.
    fn graph(&self, g: &mut Graph, x: &str, _w: usize) -> Result<String, String> {
        let k = self.prior.len();
        let d = self.mean.len() / k.max(1);
        let constants = (0..k)
            .map(|c| kernels::class_constant(self.prior[c], &self.variance[c * d..(c + 1) * d]))
            .collect();
        let constants = g.doubles(&[k], constants);
        let mean = g.doubles(&[1, k, d], self.mean.clone());
        let variance = g.doubles(&[1, k, d], self.variance.clone());
        let rows = g.unsqueeze(x, 1);
        let diff = g.op("Sub", &[&rows, &mean]);
        let square = g.op("Mul", &[&diff, &diff]);
        let scaled = g.op("Div", &[&square, &variance]);
        let dist = g.reduce("ReduceSum", &scaled, 2, false);
        let half = g.scalar(0.5);
        let part = g.op("Mul", &[&half, &dist]);
        let log_p = g.op("Sub", &[&constants, &part]);
        Ok(g.link(Link::Softmax, &log_p))
    }
}
