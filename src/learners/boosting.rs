//! Gradient-boosted trees through forust-ml: histogram boosting whose trees
//! are public structs. forust has no multiclass objective, so K classes are
//! K one-vs-rest boosters whose log-odds are joined by a softmax.

use forust_ml::gradientbooster::GradientBooster;
use forust_ml::objective::ObjectiveType;
use forust_ml::Matrix;

use super::{Adapter, RawTree, TrainSet};
use crate::data::Task;
use crate::learners::space::{hyperparameters, int, real, Preset};
use crate::model::estimator::{Combine, Link, Rule, TreeEnsemble};
use crate::model::Estimator;

/// The gradient-boosting adapter.
pub struct Gbdt;

hyperparameters! {
    /// Gradient boosting's hyperparameters.
    GbdtParams(_task) {
        /// Boosting rounds.
        iterations: usize = int(10, 1000, true, 10),
        /// Shrinkage of each tree's contribution.
        learning_rate: f64 = real(0.01, 1.0, true, 0.1),
        /// Deepest split of a tree.
        max_depth: usize = int(2, 10, false, 3),
        /// L2 penalty on leaf values.
        l2: f64 = real(0.01, 100.0, true, 1.0),
        /// Least hessian weight in a leaf.
        min_leaf_weight: f64 = real(0.01, 50.0, true, 1.0),
        /// Share of rows each tree sees.
        subsample: f64 = real(0.5, 1.0, false, 1.0),
        /// Share of features each tree sees.
        colsample_bytree: f64 = real(0.4, 1.0, false, 1.0),
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

    /// Common LightGBM-style settings: many slow rounds on sampled rows and
    /// features, at two depths.
    fn presets(&self) -> &'static [Preset] {
        &[
            &[
                ("iterations", 300.0),
                ("learning_rate", 0.05),
                ("max_depth", 6.0),
                ("subsample", 0.8),
                ("colsample_bytree", 0.8),
            ],
            &[
                ("iterations", 500.0),
                ("learning_rate", 0.03),
                ("max_depth", 4.0),
                ("subsample", 0.8),
                ("colsample_bytree", 0.6),
            ],
        ]
    }

    fn cost(&self, p: &GbdtParams, n: usize, d: usize, k: usize) -> f64 {
        let boosters = if k > 2 { k } else { 1 } as f64;
        let depth = p.max_depth as f64;
        let per_iter = n as f64 * d as f64 * (1.0 + depth / 4.0);
        boosters * (p.iterations as f64 * per_iter * 3.0 + n as f64 * d as f64 * 40.0)
    }

    fn fit(&self, data: &TrainSet<'_>, p: &GbdtParams, seed: u64) -> Result<Estimator, String> {
        let columns = column_major(data);
        let matrix = Matrix::new(&columns, data.n, data.d);
        let k = data.width();
        let (boosters, link): (Vec<Vec<f64>>, Link) = if k == 1 {
            (vec![data.values().to_vec()], Link::Identity)
        } else if k == 2 {
            (vec![indicator(data.classes(), 1)], Link::Sigmoid)
        } else {
            (
                (0..k).map(|c| indicator(data.classes(), c)).collect(),
                Link::Softmax,
            )
        };
        let mut base = Vec::new();
        let mut trees = Vec::new();
        for (output, y) in boosters.iter().enumerate() {
            // forust can't be interrupted inside a booster; between the
            // class boosters of a multiclass model it can.
            data.cancel.check()?;
            let mut booster = configure(p, objective(k), seed.wrapping_add(output as u64))?;
            booster
                .fit_unweighted(&matrix, y, None)
                .map_err(|e| e.to_string())?;
            base.push(booster.base_score);
            for t in &booster.trees {
                trees.push(lower_tree(t)?.with_leaf_values(output));
            }
        }
        Ok(Estimator::Trees(TreeEnsemble {
            base,
            trees,
            combine: Combine::Sum,
            link,
        }))
    }
}

fn configure(
    p: &GbdtParams,
    objective: ObjectiveType,
    seed: u64,
) -> Result<GradientBooster, String> {
    let booster = GradientBooster::default()
        .set_objective_type(objective)
        .set_iterations(p.iterations.max(1))
        .set_learning_rate(p.learning_rate as f32)
        .set_max_depth(p.max_depth.max(1))
        .set_l2(p.l2 as f32)
        .set_min_leaf_weight(p.min_leaf_weight as f32)
        .set_subsample(p.subsample as f32)
        .set_colsample_bytree(p.colsample_bytree)
        .set_seed(seed)
        .set_initialize_base_score(true)
        // Folds already run in parallel; a serial booster also keeps seeded
        // runs bit-for-bit reproducible.
        .set_parallel(false);
    Ok(booster)
}

