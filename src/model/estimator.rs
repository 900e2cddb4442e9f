//! The estimator half of the portable model: plain data that every scorer
//! walks (trees as flat arrays, linear weights, Gaussian class statistics,
//! stored neighbours). `Estimator::score` is the reference scorer that defines
//! what a model predicts; CV, `automl predict` and exports follow it.

use serde::{Deserialize, Serialize};

use super::{argmax, Predictions};

/// A fitted estimator, lowered from whichever library fitted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimator {
    /// Decision trees combined by sum (boosting) or mean (forests).
    Trees(TreeEnsemble),
    /// A linear function, with a link.
    Linear(Linear),
    /// Gaussian naive Bayes.
    NaiveBayes(NaiveBayes),
    /// k nearest neighbours over stored training rows.
    Neighbors(Neighbors),
    /// k-means centroids (clusters, or distance as an anomaly score).
    Centroids(Centroids),
    /// A Gaussian mixture (clusters, or low density as an anomaly score).
    Mixture(Mixture),
    /// DBSCAN core points (clusters with noise).
    CorePoints(CorePoints),
    /// An isolation forest (anomaly score).
    Isolation(Isolation),
}

/// Turns raw outputs into the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// Outputs are the prediction (regression values or class probabilities).
    Identity,
    /// One output, a log-odds of the second class.
    Sigmoid,
    /// One output per class, log-scores.
    Softmax,
}

/// How the trees' leaf values are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// Add every tree's leaf (gradient boosting).
    Sum,
    /// Average the trees' leaves (forests, single trees).
    Mean,
}

/// Which way a split sends a value equal to its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `x < threshold` goes left (linfa, forust).
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
}

impl Tree {
    /// The leaf a row falls into.
    pub fn leaf(&self, x: &[f64]) -> usize {
        let mut node = 0;
        while self.feature[node] >= 0 {
            let v = x[self.feature[node] as usize];
            let t = self.threshold[node];
            let left = match self.rule {
                Rule::Less => v < t,
                Rule::LessOrEqual => v <= t,
            };
            node = if left {
                self.left[node]
            } else {
                self.right[node]
            } as usize;
        }
        node
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.feature.len()
    }

    /// Whether the tree has no nodes.
    pub fn is_empty(&self) -> bool {
        self.feature.is_empty()
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
    pub combine: Combine,
    /// Link applied after combining.
    pub link: Link,
}

/// `outputs[o] = intercept[o] + sum_j weights[o * d + j] * x[j]`, then a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    /// Row-major weights, one row per output.
    pub weights: Vec<f64>,
    /// One intercept per output.
    pub intercept: Vec<f64>,
    /// Link.
    pub link: Link,
}

/// Per class: prior, per-feature mean and variance. The class log-score is
/// `ln prior - 0.5 * sum ln(2 pi var) - 0.5 * sum (x - mean)^2 / var`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NaiveBayes {
    /// Class priors.
    pub prior: Vec<f64>,
    /// Row-major means, one row per class.
    pub mean: Vec<f64>,
    /// Row-major variances (smoothed), one row per class.
    pub variance: Vec<f64>,
}

/// How neighbours' votes are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// Every neighbour counts once.
    Uniform,
    /// By inverse distance; exact matches take all the weight.
    Distance,
}

/// Stored training rows; the k nearest by Euclidean distance vote (classes)
/// or are averaged (regression). Ties in distance go to the earlier row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbors {
    /// Number of neighbours.
    pub k: usize,
    /// Vote weighting.
    pub weighting: Weighting,
    /// Row-major training features (scaled).
    pub points: Vec<f64>,
    /// Class index or value per training row.
    pub targets: Vec<f64>,
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

impl Estimator {
    /// Writes the prediction for one encoded row into `out`: class
    /// probabilities (length = number of classes) or one regression value.
    /// `d` is the feature count; `out.len()` is the output width.
    pub fn score(&self, x: &[f64], out: &mut [f64]) {
        match self {
            Estimator::Trees(t) => t.score(x, out),
            Estimator::Linear(l) => l.score(x, out),
            Estimator::NaiveBayes(nb) => nb.score(x, out),
            Estimator::Neighbors(nn) => nn.score(x, out),
            Estimator::Centroids(c) => c.score(x, out),
            Estimator::Mixture(m) => m.score(x, out),
            Estimator::CorePoints(c) => c.score(x, out),
            Estimator::Isolation(i) => i.score(x, out),
        }
    }

