//! Tree ensembles: boosted sums and forest means of decision trees, each
//! tree stored as flat arrays. Also the flattening of many trees into one
//! set of tables, which the generated module walks (the isolation forest
//! uses it too).

use serde::{Deserialize, Serialize};

use super::{all_finite, ensure, link_fits, CombineDef, Kind, LinkDef, Lowered, RuleDef, Shape, Table};
use crate::model::graph::{Attr, Graph, Tensor, ML};
use crate::model::kernels::{self, Combine, Link, Nodes, Rule, TreeSet};

/// One tree as flat arrays indexed by node; node 0 is the root. A node whose
/// `feature` is negative is a leaf whose values are
/// `values[node * width .. (node + 1) * width]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Where in the output vector this tree's leaf values are added.
    pub output: usize,
    /// Values per leaf.
    pub width: usize,
    /// Split comparison.
    #[serde(with = "RuleDef")]
    pub rule: Rule,
    /// Split feature per node, -1 for a leaf.
    pub feature: Vec<i32>,
    /// Split threshold per node (0 for leaves).
    pub threshold: Vec<f64>,
    /// Left child per node (0 for leaves).
    pub left: Vec<u32>,
    /// Right child per node (0 for leaves).
    pub right: Vec<u32>,
    /// Leaf values, `width` per node (zeros for split nodes).
    pub values: Vec<f64>,
}

impl Tree {
    /// A tree without nodes yet, `width` values per leaf at output 0, for a
    /// learner written here to grow.
    pub fn empty(width: usize, rule: Rule) -> Tree {
        Tree {
            output: 0,
            width,
            rule,
            feature: Vec::new(),
            threshold: Vec::new(),
            left: Vec::new(),
            right: Vec::new(),
            values: Vec::new(),
        }
    }

    /// The tree's split nodes, as the kernels take them.
    pub fn nodes(&self) -> Nodes<'_> {
        Nodes {
            feature: &self.feature,
            threshold: &self.threshold,
            left: &self.left,
            right: &self.right,
        }
    }

    /// The leaf a row falls into.
    pub fn leaf(&self, x: &[f64]) -> usize {
        kernels::leaf(&self.nodes(), self.rule, 0, x)
    }

    /// Every threshold and leaf value is finite.
    pub fn finite(&self) -> bool {
        all_finite(&self.threshold) && all_finite(&self.values)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.feature.len()
    }

    /// Whether the tree has no nodes.
    pub fn is_empty(&self) -> bool {
        self.feature.is_empty()
    }

    /// Sizes and child indices fit: every array as long as the nodes, every
    /// split on one of `d` features with children after it (so a walk always
    /// ends), leaf values within `outputs`.
    pub fn check(&self, d: usize, outputs: usize) -> Result<(), String> {
        let n = self.len();
        let sized = n > 0
            && self.threshold.len() == n
            && self.left.len() == n
            && self.right.len() == n
            && self.values.len() == n * self.width
            && self.output + self.width <= outputs;
        ensure(sized, || {
            format!("a tree's arrays do not match its {n} nodes and {outputs} outputs")
        })?;
        let linked = (0..n).all(|i| {
            self.feature[i] < 0
                || ((self.feature[i] as usize) < d
                    && (self.left[i] as usize) < n
                    && (self.right[i] as usize) < n
                    && self.left[i] as usize > i
                    && self.right[i] as usize > i)
        });
        ensure(linked, || {
            format!("a tree has a split on a feature beyond {d} or a child out of order")
        })
    }
}

impl TreeSet for [Tree] {
    fn count(&self) -> usize {
        self.len()
    }

    fn leaf_values(&self, t: usize, x: &[f64]) -> (usize, &[f64]) {
        let tree = &self[t];
        let n = tree.leaf(x);
        (
            tree.output,
            &tree.values[n * tree.width..(n + 1) * tree.width],
        )
    }
}

/// Trees plus a base value and a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeEnsemble {
    /// Start value of each output.
    pub base: Vec<f64>,
    /// The trees, in the order their values are added.
    pub trees: Vec<Tree>,
    /// Sum or mean.
    #[serde(with = "CombineDef")]
    pub combine: Combine,
    /// Link applied after combining.
    #[serde(with = "LinkDef")]
    pub link: Link,
}

