//! Second stage: turn raw input columns into a numeric feature matrix.
//! Imputation, category encoding and scaling are fitted on training rows only
//! and stored in the portable model, so every scorer applies the same steps;
//! the steps themselves are the [`kernels`], which generated code embeds.

pub mod kernels;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::data::cell::{self, parse_flag, NumText, Refusal, Value};
use crate::data::{Column, Table};
use crate::error::{Error, Result};

/// Categorical columns with at most this many levels are one-hot encoded;
/// columns with more get a frequency code (one feature).
pub const ONE_HOT_LEVELS: usize = 20;

/// A text column at least this share of whose present cells are numbers is
/// read as numbers, the other cells as missing (with a note naming them):
/// one stray `abc` or `inf` must not turn a measurement into a category.
pub const MOSTLY_NUMBERS: f64 = 0.95;

/// Fewest training rows missing a column for it to get a missing
/// indicator: a feature that is 1 on one or two rows can only be memorised
/// (one all-missing row then decides every all-missing row's class), and
/// cross-validation can't see it, since the held-out copy of such a row
/// meets a training part without any. Rarer gaps are imputed only.
pub const MIN_MISSING_ROWS: usize = 5;

/// How a column's kind was inferred from its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Every present cell parses as a finite number.
    Numeric,
    /// At least [`MOSTLY_NUMBERS`] of the present cells are numbers; a value
    /// that is not one reads as missing, in training and when scoring.
    MostlyNumeric,
    /// Every present cell is `true` or `false` (any case).
    Boolean,
    /// Anything else: text levels.
    Categorical,
}

impl ColumnKind {
    /// The kind's name, as model.json spells it.
    pub fn name(self) -> &'static str {
        match self {
            ColumnKind::Numeric => "numeric",
            ColumnKind::MostlyNumeric => "mostly_numeric",
            ColumnKind::Boolean => "boolean",
            ColumnKind::Categorical => "categorical",
        }
    }
}

/// How one input column becomes features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Encoding {
    /// The number itself; missing becomes `fill` (the training median).
    Number {
        /// Imputed value.
        fill: f64,
    },
    /// 1 for true, 0 for false; missing becomes `fill` (the training mode).
    Flag {
        /// Imputed value (0 or 1).
        fill: f64,
    },
    /// One feature per level; missing and unseen levels are all zeros.
    OneHot {
        /// Levels, most frequent first.
        levels: Vec<String>,
    },
    /// One feature: the level's share of training rows. Unseen levels get 0,
    /// missing gets the share of missing cells.
    Frequency {
        /// Levels seen in training.
        levels: Vec<String>,
        /// Share of training rows of each level.
        shares: Vec<f64>,
        /// Share of training rows that were missing.
        missing: f64,
    },
}

/// One input column's fitted preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnPrep {
    /// Column name as in the data.
    pub name: String,
    /// Inferred kind.
    pub kind: ColumnKind,
    /// Encoding into features.
    pub encoding: Encoding,
    /// Whether an extra 0/1 feature marks a missing cell (added when at
    /// least [`MIN_MISSING_ROWS`] training rows missed the column).
    pub missing_indicator: bool,
}

/// Standardisation of the feature vector: `(x - mean) / scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// Per-feature mean on training rows.
    pub mean: Vec<f64>,
    /// Per-feature standard deviation on training rows (1 where it was 0).
    pub scale: Vec<f64>,
}

/// The fitted preprocessing of a model: columns in input order, then an
/// optional scaler for the families that need one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prep {
    /// Input columns, in the order a row must list them.
    pub columns: Vec<ColumnPrep>,
    /// Standardisation, applied after encoding when present.
    pub scaler: Option<Scaler>,
    /// Cell texts that mean missing beyond [`cell::MISSING_TOKENS`]
    /// (`automl train --na-values`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_markers: Vec<String>,
}

impl ColumnPrep {
    /// Number of features this column produces.
    pub fn width(&self) -> usize {
        let base = match &self.encoding {
            Encoding::OneHot { levels } => levels.len(),
            _ => 1,
        };
        base + usize::from(self.missing_indicator)
    }

