//! Scores for the unsupervised tasks, computed on the rows a trial is
//! evaluated on: cluster quality from the features alone (silhouette,
//! Calinski–Harabasz, Davies–Bouldin), agreement with known groups
//! (adjusted Rand), and anomaly scores against labels (average precision;
//! ROC AUC is shared with classification).

use std::collections::BTreeMap;

/// Cluster id of a noise row (DBSCAN).
pub const NOISE: i64 = -1;

/// Rows of `x` (row-major, `d` wide) with their cluster ids.
#[derive(Debug, Clone, Copy)]
pub struct Clustering<'a> {
    /// Features.
    pub x: &'a [f64],
    /// Width of a row.
    pub d: usize,
    /// Cluster per row; `NOISE` for noise.
    pub labels: &'a [i64],
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt()
}

impl Clustering<'_> {
    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// Distinct non-noise clusters, in order.
    pub fn clusters(&self) -> Vec<i64> {
        let mut c: Vec<i64> = self
            .labels
            .iter()
            .copied()
            .filter(|&l| l != NOISE)
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    }

    /// Centroid and size of each non-noise cluster.
    fn centroids(&self) -> BTreeMap<i64, (Vec<f64>, usize)> {
        let mut out: BTreeMap<i64, (Vec<f64>, usize)> = BTreeMap::new();
        for (i, &l) in self.labels.iter().enumerate().filter(|(_, l)| **l != NOISE) {
            let e = out.entry(l).or_insert_with(|| (vec![0.0; self.d], 0));
            e.0.iter_mut().zip(self.row(i)).for_each(|(c, x)| *c += x);
            e.1 += 1;
        }
        for (c, n) in out.values_mut() {
            c.iter_mut().for_each(|v| *v /= *n as f64);
        }
        out
    }

    /// Mean silhouette over all rows: `(b - a) / max(a, b)` with `a` the mean
    /// distance to the row's own cluster and `b` to the nearest other one.
    /// Noise rows and rows alone in their cluster count 0, as scikit-learn
    /// counts singletons, so labelling rows noise does not raise the score.
    pub fn silhouette(&self) -> f64 {
        self.silhouette_sum() / self.labels.len().max(1) as f64
    }

    /// How evenly the clustered rows spread over the clusters: the entropy
    /// of the cluster shares over ln k, 1 when all are the same size (noise
    /// rows left out). NaN with fewer than two clusters.
    pub fn balance(&self) -> f64 {
        let clusters = self.clusters();
        if clusters.len() < 2 {
            return f64::NAN;
        }
        let sizes: Vec<usize> = clusters
            .iter()
            .map(|c| self.labels.iter().filter(|l| *l == c).count())
            .collect();
        let total = sizes.iter().sum::<usize>() as f64;
        let entropy: f64 = sizes
            .iter()
            .map(|&s| s as f64 / total)
            .filter(|p| *p > 0.0)
            .map(|p| -p * p.ln())
            .sum();
        entropy / (clusters.len() as f64).ln()
    }

    /// The silhouettes of all rows, summed.
    fn silhouette_sum(&self) -> f64 {
        let clusters = self.clusters();
        let n = self.labels.len();
        if clusters.len() < 2 || n == 0 {
            return f64::NAN;
        }
        let slot: BTreeMap<i64, usize> =
            clusters.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let mut sizes = vec![0usize; clusters.len()];
        self.labels
            .iter()
            .filter(|l| **l != NOISE)
            .for_each(|l| sizes[slot[l]] += 1);
        let mut total = 0.0;
        let mut sums = vec![0.0; clusters.len()];
        for i in 0..n {
            let Some(&own) = slot.get(&self.labels[i]) else {
                continue;
            };
            if sizes[own] < 2 {
                continue;
            }
            sums.iter_mut().for_each(|s| *s = 0.0);
            for j in 0..n {
                if let Some(&c) = slot.get(&self.labels[j]) {
                    sums[c] += distance(self.row(i), self.row(j));
                }
            }
            let a = sums[own] / (sizes[own] - 1) as f64;
            let b = (0..clusters.len())
                .filter(|&c| c != own)
                .map(|c| sums[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            let m = a.max(b);
            if m > 0.0 {
                total += (b - a) / m;
            }
        }
        total
    }

    /// Calinski–Harabasz index over the non-noise rows.
    pub fn calinski_harabasz(&self) -> f64 {
        let cents = self.centroids();
        let k = cents.len();
        let rows: Vec<usize> = (0..self.labels.len())
            .filter(|&i| self.labels[i] != NOISE)
            .collect();
        let n = rows.len();
        if k < 2 || n <= k {
            return f64::NAN;
        }
        let mut mean = vec![0.0; self.d];
        for &i in &rows {
            mean.iter_mut().zip(self.row(i)).for_each(|(m, x)| *m += x);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let between: f64 = cents
            .values()
            .map(|(c, size)| *size as f64 * distance(c, &mean).powi(2))
            .sum();
        let within: f64 = rows
            .iter()
            .map(|&i| distance(self.row(i), &cents[&self.labels[i]].0).powi(2))
            .sum();
        if within == 0.0 {
            return f64::NAN;
        }
        (between / (k - 1) as f64) / (within / (n - k) as f64)
    }

    /// Davies–Bouldin index over the non-noise rows (lower is better).
    pub fn davies_bouldin(&self) -> f64 {
        let cents = self.centroids();
        if cents.len() < 2 {
            return f64::NAN;
        }
        let mut spread: BTreeMap<i64, f64> = BTreeMap::new();
        for (i, &l) in self.labels.iter().enumerate().filter(|(_, l)| **l != NOISE) {
            *spread.entry(l).or_default() += distance(self.row(i), &cents[&l].0);
        }
        let items: Vec<(f64, &Vec<f64>)> = cents
            .iter()
            .map(|(l, (c, size))| (spread[l] / *size as f64, c))
            .collect();
        let worst: f64 = items
            .iter()
            .enumerate()
            .map(|(i, (si, ci))| {
                items
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, (sj, cj))| (si + sj) / distance(ci, cj).max(f64::MIN_POSITIVE))
                    .fold(0.0, f64::max)
            })
            .sum();
        worst / items.len() as f64
    }
}

