//! Gradient-boosted trees, written here: histogram boosting grown
//! leaf-wise as LightGBM does ([`bins`] cuts each feature into at most 256
//! bins, [`grow`] grows one tree on them). Multiclass is native: each round
//! fits one tree per class to the gradients of one softmax, not K separate
//! boosters. With `stopping = held_out` on a thousand rows or more, a
//! seeded tenth is held out and boosting stops once its loss has not
//! improved for a tenth of the rounds (at least 10), keeping the best round. Seeded and reproducible; large
//! leaves build their histograms on both cores; cancellable between trees.
//! The trees lower into the shared tree tables as `x < cut` splits.

mod bins;
mod grow;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use self::bins::Bins;
use rayon::prelude::*;

use self::grow::{leaf_of, Gradients, Grower, Grown, Layout, Limits, Node};
use super::{hold_out, Adapter, Cancel, RawTree, TrainSet};
use crate::data::Task;
use crate::learners::space::{choice, choices, hyperparameters, int, real, Preset};
use crate::model::estimator::{Combine, Link, Rule, TreeEnsemble};
use crate::model::Estimator;

/// The gradient-boosting adapter.
pub struct Gbdt;

/// Fewest rows for early stopping: a tenth of fewer is too noisy to stop on,
/// and too dear to take from training.
const EARLY_STOPPING_ROWS: usize = 1000;

/// Least hessian sum in a leaf (LightGBM's `min_sum_hessian_in_leaf`).
const MIN_HESSIAN: f64 = 1e-3;

choices! {
    /// When boosting stops.
    Stopping {
        /// After the most rounds, or sooner once a held-out tenth of the
        /// rows stops improving (on a thousand rows or more).
        HeldOut = "held_out",
        /// After the most rounds, every row trained on.
        Rounds = "rounds",
    }
}

hyperparameters! {
    /// Gradient boosting's hyperparameters.
    GbdtParams(_task) {
        /// Most boosting rounds (early stopping may end sooner).
        iterations: usize = int(10, 1000, true, 10),
        /// Shrinkage of each tree's contribution.
        learning_rate: f64 = real(0.01, 1.0, true, 0.1),
        /// Most leaves of a tree.
        max_leaves: usize = int(4, 256, true, 8),
        /// Fewest training rows in a leaf.
        min_leaf_rows: usize = int(1, 128, true, 20),
        /// L2 penalty on leaf values.
        l2: f64 = real(1e-3, 100.0, true, 1.0),
        /// Share of rows each round sees.
        subsample: f64 = real(0.5, 1.0, false, 1.0),
        /// Share of features each round sees.
        colsample_bytree: f64 = real(0.4, 1.0, false, 1.0),
        /// When boosting stops.
        stopping: Stopping = choice(Stopping::HeldOut),
    }
}

impl Adapter for Gbdt {
    type Params = GbdtParams;

    fn supports(&self, task: Task) -> bool {
        task.is_supervised()
    }

    fn scaled(&self) -> bool {
        false
    }

