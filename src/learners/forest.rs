//! Random forests through smartcore. Its fitted trees are private but
//! serialisable; they are read from the serialised form, and classification
//! leaves are refilled with training-row class distributions.

use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::serde_read::{array, field, number};
use super::{Adapter, RawTree, TrainSet};
use crate::data::Task;
use crate::learners::space::{hyperparameters, int, real, Preset};
use crate::model::estimator::{Combine, Link, Rule, TreeEnsemble};
use crate::model::Estimator;

/// The random-forest adapter.
pub struct RandomForest;

hyperparameters! {
    /// The random forest's hyperparameters.
    ForestParams(_task) {
        /// Trees in the forest.
        trees: usize = int(4, 300, true, 8),
        /// Deepest split of a tree.
        max_depth: usize = int(2, 30, false, 8),
        /// Fewest training rows in a leaf.
        min_samples_leaf: usize = int(1, 32, true, 1),
        /// Share of the features tried at each split.
        max_features: f64 = real(0.1, 1.0, false, 0.5),
    }
}

impl Adapter for RandomForest {
    type Params = ForestParams;

    fn supports(&self, task: Task) -> bool {
        task.is_supervised()
    }

    fn scaled(&self) -> bool {
        false
    }

    /// A forest of a few hundred deep trees, as scikit-learn's default.
    fn presets(&self) -> &'static [Preset] {
        &[&[
            ("trees", 300.0),
            ("max_depth", 30.0),
            ("min_samples_leaf", 1.0),
        ]]
    }

    fn cost(&self, p: &ForestParams, n: usize, d: usize, k: usize) -> f64 {
        let m = features_per_split(p, d) as f64;
        let depth = (p.max_depth as f64).min((n.max(2) as f64).log2());
        // smartcore weighs every cut-off over all k classes (measured: 8
        // trees on 4 800 rows of 1 000 classes take 20 times what 2 take).
        p.trees as f64 * n as f64 * m * depth * (60.0 + 1.2 * k as f64)
    }

    fn fit(&self, data: &TrainSet<'_>, p: &ForestParams, seed: u64) -> Result<Estimator, String> {
        let x = matrix(data)?;
        if data.width() == 1 {
            fit_regressor(data, &x, p, seed)
        } else {
            fit_classifier(data, &x, p, seed)
        }
    }
}

fn features_per_split(p: &ForestParams, d: usize) -> usize {
    ((p.max_features * d as f64).round() as usize).clamp(1, d.max(1))
}

/// Row-major features as smartcore's dense matrix.
pub(crate) fn matrix(data: &TrainSet<'_>) -> Result<DenseMatrix<f64>, String> {
    DenseMatrix::new(data.n, data.d, data.x.to_vec(), false).map_err(|e| e.to_string())
}

fn fit_classifier(
    data: &TrainSet<'_>,
    x: &DenseMatrix<f64>,
    p: &ForestParams,
    seed: u64,
) -> Result<Estimator, String> {
    let y: Vec<u32> = data.classes().iter().map(|&c| c as u32).collect();
    let params = classifier_params(p, data.d, seed);
    let model = RandomForestClassifier::fit(x, &y, params).map_err(|e| e.to_string())?;
    let trees = read_classifier_trees(&model)?;
    Ok(Estimator::Trees(TreeEnsemble {
        base: vec![0.0; data.width()],
        trees: trees
            .into_iter()
            .map(|t| t.with_class_distribution(data))
            .collect(),
        combine: Combine::Mean,
        link: Link::Identity,
    }))
}

fn classifier_params(p: &ForestParams, d: usize, seed: u64) -> RandomForestClassifierParameters {
    RandomForestClassifierParameters {
        max_depth: Some(p.max_depth as u16),
        min_samples_leaf: p.min_samples_leaf,
        min_samples_split: 2,
        n_trees: p.trees as u16,
        m: Some(features_per_split(p, d)),
        keep_samples: false,
        seed,
        ..Default::default()
    }
}

fn read_classifier_trees<T: serde::Serialize>(model: &T) -> Result<Vec<RawTree>, String> {
    let v = serde_json::to_value(model).map_err(|e| e.to_string())?;
    let classes = super::serde_read::numbers(field(&v, "classes")?)?;
    array(&v, "trees")?
        .iter()
        .map(|t| read_tree(t, Some(&classes)))
        .collect()
}

