//! DBSCAN core points: clusters with noise.

use serde::{Deserialize, Serialize};

use super::{all_finite, ensure, Kind, Lowered, Shape, Table};
use crate::model::graph::{Attr, Graph};
use crate::model::kernels;

/// DBSCAN's core points and their clusters. A row belongs to the cluster of
/// its nearest core point if that point is within `eps`; otherwise it is
/// noise (cluster -1). Training rows get DBSCAN's own labels this way, and
/// new rows are assigned by the same rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorePoints {
    /// Neighbourhood radius (Euclidean).
    pub eps: f64,
    /// Row-major core points.
    pub points: Vec<f64>,
    /// Cluster of each core point.
    pub clusters: Vec<u32>,
    /// Number of clusters.
    pub k: usize,
}

impl Kind for CorePoints {
    fn shape(&self) -> Shape {
        Shape::Cluster {
            memberships: 0,
            noise: true,
        }
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        kernels::core_points(&self.points, &self.clusters, self.eps, x, out);
    }

    fn check(&self, d: usize, _w: usize) -> Result<(), String> {
        ensure(self.points.len() == self.clusters.len() * d, || {
            format!(
                "{} values are not core points of {d} features",
                self.points.len()
            )
        })?;
        ensure(self.clusters.iter().all(|c| (*c as usize) < self.k), || {
            format!("a core point's cluster is not one of {}", self.k)
        })
    }

    fn summary(&self) -> String {
        format!(
            "dbscan, {} clusters from {} core points, eps {}",
            self.k,
            self.clusters.len(),
            self.eps
        )
    }

    fn finite(&self) -> bool {
        self.eps.is_finite() && all_finite(&self.points)
    }

    fn lower(&self) -> Lowered {
        Lowered::new(
            vec![
                ("POINTS", Table::F64s(self.points.clone())),
                ("CLUSTERS", Table::U32s(self.clusters.clone())),
                ("EPS", Table::F64(self.eps)),
            ],
            "kernels::core_points(&POINTS, &CLUSTERS, EPS, x, out);",
        )
    }

    /// [`kernels::core_points`]: the cluster of the first nearest core
    /// point within `eps`, else -1.
    fn graph(&self, g: &mut Graph, x: &str, _w: usize) -> Result<String, String> {
        // A `[rows, 1]` column of -1 needs the row count, so it is made
        // from the rows' first (finite) feature.
        let noise = {
            let first = g.slice(x, 0, 1);
            let zero = g.scalar(0.0);
            let zeros = g.op("Mul", &[&first, &zero]);
            let minus = g.scalar(-1.0);
            g.op("Add", &[&zeros, &minus])
        };
        if self.clusters.is_empty() {
            return Ok(noise);
        }
        let d = self.points.len() / self.clusters.len();
        let dist = g.squared_distances(x, &self.points, d);
        let limit = g.scalar(self.eps * self.eps);
        let inside = g.op("LessOrEqual", &[&dist, &limit]);
        let beyond = g.scalar(f64::INFINITY);
        let masked = g.op("Where", &[&inside, &dist, &beyond]);
        let nearest = g.node("", "ArgMin", &[&masked], vec![("axis", Attr::Int(1))]);
        let clusters = g.doubles(&[self.clusters.len()], self.clusters.iter().map(|&c| f64::from(c)).collect());
        let cluster = g.op("Gather", &[&clusters, &nearest]);
        let closest = g.reduce("ReduceMin", &masked, 1, true);
        let found = g.op("LessOrEqual", &[&closest, &limit]);
        Ok(g.op("Where", &[&found, &cluster, &noise]))
    }
}
