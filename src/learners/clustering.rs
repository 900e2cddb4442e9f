//! Clustering learners from linfa-clustering — k-means, Gaussian mixtures,
//! DBSCAN — lowered into centroids, mixture parameters and core points.
//! k-means and mixtures also serve anomaly detection: the distance to the
//! nearest centroid, or the negative log-density, is the anomaly score.

use linfa::prelude::*;
use linfa_clustering::{Dbscan, KMeans, KMeansInit};
use ndarray::ArrayView2;
use rand::SeedableRng;

use super::{calibrate, Adapter, TrainSet};
use crate::data::Task;
use crate::learners::space::{choice, choices, hyperparameters, int, real, Preset};
use crate::model::estimator::{Centroids, CorePoints, Mixture};
use crate::model::Estimator;

/// Data above this many rows is not offered to DBSCAN: its neighbourhood
/// search and the core-point model grow with the square of the rows.
pub const DBSCAN_MAX_ROWS: usize = 5_000;

fn view<'a>(data: &TrainSet<'a>) -> Result<ArrayView2<'a, f64>, String> {
    ArrayView2::from_shape((data.n, data.d), data.x).map_err(|e| e.to_string())
}

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// The k-means adapter.
pub struct KMeansLearner;

choices! {
    /// How k-means places its first centroids.
    Init {
        /// k-means++ seeding.
        KMeansPlusPlus = "kmeans++",
        /// Random rows.
        Random = "random",
    }
}

hyperparameters! {
    /// k-means' hyperparameters.
    KMeansParams(task) {
        /// Clusters. One centroid is a sensible detector (distance from the
        /// centre of the data), never a clustering.
        k: usize = int(if task == Task::Anomaly { 1 } else { 2 }, 20, false, 3),
        /// Restarts; the best is kept.
        n_runs: usize = int(1, 10, false, 3),
        /// How the first centroids are placed.
        init: Init = choice(Init::KMeansPlusPlus),
    }
}

impl Adapter for KMeansLearner {
    type Params = KMeansParams;

    fn supports(&self, task: Task) -> bool {
        !task.is_supervised()
    }

    fn scaled(&self) -> bool {
        true
    }

    /// The number of clusters spread over its range from the start (the
    /// local search from the cheap k = 3 moves one step at a time).
    fn presets(&self) -> &'static [Preset] {
        &[
            &[("k", 5.0)],
            &[("k", 8.0)],
            &[("k", 12.0)],
            &[("k", 16.0)],
            &[("k", 20.0)],
        ]
    }

    fn cost(&self, p: &KMeansParams, n: usize, d: usize, _k: usize) -> f64 {
        n as f64 * d as f64 * p.k as f64 * p.n_runs as f64 * 60.0
    }

    fn fit(&self, data: &TrainSet<'_>, p: &KMeansParams, seed: u64) -> Result<Estimator, String> {
        let k = p.k;
        if k > data.n {
            return Err(format!("k = {k} is more than the {} rows", data.n));
        }
        let init = match p.init {
            Init::Random => KMeansInit::Random,
            Init::KMeansPlusPlus => KMeansInit::KMeansPlusPlus,
        };
        let model = KMeans::params_with_rng(k, rng(seed))
            .n_runs(p.n_runs)
            .max_n_iterations(300)
            .tolerance(1e-4)
            .init_method(init)
            .fit(&DatasetBase::from(view(data)?.to_owned()))
            .map_err(|e| e.to_string())?;
        let centroids = Centroids {
            centroids: model.centroids().iter().copied().collect(),
            k,
            threshold: data.contamination.map(|_| f64::INFINITY),
        };
        calibrate(Estimator::Centroids(centroids), data)
    }
}

/// The Gaussian-mixture adapter. Components start from linfa's k-means;
/// EM is run here because linfa 0.8's mixture normalises densities without
/// log-sum-exp (a row far from every component turns the fit into NaN, which
/// is exactly the row a detector exists for) and fits full covariances only.
pub struct MixtureLearner;

