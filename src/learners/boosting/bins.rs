//! Feature binning for the histogram booster: each feature's values are
//! cut into at most 256 bins of about equal row counts (every distinct
//! value its own bin when there are few), and each cell becomes its bin's
//! one-byte code. Split search then scans bins instead of sorted values.
//!
//! A split "code ≤ b" is exactly the deployed tree's `x < cut[b]`: a code
//! counts the cuts at or below the value, and a NaN counts them all, so it
//! goes right in training as `NaN < cut` sends it right when scoring.

/// Most bins per feature: codes are bytes.
pub(super) const MAX_BINS: usize = 256;

/// The binned training rows.
pub(super) struct Bins {
    /// Per feature, the ascending cut points between its bins.
    pub cuts: Vec<Vec<f64>>,
    /// Codes, column-major: feature `j`'s rows are `codes[j * n..(j + 1) * n]`.
    codes: Vec<u8>,
    /// Rows.
    n: usize,
    /// Where each feature's bins sit in its bundle.
    pub places: Vec<Place>,
    /// Bins of each bundle.
    pub bundle_bins: Vec<usize>,
    /// Bundle codes, row-major: row `r`'s are `bundle_codes[r * B..(r + 1) * B]`
    /// for `B` bundles, so a histogram pass reads each row's codes at once.
    bundle_codes: Vec<u8>,
}

/// A feature's place in its bundle. Its most frequent bin (`default`) is
/// the bundle's shared code 0; its other bins take the bundle's codes from
/// `first` on, in order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Place {
    pub bundle: usize,
    pub default: u8,
    pub first: usize,
}

impl Place {
    /// The bundle code of the feature's bin `v` (not its default).
    pub fn slot(&self, v: usize) -> usize {
        self.first + v - usize::from(v > usize::from(self.default))
    }
}

/// Bundles tried for each feature before it opens its own: keeps
/// bundling near-linear in the number of features.
const BUNDLE_TRIES: usize = 64;

impl Bins {
    /// Bins the `n × d` row-major matrix `x`.
    pub fn of(x: &[f64], n: usize, d: usize) -> Bins {
        let mut cuts = Vec::with_capacity(d);
        let mut codes = vec![0u8; n * d];
        let mut present = Vec::with_capacity(n);
        for (j, column) in codes.chunks_mut(n.max(1)).take(d).enumerate() {
            present.clear();
            present.extend(x.iter().skip(j).step_by(d).filter(|v| !v.is_nan()));
            let feature_cuts = cut_points(&mut present, MAX_BINS);
            for (code, v) in column.iter_mut().zip(x.iter().skip(j).step_by(d)) {
                *code = code_of(&feature_cuts, *v);
            }
            cuts.push(feature_cuts);
        }
        let mut bins = Bins {
            cuts,
            codes,
            n,
            places: Vec::new(),
            bundle_bins: Vec::new(),
            bundle_codes: Vec::new(),
        };
        bins.bundle();
        bins
    }

    /// Feature `j`'s code for every row.
    pub fn column(&self, j: usize) -> &[u8] {
        &self.codes[j * self.n..(j + 1) * self.n]
    }

