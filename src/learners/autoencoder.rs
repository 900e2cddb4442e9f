//! An autoencoder anomaly detector, written here: a network trained (as
//! `mlp.rs` trains) to reproduce each standardised row through a narrower
//! layer; the anomaly score is the row's mean squared reconstruction error,
//! and the threshold flags the `--contamination` share of training rows.

use super::mlp::{train, Goal, Problem, Schedule};
use super::{calibrate, Adapter, TrainSet};
use crate::data::Task;
use crate::learners::space::{hyperparameters, int, real};
use crate::model::estimator::Autoencoder as Detector;
use crate::model::Estimator;

/// The autoencoder adapter.
pub struct Autoencoder;

hyperparameters! {
    /// The autoencoder's hyperparameters.
    AutoencoderParams(_task) {
        /// Width of the narrowest layer, as a share of the features.
        bottleneck: f64 = real(0.1, 0.9, false, 0.5),
        /// Hidden layers: the bottleneck alone, or wider layers around it.
        layers: usize = int(1, 3, false, 1),
        /// Adam's step size.
        learning_rate: f64 = real(1e-4, 3e-2, true, 3e-3),
        /// Decoupled weight decay, per step, relative to the step size.
        weight_decay: f64 = real(1e-6, 1e-1, true, 1e-4),
        /// Most passes over the training rows (early stopping may end sooner).
        epochs: usize = int(10, 300, true, 30),
    }
}

impl Adapter for Autoencoder {
    type Params = AutoencoderParams;

    fn supports(&self, task: Task) -> bool {
        task == Task::Anomaly
    }

    fn scaled(&self) -> bool {
        true
    }

    fn cost(&self, p: &AutoencoderParams, n: usize, d: usize, _k: usize) -> f64 {
        let sizes = sizes(p, d);
        let weights: usize = sizes.windows(2).map(|w| w[0] * w[1]).sum();
        p.epochs as f64 * n as f64 * weights as f64 * 6.0 * 0.5
    }

    fn fit(
        &self,
        data: &TrainSet<'_>,
        p: &AutoencoderParams,
        seed: u64,
    ) -> Result<Estimator, String> {
        let problem = Problem {
            outputs: data.d,
            goal: Goal::Reconstruction,
        };
        let schedule = Schedule {
            learning_rate: p.learning_rate,
            weight_decay: p.weight_decay,
            epochs: p.epochs,
        };
        let net = train(data, &problem, &sizes(p, data.d), &schedule, seed)?;
        let detector = Detector {
            network: net.into_network(&problem),
            threshold: f64::INFINITY,
        };
        calibrate(Estimator::Autoencoder(detector), data)
    }
}

/// `d` features through the bottleneck and back: `d → b → d`, or with three
/// hidden layers `d → h → b → h → d`, `h` halfway between `b` and `d`.
fn sizes(p: &AutoencoderParams, d: usize) -> Vec<usize> {
    let b = ((p.bottleneck * d as f64).round() as usize).clamp(1, d.max(1));
    let h = (b + d).div_ceil(2);
    if p.layers >= 3 {
        vec![d, h, b, h, d]
    } else if p.layers == 2 {
        vec![d, h, b, d]
    } else {
        vec![d, b, d]
    }
}