    /// Values `score` writes per row. Supervised estimators write
    /// `classes` values (1 for regression); a clusterer writes the cluster
    /// (then, for a mixture, one membership probability per component); a
    /// detector writes its score and the anomaly flag (0 or 1).
    pub fn width(&self, classes: usize) -> usize {
        match self {
            Estimator::Trees(_)
            | Estimator::Linear(_)
            | Estimator::NaiveBayes(_)
            | Estimator::Neighbors(_) => classes.max(1),
            Estimator::Centroids(c) if c.threshold.is_none() => 1,
            Estimator::Mixture(m) if m.threshold.is_none() => 1 + m.k(),
            Estimator::CorePoints(_) => 1,
            Estimator::Centroids(_) | Estimator::Mixture(_) | Estimator::Isolation(_) => 2,
        }
    }

    /// Scores encoded rows (row-major, `d` features), `width` outputs each.
    pub fn score_rows(&self, x: &[f64], d: usize, width: usize) -> Predictions {
        let rows = x.len().checked_div(d).unwrap_or(0);
        let mut outputs = vec![0.0; rows * width];
        for (row, out) in x.chunks(d.max(1)).zip(outputs.chunks_mut(width)) {
            self.score(row, out);
        }
        Predictions { outputs, width }
    }

    /// Membership probabilities a clusterer writes after the cluster: a
    /// mixture's component count, else 0.
    pub fn memberships(&self) -> usize {
        match self {
            Estimator::Mixture(m) if m.threshold.is_none() => m.k(),
            _ => 0,
        }
    }

    /// Whether the estimator serves the unsupervised tasks.
    pub fn is_unsupervised(&self) -> bool {
        matches!(
            self,
            Estimator::Centroids(_)
                | Estimator::Mixture(_)
                | Estimator::CorePoints(_)
                | Estimator::Isolation(_)
        )
    }

    /// Short name of the estimator kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Estimator::Trees(_) => "trees",
            Estimator::Linear(_) => "linear",
            Estimator::NaiveBayes(_) => "naive_bayes",
            Estimator::Neighbors(_) => "neighbors",
            Estimator::Centroids(_) => "centroids",
            Estimator::Mixture(_) => "mixture",
            Estimator::CorePoints(_) => "core_points",
            Estimator::Isolation(_) => "isolation",
        }
    }
}

impl TreeEnsemble {
    fn score(&self, x: &[f64], out: &mut [f64]) {
        // Raw outputs live in `out` itself (sigmoid needs one slot, the rest
        // are filled by the link), so scoring allocates nothing.
        let raw_len = self.base.len();
        out[..raw_len].copy_from_slice(&self.base);
        for tree in &self.trees {
            let leaf = tree.leaf(x);
            let vals = &tree.values[leaf * tree.width..(leaf + 1) * tree.width];
            for (o, v) in out[tree.output..tree.output + tree.width]
                .iter_mut()
                .zip(vals)
            {
                *o += v;
            }
        }
        if self.combine == Combine::Mean && !self.trees.is_empty() {
            let n = self.trees.len() as f64;
            out[..raw_len].iter_mut().for_each(|o| *o /= n);
        }
        link_in_place(self.link, out);
    }
}

