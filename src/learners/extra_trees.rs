//! Extremely randomised trees (Geurts, Ernst and Wehenkel, 2006), written
//! here: every tree sees every training row, and each split tries a few
//! random features at one uniformly random cut-off each, keeping the best
//! (Gini for classes, squared error for values). Leaves hold class shares
//! or the mean, the forest averages them. Seeded, so a run is reproducible;
//! cancellable between trees. The trees are the model's own tree tables.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{Adapter, TrainSet};
use crate::data::Task;
use crate::learners::space::{hyperparameters, int, real, Preset};
use crate::model::estimator::{Combine, Link, Rule, Tree, TreeEnsemble};
use crate::model::Estimator;

/// The extra-trees adapter.
pub struct ExtraTrees;

hyperparameters! {
    /// The extra trees' hyperparameters.
    ExtraParams(_task) {
        /// Trees in the forest.
        trees: usize = int(8, 500, true, 32),
        /// Deepest split of a tree.
        max_depth: usize = int(2, 40, false, 40),
        /// Fewest training rows in a leaf.
        min_samples_leaf: usize = int(1, 32, true, 5),
        /// Share of the features tried at each split.
        max_features: f64 = real(0.1, 1.0, false, 0.5),
    }
}

impl Adapter for ExtraTrees {
    type Params = ExtraParams;

    fn supports(&self, task: Task) -> bool {
        task.is_supervised()
    }

    fn scaled(&self) -> bool {
        false
    }

    /// scikit-learn's defaults (full-depth trees, single-row leaves), at
    /// 300 trees: with a half and with all of the features per split.
    fn presets(&self) -> &'static [Preset] {
        &[
            &[
                ("trees", 300.0),
                ("min_samples_leaf", 1.0),
                ("max_features", 0.5),
            ],
            &[
                ("trees", 300.0),
                ("min_samples_leaf", 1.0),
                ("max_features", 1.0),
            ],
        ]
    }

    fn cost(&self, p: &ExtraParams, n: usize, d: usize, k: usize) -> f64 {
        let m = features_per_split(p, d) as f64;
        let leaves = (n as f64 / p.min_samples_leaf as f64).max(2.0);
        let depth = (p.max_depth as f64).min(leaves.log2() * 1.5);
        // Per level every row is read once per tried feature; every node's
        // class counts are k wide.
        p.trees as f64 * n as f64 * (m * depth * 6.0 + k as f64 * 2.0)
    }

    fn fit(&self, data: &TrainSet<'_>, p: &ExtraParams, seed: u64) -> Result<Estimator, String> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let k = data.width();
        let mut trees = Vec::with_capacity(p.trees);
        for _ in 0..p.trees {
            data.cancel.check()?;
            let mut grower = Grower {
                data,
                p,
                k,
                tried: features_per_split(p, data.d),
                features: (0..data.d).collect(),
                scratch: Vec::with_capacity(data.n),
                tree: Tree::empty(k, Rule::Less),
            };
            let mut rows: Vec<u32> = (0..data.n as u32).collect();
            grower.grow(&mut rows, 0, &mut rng);
            trees.push(grower.tree);
        }
        Ok(Estimator::Trees(TreeEnsemble {
            base: vec![0.0; k],
            trees: trees.into(),
            combine: Combine::Mean,
            link: Link::Identity,
        }))
    }
}

fn features_per_split(p: &ExtraParams, d: usize) -> usize {
    ((p.max_features * d as f64).round() as usize).clamp(1, d.max(1))
}

/// A split: rows with `x[feature] < threshold` go left.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    threshold: f64,
    /// Children's impurity, weighted by their rows (lower is better).
    impurity: f64,
}

/// Grows one tree into `tree`.
struct Grower<'a, 'b> {
    data: &'a TrainSet<'b>,
    p: &'a ExtraParams,
    /// Outputs per leaf: classes, or 1 for a value.
    k: usize,
    /// Features to try at each split.
    tried: usize,
    /// Feature indices, shuffled at each split.
    features: Vec<usize>,
    /// Row buffer for partitioning a node's rows.
    scratch: Vec<u32>,
    tree: Tree,
}

impl Grower<'_, '_> {
    fn x(&self, row: u32, feature: usize) -> f64 {
        self.data.x[row as usize * self.data.d + feature]
    }