    /// LightGBM's defaults (100 rounds of 31 leaves, step 0.1, 20 rows a
    /// leaf) with L2 1; and many slower rounds on sampled rows and
    /// features, with larger and with smaller trees.
    fn presets(&self) -> &'static [Preset] {
        &[
            &[
                ("iterations", 100.0),
                ("learning_rate", 0.1),
                ("max_leaves", 31.0),
                ("min_leaf_rows", 20.0),
            ],
            &[
                ("iterations", 300.0),
                ("learning_rate", 0.05),
                ("max_leaves", 63.0),
                ("subsample", 0.8),
                ("colsample_bytree", 0.8),
            ],
            &[
                ("iterations", 500.0),
                ("learning_rate", 0.03),
                ("max_leaves", 15.0),
                ("min_leaf_rows", 10.0),
                ("subsample", 0.8),
                ("colsample_bytree", 0.6),
            ],
        ]
    }

    fn cost(&self, p: &GbdtParams, n: usize, d: usize, k: usize) -> f64 {
        let trees = if k > 2 { k } else { 1 } as f64;
        let levels = (p.max_leaves as f64).log2().max(1.0);
        let (n, d) = (n as f64, d as f64);
        // The root's histogram, then each level's smaller children; and
        // every row's walk to its leaf.
        let per_tree = n * p.subsample * d * p.colsample_bytree * (1.0 + levels / 2.0) * 2.0;
        let per_walk = n * levels * 2.0;
        let binning = n * d * 40.0;
        p.iterations as f64 * trees * (per_tree + per_walk) + binning
    }

    fn fit(&self, data: &TrainSet<'_>, p: &GbdtParams, seed: u64) -> Result<Estimator, String> {
        if data.n == 0 {
            return Err("no rows to fit".into());
        }
        let objective = Objective::of(data);
        let bins = Bins::of(data.x, data.n, data.d);
        let mut rng = StdRng::seed_from_u64(seed);
        let least = match p.stopping {
            Stopping::HeldOut => EARLY_STOPPING_ROWS,
            Stopping::Rounds => usize::MAX,
        };
        let (valid, train) = hold_out(data.n, least, &mut rng);
        // Rows in order read the codes in order.
        let sorted = |rows: &[usize]| {
            let mut rows: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
            rows.sort_unstable();
            rows
        };
        let (valid, train) = (sorted(&valid), sorted(&train));
        // On one of the pool's threads: its fork-joins then cost a queue
        // push, not a wake-up of another thread each (a refit runs on a
        // thread of its own).
        let booster = rayon::scope(|_| {
            Booster::train(
                &bins,
                &objective,
                p,
                (&train, &valid),
                &mut rng,
                data.cancel,
            )
        })?;
        Ok(booster.lower(&bins, objective.link()))
    }
}