/// The link applied to raw outputs already in `out`.
fn link_in_place(link: Link, out: &mut [f64]) {
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

impl Linear {
    fn score(&self, x: &[f64], out: &mut [f64]) {
        let d = x.len();
        for (o, b) in self.intercept.iter().enumerate() {
            let w = &self.weights[o * d..(o + 1) * d];
            out[o] = b + w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>();
        }
        link_in_place(self.link, out);
    }
}

impl NaiveBayes {
    fn score(&self, x: &[f64], out: &mut [f64]) {
        let d = x.len();
        for (c, prior) in self.prior.iter().enumerate() {
            let mean = &self.mean[c * d..(c + 1) * d];
            let var = &self.variance[c * d..(c + 1) * d];
            let norm: f64 = var
                .iter()
                .map(|v| (2.0 * std::f64::consts::PI * v).ln())
                .sum();
            let dist: f64 = x
                .iter()
                .zip(mean)
                .zip(var)
                .map(|((x, m), v)| (x - m).powi(2) / v)
                .sum();
            out[c] = prior.ln() - 0.5 * norm - 0.5 * dist;
        }
        softmax(&mut out[..self.prior.len()]);
    }
}

impl Neighbors {
    fn score(&self, x: &[f64], out: &mut [f64]) {
        let d = x.len();
        let n = self.targets.len();
        // A bounded insertion list keeps the k best without sorting all rows.
        let k = self.k.min(n).max(1);
        let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
        for i in 0..n {
            let p = &self.points[i * d..(i + 1) * d];
            let dist = p.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f64>();
            if best.len() == k && dist >= best[k - 1].0 {
                continue;
            }
            let at = best.partition_point(|(bd, _)| *bd <= dist);
            best.insert(at, (dist, i));
            best.truncate(k);
        }
        let weights: Vec<f64> = match self.weighting {
            Weighting::Uniform => vec![1.0; best.len()],
            Weighting::Distance if best.iter().any(|(d, _)| *d == 0.0) => best
                .iter()
                .map(|(d, _)| f64::from(u8::from(*d == 0.0)))
                .collect(),
            Weighting::Distance => best.iter().map(|(d, _)| 1.0 / d.sqrt()).collect(),
        };
        let total: f64 = weights.iter().sum();
        out.fill(0.0);
        if out.len() == 1 {
            out[0] = best
                .iter()
                .zip(&weights)
                .map(|((_, i), w)| w * self.targets[*i])
                .sum::<f64>()
                / total;
        } else {
            for ((_, i), w) in best.iter().zip(&weights) {
                out[self.targets[*i] as usize] += w / total;
            }
        }
    }
}

/// k-means centroids. A row's cluster is its nearest centroid (squared
/// Euclidean distance, ties to the lower index); as a detector, the row's
/// anomaly score is the distance to that centroid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Centroids {
    /// Row-major centroids, one row per cluster.
    pub centroids: Vec<f64>,
    /// Number of clusters.
    pub k: usize,
    /// Set for a detector: scores above it are anomalies.
    pub threshold: Option<f64>,
}

/// A Gaussian mixture with full covariances. Component `c`'s log-density is
/// `ln weight[c] + 0.5 ln det P_c - 0.5 d ln(2 pi) - 0.5 (x - mean_c)' P_c (x - mean_c)`
/// with `P_c` the precision (inverse covariance) matrix. The cluster is the
/// most likely component, membership probabilities are the normalised
/// densities; as a detector, the score is the negative log-density of the
/// whole mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mixture {
    /// Mixing weights.
    pub weights: Vec<f64>,
    /// Row-major means, one row per component.
    pub means: Vec<f64>,
    /// Precision matrices, `d * d` per component, row-major.
    pub precisions: Vec<f64>,
    /// `ln det P_c` per component.
    pub log_det: Vec<f64>,
    /// Set for a detector: scores above it are anomalies.
    pub threshold: Option<f64>,
}

/// DBSCAN's core points and their clusters. A row belongs to the cluster of
/// its nearest core point if that point is within `eps`; otherwise it is
/// noise (cluster -1). Training rows get DBSCAN's own labels this way, and
/// new rows are assigned by the same rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorePoints {
    /// Neighbourhood radius (Euclidean).
    pub eps: f64,
    /// Row-major core points.
    pub points: Vec<f64>,
    /// Cluster of each core point.
    pub clusters: Vec<u32>,
    /// Number of clusters.
    pub k: usize,
}

