//! Scoring kernels: the maths of every estimator kind, over plain slices.
//! The portable model scores with these functions, and
//! `automl export --rust` copies this file verbatim into the generated
//! module beside the model's static tables, so the generated code computes
//! the same function as `automl predict` by construction.
//!
//! Std only, no allocation (callers hand in scratch buffers), no imports
//! from the crate: the text must compile on its own. `x` is one encoded,
//! scaled row; `out` is the estimator's output vector.

/// Turns raw outputs into the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Outputs are the prediction (regression values or class probabilities).
    Identity,
    /// One output, a log-odds of the second class.
    Sigmoid,
    /// One output per class, log-scores.
    Softmax,
}

/// How the trees' leaf values are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Add every tree's leaf (gradient boosting).
    Sum,
    /// Average the trees' leaves (forests, single trees).
    Mean,
}

/// How neighbours' votes are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weighting {
    /// Every neighbour counts the same.
    Uniform,
    /// Closer neighbours count more (1 / distance; exact matches win).
    Distance,
}

/// Index of the first largest value.
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Softmax in place, stable.
pub fn softmax(z: &mut [f64]) {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    z.iter_mut().for_each(|v| *v /= sum);
}

/// Applies `link` to raw outputs already in `out`. A sigmoid reads the
/// log-odds in `out[0]` and writes both class probabilities.
pub fn apply_link(link: Link, out: &mut [f64]) {
    match link {
        Link::Identity => {}
        Link::Sigmoid => {
            let p = sigmoid(out[0]);
            out[0] = 1.0 - p;
            out[1] = p;
        }
        Link::Softmax => softmax(out),
    }
}

/// The anomaly flag as an output value.
pub fn flag(score: f64, threshold: f64) -> f64 {
    f64::from(u8::from(score > threshold))
}

/// Squared Euclidean distance.
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// Walks taken side by side: trees for one row, rows for one tree in a
/// batch. The walks do not depend on each other, so the processor overlaps
/// their loads instead of waiting for one path after another
/// (bench/tree_lanes.sh chose 16).
pub const LANES: usize = 16;

/// Many trees' nodes in one set of arrays, each tree's nodes in the order
/// a walk visits them: a split's left child is the node after it, its
/// right child is in its `link`. Every split compares `x < t` (a `x <= t` split
/// is stored as `x <` the next double above `t`, the same comparison for
/// every value). A leaf sends every row to itself (its threshold is NaN,
/// which no value is less than, and its right child is itself), so a walk
/// may take more steps than its tree is deep and stays at the leaf.
#[derive(Debug, Clone, Copy)]
pub struct Trees<'a> {
    /// `x[feature] < threshold` goes left; NaN for a leaf.
    pub threshold: &'a [f64],
    /// The feature a split reads (0 for a leaf) in the low 32 bits, the
    /// index of its right child (a leaf's own index) in the high 32: one
    /// load where a step needs both (see [`link`]).
    pub link: &'a [u64],
    /// Root node of each tree.
    pub roots: &'a [u32],
    /// First output each tree adds into.
    pub outputs: &'a [u32],
    /// Depth of each tree: the steps that take a walk to any of its leaves.
    pub depths: &'a [u32],
    /// Leaf values, `width` per node (zeros for splits).
    pub values: &'a [f64],
    /// Values per leaf.
    pub width: usize,
    /// The same trees for the bit-vector walk of a batch, when they have
    /// it (see [`BitTrees`]).
    pub bits: Option<BitTrees<'a>>,
    /// The same trees for one row at a time, when they have them (see
    /// [`RankTrees`]).
    pub ranks: Option<RankTrees<'a>>,
}

/// Trees completed to one depth and laid out level by level (node `i`'s
/// children at `2i + 1` and `2i + 2`), whose splits compare a row's rank
/// among their feature's thresholds instead of its value: four bytes a
/// split instead of sixteen, and no child index to load, so a large
/// ensemble's splits fit in the cache that its [`Trees`] tables outgrow.
/// With `cuts` ascending and `r` the number of them at or below `x`,
/// `x < cuts[k]` exactly when `r <= k`, so a walk reaches the same leaf.
/// A leaf above the bottom level becomes splits that send every row left.
#[derive(Debug, Clone, Copy)]
pub struct RankTrees<'a> {
    /// Feature `j`'s distinct thresholds are `cuts[starts[j]..starts[j + 1]]`.
    pub starts: &'a [u32],
    /// The thresholds, ascending within a feature.
    pub cuts: &'a [f64],
    /// Each tree's `2^depth - 1` splits, tree after tree: the feature in
    /// the low 16 bits, the rank of its threshold in the high 16 (a row
    /// goes left when its rank is at most this; [`RANK_LEFT`] sends every
    /// row left).
    pub splits: &'a [u32],
    /// Each tree's `2^depth` bottom positions, tree after tree: the values
    /// of the leaf a walk ending there has reached (as many as
    /// [`Trees::width`]), so that reading them takes one load, not two.
    pub values: &'a [f64],
    /// The depth every tree is completed to.
    pub depth: u32,
}

/// The rank of a split no row's rank exceeds: a feature may have at most
/// `RANK_LEFT - 1` thresholds, and a NaN ranks above all of them.
pub const RANK_LEFT: u16 = u16::MAX;

/// A [`RankTrees`] split: `feature` in the low 16 bits, `rank` in the high.
pub const fn rank_split(feature: u16, rank: u16) -> u32 {
    feature as u32 | (rank as u32) << 16
}

/// Features [`RankTrees`] may split on at most: the walk keeps a row's
/// ranks on the stack.
pub const RANK_FEATURES_MAX: usize = 4096;

