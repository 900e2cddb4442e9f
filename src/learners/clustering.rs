//! Clustering learners from linfa-clustering — k-means, Gaussian mixtures,
//! DBSCAN — lowered into centroids, mixture parameters and core points.
//! k-means and mixtures also serve anomaly detection: the distance to the
//! nearest centroid, or the negative log-density, is the anomaly score.

use linfa::prelude::*;
use linfa_clustering::{Dbscan, GaussianMixtureModel, GmmInitMethod, KMeans, KMeansInit};
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;

use super::{calibrate, Learner, TrainSet};
use crate::data::Task;
use crate::model::estimator::{Centroids, CorePoints, Mixture};
use crate::model::Estimator;
use crate::search::space::{Dim, Params};

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

impl Learner for KMeansLearner {
    fn supports(&self, task: Task) -> bool {
        !task.is_supervised()
    }

    fn space(&self, task: Task) -> Vec<Dim> {
        // One centroid is a sensible detector (distance from the centre of
        // the data), never a clustering.
        let lo = if task == Task::Anomaly { 1 } else { 2 };
        vec![
            Dim::int("k", lo, 20, false, 3),
            Dim::int("n_runs", 1, 10, false, 3),
            Dim::choice("init", &["kmeans++", "random"], 0),
        ]
    }

    fn scaled(&self) -> bool {
        true
    }

    fn cost(&self, p: &Params, n: usize, d: usize, _k: usize) -> f64 {
        n as f64 * d as f64 * p.int("k") as f64 * p.int("n_runs") as f64 * 60.0
    }

    fn fit(&self, data: &TrainSet<'_>, p: &Params, seed: u64) -> Result<Estimator, String> {
        let k = p.int("k") as usize;
        if k > data.n {
            return Err(format!("k = {k} is more than the {} rows", data.n));
        }
        let init = match p.choice("init") {
            "random" => KMeansInit::Random,
            _ => KMeansInit::KMeansPlusPlus,
        };
        let model = KMeans::params_with_rng(k, rng(seed))
            .n_runs(p.int("n_runs") as usize)
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

/// The Gaussian-mixture adapter (full covariances, the only kind linfa
/// 0.8 fits; the covariance regularisation is searched instead).
pub struct MixtureLearner;

impl Learner for MixtureLearner {
    fn supports(&self, task: Task) -> bool {
        !task.is_supervised()
    }

    fn space(&self, task: Task) -> Vec<Dim> {
        let lo = if task == Task::Anomaly { 1 } else { 2 };
        vec![
            Dim::int("components", lo, 10, false, 2),
            // linfa normalises densities without log-sum-exp, so rows far
            // from every component can turn a fit into NaN; wider
            // components (more regularisation) keep such data usable.
            Dim::float("reg_covar", 1e-4, 1.0, true, 1e-2),
            Dim::choice("init", &["kmeans", "random"], 0),
        ]
    }

    fn scaled(&self) -> bool {
        true
    }

    fn cost(&self, p: &Params, n: usize, d: usize, _k: usize) -> f64 {
        let k = p.int("components") as f64;
        let d = d as f64;
        n as f64 * k * d * d * 100.0 + k * d * d * d * 10.0
    }

    fn fit(&self, data: &TrainSet<'_>, p: &Params, seed: u64) -> Result<Estimator, String> {
        let k = p.int("components") as usize;
        if k > data.n {
            return Err(format!("{k} components is more than the {} rows", data.n));
        }
        let init = match p.choice("init") {
            "random" => GmmInitMethod::Random,
            _ => GmmInitMethod::KMeans,
        };
        let model = GaussianMixtureModel::params_with_rng(k, rng(seed))
            .reg_covariance(p.float("reg_covar"))
            .max_n_iterations(200)
            .tolerance(1e-3)
            .init_method(init)
            .fit(&DatasetBase::from(view(data)?.to_owned()))
            .map_err(|e| e.to_string())?;
        let precisions = model.precisions();
        let log_det = precisions
            .outer_iter()
            .map(|p| log_det(&p.to_owned()))
            .collect::<Result<Vec<f64>, String>>()?;
        let mixture = Mixture {
            weights: model.weights().to_vec(),
            means: model.means().iter().copied().collect(),
            precisions: precisions.iter().copied().collect(),
            log_det,
            threshold: data.contamination.map(|_| f64::INFINITY),
        };
        calibrate(Estimator::Mixture(mixture), data)
    }
}

/// `ln det` of a symmetric positive-definite matrix, through its Cholesky
/// factor.
fn log_det(a: &Array2<f64>) -> Result<f64, String> {
    let d = a.nrows();
    let mut l = Array2::<f64>::zeros((d, d));
    let mut total = 0.0;
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[[i, m]] * l[[j, m]]).sum();
            if i == j {
                let v = a[[i, i]] - s;
                if v <= 0.0 || !v.is_finite() {
                    return Err("a component's covariance is singular".into());
                }
                l[[i, i]] = v.sqrt();
                total += 2.0 * l[[i, i]].ln();
            } else {
                l[[i, j]] = (a[[i, j]] - s) / l[[j, j]];
            }
        }
    }
    Ok(total)
}

