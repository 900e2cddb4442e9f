//! Tree ensembles: boosted sums and forest means of decision trees. Each
//! tree is stored as flat arrays (the model file's form, which learners
//! grow); a list of them is packed once into the node layout that the
//! kernels walk, in the portable model and the generated module alike (the
//! isolation forest uses it too).

use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use rayon::prelude::*;

use super::{all_finite, ensure, link_fits, CombineDef, Kind, LinkDef, Lowered, Shape, Table};
use crate::model::graph::{Attr, Graph, Tensor, ML};
use crate::model::kernels::{self, Combine, Link};

/// Which way a split sends a value equal to its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `x < threshold` goes left (linfa, gbdt).
    Less,
    /// `x <= threshold` goes left (smartcore).
    LessOrEqual,
}

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
    /// Training rows reaching each node, which reason codes weigh paths
    /// by (empty in a model written before they were recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cover: Vec<u32>,
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
            cover: Vec::new(),
        }
    }

    /// The tree's expected leaf values for row `x` when only the features
    /// in the bit set `known` are `x`'s, the others drawn from the training
    /// rows as the cover records them, from `node` down: the definition
    /// reason codes are Shapley values of (the tests compute them from it
    /// by brute force).
    pub fn expected_given(&self, x: &[f64], known: u64, node: usize) -> Vec<f64> {
        let f = self.feature[node];
        if f < 0 {
            return self.values[node * self.width..(node + 1) * self.width].to_vec();
        }
        let (l, r) = (self.left[node] as usize, self.right[node] as usize);
        if known & (1 << f) != 0 {
            let (v, t) = (x[f as usize], self.threshold[node]);
            let left = match self.rule {
                Rule::Less => v < t,
                Rule::LessOrEqual => v <= t,
            };
            return self.expected_given(x, known, if left { l } else { r });
        }
        let total = f64::from(self.cover.get(node).copied().unwrap_or(0));
        let mut out = vec![0.0; self.width];
        if total > 0.0 {
            for c in [l, r] {
                let share = f64::from(self.cover.get(c).copied().unwrap_or(0)) / total;
                for (o, v) in out.iter_mut().zip(self.expected_given(x, known, c)) {
                    *o += share * v;
                }
            }
        }
        out
    }

    /// Records how many of the rows `x` (`d` values each) reach each node.
    pub fn set_cover(&mut self, x: &[f64], d: usize) {
        let n = self.len();
        self.cover = vec![0; n];
        for row in x.chunks_exact(d.max(1)) {
            let leaf = self.leaf(row);
            self.cover[leaf] += 1;
        }
        // Children come after their parent: sum them from the end.
        for i in (0..n).rev() {
            if self.feature[i] >= 0 {
                let (l, r) = (self.left[i] as usize, self.right[i] as usize);
                self.cover[i] = self.cover[l] + self.cover[r];
            }
        }
    }

    /// The node of the leaf a row falls into, walking these arrays (the
    /// learners' view; scoring walks the packed form).
    pub fn leaf(&self, x: &[f64]) -> usize {
        let mut node = 0;
        while self.feature[node] >= 0 {
            let (v, t) = (x[self.feature[node] as usize], self.threshold[node]);
            let left = match self.rule {
                Rule::Less => v < t,
                Rule::LessOrEqual => v <= t,
            };
            node = if left { self.left[node] } else { self.right[node] } as usize;
        }
        node
    }

    /// The split's threshold as a strict `x < t` comparison: a `x <= t`
    /// split becomes `x <` the next double above `t`, which every value
    /// (infinities and NaN included) compares the same way against.
    fn strict_threshold(&self, node: usize) -> f64 {
        let t = self.threshold[node];
        match self.rule {
            Rule::Less => t,
            Rule::LessOrEqual if t.is_nan() || t == f64::INFINITY => t,
            Rule::LessOrEqual if t == 0.0 => f64::from_bits(1),
            Rule::LessOrEqual if t > 0.0 => f64::from_bits(t.to_bits() + 1),
            Rule::LessOrEqual => f64::from_bits(t.to_bits() - 1),
        }
    }

    /// Whether node `i` splits with both children in range and after it
    /// (so a walk always ends); anything else is packed as a leaf.
    fn splits(&self, i: usize) -> bool {
        let n = self.len();
        let child = |c: Option<&u32>| c.is_some_and(|&c| (c as usize) < n && c as usize > i);
        self.feature.get(i).is_some_and(|&f| f >= 0)
            && self.threshold.len() > i
            && child(self.left.get(i))
            && child(self.right.get(i))
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
            && (self.cover.is_empty() || self.cover.len() == n)
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

/// A list of trees and its packed form, built once when the list is made:
/// the list is what model.json holds and the learners grow, the packed
/// form what scores. Serialised as the list alone.
#[derive(Debug, Clone)]
pub struct Trees {
    list: Vec<Tree>,
    packed: PackedTrees,
}

impl From<Vec<Tree>> for Trees {
    fn from(list: Vec<Tree>) -> Trees {
        let packed = PackedTrees::of(&list);
        Trees { list, packed }
    }
}

impl FromIterator<Tree> for Trees {
    fn from_iter<I: IntoIterator<Item = Tree>>(trees: I) -> Trees {
        Trees::from(trees.into_iter().collect::<Vec<_>>())
    }
}

impl Deref for Trees {
    type Target = [Tree];

    fn deref(&self) -> &[Tree] {
        &self.list
    }
}

impl PartialEq for Trees {
    fn eq(&self, other: &Trees) -> bool {
        self.list == other.list
    }
}

impl Serialize for Trees {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.list.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Trees {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Trees, D::Error> {
        Vec::<Tree>::deserialize(d).map(Trees::from)
    }
}

impl Trees {
    /// The kernels' view of the packed trees.
    pub fn view(&self) -> kernels::Trees<'_> {
        self.packed.view()
    }

    /// The packed trees, for the generated module's tables.
    pub fn packed(&self) -> &PackedTrees {
        &self.packed
    }
}

/// Trees plus a base value and a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeEnsemble {
    /// Start value of each output.
    pub base: Vec<f64>,
    /// The trees, in the order their values are added.
    pub trees: Trees,
    /// Sum or mean.
    #[serde(with = "CombineDef")]
    pub combine: Combine,
    /// Link applied after combining.
    #[serde(with = "LinkDef")]
    pub link: Link,
}

