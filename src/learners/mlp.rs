//! A multilayer perceptron, written here: dense layers with ReLU, trained
//! by mini-batch Adam with decoupled weight decay on standardised features
//! (softmax cross-entropy for classes, squared error on the standardised
//! target for values), with early stopping on a seeded tenth of the
//! training rows: the weights of the epoch that scored best there are kept.
//! Single-threaded and seeded, so a run is reproducible; cancellable
//! between epochs. Lowered into the `network` estimator, whose kernel
//! scores it.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{hold_out, Adapter, TrainSet};
use crate::data::Task;
use crate::learners::space::{hyperparameters, int, real, Preset};
use crate::model::estimator::{Link, Network};
use crate::model::Estimator;

/// The neural-network adapter.
pub struct Mlp;

/// Rows per gradient step.
const BATCH: usize = 32;

/// Epochs without a better held-out loss before training stops.
const PATIENCE: usize = 10;

/// Adam's moment decays and its guard against division by zero.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

hyperparameters! {
    /// The network's hyperparameters.
    MlpParams(_task) {
        /// Units in each hidden layer.
        width: usize = int(8, 256, true, 32),
        /// Hidden layers.
        layers: usize = int(1, 3, false, 1),
        /// Adam's step size.
        learning_rate: f64 = real(1e-4, 3e-2, true, 3e-3),
        /// Decoupled weight decay, per step, relative to the step size.
        weight_decay: f64 = real(1e-6, 1e-1, true, 1e-4),
        /// Most passes over the training rows (early stopping may end sooner).
        epochs: usize = int(10, 400, true, 30),
    }
}

impl Adapter for Mlp {
    type Params = MlpParams;

    fn supports(&self, task: Task) -> bool {
        task.is_supervised()
    }

    fn scaled(&self) -> bool {
        true
    }

    /// scikit-learn's `MLPClassifier` / `MLPRegressor` defaults: one
    /// hidden layer of 100, step 0.001, L2 1e-4, up to 200 epochs; and a
    /// deeper, narrower one.
    fn presets(&self) -> &'static [Preset] {
        &[
            &[
                ("width", 100.0),
                ("layers", 1.0),
                ("learning_rate", 1e-3),
                ("weight_decay", 1e-4),
                ("epochs", 200.0),
            ],
            &[
                ("width", 64.0),
                ("layers", 2.0),
                ("learning_rate", 1e-3),
                ("weight_decay", 1e-4),
                ("epochs", 200.0),
            ],
        ]
    }

    fn cost(&self, p: &MlpParams, n: usize, d: usize, k: usize) -> f64 {
        let sizes = sizes(p, d, outputs(k));
        let weights: usize = sizes.windows(2).map(|w| w[0] * w[1]).sum();
        // Forward, backward and the update: about six multiply-adds per
        // weight per row; early stopping often ends at a third of the epochs.
        p.epochs as f64 * n as f64 * weights as f64 * 6.0 * 0.5
    }

    fn fit(&self, data: &TrainSet<'_>, p: &MlpParams, seed: u64) -> Result<Estimator, String> {
        let problem = Problem::new(data);
        let sizes = sizes(p, data.d, problem.outputs);
        let schedule = Schedule {
            learning_rate: p.learning_rate,
            weight_decay: p.weight_decay,
            epochs: p.epochs,
        };
        Ok(train(data, &problem, &sizes, &schedule, seed)?.lower(&problem))
    }
}

/// How a network is trained.
#[derive(Debug, Clone, Copy)]
pub(super) struct Schedule {
    /// Adam's step size.
    pub learning_rate: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Most passes over the training rows.
    pub epochs: usize,
}

/// Trains a network of `sizes` on `data` for `problem`: mini-batch AdamW,
/// keeping the weights of the epoch with the best loss on a seeded tenth
/// of the rows (on the training rows when there are fewer than 20).
pub(super) fn train(
    data: &TrainSet<'_>,
    problem: &Problem,
    sizes: &[usize],
    schedule: &Schedule,
    seed: u64,
) -> Result<Net, String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (valid, train) = hold_out(data.n, 20, &mut rng);
    let valid = &valid[..];
    let mut net = Net::new(sizes, &mut rng);
    let mut adam = Adam::new(&net);
    let mut train = train;
    let mut best = (f64::INFINITY, net.clone());
    let mut stale = 0;
    for _ in 0..schedule.epochs {
        data.cancel.check()?;
        train.shuffle(&mut rng);
        for batch in train.chunks(BATCH) {
            let grad = net.gradient(data, problem, batch);
            adam.step(&mut net, &grad, schedule);
        }
        let scored = if valid.is_empty() { &train[..] } else { valid };
        let loss = net.loss(data, problem, scored);
        if !loss.is_finite() {
            break;
        }
        if loss < best.0 {
            best = (loss, net.clone());
            stale = 0;
        } else {
            stale += 1;
            if stale >= PATIENCE {
                break;
            }
        }
    }
    Ok(best.1)
}

