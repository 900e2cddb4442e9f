//! Fourth stage: the learner families. Each adapter declares its search
//! space and cost, fits its library's model on an encoded training set, and
//! lowers the fitted model into the portable `Estimator` — a learner whose
//! internals can't be read is not offered.

mod autoencoder;
mod bayes;
mod boosting;
pub mod clustering;
mod extra_trees;
mod forest;
mod isolation;
mod knn;
mod linear;
mod mlp;
pub mod space;
mod tree;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Target, Task};
use crate::learners::space::{Dim, Hyperparameters, Params, Preset};
use crate::model::estimator::{Rule, Tree};
use crate::model::Estimator;
use crate::prep::Prep;

/// An encoded training set: row-major features and the target.
#[derive(Debug, Clone, Copy)]
pub struct TrainSet<'a> {
    /// Row-major features, `n * d`.
    pub x: &'a [f64],
    /// Rows.
    pub n: usize,
    /// Features.
    pub d: usize,
    /// Target of the same rows.
    pub target: &'a Target,
    /// For anomaly detection, the share of training rows to flag: the
    /// fitted detector's threshold is set from it.
    pub contamination: Option<f64>,
    /// Set when nobody waits for this fit any more: the learners written
    /// here look at it between trees, boosters and EM steps and give up.
    pub cancel: &'a Cancel,
}

/// A request to give up work nobody waits for: a fit abandoned at the
/// deadline or on Ctrl-C would otherwise keep a core busy, competing with
/// the refit, and outlive a library call of `train`. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

/// What a fit that gave up returns, for the trial's record.
pub const CANCELLED: &str = "cancelled: nobody waits for this fit any more";