    /// Feature names, for inspection.
    pub fn feature_names(&self) -> Vec<String> {
        let mut out = match &self.encoding {
            Encoding::OneHot { levels } => levels
                .iter()
                .map(|l| format!("{}={l}", self.name))
                .collect(),
            Encoding::Frequency { .. } => vec![format!("{}:frequency", self.name)],
            _ => vec![self.name.clone()],
        };
        if self.missing_indicator {
            out.push(format!("{}:missing", self.name));
        }
        out
    }

    /// Writes this column's features for one value into `out` (of `width()`):
    /// the column's kind reads the value, its encoding writes the features.
    /// `markers` are the model's own missing markers.
    pub fn encode(&self, value: Value<'_>, markers: &[String], out: &mut [f64]) -> Result<()> {
        let indicator = self.missing_indicator;
        let refused = |r: Refusal| self.refuse(value, r);
        match &self.encoding {
            Encoding::Number { fill } if self.kind == ColumnKind::MostlyNumeric => {
                let v = cell::read_number_or_missing(value, markers);
                kernels::number(v, *fill, indicator, out);
            }
            Encoding::Number { fill } => {
                let v = cell::read_number(value, markers).map_err(refused)?;
                kernels::number(v, *fill, indicator, out);
            }
            Encoding::Flag { fill } => {
                let v = cell::read_flag(value, markers).map_err(refused)?;
                kernels::number(v, *fill, indicator, out);
            }
            Encoding::OneHot { levels } => {
                let mut text = NumText::new();
                let level = cell::read_level(value, markers, &mut text);
                kernels::one_hot(level, levels, indicator, out);
            }
            Encoding::Frequency {
                levels,
                shares,
                missing,
            } => {
                let mut text = NumText::new();
                let level = cell::read_level(value, markers, &mut text);
                kernels::frequency(level, levels, shares, *missing, indicator, out);
            }
        }
        Ok(())
    }

    /// The error for a value this column's kind can't read, naming it.
    fn refuse(&self, value: Value<'_>, why: Refusal) -> Error {
        let text = match value {
            Value::Number(x) => format!("{x}"),
            Value::Text(t) => t.trim().to_string(),
            Value::Missing => String::new(),
        };
        Error::Input {
            column: self.name.clone(),
            reason: format!("value '{text}' {}", why.reason()),
        }
    }

    /// The encoding must be one the column's kind reads into.
    fn check(&self) -> std::result::Result<(), String> {
        let fits = matches!(
            (self.kind, &self.encoding),
            (
                ColumnKind::Numeric | ColumnKind::MostlyNumeric,
                Encoding::Number { .. }
            ) | (ColumnKind::Boolean, Encoding::Flag { .. })
                | (
                    ColumnKind::Categorical,
                    Encoding::OneHot { .. } | Encoding::Frequency { .. }
                )
        );
        let (sized, finite) = match &self.encoding {
            Encoding::Frequency {
                levels,
                shares,
                missing,
            } => (
                levels.len() == shares.len(),
                missing.is_finite() && shares.iter().all(|s| s.is_finite()),
            ),
            Encoding::Number { fill } | Encoding::Flag { fill } => (true, fill.is_finite()),
            Encoding::OneHot { .. } => (true, true),
        };
        if fits && sized && finite {
            Ok(())
        } else {
            Err(format!(
                "column '{}': its encoding does not fit a {:?} column",
                self.name, self.kind
            ))
        }
    }
}

impl Prep {
    /// Fits imputation and encodings on `table` (training rows only), and a
    /// scaler on the encoded features.
    pub fn fit(table: &Table) -> Prep {
        Prep::fit_with(table, &Prep::kinds(table))
    }

    /// Each column's kind, decided once on every training row: the folds'
    /// preprocessing then agree on it, and a value that only a held-out
    /// part holds (one `unknown` in a true/false column) is an unseen level
    /// rather than an unreadable value.
    pub fn kinds(table: &Table) -> Vec<ColumnKind> {
        table.columns.iter().map(kind_of).collect()
    }

