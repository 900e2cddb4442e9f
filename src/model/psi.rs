//! Drift kernels: which bin of a training distribution a reading falls
//! in, a sliding window of those bins, and the population stability index
//! (PSI) of the window against the training shares. The model's drift
//! reference (`model/drift.rs`) is fitted with these functions, and
//! `automl export --kafka-consumer` copies this file verbatim into the
//! generated module, so training and the consumer bin a value alike.
//!
//! Std only, no imports from the crate: the text must compile on its own.
//! Every distribution's last bin holds the missing values.

/// The smallest share a bin counts with in the PSI, so that a bin empty
/// on one side gives a large but finite term (a common choice).
pub const PSI_FLOOR: f64 = 1e-4;

/// The bin of a number among ascending `edges`: bin `i` holds the values
/// in `(edges[i-1], edges[i]]`, bin `edges.len()` those above every edge,
/// and bin `edges.len() + 1` a missing value.
pub fn number_bin(reading: Option<f64>, edges: &[f64]) -> usize {
    match reading {
        Some(x) => edges.partition_point(|e| *e < x),
        None => edges.len() + 1,
    }
}

/// The bin of a level among `levels`: its index, `levels.len()` for any
/// other level, `levels.len() + 1` for a missing value.
pub fn level_bin<S: AsRef<str>>(level: Option<&str>, levels: &[S]) -> usize {
    match level {
        Some(l) => levels
            .iter()
            .position(|k| k.as_ref() == l)
            .unwrap_or(levels.len()),
        None => levels.len() + 1,
    }
}

/// The population stability index of `counts` against the `expected`
/// shares of the same bins: the sum of `(a - e) ln(a / e)` over bins, with
/// both shares at least [`PSI_FLOOR`]. 0 for identical distributions;
/// about 0.1 is a moderate shift and above 0.25 a large one.
pub fn psi(counts: &[u64], expected: &[f64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    counts
        .iter()
        .zip(expected)
        .map(|(&c, &e)| {
            let a = (c as f64 / total as f64).max(PSI_FLOOR);
            let e = e.max(PSI_FLOOR);
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// The bins of the last `capacity` rows of several series (each input
/// column, then the prediction) and their counts, kept as rows come.
#[derive(Debug, Clone)]
pub struct Window {
    /// Where each series' counts start in `counts`; one more at the end.
    offsets: Vec<usize>,
    counts: Vec<u64>,
    /// Each kept row's bins, series after series, oldest overwritten first.
    kept: Vec<u16>,
    capacity: usize,
    next: usize,
    len: usize,
}

impl Window {
    /// A window over series of `widths` bins each, of at most `capacity`
    /// rows (at least one).
    pub fn new(widths: &[usize], capacity: usize) -> Window {
        let mut offsets = vec![0];
        for w in widths {
            offsets.push(offsets[offsets.len() - 1] + w);
        }
        let capacity = capacity.max(1);
        Window {
            counts: vec![0; offsets[widths.len()]],
            kept: vec![0; capacity * widths.len()],
            offsets,
            capacity,
            next: 0,
            len: 0,
        }
    }

    /// Adds a row's bins (one per series), dropping the oldest row when
    /// the window is full.
    pub fn push(&mut self, bins: &[u16]) {
        let series = self.offsets.len() - 1;
        let slot = &mut self.kept[self.next * series..(self.next + 1) * series];
        for (s, (old, &new)) in slot.iter_mut().zip(bins).enumerate() {
            if self.len == self.capacity {
                self.counts[self.offsets[s] + usize::from(*old)] -= 1;
            }
            self.counts[self.offsets[s] + usize::from(new)] += 1;
            *old = new;
        }
        self.next = (self.next + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
    }

    /// Rows in the window.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no row has come yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The counts of series `s`'s bins.
    pub fn counts(&self, s: usize) -> &[u64] {
        &self.counts[self.offsets[s]..self.offsets[s + 1]]
    }

    /// The PSI of series `s` against its `expected` shares.
    pub fn psi(&self, s: usize, expected: &[f64]) -> f64 {
        psi(self.counts(s), expected)
    }
}