choices! {
    /// The covariance shape of a mixture's components.
    Covariance {
        /// A full matrix.
        Full = "full",
        /// Variances only.
        Diagonal = "diagonal",
        /// One variance for every feature.
        Spherical = "spherical",
    }
}

hyperparameters! {
    /// The mixture's hyperparameters.
    MixtureParams(task) {
        /// Gaussian components.
        components: usize = int(if task == Task::Anomaly { 1 } else { 2 }, 10, false, 2),
        /// Their covariance shape.
        covariance: Covariance = choice(Covariance::Full),
        /// Added to every variance.
        reg_covar: f64 = real(1e-6, 0.1, true, 1e-3),
    }
}

impl Adapter for MixtureLearner {
    type Params = MixtureParams;

    fn supports(&self, task: Task) -> bool {
        !task.is_supervised()
    }

    fn scaled(&self) -> bool {
        true
    }

    /// More components from the start, with variances only (a full
    /// covariance per component is costly on wide data).
    fn presets(&self) -> &'static [Preset] {
        &[
            &[("components", 5.0), ("covariance", 1.0)],
            &[("components", 10.0), ("covariance", 1.0)],
        ]
    }

    fn cost(&self, p: &MixtureParams, n: usize, d: usize, _k: usize) -> f64 {
        let k = p.components as f64;
        let d = d as f64;
        (n as f64 * k * d * d * 4.0 + k * d * d * d) * 40.0
    }

    fn fit(&self, data: &TrainSet<'_>, p: &MixtureParams, seed: u64) -> Result<Estimator, String> {
        let k = p.components;
        if k > data.n {
            return Err(format!("{k} components is more than the {} rows", data.n));
        }
        let start = KMeans::params_with_rng(k, rng(seed))
            .n_runs(1)
            .max_n_iterations(100)
            .fit(&DatasetBase::from(view(data)?.to_owned()))
            .map_err(|e| e.to_string())?;
        let labels = start.predict(&view(data)?);
        let mut resp = vec![0.0; data.n * k];
        for (r, c) in labels.iter().enumerate() {
            resp[r * k + c] = 1.0;
        }
        let (shape, reg) = (p.covariance, p.reg_covar);
        let mut mixture = maximise(data, &resp, k, shape, reg)?;
        let mut last = f64::NEG_INFINITY;
        for _ in 0..MAX_EM_ITERATIONS {
            data.cancel.check()?;
            let likelihood = expect(&mixture, data, &mut resp);
            mixture = maximise(data, &resp, k, shape, reg)?;
            if (likelihood - last).abs() < EM_TOLERANCE {
                break;
            }
            last = likelihood;
        }
        mixture.threshold = data.contamination.map(|_| f64::INFINITY);
        calibrate(Estimator::Mixture(mixture), data)
    }
}

const MAX_EM_ITERATIONS: usize = 100;
/// EM stops when the mean log-likelihood per row moves less than this.
const EM_TOLERANCE: f64 = 1e-4;

/// E step: memberships from the current components (log-sum-exp, so far
/// rows stay finite); returns the mean log-likelihood per row.
fn expect(m: &Mixture, data: &TrainSet<'_>, resp: &mut [f64]) -> f64 {
    let k = m.k();
    let mut total = 0.0;
    for (x, r) in data.x.chunks(data.d).zip(resp.chunks_mut(k)) {
        total += m.memberships(x, r);
    }
    total / data.n as f64
}