    /// Fits imputation and encodings on `table` with the columns' `kinds`
    /// given (decided on more rows), and a scaler on the encoded features.
    pub fn fit_with(table: &Table, kinds: &[ColumnKind]) -> Prep {
        let columns: Vec<ColumnPrep> = table
            .names
            .iter()
            .zip(&table.columns)
            .zip(kinds)
            .map(|((name, col), kind)| fit_column(name, col, *kind))
            .collect();
        let mut prep = Prep {
            columns,
            scaler: None,
            missing_markers: table.markers.clone(),
        };
        let (x, d) = prep.encode_table(table).unwrap_or_default();
        prep.scaler = Some(fit_scaler(&x, d));
        prep
    }

    /// Number of encoded features.
    pub fn width(&self) -> usize {
        self.columns.iter().map(ColumnPrep::width).sum()
    }

    /// Names of the encoded features.
    pub fn feature_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .flat_map(ColumnPrep::feature_names)
            .collect()
    }

    /// Encodes every row of `table` (columns matched by name) into a
    /// row-major matrix; returns it with its width. Scaling is not applied.
    pub fn encode_table(&self, table: &Table) -> Result<(Vec<f64>, usize)> {
        let d = self.width();
        let mut x = vec![0.0; table.rows * d];
        let mut offset = 0;
        for prep in &self.columns {
            let Some(col) = table.column(&prep.name) else {
                return Err(Error::Schema(format!(
                    "the data lacks column '{}', which the model needs",
                    prep.name
                )));
            };
            let w = prep.width();
            for r in 0..table.rows {
                let start = r * d + offset;
                prep.encode(
                    col.value(r),
                    &self.missing_markers,
                    &mut x[start..start + w],
                )
                .map_err(|e| at_row(e, r))?;
            }
            offset += w;
        }
        Ok((x, d))
    }

    /// Encodes one row of raw values (in `columns` order) into `out`, scaled
    /// when the model has a scaler.
    pub fn encode_row(&self, values: &[Value<'_>], out: &mut [f64]) -> Result<()> {
        if values.len() != self.columns.len() {
            return Err(Error::Schema(format!(
                "a row has {} values but the model takes {} columns",
                values.len(),
                self.columns.len()
            )));
        }
        let mut offset = 0;
        for (prep, v) in self.columns.iter().zip(values) {
            let w = prep.width();
            prep.encode(*v, &self.missing_markers, &mut out[offset..offset + w])?;
            offset += w;
        }
        self.scale_row(out);
        Ok(())
    }

    /// Applies the scaler, if any, to one encoded row.
    pub fn scale_row(&self, row: &mut [f64]) {
        if let Some(s) = &self.scaler {
            kernels::standardise(row, &s.mean, &s.scale);
        }
    }

    /// Every column's encoding fits its kind, and the scaler the features.
    pub fn check(&self) -> std::result::Result<(), String> {
        self.columns.iter().try_for_each(ColumnPrep::check)?;
        let d = self.width();
        match &self.scaler {
            Some(s) if s.mean.len() != d || s.scale.len() != d => {
                Err("scaler does not match the feature count".into())
            }
            Some(s) if !s.mean.iter().chain(&s.scale).all(|v| v.is_finite()) => {
                Err("scaler holds a number that is not finite".into())
            }
            Some(s) if s.scale.iter().any(|v| *v <= 0.0) => {
                Err("scaler holds a scale that is not positive".into())
            }
            _ => Ok(()),
        }
    }

    /// Applies the scaler, if any, to a row-major matrix of width `d`.
    pub fn scale_matrix(&self, x: &mut [f64], d: usize) {
        if d > 0 {
            x.chunks_mut(d).for_each(|row| self.scale_row(row));
        }
    }
}

fn at_row(e: Error, row: usize) -> Error {
    match e {
        Error::Input { column, reason } => Error::Input {
            column,
            reason: format!("{reason} (data row {})", row + 1),
        },
        other => other,
    }
}

