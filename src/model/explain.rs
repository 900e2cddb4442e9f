//! Reason codes: each input column's exact contribution to a model's raw
//! score for one row (TreeSHAP for trees, weight times value for linear
//! models; see [`super::kernels`]). A column's contribution is the sum of
//! its encoded features' (its one-hot levels, its missing indicator), so
//! the contributions plus the expected value add up to the raw score.
//! `automl predict --explain` prints the largest of them; the generated
//! code's `predict_explained` computes the same with the same kernels.

use super::kernels::{self, Link};
use super::Model;
use crate::data::Table;
use crate::error::{Error, Result};

/// One row's reason codes.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The raw output explained (see [`kernels::explained_output`]).
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
        let mut order = vec![0; self.columns.len()];
        kernels::rank_columns(&self.columns, &mut order);
        order
            .into_iter()
            .take(n)
            .map(|c| (c, self.columns[c]))
            .collect()
    }
}

impl Model {
    /// What each raw output's score is, in output order: a class's log-odds
    /// or log-score, a class probability, or the value.
    pub fn explained_names(&self) -> Result<Vec<String>> {
        let (outputs, link) = self.explains()?;
        let class = |c: usize| self.classes.get(c).map_or("", String::as_str);
        Ok((0..outputs)
            .map(|o| match link {
                Link::Sigmoid => format!("log_odds_{}", class(1)),
                Link::Softmax => format!("log_score_{}", class(o)),
                Link::Identity if self.classes.is_empty() => "value".into(),
                Link::Identity => format!("p_{}", class(o)),
            })
            .collect())
    }

    /// The raw outputs the model's reason codes add up to and their link,
    /// or why it has none.
    pub fn explains(&self) -> Result<(usize, Link)> {
        let no = |reason: String| Error::Explain {
            model: self.meta.model_id.clone(),
            reason,
        };
        if !self.task.is_supervised() {
            return Err(no(format!("a {} model has no reason codes", self.task)));
        }
        self.estimator.as_kind().explains().map_err(no)
    }

    /// Features per input column, in input order.
    pub fn column_widths(&self) -> Vec<u32> {
        self.prep.columns.iter().map(|c| c.width() as u32).collect()
    }

    /// Reason codes for every row of `table` (columns matched by name).
    pub fn explain_table(&self, table: &Table) -> Result<Vec<Explanation>> {
        let (outputs, _) = self.explains()?;
        let (mut x, d) = self.prep.encode_table(table)?;
        self.prep.scale_matrix(&mut x, d);
        let pred = self.predict_features(&x, d);
        let widths = self.column_widths();
        let mut phi = vec![0.0; outputs * (d + 1)];
        let kind = self.estimator.as_kind();
        let classes = self.classes.len();
        let rows = x.chunks_exact(d.max(1)).enumerate().map(|(r, row)| {
            kind.contributions(row, &mut phi);
            let output = kernels::explained_output(outputs, classes, pred.row(r));
            let mut columns = vec![0.0; widths.len()];
            let own = &phi[output * (d + 1)..(output + 1) * (d + 1)];
            let (raw, base) = kernels::column_contributions(own, &widths, &mut columns);
            Explanation {
                output,
                raw,
                base,
                columns,
            }
        });
        Ok(rows.collect())
    }
}