impl Kind for TreeEnsemble {
    fn shape(&self) -> Shape {
        Shape::Supervised
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        kernels::tree_ensemble(
            self.trees.as_slice(),
            &self.base,
            self.combine,
            self.link,
            x,
            out,
        );
    }

    fn score_batch(&self, x: &[f64], d: usize, out: &mut [f64], w: usize) {
        let (trees, base) = (self.trees.as_slice(), &self.base);
        kernels::tree_ensemble_batch(trees, base, self.combine, self.link, x, d, out, w);
    }

    fn check(&self, d: usize, w: usize) -> Result<(), String> {
        link_fits(self.link, self.base.len(), w)?;
        check_trees(&self.trees, d, self.base.len())
    }

    fn summary(&self) -> String {
        let nodes: usize = self.trees.iter().map(Tree::len).sum();
        format!(
            "{} trees, {nodes} nodes, combined by {:?}, link {:?}",
            self.trees.len(),
            self.combine,
            self.link
        )
        .to_lowercase()
    }

    fn finite(&self) -> bool {
        all_finite(&self.base) && self.trees.iter().all(Tree::finite)
    }

    fn lower(&self) -> Lowered {
        Lowered::new(
            vec![
                ("BASE", Table::F64s(self.base.clone())),
                ("TREES", Table::Trees(FlatTables::of(&self.trees))),
                ("COMBINE", Table::Combine(self.combine)),
                ("LINK", Table::Link(self.link)),
            ],
            "kernels::tree_ensemble(&TREES, &BASE, COMBINE, LINK, x, out);",
        )
        .with_batch("kernels::tree_ensemble_batch(&TREES, &BASE, COMBINE, LINK, x, d, out, w);")
    }

    fn graph(&self, g: &mut Graph, x: &str, _w: usize) -> Result<String, String> {
        let sum = tree_sum(g, &self.trees, &self.base, x);
        let raw = match self.combine {
            Combine::Sum => sum,
            Combine::Mean if self.trees.is_empty() => sum,
            Combine::Mean => {
                let n = g.scalar(self.trees.len() as f64);
                g.op("Div", &[&sum, &n])
            }
        };
        Ok(g.link(self.link, &raw))
    }
}

/// One ONNX `TreeEnsemble` summing `start` and then every tree's leaf
/// values, tree by tree as [`kernels::tree_ensemble`] adds them: a
/// `[rows, start.len()]` value. An ONNX leaf adds one value to one
/// output, so a tree with wider leaves becomes one ONNX tree per value;
/// `start` goes first as one-leaf trees, since the runtime would add a
/// base value after the trees rather than before.
pub(super) fn tree_sum(g: &mut Graph, trees: &[Tree], start: &[f64], x: &str) -> String {
    let mut onnx = OnnxTrees::default();
    for (output, value) in start.iter().enumerate() {
        onnx.push_leaf_tree(output, *value);
    }
    for tree in trees {
        for c in 0..tree.width {
            onnx.push(tree, c);
        }
    }
    let attrs = onnx.attrs(start.len().max(1));
    g.node(ML, "TreeEnsemble", &[x], attrs)
}

/// The parallel arrays of ONNX's `TreeEnsemble` (ai.onnx.ml version 5):
/// split nodes and leaves numbered separately, each split naming whether
/// its branches lead to a split or to a leaf.
#[derive(Default)]
struct OnnxTrees {
    roots: Vec<i64>,
    features: Vec<i64>,
    modes: Vec<u8>,
    splits: Vec<f64>,
    true_ids: Vec<i64>,
    true_leaf: Vec<i64>,
    false_ids: Vec<i64>,
    false_leaf: Vec<i64>,
    targets: Vec<i64>,
    weights: Vec<f64>,
}

/// ONNX's split modes: `BRANCH_LEQ` and `BRANCH_LT`, true going left.
fn mode(rule: Rule) -> u8 {
    match rule {
        Rule::LessOrEqual => 0,
        Rule::Less => 1,
    }
}

