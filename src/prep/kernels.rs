//! Encoding kernels: how one column's reading becomes features, and the
//! standardisation after it. `ColumnPrep::encode` calls these, and
//! `automl export --rust` copies this file verbatim into the generated
//! module, so encoding is written once.
//!
//! Std only, no allocation, no imports from the crate: the text must compile
//! on its own. Each encoder writes its column's slice of the feature vector;
//! with `indicator`, the slice's last feature is 1 for a missing value.

/// A number, or `fill` (the training median or mode) when missing.
pub fn number(value: Option<f64>, fill: f64, indicator: bool, out: &mut [f64]) {
    out[0] = value.unwrap_or(fill);
    if indicator {
        out[1] = f64::from(u8::from(value.is_none()));
    }
}

/// Index of `level` among `levels`, the first match.
pub fn level_index<S: AsRef<str>>(levels: &[S], level: &str) -> Option<usize> {
    levels.iter().position(|l| l.as_ref() == level)
}

/// One feature per level; missing and unseen levels are all zeros.
pub fn one_hot<S: AsRef<str>>(level: Option<&str>, levels: &[S], indicator: bool, out: &mut [f64]) {
    out[..levels.len()].fill(0.0);
    if let Some(i) = level.and_then(|l| level_index(levels, l)) {
        out[i] = 1.0;
    }
    if indicator {
        out[levels.len()] = f64::from(u8::from(level.is_none()));
    }
}

/// One feature: the level's share of training rows; unseen levels get 0 and
/// a missing value the share of missing training cells.
pub fn frequency<S: AsRef<str>>(
    level: Option<&str>,
    levels: &[S],
    shares: &[f64],
    missing: f64,
    indicator: bool,
    out: &mut [f64],
) {
    out[0] = match level {
        Some(l) => level_index(levels, l).map_or(0.0, |i| shares[i]),
        None => missing,
    };
    if indicator {
        out[1] = f64::from(u8::from(level.is_none()));
    }
}

/// Standardises a feature vector in place: `(x - mean) / scale`.
pub fn standardise(x: &mut [f64], mean: &[f64], scale: &[f64]) {
    for ((v, m), sd) in x.iter_mut().zip(mean).zip(scale) {
        *v = (*v - m) / sd;
    }
}