/// Trees of at most 64 leaves each, arranged for QuickScorer's walk of a
/// batch (Lucchese et al., SIGIR 2015): instead of following each row
/// down each tree, every split is visited once per group of rows, feature
/// by feature in ascending thresholds, and a row that goes right at a split
/// loses the leaves of its left subtree from its tree's set of reachable
/// leaves (a bit a leaf, left to right, in 64 or 32 bits); the leftmost leaf left
/// is the one the walk would reach. A feature's splits stop at the first
/// threshold above every row's value, so splits no row goes right at (on
/// one-hot features, most) cost nothing.
#[derive(Debug, Clone, Copy)]
pub struct BitTrees<'a> {
    /// Feature `j`'s splits are `starts[j]..starts[j + 1]` of the arrays
    /// below, in ascending threshold.
    pub starts: &'a [u32],
    /// Each split's threshold (`x <` it goes left).
    pub threshold: &'a [f64],
    /// Each split's tree.
    pub tree: &'a [u32],
    /// The leaves a row keeps when it goes right at the split.
    pub mask: &'a [u64],
    /// Index in `leaves` of each tree's first leaf.
    pub first_leaf: &'a [u32],
    /// Every tree's leaves left to right: their nodes in [`Trees`].
    pub leaves: &'a [u32],
    /// Whether every tree has at most 32 leaves: the walk then keeps
    /// 32-bit leaf sets, twice as many to an instruction.
    pub narrow: bool,
    /// Whether each feature's thresholds are all `f32` values: its rows
    /// are then compared as `f32`s rounded down (see [`single_below`]),
    /// twice as many to an instruction.
    pub single: &'a [bool],
}

/// The largest `f32` at or below `x` (NaN for NaN): for a threshold `t`
/// that is an `f32`, `x < t` exactly when `single_below(x) < t`, since no
/// `f32` lies between the two.
#[inline(always)]
pub fn single_below(x: f64) -> f32 {
    let near = x as f32;
    if f64::from(near) > x {
        near.next_down()
    } else {
        near
    }
}

/// A tree's set of leaves a row can still reach, a bit a leaf: `u32` or
/// `u64` (see [`BitTrees::narrow`]).
trait LeafSet: Copy + core::ops::BitAndAssign {
    /// Every leaf.
    const ALL: Self;
    /// A split's mask (of 64 bits) as a set.
    fn of(mask: u64) -> Self;
    /// The leftmost leaf in the set.
    fn first(self) -> usize;
}

impl LeafSet for u32 {
    const ALL: u32 = u32::MAX;
    fn of(mask: u64) -> u32 {
        mask as u32
    }
    fn first(self) -> usize {
        self.trailing_zeros() as usize
    }
}

impl LeafSet for u64 {
    const ALL: u64 = u64::MAX;
    fn of(mask: u64) -> u64 {
        mask
    }
    fn first(self) -> usize {
        self.trailing_zeros() as usize
    }
}

impl RankTrees<'_> {
    /// Writes row `x`'s rank among each feature's thresholds into `ranks`
    /// (one per feature it holds): how many are at or below the value, all
    /// of them for NaN, which goes right at every split.
    fn rank(&self, x: &[f64], ranks: &mut [u16]) {
        for ((j, r), x) in ranks.iter_mut().enumerate().zip(x) {
            let cuts = &self.cuts[self.starts[j] as usize..self.starts[j + 1] as usize];
            let below = if x.is_nan() {
                cuts.len()
            } else {
                cuts.partition_point(|c| c <= x)
            };
            *r = below as u16;
        }
    }

    /// One step of a walk in the tree whose splits start at `first`: the
    /// position after `at` for a row of `ranks`.
    #[inline(always)]
    fn step(&self, first: usize, at: usize, ranks: &[u16]) -> usize {
        let split = self.splits[first + at];
        let left = ranks[(split & 0xffff) as usize] <= (split >> 16) as u16;
        2 * at + 2 - usize::from(left)
    }

    /// Walks trees `first..first + N` to their bottom positions for a row
    /// of `ranks`, side by side; out of line, as [`Trees::walk_trees`].
    #[inline(never)]
    fn walk<const N: usize>(&self, first: usize, ranks: &[u16], at: &mut [usize; N]) {
        let splits = (1usize << self.depth) - 1;
        for _ in 0..self.depth {
            for (l, a) in at.iter_mut().enumerate() {
                *a = self.step((first + l) * splits, *a, ranks);
            }
        }
    }

    /// The values of the leaf tree `t`'s walk reached at position `at`
    /// (`width` of them).
    fn leaf(&self, t: usize, at: usize, width: usize) -> &[f64] {
        let bottom = ((t << self.depth) + at + 1 - (1 << self.depth)) * width;
        &self.values[bottom..bottom + width]
    }
}

/// Rows [`BitTrees`] walks together.
const BIT_LANES: usize = 16;

/// Trees and features [`BitTrees`] may have at most: the walk keeps one
/// leaf set per tree and row, and the group's values per feature and row,
/// on the stack.
pub const BIT_TREES_MAX: usize = 512;

/// A node's link: the feature a split reads (0 for a leaf) in the low 32
/// bits, its right child (a leaf's own index) in the high 32.
pub const fn link(feature: u32, right: u32) -> u64 {
    feature as u64 | (right as u64) << 32
}

/// A [`link`]'s feature and right child.
#[inline(always)]
pub const fn link_parts(link: u64) -> (u32, u32) {
    (link as u32, (link >> 32) as u32)
}