/// forust's objective for `k` outputs (1 = regression).
fn objective(k: usize) -> ObjectiveType {
    if k == 1 {
        ObjectiveType::SquaredLoss
    } else {
        ObjectiveType::LogLoss
    }
}

fn indicator(y: &[usize], class: usize) -> Vec<f64> {
    y.iter().map(|&c| f64::from(u8::from(c == class))).collect()
}

fn column_major(data: &TrainSet<'_>) -> Vec<f64> {
    let mut out = vec![0.0; data.n * data.d];
    for (r, row) in data.x.chunks(data.d).enumerate() {
        for (j, v) in row.iter().enumerate() {
            out[j * data.n + r] = *v;
        }
    }
    out
}

/// forust nodes carry their own number; children refer to numbers.
fn lower_tree(tree: &forust_ml::tree::Tree) -> Result<RawTree, String> {
    let n = tree.nodes.len();
    let mut position = vec![usize::MAX; n.max(1)];
    for (i, node) in tree.nodes.iter().enumerate() {
        if node.num >= n {
            return Err(format!("forust node number {} out of range", node.num));
        }
        position[node.num] = i;
    }
    let at = |num: usize| -> Result<u32, String> {
        position
            .get(num)
            .filter(|p| **p != usize::MAX)
            .map(|p| *p as u32)
            .ok_or_else(|| format!("forust child {num} missing"))
    };
    let mut raw = RawTree {
        feature: Vec::with_capacity(n),
        threshold: Vec::with_capacity(n),
        left: Vec::with_capacity(n),
        right: Vec::with_capacity(n),
        leaf: Vec::with_capacity(n),
        rule: Rule::Less,
    };
    for node in &tree.nodes {
        if node.is_leaf {
            raw.feature.push(-1);
            raw.threshold.push(0.0);
            raw.left.push(0);
            raw.right.push(0);
        } else {
            raw.feature.push(node.split_feature as i32);
            raw.threshold.push(node.split_value);
            raw.left.push(at(node.left_child)?);
            raw.right.push(at(node.right_child)?);
        }
        raw.leaf.push(f64::from(node.weight_value));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::space::Params;
    use crate::learners::testdata;
    use crate::learners::Learner;
    use crate::model::kernels::sigmoid;

    fn params(iterations: i64) -> Params {
        let space = Learner::space(&Gbdt, Task::Binary);
        let init: Vec<f64> = space.iter().map(|d| d.init).collect();
        let mut p = Params::decode(&space, &init);
        p.0.insert(
            "iterations".into(),
            crate::learners::space::Param::Int(iterations),
        );
        p
    }

    /// The lowered ensemble must give forust's own raw predictions exactly.
    #[test]
    fn lowered_booster_equals_forust_predict() {
        for (file, target) in [
            ("breast_cancer.csv", "diagnosis"),
            ("diabetes.csv", "progression"),
        ] {
            let (x, n, d, target, _) = testdata::load(file, target);
            let data = testdata::set(&x, n, d, &target);
            let p = params(30);
            let k = data.width();
            let y = if k == 1 {
                data.values().to_vec()
            } else {
                indicator(data.classes(), 1)
            };
            let cols = column_major(&data);
            let m = Matrix::new(&cols, n, d);
            let mut booster = configure(&GbdtParams::decode(&p).unwrap(), objective(k), 7).unwrap();
            booster.fit_unweighted(&m, &y, None).unwrap();
            let native = booster.predict(&m, false);
            let Estimator::Trees(lowered) = Learner::fit(&Gbdt, &data, &p, 7).unwrap() else {
                panic!("trees")
            };
            let mut out = vec![0.0; k.max(2)];
            for (r, row) in x.chunks(d).enumerate() {
                Estimator::Trees(lowered.clone()).score(row, &mut out);
                let expect = if k == 1 {
                    native[r]
                } else {
                    sigmoid(native[r])
                };
                let got = if k == 1 { out[0] } else { out[1] };
                assert_eq!(got.to_bits(), expect.to_bits(), "{file} row {r}");
            }
        }
    }
}
