//! The estimator half of the portable model: plain data that every scorer
//! walks. Each kind lives in a file of its own behind [`Kind`] — how it
//! scores (through [`super::kernels`]), how many outputs it writes, how a
//! loaded file is checked, the line `inspect` prints, and the tables the
//! Rust exporter writes — and is registered once in [`Estimator`].
//!
//! Adding a kind: write its scoring function in `model/kernels.rs` and
//! `model/estimator/NAME.rs` with its struct and `impl Kind`, then add one
//! line to the `estimators!` list below.

use serde::{Deserialize, Serialize};

pub use super::kernels::{Combine, Link, Weighting};
pub use ensemble::Member;
pub use trees::{PackedBits, PackedRanks, PackedTrees, Rule, Tree, Trees};

use super::graph::Graph;
use super::Predictions;

/// What an estimator's outputs mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One probability per class (one value for regression).
    Supervised,
    /// The cluster index, then `memberships` probabilities; with `noise`, a
    /// row may belong to no cluster (-1).
    Cluster {
        /// Membership probabilities after the cluster.
        memberships: usize,
        /// Whether -1 (noise) can be predicted.
        noise: bool,
    },
    /// An anomaly score and a 0/1 flag.
    Anomaly,
}

impl Shape {
    /// Values written per row, given the model's class count.
    pub fn width(self, classes: usize) -> usize {
        match self {
            Shape::Supervised => classes.max(1),
            Shape::Cluster { memberships, .. } => 1 + memberships,
            Shape::Anomaly => 2,
        }
    }
}

/// Static data of a generated module, by type. The exporter spells each
/// as a Rust item; numbers always go through its round-trip formatting.
#[derive(Debug, Clone, PartialEq)]
pub enum Table {
    /// `static NAME: [f64; N]`.
    F64s(Vec<f64>),
    /// `static NAME: [u32; N]`.
    U32s(Vec<u32>),
    /// `static NAME: [u64; N]` of tree links (`kernels::link`), each
    /// written as its two halves in hex: right child, then feature.
    Links(Vec<u64>),
    /// `const NAME: f64`.
    F64(f64),
    /// `const NAME: Option<f64>`.
    MaybeF64(Option<f64>),
    /// `const NAME: usize`.
    Usize(usize),
    /// `const NAME: kernels::Link`.
    Link(Link),
    /// `const NAME: kernels::Combine`.
    Combine(Combine),
    /// `const NAME: kernels::Weighting`.
    Weighting(Weighting),
    /// Trees as `NAME_THRESHOLD`, `NAME_LINK`, … and a `static NAME:
    /// kernels::Trees` over them.
    Trees(Box<PackedTrees>),
}