/// The DBSCAN adapter. The neighbourhood radius is searched per feature:
/// `eps = radius * sqrt(d)` on standardised features, so one range suits
/// narrow and wide tables.
pub struct DbscanLearner;

impl Learner for DbscanLearner {
    fn supports(&self, task: Task) -> bool {
        task == Task::Cluster
    }

    fn space(&self, _task: Task) -> Vec<Dim> {
        vec![
            Dim::float("radius", 0.02, 2.0, true, 0.25),
            Dim::int("min_points", 3, 50, true, 5),
        ]
    }

    fn scaled(&self) -> bool {
        true
    }

    fn cost(&self, _p: &Params, n: usize, d: usize, _k: usize) -> f64 {
        n as f64 * n as f64 * d as f64 * 3.0
    }

    fn fit(&self, data: &TrainSet<'_>, p: &Params, _seed: u64) -> Result<Estimator, String> {
        let eps = p.float("radius") * (data.d as f64).sqrt();
        let min_points = p.int("min_points") as usize;
        let x = view(data)?;
        let labels = Dbscan::params(min_points)
            .tolerance(eps)
            .check()
            .map_err(|e| e.to_string())?
            .transform(&x);
        let core = core_rows(data, eps, min_points);
        let mut points = Vec::new();
        let mut clusters = Vec::new();
        for (i, label) in labels.iter().enumerate() {
            if let (true, Some(c)) = (core[i], label) {
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

/// Rows with at least `min_points` rows (themselves included) within `eps`:
/// DBSCAN's core points.
fn core_rows(data: &TrainSet<'_>, eps: f64, min_points: usize) -> Vec<bool> {
    let limit = eps * eps;
    let row = |i: usize| &data.x[i * data.d..(i + 1) * data.d];
    (0..data.n)
        .map(|i| {
            let near = (0..data.n)
                .filter(|&j| {
                    row(i)
                        .iter()
                        .zip(row(j))
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                        <= limit
                })
                .take(min_points)
                .count();
            near >= min_points
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Target;
    use crate::learners::testdata;

    fn set<'a>(x: &'a [f64], n: usize, d: usize, target: &'a Target) -> TrainSet<'a> {
        TrainSet {
            x,
            n,
            d,
            target,
            contamination: None,
        }
    }

    #[test]
    fn kmeans_model_assigns_as_linfa_does() {
        let (x, n, d, _, _) = testdata::load("iris.csv", "species");
        let target = Target::Unlabelled(n);
        let data = set(&x, n, d, &target);
        let p = Params::decode(&KMeansLearner.space(Task::Cluster), &[0.1, 0.2, 0.0]);
        let est = KMeansLearner.fit(&data, &p, 3).expect("fit");
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
    fn mixture_memberships_match_linfa() {
        let (x, n, d, _, _) = testdata::load("iris.csv", "species");
        let target = Target::Unlabelled(n);
        let data = set(&x, n, d, &target);
        let p = Params::decode(&MixtureLearner.space(Task::Cluster), &[0.2, 0.5, 0.0]);
        let est = MixtureLearner.fit(&data, &p, 5).expect("fit");
        let native = GaussianMixtureModel::params_with_rng(p.int("components") as usize, rng(5))
            .reg_covariance(p.float("reg_covar"))
            .max_n_iterations(200)
            .tolerance(1e-3)
            .fit(&DatasetBase::from(view(&data).expect("view").to_owned()))
            .expect("native fit");
        let probs = native.predict_proba(&view(&data).expect("view"));
        let k = probs.ncols();
        let ours = est.score_rows(&x, d, 1 + k);
        for r in 0..n {
            for c in 0..k {
                let (a, b) = (ours.row(r)[1 + c], probs[[r, c]]);
                assert!((a - b).abs() < 1e-9, "row {r} component {c}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn dbscan_core_points_reproduce_linfa_labels_on_core_and_noise_rows() {
        let (x, n, d, _, _) = testdata::load("iris.csv", "species");
        let target = Target::Unlabelled(n);
        let data = set(&x, n, d, &target);
        let p = Params::decode(&DbscanLearner.space(Task::Cluster), &[0.5, 0.2]);
        let est = DbscanLearner.fit(&data, &p, 0).expect("fit");
        let eps = p.float("radius") * (d as f64).sqrt();
        let labels = Dbscan::params(p.int("min_points") as usize)
            .tolerance(eps)
            .transform(&view(&data).expect("view"))
            .expect("dbscan");
        let core = core_rows(&data, eps, p.int("min_points") as usize);
        let ours = est.score_rows(&x, d, 1);
        for r in 0..n {
            match labels[r] {
                None => assert_eq!(ours.row(r)[0], -1.0, "noise row {r}"),
                Some(c) if core[r] => assert_eq!(ours.row(r)[0], c as f64, "core row {r}"),
                Some(_) => assert!(ours.row(r)[0] >= 0.0, "border row {r}"),
            }
        }
    }
}
