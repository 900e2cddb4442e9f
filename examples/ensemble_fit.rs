//! Refit or first-fold models for a winning ensemble? Runs a seeded search
//! of N trials as `automl train --max-trials N` does, then saves the winner
//! twice: refit on all rows (`OUT/refit.json`) and as its first-fold
//! models (`OUT/first_fold.json`), printing how long each took. Score both
//! with `automl predict` on a test split. Usage:
//!
//! ```sh
//! cargo run --release --example ensemble_fit -- DATA TARGET TRIALS OUT
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use automl::leaderboard::Leaderboard;
use automl::search::{self, cv, Budget, SearchConfig};
use automl::train::{final_model, Plan, TrainSettings};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: ensemble_fit DATA TARGET TRIALS OUT".into());
    }
    let trials: usize = args[3].parse()?;
    let out = PathBuf::from(&args[4]);
    std::fs::create_dir_all(&out)?;
    let settings = TrainSettings {
        max_trials: Some(trials),
        time_budget: None,
        ..TrainSettings::new(&args[1], &args[2])
    }
    .validate()?;
    let plan = Plan::new(&settings)?;
    let folds = Arc::new(cv::encode_folds(&plan.dataset, &plan.held_out)?);
    let budget = Budget::new(Instant::now(), None, Some(trials));
    let config = SearchConfig {
        families: plan.families.clone(),
        metric: plan.metric,
        seed: settings.seed,
        budget: budget.clone(),
        contamination: None,
        ensemble: true,
        replay: Vec::new(),
    };
    let mut outcome = search::run(&plan.dataset, Arc::clone(&folds), &config, &mut |_| {});
    let (task, labelled) = (plan.dataset.task, plan.dataset.labelled());
    let board = Leaderboard::new(task, plan.metric, labelled, &outcome.trials);
    let best = final_model::winner(&outcome.trials, &board, &budget)?.clone();
    let meta = final_model::meta(&plan.dataset, &best, plan.metric, settings.seed);
    let data = Arc::new(plan.dataset);
    for (name, refit) in [("refit", true), ("first_fold", false)] {
        outcome.refit_fits = refit;
        let started = Instant::now();
        let fitted = final_model::final_model(
            &data,
            &best,
            &outcome,
            &folds[0],
            meta.clone(),
            &budget,
            None,
        )?;
        let seconds = started.elapsed().as_secs_f64();
        fitted.model.save(&out.join(format!("{name}.json")))?;
        println!(
            "{name}: {} ({}) in {seconds:.2} s",
            best.model_id, fitted.fit
        );
    }
    Ok(())
}
