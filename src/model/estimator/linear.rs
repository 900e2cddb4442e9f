//! Linear models: weights and an intercept per output, then a link
//! (logistic regression, elastic net).

use serde::{Deserialize, Serialize};

use super::{all_finite, ensure, link_fits, Kind, LinkDef, Lowered, Shape, Table};
use crate::model::graph::{Attr, Graph};
use crate::model::kernels::{self, Link};

/// `outputs[o] = intercept[o] + sum_j weights[o * d + j] * x[j]`, then a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    /// Row-major weights, one row per output.
    pub weights: Vec<f64>,
    /// One intercept per output.
    pub intercept: Vec<f64>,
    /// Link.
    #[serde(with = "LinkDef")]
    pub link: Link,
}

impl Kind for Linear {
    fn shape(&self) -> Shape {
        Shape::Supervised
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        kernels::linear(&self.weights, &self.intercept, self.link, x, out);
    }

    fn check(&self, d: usize, w: usize) -> Result<(), String> {
        let o = self.intercept.len();
        ensure(self.weights.len() == o * d, || {
            format!(
                "{} weights for {o} outputs of {d} features",
                self.weights.len()
            )
        })?;
        link_fits(self.link, o, w)
    }

    fn summary(&self) -> String {
        format!(
            "linear, {} outputs, link {:?}",
            self.intercept.len(),
            self.link
        )
        .to_lowercase()
    }

    fn finite(&self) -> bool {
        all_finite(&self.weights) && all_finite(&self.intercept)
    }

    fn explains(&self) -> Result<(usize, Link), String> {
        Ok((self.intercept.len(), self.link))
    }

    fn contributions(&self, x: &[f64], phi: &mut [f64]) {
        kernels::linear_contributions(&self.weights, &self.intercept, x, phi);
    }

    fn lower(&self) -> Lowered {
        Lowered::new(
            vec![
                ("WEIGHTS", Table::F64s(self.weights.clone())),
                ("INTERCEPT", Table::F64s(self.intercept.clone())),
                ("LINK", Table::Link(self.link)),
            ],
            "kernels::linear(&WEIGHTS, &INTERCEPT, LINK, x, out);",
        )
        .with_explain(Vec::new(), "kernels::linear_contributions(&WEIGHTS, &INTERCEPT, x, phi);")
    }

    fn graph(&self, g: &mut Graph, x: &str, _w: usize) -> Result<String, String> {
        let o = self.intercept.len();
        let d = self.weights.len() / o.max(1);
        let w = g.doubles(&[o, d], self.weights.clone());
        let b = g.doubles(&[o], self.intercept.clone());
        let raw = g.node("", "Gemm", &[x, &w, &b], vec![("transB", Attr::Int(1))]);
        Ok(g.link(self.link, &raw))
    }
}