impl Trees<'_> {
    /// Number of trees.
    pub fn count(&self) -> usize {
        self.roots.len()
    }

    /// The feature node `at` splits on (0 for a leaf).
    pub fn feature(&self, at: usize) -> usize {
        link_parts(self.link[at]).0 as usize
    }

    /// Node `at`'s right child (a leaf's own index).
    pub fn right(&self, at: usize) -> usize {
        link_parts(self.link[at]).1 as usize
    }

    /// One step of a walk: the node after `at` for row `x`. A branch here
    /// is mispredicted about half the time, and each miss throws away the
    /// other lanes' work, so the choice is a conditional move
    /// (`select_unpredictable`; with the branch the compiler otherwise
    /// picks, 100 trees of depth 6 took 2.6 times as long).
    #[inline(always)]
    fn step(&self, at: usize, x: &[f64]) -> usize {
        let (feature, right) = link_parts(self.link[at]);
        let left = x[feature as usize] < self.threshold[at];
        core::hint::select_unpredictable(left, at + 1, right as usize)
    }

    /// Walks `at` (nodes of `N` trees) `steps` steps for row `x`. Kept
    /// out of line so that the lanes stay in registers whatever the caller
    /// inlines.
    #[inline(never)]
    fn walk_trees<const N: usize>(&self, steps: u32, x: &[f64], at: &mut [usize; N]) {
        for _ in 0..steps {
            for a in at.iter_mut() {
                *a = self.step(*a, x);
            }
        }
    }

    /// Walks `at` (nodes of one tree) `steps` steps, lane `l` for row
    /// `rows[l]`; out of line for the same reason.
    #[inline(never)]
    fn walk_rows<const N: usize>(&self, steps: u32, rows: &[&[f64]; N], at: &mut [usize; N]) {
        for _ in 0..steps {
            for (a, x) in at.iter_mut().zip(rows) {
                *a = self.step(*a, x);
            }
        }
    }

    /// Adds tree `t`'s values at `leaf` into `out`.
    fn add_leaf(&self, t: usize, leaf: usize, out: &mut [f64]) {
        let w = self.width;
        self.add_values(t, &self.values[leaf * w..(leaf + 1) * w], out);
    }

    /// Adds `values`, a leaf's of tree `t`, into `out`.
    fn add_values(&self, t: usize, values: &[f64], out: &mut [f64]) {
        let o = self.outputs[t] as usize;
        for (o, v) in out[o..o + values.len()].iter_mut().zip(values) {
            *o += v;
        }
    }

    /// Adds the leaves `x` reaches in trees `first..first + N` into `out`,
    /// walking them side by side; returns `N`.
    fn add_trees<const N: usize>(&self, first: usize, x: &[f64], out: &mut [f64]) -> usize {
        let mut at: [usize; N] = core::array::from_fn(|l| self.roots[first + l] as usize);
        let steps = self.depths[first..first + N]
            .iter()
            .copied()
            .max()
            .unwrap_or(0);
        self.walk_trees(steps, x, &mut at);
        for (t, leaf) in (first..).zip(at) {
            self.add_leaf(t, leaf, out);
        }
        N
    }

    /// Adds every tree's leaf for `x` into `out`, in tree order: [`LANES`]
    /// trees at a time, the rest four or one at a time (a spare lane would
    /// walk a tree for nothing).
    fn add_all(&self, x: &[f64], out: &mut [f64]) {
        if let Some(ranks) = &self.ranks {
            // The row's ranks are on the stack, sized for the features.
            return match ranks.starts.len() {
                0..=65 => self.add_ranked::<64>(ranks, x, out),
                66..=513 => self.add_ranked::<512>(ranks, x, out),
                _ => self.add_ranked::<RANK_FEATURES_MAX>(ranks, x, out),
            };
        }
        let mut first = 0;
        while first < self.count() {
            first += match self.count() - first {
                n if n >= LANES => self.add_trees::<LANES>(first, x, out),
                n if n >= 4 => self.add_trees::<4>(first, x, out),
                _ => self.add_trees::<1>(first, x, out),
            };
        }
    }

    /// Adds tree `t`'s leaves for rows `first..first + N` of `x` (`d`
    /// values each) into their outputs in `out` (`w` each), walking the
    /// rows side by side; returns `N`.
    #[allow(clippy::too_many_arguments)]
    fn add_rows<const N: usize>(
        &self,
        t: usize,
        first: usize,
        x: &[f64],
        d: usize,
        out: &mut [f64],
        w: usize,
    ) -> usize {
        let rows: [&[f64]; N] = core::array::from_fn(|l| &x[(first + l) * d..(first + l + 1) * d]);
        let mut at = [self.roots[t] as usize; N];
        self.walk_rows(self.depths[t], &rows, &mut at);
        for (r, leaf) in (first..).zip(at) {
            self.add_leaf(t, leaf, &mut out[r * w..(r + 1) * w]);
        }
        N
    }

    /// [`Trees::add_all`] for many rows (`x` row-major, `d` values each;
    /// `out` `w` values each): with [`BitTrees`] when the trees have them,
    /// else tree by tree, so a tree's nodes stay in cache across the rows,
    /// [`LANES`] rows at a time (the rest four or one at a time). Each
    /// row's leaves are added in tree order, as one row at a time.
    fn add_all_batch(&self, x: &[f64], d: usize, out: &mut [f64], w: usize) {
        let d = d.max(1);
        let rows = (x.len() / d).min(out.len() / w.max(1));
        if let Some(bits) = &self.bits {
            let (x, out) = (&x[..rows * d], &mut out[..rows * w]);
            // The walk's scratch is on the stack, sized for the trees.
            return match self.count().max(bits.starts.len()) {
                0..=64 => self.add_bit_rows::<64>(bits, x, d, out, w),
                65..=128 => self.add_bit_rows::<128>(bits, x, d, out, w),
                129..=256 => self.add_bit_rows::<256>(bits, x, d, out, w),
                _ => self.add_bit_rows::<BIT_TREES_MAX>(bits, x, d, out, w),
            };
        }
        for t in 0..self.count() {
            let mut first = 0;
            while first < rows {
                first += match rows - first {
                    n if n >= LANES => self.add_rows::<LANES>(t, first, x, d, out, w),
                    n if n >= 4 => self.add_rows::<4>(t, first, x, d, out, w),
                    _ => self.add_rows::<1>(t, first, x, d, out, w),
                };
            }
        }
    }
}

