//! One boosting tree grown leaf-wise on histograms, as LightGBM does: the
//! leaf whose best split gains most is split next, until the tree has its
//! most leaves or no split gains. A leaf's histogram holds, per feature and
//! bin, the sums of its rows' gradients and hessians; only the smaller
//! child's is built from rows, the larger's is its parent's minus it.
//! Features' histograms are built in parallel when a leaf is large, each
//! by one task in row order, so the sums (and the tree) don't depend on
//! how the work was shared.

use rayon::prelude::*;

use super::bins::Bins;

/// Sums of a set of rows' gradients and hessians, and its row count.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Sum {
    pub g: f64,
    pub h: f64,
    pub n: u32,
}

impl Sum {
    fn minus(self, other: Sum) -> Sum {
        Sum {
            g: self.g - other.g,
            h: self.h - other.h,
            n: self.n - other.n,
        }
    }

    fn add(&mut self, other: Sum) {
        self.g += other.g;
        self.h += other.h;
        self.n += other.n;
    }
}

/// What bounds a tree's growth.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Most leaves.
    pub max_leaves: usize,
    /// Fewest rows in a leaf.
    pub min_rows: u32,
    /// Least hessian sum in a leaf.
    pub min_hessian: f64,
    /// L2 penalty on leaf values.
    pub l2: f64,
}

/// A node of a grown tree; children are indices into the same list.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    /// Rows whose `feature` code is at most `bin` go `left`.
    Split {
        feature: usize,
        bin: u8,
        left: usize,
        right: usize,
    },
    /// A leaf's Newton step, `-G / (H + l2)`, before shrinkage.
    Leaf(f64),
}

/// A grown tree, and which of the reordered rows reach each leaf.
pub(super) struct Grown {
    pub nodes: Vec<Node>,
    pub leaves: Vec<(usize, std::ops::Range<usize>)>,
}

/// The gradients of the rows being fitted.
pub(super) struct Gradients<'a> {
    pub g: &'a [f64],
    pub h: &'a [f64],
}

/// Rows per histogram chunk: a leaf with more is built in parallel chunks.
const CHUNK: usize = 4096;

/// A split's least gain: less is rounding, not signal.
const MIN_GAIN: f64 = 1e-12;

/// The best split of a leaf.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    bin: u8,
    gain: f64,
    left: Sum,
}

/// A leaf still growing: its rows are `rows[start..end]`.
struct Leaf {
    node: usize,
    start: usize,
    end: usize,
    sum: Sum,
    hist: Vec<Sum>,
    best: Option<Split>,
}

/// Where each bundle's codes start in a flat histogram.
pub(super) struct Layout {
    offsets: Vec<usize>,
}

impl Layout {
    /// The layout of `bins`' bundles.
    pub fn of(bins: &Bins) -> Layout {
        let mut offsets = Vec::with_capacity(bins.bundle_bins.len() + 1);
        offsets.push(0);
        for (b, &width) in bins.bundle_bins.iter().enumerate() {
            offsets.push(offsets[b] + width);
        }
        Layout { offsets }
    }

    fn width(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }
}

/// What one tree is grown from.
pub(super) struct Grower<'a> {
    pub bins: &'a Bins,
    pub layout: &'a Layout,
    /// Whether each feature may be split on in this tree.
    pub features: &'a [bool],
    /// Whether each bundle holds such a feature.
    pub bundles: &'a [bool],
    pub limits: Limits,
}

