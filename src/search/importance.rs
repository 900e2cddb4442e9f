//! Permutation importance of the winner, measured where it was scored: on
//! each fold, the winner's model from that fold scores the fold's held-out
//! rows again with one input column's values shuffled among them, and the
//! column's importance is how much worse that makes it. Every encoded
//! feature of a column (its one-hot levels, its missing indicator) moves
//! together, so importance is per input column, not per feature. The search
//! holds back the time it takes ([`Plan`]); a plan that would take more than
//! [`SHARE`] of the budget scores fewer rows.

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;

use crate::data::{Target, Task};
use crate::metrics::Metric;
use crate::model::{ColumnImportance, Estimator, Importance, Predictions};
use crate::prep::Prep;

use super::cv::Fold;
use super::{spread, Budget, Trial};

/// Shuffles of each column over all folds: one per fold with five folds,
/// five on a single holdout split.
pub const SHUFFLES: usize = 5;
/// Held-out rows scored per fold at most.
pub const MAX_ROWS: usize = 10_000;
/// Fewest held-out rows per fold worth measuring on; with less time than
/// that takes, importance is not measured.
pub const MIN_ROWS: usize = 100;
/// The largest share of a time budget the measurement may take.
pub const SHARE: f64 = 0.05;
/// How much faster the measurement scores rows than the trial's own
/// scoring, which ran beside its other folds: 2.3–2.8 times on adult and
/// california (60 s runs) on an idle machine; the estimate divides by 1.5,
/// which leaves room for a busy one (a measurement cut by the deadline is
/// lost whole).
const SPEEDUP: f64 = 1.5;

/// How the measurement will run: rows per fold, shuffles per fold, and
/// the seconds it is expected to take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Held-out rows scored per fold, at most.
    pub rows: usize,
    /// Shuffles of each column on each fold.
    pub repeats: usize,
    /// Expected seconds.
    pub seconds: f64,
}

impl Plan {
    /// The plan for folds of `fold_rows` held-out rows, `columns` input
    /// columns and a model scoring a row in `us_per_row` microseconds,
    /// within `allowed` seconds; `None` if not even [`MIN_ROWS`] per fold
    /// fit.
    pub fn new(fold_rows: &[usize], columns: usize, us_per_row: f64, allowed: f64) -> Option<Plan> {
        let k = fold_rows.len();
        if k == 0 || columns == 0 {
            return None;
        }
        let repeats = SHUFFLES.div_ceil(k);
        // Each fold scores its rows once as they are, then once per shuffle.
        let passes = (columns * repeats + 1) as f64;
        let seconds_at = |cap: usize| {
            let rows: usize = fold_rows.iter().map(|&n| n.min(cap)).sum();
            rows as f64 * passes * us_per_row.max(0.0) * 1e-6 / SPEEDUP
        };
        let mut rows = MAX_ROWS;
        if seconds_at(rows) > allowed {
            let per_row = passes * us_per_row * 1e-6 / SPEEDUP * k as f64;
            rows = (allowed / per_row).floor().min(MAX_ROWS as f64) as usize;
        }
        let most = fold_rows.iter().copied().max().unwrap_or(0);
        (rows >= MIN_ROWS.min(most)).then(|| Plan {
            rows,
            repeats,
            seconds: seconds_at(rows),
        })
    }
}

/// Seconds the measurement may take within `budget`.
pub fn allowed(budget: &Budget) -> f64 {
    budget.seconds.map_or(f64::INFINITY, |s| s * SHARE)
}

/// The plan for measuring `trial` on `folds` within `allowed` seconds:
/// what the search holds back for it and what the run then does.
pub fn plan_for(folds: &[Fold], trial: &Trial, allowed: f64) -> Option<Plan> {
    let rows: Vec<usize> = folds.iter().map(|f| f.valid.n).collect();
    let columns = folds.first().map_or(0, |f| f.prep.columns.len());
    Plan::new(&rows, columns, trial.predict_us_per_row, allowed)
}

/// Measures the winner `best`, whose model from each fold is `models`,
/// in the time left before the last `write` seconds of `budget` (at most
/// [`SHARE`] of it); why not, if it can't be.
#[allow(clippy::too_many_arguments)]
pub fn measure_winner(
    folds: &[Fold],
    models: &[Estimator],
    best: &Trial,
    task: Task,
    metric: Metric,
    budget: &Budget,
    write: f64,
    seed: u64,
) -> Result<Importance, String> {
    if budget.stopped() {
        return Err("the run was stopped".into());
    }
    if models.len() != folds.len() {
        return Err("the winner's fold models were not kept".into());
    }
    let allowed = allowed(budget).min(budget.remaining() - write);
    let plan = plan_for(folds, best, allowed).ok_or("too little time was left")?;
    let subject = Subject {
        folds,
        models,
        scaled: best.reads_scaled(),
        task,
        metric,
    };
    subject
        .measure(&plan, seed, budget.deadline_before(write))
        .ok_or_else(|| "the time budget ran out while measuring".into())
}