impl Trees<'_> {
    /// [`Trees::add_all`] with `ranks` (at most `F` features): [`LANES`]
    /// trees at a time, the rest four or one at a time.
    fn add_ranked<const F: usize>(&self, ranks: &RankTrees<'_>, x: &[f64], out: &mut [f64]) {
        let mut row = [0u16; F];
        let row = &mut row[..ranks.starts.len().saturating_sub(1)];
        ranks.rank(x, row);
        let mut first = 0;
        while first < self.count() {
            first += match self.count() - first {
                n if n >= LANES => self.add_ranked_trees::<LANES>(ranks, first, row, out),
                n if n >= 4 => self.add_ranked_trees::<4>(ranks, first, row, out),
                _ => self.add_ranked_trees::<1>(ranks, first, row, out),
            };
        }
    }

    /// Adds the leaves a row of `row` ranks reaches in trees `first..first
    /// + N` into `out`; returns `N`.
    fn add_ranked_trees<const N: usize>(
        &self,
        ranks: &RankTrees<'_>,
        first: usize,
        row: &[u16],
        out: &mut [f64],
    ) -> usize {
        let mut at = [0; N];
        ranks.walk(first, row, &mut at);
        for (t, at) in (first..).zip(at) {
            self.add_values(t, ranks.leaf(t, at, self.width), out);
        }
        N
    }

    /// [`Trees::add_all_batch`] with `bits` (at most `M` trees and
    /// features), with leaf sets as narrow as the trees allow.
    fn add_bit_rows<const M: usize>(
        &self,
        bits: &BitTrees<'_>,
        x: &[f64],
        d: usize,
        out: &mut [f64],
        w: usize,
    ) {
        if bits.narrow {
            self.add_bit_sets::<M, u32>(bits, x, d, out, w);
        } else {
            self.add_bit_sets::<M, u64>(bits, x, d, out, w);
        }
    }

    /// [`Trees::add_bit_rows`] with leaf sets `S`: [`BIT_LANES`] rows at a
    /// time.
    fn add_bit_sets<const M: usize, S: LeafSet>(
        &self,
        bits: &BitTrees<'_>,
        x: &[f64],
        d: usize,
        out: &mut [f64],
        w: usize,
    ) {
        let (mut values, mut sets) = ([[0.0; BIT_LANES]; M], [[S::ALL; BIT_LANES]; M]);
        let features = bits.starts.len().saturating_sub(1);
        let (values, sets) = (&mut values[..features], &mut sets[..self.count()]);
        for (x, out) in x.chunks(BIT_LANES * d).zip(out.chunks_mut(BIT_LANES * w)) {
            lanes_by_feature(x, d, values);
            sets.iter_mut().for_each(|s| *s = [S::ALL; BIT_LANES]);
            bits.clear_unreachable(values, sets);
            for (t, sets) in sets.iter().enumerate() {
                for (l, set) in sets[..x.len() / d].iter().enumerate() {
                    self.add_leaf(t, bits.leaf(t, *set), &mut out[l * w..(l + 1) * w]);
                }
            }
        }
    }
}

impl BitTrees<'_> {
    /// Clears from each tree's leaf `sets` the leaves each lane's row can
    /// no longer reach, given the rows' `values` feature by feature.
    fn clear_unreachable<S: LeafSet>(
        &self,
        values: &[[f64; BIT_LANES]],
        sets: &mut [[S; BIT_LANES]],
    ) {
        for (j, xs) in values.iter().enumerate() {
            // NaN goes right everywhere, as if above every threshold.
            let top = xs.iter().fold(f64::NEG_INFINITY, |m, &x| {
                if x.is_nan() {
                    f64::INFINITY
                } else {
                    m.max(x)
                }
            });
            let splits = self.starts[j] as usize..self.starts[j + 1] as usize;
            if self.single[j] {
                let xs: [f32; BIT_LANES] = core::array::from_fn(|l| single_below(xs[l]));
                self.clear_splits(splits, top, &xs, |t| t as f32, sets);
            } else {
                self.clear_splits(splits, top, xs, |t| t, sets);
            }
        }
    }

    /// Clears the leaves that rows of values `xs` (as `lane` converts a
    /// threshold) lose at `splits`, one feature's, up to the first
    /// threshold above `top`, the rows' largest value.
    #[inline(always)]
    fn clear_splits<S: LeafSet, V: Copy + PartialOrd>(
        &self,
        splits: core::ops::Range<usize>,
        top: f64,
        xs: &[V; BIT_LANES],
        lane: impl Fn(f64) -> V,
        sets: &mut [[S; BIT_LANES]],
    ) {
        let (trees, masks) = (&self.tree[splits.clone()], &self.mask[splits.clone()]);
        for ((&t, &tree), &mask) in self.threshold[splits].iter().zip(trees).zip(masks) {
            // Neither is NaN: no row goes right here or further on.
            if t > top {
                break;
            }
            let t = lane(t);
            for (s, x) in sets[tree as usize].iter_mut().zip(xs) {
                *s &= if *x < t { S::ALL } else { S::of(mask) };
            }
        }
    }

    /// The leaf node of tree `t` a row reaches, given the leaves it can
    /// reach: the leftmost.
    fn leaf<S: LeafSet>(&self, t: usize, set: S) -> usize {
        self.leaves[self.first_leaf[t] as usize + set.first()] as usize
    }
}

/// Lays up to [`BIT_LANES`] rows (`x`, row-major, `d` values each) out
/// feature by feature in `values` (as many features as it holds); lanes
/// without a row hold -inf, below every threshold but -inf.
fn lanes_by_feature(x: &[f64], d: usize, values: &mut [[f64; BIT_LANES]]) {
    values
        .iter_mut()
        .for_each(|v| *v = [f64::NEG_INFINITY; BIT_LANES]);
    for (l, row) in x.chunks_exact(d).enumerate() {
        for (v, x) in values.iter_mut().zip(row) {
            v[l] = *x;
        }
    }
}

/// Rows the batch kernels score together, at most: tree by tree over a
/// block of rows.
pub const BLOCK: usize = 64;

/// Rows per block for rows of `d` values: [`BLOCK`], fewer for wide rows,
/// so a block of encoded rows stays within 32 KiB (one row at least).
pub const fn block_rows(d: usize) -> usize {
    let rows = 4096 / if d == 0 { 1 } else { d };
    if rows == 0 {
        1
    } else if rows > BLOCK {
        BLOCK
    } else {
        rows
    }
}