impl Grower<'_> {
    /// Grows a tree on `rows`, reordering them in place leaf by leaf: the
    /// returned leaves say which node holds `rows[start..end]`.
    pub fn grow(&self, rows: &mut [u32], grad: &Gradients<'_>) -> Grown {
        let mut nodes = vec![Node::Leaf(0.0)];
        let mut scratch = Vec::with_capacity(rows.len());
        let mut hist = vec![Sum::default(); self.layout.width()];
        self.fill(&mut hist, rows, grad);
        let sum = self.total(&hist);
        let best = self.best_split(&hist, sum);
        let mut leaves = vec![Leaf {
            node: 0,
            start: 0,
            end: rows.len(),
            sum,
            hist,
            best,
        }];
        while leaves.len() < self.limits.max_leaves {
            let Some((at, split)) = next_to_split(&leaves) else {
                break;
            };
            let right = self.split(&mut leaves[at], split, &mut nodes, rows, &mut scratch, grad);
            leaves.push(right);
        }
        for leaf in &leaves {
            nodes[leaf.node] = Node::Leaf(-leaf.sum.g / (leaf.sum.h + self.limits.l2));
        }
        let leaves = leaves.iter().map(|l| (l.node, l.start..l.end)).collect();
        Grown { nodes, leaves }
    }

    /// Splits `leaf` by its best split: it becomes the left child, the
    /// right child is returned.
    fn split(
        &self,
        leaf: &mut Leaf,
        split: Split,
        nodes: &mut Vec<Node>,
        rows: &mut [u32],
        scratch: &mut Vec<u32>,
        grad: &Gradients<'_>,
    ) -> Leaf {
        let mid = partition(
            &mut rows[leaf.start..leaf.end],
            self.bins.column(split.feature),
            split.bin,
            scratch,
        ) + leaf.start;
        let (left, right) = (nodes.len(), nodes.len() + 1);
        nodes[leaf.node] = Node::Split {
            feature: split.feature,
            bin: split.bin,
            left,
            right,
        };
        nodes.extend([Node::Leaf(0.0), Node::Leaf(0.0)]);
        let (left_sum, right_sum) = (split.left, leaf.sum.minus(split.left));
        // Build the smaller child's histogram; the parent's becomes the
        // larger child's by subtraction.
        let mut small = vec![Sum::default(); self.layout.width()];
        let left_smaller = mid - leaf.start <= leaf.end - mid;
        let small_rows = if left_smaller {
            &rows[leaf.start..mid]
        } else {
            &rows[mid..leaf.end]
        };
        self.fill(&mut small, small_rows, grad);
        for (big, s) in leaf.hist.iter_mut().zip(&small) {
            *big = big.minus(*s);
        }
        let big = std::mem::take(&mut leaf.hist);
        let (left_hist, right_hist) = if left_smaller {
            (small, big)
        } else {
            (big, small)
        };
        let (left_best, right_best) = rayon::join(
            || self.best_split(&left_hist, left_sum),
            || self.best_split(&right_hist, right_sum),
        );
        let right_leaf = Leaf {
            node: right,
            start: mid,
            end: leaf.end,
            sum: right_sum,
            best: right_best,
            hist: right_hist,
        };
        *leaf = Leaf {
            node: left,
            start: leaf.start,
            end: mid,
            sum: left_sum,
            best: left_best,
            hist: left_hist,
        };
        right_leaf
    }

    /// Adds `rows`' gradients into `hist`. Rows are taken in chunks of a
    /// fixed size, each into its own histogram (in parallel), which are
    /// then added in order: the sums don't depend on the number of threads.
    fn fill(&self, hist: &mut [Sum], rows: &[u32], grad: &Gradients<'_>) {
        if rows.len() <= CHUNK {
            self.fill_rows(hist, rows, grad);
            return;
        }
        let parts: Vec<Vec<Sum>> = rows
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut part = vec![Sum::default(); hist.len()];
                self.fill_rows(&mut part, chunk, grad);
                part
            })
            .collect();
        for part in &parts {
            for (h, p) in hist.iter_mut().zip(part) {
                h.add(*p);
            }
        }
    }

    /// Adds `rows`' gradients into `hist`, row by row: each row's bundle
    /// codes are one slice, its gradients read once.
    fn fill_rows(&self, hist: &mut [Sum], rows: &[u32], grad: &Gradients<'_>) {
        let offsets = &self.layout.offsets[..self.layout.offsets.len() - 1];
        let all = self.bundles.iter().all(|&b| b);
        for &r in rows {
            let r = r as usize;
            let one = Sum {
                g: grad.g[r],
                h: grad.h[r],
                n: 1,
            };
            let codes = self.bins.bundle_row(r);
            for (b, (&offset, &code)) in offsets.iter().zip(codes).enumerate() {
                if all || self.bundles[b] {
                    hist[offset + usize::from(code)].add(one);
                }
            }
        }
    }

    /// The split of the rows summed in `hist` that gains most, if any
    /// split meets the limits.
    fn best_split(&self, hist: &[Sum], sum: Sum) -> Option<Split> {
        let limits = &self.limits;
        if sum.n < 2 * limits.min_rows.max(1) {
            return None;
        }
        let parent = score(sum, limits.l2);
        let mut best: Option<Split> = None;
        let mut bins = Vec::with_capacity(super::bins::MAX_BINS);
        for j in (0..self.features.len()).filter(|&j| self.features[j]) {
            self.feature_histogram(hist, j, sum, &mut bins);
            let mut left = Sum::default();
            for (b, s) in bins.iter().enumerate().take(bins.len().saturating_sub(1)) {
                left.add(*s);
                if left.n < limits.min_rows || left.h < limits.min_hessian {
                    continue;
                }
                let right = sum.minus(left);
                if right.n < limits.min_rows || right.h < limits.min_hessian {
                    break;
                }
                let gain = score(left, limits.l2) + score(right, limits.l2) - parent;
                if gain > MIN_GAIN && best.is_none_or(|s| gain > s.gain) {
                    best = Some(Split {
                        feature: j,
                        bin: b as u8,
                        gain,
                        left,
                    });
                }
            }
        }
        best
    }

    /// The rows' sums, read off a histogram: every row has one code in
    /// each bundle filled.
    fn total(&self, hist: &[Sum]) -> Sum {
        let mut sum = Sum::default();
        if let Some(b) = self.bundles.iter().position(|&b| b) {
            let offsets = &self.layout.offsets;
            for s in &hist[offsets[b]..offsets[b + 1]] {
                sum.add(*s);
            }
        }
        sum
    }

    /// Feature `j`'s histogram, unpacked from its bundle's: its default
    /// bin holds what the leaf's other bins don't.
    fn feature_histogram(&self, hist: &[Sum], j: usize, sum: Sum, out: &mut Vec<Sum>) {
        let place = self.bins.places[j];
        let bundle = &hist[self.layout.offsets[place.bundle]..];
        let default = usize::from(place.default);
        let mut others = Sum::default();
        out.clear();
        for v in 0..self.bins.bins(j) {
            let s = if v == default {
                Sum::default()
            } else {
                bundle[place.slot(v)]
            };
            others.add(s);
            out.push(s);
        }
        out[default] = sum.minus(others);
    }
}

