//! k nearest neighbours over stored (scaled) training rows.

use serde::{Deserialize, Serialize};

use super::{all_finite, ensure, Kind, Lowered, Shape, Table, WeightingDef};
use crate::model::graph::{Attr, Graph};
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

    /// [`kernels::neighbors`]: the k nearest rows (`TopK` breaks ties to
    /// the earlier row, as the kernel does), their weights, then the
    /// weighted mean of their values or their weighted class shares.
    fn graph(&self, g: &mut Graph, x: &str, w: usize) -> Result<String, String> {
        let n = self.targets.len();
        let d = self.points.len() / n.max(1);
        let dist = g.squared_distances(x, &self.points, d);
        let k = g.ints(&[1], vec![self.kept() as i64]);
        let smallest = vec![("axis", Attr::Int(1)), ("largest", Attr::Int(0)), ("sorted", Attr::Int(1))];
        let (near, index) = g.node_pair("TopK", &[&dist, &k], smallest);
        let weight = match self.weighting {
            // Ones shaped like the distances (which are finite).
            Weighting::Uniform => {
                let zero = g.scalar(0.0);
                let zeros = g.op("Mul", &[&near, &zero]);
                let one = g.scalar(1.0);
                g.op("Add", &[&zeros, &one])
            }
            Weighting::Distance => {
                let zero = g.scalar(0.0);
                let is_exact = g.op("Equal", &[&near, &zero]);
                let exact = g.to_double(&is_exact);
                let any = g.reduce("ReduceMax", &exact, 1, true);
                let some = g.op("Greater", &[&any, &zero]);
                let root = g.op("Sqrt", &[&near]);
                let one = g.scalar(1.0);
                let inverse = g.op("Div", &[&one, &root]);
                g.op("Where", &[&some, &exact, &inverse])
            }
        };
        let total = g.reduce("ReduceSum", &weight, 1, true);
        if w == 1 {
            let targets = g.doubles(&[n], self.targets.clone());
            let values = g.op("Gather", &[&targets, &index]);
            let weighted = g.op("Mul", &[&weight, &values]);
            let sum = g.reduce("ReduceSum", &weighted, 1, true);
            return Ok(g.op("Div", &[&sum, &total]));
        }
        let one_hot = (0..n * w)
            .map(|at| f64::from(u8::from(self.targets[at / w] as usize == at % w)))
            .collect();
        let one_hot = g.doubles(&[n, w], one_hot);
        let votes = g.op("Gather", &[&one_hot, &index]);
        let share = g.op("Div", &[&weight, &total]);
        let share = g.unsqueeze(&share, 2);
        let weighted = g.op("Mul", &[&votes, &share]);
        Ok(g.reduce("ReduceSum", &weighted, 1, false))
    }
}