/// The end of a tree ensemble's row: the mean of `count` trees for `Mean`,
/// then the link.
fn finish_trees(combine: Combine, count: usize, raw: usize, link: Link, out: &mut [f64]) {
    if combine == Combine::Mean && count > 0 {
        let n = count as f64;
        out[..raw].iter_mut().for_each(|o| *o /= n);
    }
    apply_link(link, out);
}

/// A tree ensemble: `base` plus every tree's leaf, averaged for `Mean`,
/// then the link. Raw outputs live in `out` itself.
pub fn tree_ensemble(
    trees: &Trees<'_>,
    base: &[f64],
    combine: Combine,
    link: Link,
    x: &[f64],
    out: &mut [f64],
) {
    out[..base.len()].copy_from_slice(base);
    trees.add_all(x, out);
    finish_trees(combine, trees.count(), base.len(), link, out);
}

/// [`tree_ensemble`] over many rows: `x` holds them row-major, `d` values
/// each, `out` their outputs, `w` each; the outputs are the same to the
/// bit as one row at a time.
#[allow(clippy::too_many_arguments)]
pub fn tree_ensemble_batch(
    trees: &Trees<'_>,
    base: &[f64],
    combine: Combine,
    link: Link,
    x: &[f64],
    d: usize,
    out: &mut [f64],
    w: usize,
) {
    let rows = block_rows(d);
    for (x, out) in x.chunks(rows * d.max(1)).zip(out.chunks_mut(rows * w)) {
        for o in out.chunks_exact_mut(w) {
            o[..base.len()].copy_from_slice(base);
        }
        trees.add_all_batch(x, d, out, w);
        for o in out.chunks_exact_mut(w) {
            finish_trees(combine, trees.count(), base.len(), link, o);
        }
    }
}

/// An isolation forest's score `2^(-mean path length / normalizer)` and
/// flag. Each leaf holds the path length of a row that ends there. Computed
/// as `exp(-(mean / normalizer) * ln 2)`: `powf` with base 2 may be
/// rewritten to `exp2` by an optimising compiler, and the two differ in the
/// last bit.
pub fn isolation(trees: &Trees<'_>, normalizer: f64, threshold: f64, x: &[f64], out: &mut [f64]) {
    out[0] = 0.0;
    trees.add_all(x, &mut out[..1]);
    finish_isolation(trees.count(), normalizer, threshold, out);
}

/// The score and flag of a row whose path lengths over `count` trees are
/// summed in `out[0]`.
fn finish_isolation(count: usize, normalizer: f64, threshold: f64, out: &mut [f64]) {
    let mean = out[0] / count.max(1) as f64;
    out[0] = (-(mean / normalizer) * core::f64::consts::LN_2).exp();
    out[1] = flag(out[0], threshold);
}

/// [`isolation`] over many rows (`x` row-major, `d` values each; `out`
/// `w` values each, the score and the flag first), path lengths summed in
/// the same order as one row at a time.
pub fn isolation_batch(
    trees: &Trees<'_>,
    normalizer: f64,
    threshold: f64,
    x: &[f64],
    d: usize,
    out: &mut [f64],
    w: usize,
) {
    let rows = block_rows(d);
    for (x, out) in x.chunks(rows * d.max(1)).zip(out.chunks_mut(rows * w)) {
        out.iter_mut().step_by(w).for_each(|o| *o = 0.0);
        trees.add_all_batch(x, d, out, w);
        for o in out.chunks_exact_mut(w) {
            finish_isolation(trees.count(), normalizer, threshold, o);
        }
    }
}

/// `out[o] = intercept[o] + sum_j weights[o * d + j] * x[j]`, then the link.
pub fn linear(weights: &[f64], intercept: &[f64], link: Link, x: &[f64], out: &mut [f64]) {
    let d = x.len();
    for (o, b) in intercept.iter().enumerate() {
        let w = &weights[o * d..(o + 1) * d];
        out[o] = b + w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>();
    }
    apply_link(link, out);
}

/// A linear model's exact contributions: `phi` gets `d + 1` values per
/// output, `weights[o * d + j] * x[j]` for feature `j` and the intercept
/// last, so each output's values sum to its raw score (before the link).
/// With standardised features, whose training mean is zero, a feature's
/// value is its Shapley value.
pub fn linear_contributions(weights: &[f64], intercept: &[f64], x: &[f64], phi: &mut [f64]) {
    let d = x.len();
    for (o, b) in intercept.iter().enumerate() {
        let w = &weights[o * d..(o + 1) * d];
        let phi = &mut phi[o * (d + 1)..(o + 1) * (d + 1)];
        for ((p, w), x) in phi.iter_mut().zip(w).zip(x) {
            *p = w * x;
        }
        phi[d] = *b;
    }
}

/// Gaussian naive Bayes: per class, log prior plus the features'
/// log-densities, then a softmax.
pub fn naive_bayes(prior: &[f64], mean: &[f64], variance: &[f64], x: &[f64], out: &mut [f64]) {
    let d = x.len();
    for (c, p) in prior.iter().enumerate() {
        let mean = &mean[c * d..(c + 1) * d];
        let var = &variance[c * d..(c + 1) * d];
        let dist: f64 = x
            .iter()
            .zip(mean)
            .zip(var)
            .map(|((x, m), v)| (x - m).powi(2) / v)
            .sum();
        out[c] = class_constant(*p, var) - 0.5 * dist;
    }
    softmax(&mut out[..prior.len()]);
}

/// The part of a class's naive Bayes log-likelihood that does not depend
/// on the row: its log prior less half the log-normalisers.
pub fn class_constant(prior: f64, variance: &[f64]) -> f64 {
    let norm: f64 = variance
        .iter()
        .map(|v| (2.0 * core::f64::consts::PI * v).ln())
        .sum();
    prior.ln() - 0.5 * norm
}