impl TreeEnsemble {
    /// Shapley values of the raw outputs for row `x` by their definition:
    /// each feature's weighted mean gain over every subset of the others,
    /// a subset's value the expected output given those features
    /// ([`Tree::expected_given`]); `x.len() + 1` values per output, the
    /// expected value last, as [`kernels::tree_contributions`] gives them.
    /// It takes 2^d evaluations: the reference TreeSHAP is tested against,
    /// for a few features only.
    pub fn shapley_by_definition(&self, x: &[f64]) -> Vec<f64> {
        let d = x.len();
        let scale = match self.combine {
            Combine::Mean if !self.trees.is_empty() => 1.0 / self.trees.len() as f64,
            _ => 1.0,
        };
        let value = |known: u64| {
            let mut out: Vec<f64> = self.base.iter().map(|b| b * scale).collect();
            for t in self.trees.iter() {
                for (c, v) in t.expected_given(x, known, 0).into_iter().enumerate() {
                    out[t.output + c] += scale * v;
                }
            }
            out
        };
        let factorial = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        let outputs = self.base.len();
        let mut phi = vec![0.0; outputs * (d + 1)];
        for i in 0..d {
            for s in (0u64..1 << d).filter(|s| s & (1 << i) == 0) {
                let k = s.count_ones() as usize;
                let weight = factorial(k) * factorial(d - k - 1) / factorial(d);
                let (with, without) = (value(s | 1 << i), value(s));
                for o in 0..outputs {
                    phi[o * (d + 1) + i] += weight * (with[o] - without[o]);
                }
            }
        }
        for (o, v) in value(0).into_iter().enumerate() {
            phi[o * (d + 1) + d] = v;
        }
        phi
    }
}

impl Kind for TreeEnsemble {
    fn shape(&self) -> Shape {
        Shape::Supervised
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        let trees = self.trees.view();
        kernels::tree_ensemble(&trees, &self.base, self.combine, self.link, x, out);
    }