/// M step: weights, means and covariances (of the chosen shape, plus `reg`
/// on the diagonal) from memberships; stored as precisions.
fn maximise(
    data: &TrainSet<'_>,
    resp: &[f64],
    k: usize,
    shape: Covariance,
    reg: f64,
) -> Result<Mixture, String> {
    let (n, d) = (data.n, data.d);
    let row = |r: usize| &data.x[r * d..(r + 1) * d];
    let mut m = Mixture {
        weights: vec![0.0; k],
        means: vec![0.0; k * d],
        precisions: vec![0.0; k * d * d],
        log_det: vec![0.0; k],
        threshold: None,
    };
    for c in 0..k {
        let nk: f64 = (0..n).map(|r| resp[r * k + c]).sum::<f64>() + 10.0 * f64::EPSILON;
        if nk < 1e-3 {
            return Err(format!("mixture component {c} lost all its rows"));
        }
        m.weights[c] = nk / n as f64;
        let mean = &mut m.means[c * d..(c + 1) * d];
        for r in 0..n {
            mean.iter_mut()
                .zip(row(r))
                .for_each(|(a, x)| *a += resp[r * k + c] * x);
        }
        mean.iter_mut().for_each(|a| *a /= nk);
        let mean = m.means[c * d..(c + 1) * d].to_vec();
        let mut cov = vec![0.0; d * d];
        for r in 0..n {
            let w = resp[r * k + c];
            if w == 0.0 {
                continue;
            }
            let x = row(r);
            for i in 0..d {
                let a = w * (x[i] - mean[i]);
                for j in 0..=i {
                    cov[i * d + j] += a * (x[j] - mean[j]);
                }
            }
        }
        shape_covariance(&mut cov, d, nk, shape, reg);
        let (precision, log_det) = invert(&cov, d)?;
        m.precisions[c * d * d..(c + 1) * d * d].copy_from_slice(&precision);
        m.log_det[c] = log_det;
    }
    Ok(m)
}

/// Turns the lower triangle of summed outer products into the covariance
/// of `shape`, regularised.
fn shape_covariance(cov: &mut [f64], d: usize, nk: f64, shape: Covariance, reg: f64) {
    for i in 0..d {
        for j in 0..=i {
            let v = cov[i * d + j] / nk;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    if shape != Covariance::Full {
        let diagonal: Vec<f64> = (0..d).map(|i| cov[i * d + i]).collect();
        let mean = diagonal.iter().sum::<f64>() / d.max(1) as f64;
        cov.fill(0.0);
        for (i, v) in diagonal.iter().enumerate() {
            cov[i * d + i] = if shape == Covariance::Spherical {
                mean
            } else {
                *v
            };
        }
    }
    (0..d).for_each(|i| cov[i * d + i] += reg);
}

/// The inverse of a symmetric positive-definite matrix and the log
/// determinant of that inverse, through the Cholesky factor.
fn invert(a: &[f64], d: usize) -> Result<(Vec<f64>, f64), String> {
    let mut l = vec![0.0; d * d];
    let mut log_det = 0.0;
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[i * d + m] * l[j * d + m]).sum();
            if i == j {
                let v = a[i * d + i] - s;
                if v <= 0.0 || !v.is_finite() {
                    return Err("a component's covariance is singular; raise reg_covar".into());
                }
                l[i * d + i] = v.sqrt();
                log_det += 2.0 * l[i * d + i].ln();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    // Columns of L^-1 by forward substitution, then A^-1 = L^-T L^-1.
    let mut inv_l = vec![0.0; d * d];
    for c in 0..d {
        for i in c..d {
            let s: f64 = (c..i).map(|m| l[i * d + m] * inv_l[m * d + c]).sum();
            let e = if i == c { 1.0 } else { 0.0 };
            inv_l[i * d + c] = (e - s) / l[i * d + i];
        }
    }
    let mut inv = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let v: f64 = (i..d).map(|m| inv_l[m * d + i] * inv_l[m * d + j]).sum();
            inv[i * d + j] = v;
            inv[j * d + i] = v;
        }
    }
    Ok((inv, -log_det))
}

/// The DBSCAN adapter. Its radius is not searched in distance units, which
/// mean different things in different tables, but as `core_share`: eps is
/// set so that this share of the training rows has `min_points` rows
/// (itself included) within eps — the rows that become core points.
pub struct DbscanLearner;

