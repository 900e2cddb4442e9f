//! k-means centroids: clusters by the nearest centroid, or, as a detector,
//! the distance to it.

use serde::{Deserialize, Serialize};

use super::{all_finite, ensure, threshold_note, Kind, Lowered, Shape, Table};
use crate::model::graph::Graph;
use crate::model::kernels;

/// k-means centroids. A row's cluster is its nearest centroid (squared
/// Euclidean distance, ties to the lower index); as a detector, the row's
/// anomaly score is the distance to that centroid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Centroids {
    /// Row-major centroids, one row per cluster.
    pub centroids: Vec<f64>,
    /// Number of clusters.
    pub k: usize,
    /// Set for a detector: scores above it are anomalies.
    pub threshold: Option<f64>,
}

impl Kind for Centroids {
    fn shape(&self) -> Shape {
        match self.threshold {
            Some(_) => Shape::Anomaly,
            None => Shape::Cluster {
                memberships: 0,
                noise: false,
            },
        }
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        kernels::centroids(&self.centroids, self.threshold, x, out);
    }

    fn check(&self, d: usize, _w: usize) -> Result<(), String> {
        ensure(self.k > 0 && self.centroids.len() == self.k * d, || {
            format!(
                "{} values are not {} centroids of {d} features",
                self.centroids.len(),
                self.k
            )
        })
    }

    fn summary(&self) -> String {
        format!(
            "k-means, {} centroids{}",
            self.k,
            threshold_note(self.threshold)
        )
    }

    fn finite(&self) -> bool {
        all_finite(&self.centroids) && all_finite(&self.threshold)
    }

    fn lower(&self) -> Lowered {
        Lowered::new(
            vec![
                ("CENTROIDS", Table::F64s(self.centroids.clone())),
                ("THRESHOLD", Table::MaybeF64(self.threshold)),
            ],
            "kernels::centroids(&CENTROIDS, THRESHOLD, x, out);",
        )
    }

    /// [`kernels::centroids`]: the first nearest centroid, or the distance
    /// to it and the flag.
    fn graph(&self, g: &mut Graph, x: &str, _w: usize) -> Result<String, String> {
        let d = self.centroids.len() / self.k.max(1);
        let dist = g.squared_distances(x, &self.centroids, d);
        Ok(match self.threshold {
            Some(t) => {
                let nearest = g.reduce("ReduceMin", &dist, 1, true);
                let score = g.op("Sqrt", &[&nearest]);
                g.score_and_flag(&score, t)
            }
            None => g.first_index("ArgMin", &dist),
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