    fn score_batch(&self, x: &[f64], d: usize, out: &mut [f64], w: usize) {
        let (trees, base) = (self.trees.view(), &self.base);
        kernels::tree_ensemble_batch(&trees, base, self.combine, self.link, x, d, out, w);
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

    fn record_cover(&mut self, x: &[f64], d: usize) {
        let mut list = self.trees.to_vec();
        list.par_iter_mut().for_each(|t| t.set_cover(x, d));
        self.trees = Trees::from(list);
    }

    fn explains(&self) -> Result<(usize, Link), String> {
        if !self.trees.packed().covered {
            return Err("the model file has no tree cover (it was written by an automl before reason codes); train it again".into());
        }
        Ok((self.base.len(), self.link))
    }

    fn contributions(&self, x: &[f64], phi: &mut [f64]) {
        let packed = self.trees.packed();
        let depth = packed.depths.iter().copied().max().unwrap_or(0) as usize;
        let mut path = vec![kernels::PathStep::default(); kernels::path_steps(depth)];
        let (trees, cover) = (packed.view(), &packed.cover);
        kernels::tree_contributions(&trees, cover, &self.base, self.combine, x, phi, &mut path);
    }

    fn lower(&self) -> Lowered {
        let packed = self.trees.packed();
        let lowered = Lowered::new(
            vec![
                ("BASE", Table::F64s(self.base.clone())),
                ("TREES", Table::Trees(Box::new(self.trees.packed().clone()))),
                ("COMBINE", Table::Combine(self.combine)),
                ("LINK", Table::Link(self.link)),
            ],
            "kernels::tree_ensemble(&TREES, &BASE, COMBINE, LINK, x, out);",
        )
        .with_batch("kernels::tree_ensemble_batch(&TREES, &BASE, COMBINE, LINK, x, d, out, w);");
        if !packed.covered {
            return lowered;
        }
        let depth = packed.depths.iter().copied().max().unwrap_or(0) as usize;
        let tables = vec![
            ("TREES_COVER", Table::F64s(packed.cover.clone())),
            ("PATH_STEPS", Table::Usize(kernels::path_steps(depth))),
        ];
        lowered.with_explain(
            tables,
            "let mut path = [kernels::PathStep::EMPTY; PATH_STEPS];\nkernels::tree_contributions(&TREES, &TREES_COVER, &BASE, COMBINE, x, phi, &mut path);",
        )
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

/// Many trees' nodes in one set of arrays, each tree's nodes in the order
/// a walk visits them (a split, its left subtree, its right subtree), with
/// global indices: the owned form of `kernels::Trees`, which the portable
/// model scores with and the exporter writes out.
#[derive(Debug, Clone, Default)]
pub struct PackedTrees {
    /// Split threshold per node (`x <` it goes left), NaN for a leaf.
    pub threshold: Vec<f64>,
    /// Split feature (0 for a leaf) and right child (a leaf's own index)
    /// per node, as [`kernels::link`] packs them.
    pub link: Vec<u64>,
    /// Root node of each tree.
    pub roots: Vec<u32>,
    /// First output of each tree.
    pub outputs: Vec<u32>,
    /// Depth of each tree.
    pub depths: Vec<u32>,
    /// Leaf values, `width` per node.
    pub values: Vec<f64>,
    /// Values per leaf.
    pub width: usize,
    /// Training rows reaching each node (zeros where a tree has none).
    pub cover: Vec<f64>,
    /// Whether every tree recorded its cover.
    pub covered: bool,
    /// The bit-vector walk's tables, when the trees suit it.
    pub bits: Option<PackedBits>,
    /// The rank walk's tables, when the trees suit it.
    pub ranks: Option<PackedRanks>,
}

/// Equal bit for bit (a leaf's NaN threshold equals itself).
impl PartialEq for PackedTrees {
    fn eq(&self, other: &PackedTrees) -> bool {
        let bits = |v: &[f64]| v.iter().map(|t| t.to_bits()).collect::<Vec<_>>();
        bits(&self.threshold) == bits(&other.threshold)
            && (&self.link, &self.roots) == (&other.link, &other.roots)
            && (&self.outputs, &self.depths, self.width) == (&other.outputs, &other.depths, other.width)
            && bits(&self.values) == bits(&other.values)
    }
}

/// Splits per step of the walk below which the trees get a bit-vector
/// walk for batches: QuickScorer visits splits (those of one-hot features
/// mostly not), the walk takes each tree's depth in steps. Measured: see
/// "Bit vectors" in the benchmarks chapter.
const BIT_SPLITS_PER_STEP: usize = 3;

/// The owned form of [`kernels::BitTrees`].
#[derive(Debug, Clone, Default)]
pub struct PackedBits {
    /// Each feature's first split.
    pub starts: Vec<u32>,
    /// Split thresholds, ascending within a feature.
    pub threshold: Vec<f64>,
    /// Each split's tree.
    pub tree: Vec<u32>,
    /// The leaves a row keeps when it goes right at the split.
    pub mask: Vec<u64>,
    /// Each tree's first leaf in `leaves`.
    pub first_leaf: Vec<u32>,
    /// Every tree's leaf nodes, left to right.
    pub leaves: Vec<u32>,
    /// Whether every tree has at most 32 leaves.
    pub narrow: bool,
    /// Whether each feature's thresholds are all `f32` values.
    pub single: Vec<bool>,
}

/// A split for [`PackedBits`]: feature, threshold, tree, mask.
type BitSplit = (u32, f64, u32, u64);

impl PackedBits {
    /// The tables for `trees` when the walk suits them: at most 64 leaves
    /// a tree, [`kernels::BIT_TREES_MAX`] trees and features, and fewer
    /// than [`BIT_SPLITS_PER_STEP`] splits per step a walk takes.
    fn of(trees: &kernels::Trees<'_>) -> Option<PackedBits> {
        let steps: usize = trees.depths.iter().map(|&d| d as usize).sum();
        PackedBits::build(trees).filter(|b| b.threshold.len() < BIT_SPLITS_PER_STEP * steps)
    }

    /// The tables for `trees`, if they have at most 64 leaves a tree and
    /// [`kernels::BIT_TREES_MAX`] trees and features.
    fn build(trees: &kernels::Trees<'_>) -> Option<PackedBits> {
        let count = trees.count();
        if count == 0 || count > kernels::BIT_TREES_MAX || trees.depths.iter().any(|&d| d > 63) {
            return None;
        }
        let mut bits = PackedBits::default();
        let mut splits = Vec::new();
        for t in 0..count {
            bits.first_leaf.push(bits.leaves.len() as u32);
            let first = bits.leaves.len();
            bits.number(trees, trees.roots[t] as usize, (t as u32, first), &mut splits)?;
        }
        let features = splits.iter().map(|s| s.0 as usize + 1).max().unwrap_or(0);
        if features > kernels::BIT_TREES_MAX {
            return None;
        }
        let ends = bits.first_leaf.iter().skip(1).copied().chain([bits.leaves.len() as u32]);
        bits.narrow = bits.first_leaf.iter().zip(ends).all(|(a, b)| b - a <= 32);
        splits.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        bits.starts = (0..=features)
            .map(|j| splits.partition_point(|s| (s.0 as usize) < j) as u32)
            .collect();
        let single = |s: &BitSplit| f64::from(s.1 as f32) == s.1;
        bits.single = (bits.starts.windows(2))
            .map(|w| splits[w[0] as usize..w[1] as usize].iter().all(single))
            .collect();
        for (_, threshold, tree, mask) in splits {
            bits.threshold.push(threshold);
            bits.tree.push(tree);
            bits.mask.push(mask);
        }
        Some(bits)
    }

    /// Numbers the leaves under node `at` of tree `t` (whose first leaf is
    /// `leaves[first]`) left to right, and records its splits; `None` past
    /// 64 leaves.
    fn number(
        &mut self,
        trees: &kernels::Trees<'_>,
        at: usize,
        (t, first): (u32, usize),
        splits: &mut Vec<BitSplit>,
    ) -> Option<()> {
        if trees.right(at) == at {
            self.leaves.push(at as u32);
            return (self.leaves.len() - first <= 64).then_some(());
        }
        let lo = self.leaves.len() - first;
        self.number(trees, at + 1, (t, first), splits)?;
        let hi = self.leaves.len() - first;
        if hi - lo >= 64 {
            return None;
        }
        // Going right here rules out the left subtree's leaves.
        let mask = !(((1u64 << (hi - lo)) - 1) << lo);
        splits.push((trees.feature(at) as u32, trees.threshold[at], t, mask));
        self.number(trees, trees.right(at), (t, first), splits)
    }

    /// The kernels' view.
    pub fn view(&self) -> kernels::BitTrees<'_> {
        kernels::BitTrees {
            starts: &self.starts,
            threshold: &self.threshold,
            tree: &self.tree,
            mask: &self.mask,
            first_leaf: &self.first_leaf,
            leaves: &self.leaves,
            narrow: self.narrow,
            single: &self.single,
        }
    }
}

/// The owned form of [`kernels::RankTrees`].
#[derive(Debug, Clone, Default)]
pub struct PackedRanks {
    /// Each feature's first threshold in `cuts`.
    pub starts: Vec<u32>,
    /// Each feature's distinct thresholds, ascending.
    pub cuts: Vec<f64>,
    /// Each tree's splits level by level: feature and threshold's rank.
    pub splits: Vec<u32>,
    /// Each tree's bottom positions: the values of the leaf each stands for.
    pub values: Vec<f64>,
    /// The depth every tree is completed to.
    pub depth: u32,
}

/// Nodes from which the trees get the rank walk for one row at a time: 1
/// MiB of the ordinary walk's tables, 16 bytes a node, the L2 cache of a
/// core here. Below it ranking the row costs more than the smaller tables
/// save (see "Ranks for large ensembles" in the benchmarks chapter).
const RANK_NODES_MIN: usize = 1 << 16;

impl PackedRanks {
    /// The tables for `trees` when the walk suits them: at least
    /// [`RANK_NODES_MIN`] nodes, and completing every tree to the deepest
    /// one's depth at most doubles them.
    fn of(trees: &kernels::Trees<'_>) -> Option<PackedRanks> {
        let nodes = trees.threshold.len();
        let depth = trees.depths.iter().copied().max()?;
        let completed = trees.count().checked_shl(depth)?;
        if nodes < RANK_NODES_MIN || completed > nodes {
            return None;
        }
        PackedRanks::build(trees, depth.max(1))
    }

    /// The tables for `trees` completed to `depth` (at least each tree's),
    /// if every split's threshold is a number and there are at most
    /// [`kernels::RANK_FEATURES_MAX`] features and fewer than
    /// [`kernels::RANK_LEFT`] thresholds a feature.
    fn build(trees: &kernels::Trees<'_>, depth: u32) -> Option<PackedRanks> {
        let splits = (0..trees.threshold.len()).filter(|&at| trees.right(at) != at);
        let mut by_feature: Vec<Vec<f64>> = Vec::new();
        for at in splits {
            let (j, t) = (trees.feature(at), trees.threshold[at]);
            if t.is_nan() || j >= kernels::RANK_FEATURES_MAX {
                return None;
            }
            by_feature.resize_with(by_feature.len().max(j + 1), Vec::new);
            by_feature[j].push(t);
        }
        let mut ranks = PackedRanks {
            depth,
            starts: vec![0],
            ..PackedRanks::default()
        };
        for mut cuts in by_feature {
            cuts.sort_by(f64::total_cmp);
            cuts.dedup_by(|a, b| a == b);
            if cuts.len() >= usize::from(kernels::RANK_LEFT) {
                return None;
            }
            ranks.cuts.extend(cuts);
            ranks.starts.push(ranks.cuts.len() as u32);
        }
        for &root in trees.roots {
            let first = ranks.splits.len();
            let left = kernels::rank_split(0, kernels::RANK_LEFT);
            ranks.splits.resize(first + (1 << depth) - 1, left);
            let bottom = ranks.values.len() + (trees.width << depth);
            ranks.values.resize(bottom, 0.0);
            ranks.place(trees, root as usize, 0, 0);
        }
        Some(ranks)
    }

    /// Places node `at` (and its subtree) of the last tree at position
    /// `pos` of level `level`.
    fn place(&mut self, trees: &kernels::Trees<'_>, at: usize, pos: usize, level: u32) {
        let splits = (1usize << self.depth) - 1;
        if trees.right(at) == at || level == self.depth {
            // Every bottom position under `pos` stands for this leaf.
            let (below, w) = (self.depth - level, trees.width);
            let tree = self.values.len() - ((splits + 1) * w);
            let lo = ((pos + 1) << below) - 1 - splits;
            let hi = ((pos + 2) << below) - 1 - splits;
            let leaf = &trees.values[at * w..(at + 1) * w];
            for bottom in self.values[tree + lo * w..tree + hi * w].chunks_exact_mut(w) {
                bottom.copy_from_slice(leaf);
            }
            return;
        }
        let j = trees.feature(at);
        let cuts = &self.cuts[self.starts[j] as usize..self.starts[j + 1] as usize];
        let rank = cuts.partition_point(|c| *c < trees.threshold[at]) as u16;
        let first = self.splits.len() - splits;
        self.splits[first + pos] = kernels::rank_split(j as u16, rank);
        self.place(trees, at + 1, 2 * pos + 1, level + 1);
        self.place(trees, trees.right(at), 2 * pos + 2, level + 1);
    }

    /// The kernels' view.
    pub fn view(&self) -> kernels::RankTrees<'_> {
        kernels::RankTrees {
            starts: &self.starts,
            cuts: &self.cuts,
            splits: &self.splits,
            values: &self.values,
            depth: self.depth,
        }
    }
}

impl PackedTrees {
    /// Packs `trees` (of one leaf width) in order. A malformed tree (which
    /// a model's check refuses before anything scores) still packs into
    /// some tree without panicking.
    pub fn of(trees: &[Tree]) -> PackedTrees {
        let mut packed = PackedTrees {
            width: trees.first().map_or(1, |t| t.width),
            covered: trees.iter().all(|t| !t.cover.is_empty()),
            ..PackedTrees::default()
        };
        for tree in trees {
            packed.roots.push(packed.len());
            packed.outputs.push(tree.output as u32);
            let depth = packed.push(tree);
            packed.depths.push(depth);
        }
        packed.bits = PackedBits::of(&packed.view());
        packed.ranks = PackedRanks::of(&packed.view());
        packed
    }

