//! The drift part of a generated module (for the Kafka consumer): the
//! model's drift reference (`model/drift.rs`) as static tables, and
//! `drift_bins`, which bins a scored row's input values and prediction
//! with the crate's own drift kernels (`model/psi.rs`, embedded) after
//! each column's own reader — as `drift::column_bin` does when training
//! fits the reference.

use std::fmt::Write as _;

use super::rust::{float, list, lit};
use crate::model::drift::{Bins, Distribution};
use crate::model::Model;
use crate::prep::ColumnKind;

/// The drift items: series names, bin widths, training shares, each
/// series' edges or levels, and `drift_bins`. A model without a reference
/// gets no series (the consumer then refuses `--drift-seconds`).
pub fn items(model: &Model) -> String {
    let n = model.prep.columns.len();
    let series: Vec<&Distribution> = model.drift.iter().flat_map(|r| r.series()).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/// What drift monitoring compares with training: each input column, then\n/// the prediction (empty when the model has no drift reference).\npub const DRIFT_SERIES: [&str; {}] = [{}];",
        series.len(),
        list(series.iter().map(|d| lit(&d.name)))
    );
    let widths: Vec<String> = series.iter().map(|d| d.bins.width().to_string()).collect();
    let _ = writeln!(
        out,
        "/// Bins of each series, its missing values' last.\npub const DRIFT_WIDTHS: [usize; {}] = [{}];",
        series.len(),
        widths.join(", ")
    );
    let shares: Vec<f64> = series
        .iter()
        .flat_map(|d| d.shares.iter().copied())
        .collect();
    let _ = writeln!(
        out,
        "/// Training share of every bin, series after series.\npub static DRIFT_SHARES: [f64; {}] = [{}];",
        shares.len(),
        list(shares.iter().map(|s| float(*s)))
    );
    for (i, d) in series.iter().enumerate() {
        let _ = match &d.bins {
            Bins::Numbers { edges } => writeln!(
                out,
                "static DRIFT_EDGES_{i}: [f64; {}] = [{}];",
                edges.len(),
                list(edges.iter().map(|e| float(*e)))
            ),
            Bins::Levels { levels } => writeln!(
                out,
                "static DRIFT_LEVELS_{i}: [&str; {}] = [{}];",
                levels.len(),
                list(levels.iter().map(|l| lit(l)))
            ),
        };
    }
    let _ = write!(
        out,
        "\n/// Each series' bin for a scored row: its input values, then its\n/// prediction.\npub fn drift_bins(values: &[Value<'_>; {n}], p: &Prediction, bins: &mut [u16; {}]) {{\n",
        series.len()
    );
    if series.is_empty() {
        out.push_str("    let _ = (values, p, bins);\n");
    }
    for (i, d) in series.iter().enumerate() {
        out.push_str(&bin_line(model, i, d));
    }
    out.push_str("}\n");
    out
}

/// `bins[i] = …;` for series `i`: the column's reader and the kernel of
/// its bins (the prediction's reading for the last series).
fn bin_line(model: &Model, i: usize, d: &Distribution) -> String {
    let reading = match model.prep.columns.get(i).map(|c| c.kind) {
        None => "p.drift_reading()".to_string(),
        Some(ColumnKind::Boolean) => {
            format!("cell::read_flag(values[{i}], &MISSING).ok().flatten()")
        }
        Some(ColumnKind::Categorical) => {
            format!("cell::read_level(values[{i}], &MISSING, &mut cell::NumText::new())")
        }
        Some(_) => format!("cell::read_number_or_missing(values[{i}], &MISSING)"),
    };
    match &d.bins {
        Bins::Numbers { .. } => {
            format!("    bins[{i}] = psi::number_bin({reading}, &DRIFT_EDGES_{i}) as u16;\n")
        }
        Bins::Levels { .. } => {
            format!("    bins[{i}] = psi::level_bin({reading}, &DRIFT_LEVELS_{i}) as u16;\n")
        }
    }
}