/// k nearest neighbours by exhaustive search; `best` (of length k) keeps
/// the k nearest rows, ties to the earlier row. One output averages the
/// neighbours' values; more outputs are class shares.
pub fn neighbors(
    points: &[f64],
    targets: &[f64],
    weighting: Weighting,
    best: &mut [(f64, usize)],
    x: &[f64],
    out: &mut [f64],
) {
    let (d, k) = (x.len(), best.len());
    let mut len = 0;
    for i in 0..targets.len() {
        let dist = squared_distance(&points[i * d..(i + 1) * d], x);
        if len == k && dist >= best[k - 1].0 {
            continue;
        }
        let at = best[..len].partition_point(|(bd, _)| *bd <= dist);
        let end = if len < k { len + 1 } else { k };
        best.copy_within(at..end - 1, at + 1);
        best[at] = (dist, i);
        len = end;
    }
    let best = &best[..len];
    let exact = best.iter().any(|(d, _)| *d == 0.0);
    let weight = |d: f64| match weighting {
        Weighting::Uniform => 1.0,
        Weighting::Distance if exact => f64::from(u8::from(d == 0.0)),
        Weighting::Distance => 1.0 / d.sqrt(),
    };
    let total: f64 = best.iter().map(|(d, _)| weight(*d)).sum();
    if out.len() == 1 {
        out[0] = best
            .iter()
            .map(|(d, i)| weight(*d) * targets[*i])
            .sum::<f64>()
            / total;
    } else {
        out.fill(0.0);
        for (d, i) in best {
            out[targets[*i] as usize] += weight(*d) / total;
        }
    }
}

/// The nearest of row-major `centroids` (ties to the lower index) and its
/// squared distance.
pub fn nearest_centroid(centroids: &[f64], x: &[f64]) -> (usize, f64) {
    let d = x.len();
    let mut best = (0, f64::INFINITY);
    for c in 0..centroids.len() / d {
        let dist = squared_distance(&centroids[c * d..(c + 1) * d], x);
        if dist < best.1 {
            best = (c, dist);
        }
    }
    best
}

/// k-means: the nearest centroid's index, or, for a detector (with a
/// threshold), the distance to it and the flag.
pub fn centroids(centroids: &[f64], threshold: Option<f64>, x: &[f64], out: &mut [f64]) {
    let (c, dist) = nearest_centroid(centroids, x);
    match threshold {
        Some(t) => {
            out[0] = dist.sqrt();
            out[1] = flag(out[0], t);
        }
        None => out[0] = c as f64,
    }
}

/// A Gaussian mixture's components. Component `c`'s log-density is
/// `ln weight[c] + 0.5 ln det P_c - 0.5 d ln(2 pi) - 0.5 (x - mean_c)' P_c (x - mean_c)`
/// with `P_c` the precision (inverse covariance) matrix.
#[derive(Debug, Clone, Copy)]
pub struct Gaussians<'a> {
    /// Mixing weights.
    pub weights: &'a [f64],
    /// Row-major means, one row per component.
    pub means: &'a [f64],
    /// Precision matrices, `d * d` per component, row-major.
    pub precisions: &'a [f64],
    /// `ln det P_c` per component.
    pub log_det: &'a [f64],
}

impl Gaussians<'_> {
    /// The part of component `c`'s log-density that does not depend on
    /// the row, given [`half_d_ln_2pi`] of the feature count.
    pub fn constant(&self, c: usize, half_d_ln_2pi: f64) -> f64 {
        self.weights[c].ln() + 0.5 * self.log_det[c] - half_d_ln_2pi
    }

    /// Each component's weighted log-density of `x` into `log_p`; returns
    /// the mixture's log-density (log-sum-exp of them).
    pub fn log_densities(&self, x: &[f64], log_p: &mut [f64]) -> f64 {
        let d = x.len();
        let half_d_ln_2pi = half_d_ln_2pi(d);
        for (c, lp) in log_p.iter_mut().enumerate() {
            let mean = &self.means[c * d..(c + 1) * d];
            let p = &self.precisions[c * d * d..(c + 1) * d * d];
            let mut q = 0.0;
            for i in 0..d {
                let mut s = 0.0;
                for j in 0..d {
                    s += p[i * d + j] * (x[j] - mean[j]);
                }
                q += (x[i] - mean[i]) * s;
            }
            *lp = self.constant(c, half_d_ln_2pi) - 0.5 * q;
        }
        let max = log_p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = log_p.iter().map(|l| (l - max).exp()).sum();
        max + sum.ln()
    }
}

/// `0.5 d ln(2 pi)`, the Gaussian normaliser of `d` features.
pub fn half_d_ln_2pi(d: usize) -> f64 {
    0.5 * d as f64 * (2.0 * core::f64::consts::PI).ln()
}

/// A mixture: the most likely component and every membership probability,
/// or, for a detector, the negative log-density and the flag. `log_p` is
/// scratch space of one value per component.
pub fn mixture(
    g: &Gaussians<'_>,
    threshold: Option<f64>,
    log_p: &mut [f64],
    x: &[f64],
    out: &mut [f64],
) {
    let log_total = g.log_densities(x, log_p);
    match threshold {
        Some(t) => {
            out[0] = -log_total;
            out[1] = flag(out[0], t);
        }
        None => {
            for (o, l) in out[1..=log_p.len()].iter_mut().zip(log_p.iter()) {
                *o = (l - log_total).exp();
            }
            out[0] = argmax(log_p) as f64;
        }
    }
}

/// DBSCAN: the cluster of the nearest core point within `eps`, else noise
/// (-1).
pub fn core_points(points: &[f64], clusters: &[u32], eps: f64, x: &[f64], out: &mut [f64]) {
    let d = x.len();
    let limit = eps * eps;
    let mut best = (-1.0, f64::INFINITY);
    for (i, c) in clusters.iter().enumerate() {
        let dist = squared_distance(&points[i * d..(i + 1) * d], x);
        if dist <= limit && dist < best.1 {
            best = (f64::from(*c), dist);
        }
    }
    out[0] = best.0;
}

