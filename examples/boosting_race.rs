//! The booster against LightGBM at equal settings: encodes a train and a
//! test split with automl's own preprocessing, fits the `gbdt` family with
//! the given hyperparameters (median fit time of REPEATS, default 3), and
//! writes for `bench/boosting.py` the encoded rows (`OUT/train.csv`,
//! `OUT/test.csv`, target as a class index or value in the last column)
//! and automl's test predictions (`OUT/automl.csv`). Usage:
//!
//! ```sh
//! cargo run --release --example boosting_race -- TRAIN TEST TARGET OUT iterations=100 max_leaves=31 ...
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use automl::data::{self, Target};
use automl::learners::space::{Param, Params, Range};
use automl::learners::{Cancel, Family, TrainSet};
use automl::prep::Prep;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err("usage: boosting_race TRAIN TEST TARGET OUT [name=value ...]".into());
    }
    let out = PathBuf::from(&args[4]);
    std::fs::create_dir_all(&out)?;
    let train = data::prepare(data::load(Path::new(&args[1]), &[])?, &args[3], &[], None)?;
    let test = data::prepare(
        data::load(Path::new(&args[2]), &[])?,
        &args[3],
        &[],
        Some(train.task),
    )?;
    let prep = Prep::fit(&train.inputs);
    let (x, d) = prep.encode_table(&train.inputs)?;
    let (tx, _) = prep.encode_table(&test.inputs)?;
    let ty = test_target(&train.target, &test.target)?;
    let learner = Family::Gbdt.learner();
    let params = params(learner.space(train.task), &args[5..])?;
    let repeats: usize = std::env::var("REPEATS").map_or(Ok(3), |r| r.parse())?;
    let cancel = Cancel::new();
    let set = TrainSet {
        x: &x,
        n: train.inputs.rows,
        d,
        target: &train.target,
        contamination: None,
        cancel: &cancel,
    };
    let mut seconds = Vec::new();
    let mut model = None;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        model = Some(learner.fit(&set, &params, 1)?);
        seconds.push(started.elapsed().as_secs_f64());
    }
    let model = model.ok_or("no fit ran")?;
    seconds.sort_by(f64::total_cmp);
    let width = train.target.width();
    let mut pred = String::new();
    let mut scores = vec![0.0; width.max(2)];
    for row in tx.chunks(d) {
        model.score(row, &mut scores);
        let shown = if width == 1 {
            &scores[..1]
        } else {
            &scores[..width]
        };
        let line: Vec<String> = shown.iter().map(|v| format!("{v:e}")).collect();
        writeln!(pred, "{}", line.join(","))?;
    }
    std::fs::write(out.join("automl.csv"), pred)?;
    write_rows(&out.join("train.csv"), &x, d, &train_target(&train.target))?;
    write_rows(&out.join("test.csv"), &tx, d, &ty)?;
    println!(
        "{{\"fit_seconds\": {}, \"features\": {d}, \"classes\": {width}}}",
        seconds[seconds.len() / 2]
    );
    Ok(())
}

/// The family's starting point with `name=value` overrides.
fn params(space: Vec<automl::learners::space::Dim>, set: &[String]) -> Result<Params, String> {
    let init: Vec<f64> = space.iter().map(|d| d.init).collect();
    let mut p = Params::decode(&space, &init);
    for pair in set {
        let (name, value) = pair
            .split_once('=')
            .ok_or(format!("not name=value: {pair}"))?;
        let dim = space
            .iter()
            .find(|d| d.name == name)
            .ok_or(format!("no {name}"))?;
        let number = || {
            value
                .parse::<f64>()
                .map_err(|_| format!("not a number: {value}"))
        };
        let param = match dim.range {
            Range::Int { .. } => Param::Int(number()? as i64),
            Range::Float { .. } => Param::Float(number()?),
            Range::Choice(_) => Param::Choice(value.to_string()),
        };
        p.0.insert(name.to_string(), param);
    }
    Ok(p)
}

fn train_target(t: &Target) -> Vec<f64> {
    match t {
        Target::Classes { y, .. } => y.iter().map(|&c| c as f64).collect(),
        Target::Values(v) => v.clone(),
        Target::Unlabelled(n) => vec![0.0; *n],
    }
}

/// The test target in the training labels' numbering.
fn test_target(train: &Target, test: &Target) -> Result<Vec<f64>, String> {
    match (train, test) {
        (Target::Classes { labels, .. }, Target::Classes { labels: tl, y }) => y
            .iter()
            .map(|&c| {
                labels
                    .iter()
                    .position(|l| *l == tl[c])
                    .map(|i| i as f64)
                    .ok_or(format!("test class {} not in training", tl[c]))
            })
            .collect(),
        (_, t) => Ok(train_target(t)),
    }
}

fn write_rows(path: &Path, x: &[f64], d: usize, y: &[f64]) -> std::io::Result<()> {
    let mut text = String::new();
    for (row, target) in x.chunks(d).zip(y) {
        for v in row {
            let _ = write!(text, "{v:e},");
        }
        let _ = writeln!(text, "{target:e}");
    }
    std::fs::write(path, text)
}