fn fit_regressor(
    data: &TrainSet<'_>,
    x: &DenseMatrix<f64>,
    p: &ForestParams,
    seed: u64,
) -> Result<Estimator, String> {
    let y = data.values().to_vec();
    let params = RandomForestRegressorParameters {
        max_depth: Some(p.max_depth as u16),
        min_samples_leaf: p.min_samples_leaf,
        min_samples_split: 2,
        n_trees: p.trees,
        m: Some(features_per_split(p, data.d)),
        keep_samples: false,
        seed,
    };
    let model = RandomForestRegressor::fit(x, &y, params).map_err(|e| e.to_string())?;
    let v = serde_json::to_value(&model).map_err(|e| e.to_string())?;
    let forest = field(&v, "forest_regressor")?;
    let trees = array(forest, "trees")?
        .iter()
        .map(|t| read_tree(t, None).map(|raw| raw.with_leaf_values(0)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Estimator::Trees(TreeEnsemble {
        base: vec![0.0],
        trees: trees.into(),
        combine: Combine::Mean,
        link: Link::Identity,
    }))
}

/// Reads a serialised smartcore tree (`nodes` with `true_child` for
/// `x <= split_value`). With `classes`, leaf outputs are indices into them
/// and are mapped back to the caller's class indices.
pub(crate) fn read_tree(
    tree: &serde_json::Value,
    classes: Option<&[f64]>,
) -> Result<RawTree, String> {
    let nodes = array(tree, "nodes")?;
    let n = nodes.len();
    let mut raw = RawTree {
        feature: Vec::with_capacity(n),
        threshold: Vec::with_capacity(n),
        left: Vec::with_capacity(n),
        right: Vec::with_capacity(n),
        leaf: Vec::with_capacity(n),
        rule: Rule::LessOrEqual,
    };
    for node in nodes {
        let output = number(node, "output")?;
        let leaf = match classes {
            Some(c) => *c.get(output as usize).ok_or("leaf class out of range")?,
            None => output,
        };
        raw.leaf.push(leaf);
        match field(node, "true_child")?.as_u64() {
            None => {
                raw.feature.push(-1);
                raw.threshold.push(0.0);
                raw.left.push(0);
                raw.right.push(0);
            }
            Some(t) => {
                let f = field(node, "false_child")?
                    .as_u64()
                    .ok_or("split without false_child")?;
                raw.feature.push(number(node, "split_feature")? as i32);
                // smartcore compares against NaN (always false) when a split
                // has no value; the lowest finite float behaves the same.
                raw.threshold
                    .push(field(node, "split_value")?.as_f64().unwrap_or(f64::MIN));
                raw.left.push(t as u32);
                raw.right.push(f as u32);
            }
        }
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::space::Params;
    use crate::learners::testdata;
    use crate::learners::Learner;
    use crate::model::argmax;

    fn params() -> Params {
        let space = Learner::space(&RandomForest, Task::Binary);
        let init: Vec<f64> = space.iter().map(|d| d.init).collect();
        Params::decode(&space, &init)
    }

    /// Majority votes of the lowered trees equal smartcore's predictions
    /// (rows with tied votes are left out: smartcore breaks ties its own way).
    #[test]
    fn lowered_forest_votes_like_smartcore() {
        let (x, n, d, target, _) = testdata::load("penguins.csv", "species");
        let data = testdata::set(&x, n, d, &target);
        let m = matrix(&data).unwrap();
        let y: Vec<u32> = data.classes().iter().map(|&c| c as u32).collect();
        let model = RandomForestClassifier::fit(
            &m,
            &y,
            classifier_params(&ForestParams::decode(&params()).unwrap(), d, 3),
        )
        .unwrap();
        let native = model.predict(&m).unwrap();
        let trees: Vec<_> = read_classifier_trees(&model)
            .unwrap()
            .into_iter()
            .map(|t| t.with_votes(3))
            .collect();
        let mut compared = 0;
        for (r, row) in x.chunks(d).enumerate() {
            let mut votes = [0.0; 3];
            for t in &trees {
                let leaf = t.leaf(row);
                votes
                    .iter_mut()
                    .zip(&t.values[leaf * 3..leaf * 3 + 3])
                    .for_each(|(a, b)| *a += b);
            }
            let best = argmax(&votes);
            if votes.iter().filter(|v| **v == votes[best]).count() == 1 {
                assert_eq!(best as u32, native[r], "row {r}");
                compared += 1;
            }
        }
        assert!(compared > n / 2);
    }

    #[test]
    fn lowered_forest_regressor_equals_smartcore() {
        let (x, n, d, target, _) = testdata::load("diabetes.csv", "progression");
        let data = testdata::set(&x, n, d, &target);
        let p = params();
        let Estimator::Trees(lowered) = Learner::fit(&RandomForest, &data, &p, 5).unwrap() else {
            panic!("trees")
        };
        let m = matrix(&data).unwrap();
        let params = RandomForestRegressorParameters {
            max_depth: Some(p.int("max_depth") as u16),
            min_samples_leaf: p.int("min_samples_leaf") as usize,
            min_samples_split: 2,
            n_trees: p.int("trees") as usize,
            m: Some(features_per_split(&ForestParams::decode(&p).unwrap(), d)),
            keep_samples: false,
            seed: 5,
        };
        let native = RandomForestRegressor::fit(&m, &data.values().to_vec(), params)
            .unwrap()
            .predict(&m)
            .unwrap();
        let est = Estimator::Trees(lowered);
        testdata::assert_values(&est, &x, d, &native, "lowered model");
    }
}