/// An isolation forest. Each tree's leaf holds the path length of a row
/// that ends there (depth plus the expected extra depth of the rows left
/// unsplit); the score is `2^(-mean path length / normalizer)`, near 1 for
/// rows that are isolated quickly. It is computed as
/// `exp(-(mean / normalizer) * ln 2)`: `powf` with base 2 may be rewritten
/// to `exp2` by an optimising compiler, and the two differ in the last bit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isolation {
    /// The trees (`x < threshold` goes left, one value per leaf).
    pub trees: Vec<Tree>,
    /// Average path length of an unsuccessful search in a tree built on the
    /// sample size, `c(psi)`.
    pub normalizer: f64,
    /// Scores above it are anomalies.
    pub threshold: f64,
}

/// Squared Euclidean distance.
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// The anomaly flag as an output value.
fn flag(score: f64, threshold: f64) -> f64 {
    f64::from(u8::from(score > threshold))
}

impl Centroids {
    /// Nearest centroid and its squared distance.
    fn nearest(&self, x: &[f64]) -> (usize, f64) {
        let d = x.len();
        let mut best = (0, f64::INFINITY);
        for c in 0..self.k {
            let dist = squared_distance(&self.centroids[c * d..(c + 1) * d], x);
            if dist < best.1 {
                best = (c, dist);
            }
        }
        best
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        let (c, dist) = self.nearest(x);
        match self.threshold {
            Some(t) => {
                out[0] = dist.sqrt();
                out[1] = flag(out[0], t);
            }
            None => out[0] = c as f64,
        }
    }
}

impl Mixture {
    /// Number of components.
    pub fn k(&self) -> usize {
        self.weights.len()
    }

    /// Membership probabilities of one row into `resp` (one per
    /// component); returns the row's log-density under the mixture.
    pub fn memberships(&self, x: &[f64], resp: &mut [f64]) -> f64 {
        self.log_densities(x, resp);
        let max = resp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = resp.iter().map(|l| (l - max).exp()).sum();
        let log_total = max + sum.ln();
        resp.iter_mut().for_each(|l| *l = (*l - log_total).exp());
        log_total
    }

    /// Log-density of each component (weighted) into `log_p`.
    fn log_densities(&self, x: &[f64], log_p: &mut [f64]) {
        let d = x.len();
        let half_d_ln_2pi = 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
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
            *lp = self.weights[c].ln() + 0.5 * self.log_det[c] - half_d_ln_2pi - 0.5 * q;
        }
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        let k = self.k();
        // Scoring allocates nothing for the mixtures the search fits (at
        // most 10 components); a hand-made larger one gets a heap buffer.
        let mut stack = [0.0; 16];
        let mut heap = Vec::new();
        let log_p = if k <= stack.len() {
            &mut stack[..k]
        } else {
            heap.resize(k, 0.0);
            &mut heap[..]
        };
        self.log_densities(x, log_p);
        let max = log_p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = log_p.iter().map(|l| (l - max).exp()).sum();
        let log_total = max + sum.ln();
        match self.threshold {
            Some(t) => {
                out[0] = -log_total;
                out[1] = flag(out[0], t);
            }
            None => {
                for (o, l) in out[1..=k].iter_mut().zip(log_p.iter()) {
                    *o = (l - log_total).exp();
                }
                out[0] = argmax(log_p) as f64;
            }
        }
    }
}

impl CorePoints {
    fn score(&self, x: &[f64], out: &mut [f64]) {
        let d = x.len();
        let limit = self.eps * self.eps;
        let mut best = (-1.0, f64::INFINITY);
        for (i, c) in self.clusters.iter().enumerate() {
            let dist = squared_distance(&self.points[i * d..(i + 1) * d], x);
            if dist <= limit && dist < best.1 {
                best = (f64::from(*c), dist);
            }
        }
        out[0] = best.0;
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

impl Isolation {
    fn score(&self, x: &[f64], out: &mut [f64]) {
        let mut total = 0.0;
        for tree in &self.trees {
            total += tree.values[tree.leaf(x)];
        }
        let mean = total / self.trees.len().max(1) as f64;
        out[0] = (-(mean / self.normalizer) * std::f64::consts::LN_2).exp();
        out[1] = flag(out[0], self.threshold);
    }
}
