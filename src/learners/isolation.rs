//! Isolation forest (Liu, Ting and Zhou, 2008), written here: no
//! well-kept Rust crate offers one whose trees can be read back. Each tree
//! splits a random subsample at random thresholds of random features until
//! rows are isolated or a depth limit is hit; anomalies are isolated in few
//! splits. Trees are grown straight into the portable flat-array form.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{calibrate, Adapter, TrainSet};
use crate::data::Task;
use crate::learners::space::{hyperparameters, int, real};
use crate::model::estimator::{Isolation, Rule, Tree};
use crate::model::Estimator;

/// The isolation-forest adapter.
pub struct IsolationForest;

hyperparameters! {
    /// The isolation forest's hyperparameters.
    IsolationParams(_task) {
        /// Trees in the forest.
        trees: usize = int(25, 400, true, 100),
        /// Rows each tree is grown on (psi).
        sample_size: usize = int(32, 2048, true, 256),
        /// Share of the features each tree may split on.
        max_features: f64 = real(0.3, 1.0, false, 1.0),
    }
}

impl Adapter for IsolationForest {
    type Params = IsolationParams;

    fn supports(&self, task: Task) -> bool {
        task == Task::Anomaly
    }

    fn scaled(&self) -> bool {
        false
    }

    fn cost(&self, p: &IsolationParams, n: usize, _d: usize, _k: usize) -> f64 {
        let trees = p.trees as f64;
        let psi = (p.sample_size as f64).min(n as f64).max(2.0);
        trees * (psi * psi.log2() * 40.0 + n as f64 * psi.log2() * 10.0)
    }

    fn fit(
        &self,
        data: &TrainSet<'_>,
        p: &IsolationParams,
        seed: u64,
    ) -> Result<Estimator, String> {
        if data.n < 2 {
            return Err("an isolation forest needs at least two rows".into());
        }
        let psi = p.sample_size.min(data.n);
        let features = ((p.max_features * data.d as f64).ceil() as usize).clamp(1, data.d);
        let depth_limit = (psi as f64).log2().ceil() as usize;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut all: Vec<usize> = (0..data.n).collect();
        let mut columns: Vec<usize> = (0..data.d).collect();
        let mut trees = Vec::with_capacity(p.trees);
        for _ in 0..p.trees {
            data.cancel.check()?;
            let (sample, _) = all.partial_shuffle(&mut rng, psi);
            let mut rows = sample.to_vec();
            let (allowed, _) = columns.partial_shuffle(&mut rng, features);
            let mut grower = Grower {
                data,
                features: allowed.to_vec(),
                depth_limit,
                tree: Tree::empty(1, Rule::Less),
            };
            grower.grow(&mut rows, 0, &mut rng);
            trees.push(grower.tree);
        }
        let forest = Isolation {
            trees: trees.into(),
            normalizer: average_path_length(psi),
            threshold: f64::INFINITY,
        };
        calibrate(Estimator::Isolation(forest), data)
    }
}

struct Grower<'a, 'b> {
    data: &'a TrainSet<'b>,
    features: Vec<usize>,
    depth_limit: usize,
    tree: Tree,
}

impl Grower<'_, '_> {
    fn push_node(&mut self) -> usize {
        let t = &mut self.tree;
        t.feature.push(-1);
        t.threshold.push(0.0);
        t.left.push(0);
        t.right.push(0);
        t.values.push(0.0);
        t.feature.len() - 1
    }

    fn value(&self, row: usize, feature: usize) -> f64 {
        self.data.x[row * self.data.d + feature]
    }

    /// Grows the subtree for `rows` at `depth`; returns its node index.
    /// Children are pushed after their parent, as the model requires.
    fn grow(&mut self, rows: &mut [usize], depth: usize, rng: &mut impl Rng) -> usize {
        let node = self.push_node();
        let split = if depth >= self.depth_limit || rows.len() <= 1 {
            None
        } else {
            self.pick_split(rows, rng)
        };
        let Some((feature, threshold)) = split else {
            self.tree.values[node] = depth as f64 + average_path_length(rows.len());
            return node;
        };
        let mut at = 0;
        for i in 0..rows.len() {
            if self.value(rows[i], feature) < threshold {
                rows.swap(i, at);
                at += 1;
            }
        }
        let (left_rows, right_rows) = rows.split_at_mut(at);
        let left = self.grow(left_rows, depth + 1, rng);
        let right = self.grow(right_rows, depth + 1, rng);
        let t = &mut self.tree;
        t.feature[node] = feature as i32;
        t.threshold[node] = threshold;
        t.left[node] = left as u32;
        t.right[node] = right as u32;
        node
    }

    /// A random allowed feature that varies among `rows`, and a threshold
    /// drawn uniformly strictly inside its range.
    fn pick_split(&self, rows: &[usize], rng: &mut impl Rng) -> Option<(usize, f64)> {
        let mut order = self.features.clone();
        order.shuffle(rng);
        for f in order {
            let (lo, hi) = rows
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
                    let v = self.value(r, f);
                    (lo.min(v), hi.max(v))
                });
            if hi > lo {
                let t = rng.gen_range(lo..hi);
                // `x < t` must send at least the minimum left.
                return Some((f, if t > lo { t } else { hi }));
            }
        }
        None
    }
}

/// Expected path length of an unsuccessful search in a binary search tree
/// of `n` items: how much deeper a leaf holding `n` unsplit rows would go.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Target;
    use crate::learners::space::Params;
    use crate::learners::Cancel;
    use crate::learners::Learner;

    #[test]
    fn isolated_point_scores_highest_and_is_flagged() {
        // A grid of ordinary rows and one far away.
        let mut x = Vec::new();
        for i in 0..200 {
            x.extend_from_slice(&[f64::from(i % 20), f64::from(i / 20)]);
        }
        x.extend_from_slice(&[100.0, 100.0]);
        let n = 201;
        let target = Target::Unlabelled(n);
        let data = TrainSet {
            x: &x,
            n,
            d: 2,
            target: &target,
            contamination: Some(0.01),
            cancel: &Cancel::default(),
        };
        let p = Params::decode(
            &Learner::space(&IsolationForest, Task::Anomaly),
            &[0.5, 0.5, 1.0],
        );
        let est = Learner::fit(&IsolationForest, &data, &p, 1).expect("fit");
        let pred = est.score_rows(&x, 2, 2);
        let top = (0..n)
            .max_by(|a, b| pred.row(*a)[0].total_cmp(&pred.row(*b)[0]))
            .expect("rows");
        assert_eq!(top, 200);
        assert_eq!(pred.row(200)[1], 1.0);
        let flagged = (0..n).filter(|&r| pred.row(r)[1] == 1.0).count();
        assert!(flagged <= 2, "{flagged} flagged at 1% contamination");
        // Same seed, same forest.
        assert_eq!(
            est,
            Learner::fit(&IsolationForest, &data, &p, 1).expect("fit")
        );
    }
}
