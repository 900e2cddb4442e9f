//! Single decision trees through smartcore, read from their serialised form.
//! (linfa-trees was tried first: its split search iterates a `HashMap`, so
//! the same seed could grow different trees from run to run.)

use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters, SplitCriterion,
};
use smartcore::tree::decision_tree_regressor::{
    DecisionTreeRegressor, DecisionTreeRegressorParameters,
};

use super::forest::{matrix, read_tree};
use super::serde_read::{field, numbers};
use super::{Adapter, RawTree, TrainSet};
use crate::data::Task;
use crate::learners::space::{choice, choices, hyperparameters, int};
use crate::model::estimator::{Combine, Link, TreeEnsemble};
use crate::model::Estimator;

/// The decision-tree adapter.
pub struct DecisionTree;

choices! {
    /// How a classification tree scores a split.
    Criterion {
        /// Gini impurity.
        Gini = "gini",
        /// Entropy (information gain).
        Entropy = "entropy",
    }
}

hyperparameters! {
    /// The decision tree's hyperparameters.
    TreeParams(task) {
        /// Deepest split.
        max_depth: usize = int(1, 30, false, 4),
        /// Fewest training rows in a leaf.
        min_samples_leaf: usize = int(1, 64, true, 1),
        /// How a split is scored (classification only).
        criterion: Option<Criterion> where { task.is_classification() } = choice(Criterion::Gini),
    }
}

impl Adapter for DecisionTree {
    type Params = TreeParams;

    fn supports(&self, task: Task) -> bool {
        task.is_supervised()
    }

    fn scaled(&self) -> bool {
        false
    }

    fn cost(&self, p: &TreeParams, n: usize, d: usize, k: usize) -> f64 {
        let depth = (p.max_depth as f64).min((n.max(2) as f64).log2());
        // smartcore weighs every cut-off over all k classes.
        n as f64 * d as f64 * depth * (40.0 + 4.0 * k as f64)
    }

    fn fit(&self, data: &TrainSet<'_>, p: &TreeParams, _seed: u64) -> Result<Estimator, String> {
        let tree = if data.width() == 1 {
            fit_regressor(data, p)?.with_leaf_values(0)
        } else {
            fit_classifier(data, p)?.with_class_distribution(data)
        };
        Ok(Estimator::Trees(TreeEnsemble {
            base: vec![0.0; data.width()],
            trees: vec![tree].into(),
            combine: Combine::Mean,
            link: Link::Identity,
        }))
    }
}

fn classifier_params(p: &TreeParams) -> DecisionTreeClassifierParameters {
    DecisionTreeClassifierParameters {
        criterion: match p.criterion {
            Some(Criterion::Entropy) => SplitCriterion::Entropy,
            Some(Criterion::Gini) | None => SplitCriterion::Gini,
        },
        max_depth: Some(p.max_depth.max(1) as u16),
        min_samples_leaf: p.min_samples_leaf.max(1),
        min_samples_split: 2,
        seed: Some(0),
    }
}

fn fit_classifier(data: &TrainSet<'_>, p: &TreeParams) -> Result<RawTree, String> {
    let x = matrix(data)?;
    let y: Vec<u32> = data.classes().iter().map(|&c| c as u32).collect();
    let model =
        DecisionTreeClassifier::fit(&x, &y, classifier_params(p)).map_err(|e| e.to_string())?;
    let v = serde_json::to_value(&model).map_err(|e| e.to_string())?;
    let classes = numbers(field(&v, "classes")?)?;
    read_tree(&v, Some(&classes))
}

fn regressor_params(p: &TreeParams) -> DecisionTreeRegressorParameters {
    DecisionTreeRegressorParameters {
        max_depth: Some(p.max_depth.max(1) as u16),
        min_samples_leaf: p.min_samples_leaf.max(1),
        min_samples_split: 2,
        seed: None,
    }
}

fn fit_regressor(data: &TrainSet<'_>, p: &TreeParams) -> Result<RawTree, String> {
    let x = matrix(data)?;
    let y = data.values().to_vec();
    let model =
        DecisionTreeRegressor::fit(&x, &y, regressor_params(p)).map_err(|e| e.to_string())?;
    let v = serde_json::to_value(&model).map_err(|e| e.to_string())?;
    read_tree(field(&v, "tree_regressor")?, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::space::Params;
    use crate::learners::testdata;
    use crate::learners::Learner;

    fn params(task: Task) -> Params {
        let space = Learner::space(&DecisionTree, task);
        let init: Vec<f64> = space.iter().map(|d| d.init).collect();
        Params::decode(&space, &init)
    }

    #[test]
    fn lowered_classification_tree_predicts_like_smartcore() {
        let (x, n, d, target, task) = testdata::load("iris.csv", "species");
        let data = testdata::set(&x, n, d, &target);
        let p = params(task);
        let m = matrix(&data).unwrap();
        let y: Vec<u32> = data.classes().iter().map(|&c| c as u32).collect();
        let native = DecisionTreeClassifier::fit(
            &m,
            &y,
            classifier_params(&TreeParams::decode(&p).unwrap()),
        )
        .unwrap()
        .predict(&m)
        .unwrap();
        let tree = fit_classifier(&data, &TreeParams::decode(&p).unwrap())
            .unwrap()
            .with_votes(3);
        for (r, row) in x.chunks(d).enumerate() {
            let leaf = tree.leaf(row);
            let class = crate::model::argmax(&tree.values[leaf * 3..leaf * 3 + 3]);
            assert_eq!(class as u32, native[r], "row {r}");
        }
    }

    #[test]
    fn lowered_regression_tree_predicts_like_smartcore() {
        let (x, n, d, target, task) = testdata::load("diabetes.csv", "progression");
        let data = testdata::set(&x, n, d, &target);
        let p = params(task);
        let m = matrix(&data).unwrap();
        let native = DecisionTreeRegressor::fit(
            &m,
            &data.values().to_vec(),
            regressor_params(&TreeParams::decode(&p).unwrap()),
        )
        .unwrap()
        .predict(&m)
        .unwrap();
        let est = Learner::fit(&DecisionTree, &data, &p, 0).unwrap();
        let mut out = [0.0];
        for (r, row) in x.chunks(d).enumerate() {
            est.score(row, &mut out);
            assert_eq!(out[0].to_bits(), native[r].to_bits(), "row {r}");
        }
    }
}
