//! Single decision trees: linfa-trees for classes (public tree API) and
//! smartcore's regression tree (read from its serialised form) for values.

use linfa::prelude::*;
use linfa_trees::{SplitQuality, TreeNode};
use ndarray::{Array1, ArrayView2};
use smartcore::tree::decision_tree_regressor::{DecisionTreeRegressor, DecisionTreeRegressorParameters};

use super::forest::{matrix, read_tree};
use super::serde_read::field;
use super::{Learner, RawTree, TrainSet};
use crate::data::Task;
use crate::model::estimator::{Combine, Link, Rule, TreeEnsemble};
use crate::model::Estimator;
use crate::search::space::{Dim, Params};

/// The decision-tree adapter.
pub struct DecisionTree;

impl Learner for DecisionTree {
    fn supports(&self, _task: Task) -> bool {
        true
    }

    fn space(&self, task: Task) -> Vec<Dim> {
        let mut dims = vec![
            Dim::int("max_depth", 1, 30, false, 4),
            Dim::int("min_samples_leaf", 1, 64, true, 1),
        ];
        if task.is_classification() {
            dims.push(Dim::choice("criterion", &["gini", "entropy"], 0));
        }
        dims
    }

    fn scaled(&self) -> bool {
        false
    }

    fn cost(&self, p: &Params, n: usize, d: usize, _k: usize) -> f64 {
        let depth = (p.int("max_depth") as f64).min((n.max(2) as f64).log2());
        n as f64 * d as f64 * depth * 40.0
    }

    fn fit(&self, data: &TrainSet<'_>, p: &Params, _seed: u64) -> Result<Estimator, String> {
        let tree = if data.width() == 1 {
            fit_regressor(data, p)?.with_leaf_values(0)
        } else {
            fit_classifier(data, p)?.with_class_distribution(data)
        };
        Ok(Estimator::Trees(TreeEnsemble {
            base: vec![0.0; data.width()],
            trees: vec![tree],
            combine: Combine::Mean,
            link: Link::Identity,
        }))
    }
}

fn fit_classifier(data: &TrainSet<'_>, p: &Params) -> Result<RawTree, String> {
    let model = linfa_classifier(data, p)?;
    Ok(lower_linfa(model.root_node()))
}

type LinfaTree = linfa_trees::DecisionTree<f64, usize>;

fn linfa_classifier(data: &TrainSet<'_>, p: &Params) -> Result<LinfaTree, String> {
    let x = ArrayView2::from_shape((data.n, data.d), data.x).map_err(|e| e.to_string())?;
    let y = Array1::from(data.classes().to_vec());
    let quality = if p.choice("criterion") == "entropy" {
        SplitQuality::Entropy
    } else {
        SplitQuality::Gini
    };
    let leaf = p.int("min_samples_leaf").max(1) as f32;
    linfa_trees::DecisionTree::params()
        .max_depth(Some(p.int("max_depth").max(1) as usize))
        .min_weight_leaf(leaf)
        .min_weight_split(2.0 * leaf)
        .split_quality(quality)
        .fit(&DatasetView::new(x, y.view()))
        .map_err(|e| e.to_string())
}

/// Depth-first walk of linfa's node tree into flat arrays (`x < t` left).
fn lower_linfa(root: &TreeNode<f64, usize>) -> RawTree {
    let mut raw = RawTree {
        feature: Vec::new(),
        threshold: Vec::new(),
        left: Vec::new(),
        right: Vec::new(),
        leaf: Vec::new(),
        rule: Rule::Less,
    };
    push_node(root, &mut raw);
    raw
}

fn push_node(node: &TreeNode<f64, usize>, raw: &mut RawTree) -> u32 {
    let at = raw.feature.len();
    raw.feature.push(-1);
    raw.threshold.push(0.0);
    raw.left.push(0);
    raw.right.push(0);
    raw.leaf.push(node.prediction().map_or(0.0, |c| c as f64));
    let children = node.children();
    if let (false, Some(Some(l)), Some(Some(r))) = (node.is_leaf(), children.first(), children.get(1)) {
        let (feature, threshold, _) = node.split();
        let left = push_node(l, raw);
        let right = push_node(r, raw);
        raw.feature[at] = feature as i32;
        raw.threshold[at] = threshold;
        raw.left[at] = left;
        raw.right[at] = right;
    }
    at as u32
}

fn regressor_params(p: &Params) -> DecisionTreeRegressorParameters {
    DecisionTreeRegressorParameters {
        max_depth: Some(p.int("max_depth").max(1) as u16),
        min_samples_leaf: p.int("min_samples_leaf").max(1) as usize,
        min_samples_split: 2,
        seed: None,
    }
}

fn fit_regressor(data: &TrainSet<'_>, p: &Params) -> Result<RawTree, String> {
    let x = matrix(data)?;
    let y = data.values().to_vec();
    let model = DecisionTreeRegressor::fit(&x, &y, regressor_params(p)).map_err(|e| e.to_string())?;
    let v = serde_json::to_value(&model).map_err(|e| e.to_string())?;
    read_tree(field(&v, "tree_regressor")?, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::testdata;

    fn params(task: Task) -> Params {
        let space = DecisionTree.space(task);
        let init: Vec<f64> = space.iter().map(|d| d.init).collect();
        Params::decode(&space, &init)
    }

    #[test]
    fn lowered_linfa_tree_predicts_like_linfa() {
        let (x, n, d, target, task) = testdata::load("iris.csv", "species");
        let data = TrainSet { x: &x, n, d, target: &target };
        let model = linfa_classifier(&data, &params(task)).unwrap();
        let view = ArrayView2::from_shape((n, d), &x[..]).unwrap();
        let native = model.predict(&view);
        let tree = lower_linfa(model.root_node()).with_votes(3);
        for (r, row) in x.chunks(d).enumerate() {
            let leaf = tree.leaf(row);
            let class = crate::model::argmax(&tree.values[leaf * 3..leaf * 3 + 3]);
            assert_eq!(class, native[r], "row {r}");
        }
    }

    #[test]
    fn lowered_regression_tree_predicts_like_smartcore() {
        let (x, n, d, target, task) = testdata::load("diabetes.csv", "progression");
        let data = TrainSet { x: &x, n, d, target: &target };
        let p = params(task);
        let m = matrix(&data).unwrap();
        let native = DecisionTreeRegressor::fit(&m, &data.values().to_vec(), regressor_params(&p))
            .unwrap()
            .predict(&m)
            .unwrap();
        let est = DecisionTree.fit(&data, &p, 0).unwrap();
        let mut out = [0.0];
        for (r, row) in x.chunks(d).enumerate() {
            est.score(row, &mut out);
            assert_eq!(out[0].to_bits(), native[r].to_bits(), "row {r}");
        }
    }
}
