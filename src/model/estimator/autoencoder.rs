//! An autoencoder detector: a network trained to reproduce its standardised
//! input through a narrower layer; rows it reconstructs badly are anomalies.

use serde::{Deserialize, Serialize};

use super::{ensure, threshold_note, Kind, Lowered, Network, Shape, Table};
use crate::model::graph::Graph;
use crate::model::kernels::{self, Link};

/// The reconstructing network (identity link, as many outputs as
/// features) and the threshold on the mean squared reconstruction error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Autoencoder {
    /// The network.
    pub network: Network,
    /// Scores above it are anomalies.
    pub threshold: f64,
}

impl Kind for Autoencoder {
    fn shape(&self) -> Shape {
        Shape::Anomaly
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        let n = &self.network;
        let (mut a, mut b) = (vec![0.0; n.widest()], vec![0.0; n.widest()]);
        let (sizes, weights, biases) = (&n.sizes, &n.weights, &n.biases);
        kernels::autoencoder(sizes, weights, biases, self.threshold, &mut a, &mut b, x, out);
    }

    fn check(&self, d: usize, _w: usize) -> Result<(), String> {
        ensure(self.network.link == Link::Identity, || {
            "an autoencoder's network must have the identity link".into()
        })?;
        Kind::check(&self.network, d, d)
    }

    fn summary(&self) -> String {
        let sizes: Vec<String> = self.network.sizes.iter().map(u32::to_string).collect();
        format!(
            "autoencoder {} (ReLU), score: mean squared reconstruction error{}",
            sizes.join(" → "),
            threshold_note(Some(self.threshold))
        )
    }

    fn finite(&self) -> bool {
        Kind::finite(&self.network) && self.threshold.is_finite()
    }

    fn lower(&self) -> Lowered {
        let threshold = ("THRESHOLD", Table::F64(self.threshold));
        self.network.lower_into("autoencoder", threshold)
    }

    /// [`kernels::autoencoder`]: the mean squared difference between the
    /// row and its reconstruction.
    fn graph(&self, g: &mut Graph, x: &str, _w: usize) -> Result<String, String> {
        let back = self.network.graph_layers(g, x);
        let diff = g.op("Sub", &[&back, x]);
        let square = g.op("Mul", &[&diff, &diff]);
        let total = g.reduce("ReduceSum", &square, 1, true);
        let d = g.scalar(self.network.sizes[0].max(1) as f64);
        let score = g.op("Div", &[&total, &d]);
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