    /// The kernels' view.
    pub fn view(&self) -> kernels::Trees<'_> {
        kernels::Trees {
            threshold: &self.threshold,
            link: &self.link,
            roots: &self.roots,
            outputs: &self.outputs,
            depths: &self.depths,
            values: &self.values,
            width: self.width,
            bits: self.bits.as_ref().map(PackedBits::view),
            ranks: self.ranks.as_ref().map(PackedRanks::view),
        }
    }

    /// Appends `tree`'s nodes in walk order; returns its depth. A split's
    /// right child is placed after its left subtree, so its index is set
    /// once the walk has placed it.
    fn push(&mut self, tree: &Tree) -> u32 {
        const UNSEEN: u32 = u32::MAX;
        let mut at = vec![UNSEEN; tree.len()];
        let mut splits = Vec::new();
        let (mut stack, mut depth) = (vec![(0, 0)], 0);
        while let Some((i, level)) = stack.pop() {
            let here = self.len();
            let first_visit = at.get(i) == Some(&UNSEEN);
            if let Some(a) = at.get_mut(i) {
                *a = here;
            }
            depth = depth.max(level);
            self.cover.push(tree.cover.get(i).map_or(0.0, |&c| f64::from(c)));
            if first_visit && tree.splits(i) {
                self.push_node(tree.strict_threshold(i), tree.feature[i] as u32, 0);
                self.values.extend(std::iter::repeat_n(0.0, self.width));
                splits.push((here, tree.right[i] as usize));
                stack.push((tree.right[i] as usize, level + 1));
                stack.push((tree.left[i] as usize, level + 1));
            } else {
                self.push_leaf(tree, i, here);
            }
        }
        for (split, right) in splits {
            let (feature, _) = kernels::link_parts(self.link[split as usize]);
            self.link[split as usize] = kernels::link(feature, at[right]);
        }
        depth
    }