/// Network outputs for `k` target values: one per class, one for a value.
fn outputs(k: usize) -> usize {
    k.max(1)
}

/// Layer sizes: the features, `layers` hidden layers of `width`, outputs.
fn sizes(p: &MlpParams, d: usize, outputs: usize) -> Vec<usize> {
    std::iter::once(d)
        .chain(std::iter::repeat_n(p.width, p.layers))
        .chain(std::iter::once(outputs))
        .collect()
}

/// What a network learns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Goal {
    /// Class probabilities (softmax cross-entropy).
    Classes,
    /// A value, standardised by its mean and standard deviation (squared
    /// error).
    Value { mean: f64, scale: f64 },
    /// The input row itself (squared error per feature): an autoencoder.
    Reconstruction,
}

/// What a network learns and how many outputs that takes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Problem {
    /// Values the last layer writes.
    pub outputs: usize,
    /// The target.
    pub goal: Goal,
}

impl Problem {
    /// The supervised problem of `data`: its classes or its value.
    fn new(data: &TrainSet<'_>) -> Problem {
        let values = data.values();
        let goal = if values.is_empty() {
            Goal::Classes
        } else {
            let n = values.len().max(1) as f64;
            let mean = values.iter().sum::<f64>() / n;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            let scale = if var > 0.0 { var.sqrt() } else { 1.0 };
            Goal::Value { mean, scale }
        };
        Problem {
            outputs: outputs(data.width()),
            goal,
        }
    }

    /// The output layer's error for row `r` given its raw outputs `z`
    /// (softmax applied in place for classes), and the row's loss.
    fn error(&self, data: &TrainSet<'_>, r: usize, z: &mut [f64]) -> f64 {
        match self.goal {
            Goal::Classes => {
                crate::model::kernels::softmax(z);
                let y = data.classes()[r];
                let loss = -z[y].max(1e-15).ln();
                z[y] -= 1.0;
                loss
            }
            Goal::Value { mean, scale } => {
                let target = (data.values()[r] - mean) / scale;
                z[0] -= target;
                0.5 * z[0] * z[0]
            }
            Goal::Reconstruction => {
                let x = &data.x[r * data.d..(r + 1) * data.d];
                let mut loss = 0.0;
                for (e, v) in z.iter_mut().zip(x) {
                    *e -= v;
                    loss += 0.5 * *e * *e;
                }
                loss / data.d.max(1) as f64
            }
        }
    }
}

/// Weights and biases, layer by layer, as the `network` kernel lays them
/// out.
#[derive(Debug, Clone)]
pub(super) struct Net {
    sizes: Vec<usize>,
    weights: Vec<f64>,
    biases: Vec<f64>,
}

impl Net {
    /// He-uniform weights (limit √(6 / inputs)), zero biases.
    fn new(sizes: &[usize], rng: &mut impl Rng) -> Net {
        let mut weights = Vec::new();
        for w in sizes.windows(2) {
            let limit = (6.0 / w[0].max(1) as f64).sqrt();
            weights.extend((0..w[0] * w[1]).map(|_| rng.gen_range(-limit..limit)));
        }
        let biases = vec![0.0; sizes[1..].iter().sum()];
        Net {
            sizes: sizes.to_vec(),
            weights,
            biases,
        }
    }

    fn zeros(&self) -> Net {
        Net {
            sizes: self.sizes.clone(),
            weights: vec![0.0; self.weights.len()],
            biases: vec![0.0; self.biases.len()],
        }
    }