impl OnnxTrees {
    /// A tree that adds `value` to `output` for every row: one split whose
    /// branches both reach the one leaf (ONNX trees start at a split).
    fn push_leaf_tree(&mut self, output: usize, value: f64) {
        let leaf = self.leaf(output, value);
        self.split_node(0, mode(Rule::Less), 0.0, (leaf, true), (leaf, true));
    }

    /// Tree `tree`'s value `c` of each leaf as an ONNX tree. Children come
    /// after their parent, so numbering in node order knows each child's
    /// number before its parent is written.
    fn push(&mut self, tree: &Tree, c: usize) {
        if tree.feature[0] < 0 {
            return self.push_leaf_tree(tree.output + c, tree.values[c]);
        }
        let (mut splits, mut leaves) = (self.features.len() as i64, self.weights.len() as i64);
        let number: Vec<(i64, bool)> = (0..tree.len())
            .map(|i| {
                let is_leaf = tree.feature[i] < 0;
                let counter = if is_leaf { &mut leaves } else { &mut splits };
                *counter += 1;
                (*counter - 1, is_leaf)
            })
            .collect();
        self.roots.push(self.features.len() as i64);
        for i in 0..tree.len() {
            if tree.feature[i] < 0 {
                self.leaf(tree.output + c, tree.values[i * tree.width + c]);
            } else {
                let (left, right) = (number[tree.left[i] as usize], number[tree.right[i] as usize]);
                self.split(tree.feature[i], mode(tree.rule), tree.threshold[i], left, right);
            }
        }
    }

    fn leaf(&mut self, output: usize, value: f64) -> i64 {
        self.targets.push(output as i64);
        self.weights.push(value);
        self.weights.len() as i64 - 1
    }

    /// A split node that is a tree's root.
    fn split_node(&mut self, feature: i32, mode: u8, at: f64, yes: (i64, bool), no: (i64, bool)) {
        self.roots.push(self.features.len() as i64);
        self.split(feature, mode, at, yes, no);
    }

    fn split(&mut self, feature: i32, mode: u8, at: f64, yes: (i64, bool), no: (i64, bool)) {
        self.features.push(i64::from(feature));
        self.modes.push(mode);
        self.splits.push(at);
        self.true_ids.push(yes.0);
        self.true_leaf.push(i64::from(yes.1));
        self.false_ids.push(no.0);
        self.false_leaf.push(i64::from(no.1));
    }

    /// The operator's attributes, summing into `targets` outputs.
    fn attrs(self, targets: usize) -> Vec<(&'static str, Attr)> {
        let n = |v: &[f64]| vec![v.len() as i64];
        vec![
            ("aggregate_function", Attr::Int(1)),
            ("n_targets", Attr::Int(targets as i64)),
            ("post_transform", Attr::Int(0)),
            ("tree_roots", Attr::Ints(self.roots)),
            ("nodes_featureids", Attr::Ints(self.features)),
            ("nodes_modes", Attr::Tensor(Tensor::Bytes(vec![self.modes.len() as i64], self.modes))),
            ("nodes_splits", Attr::Tensor(Tensor::Doubles(n(&self.splits), self.splits))),
            ("nodes_truenodeids", Attr::Ints(self.true_ids)),
            ("nodes_trueleafs", Attr::Ints(self.true_leaf)),
            ("nodes_falsenodeids", Attr::Ints(self.false_ids)),
            ("nodes_falseleafs", Attr::Ints(self.false_leaf)),
            ("leaf_targetids", Attr::Ints(self.targets)),
            ("leaf_weights", Attr::Tensor(Tensor::Doubles(n(&self.weights), self.weights))),
        ]
    }
}

/// Every tree fits `d` features and `outputs`, all with one leaf width
/// (the generated tables hold one width).
pub(super) fn check_trees(trees: &[Tree], d: usize, outputs: usize) -> Result<(), String> {
    for tree in trees {
        tree.check(d, outputs)?;
    }
    let width = trees.first().map_or(1, |t| t.width);
    ensure(trees.iter().all(|t| t.width == width), || {
        "trees of one ensemble differ in leaf width".into()
    })
}