/// Numbers are numeric; text is true/false when every present cell is,
/// mostly numeric when at least [`MOSTLY_NUMBERS`] of them are numbers,
/// else categorical.
fn kind_of(col: &Column) -> ColumnKind {
    match col {
        Column::Numbers(_) => ColumnKind::Numeric,
        Column::Texts(v) if v.iter().flatten().all(|s| parse_flag(s).is_some()) => {
            ColumnKind::Boolean
        }
        Column::Texts(_) if unreadable_numbers(col).is_some() => ColumnKind::MostlyNumeric,
        Column::Texts(_) => ColumnKind::Categorical,
    }
}

/// A text column that is mostly numbers: how many of its present cells are
/// not numbers, of how many present, and the first such cell.
pub fn unreadable_numbers(col: &Column) -> Option<(usize, usize, &str)> {
    let Column::Texts(cells) = col else {
        return None;
    };
    let present = cells.iter().flatten().count();
    let mut bad = cells
        .iter()
        .flatten()
        .filter(|c| cell::parse_number(c).is_none());
    let first = bad.next()?;
    let count = 1 + bad.count();
    let numbers = present - count;
    (numbers as f64 >= MOSTLY_NUMBERS * present as f64).then_some((count, present, first.as_str()))
}

/// Training rows missing in `col` (cells a mostly-numeric column can't
/// read included).
pub fn missing_rows(col: &Column, kind: ColumnKind) -> usize {
    match col {
        Column::Numbers(v) => v.iter().filter(|c| c.is_none()).count(),
        Column::Texts(v) if kind == ColumnKind::MostlyNumeric => v
            .iter()
            .filter(|c| c.as_deref().and_then(cell::parse_number).is_none())
            .count(),
        Column::Texts(v) => v.iter().filter(|c| c.is_none()).count(),
    }
}

fn fit_column(name: &str, col: &Column, kind: ColumnKind) -> ColumnPrep {
    let indicator = missing_rows(col, kind) >= MIN_MISSING_ROWS;
    let (kind, encoding) = match col {
        Column::Numbers(v) => {
            let mut present: Vec<f64> = v.iter().flatten().copied().collect();
            (
                ColumnKind::Numeric,
                Encoding::Number {
                    fill: median(&mut present),
                },
            )
        }
        Column::Texts(v) if kind == ColumnKind::MostlyNumeric => {
            let read: Vec<Option<f64>> = v
                .iter()
                .map(|c| c.as_deref().and_then(cell::parse_number))
                .collect();
            let mut present: Vec<f64> = read.iter().flatten().copied().collect();
            let fill = median(&mut present);
            (kind, Encoding::Number { fill })
        }
        Column::Texts(v) => {
            let present: Vec<&str> = v.iter().flatten().map(String::as_str).collect();
            if kind == ColumnKind::Boolean {
                let ones = present
                    .iter()
                    .filter(|s| parse_flag(s) == Some(1.0))
                    .count();
                let fill = f64::from(u8::from(2 * ones > present.len()));
                (ColumnKind::Boolean, Encoding::Flag { fill })
            } else {
                (ColumnKind::Categorical, encode_levels(&present, v.len()))
            }
        }
    };
    ColumnPrep {
        name: name.to_string(),
        kind,
        encoding,
        missing_indicator: indicator,
    }
}

/// Levels by descending count, ties by name, so encodings are deterministic.
fn encode_levels(present: &[&str], rows: usize) -> Encoding {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    present
        .iter()
        .for_each(|s| *counts.entry(s).or_default() += 1);
    let mut levels: Vec<(&str, usize)> = counts.into_iter().collect();
    levels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if levels.len() <= ONE_HOT_LEVELS {
        return Encoding::OneHot {
            levels: levels.iter().map(|(l, _)| l.to_string()).collect(),
        };
    }
    let n = rows as f64;
    Encoding::Frequency {
        levels: levels.iter().map(|(l, _)| l.to_string()).collect(),
        shares: levels.iter().map(|(_, c)| *c as f64 / n).collect(),
        missing: (rows - present.len()) as f64 / n,
    }
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let m = values.len() / 2;
    if values.len() % 2 == 1 {
        values[m]
    } else if (values[m - 1] + values[m]).is_finite() {
        (values[m - 1] + values[m]) / 2.0
    } else {
        // Two huge values: their sum overflows, their halves do not.
        values[m - 1] / 2.0 + values[m] / 2.0
    }
}