hyperparameters! {
    /// DBSCAN's hyperparameters.
    DbscanParams(_task) {
        /// Share of rows that are core points; sets the radius.
        core_share: f64 = real(0.3, 0.99, false, 0.8),
        /// Neighbours (itself included) that make a row a core point.
        min_points: usize = int(3, 50, true, 5),
    }
}

impl Adapter for DbscanLearner {
    type Params = DbscanParams;

    fn supports(&self, task: Task) -> bool {
        task == Task::Cluster
    }

    fn max_rows(&self) -> Option<usize> {
        Some(DBSCAN_MAX_ROWS)
    }

    fn scaled(&self) -> bool {
        true
    }

    fn cost(&self, _p: &DbscanParams, n: usize, d: usize, _k: usize) -> f64 {
        n as f64 * n as f64 * (d as f64 + 10.0) * 2.0
    }

    fn fit(&self, data: &TrainSet<'_>, p: &DbscanParams, _seed: u64) -> Result<Estimator, String> {
        let min_points = p.min_points.min(data.n);
        let reach = core_distances(data, min_points);
        let mut sorted = reach.clone();
        sorted.sort_by(f64::total_cmp);
        let at = ((p.core_share * data.n as f64).ceil() as usize).clamp(1, data.n);
        // A hair above the quantile, so a distance computed in another order
        // (linfa's neighbour index) can't fall on the other side of it.
        let eps = sorted[at - 1] * (1.0 + 1e-9) + f64::MIN_POSITIVE;
        let labels = Dbscan::params(min_points)
            .tolerance(eps)
            .check()
            .map_err(|e| e.to_string())?
            .transform(&view(data)?);
        let mut points = Vec::new();
        let mut clusters = Vec::new();
        for (i, label) in labels.iter().enumerate() {
            if let (true, Some(c)) = (reach[i] <= eps, label) {
                points.extend_from_slice(&data.x[i * data.d..(i + 1) * data.d]);
                clusters.push(u32::try_from(*c).map_err(|e| e.to_string())?);
            }
        }
        let k = clusters.iter().max().map_or(0, |m| *m as usize + 1);
        Ok(Estimator::CorePoints(CorePoints {
            eps,
            points,
            clusters,
            k,
        }))
    }
}

