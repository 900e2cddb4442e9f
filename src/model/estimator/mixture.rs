//! Gaussian mixtures: clusters by the most likely component with
//! membership probabilities, or, as a detector, low density.

use serde::{Deserialize, Serialize};

use super::{all_finite, ensure, threshold_note, Kind, Lowered, Shape, Table};
use crate::model::graph::Graph;
use crate::model::kernels::{self, Gaussians};

/// A Gaussian mixture with full covariances (see `kernels::Gaussians` for
/// the density). The cluster is the most likely component, membership
/// probabilities are the normalised densities; as a detector, the score is
/// the negative log-density of the whole mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mixture {
    /// Mixing weights.
    pub weights: Vec<f64>,
    /// Row-major means, one row per component.
    pub means: Vec<f64>,
    /// Precision matrices, `d * d` per component, row-major.
    pub precisions: Vec<f64>,
    /// `ln det P_c` per component.
    pub log_det: Vec<f64>,
    /// Set for a detector: scores above it are anomalies.
    pub threshold: Option<f64>,
}

impl Mixture {
    /// Number of components.
    pub fn k(&self) -> usize {
        self.weights.len()
    }

    /// The components, as the kernels take them.
    pub fn gaussians(&self) -> Gaussians<'_> {
        Gaussians {
            weights: &self.weights,
            means: &self.means,
            precisions: &self.precisions,
            log_det: &self.log_det,
        }
    }

    /// Membership probabilities of one row into `resp` (one per
    /// component); returns the row's log-density under the mixture.
    pub fn memberships(&self, x: &[f64], resp: &mut [f64]) -> f64 {
        let log_total = self.gaussians().log_densities(x, resp);
        resp.iter_mut().for_each(|l| *l = (*l - log_total).exp());
        log_total
    }
}

impl Kind for Mixture {
    fn shape(&self) -> Shape {
        match self.threshold {
            Some(_) => Shape::Anomaly,
            None => Shape::Cluster {
                memberships: self.k(),
                noise: false,
            },
        }
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        // Scoring allocates nothing for the mixtures the search fits (at
        // most 10 components); a hand-made larger one gets a heap buffer.
        let k = self.k();
        let mut stack = [0.0; 16];
        let mut heap = Vec::new();
        let log_p = if k <= stack.len() {
            &mut stack[..k]
        } else {
            heap.resize(k, 0.0);
            &mut heap[..]
        };
        kernels::mixture(&self.gaussians(), self.threshold, log_p, x, out);
    }

    fn check(&self, d: usize, _w: usize) -> Result<(), String> {
        let k = self.k();
        ensure(
            k > 0
                && self.means.len() == k * d
                && self.precisions.len() == k * d * d
                && self.log_det.len() == k,
            || format!("{k} components do not match {d} features"),
        )
    }

    fn summary(&self) -> String {
        format!(
            "gaussian mixture, {} components, full covariances{}",
            self.k(),
            threshold_note(self.threshold)
        )
    }

    fn finite(&self) -> bool {
        let tables = [&self.weights, &self.means, &self.precisions, &self.log_det];
        tables.iter().all(|t| all_finite(t.iter())) && all_finite(&self.threshold)
    }

    fn lower(&self) -> Lowered {
        Lowered::new(
            vec![
                ("WEIGHTS", Table::F64s(self.weights.clone())),
                ("MEANS", Table::F64s(self.means.clone())),
                ("PRECISIONS", Table::F64s(self.precisions.clone())),
                ("LOG_DET", Table::F64s(self.log_det.clone())),
                ("THRESHOLD", Table::MaybeF64(self.threshold)),
                ("COMPONENTS", Table::Usize(self.k())),
            ],
            "let gaussians = kernels::Gaussians {
    weights: &WEIGHTS,
    means: &MEANS,
    precisions: &PRECISIONS,
    log_det: &LOG_DET,
};
kernels::mixture(&gaussians, THRESHOLD, &mut [0.0; COMPONENTS], x, out);",
        )
    }

    /// [`kernels::mixture`]: each component's log-density (its constant
    /// less half the quadratic form of the precision), their log-sum-exp,
    /// then the memberships and the most likely component, or the negative
    /// log-density and the flag.
    fn graph(&self, g: &mut Graph, x: &str, _w: usize) -> Result<String, String> {
        let k = self.k();
        let d = self.means.len() / k.max(1);
        let gaussians = self.gaussians();
        let half = kernels::half_d_ln_2pi(d);
        let constants = (0..k).map(|c| gaussians.constant(c, half)).collect();
        let constants = g.doubles(&[k], constants);
        let means = g.doubles(&[1, k, d], self.means.clone());
        // P' per component, so that a row vector times it is P times the
        // column vector.
        let transposed = (0..k * d * d)
            .map(|at| {
                let (c, i, j) = (at / (d * d), at / d % d, at % d);
                self.precisions[c * d * d + j * d + i]
            })
            .collect();
        let precisions = g.doubles(&[k, d, d], transposed);
        let rows = g.unsqueeze(x, 1);
        let diff = g.op("Sub", &[&rows, &means]);
        let diff_rows = g.unsqueeze(&diff, 2);
        let product = g.op("MatMul", &[&diff_rows, &precisions]);
        let product = g.reduce("ReduceSum", &product, 2, false);
        let terms = g.op("Mul", &[&diff, &product]);
        let q = g.reduce("ReduceSum", &terms, 2, false);
        let half = g.scalar(0.5);
        let part = g.op("Mul", &[&half, &q]);
        let log_p = g.op("Sub", &[&constants, &part]);
        let max = g.reduce("ReduceMax", &log_p, 1, true);
        let shifted = g.op("Sub", &[&log_p, &max]);
        let exp = g.op("Exp", &[&shifted]);
        let sum = g.reduce("ReduceSum", &exp, 1, true);
        let log_sum = g.op("Log", &[&sum]);
        let log_total = g.op("Add", &[&max, &log_sum]);
        Ok(match self.threshold {
            Some(t) => {
                let score = g.op("Neg", &[&log_total]);
                g.score_and_flag(&score, t)
            }
            None => {
                let relative = g.op("Sub", &[&log_p, &log_total]);
                let memberships = g.op("Exp", &[&relative]);
                let c = g.first_index("ArgMax", &log_p);
                g.columns(&[&c, &memberships])
            }
        })
    }

    fn threshold(&self) -> Option<f64> {
        self.threshold
    }

    fn set_threshold(&mut self, threshold: f64) -> Result<(), String> {
        self.threshold = Some(threshold);
        Ok(())
    }
}
