//! Isolation forests: anomaly scores from path lengths.

use serde::{Deserialize, Serialize};

use super::trees::{check_trees, tree_sum, Tree, Trees};
use super::{ensure, threshold_note, Kind, Lowered, Shape, Table};
use crate::model::graph::Graph;
use crate::model::kernels;

/// An isolation forest. Each tree's leaf holds the path length of a row
/// that ends there (depth plus the expected extra depth of the rows left
/// unsplit); the score is `2^(-mean path length / normalizer)`, near 1 for
/// rows that are isolated quickly (see `kernels::isolation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isolation {
    /// The trees (`x < threshold` goes left, one value per leaf).
    pub trees: Trees,
    /// Average path length of an unsuccessful search in a tree built on the
    /// sample size, `c(psi)`.
    pub normalizer: f64,
    /// Scores above it are anomalies.
    pub threshold: f64,
}

impl Kind for Isolation {
    fn shape(&self) -> Shape {
        Shape::Anomaly
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        let trees = self.trees.view();
        kernels::isolation(&trees, self.normalizer, self.threshold, x, out);
    }

    fn score_batch(&self, x: &[f64], d: usize, out: &mut [f64], w: usize) {
        let trees = self.trees.view();
        kernels::isolation_batch(&trees, self.normalizer, self.threshold, x, d, out, w);
    }

    fn check(&self, d: usize, _w: usize) -> Result<(), String> {
        ensure(!self.trees.is_empty(), || "no trees".into())?;
        ensure(
            self.trees.iter().all(|t| t.width == 1 && t.output == 0),
            || "an isolation tree must hold one value per leaf".into(),
        )?;
        check_trees(&self.trees, d, 1)
    }

    fn summary(&self) -> String {
        format!(
            "isolation forest, {} trees{}",
            self.trees.len(),
            threshold_note(Some(self.threshold))
        )
    }

    fn finite(&self) -> bool {
        self.normalizer.is_finite()
            && self.threshold.is_finite()
            && self.trees.iter().all(Tree::finite)
    }

    fn lower(&self) -> Lowered {
        Lowered::new(
            vec![
                ("TREES", Table::Trees(Box::new(self.trees.packed().clone()))),
                ("NORMALIZER", Table::F64(self.normalizer)),
                ("THRESHOLD", Table::F64(self.threshold)),
            ],
            "kernels::isolation(&TREES, NORMALIZER, THRESHOLD, x, out);",
        )
        .with_batch("kernels::isolation_batch(&TREES, NORMALIZER, THRESHOLD, x, d, out, w);")
    }

    /// [`kernels::isolation`]: `exp(-(mean / normalizer) * ln 2)` of the
    /// path lengths' mean, in the kernel's order of operations.
    fn graph(&self, g: &mut Graph, x: &str, _w: usize) -> Result<String, String> {
        let sum = tree_sum(g, &self.trees, &[], x);
        let count = g.scalar(self.trees.len().max(1) as f64);
        let mean = g.op("Div", &[&sum, &count]);
        let normalizer = g.scalar(self.normalizer);
        let relative = g.op("Div", &[&mean, &normalizer]);
        let minus = g.op("Neg", &[&relative]);
        let ln_2 = g.scalar(core::f64::consts::LN_2);
        let exponent = g.op("Mul", &[&minus, &ln_2]);
        let score = g.op("Exp", &[&exponent]);
        Ok(g.score_and_flag(&score, self.threshold))
    }

    fn threshold(&self) -> Option<f64> {
        Some(self.threshold)
    }

    fn set_threshold(&mut self, threshold: f64) -> Result<(), String> {
        self.threshold = threshold;
        Ok(())
    }
}