/// A weighted ensemble: `out` is the sum over members of `weights[i]`
/// times member `i`'s outputs, added in member order. `member(i, part)`
/// writes member `i`'s outputs into `part`, scratch as long as `out`, which
/// is cleared before each member. `out` may hold many rows' outputs, their
/// members scored in one batch: each value is the same sum.
pub fn ensemble(
    weights: &[f64],
    part: &mut [f64],
    out: &mut [f64],
    mut member: impl FnMut(usize, &mut [f64]),
) {
    out.fill(0.0);
    for (i, w) in weights.iter().enumerate() {
        part.fill(0.0);
        member(i, part);
        for (o, p) in out.iter_mut().zip(part.iter()) {
            *o += w * p;
        }
    }
}

/// Dense layers from `sizes[l]` to `sizes[l + 1]` values, ReLU after every
/// layer but the last: the last layer's raw values, in `a` or `b`. `weights`
/// holds each layer's matrix row-major (one row per output), layer after
/// layer; `biases` each layer's biases likewise. `a` and `b` are scratch at
/// least as long as the widest layer.
pub fn layers<'s>(
    sizes: &[u32],
    weights: &[f64],
    biases: &[f64],
    mut a: &'s mut [f64],
    mut b: &'s mut [f64],
    x: &[f64],
) -> &'s [f64] {
    let d = sizes[0] as usize;
    a[..d].copy_from_slice(&x[..d]);
    let (mut w_at, mut b_at) = (0, 0);
    let count = sizes.len() - 1;
    for l in 0..count {
        let (inputs, outputs) = (sizes[l] as usize, sizes[l + 1] as usize);
        for o in 0..outputs {
            let row = &weights[w_at + o * inputs..w_at + (o + 1) * inputs];
            let mut z = biases[b_at + o];
            for (w, v) in row.iter().zip(a[..inputs].iter()) {
                z += w * v;
            }
            b[o] = if l + 1 < count { z.max(0.0) } else { z };
        }
        w_at += inputs * outputs;
        b_at += outputs;
        core::mem::swap(&mut a, &mut b);
    }
    &a[..sizes[count] as usize]
}

/// A multilayer perceptron: [`layers`], then `link`.
#[allow(clippy::too_many_arguments)]
pub fn network(
    sizes: &[u32],
    weights: &[f64],
    biases: &[f64],
    link: Link,
    a: &mut [f64],
    b: &mut [f64],
    x: &[f64],
    out: &mut [f64],
) {
    let last = layers(sizes, weights, biases, a, b, x);
    out[..last.len()].copy_from_slice(last);
    apply_link(link, out);
}

/// An autoencoder detector: the mean squared difference between `x` and
/// its reconstruction by [`layers`] (the last layer as wide as `x`), and
/// the flag.
#[allow(clippy::too_many_arguments)]
pub fn autoencoder(
    sizes: &[u32],
    weights: &[f64],
    biases: &[f64],
    threshold: f64,
    a: &mut [f64],
    b: &mut [f64],
    x: &[f64],
    out: &mut [f64],
) {
    let back = layers(sizes, weights, biases, a, b, x);
    let total: f64 = back.iter().zip(x).map(|(r, v)| (r - v) * (r - v)).sum();
    out[0] = total / x.len().max(1) as f64;
    out[1] = flag(out[0], threshold);
}

/// One step of a TreeSHAP path: the feature split on, the share of the
/// training rows (the trees' cover) that take the path's branch there
/// (`zero`), whether the explained row takes it (`one`, 1 or 0), and the
/// path's permutation weight.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PathStep {
    feature: usize,
    zero: f64,
    one: f64,
    weight: f64,
}

impl PathStep {
    /// A step before any is taken: scratch for [`tree_contributions`].
    pub const EMPTY: PathStep = PathStep {
        feature: 0,
        zero: 0.0,
        one: 0.0,
        weight: 0.0,
    };
}

/// Path steps [`tree_contributions`] needs for trees at most `depth` deep:
/// each level down copies the path so far.
pub const fn path_steps(depth: usize) -> usize {
    (depth + 2) * (depth + 3) / 2
}

/// Exact Shapley values of a tree ensemble's raw outputs (before the link)
/// for row `x`, by path-dependent TreeSHAP (Lundberg et al., 2018,
/// algorithm 2): the expectation over the training rows is taken along the
/// trees' paths, weighted by `cover` (training rows reaching each packed
/// node). `phi` gets `x.len() + 1` values per output, each feature's, then
/// the expected output, so each output's values sum to its raw score.
/// `path` is scratch of at least [`path_steps`] of the deepest tree.
pub fn tree_contributions(
    trees: &Trees<'_>,
    cover: &[f64],
    base: &[f64],
    combine: Combine,
    x: &[f64],
    phi: &mut [f64],
    path: &mut [PathStep],
) {
    let d1 = x.len() + 1;
    phi.iter_mut().for_each(|p| *p = 0.0);
    let scale = match combine {
        Combine::Mean if trees.count() > 0 => 1.0 / trees.count() as f64,
        _ => 1.0,
    };
    for t in 0..trees.count() {
        let output = trees.outputs[t] as usize;
        let tree = Explained {
            trees,
            cover,
            x,
            output,
            scale,
        };
        let root = trees.roots[t] as usize;
        let end = trees
            .roots
            .get(t + 1)
            .map_or(trees.threshold.len(), |&r| r as usize);
        tree.add_expected(root, end, phi);
        tree.node(root, phi, path, 0, (1.0, 1.0, usize::MAX));
    }
    // A mean divides the base too (see `finish_trees`).
    for (o, b) in base.iter().enumerate() {
        phi[o * d1 + d1 - 1] += b * scale;
    }
}

/// One tree of a [`tree_contributions`] call: its outputs and the row.
struct Explained<'a> {
    trees: &'a Trees<'a>,
    cover: &'a [f64],
    x: &'a [f64],
    output: usize,
    scale: f64,
}