/// Adjusted Rand index between two labelings of the same rows (noise is a
/// label like any other).
pub fn adjusted_rand(truth: &[usize], found: &[i64]) -> f64 {
    let mut table: BTreeMap<(usize, i64), f64> = BTreeMap::new();
    let mut rows: BTreeMap<usize, f64> = BTreeMap::new();
    let mut cols: BTreeMap<i64, f64> = BTreeMap::new();
    for (&t, &f) in truth.iter().zip(found) {
        *table.entry((t, f)).or_default() += 1.0;
        *rows.entry(t).or_default() += 1.0;
        *cols.entry(f).or_default() += 1.0;
    }
    let pairs = |v: f64| v * (v - 1.0) / 2.0;
    let index: f64 = table.values().map(|&v| pairs(v)).sum();
    let a: f64 = rows.values().map(|&v| pairs(v)).sum();
    let b: f64 = cols.values().map(|&v| pairs(v)).sum();
    let total = pairs(truth.len() as f64);
    let expected = a * b / total.max(1.0);
    let max = (a + b) / 2.0;
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

/// Average precision of `scores` (higher = more anomalous) against
/// `positive`: the mean of the precision at each threshold, weighted by the
/// recall it adds, as scikit-learn computes it.
pub fn average_precision(mut scored: Vec<(f64, bool)>) -> f64 {
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = scored.iter().filter(|s| s.1).count() as f64;
    if positives == 0.0 {
        return 0.0;
    }
    let (mut tp, mut seen, mut ap, mut last_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < scored.len() {
        let mut j = i;
        while j < scored.len() && scored[j].0 == scored[i].0 {
            tp += f64::from(u8::from(scored[j].1));
            seen += 1.0;
            j += 1;
        }
        let recall = tp / positives;
        ap += (recall - last_recall) * (tp / seen);
        last_recall = recall;
        i = j;
    }
    ap
}

/// Jaccard overlap of two sorted row sets (1 when both are empty).
pub fn jaccard(a: &[usize], b: &[usize]) -> f64 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    if union == 0 {
        1.0
    } else {
        both as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silhouette_of_two_tight_groups_is_high() {
        let x = [0.0, 0.1, 0.2, 10.0, 10.1, 10.2];
        let c = Clustering {
            x: &x,
            d: 1,
            labels: &[0, 0, 0, 1, 1, 1],
        };
        assert!(c.silhouette() > 0.95);
        let mixed = Clustering {
            labels: &[0, 1, 0, 1, 0, 1],
            ..c
        };
        assert!(mixed.silhouette() < 0.0);
        assert!(c.calinski_harabasz() > mixed.calinski_harabasz());
        assert!(c.davies_bouldin() < mixed.davies_bouldin());
    }

    #[test]
    fn noise_rows_count_zero_in_silhouette() {
        let x = [0.0, 0.1, 10.0, 10.1, 50.0];
        let c = Clustering {
            x: &x,
            d: 1,
            labels: &[0, 0, 1, 1, NOISE],
        };
        let all = Clustering {
            x: &x[..4],
            d: 1,
            labels: &[0, 0, 1, 1],
        };
        let s = c.silhouette();
        assert!((s - all.silhouette() * 4.0 / 5.0).abs() < 1e-12);
    }

    #[test]
    fn adjusted_rand_matches_known_values() {
        assert_eq!(adjusted_rand(&[0, 0, 1, 1], &[5, 5, 7, 7]), 1.0);
        // scikit-learn: adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714285715
        let v = adjusted_rand(&[0, 0, 1, 1], &[0, 0, 1, 2]);
        assert!((v - 0.571_428_571_428_571_5).abs() < 1e-12);
    }

    #[test]
    fn average_precision_matches_scikit_learn() {
        // average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.8333333333333333
        let s = vec![(0.1, false), (0.4, false), (0.35, true), (0.8, true)];
        assert!((average_precision(s) - 0.833_333_333_333_333_3).abs() < 1e-12);
    }

    #[test]
    fn jaccard_of_sorted_sets() {
        assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
        assert_eq!(jaccard(&[], &[]), 1.0);
    }
}