impl Cancel {
    /// A flag nobody has set.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the work to give up at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether giving up was asked for.
    pub fn cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err` once giving up was asked for: `?` between steps of a fit.
    pub fn check(&self) -> Result<(), String> {
        if self.cancelled() {
            Err(CANCELLED.into())
        } else {
            Ok(())
        }
    }
}

impl TrainSet<'_> {
    /// Class indices (empty for regression).
    pub fn classes(&self) -> &[usize] {
        match self.target {
            Target::Classes { y, .. } => y,
            Target::Values(_) | Target::Unlabelled(_) => &[],
        }
    }

    /// Regression values (empty for classification).
    pub fn values(&self) -> &[f64] {
        match self.target {
            Target::Values(v) => v,
            Target::Classes { .. } | Target::Unlabelled(_) => &[],
        }
    }

    /// Number of classes (1 for regression).
    pub fn width(&self) -> usize {
        self.target.width()
    }
}

/// Rows `0..n` in a seeded random order, split into a held-out tenth and
/// the rest; nothing is held out below `min_rows` rows. The learners that
/// stop early (boosting, networks) stop on the held-out tenth.
pub(crate) fn hold_out(
    n: usize,
    min_rows: usize,
    rng: &mut rand::rngs::StdRng,
) -> (Vec<usize>, Vec<usize>) {
    use rand::seq::SliceRandom;
    let mut rows: Vec<usize> = (0..n).collect();
    rows.shuffle(rng);
    let held = if n >= min_rows { n / 10 } else { 0 };
    let rest = rows.split_off(held);
    (rows, rest)
}

/// The registry of learner families: one line each (variant, the name users
/// type and see, the adapter). It generates `Family` and its lookups. The
/// order is the leaderboard's last tie-break and part of each family's seed,
/// so new families go at the end. A family's limits (rows it can take, the
/// tasks it serves) are its adapter's answers, not special cases elsewhere.
macro_rules! families {
    ($($(#[$doc:meta])* $variant:ident = $name:literal => $learner:expr,)*) => {
        /// A learner family.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            Serialize, Deserialize, clap::ValueEnum,
        )]
        pub enum Family {
            $($(#[$doc])* #[serde(rename = $name)] #[value(name = $name)] $variant,)*
        }

        impl Family {
            /// Every family, in registry order.
            pub const ALL: &'static [Family] = &[$(Family::$variant),*];

            /// The family's name as shown to users.
            pub fn name(self) -> &'static str {
                match self {
                    $(Family::$variant => $name,)*
                }
            }

            /// The adapter for this family.
            pub fn learner(self) -> &'static dyn Learner {
                match self {
                    $(Family::$variant => &$learner,)*
                }
            }
        }
    };
}

families! {
    /// Gradient-boosted trees, histogram and leaf-wise (written here).
    Gbdt = "gbdt" => boosting::Gbdt,
    /// Random forest (smartcore).
    RandomForest = "random_forest" => forest::RandomForest,
    /// One decision tree (smartcore).
    DecisionTree = "decision_tree" => tree::DecisionTree,
    /// Regularised logistic / elastic-net linear regression (smartcore).
    Linear = "linear" => linear::LinearModel,
    /// Gaussian naive Bayes (linfa-bayes).
    NaiveBayes = "naive_bayes" => bayes::NaiveBayes,
    /// k nearest neighbours (smartcore).
    Knn = "knn" => knn::Knn,
    /// k-means clusters; as a detector, distance to the nearest centroid
    /// (linfa-clustering).
    Kmeans = "kmeans" => clustering::KMeansLearner,
    /// Gaussian mixture; as a detector, low density (linfa-clustering).
    GaussianMixture = "gaussian_mixture" => clustering::MixtureLearner,
    /// DBSCAN density clusters with noise (linfa-clustering).
    Dbscan = "dbscan" => clustering::DbscanLearner,
    /// Isolation forest anomaly detector (written here).
    IsolationForest = "isolation_forest" => isolation::IsolationForest,
    /// Extremely randomised trees (written here).
    ExtraTrees = "extra_trees" => extra_trees::ExtraTrees,
    /// A multilayer perceptron (written here).
    Mlp = "mlp" => mlp::Mlp,
    /// Autoencoder anomaly detector: reconstruction error (written here).
    Autoencoder = "autoencoder" => autoencoder::Autoencoder,
}

impl Family {
    /// Whether the family can be tried on `rows` rows of a `task` task.
    pub fn fits(self, task: Task, rows: usize) -> bool {
        let learner = self.learner();
        learner.supports(task) && learner.max_rows().is_none_or(|m| rows <= m)
    }
}

/// Fits `family` with `params` on every row of `data`, preprocessing
/// included: fitted on the same rows, the scaler kept only for families
/// that want standardised features.
pub fn fit_all_rows(
    data: &Dataset,
    family: Family,
    params: &Params,
    seed: u64,
    contamination: Option<f64>,
    cancel: &Cancel,
) -> Result<(Prep, Estimator), String> {
    let (mut prep, mut fitted) =
        fit_members_all_rows(data, &[(family, params, seed)], contamination, cancel)?;
    if !family.learner().scaled() {
        prep.scaler = None;
    }
    let estimator = fitted.pop().ok_or("no model was fitted")?;
    Ok((prep, estimator))
}

/// Fits several configurations on every row (an ensemble's members): one
/// preprocessing fitted on all rows, its scaler applied for the members that
/// want standardised features and kept in the returned preprocessing, every
/// member fitted on the same encoding, two at a time.
pub fn fit_members_all_rows(
    data: &Dataset,
    members: &[(Family, &Params, u64)],
    contamination: Option<f64>,
    cancel: &Cancel,
) -> Result<(Prep, Vec<Estimator>), String> {
    use rayon::prelude::*;
    let prep = Prep::fit(&data.inputs);
    let (x, d) = prep.encode_table(&data.inputs).map_err(|e| e.to_string())?;
    let (raw, scaled) = features_for(&prep, x, d, members);
    let fitted = members
        .par_iter()
        .map(|(family, params, seed)| {
            let learner = family.learner();
            let x = if learner.scaled() { &scaled } else { &raw };
            let set = TrainSet {
                x: x.as_deref().ok_or("the features were not encoded")?,
                n: data.inputs.rows,
                d,
                target: &data.target,
                contamination,
                cancel,
            };
            let fitted = learner.fit(&set, params, *seed);
            // Among several members, say which one failed.
            fitted.map_err(|e| match members.len() {
                1 => e,
                _ => format!("{family}: {e}"),
            })
        })
        .collect::<Result<Vec<Estimator>, String>>()?;
    Ok((prep, fitted))
}

/// The encoded features `x` as the members read them: raw and standardised,
/// each only if some member reads it (no copy when all read one kind).
fn features_for(
    prep: &Prep,
    x: Vec<f64>,
    d: usize,
    members: &[(Family, &Params, u64)],
) -> (Option<Vec<f64>>, Option<Vec<f64>>) {
    let scaled = |mut x: Vec<f64>| {
        prep.scale_matrix(&mut x, d);
        x
    };
    let reads_scaled = |m: &&(Family, &Params, u64)| m.0.learner().scaled();
    match members.iter().filter(reads_scaled).count() {
        0 => (Some(x), None),
        n if n == members.len() => (None, Some(scaled(x))),
        _ => (Some(x.clone()), Some(scaled(x))),
    }
}

/// Sets a detector's threshold so that at most `contamination` of the
/// training rows score above it; other estimators pass through unchanged.
pub(crate) fn calibrate(mut est: Estimator, data: &TrainSet<'_>) -> Result<Estimator, String> {
    let Some(share) = data.contamination else {
        return Ok(est);
    };
    let pred = est.score_rows(data.x, data.d, 2);
    let mut scores: Vec<f64> = (0..pred.rows()).map(|r| pred.row(r)[0]).collect();
    if scores.iter().any(|s| !s.is_finite()) {
        return Err("the detector gave a training row a non-finite score".into());
    }
    scores.sort_by(|a, b| b.total_cmp(a));
    let flagged = ((share * scores.len() as f64).floor() as usize).min(scores.len() - 1);
    let threshold = halfway_up(&scores, flagged);
    est.as_kind_mut()
        .set_threshold(threshold)
        .map_err(|e| format!("a {} model: {e}", est.kind()))?;
    Ok(est)
}

/// A threshold halfway between descending `scores[at]` and the next higher
/// score: the same training rows score above it as above `scores[at]`, but
/// none sits on it, where a scorer whose arithmetic differs in the last bit
/// (ONNX Runtime's `exp` and sums) would flag it differently.
fn halfway_up(scores: &[f64], at: usize) -> f64 {
    let low = scores[at];
    let Some(&high) = scores[..at].iter().rev().find(|s| **s > low) else {
        return low;
    };
    let mid = low + (high - low) / 2.0;
    if mid > low && mid < high {
        mid
    } else {
        low
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a family's file implements: its work on its own typed
/// hyperparameters. The registry sees every `Adapter` as a [`Learner`],
/// whose one implementation below decodes the search's `Params` for all
/// families.
pub trait Adapter: Sync {
    /// The family's hyperparameters (declared with `hyperparameters!`).
    type Params: Hyperparameters;
    /// Whether the family handles `task`.
    fn supports(&self, task: Task) -> bool;
    /// Whether it wants standardised features.
    fn scaled(&self) -> bool;
    /// The most training rows it is offered for, if limited.
    fn max_rows(&self) -> Option<usize> {
        None
    }
    /// Machine-independent cost of one fit and scoring pass (see
    /// [`Learner::cost`]).
    fn cost(&self, p: &Self::Params, n: usize, d: usize, k: usize) -> f64;
    /// Cost of the fit alone (the final refit scores nothing): `cost`,
    /// unless scoring is most of it.
    fn refit_cost(&self, p: &Self::Params, n: usize, d: usize, k: usize) -> f64 {
        self.cost(p, n, d, k)
    }
    /// Known-good configurations tried right after the cheap start (see
    /// the book's search chapter for each family's).
    fn presets(&self) -> &'static [Preset] {
        &[]
    }
    /// Fits on `data` and lowers the fitted model.
    fn fit(&self, data: &TrainSet<'_>, p: &Self::Params, seed: u64) -> Result<Estimator, String>;
}

impl<A: Adapter> Learner for A {
    fn supports(&self, task: Task) -> bool {
        Adapter::supports(self, task)
    }

    fn space(&self, task: Task) -> Vec<Dim> {
        A::Params::space(task)
    }

    fn scaled(&self) -> bool {
        Adapter::scaled(self)
    }

    fn max_rows(&self) -> Option<usize> {
        Adapter::max_rows(self)
    }

    /// A configuration the family can't read costs infinitely much, so the
    /// search never starts it.
    fn cost(&self, p: &Params, n: usize, d: usize, k: usize) -> f64 {
        A::Params::decode(p).map_or(f64::INFINITY, |p| Adapter::cost(self, &p, n, d, k))
    }

    fn refit_cost(&self, p: &Params, n: usize, d: usize, k: usize) -> f64 {
        A::Params::decode(p).map_or(f64::INFINITY, |p| Adapter::refit_cost(self, &p, n, d, k))
    }

    fn presets(&self) -> &'static [Preset] {
        Adapter::presets(self)
    }

    fn fit(&self, data: &TrainSet<'_>, p: &Params, seed: u64) -> Result<Estimator, String> {
        data.cancel.check()?;
        Adapter::fit(self, data, &A::Params::decode(p)?, seed)
    }
}

/// What the search asks of every family.
pub trait Learner: Sync {
    /// Whether the family handles `task`.
    fn supports(&self, task: Task) -> bool;
    /// Its hyperparameters for `task`.
    fn space(&self, task: Task) -> Vec<Dim>;
    /// Whether it wants standardised features.
    fn scaled(&self) -> bool;
    /// The most training rows it is offered for (its cost grows too fast
    /// beyond), if limited.
    fn max_rows(&self) -> Option<usize> {
        None
    }
    /// A machine-independent cost of one fit and one scoring pass on `n`
    /// training rows of `d` features with `k` outputs, in units of roughly a
    /// nanosecond on a 2020s core. The search orders work by it, which keeps
    /// seeded runs reproducible; the budget uses measured seconds.
    fn cost(&self, params: &Params, n: usize, d: usize, k: usize) -> f64;
    /// The cost of the fit alone, in the same units: the final refit on
    /// every row scores nothing.
    fn refit_cost(&self, params: &Params, n: usize, d: usize, k: usize) -> f64;
    /// Known-good configurations, tried right after the cheap start.
    fn presets(&self) -> &'static [Preset];
    /// Fits on `data` and lowers the fitted model.
    fn fit(&self, data: &TrainSet<'_>, params: &Params, seed: u64) -> Result<Estimator, String>;
}

/// A tree read from a library, before leaf values are decided.
#[derive(Debug, Clone)]
pub(crate) struct RawTree {
    /// Split feature per node, -1 for leaves.
    pub feature: Vec<i32>,
    /// Threshold per node.
    pub threshold: Vec<f64>,
    /// Left child per node.
    pub left: Vec<u32>,
    /// Right child per node.
    pub right: Vec<u32>,
    /// The library's own leaf output (class index or value), per node.
    pub leaf: Vec<f64>,
    /// Split rule.
    pub rule: Rule,
}

impl RawTree {
    /// A tree whose leaves hold the library's value (regression, boosting).
    pub fn with_leaf_values(self, output: usize) -> Tree {
        Tree {
            output,
            width: 1,
            rule: self.rule,
            values: self.leaf.clone(),
            feature: self.feature,
            threshold: self.threshold,
            left: self.left,
            right: self.right,
            cover: Vec::new(),
        }
    }

    /// A classification tree whose leaves hold the class distribution of the
    /// training rows that reach them (as scikit-learn does), so that forests
    /// and trees give probabilities rather than votes.
    pub fn with_class_distribution(self, data: &TrainSet<'_>) -> Tree {
        let k = data.width();
        let mut tree = Tree {
            output: 0,
            width: k,
            rule: self.rule,
            values: vec![0.0; self.feature.len() * k],
            feature: self.feature,
            threshold: self.threshold,
            left: self.left,
            right: self.right,
            cover: Vec::new(),
        };
        for (row, &class) in data.x.chunks(data.d).zip(data.classes()) {
            let leaf = tree.leaf(row);
            tree.values[leaf * k + class] += 1.0;
        }
        for node in tree.values.chunks_mut(k) {
            let total: f64 = node.iter().sum();
            if total > 0.0 {
                node.iter_mut().for_each(|v| *v /= total);
            }
        }
        for (node, &f) in tree.feature.iter().enumerate() {
            let cell = &mut tree.values[node * k..(node + 1) * k];
            if f < 0 && cell.iter().all(|v| *v == 0.0) {
                cell.fill(1.0 / k as f64);
            }
        }
        tree
    }

    /// A classification tree whose leaves hold a one-hot vote for the
    /// library's own leaf class: used to check a lowering against the
    /// library's predictions.
    #[cfg(test)]
    pub fn with_votes(self, k: usize) -> Tree {
        let mut values = vec![0.0; self.feature.len() * k];
        for (node, &f) in self.feature.iter().enumerate() {
            if f < 0 {
                values[node * k + self.leaf[node] as usize] = 1.0;
            }
        }
        Tree {
            output: 0,
            width: k,
            rule: self.rule,
            values,
            feature: self.feature,
            threshold: self.threshold,
            left: self.left,
            right: self.right,
            cover: Vec::new(),
        }
    }
}

/// smartcore and linfa-bayes keep fitted internals private but serialise
/// them; these helpers read the serialised form (pinned crate versions,
/// covered by the differential tests).
pub(crate) mod serde_read {
    use serde_json::Value;

    /// Field `key` of an object, or an error naming it.
    pub fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
        v.get(key)
            .ok_or_else(|| format!("fitted model has no field '{key}'"))
    }

    /// An array field.
    pub fn array<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>, String> {
        field(v, key)?
            .as_array()
            .ok_or_else(|| format!("field '{key}' is not an array"))
    }

    /// A number field.
    pub fn number(v: &Value, key: &str) -> Result<f64, String> {
        field(v, key)?
            .as_f64()
            .ok_or_else(|| format!("field '{key}' is not a number"))
    }

    /// A vector of numbers.
    pub fn numbers(v: &Value) -> Result<Vec<f64>, String> {
        v.as_array()
            .ok_or("expected an array of numbers")?
            .iter()
            .map(|x| x.as_f64().ok_or_else(|| "expected a number".to_string()))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod testdata {
    //! Small encoded data sets from the bundled CSVs, for differential tests.

    use super::TrainSet;

    /// A training set over `x` for a differential test (never cancelled).
    pub fn set<'a>(x: &'a [f64], n: usize, d: usize, target: &'a Target) -> TrainSet<'a> {
        TrainSet {
            x,
            n,
            d,
            target,
            contamination: None,
            cancel: Box::leak(Box::default()),
        }
    }
    use crate::data::{self, Target, Task};
    use crate::model::Estimator;
    use crate::prep::Prep;

    /// Encoded, scaled features and target of a bundled data set.
    pub fn load(name: &str, target: &str) -> (Vec<f64>, usize, usize, Target, Task) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("datasets")
            .join(name);
        let table = data::load(&path, &[]).expect("bundled data loads");
        let ds = data::prepare(table, target, &[], None).expect("bundled data prepares");
        let prep = Prep::fit(&ds.inputs);
        let (mut x, d) = prep.encode_table(&ds.inputs).expect("encodes");
        prep.scale_matrix(&mut x, d);
        (x, ds.inputs.rows, d, ds.target, ds.task)
    }

    /// Asserts that `est`'s most probable class is `native[r]` on every row.
    pub fn assert_classes(
        est: &Estimator,
        x: &[f64],
        d: usize,
        k: usize,
        native: &[u32],
        what: &str,
    ) {
        let mut out = vec![0.0; k];
        for (r, row) in x.chunks(d).enumerate() {
            est.score(row, &mut out);
            assert_eq!(
                crate::model::argmax(&out) as u32,
                native[r],
                "{what}, row {r}"
            );
        }
    }

    /// Asserts that `est` predicts `native[r]` on every row (to 1e-9, relative:
    /// the libraries sum in their own order).
    pub fn assert_values(est: &Estimator, x: &[f64], d: usize, native: &[f64], what: &str) {
        let mut out = [0.0];
        for (r, row) in x.chunks(d).enumerate() {
            est.score(row, &mut out);
            assert!(
                (out[0] - native[r]).abs() <= 1e-9 * native[r].abs().max(1.0),
                "{what}, row {r}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::space::{preset_point, Param, Range};

    /// The threshold flags exactly the rows above `scores[at]`, and no
    /// score equals it.
    #[test]
    fn a_detector_threshold_lies_strictly_between_two_training_scores() {
        let scores = [9.0, 7.0, 7.0, 5.0, 5.0, 5.0, 1.0];
        for at in 0..scores.len() {
            let t = halfway_up(&scores, at);
            let above = |limit: f64| scores.iter().filter(|s| **s > limit).count();
            assert_eq!(above(t), above(scores[at]), "at {at}");
            assert!(at == 0 || !scores.contains(&t), "at {at}: {t}");
        }
        assert_eq!(halfway_up(&scores, 3), 6.0);
        let tight = [f64::from_bits(1.0f64.to_bits() + 1), 1.0];
        assert_eq!(halfway_up(&tight, 1), 1.0);
    }

    /// Every family's presets name dimensions of every task it serves, and
    /// decode to the values they give.
    #[test]
    fn presets_fit_every_space_they_are_used_in() {
        let tasks = [
            Task::Binary,
            Task::Multiclass,
            Task::Regression,
            Task::Cluster,
            Task::Anomaly,
        ];
        for family in Family::ALL {
            let learner = family.learner();
            for task in tasks.into_iter().filter(|t| learner.supports(*t)) {
                let space = learner.space(task);
                for preset in learner.presets() {
                    let point =
                        preset_point(&space, preset).unwrap_or_else(|e| panic!("{family}: {e}"));
                    let params = Params::decode(&space, &point);
                    for (name, value) in *preset {
                        // A choice is given by its position in the list.
                        let got = match (
                            &params.0[*name],
                            &space.iter().find(|d| d.name == *name).unwrap().range,
                        ) {
                            (Param::Choice(c), Range::Choice(all)) => {
                                all.iter().position(|a| a == c).unwrap() as f64
                            }
                            _ => params.real(name).unwrap(),
                        };
                        assert!(
                            (got - value).abs() < 1e-9 * value.abs().max(1.0),
                            "{family} {name}: {got} for {value}"
                        );
                    }
                }
            }
        }
    }
}