    /// Adds the node for `rows` (a leaf, split further when it can be) and
    /// returns its index.
    fn grow(&mut self, rows: &mut [u32], depth: usize, rng: &mut impl Rng) -> u32 {
        let node = self.push_leaf(rows);
        let leaf = self.p.min_samples_leaf.max(1);
        if depth >= self.p.max_depth || rows.len() < 2 * leaf || self.pure(node) {
            return node;
        }
        let Some(split) = self.best_split(rows, rng) else {
            return node;
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        let mid = partition(rows, &mut scratch, |r| {
            self.x(r, split.feature) < split.threshold
        });
        self.scratch = scratch;
        let (left_rows, right_rows) = rows.split_at_mut(mid);
        let left = self.grow(left_rows, depth + 1, rng);
        let right = self.grow(right_rows, depth + 1, rng);
        let at = node as usize;
        self.tree.feature[at] = split.feature as i32;
        self.tree.threshold[at] = split.threshold;
        self.tree.left[at] = left;
        self.tree.right[at] = right;
        self.tree.values[at * self.k..(at + 1) * self.k].fill(0.0);
        node
    }

    /// Pushes a leaf holding `rows`' class shares (or mean value).
    fn push_leaf(&mut self, rows: &[u32]) -> u32 {
        let node = self.tree.feature.len() as u32;
        self.tree.feature.push(-1);
        self.tree.threshold.push(0.0);
        self.tree.left.push(0);
        self.tree.right.push(0);
        let share = 1.0 / rows.len().max(1) as f64;
        let mut values = vec![0.0; self.k];
        match self.data.classes() {
            classes if !classes.is_empty() => {
                rows.iter()
                    .for_each(|&r| values[classes[r as usize]] += share);
            }
            _ => {
                let v = self.data.values();
                values[0] = rows.iter().map(|&r| v[r as usize]).sum::<f64>() * share;
            }
        }
        self.tree.values.extend(values);
        node
    }

    /// Whether a classification leaf holds one class only.
    fn pure(&self, node: u32) -> bool {
        let at = node as usize * self.k;
        self.k > 1 && self.tree.values[at..at + self.k].contains(&1.0)
    }

    /// The best of up to `tried` random cut-offs, one per feature that is
    /// not constant on `rows`; `None` when no cut-off leaves both sides
    /// their fewest rows.
    fn best_split(&mut self, rows: &[u32], rng: &mut impl Rng) -> Option<Split> {
        let mut features = std::mem::take(&mut self.features);
        features.shuffle(rng);
        let (mut best, mut tried) = (None::<Split>, 0);
        for &f in &features {
            if tried == self.tried {
                break;
            }
            let (lo, hi) = rows
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
                    let v = self.x(r, f);
                    (lo.min(v), hi.max(v))
                });
            if hi <= lo {
                continue;
            }
            tried += 1;
            let threshold = lo + (hi - lo) * rng.gen::<f64>();
            if threshold <= lo {
                continue;
            }
            let Some(impurity) = self.impurity(rows, f, threshold) else {
                continue;
            };
            if best.is_none_or(|b| impurity < b.impurity) {
                best = Some(Split {
                    feature: f,
                    threshold,
                    impurity,
                });
            }
        }
        self.features = features;
        best
    }

    /// The children's impurity of cutting `rows` at `threshold` on
    /// `feature`, or `None` when a child would have too few rows.
    fn impurity(&self, rows: &[u32], feature: usize, threshold: f64) -> Option<f64> {
        let classes = self.data.classes();
        let (mut left, mut right) = (Side::new(self.k), Side::new(self.k));
        for &r in rows {
            let side = if self.x(r, feature) < threshold {
                &mut left
            } else {
                &mut right
            };
            match classes.is_empty() {
                true => side.add_value(self.data.values()[r as usize]),
                false => side.add_class(classes[r as usize]),
            }
        }
        let leaf = self.p.min_samples_leaf.max(1);
        if left.rows < leaf || right.rows < leaf {
            return None;
        }
        Some(left.impurity(!classes.is_empty()) + right.impurity(!classes.is_empty()))
    }
}

/// One side of a candidate split: its rows' class counts, or value sums.
struct Side {
    rows: usize,
    counts: Vec<f64>,
    sum: f64,
    squares: f64,
}

impl Side {
    fn new(k: usize) -> Side {
        Side {
            rows: 0,
            counts: vec![0.0; k],
            sum: 0.0,
            squares: 0.0,
        }
    }

    fn add_class(&mut self, c: usize) {
        self.rows += 1;
        self.counts[c] += 1.0;
    }

    fn add_value(&mut self, v: f64) {
        self.rows += 1;
        self.sum += v;
        self.squares += v * v;
    }

    /// Rows times Gini impurity (classes) or the squared error about the
    /// mean (values).
    fn impurity(&self, classes: bool) -> f64 {
        let n = self.rows as f64;
        if classes {
            n - self.counts.iter().map(|c| c * c).sum::<f64>() / n
        } else {
            self.squares - self.sum * self.sum / n
        }
    }
}

/// Moves the rows `left` holds for to the front, keeping each side's order
/// (through `scratch`, reused across nodes); returns how many there are.
fn partition(rows: &mut [u32], scratch: &mut Vec<u32>, left: impl Fn(u32) -> bool) -> usize {
    scratch.clear();
    scratch.extend(rows.iter().copied().filter(|&r| left(r)));
    let mid = scratch.len();
    scratch.extend(rows.iter().copied().filter(|&r| !left(r)));
    rows.copy_from_slice(scratch);
    mid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::space::{Param, Params};
    use crate::learners::{testdata, Cancel, Learner};

    /// The starting configuration, grown to single-row leaves.
    fn params(task: Task) -> Params {
        let space = Learner::space(&ExtraTrees, task);
        let init: Vec<f64> = space.iter().map(|d| d.init).collect();
        let mut p = Params::decode(&space, &init);
        p.0.insert("min_samples_leaf".into(), Param::Int(1));
        p
    }

    /// Every leaf of a fully grown classification forest on separable
    /// training rows gives each row its own class, and the same seed gives
    /// the same trees.
    #[test]
    fn grown_trees_fit_their_rows_and_a_seed_repeats_them() {
        let (x, n, d, target, task) = testdata::load("iris.csv", "species");
        let data = testdata::set(&x, n, d, &target);
        let p = params(task);
        let a = Learner::fit(&ExtraTrees, &data, &p, 7).unwrap();
        let b = Learner::fit(&ExtraTrees, &data, &p, 7).unwrap();
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        let pred = a.score_rows(&x, d, 3);
        let hits = (0..n)
            .filter(|&r| crate::model::kernels::argmax(pred.row(r)) == data.classes()[r])
            .count();
        assert!(hits as f64 >= 0.99 * n as f64, "{hits} of {n}");
        let cancel = Cancel::default();
        cancel.cancel();
        let stopped = TrainSet {
            cancel: &cancel,
            ..data
        };
        assert!(Learner::fit(&ExtraTrees, &stopped, &p, 7).is_err());
    }
}