    /// Every layer's values for one row: the input, each hidden layer after
    /// ReLU, and the raw outputs.
    fn forward(&self, x: &[f64], acts: &mut [Vec<f64>]) {
        acts[0].copy_from_slice(x);
        let (mut w_at, mut b_at) = (0, 0);
        let layers = self.sizes.len() - 1;
        for l in 0..layers {
            let (inputs, outputs) = (self.sizes[l], self.sizes[l + 1]);
            let (before, after) = acts.split_at_mut(l + 1);
            let (input, output) = (&before[l], &mut after[0]);
            for (o, value) in output.iter_mut().enumerate() {
                let row = &self.weights[w_at + o * inputs..w_at + (o + 1) * inputs];
                let z = self.biases[b_at + o] + dot(row, input);
                *value = if l + 1 < layers { z.max(0.0) } else { z };
            }
            w_at += inputs * outputs;
            b_at += outputs;
        }
    }

    fn activations(&self) -> Vec<Vec<f64>> {
        self.sizes.iter().map(|&s| vec![0.0; s]).collect()
    }

    /// The mean gradient of the loss over `batch`.
    fn gradient(&self, data: &TrainSet<'_>, problem: &Problem, batch: &[usize]) -> Net {
        let mut grad = self.zeros();
        let mut acts = self.activations();
        let mut deltas = self.activations();
        for &r in batch {
            self.forward(&data.x[r * data.d..(r + 1) * data.d], &mut acts);
            let last = self.sizes.len() - 1;
            deltas[last].copy_from_slice(&acts[last]);
            problem.error(data, r, &mut deltas[last]);
            self.backward(&acts, &mut deltas, &mut grad);
        }
        let n = batch.len().max(1) as f64;
        grad.weights
            .iter_mut()
            .chain(grad.biases.iter_mut())
            .for_each(|g| *g /= n);
        grad
    }

    /// Adds one row's gradient to `grad`, from the output layer's error in
    /// `deltas` back to the first layer.
    fn backward(&self, acts: &[Vec<f64>], deltas: &mut [Vec<f64>], grad: &mut Net) {
        let layers = self.sizes.len() - 1;
        let mut w_at = self.weights.len();
        let mut b_at = self.biases.len();
        for l in (0..layers).rev() {
            let (inputs, outputs) = (self.sizes[l], self.sizes[l + 1]);
            w_at -= inputs * outputs;
            b_at -= outputs;
            let (before, after) = deltas.split_at_mut(l + 1);
            let (below, delta) = (&mut before[l], &after[0]);
            below.iter_mut().for_each(|v| *v = 0.0);
            for (o, &e) in delta.iter().enumerate() {
                grad.biases[b_at + o] += e;
                let at = w_at + o * inputs;
                let row = &self.weights[at..at + inputs];
                let g = &mut grad.weights[at..at + inputs];
                for i in 0..inputs {
                    g[i] += e * acts[l][i];
                    below[i] += row[i] * e;
                }
            }
            // Through the ReLU of the layer below (the input has none).
            if l > 0 {
                for (b, a) in below.iter_mut().zip(&acts[l]) {
                    if *a <= 0.0 {
                        *b = 0.0;
                    }
                }
            }
        }
    }

    /// Mean loss over `rows`.
    fn loss(&self, data: &TrainSet<'_>, problem: &Problem, rows: &[usize]) -> f64 {
        let mut acts = self.activations();
        let last = self.sizes.len() - 1;
        let total: f64 = rows
            .iter()
            .map(|&r| {
                self.forward(&data.x[r * data.d..(r + 1) * data.d], &mut acts);
                // The outputs are not needed after their error.
                problem.error(data, r, &mut acts[last])
            })
            .sum();
        total / rows.len().max(1) as f64
    }

    /// The portable estimator: for a value, the last layer maps back from
    /// the standardised target.
    fn lower(self, problem: &Problem) -> Estimator {
        Estimator::Network(self.into_network(problem))
    }

