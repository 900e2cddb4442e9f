//! k nearest neighbours over stored (scaled) training rows.

use serde::{Deserialize, Serialize};

use super::{all_finite, ensure, Kind, Lowered, Shape, Table, WeightingDef};
use crate::model::kernels::{self, Weighting};

/// Stored training rows; the k nearest by Euclidean distance vote (classes)
/// or are averaged (regression). Ties in distance go to the earlier row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbors {
    /// Number of neighbours.
    pub k: usize,
    /// Vote weighting.
    #[serde(with = "WeightingDef")]
    pub weighting: Weighting,
    /// Row-major training features (scaled).
    pub points: Vec<f64>,
    /// Class index or value per training row.
    pub targets: Vec<f64>,
}

impl Neighbors {
    /// Neighbours actually kept: k, at most the stored rows, at least one.
    pub fn kept(&self) -> usize {
        self.k.min(self.targets.len()).max(1)
    }
}

impl Kind for Neighbors {
    fn shape(&self) -> Shape {
        Shape::Supervised
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        let mut best = vec![(0.0, 0); self.kept()];
        let (points, targets) = (&self.points, &self.targets);
        kernels::neighbors(points, targets, self.weighting, &mut best, x, out);
    }

    fn check(&self, d: usize, w: usize) -> Result<(), String> {
        ensure(self.k > 0, || "k is 0".into())?;
        ensure(self.points.len() == self.targets.len() * d, || {
            format!(
                "{} stored values are not rows of {d} features",
                self.points.len()
            )
        })?;
        ensure(
            w == 1 || self.targets.iter().all(|t| *t >= 0.0 && (*t as usize) < w),
            || format!("a stored class is not one of the {w} classes"),
        )
    }

    fn summary(&self) -> String {
        format!(
            "{} nearest of {} stored rows, {:?} weights",
            self.k,
            self.targets.len(),
            self.weighting
        )
        .to_lowercase()
    }

    fn finite(&self) -> bool {
        all_finite(&self.points) && all_finite(&self.targets)
    }

    fn lower(&self) -> Lowered {
        Lowered::new(
            vec![
                ("POINTS", Table::F64s(self.points.clone())),
                ("TARGETS", Table::F64s(self.targets.clone())),
                ("WEIGHTING", Table::Weighting(self.weighting)),
                ("K", Table::Usize(self.kept())),
            ],
            "kernels::neighbors(&POINTS, &TARGETS, WEIGHTING, &mut [(0.0, 0); K], x, out);",
        )
    }
}