/// Per-feature mean and standard deviation (1 where it is 0). A feature
/// whose values are huge (beyond 1e150, where squares overflow) is
/// computed in units of its largest magnitude, so both stay finite; for
/// other features the unit is 1 and the arithmetic is the plain one.
fn fit_scaler(x: &[f64], d: usize) -> Scaler {
    let n = x.len().checked_div(d).unwrap_or(0);
    let rows = || x.chunks(d.max(1));
    let mut unit = vec![1.0f64; d];
    for row in rows() {
        for (u, v) in unit.iter_mut().zip(row) {
            if v.abs() > 1e150 && v.abs() > *u {
                *u = v.abs();
            }
        }
    }
    let mut mean = vec![0.0; d];
    let mut var = vec![0.0; d];
    for row in rows() {
        for ((m, v), u) in mean.iter_mut().zip(row).zip(&unit) {
            *m += v / u;
        }
    }
    for (m, u) in mean.iter_mut().zip(&unit) {
        *m = *m / n.max(1) as f64 * u;
    }
    for row in rows() {
        for (((s, v), m), u) in var.iter_mut().zip(row).zip(&mean).zip(&unit) {
            // v / u - m / u, not (v - m) / u: the difference of two huge
            // values may overflow. With a unit of 1 both are exact.
            let z = v / u - m / u;
            *s += z * z;
        }
    }
    let scale = var
        .iter()
        .zip(&unit)
        .map(|(s, u)| {
            let sd = ((s / n.max(1) as f64).sqrt() * u).min(f64::MAX);
            if sd > 1e-12 {
                sd
            } else {
                1.0
            }
        })
        .collect();
    Scaler { mean, scale }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1, 5, 3 and five gaps: median 3, with a missing indicator.
    fn gappy_numbers() -> Column {
        let mut cells = vec![Some(1.0), Some(5.0), Some(3.0)];
        cells.extend([None; 5]);
        Column::Numbers(cells)
    }

    fn texts(v: &[Option<&str>]) -> Column {
        Column::Texts(v.iter().map(|c| c.map(str::to_owned)).collect())
    }

    #[test]
    fn unseen_and_missing_levels_encode_as_zeros_with_indicator() {
        let col = texts(&[
            Some("a"),
            Some("b"),
            Some("a"),
            None,
            None,
            None,
            None,
            None,
        ]);
        let prep = fit_column("c", &col, kind_of(&col));
        assert_eq!(prep.width(), 3);
        let mut out = [9.0; 3];
        prep.encode(Value::Text("zzz"), &[], &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0, 0.0]);
        prep.encode(Value::Missing, &[], &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0, 1.0]);
        prep.encode(Value::Text(" b "), &[], &mut out).unwrap();
        assert_eq!(out, [0.0, 1.0, 0.0]);
    }

    /// Five gaps or more get an indicator; fewer are imputed only.
    #[test]
    fn a_missing_indicator_needs_five_missing_rows() {
        for (gaps, width) in [(1, 1), (4, 1), (5, 2)] {
            let mut cells = vec![Some(1.0), Some(2.0)];
            cells.extend(std::iter::repeat_n(None, gaps));
            let col = Column::Numbers(cells);
            assert_eq!(missing_rows(&col, kind_of(&col)), gaps);
            assert_eq!(
                fit_column("x", &col, kind_of(&col)).width(),
                width,
                "{gaps}"
            );
        }
    }

    #[test]
    fn numeric_column_imputes_median_and_refuses_text() {
        let col = gappy_numbers();
        let prep = fit_column("x", &col, kind_of(&col));
        let mut out = [0.0; 2];
        prep.encode(Value::Text("NA"), &[], &mut out).unwrap();
        assert_eq!(out, [3.0, 1.0]);
        let err = prep.encode(Value::Text("abc"), &[], &mut out).unwrap_err();
        assert!(err.to_string().contains("'x'") && err.to_string().contains("abc"));
    }

    #[test]
    fn a_mostly_numeric_column_reads_what_is_not_a_number_as_missing() {
        let mut cells: Vec<Option<String>> = (0..40).map(|i| Some(i.to_string())).collect();
        cells[7] = Some("abc".into());
        cells[9] = Some("inf".into());
        let col = Column::Texts(cells);
        assert_eq!(unreadable_numbers(&col), Some((2, 40, "abc")));
        let prep = fit_column("x", &col, kind_of(&col));
        assert_eq!(prep.kind, ColumnKind::MostlyNumeric);
        assert_eq!(prep.encoding, Encoding::Number { fill: 20.5 });
        // Two unreadable cells are too few for an indicator.
        let mut out = [0.0; 1];
        prep.encode(Value::Text("oops"), &[], &mut out).unwrap();
        assert_eq!(out, [20.5]);
        prep.encode(Value::Text("3.5"), &[], &mut out).unwrap();
        assert_eq!(out, [3.5]);
        // One bad cell in three is not "mostly": the column is categorical.
        let col = texts(&[Some("1"), Some("2"), Some("abc")]);
        assert_eq!(kind_of(&col), ColumnKind::Categorical);
    }

    #[test]
    fn a_model_s_own_markers_are_missing_as_text_and_as_numbers() {
        let col = gappy_numbers();
        let prep = fit_column("x", &col, kind_of(&col));
        let markers = ["-999".to_string()];
        let mut out = [0.0; 2];
        prep.encode(Value::Text(" -999 "), &markers, &mut out)
            .unwrap();
        assert_eq!(out, [3.0, 1.0]);
        prep.encode(Value::Number(-999.0), &markers, &mut out)
            .unwrap();
        assert_eq!(out, [3.0, 1.0]);
        prep.encode(Value::Number(-999.0), &[], &mut out).unwrap();
        assert_eq!(out, [-999.0, 0.0]);
    }

    #[test]
    fn booleans_are_flags() {
        let col = texts(&[Some("True"), Some("false"), Some("TRUE")]);
        let prep = fit_column("b", &col, kind_of(&col));
        assert_eq!(prep.kind, ColumnKind::Boolean);
        let mut out = [0.0];
        prep.encode(Value::Text("False"), &[], &mut out).unwrap();
        assert_eq!(out, [0.0]);
        prep.encode(Value::Missing, &[], &mut out).unwrap();
        assert_eq!(out, [1.0]);
    }

    #[test]
    fn many_levels_get_a_frequency_code() {
        let names: Vec<String> = (0..30).map(|i| format!("l{i}")).collect();
        let mut cells: Vec<Option<&str>> = names.iter().map(|s| Some(s.as_str())).collect();
        cells.push(Some("l0"));
        let col = texts(&cells);
        let prep = fit_column("c", &col, kind_of(&col));
        let mut out = [0.0];
        prep.encode(Value::Text("l0"), &[], &mut out).unwrap();
        assert!((out[0] - 2.0 / 31.0).abs() < 1e-15);
        prep.encode(Value::Text("new"), &[], &mut out).unwrap();
        assert_eq!(out, [0.0]);
    }

    #[test]
    fn huge_values_give_finite_fills_and_scales() {
        assert_eq!(median(&mut [1e308, 1.5e308]), 1.25e308);
        assert_eq!(median(&mut [1.0, 2.0]), 1.5);
        let x = [1e308, -1e308, 1.7e308, 3.0];
        let s = fit_scaler(&x, 1);
        assert!(s.mean[0].is_finite() && s.scale[0].is_finite() && s.scale[0] > 0.0);
        let plain = fit_scaler(&[1.0, 2.0, 3.0, 4.0], 1);
        assert_eq!(plain.mean, [2.5]);
        assert_eq!(plain.scale, [1.25f64.sqrt()]);
    }
}
