//! The model's drift reference: each input column's training distribution
//! (quantile bins for numbers, the most frequent levels for categories,
//! the missing share) and the distribution of the model's predictions on
//! its training rows. Fitted when the final model is assembled and saved
//! in model.json; a Kafka consumer compares the records it scores against
//! it (population stability index, `model/psi.rs`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::psi;
use super::{argmax, Predictions};
use crate::data::cell::{self, NumText};
use crate::data::{Table, Task, Value};
use crate::prep::{ColumnKind, ColumnPrep, Prep};

/// Quantile bins of a numeric distribution (deciles, fewer when values
/// repeat).
const QUANTILE_BINS: usize = 10;
/// Most levels of a categorical column with a bin of their own; the rest
/// share one.
const MAX_LEVELS: usize = 20;
/// Most training rows whose predictions make the reference (evenly spread),
/// so a slow scorer (kNN) can't stall the end of training.
const MAX_PREDICTED_ROWS: usize = 20_000;

/// The training distributions a live stream is compared against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Each input column's distribution, in input order.
    pub columns: Vec<Distribution>,
    /// The predictions' distribution: the class index, cluster, value or
    /// anomaly score read as a number.
    pub prediction: Distribution,
    /// Training rows the predictions' distribution was measured on.
    pub predicted_rows: usize,
}

/// One distribution: its bins and the training share of each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// The column (or `prediction`).
    pub name: String,
    /// How a value finds its bin.
    pub bins: Bins,
    /// Training share of each bin, the missing values' last.
    pub shares: Vec<f64>,
}

/// How values are binned (see [`psi::number_bin`] and [`psi::level_bin`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Bins {
    /// Numbers, by ascending upper edges (one bin more than edges).
    Numbers {
        /// Upper edges.
        edges: Vec<f64>,
    },
    /// Levels, each its own bin, then one for any other level.
    Levels {
        /// The levels.
        levels: Vec<String>,
    },
}

impl Bins {
    /// Bins including the missing one.
    pub fn width(&self) -> usize {
        match self {
            Bins::Numbers { edges } => edges.len() + 2,
            Bins::Levels { levels } => levels.len() + 2,
        }
    }
}

impl Reference {
    /// The reference of a model with preprocessing `prep` trained on
    /// `table`, whose predictions on (up to [`MAX_PREDICTED_ROWS`] of) its
    /// rows come from `predict` given row numbers.
    pub fn fit(
        table: &Table,
        prep: &Prep,
        task: Task,
        classes: usize,
        predict: impl FnOnce(&[usize]) -> Predictions,
    ) -> Reference {
        let columns = prep
            .columns
            .iter()
            .map(|c| column(table, c, &prep.missing_markers))
            .collect();
        let step = table.rows.div_ceil(MAX_PREDICTED_ROWS).max(1);
        let rows: Vec<usize> = (0..table.rows).step_by(step).collect();
        let predictions = predict(&rows);
        let readings: Vec<Option<f64>> = (0..predictions.rows())
            .map(|r| prediction_reading(task, predictions.row(r)))
            .collect();
        let edges = match task {
            Task::Binary | Task::Multiclass => {
                (0..classes.saturating_sub(1)).map(|i| i as f64).collect()
            }
            Task::Cluster => distinct_below_max(&readings),
            Task::Regression | Task::Anomaly => quantile_edges(&readings),
        };
        Reference {
            columns,
            prediction: numbers("prediction", edges, &readings),
            predicted_rows: rows.len(),
        }
    }

    /// Structural checks for a loaded model: one distribution per input
    /// column, shares sized to the bins and finite.
    pub fn check(&self, prep: &Prep) -> std::result::Result<(), String> {
        if self.columns.len() != prep.columns.len() {
            return Err("the drift reference lists other columns than the model".into());
        }
        let all = self.columns.iter().chain(std::iter::once(&self.prediction));
        for (d, c) in all.zip(prep.columns.iter().map(Some).chain([None])) {
            // Levels for a categorical column, numbers for the rest.
            let categorical = c.is_some_and(|c| c.kind == ColumnKind::Categorical);
            let kind_fits = categorical == matches!(d.bins, Bins::Levels { .. });
            let sized = d.shares.len() == d.bins.width() && d.bins.width() <= usize::from(u16::MAX);
            if !kind_fits || !sized || !d.shares.iter().all(|s| s.is_finite()) {
                return Err(format!("drift reference of '{}' is malformed", d.name));
            }
        }
        Ok(())
    }