/// Per row, the distance to its `min_points`-th nearest row (itself
/// counted first): the row is a core point for any eps at least this.
fn core_distances(data: &TrainSet<'_>, min_points: usize) -> Vec<f64> {
    let row = |i: usize| &data.x[i * data.d..(i + 1) * data.d];
    let mut dist = vec![0.0; data.n];
    (0..data.n)
        .map(|i| {
            for (j, slot) in dist.iter_mut().enumerate() {
                *slot = row(i)
                    .iter()
                    .zip(row(j))
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>();
            }
            let (_, nth, _) = dist.select_nth_unstable_by(min_points.max(1) - 1, f64::total_cmp);
            nth.sqrt()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Target;
    use crate::learners::space::Params;
    use crate::learners::testdata;
    use crate::learners::Learner;

    fn set<'a>(x: &'a [f64], n: usize, d: usize, target: &'a Target) -> TrainSet<'a> {
        TrainSet {
            x,
            n,
            d,
            target,
            contamination: None,
            cancel: Box::leak(Box::default()),
        }
    }

    #[test]
    fn kmeans_model_assigns_as_linfa_does() {
        let (x, n, d, _, _) = testdata::load("iris.csv", "species");
        let target = Target::Unlabelled(n);
        let data = set(&x, n, d, &target);
        let p = Params::decode(
            &Learner::space(&KMeansLearner, Task::Cluster),
            &[0.1, 0.2, 0.0],
        );
        let est = Learner::fit(&KMeansLearner, &data, &p, 3).expect("fit");
        let native = KMeans::params_with_rng(p.int("k") as usize, rng(3))
            .n_runs(p.int("n_runs") as usize)
            .max_n_iterations(300)
            .tolerance(1e-4)
            .fit(&DatasetBase::from(view(&data).expect("view").to_owned()))
            .expect("native fit");
        let labels = native.predict(&view(&data).expect("view"));
        let ours = est.score_rows(&x, d, 1);
        for r in 0..n {
            assert_eq!(ours.row(r)[0], labels[r] as f64, "row {r}");
        }
    }

    #[test]
    fn mixture_recovers_two_separated_gaussians_in_every_shape() {
        // Two blobs, one of them far out: linfa's own mixture returns NaN here.
        let mut x = Vec::new();
        for i in 0..200 {
            let t = f64::from(i) * 0.37;
            let (cx, cy) = if i % 2 == 0 {
                (0.0, 0.0)
            } else {
                (40.0, -40.0)
            };
            x.extend_from_slice(&[cx + t.sin(), cy + (1.3 * t).cos()]);
        }
        let target = Target::Unlabelled(200);
        let data = set(&x, 200, 2, &target);
        use crate::learners::space::Choice;
        for (i, shape) in Covariance::NAMES.iter().enumerate() {
            let u = i as f64 / 2.0;
            let p = Params::decode(
                &Learner::space(&MixtureLearner, Task::Cluster),
                &[0.0, u, 0.5],
            );
            assert_eq!(p.choice("covariance"), *shape);
            let est = Learner::fit(&MixtureLearner, &data, &p, 1).expect("fit");
            let pred = est.score_rows(&x, 2, 3);
            for r in 0..200 {
                assert_eq!(pred.row(r)[0], pred.row(r % 2)[0], "{shape} row {r}");
                assert!((pred.row(r)[1] + pred.row(r)[2] - 1.0).abs() < 1e-12);
            }
            assert_ne!(pred.row(0)[0], pred.row(1)[0], "{shape}");
        }
    }

    #[test]
    fn inverse_times_matrix_is_identity() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let (inv, log_det) = invert(&a, 3).expect("positive definite");
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|m| a[i * 3 + m] * inv[m * 3 + j]).sum();
                assert!((v - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        // det(a) = 4*(6-0.04) - 1*(2-0.1) + 0.5*(0.2-1.5) = 21.29
        assert!((log_det + 21.29f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn dbscan_core_points_reproduce_linfa_labels_on_core_and_noise_rows() {
        let (x, n, d, _, _) = testdata::load("iris.csv", "species");
        let target = Target::Unlabelled(n);
        let data = set(&x, n, d, &target);
        let p = Params::decode(&Learner::space(&DbscanLearner, Task::Cluster), &[0.7, 0.2]);
        let Estimator::CorePoints(model) = Learner::fit(&DbscanLearner, &data, &p, 0).expect("fit")
        else {
            panic!("not core points");
        };
        let min_points = p.int("min_points") as usize;
        let labels = Dbscan::params(min_points)
            .tolerance(model.eps)
            .transform(&view(&data).expect("view"))
            .expect("dbscan");
        let reach = core_distances(&data, min_points);
        let cores = reach.iter().filter(|r| **r <= model.eps).count();
        let share = cores as f64 / n as f64;
        assert!(
            (share - p.float("core_share")).abs() < 0.02,
            "core share {share}"
        );
        let est = Estimator::CorePoints(model.clone());
        let ours = est.score_rows(&x, d, 1);
        for r in 0..n {
            match labels[r] {
                None => assert_eq!(ours.row(r)[0], -1.0, "noise row {r}"),
                Some(c) if reach[r] <= model.eps => {
                    assert_eq!(ours.row(r)[0], c as f64, "core row {r}")
                }
                Some(_) => assert!(ours.row(r)[0] >= 0.0, "border row {r}"),
            }
        }
    }
}