    /// The network as the model holds it.
    pub(super) fn into_network(mut self, problem: &Problem) -> Network {
        if let Goal::Value { mean, scale } = problem.goal {
            let last = self.sizes[self.sizes.len() - 2];
            let at = self.weights.len() - last;
            self.weights[at..].iter_mut().for_each(|w| *w *= scale);
            if let Some(b) = self.biases.last_mut() {
                *b = *b * scale + mean;
            }
        }
        Network {
            sizes: self.sizes.iter().map(|&s| s as u32).collect(),
            weights: self.weights,
            biases: self.biases,
            link: if problem.goal == Goal::Classes {
                Link::Softmax
            } else {
                Link::Identity
            },
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Adam's first and second moments of every weight and bias.
struct Adam {
    m: Net,
    v: Net,
    t: i32,
}

impl Adam {
    fn new(net: &Net) -> Adam {
        Adam {
            m: net.zeros(),
            v: net.zeros(),
            t: 0,
        }
    }

    /// One step of AdamW (Loshchilov and Hutter): the decay shrinks weights,
    /// not biases, apart from the gradient's moments.
    fn step(&mut self, net: &mut Net, grad: &Net, p: &Schedule) {
        self.t += 1;
        let c1 = 1.0 - BETA1.powi(self.t);
        let c2 = 1.0 - BETA2.powi(self.t);
        let lr = p.learning_rate;
        let update = |w: &mut f64, g: f64, m: &mut f64, v: &mut f64, decay: f64| {
            *m = BETA1 * *m + (1.0 - BETA1) * g;
            *v = BETA2 * *v + (1.0 - BETA2) * g * g;
            *w -= lr * ((*m / c1) / ((*v / c2).sqrt() + EPSILON) + decay * *w);
        };
        for i in 0..net.weights.len() {
            let (m, v) = (&mut self.m.weights[i], &mut self.v.weights[i]);
            update(&mut net.weights[i], grad.weights[i], m, v, p.weight_decay);
        }
        for i in 0..net.biases.len() {
            let (m, v) = (&mut self.m.biases[i], &mut self.v.biases[i]);
            update(&mut net.biases[i], grad.biases[i], m, v, 0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Target;
    use crate::learners::testdata::set;

    fn params(layers: usize) -> MlpParams {
        MlpParams {
            width: 5,
            layers,
            learning_rate: 1e-2,
            weight_decay: 1e-4,
            epochs: 50,
        }
    }

    /// Backpropagation's gradient equals the loss's central differences.
    fn check_gradient(target: &Target, outputs: usize) {
        let x = [0.3, -1.2, 0.8, 0.5, -0.4, 1.1, 2.0, 0.1, -0.7];
        let data = set(&x, 3, 3, target);
        let problem = Problem::new(&data);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let net = Net::new(&sizes(&params(2), 3, outputs), &mut rng);
        let rows = [0, 1, 2];
        let grad = net.gradient(&data, &problem, &rows);
        let h = 1e-6;
        for i in 0..net.weights.len() {
            let (mut up, mut down) = (net.clone(), net.clone());
            up.weights[i] += h;
            down.weights[i] -= h;
            let numeric =
                (up.loss(&data, &problem, &rows) - down.loss(&data, &problem, &rows)) / (2.0 * h);
            assert!(
                (numeric - grad.weights[i]).abs() < 1e-6,
                "weight {i}: {numeric} vs {}",
                grad.weights[i]
            );
        }
    }

    #[test]
    fn backpropagation_matches_finite_differences() {
        let classes = Target::Classes {
            labels: vec!["a".into(), "b".into(), "c".into()],
            y: vec![0, 2, 1],
        };
        check_gradient(&classes, 3);
        check_gradient(&Target::Values(vec![1.5, -2.0, 0.25]), 1);
    }

    #[test]
    fn a_seeded_fit_is_reproducible_and_scores_like_its_training_forward_pass() {
        let x: Vec<f64> = (0..120)
            .map(|i| ((i * 37) % 17) as f64 / 8.0 - 1.0)
            .collect();
        let values: Vec<f64> = x.chunks(2).map(|r| 3.0 * r[0] - r[1]).collect();
        let target = Target::Values(values);
        let data = set(&x, 60, 2, &target);
        let a = Mlp.fit(&data, &params(1), 9).unwrap();
        let b = Mlp.fit(&data, &params(1), 9).unwrap();
        assert_eq!(a, b);
        let c = Mlp.fit(&data, &params(1), 10).unwrap();
        assert_ne!(a, c, "another seed, other weights");
        // The lowered network undoes the target's standardisation.
        let mut out = [0.0];
        let mut err = 0.0;
        for (row, y) in x.chunks(2).zip(target_values(&target)) {
            a.score(row, &mut out);
            err += (out[0] - y).powi(2);
        }
        assert!(err / 60.0 < 0.5, "mean squared error {}", err / 60.0);
    }

    fn target_values(t: &Target) -> Vec<f64> {
        match t {
            Target::Values(v) => v.clone(),
            _ => Vec::new(),
        }
    }
}
