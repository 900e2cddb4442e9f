//! Reason codes: each input column's exact contribution to a model's raw
//! score for one row (TreeSHAP for trees, weight times value for linear
//! models; see [`super::kernels`]). A column's contribution is the sum of
//! its encoded features' (its one-hot levels, its missing indicator), so
//! the contributions plus the expected value add up to the raw score.
//! `automl predict --explain` prints the largest of them.

use super::kernels::{argmax, Link};
use super::Model;
use crate::data::Table;
use crate::error::{Error, Result};

/// One row's reason codes.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The raw output explained: the only one (a value, or the log-odds of
    /// the second class), the second class's probability for a binary
    /// model with one per class, else the predicted class's.
    pub output: usize,
    /// The raw score: `base` plus every contribution.
    pub raw: f64,
    /// The expected raw score over the training rows.
    pub base: f64,
    /// Each input column's contribution, in input order.
    pub columns: Vec<f64>,
}

impl Explanation {
    /// The `n` input columns with the largest contributions by size
    /// (ties to the earlier column), with their contributions.
    pub fn top(&self, n: usize) -> Vec<(usize, f64)> {
        let mut order: Vec<usize> = (0..self.columns.len()).collect();
        order.sort_by(|&a, &b| {
            self.columns[b]
                .abs()
                .total_cmp(&self.columns[a].abs())
                .then(a.cmp(&b))
        });
        order
            .into_iter()
            .take(n)
            .map(|c| (c, self.columns[c]))
            .collect()
    }
}

impl Model {
    /// What the explained raw score is for output `output`: a class's
    /// log-odds or log-score, a class probability, or the value.
    pub fn explained_name(&self, output: usize) -> Result<String> {
        let (_, link) = self.explains()?;
        Ok(match link {
            Link::Sigmoid => format!(
                "log_odds_{}",
                self.classes.get(1).map_or("", String::as_str)
            ),
            Link::Softmax => format!(
                "log_score_{}",
                self.classes.get(output).map_or("", String::as_str)
            ),
            Link::Identity if self.classes.is_empty() => "value".into(),
            Link::Identity => format!("p_{}", self.classes.get(output).map_or("", String::as_str)),
        })
    }

    /// The raw outputs the model's reason codes add up to and their link,
    /// or why it has none.
    fn explains(&self) -> Result<(usize, Link)> {
        let no = |reason: String| Error::Explain {
            model: self.meta.model_id.clone(),
            reason,
        };
        if !self.task.is_supervised() {
            return Err(no(format!("a {} model has no reason codes", self.task)));
        }
        self.estimator.as_kind().explains().map_err(no)
    }

    /// Reason codes for every row of `table` (columns matched by name).
    pub fn explain_table(&self, table: &Table) -> Result<Vec<Explanation>> {
        let (outputs, _) = self.explains()?;
        let (mut x, d) = self.prep.encode_table(table)?;
        self.prep.scale_matrix(&mut x, d);
        let pred = self.predict_features(&x, d);
        let widths: Vec<usize> = self.prep.columns.iter().map(|c| c.width()).collect();
        let mut phi = vec![0.0; outputs * (d + 1)];
        let kind = self.estimator.as_kind();
        let rows = x.chunks_exact(d.max(1)).enumerate().map(|(r, row)| {
            kind.contributions(row, &mut phi);
            let output = match outputs {
                1 => 0,
                2 if self.classes.len() == 2 => 1,
                _ => argmax(pred.row(r)),
            };
            explanation(
                &phi[output * (d + 1)..(output + 1) * (d + 1)],
                &widths,
                output,
            )
        });
        Ok(rows.collect())
    }
}

/// One output's feature contributions (`d` then the expected value)
/// summed per input column of `widths` features.
fn explanation(phi: &[f64], widths: &[usize], output: usize) -> Explanation {
    let (features, base) = phi.split_at(phi.len() - 1);
    let mut at = 0;
    let columns: Vec<f64> = widths
        .iter()
        .map(|w| {
            at += w;
            features[at - w..at].iter().sum()
        })
        .collect();
    Explanation {
        output,
        raw: base[0] + features.iter().sum::<f64>(),
        base: base[0],
        columns,
    }
}
