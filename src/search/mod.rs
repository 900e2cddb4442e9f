//! Third stage: the budgeted search. It picks which family and which
//! configuration to try next, refuses to start a trial that can't finish in
//! the time left (estimated from earlier trials and the data size), runs
//! cross-validation and records every trial — including failures — for the
//! leaderboard.

pub mod cv;
pub mod strategy;

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::data::Dataset;
use crate::learners::space::Params;
use crate::learners::Family;
use crate::metrics::Metric;
use crate::model::Estimator;
use cv::{cross_validate, Fold, FoldError, FoldScore, TrialSpec};
use strategy::FamilyState;

/// Seconds reserved at the end for writing outputs, beyond the refit.
pub const WRITE_RESERVE: f64 = 0.25;
/// Estimates are multiplied by this before they are compared with the time
/// left: fits vary from run to run and the budget is a contract.
pub const SAFETY: f64 = 1.5;
/// The largest share of the budget held back for refitting the winner.
const MAX_REFIT_SHARE: f64 = 0.25;
/// Seconds per cost unit assumed for a family that has not run yet.
const PRIOR_RATE: f64 = 2e-9;

/// When the search must stop.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// When the command started (loading counts against the budget).
    pub start: Instant,
    /// Wall-clock seconds for the whole command, if limited.
    pub seconds: Option<f64>,
    /// Trials to run at most, if limited.
    pub max_trials: Option<usize>,
}

impl Budget {
    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Seconds left (infinite without a time limit).
    pub fn remaining(&self) -> f64 {
        self.seconds.map_or(f64::INFINITY, |s| s - self.elapsed())
    }

    /// The instant the budget ends, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline_before(0.0)
    }

    /// The instant `margin` seconds before the budget ends, if any.
    pub fn deadline_before(&self, margin: f64) -> Option<Instant> {
        self.seconds
            .map(|s| self.start + Duration::from_secs_f64((s - margin).max(0.0)))
    }
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Scored on every fold.
    Ok,
    /// The learner failed; the message says why.
    Failed(String),
    /// Not run, or stopped, because the time budget would not allow it.
    Skipped(String),
}

impl Status {
    /// Short text for tables: `ok`, `failed: …`, `skipped: …`.
    pub fn describe(&self) -> String {
        match self {
            Status::Ok => "ok".into(),
            Status::Failed(e) => format!("failed: {e}"),
            Status::Skipped(e) => format!("skipped: {e}"),
        }
    }
}

/// One trial of the search: a family, a configuration, and how it scored.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// Order in which the trial ran (1-based).
    pub number: usize,
    /// Identifier, `family-number`.
    pub model_id: String,
    /// Learner family.
    pub family: Family,
    /// Hyperparameters.
    pub params: Params,
    /// Outcome.
    pub status: Status,
    /// Mean over folds of each reported metric (empty unless ok).
    pub metrics: Vec<(Metric, f64)>,
    /// Standard deviation over folds of the primary metric.
    pub primary_std: f64,
    /// Seconds spent fitting, summed over folds.
    pub fit_seconds: f64,
    /// Microseconds to score one row.
    pub predict_us_per_row: f64,
    /// Size of the lowered model (JSON bytes).
    pub model_bytes: usize,
    /// Seed the learner was given.
    pub seed: u64,
}

impl Trial {
    /// Value of `metric`, if scored.
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, v)| *v)
    }
}

/// What the search reports while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// A trial finished (or was skipped); `best` is the leader so far.
    Trial {
        /// The trial.
        trial: &'a Trial,
        /// The best trial so far.
        best: Option<&'a Trial>,
    },
}

/// Search settings.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Families to try.
    pub families: Vec<Family>,
    /// Primary metric.
    pub metric: Metric,
    /// Seed.
    pub seed: u64,
    /// Budget.
    pub budget: Budget,
    /// Share of rows a detector flags (anomaly detection only).
    pub contamination: Option<f64>,
}

/// The search's result: every trial, in run order.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// All trials.
    pub trials: Vec<Trial>,
    /// The best trial's model from the first fold, as it was scored.
    pub best_fold_model: Option<Estimator>,
    /// Estimated seconds to refit the best trial on all rows.
    pub refit_seconds: Option<f64>,
}

struct Context<'a> {
    data: &'a Dataset,
    folds: Arc<Vec<Fold>>,
    config: &'a SearchConfig,
    metrics: Vec<Metric>,
    n_train: usize,
    d: usize,
    rates: Vec<Option<f64>>,
    trials: Vec<Trial>,
    best: Option<usize>,
    best_fold_model: Option<Estimator>,
    out_of_time: bool,
}