/// Many trees' nodes in one set of arrays with global child indices: the
/// owned form of `kernels::FlatTrees`, which the exporter writes out.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatTables {
    /// Root node of each tree.
    pub roots: Vec<u32>,
    /// First output of each tree.
    pub outputs: Vec<u32>,
    /// Split rule of each tree.
    pub rules: Vec<Rule>,
    /// Split feature per node, -1 for a leaf.
    pub feature: Vec<i32>,
    /// Threshold per node.
    pub threshold: Vec<f64>,
    /// Left child per node (global index; 0 for leaves).
    pub left: Vec<u32>,
    /// Right child per node (global index; 0 for leaves).
    pub right: Vec<u32>,
    /// Leaf values, `width` per node.
    pub values: Vec<f64>,
    /// Values per leaf.
    pub width: usize,
}

impl FlatTables {
    /// Flattens `trees` (of one leaf width) in order.
    pub fn of(trees: &[Tree]) -> FlatTables {
        let mut flat = FlatTables {
            roots: Vec::with_capacity(trees.len()),
            outputs: Vec::with_capacity(trees.len()),
            rules: Vec::with_capacity(trees.len()),
            feature: Vec::new(),
            threshold: Vec::new(),
            left: Vec::new(),
            right: Vec::new(),
            values: Vec::new(),
            width: trees.first().map_or(1, |t| t.width),
        };
        for tree in trees {
            let base = flat.feature.len() as u32;
            flat.roots.push(base);
            flat.outputs.push(tree.output as u32);
            flat.rules.push(tree.rule);
            for n in 0..tree.len() {
                let leaf = tree.feature[n] < 0;
                flat.feature.push(tree.feature[n]);
                flat.threshold.push(tree.threshold[n]);
                flat.left.push(if leaf { 0 } else { base + tree.left[n] });
                flat.right.push(if leaf { 0 } else { base + tree.right[n] });
            }
            flat.values.extend_from_slice(&tree.values);
        }
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated module's view of flattened tables.
    fn view(t: &FlatTables) -> kernels::FlatTrees<'_> {
        kernels::FlatTrees {
            roots: &t.roots,
            outputs: &t.outputs,
            rules: &t.rules,
            nodes: Nodes {
                feature: &t.feature,
                threshold: &t.threshold,
                left: &t.left,
                right: &t.right,
            },
            values: &t.values,
            width: t.width,
        }
    }

    /// A one-split tree; `scale` keeps every tree's leaves distinct, so a
    /// walk that strays into another tree's nodes gives another value.
    fn stump(output: usize, feature: i32, threshold: f64, rule: Rule, scale: f64) -> Tree {
        Tree {
            output,
            width: 1,
            rule,
            feature: vec![feature, -1, -1],
            threshold: vec![threshold, 0.0, 0.0],
            left: vec![1, 0, 0],
            right: vec![2, 0, 0],
            values: vec![0.0, -0.25 * scale, 0.75 * scale],
        }
    }

    #[test]
    fn flat_tables_score_as_the_trees_they_come_from() {
        // Two outputs, both split rules, thresholds met exactly by the rows.
        let ensemble = TreeEnsemble {
            base: vec![0.1, -0.1],
            trees: vec![
                stump(0, 0, 0.5, Rule::Less, 1.0),
                stump(1, 1, 0.5, Rule::LessOrEqual, 2.0),
                stump(0, 1, -1.0, Rule::LessOrEqual, 4.0),
            ],
            combine: Combine::Sum,
            link: Link::Softmax,
        };
        let flat = FlatTables::of(&ensemble.trees);
        assert_eq!(flat.roots, [0, 3, 6]);
        for x in [[0.0, 0.0], [0.5, 0.5], [1.0, -1.0], [-2.0, 3.0]] {
            let (mut from_trees, mut from_flat) = ([0.0; 2], [0.0; 2]);
            ensemble.score(&x, &mut from_trees);
            let (base, combine, link) = (&ensemble.base, ensemble.combine, ensemble.link);
            kernels::tree_ensemble(&view(&flat), base, combine, link, &x, &mut from_flat);
            assert_eq!(from_trees, from_flat, "row {x:?}");
        }
    }
}