    /// A leaf holding node `i`'s values (zeros where the tree has none),
    /// looping to itself at index `here`.
    fn push_leaf(&mut self, tree: &Tree, i: usize, here: u32) {
        let values = tree.values.get(i * tree.width..(i + 1) * tree.width);
        let values = values.unwrap_or_default().iter().copied();
        self.values.extend(values.chain(std::iter::repeat(0.0)).take(self.width));
        self.push_node(f64::NAN, 0, here);
    }

    fn push_node(&mut self, threshold: f64, feature: u32, right: u32) {
        self.threshold.push(threshold);
        self.link.push(kernels::link(feature, right));
    }

    /// Number of nodes.
    fn len(&self) -> u32 {
        self.threshold.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// A random tree of up to `depth` levels over 3 features, leaves of
    /// `width` values, nodes in depth-first order as the learners write
    /// them. Thresholds come from a few values the test rows also take, so
    /// rows land on thresholds exactly.
    pub(super) fn random_tree(rng: &mut impl Rng, depth: u32, width: usize, rule: Rule) -> Tree {
        let mut tree = Tree::empty(width, rule);
        grow(rng, &mut tree, depth, 0.75);
        tree
    }

    /// [`random_tree`] with every node above `depth` a split.
    fn full_tree(rng: &mut impl Rng, depth: u32, width: usize, rule: Rule) -> Tree {
        let mut tree = Tree::empty(width, rule);
        grow(rng, &mut tree, depth, 1.0);
        tree
    }

    /// Grows a node of `tree` and, with probability `p` where `depth`
    /// allows, its two subtrees; returns its index.
    fn grow(rng: &mut impl Rng, tree: &mut Tree, depth: u32, p: f64) -> u32 {
        let at = tree.len();
        let split = depth > 0 && rng.gen_bool(p);
        let feature = if split { rng.gen_range(0..3) } else { -1 };
        // Feature 0's thresholds are all `f32`s (with `Rule::Less`); it
        // varies fastest in `rows`, so a group of rows mixes its values.
        let thresholds = [-1.0, -0.0, 0.5, 2.0, f64::MAX];
        let thresholds = &thresholds[..if feature == 0 { 4 } else { 5 }];
        tree.feature.push(feature);
        tree.threshold.push(if split { thresholds[rng.gen_range(0..thresholds.len())] } else { 0.0 });
        tree.left.push(0);
        tree.right.push(0);
        for _ in 0..tree.width {
            tree.values.push(if split { 0.0 } else { rng.gen_range(-1.0..1.0) });
        }
        if split {
            tree.left[at] = grow(rng, tree, depth - 1, p);
            tree.right[at] = grow(rng, tree, depth - 1, p);
        }
        at as u32
    }

    /// Rows that sit on, between and beyond the thresholds, and just below
    /// and above them closer than an `f32` can tell.
    pub(super) fn rows() -> Vec<[f64; 3]> {
        let v = [
            -1.0,
            0.0,
            -0.0,
            0.5,
            2.0,
            0.7,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            0.5f64.next_down(),
            2.0f64.next_up(),
            1e300,
        ];
        let n = v.len();
        (0..n * n * n).map(|i| [v[i % n], v[(i / n) % n], v[i / (n * n)]]).collect()
    }

    /// What the packed walk must give: every tree walked by its own arrays,
    /// leaves added in tree order.
    fn by_arrays(trees: &[Tree], base: &[f64], x: &[f64]) -> Vec<f64> {
        let mut out = base.to_vec();
        for t in trees {
            let leaf = t.leaf(x);
            for c in 0..t.width {
                out[t.output + c] += t.values[leaf * t.width + c];
            }
        }
        out
    }

    #[test]
    fn packed_trees_score_as_their_arrays_walk_to_the_bit() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let cases = [(1, Rule::Less), (1, Rule::LessOrEqual), (2, Rule::LessOrEqual)];
        for ((width, rule), narrow) in cases.into_iter().flat_map(|c| [(c, true), (c, false)]) {
            // 19 trees: two full groups of lanes and a short one, of mixed
            // depth, at most 32 leaves each, or one of 64 (so that they
            // have bit vectors, of 32 bits or of 64).
            let trees: Trees = (0..19)
                .map(|t| {
                    let mut tree = match t {
                        0 if !narrow => full_tree(&mut rng, 6, width, rule),
                        _ => random_tree(&mut rng, 1 + t % 5, width, rule),
                    };
                    tree.output = if width == 1 { t as usize % 2 } else { 0 };
                    tree
                })
                .collect();
            let ensemble = TreeEnsemble {
                base: vec![0.25, -0.5],
                trees,
                combine: Combine::Sum,
                link: Link::Identity,
            };
            let rows = rows();
            let flat: Vec<f64> = rows.iter().flatten().copied().collect();
            let with_bits = PackedBits::build(&ensemble.trees.view());
            assert_eq!(with_bits.as_ref().map(|b| b.narrow), Some(narrow));
            let single = with_bits.as_ref().map(|b| b.single.clone()).unwrap_or_default();
            let expected = [rule == Rule::Less, false, false];
            assert_eq!(single, expected, "features compared as f32");
            ranks_score_as_arrays(&ensemble, &rows);
            for bits in [None, with_bits.as_ref()] {
                let walk = if bits.is_some() { "bit vectors" } else { "lanes" };
                let walk = format!("{walk}, narrow {narrow}");
                let mut trees = ensemble.trees.view();
                trees.bits = bits.map(PackedBits::view);
                let mut batch = vec![0.0; rows.len() * 2];
                let (base, combine, link) = (&ensemble.base, Combine::Sum, Link::Identity);
                kernels::tree_ensemble_batch(&trees, base, combine, link, &flat, 3, &mut batch, 2);
                for (x, from_batch) in rows.iter().zip(batch.chunks(2)) {
                    let expected = by_arrays(&ensemble.trees, &ensemble.base, x);
                    let mut out = [0.0; 2];
                    ensemble.score(x, &mut out);
                    let b = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(b(&out), b(&expected), "{rule:?}, row {x:?}");
                    assert_eq!(b(from_batch), b(&expected), "{rule:?}, {walk}, batch row {x:?}");
                }
            }
        }
    }