    /// Row `r`'s code in every bundle.
    pub fn bundle_row(&self, r: usize) -> &[u8] {
        let width = self.bundle_bins.len();
        &self.bundle_codes[r * width..(r + 1) * width]
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// Bins of feature `j`.
    pub fn bins(&self, j: usize) -> usize {
        self.cuts[j].len() + 1
    }

    /// Exclusive feature bundling (LightGBM's EFB, without conflicts):
    /// features that never leave their most frequent bin on the same row,
    /// such as one column's one-hot indicators, share one bundle of at most
    /// 256 codes, so a histogram pass reads one byte for all of them. A
    /// feature's histogram is recovered exactly from its bundle's, its
    /// default bin being the leaf's total less its other bins.
    fn bundle(&mut self) {
        let (n, d) = (self.n, self.cuts.len());
        let defaults: Vec<u8> = (0..d).map(|j| most_frequent(self.column(j))).collect();
        let busy: Vec<Vec<u32>> = (0..d)
            .map(|j| {
                let column = self.column(j);
                (0..n as u32)
                    .filter(|&r| column[r as usize] != defaults[j])
                    .collect()
            })
            .collect();
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by_key(|&j| std::cmp::Reverse(busy[j].len()));
        let mut taken: Vec<Vec<u64>> = Vec::new();
        let mut places = vec![
            Place {
                bundle: 0,
                default: 0,
                first: 0
            };
            d
        ];
        for j in order {
            let extra = self.bins(j) - 1;
            let fits = |b: usize| {
                self.bundle_bins[b] + extra <= MAX_BINS
                    && busy[j]
                        .iter()
                        .all(|&r| taken[b][r as usize / 64] >> (r % 64) & 1 == 0)
            };
            let open = self.bundle_bins.len();
            let b = (0..open)
                .take(BUNDLE_TRIES)
                .find(|&b| fits(b))
                .unwrap_or(open);
            if b == open {
                self.bundle_bins.push(1);
                taken.push(vec![0; n.div_ceil(64)]);
            }
            places[j] = Place {
                bundle: b,
                default: defaults[j],
                first: self.bundle_bins[b],
            };
            self.bundle_bins[b] += extra;
            for &r in &busy[j] {
                taken[b][r as usize / 64] |= 1 << (r % 64);
            }
        }
        let width = self.bundle_bins.len();
        self.bundle_codes = vec![0; n * width];
        for (j, place) in places.iter().enumerate() {
            for &r in &busy[j] {
                let v = self.codes[j * n + r as usize];
                // At most 256 codes per bundle, so the slot fits a byte.
                self.bundle_codes[r as usize * width + place.bundle] =
                    place.slot(usize::from(v)) as u8;
            }
        }
        self.places = places;
    }
}

/// The most frequent code (the lowest on a tie).
fn most_frequent(column: &[u8]) -> u8 {
    let mut counts = [0usize; MAX_BINS];
    for &c in column {
        counts[usize::from(c)] += 1;
    }
    let mut best = 0;
    for (c, &count) in counts.iter().enumerate() {
        if count > counts[best] {
            best = c;
        }
    }
    best as u8
}

/// The code of `v`: how many cuts are at or below it (all of them for NaN).
pub(super) fn code_of(cuts: &[f64], v: f64) -> u8 {
    // At most 255 cuts, so the count fits a byte.
    // "Not below the cut", spelt so that NaN counts every cut.
    cuts.partition_point(|&c| v.partial_cmp(&c) != Some(std::cmp::Ordering::Less)) as u8
}

/// Cuts between the sorted distinct values of `values` so that the bins
/// hold about equal row counts; every distinct value is its own bin when
/// there are at most `max_bins`. Each cut lies halfway between the values
/// it separates, so an unseen value goes to the nearer side.
fn cut_points(values: &mut [f64], max_bins: usize) -> Vec<f64> {
    values.sort_unstable_by(f64::total_cmp);
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for &v in values.iter() {
        match distinct.last_mut() {
            Some((u, count)) if *u == v => *count += 1,
            _ => distinct.push((v, 1)),
        }
    }
    if distinct.len() <= max_bins {
        return distinct
            .windows(2)
            .map(|w| between(w[0].0, w[1].0))
            .collect();
    }
    // Each cut closes a bin once it holds its share of the rows still to
    // place, so one heavy value doesn't squeeze the bins after it.
    let mut cuts = Vec::with_capacity(max_bins - 1);
    let (mut rows_left, mut bins_left, mut in_bin) = (values.len(), max_bins, 0);
    for w in distinct.windows(2) {
        in_bin += w[0].1;
        if in_bin * bins_left >= rows_left {
            cuts.push(between(w[0].0, w[1].0));
            rows_left -= in_bin;
            bins_left -= 1;
            in_bin = 0;
            if bins_left == 1 {
                break;
            }
        }
    }
    cuts
}

/// A cut in `(a, b]` for `a < b`: the midpoint, or `b` where the midpoint
/// can't be told from `a` or is not a number (infinite values).
fn between(a: f64, b: f64) -> f64 {
    let mid = a + (b - a) / 2.0;
    if mid > a && mid <= b {
        mid
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_get_a_bin_each_and_codes_agree_with_the_cuts() {
        let x = [3.0, 1.0, 2.0, 1.0, f64::NAN, 3.0];
        let bins = Bins::of(&x, 6, 1);
        assert_eq!(bins.cuts[0], [1.5, 2.5]);
        assert_eq!(bins.column(0), [2, 0, 1, 0, 2, 2]);
        // code ≤ b exactly when x < cut[b]; NaN in the top bin, right of every cut.
        for &v in &x {
            for (b, &cut) in bins.cuts[0].iter().enumerate() {
                assert_eq!(code_of(&bins.cuts[0], v) as usize <= b, v < cut, "{v} {b}");
            }
        }
    }

    #[test]
    fn many_values_share_256_bins_of_about_equal_counts() {
        let n = 10_000;
        let x: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64 / 3.0).collect();
        let bins = Bins::of(&x, n, 1);
        assert_eq!(bins.bins(0), MAX_BINS);
        let mut counts = vec![0usize; MAX_BINS];
        for &c in bins.column(0) {
            counts[c as usize] += 1;
        }
        let (lo, hi) = (counts.iter().min(), counts.iter().max());
        assert!(lo >= Some(&38) && hi <= Some(&41), "{lo:?} {hi:?}");
        assert!(bins.cuts[0].windows(2).all(|w| w[0] < w[1]));
    }

    /// One-hot indicators of one column share a bundle; a dense feature
    /// keeps its own; every feature's bins map to distinct bundle codes.
    #[test]
    fn exclusive_features_share_a_bundle() {
        let n = 300;
        let mut x = Vec::new();
        for r in 0..n {
            let level = r % 3;
            x.extend([
                f64::from(u8::from(level == 0)),
                f64::from(u8::from(level == 1)),
                f64::from(u8::from(level == 2)),
                (r * 37 % 101) as f64,
            ]);
        }
        let bins = Bins::of(&x, n, 4);
        let [a, b, c, dense] = [0, 1, 2, 3].map(|j| bins.places[j]);
        assert_eq!((a.bundle, b.bundle), (c.bundle, c.bundle));
        assert_ne!(dense.bundle, a.bundle);
        assert_eq!(bins.bundle_bins[a.bundle], 4);
        for r in 0..n {
            let code = bins.bundle_row(r)[a.bundle];
            let hot = (0..3).find(|&j| bins.column(j)[r] != bins.places[j].default);
            match hot {
                Some(j) => assert_eq!(
                    usize::from(code),
                    bins.places[j].slot(usize::from(bins.column(j)[r]))
                ),
                None => assert_eq!(code, 0),
            }
        }
    }

    #[test]
    fn a_heavy_value_takes_one_bin_and_the_rest_stay_even() {
        let mut x = vec![0.0; 5_000];
        x.extend((1..=5_000).map(f64::from));
        let bins = Bins::of(&x, x.len(), 1);
        let zeros = bins.column(0).iter().filter(|&&c| c == 0).count();
        assert_eq!(zeros, 5_000);
        assert!(bins.bins(0) >= 250, "{}", bins.bins(0));
    }
}