/// Runs the search over `folds` of `data` until the budget ends or every
/// family is exhausted.
pub fn run(
    data: &Dataset,
    folds: Arc<Vec<Fold>>,
    config: &SearchConfig,
    on_event: &mut dyn FnMut(Event<'_>),
) -> SearchOutcome {
    let mut states: Vec<FamilyState> = config
        .families
        .iter()
        .map(|&f| FamilyState::new(f, f.learner().space(data.task), config.seed))
        .collect();
    let mut ctx = Context {
        data,
        config,
        metrics: ordered_metrics(data, config.metric),
        n_train: folds.first().map_or(0, |f| f.train.n),
        d: folds.first().map_or(0, |f| f.train.d),
        folds,
        rates: vec![None; Family::ALL.len()],
        trials: Vec::new(),
        best: None,
        best_fold_model: None,
        out_of_time: false,
    };
    let mut started = 0;
    while !ctx.out_of_time && config.budget.max_trials.is_none_or(|m| started < m) {
        let Some(pick) = ctx.choose(&mut states) else {
            ctx.skip_unaffordable(&mut states, on_event);
            break;
        };
        let (point, params) = match states[pick].take() {
            Some(taken) => taken,
            None => continue,
        };
        started += 1;
        let cost = ctx.cost(states[pick].family, &params);
        let (trial, model) = ctx.run_trial(states[pick].family, params, started);
        let loss = trial
            .metric(config.metric)
            .map_or(f64::INFINITY, |v| config.metric.loss(v));
        states[pick].record(point, loss, cost);
        ctx.push(trial, model, on_event);
    }
    let refit_seconds = ctx.best.map(|b| {
        let t = &ctx.trials[b];
        ctx.reserve(t.family, &t.params) - WRITE_RESERVE
    });
    SearchOutcome {
        trials: ctx.trials,
        best_fold_model: ctx.best_fold_model,
        refit_seconds,
    }
}

/// The primary metric first, then the task's others.
fn ordered_metrics(data: &Dataset, primary: Metric) -> Vec<Metric> {
    let mut out = vec![primary];
    out.extend(
        Metric::all_for(data.task, data.labelled())
            .iter()
            .filter(|m| **m != primary),
    );
    out
}

impl Context<'_> {
    fn cost(&self, family: Family, params: &Params) -> f64 {
        family
            .learner()
            .cost(params, self.n_train, self.d, self.data.target.width())
            * self.folds.len() as f64
    }

    /// Seconds a trial is expected to take, from this family's measured
    /// rate, else the slowest rate seen, else a prior.
    fn seconds(&self, family: Family, cost: f64) -> f64 {
        let rate = self.rates[family as usize]
            .or_else(|| self.rates.iter().flatten().copied().reduce(f64::max))
            .unwrap_or(PRIOR_RATE);
        // Folds run two at a time on two cores.
        cost * rate / (self.folds.len().min(2) as f64)
    }

    /// Time to refit a trial's configuration on all rows and write outputs.
    fn reserve(&self, family: Family, params: &Params) -> f64 {
        let n_all = self.data.inputs.rows;
        let cost = family
            .learner()
            .cost(params, n_all, self.d, self.data.target.width());
        self.seconds(family, cost) * self.folds.len().min(2) as f64 + WRITE_RESERVE
    }

    /// Seconds held back for refitting the current leader and writing.
    /// A refit costing more than a quarter of the budget is not planned for:
    /// the search uses the time, and the winner's first-fold model is
    /// deployed instead.
    fn best_reserve(&self) -> f64 {
        self.best.map_or(WRITE_RESERVE, |b| {
            let t = &self.trials[b];
            let refit = self.reserve(t.family, &t.params);
            let cap = self
                .config
                .budget
                .seconds
                .map_or(f64::INFINITY, |s| s * MAX_REFIT_SHARE);
            if refit * SAFETY <= cap {
                refit * SAFETY
            } else {
                WRITE_RESERVE
            }
        })
    }

    fn global_best_loss(&self) -> f64 {
        self.best
            .and_then(|b| self.trials[b].metric(self.config.metric))
            .map_or(f64::INFINITY, |v| self.config.metric.loss(v))
    }

    /// The family with the lowest ECI whose next trial fits in the time left;
    /// `None` ends the search.
    fn choose(&mut self, states: &mut [FamilyState]) -> Option<usize> {
        let global = self.global_best_loss();
        let mut ranked: Vec<(bool, f64, usize, f64)> = Vec::new();
        for (i, s) in states.iter_mut().enumerate() {
            let Some(params) = s.upcoming().cloned() else {
                continue;
            };
            let cost = self.cost(s.family, &params);
            ranked.push((s.trials > 0, s.eci(cost, global), i, cost));
        }
        ranked.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        let best_reserve = self.best_reserve();
        for (_, _, i, cost) in ranked {
            let family = states[i].family;
            // Room for this trial and for refitting the current leader; if
            // this trial wins and its own refit would not fit, the final
            // model falls back to the trial's first-fold model.
            let need = SAFETY * self.seconds(family, cost) + best_reserve;
            if need <= self.config.budget.remaining() {
                return Some(i);
            }
        }
        None
    }

    /// Records, for each family that still had something to try, that its
    /// next trial was not started because it would not fit in the time left.
    fn skip_unaffordable(
        &mut self,
        states: &mut [FamilyState],
        on_event: &mut dyn FnMut(Event<'_>),
    ) {
        for s in states.iter_mut() {
            let Some((_, params)) = s.take() else {
                continue;
            };
            let number = self.trials.len() + 1;
            let trial = Trial {
                number,
                model_id: format!("{}-{number}", s.family.name()),
                family: s.family,
                params,
                status: Status::Skipped("would not finish within the time budget".into()),
                metrics: Vec::new(),
                primary_std: 0.0,
                fit_seconds: 0.0,
                predict_us_per_row: 0.0,
                model_bytes: 0,
                seed: self.config.seed.wrapping_add(number as u64),
            };
            self.push(trial, None, on_event);
        }
    }

    /// Runs a trial on a worker thread. Fits can't be interrupted, so a
    /// trial still running when the search's time is up is abandoned (its
    /// thread is left to finish or to end with the process) and recorded as
    /// skipped; the search then ends.
    fn run_trial(
        &mut self,
        family: Family,
        params: Params,
        number: usize,
    ) -> (Trial, Option<Estimator>) {
        let seed = self.config.seed.wrapping_add(number as u64);
        let started = Instant::now();
        let deadline = self.config.budget.deadline_before(self.best_reserve());
        let (tx, rx) = mpsc::channel();
        let spec = TrialSpec {
            family,
            params: params.clone(),
            task: self.data.task,
            metrics: self.metrics.clone(),
            seed,
            contamination: self.config.contamination,
        };
        let folds = Arc::clone(&self.folds);
        std::thread::spawn(move || {
            // A library that panics fails this trial, not the search.
            let run = std::panic::AssertUnwindSafe(|| cross_validate(&spec, &folds, deadline));
            let result = std::panic::catch_unwind(run).unwrap_or_else(|_| {
                Err(FoldError::Failed("the learner's library panicked".into()))
            });
            let _ = tx.send(result);
        });
        let result = match deadline {
            Some(d) => rx
                .recv_timeout(d.saturating_duration_since(Instant::now()))
                .ok(),
            None => rx.recv().ok(),
        };
        let seconds = started.elapsed().as_secs_f64();
        let mut trial = Trial {
            number,
            model_id: format!("{}-{number}", family.name()),
            family,
            params,
            status: Status::Ok,
            metrics: Vec::new(),
            primary_std: 0.0,
            fit_seconds: 0.0,
            predict_us_per_row: 0.0,
            model_bytes: 0,
            seed,
        };
        let mut model = None;
        match result {
            Some(Ok(mut scores)) => {
                self.learn_rate(family, &trial.params, seconds);
                model = scores.first_mut().and_then(|s| s.estimator.take());
                summarise(&mut trial, &self.metrics, &scores);
                if !trial.metrics[0].1.is_finite() {
                    trial.status =
                        Status::Failed(format!("{} is undefined for this model", self.metrics[0]));
                    trial.metrics.clear();
                }
            }
            Some(Err(FoldError::Failed(e))) => trial.status = Status::Failed(e),
            Some(Err(FoldError::OutOfTime)) | None => {
                self.out_of_time = true;
                trial.status = Status::Skipped("stopped at the time budget".into());
            }
        }
        (trial, model)
    }

    fn learn_rate(&mut self, family: Family, params: &Params, seconds: f64) {
        let cost = self.cost(family, params);
        if cost > 0.0 {
            let rate = seconds * self.folds.len().min(2) as f64 / cost;
            let slot = &mut self.rates[family as usize];
            // Keep the pessimistic side of what was seen.
            *slot = Some(slot.map_or(rate, |r| r.max(rate) * 0.5 + r.min(rate) * 0.5));
        }
    }

    fn push(
        &mut self,
        trial: Trial,
        model: Option<Estimator>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) {
        let metric = self.config.metric;
        let better = match (
            trial.metric(metric),
            self.best.and_then(|b| self.trials[b].metric(metric)),
        ) {
            (Some(v), Some(b)) => metric.loss(v) < metric.loss(b),
            (Some(_), None) => true,
            _ => false,
        };
        self.trials.push(trial);
        if better {
            self.best = Some(self.trials.len() - 1);
            self.best_fold_model = model;
        }
        let best = self.best.map(|b| &self.trials[b]);
        on_event(Event::Trial {
            trial: &self.trials[self.trials.len() - 1],
            best,
        });
    }
}

fn summarise(trial: &mut Trial, metrics: &[Metric], scores: &[FoldScore]) {
    let k = scores.len().max(1) as f64;
    trial.metrics = metrics
        .iter()
        .enumerate()
        .map(|(i, m)| (*m, scores.iter().map(|s| s.metrics[i]).sum::<f64>() / k))
        .collect();
    let mean = trial.metrics[0].1;
    let var = scores
        .iter()
        .map(|s| (s.metrics[0] - mean).powi(2))
        .sum::<f64>()
        / (k - 1.0).max(1.0);
    trial.primary_std = var.sqrt();
    trial.fit_seconds = scores.iter().map(|s| s.fit_seconds).sum();
    let rows: usize = scores.iter().map(|s| s.rows).sum();
    let predict: f64 = scores.iter().map(|s| s.predict_seconds).sum();
    trial.predict_us_per_row = 1e6 * predict / rows.max(1) as f64;
    trial.model_bytes = scores.first().map_or(0, |s| s.model_bytes);
}
