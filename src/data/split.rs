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

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(y: &[usize], k: usize) -> Target {
        Target::Classes {
            labels: (0..k).map(|c| c.to_string()).collect(),
            y: y.to_vec(),
        }
    }

    #[test]
    fn folds_cover_every_row_once_and_spread_each_class_evenly() {
        let y: Vec<usize> = (0..50).map(|r| usize::from(r % 5 == 0)).collect();
        let target = classes(&y, 2);
        let folds = folds(&target, 5, 3);
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        for fold in &folds {
            let rare = fold.iter().filter(|&&r| y[r] == 1).count();
            assert_eq!((fold.len(), rare), (10, 2));
        }
        assert_eq!(folds, super::folds(&target, 5, 3), "same seed, same folds");
        assert_ne!(folds, super::folds(&target, 5, 4));
    }

    #[test]
    fn a_holdout_takes_a_fifth_of_each_class_and_leaves_rows_to_train() {
        let y: Vec<usize> = (0..23).map(|r| usize::from(r < 3)).collect();
        let split = folds(&classes(&y, 2), 1, 0);
        assert_eq!(split.len(), 1);
        let rare = split[0].iter().filter(|&&r| y[r] == 1).count();
        assert_eq!((split[0].len(), rare), (5, 1));
        let tiny = folds(&Target::Values(vec![1.0]), 1, 0);
        assert!(tiny[0].is_empty(), "a single row stays a training row");
    }

    #[test]
    fn the_complement_is_the_other_rows_in_order() {
        assert_eq!(complement(6, &[4, 1]), [0, 2, 3, 5]);
    }
}