/// A leaf's share of the loss reduction: `G² / (H + l2)`.
fn score(s: Sum, l2: f64) -> f64 {
    s.g * s.g / (s.h + l2)
}

/// The leaf whose split gains most (the first on a tie), and that split.
fn next_to_split(leaves: &[Leaf]) -> Option<(usize, Split)> {
    let mut best: Option<(usize, Split)> = None;
    for (i, leaf) in leaves.iter().enumerate() {
        if let Some(s) = leaf.best {
            if best.is_none_or(|(_, b)| s.gain > b.gain) {
                best = Some((i, s));
            }
        }
    }
    best
}

/// Moves the rows whose code is at most `bin` to the front, keeping the
/// order on each side; returns how many there are. Branch-free: every row
/// is written to both sides and only one side's count moves.
fn partition(rows: &mut [u32], codes: &[u8], bin: u8, scratch: &mut Vec<u32>) -> usize {
    scratch.clear();
    scratch.resize(rows.len(), 0);
    let (mut left, mut right) = (0, 0);
    for i in 0..rows.len() {
        let r = rows[i];
        let goes_left = codes[r as usize] <= bin;
        rows[left] = r;
        scratch[right] = r;
        left += usize::from(goes_left);
        right += usize::from(!goes_left);
    }
    rows[left..].copy_from_slice(&scratch[..right]);
    left
}

/// The leaf a row of `bins` reaches.
pub(super) fn leaf_of(nodes: &[Node], bins: &Bins, row: usize) -> f64 {
    let mut at = 0;
    loop {
        match nodes[at] {
            Node::Leaf(v) => return v,
            Node::Split {
                feature,
                bin,
                left,
                right,
            } => {
                at = if bins.column(feature)[row] <= bin {
                    left
                } else {
                    right
                };
            }
        }
    }
}