/// The loss boosted: its gradients, starting point, and held-out loss.
enum Objective<'a> {
    /// Squared error on a value.
    Squared(&'a [f64]),
    /// Log loss on two classes: one output, the log-odds of class 1.
    Logistic(&'a [usize]),
    /// Softmax cross-entropy on `k` classes: one output per class.
    Softmax { y: &'a [usize], k: usize },
}

/// Smallest probability a loss takes the log of.
const TINY: f64 = 1e-15;

impl<'a> Objective<'a> {
    fn of(data: &'a TrainSet<'_>) -> Objective<'a> {
        match data.width() {
            1 => Objective::Squared(data.values()),
            2 => Objective::Logistic(data.classes()),
            k => Objective::Softmax {
                y: data.classes(),
                k,
            },
        }
    }

    fn outputs(&self) -> usize {
        match self {
            Objective::Squared(_) | Objective::Logistic(_) => 1,
            Objective::Softmax { k, .. } => *k,
        }
    }

    fn link(&self) -> Link {
        match self {
            Objective::Squared(_) => Link::Identity,
            Objective::Logistic(_) => Link::Sigmoid,
            Objective::Softmax { .. } => Link::Softmax,
        }
    }

    /// The best constant on `rows`, per output: the mean, the log-odds,
    /// the log of each class's share.
    fn base(&self, rows: &[u32]) -> Vec<f64> {
        let n = rows.len().max(1) as f64;
        let share = |y: &[usize], c: usize| {
            let count = rows.iter().filter(|&&r| y[r as usize] == c).count();
            (count as f64 / n).clamp(1e-6, 1.0 - 1e-6)
        };
        match self {
            Objective::Squared(v) => vec![rows.iter().map(|&r| v[r as usize]).sum::<f64>() / n],
            Objective::Logistic(y) => {
                let p = share(y, 1);
                vec![(p / (1.0 - p)).ln()]
            }
            Objective::Softmax { y, k } => (0..*k).map(|c| share(y, c).ln()).collect(),
        }
    }

    /// Writes every row's gradients and hessians at the scores `raw`
    /// (output `c` of row `r` at `c * n + r`, as in `g` and `h`), in
    /// parallel chunks of rows: each value depends on its row alone.
    fn gradients(&self, raw: &[f64], g: &mut [f64], h: &mut [f64]) {
        let n = raw.len() / self.outputs();
        match self {
            Objective::Squared(v) => each_row(raw, g, h, |r, score| (score - v[r], 1.0)),
            Objective::Logistic(y) => each_row(raw, g, h, |r, score| {
                let p = sigmoid(score);
                (
                    p - f64::from(u8::from(y[r] == 1)),
                    (p * (1.0 - p)).max(TINY),
                )
            }),
            Objective::Softmax { y, k } => {
                let mut p = vec![0.0; n * k];
                p.par_chunks_mut(k * ROWS_PER_TASK)
                    .enumerate()
                    .for_each(|(i, chunk)| {
                        for (j, row) in chunk.chunks_mut(*k).enumerate() {
                            softmax(raw, n, i * ROWS_PER_TASK + j, row);
                        }
                    });
                // LightGBM's hessian factor k / (k - 1) keeps the steps of
                // k trees as large as one binary tree's.
                let factor = *k as f64 / (*k as f64 - 1.0);
                g.par_chunks_mut(n)
                    .zip(h.par_chunks_mut(n))
                    .enumerate()
                    .for_each(|(c, (gc, hc))| {
                        for r in 0..n {
                            let pc = p[r * k + c];
                            gc[r] = pc - f64::from(u8::from(y[r] == c));
                            hc[r] = (factor * pc * (1.0 - pc)).max(TINY);
                        }
                    });
            }
        }
    }

    /// Mean loss over `rows` at the scores `raw`.
    fn loss(&self, raw: &[f64], rows: &[u32]) -> f64 {
        let n = raw.len() / self.outputs();
        let total: f64 = match self {
            Objective::Squared(v) => rows
                .iter()
                .map(|&r| (raw[r as usize] - v[r as usize]).powi(2))
                .sum(),
            Objective::Logistic(y) => rows
                .iter()
                .map(|&r| {
                    let p = sigmoid(raw[r as usize]);
                    let p = if y[r as usize] == 1 { p } else { 1.0 - p };
                    -p.max(TINY).ln()
                })
                .sum(),
            Objective::Softmax { y, k } => {
                let mut p = vec![0.0; *k];
                rows.iter()
                    .map(|&r| {
                        softmax(raw, n, r as usize, &mut p);
                        -p[y[r as usize]].max(TINY).ln()
                    })
                    .sum()
            }
        };
        total / rows.len().max(1) as f64
    }
}

/// Rows per task where rows are shared out between threads.
const ROWS_PER_TASK: usize = 4096;

/// Sets `(g[r], h[r]) = f(r, raw[r])` for every row, in parallel chunks.
fn each_row(
    raw: &[f64],
    g: &mut [f64],
    h: &mut [f64],
    f: impl Fn(usize, f64) -> (f64, f64) + Sync,
) {
    g.par_chunks_mut(ROWS_PER_TASK)
        .zip(h.par_chunks_mut(ROWS_PER_TASK))
        .enumerate()
        .for_each(|(i, (gs, hs))| {
            let start = i * ROWS_PER_TASK;
            for (j, (gr, hr)) in gs.iter_mut().zip(hs).enumerate() {
                (*gr, *hr) = f(start + j, raw[start + j]);
            }
        });
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Row `r`'s class probabilities from its scores `raw[c * n + r]`.
fn softmax(raw: &[f64], n: usize, r: usize, p: &mut [f64]) {
    let k = p.len();
    let top = (0..k)
        .map(|c| raw[c * n + r])
        .fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for (c, pc) in p.iter_mut().enumerate() {
        *pc = (raw[c * n + r] - top).exp();
        total += *pc;
    }
    for pc in p.iter_mut() {
        *pc /= total;
    }
}

/// A trained booster: the starting scores and, per round, one tree per
/// output.
struct Booster {
    base: Vec<f64>,
    rounds: Vec<Vec<Vec<Node>>>,
}

impl Booster {
    /// Boosts on the `train` rows, stopping early on the `valid` rows when
    /// there are any.
    fn train(
        bins: &Bins,
        objective: &Objective<'_>,
        p: &GbdtParams,
        (train, valid): (&[u32], &[u32]),
        rng: &mut StdRng,
        cancel: &Cancel,
    ) -> Result<Booster, String> {
        let (outputs, n, d) = (objective.outputs(), bins.rows(), bins.cuts.len());
        let base = objective.base(train);
        let mut raw: Vec<f64> = base
            .iter()
            .flat_map(|&b| std::iter::repeat_n(b, n))
            .collect();
        let (mut g, mut h) = (vec![0.0; outputs * n], vec![0.0; outputs * n]);
        let layout = Layout::of(bins);
        let limits = Limits {
            max_leaves: p.max_leaves.max(2),
            min_rows: p.min_leaf_rows.clamp(1, u32::MAX as usize) as u32,
            min_hessian: MIN_HESSIAN,
            l2: p.l2,
        };
        let patience = (p.iterations / 10).max(10);
        let (mut best, mut rounds) = ((f64::INFINITY, 0), Vec::new());
        let (mut bag, mut features) = (Vec::with_capacity(train.len()), vec![true; d]);
        let mut bundles = vec![true; bins.bundle_bins.len()];
        let mut reached = vec![false; n];
        for _ in 0..p.iterations {
            sample_rows(train, p.subsample, rng, &mut bag);
            sample_features(p.colsample_bytree, rng, &mut features);
            bundles.fill(false);
            for (place, _) in bins.places.iter().zip(&features).filter(|(_, &f)| f) {
                bundles[place.bundle] = true;
            }
            objective.gradients(&raw, &mut g, &mut h);
            let grower = Grower {
                bins,
                layout: &layout,
                features: &features,
                bundles: &bundles,
                limits,
            };
            // A round's trees share its gradients and nothing else: one
            // class's tree per task, collected in class order.
            let grown = (0..outputs)
                .into_par_iter()
                .map(|c| {
                    cancel.check()?;
                    let grad = Gradients {
                        g: &g[c * n..(c + 1) * n],
                        h: &h[c * n..(c + 1) * n],
                    };
                    let mut rows = bag.clone();
                    let mut tree = grower.grow(&mut rows, &grad);
                    shrink(&mut tree.nodes, p.learning_rate);
                    Ok((tree, rows))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let mut trees = Vec::with_capacity(outputs);
            for (c, (tree, rows)) in grown.into_iter().enumerate() {
                add_tree(
                    &mut raw[c * n..(c + 1) * n],
                    &tree,
                    &rows,
                    bins,
                    &mut reached,
                );
                trees.push(tree.nodes);
            }
            rounds.push(trees);
            if !valid.is_empty() {
                let loss = objective.loss(&raw, valid);
                if loss < best.0 {
                    best = (loss, rounds.len());
                } else if rounds.len() - best.1 >= patience {
                    break;
                }
            }
        }
        if !valid.is_empty() {
            rounds.truncate(best.1.max(1));
        }
        Ok(Booster { base, rounds })
    }

    /// The portable tree ensemble: the trees round by round, each adding to
    /// its output.
    fn lower(self, bins: &Bins, link: Link) -> Estimator {
        let trees = self
            .rounds
            .iter()
            .flat_map(|round| round.iter().enumerate())
            .map(|(c, nodes)| raw_tree(nodes, bins).with_leaf_values(c))
            .collect();
        Estimator::Trees(TreeEnsemble {
            base: self.base,
            trees,
            combine: Combine::Sum,
            link,
        })
    }
}

/// Adds a tree's leaf values to every row's score (`raw`, one output): the
/// rows it was grown on by their leaves, the others by a walk. Either way
/// it is the value the lowered tree gives, added in the same order.
fn add_tree(raw: &mut [f64], tree: &Grown, rows: &[u32], bins: &Bins, reached: &mut [bool]) {
    reached.fill(false);
    for (node, range) in &tree.leaves {
        let Node::Leaf(value) = tree.nodes[*node] else {
            continue;
        };
        for &r in &rows[range.clone()] {
            raw[r as usize] += value;
            reached[r as usize] = true;
        }
    }
    for (r, score) in raw.iter_mut().enumerate() {
        if !reached[r] {
            *score += leaf_of(&tree.nodes, bins, r);
        }
    }
}

fn shrink(nodes: &mut [Node], rate: f64) {
    for node in nodes {
        if let Node::Leaf(v) = node {
            *v *= rate;
        }
    }
}

/// The rows a round sees: each training row with probability `share`
/// (all of them when that leaves none).
fn sample_rows(train: &[u32], share: f64, rng: &mut StdRng, bag: &mut Vec<u32>) {
    bag.clear();
    if share >= 1.0 {
        bag.extend_from_slice(train);
        return;
    }
    bag.extend(train.iter().filter(|_| rng.gen::<f64>() < share));
    if bag.is_empty() {
        bag.extend_from_slice(train);
    }
}

/// The features a round may split on: `share` of them (at least one),
/// drawn without replacement.
fn sample_features(share: f64, rng: &mut StdRng, features: &mut [bool]) {
    let d = features.len();
    let keep = ((share * d as f64).ceil() as usize).clamp(1, d.max(1));
    if keep >= d {
        features.fill(true);
        return;
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.partial_shuffle(rng, keep);
    features.fill(false);
    for &j in &order[..keep] {
        features[j] = true;
    }
}

/// A grown tree as tree tables: `x < cut` goes left.
fn raw_tree(nodes: &[Node], bins: &Bins) -> RawTree {
    let mut raw = RawTree {
        feature: Vec::with_capacity(nodes.len()),
        threshold: Vec::with_capacity(nodes.len()),
        left: Vec::with_capacity(nodes.len()),
        right: Vec::with_capacity(nodes.len()),
        leaf: Vec::with_capacity(nodes.len()),
        rule: Rule::Less,
    };
    for node in nodes {
        let (feature, threshold, left, right, leaf) = match *node {
            Node::Split {
                feature,
                bin,
                left,
                right,
            } => (
                feature as i32,
                bins.cuts[feature][bin as usize],
                left as u32,
                right as u32,
                0.0,
            ),
            Node::Leaf(v) => (-1, 0.0, 0, 0, v),
        };
        raw.feature.push(feature);
        raw.threshold.push(threshold);
        raw.left.push(left);
        raw.right.push(right);
        raw.leaf.push(leaf);
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::space::{Param, Params};
    use crate::learners::testdata;
    use crate::learners::Learner;

    fn params(task: Task, set: &[(&str, f64)]) -> Params {
        let space = Learner::space(&Gbdt, task);
        let init: Vec<f64> = space.iter().map(|d| d.init).collect();
        let mut p = Params::decode(&space, &init);
        for (name, v) in set {
            let value = match p.0.get(*name) {
                Some(Param::Int(_)) => Param::Int(*v as i64),
                _ => Param::Float(*v),
            };
            p.0.insert((*name).into(), value);
        }
        p
    }

    fn trees(e: &Estimator) -> &TreeEnsemble {
        match e {
            Estimator::Trees(t) => t,
            _ => panic!("gbdt lowers to trees"),
        }
    }

    /// The deployed model walks raw values with `x < cut`; training walked
    /// bin codes. Both must reach the same leaves, so the lowered model's
    /// scores equal the training scores bit for bit.
    #[test]
    fn lowered_trees_score_the_training_rows_as_training_did() {
        for (file, target, task) in [
            ("breast_cancer.csv", "diagnosis", Task::Binary),
            ("diabetes.csv", "progression", Task::Regression),
            ("iris.csv", "species", Task::Multiclass),
        ] {
            let (x, n, d, target, _) = testdata::load(file, target);
            let data = testdata::set(&x, n, d, &target);
            let p = GbdtParams::decode(&params(task, &[("iterations", 20.0)])).unwrap();
            let objective = Objective::of(&data);
            let bins = Bins::of(&x, n, d);
            let all: Vec<u32> = (0..n as u32).collect();
            let mut rng = StdRng::seed_from_u64(3);
            let cancel = Cancel::new();
            let booster =
                Booster::train(&bins, &objective, &p, (&all, &[]), &mut rng, &cancel).unwrap();
            let outputs = objective.outputs();
            let mut raw: Vec<f64> = booster
                .base
                .iter()
                .flat_map(|&b| std::iter::repeat_n(b, n))
                .collect();
            for round in &booster.rounds {
                for (c, nodes) in round.iter().enumerate() {
                    for r in 0..n {
                        raw[c * n + r] += leaf_of(nodes, &bins, r);
                    }
                }
            }
            let lowered = booster.lower(&bins, Link::Identity);
            let mut out = vec![0.0; outputs];
            for (r, row) in x.chunks(d).enumerate() {
                lowered.score(row, &mut out);
                for c in 0..outputs {
                    assert_eq!(out[c].to_bits(), raw[c * n + r].to_bits(), "{file} row {r}");
                }
            }
        }
    }

    /// Native multiclass: one tree per class per round, one softmax.
    #[test]
    fn multiclass_grows_one_tree_per_class_per_round_and_fits_iris() {
        let (x, n, d, target, _) = testdata::load("iris.csv", "species");
        let data = testdata::set(&x, n, d, &target);
        let p = params(Task::Multiclass, &[("iterations", 30.0)]);
        let fitted = Learner::fit(&Gbdt, &data, &p, 7).unwrap();
        let t = trees(&fitted);
        assert_eq!(t.trees.len(), 30 * 3);
        assert!(t.trees.iter().map(|t| t.output).eq((0..90).map(|i| i % 3)));
        let mut out = [0.0; 3];
        let mut loss = 0.0;
        for (row, &y) in x.chunks(d).zip(data.classes()) {
            fitted.score(row, &mut out);
            loss -= out[y].ln();
        }
        assert!(loss / (n as f64) < 0.15, "{}", loss / n as f64);
    }

    #[test]
    fn same_seed_same_trees_other_seed_other_samples() {
        let (x, n, d, target, _) = testdata::load("titanic.csv", "survived");
        let data = testdata::set(&x, n, d, &target);
        let set = [
            ("iterations", 30.0),
            ("subsample", 0.7),
            ("colsample_bytree", 0.6),
        ];
        let p = params(Task::Binary, &set);
        let a = trees(&Learner::fit(&Gbdt, &data, &p, 1).unwrap()).clone();
        let b = trees(&Learner::fit(&Gbdt, &data, &p, 1).unwrap()).clone();
        let c = trees(&Learner::fit(&Gbdt, &data, &p, 2).unwrap()).clone();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_ne!(format!("{a:?}"), format!("{c:?}"));
    }

    /// On a thousand rows or more, boosting stops once the held-out tenth
    /// stops improving: a fast learning rate stops long before 1000 rounds.
    #[test]
    fn early_stopping_ends_a_run_that_overfits() {
        let (x, n, d, target, _) = testdata::load("wine_quality.csv", "quality");
        assert!(n >= EARLY_STOPPING_ROWS);
        let data = testdata::set(&x, n, d, &target);
        let set = [
            ("iterations", 1000.0),
            ("learning_rate", 0.5),
            ("max_leaves", 64.0),
        ];
        let fitted = Learner::fit(&Gbdt, &data, &params(Task::Regression, &set), 7).unwrap();
        let rounds = trees(&fitted).trees.len();
        assert!((10..500).contains(&rounds), "{rounds} rounds");
    }

    #[test]
    fn a_tree_never_has_more_leaves_than_asked_nor_fewer_rows_in_one() {
        let (x, n, d, target, _) = testdata::load("abalone.csv", "rings");
        let data = testdata::set(&x, n, d, &target);
        let p = GbdtParams::decode(&params(
            Task::Regression,
            &[("max_leaves", 12.0), ("min_leaf_rows", 50.0)],
        ))
        .unwrap();
        let bins = Bins::of(&x, n, d);
        let all: Vec<u32> = (0..n as u32).collect();
        let grad_g: Vec<f64> = data.values().iter().map(|v| -v).collect();
        let grad_h = vec![1.0; n];
        let features = vec![true; d];
        let bundles = vec![true; bins.bundle_bins.len()];
        let layout = Layout::of(&bins);
        let grower = Grower {
            bins: &bins,
            layout: &layout,
            features: &features,
            bundles: &bundles,
            limits: Limits {
                max_leaves: p.max_leaves,
                min_rows: p.min_leaf_rows as u32,
                min_hessian: MIN_HESSIAN,
                l2: p.l2,
            },
        };
        let grad = Gradients {
            g: &grad_g,
            h: &grad_h,
        };
        let nodes = grower.grow(&mut all.clone(), &grad).nodes;
        let leaves: Vec<f64> = nodes
            .iter()
            .filter_map(|n| match n {
                Node::Leaf(v) => Some(*v),
                Node::Split { .. } => None,
            })
            .collect();
        assert_eq!(leaves.len(), 12);
        let mut counts = std::collections::HashMap::new();
        for r in 0..n {
            *counts
                .entry(leaf_of(&nodes, &bins, r).to_bits())
                .or_insert(0) += 1;
        }
        assert!(counts.values().all(|&c| c >= 50), "{counts:?}");
    }
}
