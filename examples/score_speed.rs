//! Times the portable model's own scorer on every row of a file, one row at
//! a time (`Model::predict_row`) and all rows in one batch
//! (`Model::predict_table`, as `automl predict` scores); prints both,
//! nanoseconds per row. Used by `bench/codegen.sh` to compare with the
//! generated Rust. With `--encode OUT`, writes the rows encoded (and
//! scaled) as the estimator reads them to OUT as CSV instead, and the
//! estimator's outputs for them to `OUT.outputs.csv`, for the tree
//! compilers and LightGBM that `bench/inference.sh` compares. Usage:
//!
//! ```sh
//! cargo run --release --example score_speed -- model.json data.csv REPEATS
//! cargo run --release --example score_speed -- model.json data.csv --encode OUT
//! ```

use std::hint::black_box;
use std::time::Instant;

use automl::{data, Model, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: score_speed MODEL DATA (REPEATS | --encode OUT)".into());
    }
    let model = Model::load(&args[1])?;
    let table = data::load(std::path::Path::new(&args[2]), &model.prep.missing_markers)?;
    if args[3] == "--encode" {
        let out = args.get(4).ok_or("--encode needs a file")?;
        let (mut x, d) = model.prep.encode_table(&table)?;
        model.prep.scale_matrix(&mut x, d);
        let outputs = model.predict_features(&x, d);
        std::fs::write(out, csv(&x, d))?;
        std::fs::write(
            format!("{out}.outputs.csv"),
            csv(&outputs.outputs, outputs.width),
        )?;
        return Ok(());
    }
    let repeats: usize = args[3].parse()?;
    let columns: Vec<&data::Column> = model
        .input_columns()
        .iter()
        .map(|c| table.column(c).ok_or(format!("no column {c}")))
        .collect::<Result<_, _>>()?;
    let rows: Vec<Vec<Value<'_>>> = (0..table.rows)
        .map(|r| columns.iter().map(|c| c.value(r)).collect())
        .collect();
    let started = Instant::now();
    for _ in 0..repeats {
        for row in &rows {
            black_box(model.predict_row(black_box(row))?);
        }
    }
    let per_row = |t: Instant| t.elapsed().as_nanos() as f64 / (repeats * rows.len()) as f64;
    let single = per_row(started);
    let started = Instant::now();
    for _ in 0..repeats {
        black_box(model.predict_table(black_box(&table))?);
    }
    println!("{single:.1} {:.1}", per_row(started));
    Ok(())
}

/// Rows of `d` values as CSV lines, each value to the bit.
fn csv(values: &[f64], d: usize) -> String {
    let lines: Vec<String> = values
        .chunks(d.max(1))
        .map(|r| {
            r.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    lines.join("\n") + "\n"
}
