//! Cutting rows for validation: seeded, stratified k folds, or one holdout
//! split for large data. Part of the data layer; the search encodes and
//! fits on what it cuts.

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::Target;

/// Data sets with more rows than this are scored on one stratified holdout
/// split instead of k folds: the folds would cost k fits for little gain.
pub const HOLDOUT_ROWS: usize = 10_000;

/// Row indices of each validation fold; training rows are the rest.
pub fn folds(target: &Target, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let n = target.rows();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let groups: Vec<Vec<usize>> = match target {
        Target::Classes { labels, y } => (0..labels.len())
            .map(|c| (0..n).filter(|&r| y[r] == c).collect())
            .collect(),
        Target::Values(_) | Target::Unlabelled(_) => vec![(0..n).collect()],
    };
    if k <= 1 {
        return holdout(groups, &mut rng);
    }
    let mut out = vec![Vec::new(); k];
    let mut next = 0;
    for mut group in groups {
        group.shuffle(&mut rng);
        for r in group {
            out[next % k].push(r);
            next += 1;
        }
    }
    out.iter_mut().for_each(|f| f.sort_unstable());
    out
}

/// One validation split holding a fifth of each class.
fn holdout(groups: Vec<Vec<usize>>, rng: &mut rand::rngs::StdRng) -> Vec<Vec<usize>> {
    let mut val = Vec::new();
    for mut group in groups {
        group.shuffle(rng);
        let take = (group.len() / 5).max(1).min(group.len().saturating_sub(1));
        val.extend_from_slice(&group[..take]);
    }
    val.sort_unstable();
    vec![val]
}

/// Rows not in `fold`, in order.
pub fn complement(n: usize, fold: &[usize]) -> Vec<usize> {
    let mut mask = vec![true; n];
    fold.iter().for_each(|&r| mask[r] = false);
    (0..n).filter(|&r| mask[r]).collect()
}