/// What the measurement reads: the folds, the winner's model from each,
/// and how to judge its predictions.
pub struct Subject<'a> {
    /// The folds, in order.
    pub folds: &'a [Fold],
    /// The winner's model from each fold, in fold order.
    pub models: &'a [Estimator],
    /// Whether the models read standardised features.
    pub scaled: bool,
    /// The task.
    pub task: Task,
    /// The primary metric (supervised tasks).
    pub metric: Metric,
}

/// One fold's rows as measured: their features and target, and the
/// model's predictions of them as they are.
struct Sample<'a> {
    model: &'a Estimator,
    prep: &'a Prep,
    x: Vec<f64>,
    d: usize,
    target: Target,
    base: Predictions,
}

impl Subject<'_> {
    /// Measures every input column by `plan`, shuffles seeded by `seed`;
    /// `None` if `deadline` passes first.
    pub fn measure(&self, plan: &Plan, seed: u64, deadline: Option<Instant>) -> Option<Importance> {
        let samples: Vec<Sample> = self
            .folds
            .iter()
            .zip(self.models)
            .map(|(fold, model)| self.sample(fold, model, plan.rows))
            .collect();
        let names: Vec<&str> = self
            .folds
            .first()?
            .prep
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let values: Vec<Option<Vec<f64>>> = (0..names.len())
            .into_par_iter()
            .map(|c| self.column_values(&samples, c, plan.repeats, seed, deadline))
            .collect();
        let mut columns = names
            .iter()
            .zip(values)
            .map(|(name, v)| {
                let v = v?;
                Some(ColumnImportance {
                    column: name.to_string(),
                    importance: mean(&v),
                    std: spread(&v),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        columns.sort_by(|a, b| b.importance.total_cmp(&a.importance));
        Some(Importance {
            measure: self.measure_name(),
            shuffles: samples.len() * plan.repeats,
            rows: samples.iter().map(|s| s.target.rows()).sum(),
            columns,
        })
    }

    fn measure_name(&self) -> String {
        match self.task {
            Task::Cluster => "share of rows whose cluster changes".into(),
            Task::Anomaly => "share of rows whose anomaly flag changes".into(),
            _ if self.metric.higher_is_better() => format!("fall in {}", self.metric.name()),
            _ => format!("rise in {}", self.metric.name()),
        }
    }

    /// At most `rows` of `fold`'s held-out rows, evenly spread, with the
    /// model's predictions of them.
    fn sample<'a>(&self, fold: &'a Fold, model: &'a Estimator, rows: usize) -> Sample<'a> {
        let valid = &fold.valid;
        let step = valid.n.div_ceil(rows.max(1)).max(1);
        let picked: Vec<usize> = (0..valid.n).step_by(step).collect();
        let (all, d) = (valid.features(self.scaled), valid.d);
        let x: Vec<f64> = picked
            .iter()
            .flat_map(|&r| &all[r * d..(r + 1) * d])
            .copied()
            .collect();
        let target = fold.valid_target.take(&picked);
        let base = model.score_rows(&x, d, model.width(target.width()));
        Sample {
            model,
            prep: &fold.prep,
            x,
            d,
            target,
            base,
        }
    }

    /// Column `c`'s value on every fold and repeat; `None` once `deadline`
    /// has passed.
    fn column_values(
        &self,
        samples: &[Sample],
        c: usize,
        repeats: usize,
        seed: u64,
        deadline: Option<Instant>,
    ) -> Option<Vec<f64>> {
        let mut values = Vec::with_capacity(samples.len() * repeats);
        for (f, s) in samples.iter().enumerate() {
            let first = s.prep.columns[..c].iter().map(|p| p.width()).sum::<usize>();
            let features = first..first + s.prep.columns[c].width();
            for r in 0..repeats {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return None;
                }
                let stream = seed ^ ((f * 7919 + r) as u64) << 32 ^ c as u64;
                let x = shuffled(&s.x, s.d, features.clone(), stream);
                let pred = s.model.score_rows(&x, s.d, s.base.width);
                values.push(self.worsening(s, &pred));
            }
        }
        Some(values)
    }

    /// How much worse `pred` is than the sample's own predictions.
    fn worsening(&self, s: &Sample, pred: &Predictions) -> f64 {
        let changed = |at: usize| {
            let n = pred.rows();
            let moved = (0..n)
                .filter(|&r| pred.row(r)[at] != s.base.row(r)[at])
                .count();
            moved as f64 / n.max(1) as f64
        };
        match self.task {
            Task::Cluster => changed(0),
            Task::Anomaly => changed(1),
            _ => {
                let loss = |p: &Predictions| self.metric.loss(self.metric.compute(&s.target, p));
                loss(pred) - loss(&s.base)
            }
        }
    }
}

/// `x` (rows of `d` values) with `features` of each row taken from another
/// row, by a permutation seeded by `seed`.
fn shuffled(x: &[f64], d: usize, features: std::ops::Range<usize>, seed: u64) -> Vec<f64> {
    let n = x.len().checked_div(d).unwrap_or(0);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let mut out = x.to_vec();
    for (r, &from) in order.iter().enumerate() {
        let (to, src) = (r * d, from * d);
        out[to + features.start..to + features.end]
            .copy_from_slice(&x[src + features.start..src + features.end]);
    }
    out
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{self, split};
    use crate::learners::Cancel;
    use crate::search::cv::tests::linear_spec;
    use crate::search::cv::{cross_validate, encode_folds};
    use std::io::Write;

    /// 400 rows: the class is whether `signal` is above 0.5; `noise` and
    /// the category `colour` are random.
    fn signal_and_noise() -> data::Dataset {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "signal,noise,colour,label").unwrap();
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..400 {
            let (s, n, c) = (
                next(),
                next(),
                ["red", "green", "blue"][(next() * 3.0) as usize],
            );
            writeln!(file, "{s},{n},{c},{}", if s > 0.5 { "yes" } else { "no" }).unwrap();
        }
        let table = data::load(file.path(), &[]).unwrap();
        data::prepare(table, "label", &[], None).unwrap()
    }

    #[test]
    fn the_column_the_target_depends_on_matters_and_the_others_do_not() {
        let ds = signal_and_noise();
        let folds = encode_folds(&ds, &split::folds(&ds.target, 5, 3)).unwrap();
        let spec = linear_spec(&ds);
        let scored = cross_validate(&spec, &folds, None, &Cancel::new(), None).unwrap();
        let models: Vec<Estimator> = scored
            .folds
            .into_iter()
            .map(|s| s.estimator.unwrap())
            .collect();
        let subject = Subject {
            folds: &folds,
            models: &models,
            scaled: true,
            task: ds.task,
            metric: Metric::RocAuc,
        };
        let plan = Plan::new(&[80; 5], 3, 1.0, f64::INFINITY).unwrap();
        let measured = subject.measure(&plan, 7, None).unwrap();
        assert_eq!((measured.shuffles, measured.rows), (5, 400));
        let names: Vec<&str> = measured.columns.iter().map(|c| c.column.as_str()).collect();
        assert_eq!(names[0], "signal", "{measured:?}");
        let signal = &measured.columns[0];
        assert!(signal.importance > 0.3, "{signal:?}");
        for other in &measured.columns[1..] {
            assert!(other.importance.abs() < 0.02, "{other:?}");
        }
        let again = subject.measure(&plan, 7, None).unwrap();
        assert_eq!(again.columns, measured.columns, "seeded");
    }

    #[test]
    fn a_plan_scores_fewer_rows_to_fit_its_time_and_none_below_the_minimum() {
        // 5 folds of 20 000 rows, 10 columns, 1 µs a row: 11 passes a fold.
        let full = Plan::new(&[20_000; 5], 10, 1.0, f64::INFINITY).unwrap();
        assert_eq!((full.rows, full.repeats), (MAX_ROWS, 1));
        assert!((full.seconds - 5.0 * 10_000.0 * 11.0 * 1e-6 / SPEEDUP).abs() < 1e-9);
        let tight = Plan::new(&[20_000; 5], 10, 1.0, 0.11 / SPEEDUP).unwrap();
        assert_eq!(tight.rows, 2_000);
        assert!(tight.seconds <= 0.11 / SPEEDUP);
        assert_eq!(Plan::new(&[20_000; 5], 10, 1.0, 0.001), None);
        // A single holdout shuffles each column five times.
        assert_eq!(Plan::new(&[50], 2, 1.0, f64::INFINITY).unwrap().repeats, 5);
    }

    #[test]
    fn shuffling_moves_a_columns_features_together_and_leaves_the_rest() {
        let x: Vec<f64> = (0..40).map(f64::from).collect();
        let out = shuffled(&x, 4, 1..3, 9);
        let mut moved = Vec::new();
        for (r, row) in out.chunks(4).enumerate() {
            assert_eq!((row[0], row[3]), (x[r * 4], x[r * 4 + 3]));
            assert_eq!(row[2] - row[1], 1.0, "features 1 and 2 come from one row");
            moved.push(row[1] as usize / 4);
        }
        moved.sort_unstable();
        assert_eq!(moved, (0..10).collect::<Vec<_>>(), "a permutation");
        assert_ne!(out, x);
    }
}