/// An estimator as the generated module holds it: named tables, and the
/// kernel call that scores `x` into `out` with them.
#[derive(Debug, Clone, PartialEq)]
pub struct Lowered {
    /// Tables, in the order they are written.
    pub tables: Vec<(&'static str, Table)>,
    /// The body of `fn score(x: &[f64; D], out: &mut [f64; W])`: one call
    /// into `kernels` naming the tables.
    pub call: String,
    /// The body of `fn score_batch(x: &[f64], out: &mut [f64])` with `d`
    /// and `w` (values per row in and out) in scope, for kinds with a batch
    /// kernel; without one, rows are scored one by one.
    pub batch: Option<String>,
    /// An ensemble's members, each written as `mod member_I` with its own
    /// tables, `fn score(x: &[f64], out: &mut [f64])` and
    /// `fn score_batch(x: &[f64], d: usize, out: &mut [f64], w: usize)`;
    /// empty for others.
    pub members: Vec<Lowered>,
    /// For a kind with reason codes: the body of `fn contributions(x:
    /// &[f64], phi: &mut [f64])` (what [`Kind::contributions`] computes),
    /// and the tables only it reads, written with `--explain`.
    pub explain: Option<(Vec<(&'static str, Table)>, String)>,
}

impl Lowered {
    /// An estimator's tables and kernel call, without members.
    pub fn new(tables: Vec<(&'static str, Table)>, call: impl Into<String>) -> Lowered {
        Lowered {
            tables,
            call: call.into(),
            batch: None,
            members: Vec::new(),
            explain: None,
        }
    }

    /// The same, with reason codes computed by `call` from its own
    /// `tables` and the scoring tables.
    pub fn with_explain(
        mut self,
        tables: Vec<(&'static str, Table)>,
        call: impl Into<String>,
    ) -> Lowered {
        self.explain = Some((tables, call.into()));
        self
    }

    /// The same, scoring many rows with `batch`.
    pub fn with_batch(mut self, batch: impl Into<String>) -> Lowered {
        self.batch = Some(batch.into());
        self
    }
}

/// What every estimator kind provides.
pub trait Kind {
    /// What the outputs mean.
    fn shape(&self) -> Shape;
    /// Writes one encoded row's outputs into `out` (of the shape's width).
    fn score(&self, x: &[f64], out: &mut [f64]);
    /// Writes many encoded rows' outputs: `x` row-major, `d` values a row,
    /// into `out`, `w` a row; the same values as [`Kind::score`] row by
    /// row, to the bit. Kinds with a batch kernel (trees) override it.
    fn score_batch(&self, x: &[f64], d: usize, out: &mut [f64], w: usize) {
        for (x, out) in x.chunks_exact(d.max(1)).zip(out.chunks_exact_mut(w)) {
            self.score(x, out);
        }
    }
    /// Checks sizes and indices against `d` features and `w` outputs, so a
    /// hand-edited file fails on load rather than while scoring.
    fn check(&self, d: usize, w: usize) -> Result<(), String>;
    /// One line for `automl inspect`.
    fn summary(&self) -> String;
    /// Every number it holds is finite (JSON can't hold the others: a
    /// model with one could be saved but not loaded).
    fn finite(&self) -> bool;
    /// The tables and the kernel call of the generated module.
    fn lower(&self) -> Lowered;
    /// Writes into `g` the operators that compute [`Kind::score`]'s
    /// outputs for every row of `x` (a `[rows, d]` double value) and
    /// returns the `[rows, w]` value; a kind ONNX's operators can't
    /// express says why.
    fn graph(&self, g: &mut Graph, x: &str, w: usize) -> Result<String, String>;
    /// How its reason codes read: the number of raw outputs its
    /// contributions add up to and the link from them to the prediction;
    /// a kind without exact contributions says why.
    fn explains(&self) -> Result<(usize, Link), String> {
        Err("reason codes are exact for tree ensembles and linear models (and weighted means of those without a link) only".into())
    }
    /// Each encoded feature's exact contribution to the raw outputs for
    /// row `x`: `phi` gets `x.len() + 1` values per raw output (see
    /// [`Kind::explains`]), the expected value last, summing to the raw
    /// output. Only called when `explains` succeeds.
    fn contributions(&self, _x: &[f64], phi: &mut [f64]) {
        phi.fill(f64::NAN);
    }
    /// Records how many of the training rows `x` (`d` values each, as the
    /// kind reads them) reach each tree node; kinds without trees for
    /// reason codes ignore it.
    fn record_cover(&mut self, _x: &[f64], _d: usize) {}
    /// A detector's threshold: scores above it are flagged.
    fn threshold(&self) -> Option<f64> {
        None
    }
    /// Sets a detector's threshold; other kinds refuse.
    fn set_threshold(&mut self, _threshold: f64) -> Result<(), String> {
        Err("not a detector".into())
    }
}

/// The registry: one line per kind (variant, its file and type, the `kind`
/// tag in model.json). Declares the files and generates the `Estimator`
/// enum and its dispatch.
macro_rules! estimators {
    ($($(#[$doc:meta])* $variant:ident($module:ident::$ty:ident) = $tag:literal,)*) => {
        $(mod $module;
        pub use $module::$ty;)*

        /// A fitted estimator, lowered from whichever library fitted it.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum Estimator {
            $($(#[$doc])* #[serde(rename = $tag)] $variant($module::$ty),)*
        }

        impl Estimator {
            /// The kind behind this estimator.
            pub fn as_kind(&self) -> &dyn Kind {
                match self {
                    $(Estimator::$variant(e) => e,)*
                }
            }

            /// The kind behind this estimator, to change it.
            pub fn as_kind_mut(&mut self) -> &mut dyn Kind {
                match self {
                    $(Estimator::$variant(e) => e,)*
                }
            }

            /// Short name of the estimator kind (its tag in model.json).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Estimator::$variant(_) => $tag,)*
                }
            }
        }
    };
}

estimators! {
    /// Decision trees combined by sum (boosting) or mean (forests).
    Trees(trees::TreeEnsemble) = "trees",
    /// A linear function, with a link.
    Linear(linear::Linear) = "linear",
    /// Gaussian naive Bayes.
    NaiveBayes(naive_bayes::NaiveBayes) = "naive_bayes",
    /// k nearest neighbours over stored training rows.
    Neighbors(neighbors::Neighbors) = "neighbors",
    /// k-means centroids (clusters, or distance as an anomaly score).
    Centroids(centroids::Centroids) = "centroids",
    /// A Gaussian mixture (clusters, or low density as an anomaly score).
    Mixture(mixture::Mixture) = "mixture",
    /// DBSCAN core points (clusters with noise).
    CorePoints(core_points::CorePoints) = "core_points",
    /// An isolation forest (anomaly score).
    Isolation(isolation::Isolation) = "isolation",
    /// A weighted mean of supervised members.
    Ensemble(ensemble::Ensemble) = "ensemble",
    /// A multilayer perceptron.
    Network(network::Network) = "network",
    /// An autoencoder (reconstruction error as an anomaly score).
    Autoencoder(autoencoder::Autoencoder) = "autoencoder",
}

impl Estimator {
    /// Writes the prediction for one encoded row into `out`: class
    /// probabilities, one regression value, a cluster (and memberships), or
    /// an anomaly score and flag. `out.len()` is the output width.
    pub fn score(&self, x: &[f64], out: &mut [f64]) {
        self.as_kind().score(x, out);
    }

    /// A detector's threshold.
    pub fn threshold(&self) -> Option<f64> {
        self.as_kind().threshold()
    }

    /// What the outputs mean.
    pub fn shape(&self) -> Shape {
        self.as_kind().shape()
    }

    /// Values `score` writes per row, given the model's class count.
    pub fn width(&self, classes: usize) -> usize {
        self.shape().width(classes)
    }

    /// The ONNX operators computing [`Estimator::score`] for every row of
    /// `x`: the `[rows, width]` value, or why this estimator has no ONNX
    /// form.
    pub fn graph(&self, g: &mut Graph, x: &str, w: usize) -> Result<String, String> {
        self.as_kind()
            .graph(g, x, w)
            .map_err(|e| format!("{} estimator: {e}", self.kind()))
    }

    /// Scores encoded rows (row-major, `d` features), `width` outputs each.
    pub fn score_rows(&self, x: &[f64], d: usize, width: usize) -> Predictions {
        let rows = x.len().checked_div(d).unwrap_or(0);
        let mut outputs = vec![0.0; rows * width];
        self.as_kind().score_batch(x, d, &mut outputs, width);
        Predictions { outputs, width }
    }

    /// Membership probabilities a clusterer writes after the cluster.
    pub fn memberships(&self) -> usize {
        match self.shape() {
            Shape::Cluster { memberships, .. } => memberships,
            _ => 0,
        }
    }

    /// Whether the estimator serves the unsupervised tasks.
    pub fn is_unsupervised(&self) -> bool {
        self.shape() != Shape::Supervised
    }

    /// Checks the structure against `d` features and `w` outputs, and that
    /// every number is finite.
    pub fn check(&self, d: usize, w: usize) -> Result<(), String> {
        let kind = self.as_kind();
        ensure(kind.finite(), || "holds a number that is not finite".into())
            .and_then(|()| kind.check(d, w))
            .map_err(|e| format!("{} estimator: {e}", self.kind()))
    }
}

/// Whether every value is finite.
fn all_finite<'a>(values: impl IntoIterator<Item = &'a f64>) -> bool {
    values.into_iter().all(|v| v.is_finite())
}

/// `Ok` when `ok`, else the error `what`.
fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

/// A link over `raw` outputs must fill exactly the `w` outputs: a sigmoid
/// turns one log-odds into two probabilities, the others keep the count.
fn link_fits(link: Link, raw: usize, w: usize) -> Result<(), String> {
    let ok = match link {
        Link::Sigmoid => raw == 1 && w == 2,
        Link::Identity | Link::Softmax => raw == w,
    };
    ensure(ok, || {
        format!("a {link:?} link over {raw} raw outputs can't give {w} outputs").to_lowercase()
    })
}

/// `, anomaly above score T` for detectors, for summaries.
fn threshold_note(threshold: Option<f64>) -> String {
    threshold.map_or(String::new(), |t| format!(", anomaly above score {t}"))
}

// The kernels' plain enums are serialised through these mirrors, so the
// kernel text stays free of serde.
#[derive(Serialize, Deserialize)]
#[serde(remote = "Link", rename_all = "snake_case")]
enum LinkDef {
    Identity,
    Sigmoid,
    Softmax,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Combine", rename_all = "snake_case")]
enum CombineDef {
    Sum,
    Mean,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Weighting", rename_all = "snake_case")]
enum WeightingDef {
    Uniform,
    Distance,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prep::Scaler;

    /// A depth-two tree on features 0 and 1 adding `width` values at
    /// `output`, its leaves distinct by `scale`.
    fn tree(output: usize, width: usize, rule: Rule, scale: f64) -> Tree {
        let leaf = |v: f64| vec![v * scale; width];
        Tree {
            output,
            width,
            rule,
            feature: vec![0, 1, -1, -1, -1],
            threshold: vec![0.1, -0.3, 0.0, 0.0, 0.0],
            left: vec![1, 3, 0, 0, 0],
            right: vec![2, 4, 0, 0, 0],
            values: [vec![0.0; 2 * width], leaf(0.7), leaf(-0.2), leaf(0.4)].concat(),
            cover: Vec::new(),
        }
    }

    fn boosted() -> Estimator {
        Estimator::Trees(TreeEnsemble {
            base: vec![0.2, -0.1],
            trees: (0..7)
                .map(|t| tree(t % 2, 1, Rule::Less, 1.0 + t as f64))
                .collect(),
            combine: Combine::Sum,
            link: Link::Softmax,
        })
    }

    fn forest() -> Estimator {
        Estimator::Trees(TreeEnsemble {
            base: vec![0.0, 0.0],
            trees: (0..5)
                .map(|t| tree(0, 2, Rule::LessOrEqual, 0.3 * t as f64))
                .collect(),
            combine: Combine::Mean,
            link: Link::Identity,
        })
    }

    #[test]
    fn batches_score_as_rows_do_to_the_bit() {
        let d = 3;
        // 150 rows: two full blocks and a partial one.
        let x: Vec<f64> = (0..150 * d)
            .map(|i| ((i * 37) % 101) as f64 / 50.0 - 1.0)
            .collect();
        let isolation = Estimator::Isolation(Isolation {
            trees: (0..4)
                .map(|t| tree(0, 1, Rule::Less, 2.0 + t as f64))
                .collect(),
            normalizer: 3.1,
            threshold: 0.5,
        });
        let members = vec![
            Member {
                scaled: true,
                estimator: boosted(),
            },
            Member {
                scaled: false,
                estimator: forest(),
            },
        ];
        let scaler = Scaler {
            mean: vec![0.1, -0.2, 0.0],
            scale: vec![2.0, 0.5, 1.0],
        };
        let ensemble = Ensemble::of(vec![0.4, 0.6], members, Some(scaler));
        for (what, e) in [
            ("boosted", boosted()),
            ("forest", forest()),
            ("isolation", isolation),
            ("ensemble", ensemble),
        ] {
            let w = e.width(2);
            let batch = e.score_rows(&x, d, w);
            let mut out = vec![0.0; w];
            for (r, row) in x.chunks(d).enumerate() {
                e.score(row, &mut out);
                let bits = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(batch.row(r)), bits(&out), "{what}, row {r}");
            }
        }
    }
}