    /// One row at a time with the rank walk, the trees completed to their
    /// deepest one's depth and one deeper, gives what `by_arrays` gives.
    fn ranks_score_as_arrays(ensemble: &TreeEnsemble, rows: &[[f64; 3]]) {
        let deepest = ensemble.trees.view().depths.iter().copied().max().unwrap_or(0);
        for depth in [deepest, deepest + 1] {
            let ranks = PackedRanks::build(&ensemble.trees.view(), depth).expect("ranks");
            let mut trees = ensemble.trees.view();
            trees.ranks = Some(ranks.view());
            for x in rows {
                let mut out = [0.0; 2];
                let (base, combine, link) = (&ensemble.base, Combine::Sum, Link::Identity);
                kernels::tree_ensemble(&trees, base, combine, link, x, &mut out);
                let expected = by_arrays(&ensemble.trees, &ensemble.base, x);
                let b = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(b(&out), b(&expected), "ranks to depth {depth}, row {x:?}");
            }
        }
    }

    #[test]
    fn packing_puts_each_left_child_next_and_counts_depths() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let trees: Vec<Tree> = (0..10).map(|_| random_tree(&mut rng, 6, 1, Rule::Less)).collect();
        let packed = PackedTrees::of(&trees);
        for (i, t) in packed.threshold.iter().enumerate() {
            let right = packed.view().right(i);
            if t.is_nan() {
                assert_eq!(right, i, "a leaf loops to itself");
            } else {
                assert!(right > i + 1, "the right child follows the left subtree");
            }
        }
        let depth = |t: &Tree| -> u32 {
            let mut level = vec![0; t.len()];
            for i in 0..t.len() {
                if t.feature[i] >= 0 {
                    level[t.left[i] as usize] = level[i] + 1;
                    level[t.right[i] as usize] = level[i] + 1;
                }
            }
            level.into_iter().max().unwrap_or(0)
        };
        let depths: Vec<u32> = trees.iter().map(depth).collect();
        assert_eq!(packed.depths, depths);
    }

    #[test]
    fn a_malformed_tree_packs_without_panicking() {
        let mut tree = Tree::empty(1, Rule::Less);
        tree.feature = vec![0, 0, -1];
        tree.threshold = vec![0.5];
        tree.left = vec![1, 0, 7];
        tree.right = vec![2, 1, 0];
        tree.values = vec![1.0];
        let packed = PackedTrees::of(&[tree, Tree::empty(2, Rule::LessOrEqual)]);
        assert_eq!(packed.roots.len(), 2);
        assert!(Trees::from(vec![]).view().count() == 0);
    }
}