    /// Every distribution, the input columns' then the predictions'.
    pub fn series(&self) -> impl Iterator<Item = &Distribution> {
        self.columns.iter().chain(std::iter::once(&self.prediction))
    }
}

/// The bin of one input value of column `c` in its distribution `bins`,
/// read as the column's kind reads it (a value it refuses counts as
/// missing; such a record is not scored anyway).
pub fn column_bin(c: &ColumnPrep, bins: &Bins, v: Value<'_>, markers: &[String]) -> usize {
    match bins {
        Bins::Numbers { edges } => psi::number_bin(number(c, v, markers), edges),
        Bins::Levels { levels } => {
            let mut text = NumText::new();
            psi::level_bin(cell::read_level(v, markers, &mut text), levels)
        }
    }
}

/// What a prediction's distribution bins: the class index, the cluster
/// (missing for noise), the value or the anomaly score.
pub fn prediction_reading(task: Task, row: &[f64]) -> Option<f64> {
    match task {
        Task::Binary | Task::Multiclass => Some(argmax(row) as f64),
        Task::Cluster => Some(row[0]).filter(|c| *c >= 0.0),
        Task::Regression | Task::Anomaly => Some(row[0]).filter(|x| x.is_finite()),
    }
}

/// A column's training distribution.
fn column(table: &Table, c: &ColumnPrep, markers: &[String]) -> Distribution {
    let values = |f: &mut dyn FnMut(Value<'_>)| {
        if let Some(col) = table.column(&c.name) {
            (0..table.rows).for_each(|r| f(col.value(r)));
        }
    };
    let bins = if c.kind == ColumnKind::Categorical {
        let mut seen: HashMap<String, usize> = HashMap::new();
        values(&mut |v| {
            let mut text = NumText::new();
            if let Some(l) = cell::read_level(v, markers, &mut text) {
                match seen.get_mut(l) {
                    Some(n) => *n += 1,
                    None => {
                        seen.insert(l.to_string(), 1);
                    }
                }
            }
        });
        let mut counts: Vec<(String, usize)> = seen.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts.truncate(MAX_LEVELS);
        Bins::Levels {
            levels: counts.into_iter().map(|(l, _)| l).collect(),
        }
    } else {
        let mut readings = Vec::with_capacity(table.rows);
        values(&mut |v| readings.push(number(c, v, markers)));
        Bins::Numbers {
            edges: quantile_edges(&readings),
        }
    };
    let mut counts = vec![0u64; bins.width()];
    values(&mut |v| counts[column_bin(c, &bins, v, markers)] += 1);
    Distribution {
        name: c.name.clone(),
        shares: shares(&counts),
        bins,
    }
}

/// A numeric or true/false column's reading of a value, `None` when
/// missing or refused.
fn number(c: &ColumnPrep, v: Value<'_>, markers: &[String]) -> Option<f64> {
    match c.kind {
        ColumnKind::Boolean => cell::read_flag(v, markers).ok().flatten(),
        _ => cell::read_number_or_missing(v, markers),
    }
}

/// The distribution of numeric `readings` over `edges`.
fn numbers(name: &str, edges: Vec<f64>, readings: &[Option<f64>]) -> Distribution {
    let mut counts = vec![0u64; edges.len() + 2];
    for r in readings {
        counts[psi::number_bin(*r, &edges)] += 1;
    }
    Distribution {
        name: name.to_string(),
        bins: Bins::Numbers { edges },
        shares: shares(&counts),
    }
}

fn shares(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|&c| {
            if total == 0 {
                0.0
            } else {
                c as f64 / total as f64
            }
        })
        .collect()
}

/// Upper edges of the deciles of the present readings, each once and all
/// below the largest value (so no bin is empty by construction).
fn quantile_edges(readings: &[Option<f64>]) -> Vec<f64> {
    let mut v: Vec<f64> = readings.iter().flatten().copied().collect();
    v.sort_by(f64::total_cmp);
    let Some(&max) = v.last() else {
        return Vec::new();
    };
    let mut edges: Vec<f64> = Vec::new();
    for k in 1..QUANTILE_BINS {
        let e = v[(k * v.len()).div_ceil(QUANTILE_BINS) - 1];
        if e < max && edges.last() != Some(&e) {
            edges.push(e);
        }
    }
    edges
}

/// Every distinct present reading but the largest: one bin per value.
fn distinct_below_max(readings: &[Option<f64>]) -> Vec<f64> {
    let mut v: Vec<f64> = readings.iter().flatten().copied().collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v.pop();
    v
}