impl Explained<'_> {
    /// Adds `value` times leaf `leaf`'s values into column `j` of each of
    /// the tree's outputs in `phi`.
    fn add_leaf(&self, leaf: usize, value: f64, j: usize, phi: &mut [f64]) {
        let (d1, w) = (self.x.len() + 1, self.trees.width);
        for c in 0..w {
            phi[(self.output + c) * d1 + j] += value * self.trees.values[leaf * w + c];
        }
    }

    /// The tree's expected output (nodes `root..end`; each leaf weighted by
    /// its share of the root's cover), into the last column.
    fn add_expected(&self, root: usize, end: usize, phi: &mut [f64]) {
        let total = self.cover[root];
        for n in root..end {
            if self.trees.right(n) == n && total > 0.0 {
                let share = self.cover[n] / total * self.scale;
                self.add_leaf(n, share, self.x.len(), phi);
            }
        }
    }

    /// Visits node `at`, reached with `path[..depth]` and the step
    /// `(zero, one, feature)` that led here.
    fn node(
        &self,
        at: usize,
        phi: &mut [f64],
        path: &mut [PathStep],
        depth: usize,
        step: (f64, f64, usize),
    ) {
        extend_path(path, depth, step);
        let t = self.trees;
        let right = t.right(at);
        if right == at {
            for i in 1..=depth {
                let s = path[i];
                let value = unwound_sum(path, depth, i) * (s.one - s.zero) * self.scale;
                self.add_leaf(at, value, s.feature, phi);
            }
            return;
        }
        let feature = t.feature(at);
        let (hot, cold) = if self.x[feature] < t.threshold[at] {
            (at + 1, right)
        } else {
            (right, at + 1)
        };
        let (mut depth, mut zero, mut one) = (depth, 1.0, 1.0);
        // A feature split on again above: its earlier step is taken out and
        // its fractions carried into this one.
        if let Some(k) = (1..=depth).find(|&k| path[k].feature == feature) {
            (zero, one) = (path[k].zero, path[k].one);
            unwind_path(path, depth, k);
            depth -= 1;
        }
        let share = |c: usize| {
            if self.cover[at] > 0.0 {
                self.cover[c] / self.cover[at]
            } else {
                0.0
            }
        };
        let (mine, rest) = path.split_at_mut(depth + 1);
        for (child, took) in [(hot, one), (cold, 0.0)] {
            let step = (share(child) * zero, took, feature);
            // No training row and not the row either: nothing below adds
            // to any subset's value (and unwinding it would divide by 0).
            if step.0 == 0.0 && step.1 == 0.0 {
                continue;
            }
            rest[..=depth].copy_from_slice(mine);
            self.node(child, phi, rest, depth + 1, step);
        }
    }
}

/// Adds step `(zero, one, feature)` at `path[depth]`, updating the
/// permutation weights of the steps before it.
fn extend_path(path: &mut [PathStep], depth: usize, (zero, one, feature): (f64, f64, usize)) {
    let weight = if depth == 0 { 1.0 } else { 0.0 };
    path[depth] = PathStep {
        feature,
        zero,
        one,
        weight,
    };
    let u = (depth + 1) as f64;
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / u;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / u;
    }
}

/// Takes step `k` out of `path[..=depth]`: the inverse of [`extend_path`].
fn unwind_path(path: &mut [PathStep], depth: usize, k: usize) {
    let (one, zero, u) = (path[k].one, path[k].zero, (depth + 1) as f64);
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let kept = path[i].weight;
            path[i].weight = next * u / ((i + 1) as f64 * one);
            next = kept - path[i].weight * zero * (depth - i) as f64 / u;
        } else {
            path[i].weight = path[i].weight * u / (zero * (depth - i) as f64);
        }
    }
    for i in k..depth {
        let weight = path[i].weight;
        path[i] = PathStep {
            weight,
            ..path[i + 1]
        };
    }
}

/// The total permutation weight of `path[..=depth]` with step `k` taken
/// out, without changing the path.
fn unwound_sum(path: &[PathStep], depth: usize, k: usize) -> f64 {
    let (one, zero, u) = (path[k].one, path[k].zero, (depth + 1) as f64);
    let mut next = path[depth].weight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let part = next * u / ((i + 1) as f64 * one);
            total += part;
            next = path[i].weight - part * zero * ((depth - i) as f64 / u);
        } else if zero != 0.0 {
            total += (path[i].weight / zero) / ((depth - i) as f64 / u);
        }
    }
    total
}

/// Which raw output reason codes explain, given `raw` of them, the
/// model's `classes` and its `prediction`: the only one (a value, or the
/// log-odds of the second class), the second class's of a binary model with
/// one per class, else the predicted class's.
pub fn explained_output(raw: usize, classes: usize, prediction: &[f64]) -> usize {
    match raw {
        1 => 0,
        2 if classes == 2 => 1,
        _ => argmax(prediction),
    }
}

/// Sums one raw output's contributions (`phi`: one per feature, then the
/// expected value) over each input column's `widths` features into
/// `columns`; returns the raw score (the expected value plus every
/// contribution) and the expected value.
pub fn column_contributions(phi: &[f64], widths: &[u32], columns: &mut [f64]) -> (f64, f64) {
    let (features, base) = phi.split_at(phi.len() - 1);
    let mut at = 0;
    for (c, w) in columns.iter_mut().zip(widths) {
        let w = *w as usize;
        *c = features[at..at + w].iter().sum();
        at += w;
    }
    (base[0] + features.iter().sum::<f64>(), base[0])
}

/// Puts column numbers in `order`, largest contribution by size first,
/// ties in column order (an insertion sort: stable, no allocation).
pub fn rank_columns(columns: &[f64], order: &mut [usize]) {
    for (i, o) in order.iter_mut().enumerate() {
        *o = i;
    }
    for i in 1..order.len() {
        let mut j = i;
        while j > 0 && columns[order[j - 1]].abs() < columns[order[j]].abs() {
            order.swap(j - 1, j);
            j -= 1;
        }
    }
}