#[cfg(test)]
mod reason_codes {
    use rand::{Rng, SeedableRng};

    use super::tests::{random_tree, rows};
    use super::*;

    #[test]
    fn tree_shap_equals_shapley_values_by_their_definition_and_sums_to_the_raw_score() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let rows = rows();
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        for (width, rule, combine) in [
            (1, Rule::Less, Combine::Sum),
            (1, Rule::LessOrEqual, Combine::Sum),
            (2, Rule::LessOrEqual, Combine::Mean),
        ] {
            let trees: Vec<Tree> = (0..7)
                .map(|t| {
                    let mut tree = random_tree(&mut rng, 1 + t % 5, width, rule);
                    tree.output = if width == 1 { t as usize % 2 } else { 0 };
                    // Training rows: a random half of the test rows.
                    let train: Vec<f64> = rows
                        .iter()
                        .filter(|_| rng.gen_bool(0.5))
                        .flatten()
                        .copied()
                        .collect();
                    tree.set_cover(&train, 3);
                    tree
                })
                .collect();
            let mut e = TreeEnsemble {
                base: vec![0.25, -0.5],
                trees: Trees::from(trees),
                combine,
                link: Link::Identity,
            };
            let mut phi = vec![0.0; 8];
            let mut out = [0.0; 2];
            for x in flat.chunks(3) {
                e.contributions(x, &mut phi);
                let expected = e.shapley_by_definition(x);
                for (a, b) in phi.iter().zip(&expected) {
                    assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{phi:?} vs {expected:?} at {x:?}");
                }
                e.score(x, &mut out);
                for o in 0..2 {
                    let sum: f64 = phi[o * 4..o * 4 + 4].iter().sum();
                    assert!((sum - out[o]).abs() <= 1e-9, "{sum} vs {} at {x:?}", out[o]);
                }
            }
            // The cover is the rows': none, none reach any node.
            let before = e.trees.packed().cover.clone();
            e.record_cover(&[], 3);
            assert!(e.trees.packed().cover.iter().all(|c| *c == 0.0));
            assert_ne!(before, e.trees.packed().cover);
        }
    }
}