#[cfg(test)]
mod tests {
    use super::psi::{level_bin, number_bin, psi, Window};
    use super::*;
    use crate::data::Column;
    use crate::model::Predictions;

    #[test]
    fn numbers_fall_in_the_bin_whose_upper_edge_holds_them() {
        let edges = [1.0, 2.0, 5.0];
        let bins: Vec<usize> = [0.5, 1.0, 1.5, 2.0, 5.0, 9.0]
            .iter()
            .map(|x| number_bin(Some(*x), &edges))
            .collect();
        assert_eq!(bins, [0, 0, 1, 1, 2, 3]);
        assert_eq!(number_bin(None, &edges), 4);
        assert_eq!(number_bin(Some(3.0), &[]), 0);
    }

    #[test]
    fn other_and_missing_levels_have_bins_of_their_own() {
        let levels = ["a", "b"];
        assert_eq!(level_bin(Some("b"), &levels), 1);
        assert_eq!(level_bin(Some("z"), &levels), 2);
        assert_eq!(level_bin(None, &levels), 3);
    }

    #[test]
    fn psi_is_zero_for_the_same_shares_and_grows_with_a_shift() {
        let expected = [0.25, 0.25, 0.5, 0.0];
        assert!(psi(&[25, 25, 50, 0], &expected).abs() < 1e-12);
        let small = psi(&[27, 24, 49, 0], &expected);
        let large = psi(&[5, 15, 80, 0], &expected);
        assert!(small > 0.0 && small < 0.01, "{small}");
        assert!(large > 0.25, "{large}");
        assert_eq!(psi(&[0, 0, 0, 0], &expected), 0.0);
    }

    #[test]
    fn a_full_window_counts_only_its_last_rows() {
        let mut w = Window::new(&[3, 2], 2);
        w.push(&[0, 1]);
        w.push(&[2, 1]);
        w.push(&[2, 0]);
        assert_eq!(w.len(), 2);
        assert_eq!(w.counts(0), [0, 0, 2]);
        assert_eq!(w.counts(1), [1, 1]);
        assert!(w.psi(0, &[0.0, 0.0, 1.0]).abs() < 1e-12);
    }

    #[test]
    fn deciles_skip_repeated_values_and_the_maximum() {
        let r: Vec<Option<f64>> = (1..=100).map(|i| Some(f64::from(i))).collect();
        let edges = quantile_edges(&r);
        assert_eq!(
            edges,
            [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
        );
        let mostly_zero: Vec<Option<f64>> = (0..100)
            .map(|i| Some(if i < 95 { 0.0 } else { 7.0 }))
            .chain([None])
            .collect();
        assert_eq!(quantile_edges(&mostly_zero), [0.0]);
    }

    #[test]
    fn training_rows_fill_their_own_reference_and_the_missing_share() {
        let x: Vec<Option<f64>> = (0..200)
            .map(|i| (i % 10 != 0).then_some(f64::from(i)))
            .collect();
        let k: Vec<Option<String>> = (0..200).map(|i| Some(format!("l{}", i % 25))).collect();
        let table = Table {
            names: vec!["x".into(), "k".into()],
            columns: vec![Column::Numbers(x), Column::Texts(k)],
            rows: 200,
            markers: Vec::new(),
        };
        let prep = Prep::fit(&table);
        let constant = |rows: &[usize]| Predictions {
            outputs: vec![1.5; rows.len()],
            width: 1,
        };
        let r = Reference::fit(&table, &prep, Task::Regression, 0, constant);
        r.check(&prep).unwrap();
        let x = &r.columns[0];
        assert!((x.shares[x.shares.len() - 1] - 0.1).abs() < 1e-12);
        assert!((x.shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let Bins::Levels { levels } = &r.columns[1].bins else {
            panic!("a text column has levels")
        };
        assert_eq!(levels.len(), MAX_LEVELS);
        // The 5 levels beyond the 20 kept share the "other" bin.
        assert!((r.columns[1].shares[MAX_LEVELS] - 5.0 * 8.0 / 200.0).abs() < 1e-12);
        assert_eq!(r.prediction.shares, [1.0, 0.0]);
        let mut window = Window::new(&[x.bins.width()], 1000);
        for row in 0..table.rows {
            let v = table.columns[0].value(row);
            window.push(&[column_bin(&prep.columns[0], &x.bins, v, &[]) as u16]);
        }
        assert!(window.psi(0, &x.shares).abs() < 1e-12);
    }
}
