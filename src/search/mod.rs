//! Third stage: the budgeted search. It picks which family and which
//! configuration to try next, refuses to start a trial that can't finish in
//! the time left (estimated from earlier trials and the data size), runs
//! cross-validation and records every trial — including failures — for the
//! leaderboard.

pub mod budget;
pub mod cv;
pub mod ensemble;
pub mod importance;
pub mod strategy;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::learners::space::{preset_point, short, Params};
use crate::learners::Family;
use crate::metrics::Metric;
use crate::model::{Estimator, Predictions};
pub use budget::Budget;
use budget::{write_reserve, Finished, WRITE_RESERVE};
use cv::{cross_validate, Fold, FoldError, FoldScore, Race, Scored, TrialSpec, RUNG_SHARE};
use ensemble::{Kept, Library, Selection, PER_FAMILY};
use strategy::FamilyState;

/// Seconds per cost unit assumed for a family that has not run yet.
const PRIOR_RATE: f64 = 2e-9;

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Scored on every fold.
    Ok,
    /// Stopped after its first folds, clearly worse there than a trial of its family
    /// (its metrics are those folds'); the message says how far it got.
    Pruned(String),
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
            Status::Pruned(e) => format!("pruned: {e}"),
            Status::Failed(e) => format!("failed: {e}"),
            Status::Skipped(e) => format!("skipped: {e}"),
        }
    }
}

/// What a trial fitted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipe {
    /// One family's configuration.
    Learner {
        /// Learner family.
        family: Family,
        /// Hyperparameters.
        params: Params,
    },
    /// A weighted mean of earlier trials' models, chosen by greedy
    /// ensemble selection over their held-out predictions.
    Ensemble(Vec<Part>),
}

/// One member of an ensemble: an earlier trial and its weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    /// The member trial's identifier.
    pub model_id: String,
    /// Its number.
    pub number: usize,
    /// Its family.
    pub family: Family,
    /// Its hyperparameters.
    pub params: Params,
    /// Its seed.
    pub seed: u64,
    /// Its weight; the weights sum to 1.
    pub weight: f64,
}

/// One trial of the search: what it fitted, and how it scored.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// Order in which the trial ran (1-based).
    pub number: usize,
    /// Identifier, `family-number`.
    pub model_id: String,
    /// What was fitted.
    pub recipe: Recipe,
    /// Outcome.
    pub status: Status,
    /// Mean over folds of each reported metric (empty unless ok).
    pub metrics: Vec<(Metric, f64)>,
    /// Standard deviation over folds of the primary metric.
    pub primary_std: f64,
    /// The primary metric's loss on each fold scored, in fold order.
    #[serde(skip)]
    pub fold_losses: Vec<f64>,
    /// The primary metric's loss on each part a race compares: the first
    /// folds, or the rung's model on each half of the holdout.
    #[serde(skip)]
    pub race_losses: Vec<f64>,
    /// Seconds spent fitting, summed over folds.
    pub fit_seconds: f64,
    /// Microseconds to score one row.
    pub predict_us_per_row: f64,
    /// Size of the lowered model (JSON bytes).
    pub model_bytes: usize,
    /// Seed the learner was given.
    pub seed: u64,
    /// When it was recorded, in seconds since the run started.
    #[serde(skip)]
    pub finished: f64,
    /// Wall-clock seconds the whole trial took (what the search learns
    /// its family's rate from).
    #[serde(skip)]
    pub seconds: f64,
}

/// The name an ensemble trial goes by, where families' names go.
pub const ENSEMBLE: &str = "ensemble";

impl Trial {
    /// A trial with its outcome still to record: no metrics yet.
    pub fn new(number: usize, family: Family, params: Params, seed: u64, status: Status) -> Trial {
        Trial::of(number, Recipe::Learner { family, params }, seed, status)
    }

    /// Whether its model reads standardised features (an ensemble scales
    /// for its members itself).
    pub fn reads_scaled(&self) -> bool {
        self.learner().is_some_and(|(f, _)| f.learner().scaled())
    }

    /// A trial of `recipe`, its outcome still to record.
    pub fn of(number: usize, recipe: Recipe, seed: u64, status: Status) -> Trial {
        let name = match &recipe {
            Recipe::Learner { family, .. } => family.name(),
            Recipe::Ensemble(_) => ENSEMBLE,
        };
        Trial {
            number,
            model_id: format!("{name}-{number}"),
            recipe,
            status,
            metrics: Vec::new(),
            primary_std: 0.0,
            fold_losses: Vec::new(),
            race_losses: Vec::new(),
            fit_seconds: 0.0,
            predict_us_per_row: 0.0,
            model_bytes: 0,
            seed,
            finished: 0.0,
            seconds: 0.0,
        }
    }

    /// The family and configuration of a learner trial.
    pub fn learner(&self) -> Option<(Family, &Params)> {
        match &self.recipe {
            Recipe::Learner { family, params } => Some((*family, params)),
            Recipe::Ensemble(_) => None,
        }
    }

    /// The family's name, or `ensemble`.
    pub fn family_name(&self) -> &'static str {
        self.learner().map_or(ENSEMBLE, |(f, _)| f.name())
    }

    /// The hyperparameters as `name=value` pairs; for an ensemble, its
    /// members as `model_id×weight`.
    pub fn describe(&self) -> String {
        match &self.recipe {
            Recipe::Learner { params, .. } => params.describe(),
            Recipe::Ensemble(parts) => parts
                .iter()
                .map(|p| format!("{}×{}", p.model_id, short(p.weight)))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// The one total order of trials, best first: scored trials, then
    /// pruned, then failed, then skipped; among scored ones the lower loss of `metric`;
    /// on a tie the family that comes first in the registry (an ensemble
    /// after every single model: the simpler wins), then the earlier trial.
    /// The search's leader, the leaderboard's row 1 and the saved model are
    /// all the first trial in this order.
    pub fn ranking(metric: Metric, a: &Trial, b: &Trial) -> Ordering {
        let class = |t: &Trial| match t.status {
            Status::Ok => 0,
            Status::Pruned(_) => 1,
            Status::Failed(_) => 2,
            Status::Skipped(_) => 3,
        };
        let loss = |t: &Trial| t.metric(metric).map_or(f64::INFINITY, |v| metric.loss(v));
        let family = |t: &Trial| (t.learner().is_none(), t.learner().map(|(f, _)| f));
        class(a)
            .cmp(&class(b))
            .then(loss(a).total_cmp(&loss(b)))
            .then(family(a).cmp(&family(b)))
            .then(a.number.cmp(&b.number))
    }

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
    /// A phase of the run begins.
    Phase(Phase),
    /// Something the user should know (a setting the data changed).
    Note(&'a str),
    /// Records read so far from a Kafka topic.
    Records(usize),
}

/// The phases of a training run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the data and deciding the plan.
    Load,
    /// Fitting each fold's preprocessing and encoding its rows.
    Encode,
    /// Trials.
    Search,
    /// Refitting the winner on every row.
    Refit,
    /// Writing the model, leaderboard and run record.
    Write,
}

impl Phase {
    /// What the phase is doing, for the progress display.
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Load => "reading the data",
            Phase::Encode => "encoding the folds",
            Phase::Search => "searching",
            Phase::Refit => "refitting the winner on all rows",
            Phase::Write => "writing the outputs",
        }
    }
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
    /// Whether to end with greedy ensemble selection (supervised tasks).
    pub ensemble: bool,
    /// The trials of the run this one resumes, in order: replayed first
    /// (see [`Context::replay`]).
    pub replay: Vec<Trial>,
}

/// The search's result: every trial, in run order.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// All trials.
    pub trials: Vec<Trial>,
    /// The best trial's model from each fold, as it was scored, in fold
    /// order (empty if none was kept).
    pub best_fold_models: Vec<Estimator>,
    /// Whether the best trial's refit on all rows fits in the time left:
    /// decided once, here, so that the search's reserve and the final
    /// model agree (the refit still runs against the deadline).
    pub refit_fits: bool,
    /// The estimated seconds of the best trial's refit (unpadded), if
    /// known.
    pub refit_seconds: Option<f64>,
    /// Seconds held back for writing the best trial's outputs.
    pub write_seconds: f64,
    /// Why the replay of a resumed run's trials stopped matching them.
    pub diverged: Option<String>,
}

/// Folds a trial runs before its race is judged; races
/// run when there are at least twice as many folds.
const RACE_FOLDS: usize = 2;

/// Selection runs at most once per this many times its own duration.
const SELECTION_SHARE: u32 = 20;

/// What the latest ensemble selection would cost to deploy.
#[derive(Debug, Clone, Copy)]
struct EnsembleLead {
    /// Its cross-validated loss.
    loss: f64,
    /// Estimated seconds to refit its members on all rows.
    refit: f64,
    /// Seconds to write it.
    write: f64,
}

struct Context<'a> {
    data: &'a Dataset,
    folds: Arc<Vec<Fold>>,
    config: &'a SearchConfig,
    metrics: Vec<Metric>,
    n_train: usize,
    d: usize,
    /// Measured seconds per cost unit, by family.
    rates: BTreeMap<Family, f64>,
    trials: Vec<Trial>,
    best: Option<usize>,
    best_fold_models: Vec<Estimator>,
    out_of_time: bool,
    /// The best trials' held-out predictions, for ensemble selection.
    library: Library,
    /// The ensemble selection last made of the library, while timed.
    ensemble_lead: Option<EnsembleLead>,
    /// Whether the library changed since that selection.
    library_changed: bool,
    /// When that selection ran and how long it took.
    last_selection: Option<(Instant, std::time::Duration)>,
    /// Each family's best [`PER_FAMILY`] trials scored on every fold
    /// (indices into `trials`, best first): the bar its new trials race.
    family_bars: BTreeMap<Family, Vec<usize>>,
    /// Set when the final model will be a first-fold ensemble whatever
    /// leads, so no refit time is held back: the seconds to write it.
    first_fold_final: Option<f64>,
    /// Recorded trials still to replay.
    replay: std::collections::VecDeque<Trial>,
    /// Seconds of the resumed run before this one started.
    offset: f64,
    /// Why the replay stopped matching.
    diverged: Option<String>,
}

/// Runs the search over `folds` of `data` until the budget ends or every
/// family is exhausted.
pub fn run(
    data: &Dataset,
    folds: Arc<Vec<Fold>>,
    config: &SearchConfig,
    on_event: &mut dyn FnMut(Event<'_>),
) -> SearchOutcome {
    let mut states = family_states(data, config);
    let mut ctx = Context {
        data,
        config,
        metrics: ordered_metrics(data, config.metric),
        n_train: folds.first().map_or(0, |f| f.train.n),
        d: folds.first().map_or(0, |f| f.train.d),
        folds,
        rates: BTreeMap::new(),
        trials: Vec::new(),
        best: None,
        best_fold_models: Vec::new(),
        out_of_time: false,
        library: Library::default(),
        first_fold_final: None,
        family_bars: BTreeMap::new(),
        ensemble_lead: None,
        library_changed: false,
        last_selection: None,
        offset: config.replay.iter().map(|t| t.finished).fold(0.0, f64::max),
        replay: config.replay.iter().cloned().collect(),
        diverged: None,
    };
    let mut started = 0;
    let mut nothing_fits = ctx.search(&mut states, &mut started, on_event);
    let ensemble = config.ensemble && data.task.is_supervised();
    if ensemble && nothing_fits {
        if let Some(write) = ctx.ensemble_frees_reserve() {
            // The ensemble leads but can't be refit in the time left: its
            // first-fold model will be saved, so the time held back for
            // refitting the single leader is the search's.
            ctx.first_fold_final = Some(write);
            nothing_fits = ctx.search(&mut states, &mut started, on_event);
        }
    }
    if nothing_fits {
        ctx.skip_unaffordable(&mut states, on_event);
    }
    if ensemble && !config.budget.stopped() {
        if let Some((trial, models)) = ctx.final_ensemble() {
            ctx.push(trial, models, on_event);
        }
    }
    let refit_seconds = ctx.best.map(|b| ctx.refit(&ctx.trials[b]));
    let write_seconds = ctx
        .best
        .map_or(WRITE_RESERVE, |b| ctx.write(&ctx.trials[b]));
    let budget = &config.budget;
    SearchOutcome {
        trials: ctx.trials,
        best_fold_models: ctx.best_fold_models,
        refit_fits: !budget.stopped() && budget.affords_refit(refit_seconds, write_seconds),
        refit_seconds,
        write_seconds,
        diverged: ctx.diverged,
    }
}

impl Context<'_> {
    /// Runs trials until the budget, the trial limit or a stop ends the
    /// search; `true` when it ended because no family's next trial fits in
    /// the time left.
    fn search(
        &mut self,
        states: &mut [FamilyState],
        started: &mut usize,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> bool {
        let config = self.config;
        while !self.out_of_time
            && !config.budget.stopped()
            && config.budget.max_trials.is_none_or(|m| *started < m)
        {
            if let Some(recorded) = self.replay.pop_front() {
                if let Err(why) = self.replay(states, recorded, started, on_event) {
                    self.diverged = Some(why);
                    self.replay.clear();
                    return false;
                }
                continue;
            }
            let Some(pick) = self.choose(states) else {
                return true;
            };
            let Some((point, params)) = states[pick].take() else {
                continue;
            };
            *started += 1;
            let family = states[pick].family;
            let cost = self.cost(family, &params);
            let (trial, models, predictions) = self.run_trial(family, params, *started);
            let loss = trial
                .metric(config.metric)
                .map_or(f64::INFINITY, |v| config.metric.loss(v));
            states[pick].record(point, loss, cost * self.share_run(&trial));
            self.keep_for_ensemble(&trial, &models, predictions);
            self.push(trial, models, on_event);
            self.follow_ensemble();
        }
        false
    }

    /// Replays a recorded trial of the run being resumed: its family's
    /// search takes the same step (dropping the presets the first run
    /// dropped for time) and is told the recorded outcome, so every later
    /// decision is the first run's. A trial the ensemble library would keep,
    /// or that leads, is fitted again for its fold models and held-out
    /// predictions; it must score as recorded.
    fn replay(
        &mut self,
        states: &mut [FamilyState],
        recorded: Trial,
        started: &mut usize,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), String> {
        let (family, params) = recorded
            .learner()
            .map(|(f, p)| (f, p.clone()))
            .ok_or("the checkpoint lists an ensemble")?;
        let id = &recorded.model_id;
        let pick = states
            .iter()
            .position(|s| s.family == family)
            .ok_or_else(|| format!("{id}'s family is not searched in this run"))?;
        let s = &mut states[pick];
        while s.upcoming() != Some(&params) && s.upcoming_is_preset() {
            s.drop_preset();
        }
        let (point, taken) = s
            .take()
            .ok_or_else(|| format!("{id}: its family had nothing left to try"))?;
        if taken != params {
            return Err(format!(
                "{id}: the search proposed {} where the checkpoint has {}",
                taken.describe(),
                params.describe()
            ));
        }
        *started += 1;
        let metric = self.config.metric;
        let loss = recorded
            .metric(metric)
            .map_or(f64::INFINITY, |v| metric.loss(v));
        let wanted = self.config.ensemble && self.library.would_keep(family, loss);
        let (mut models, mut predictions) = (Vec::new(), Vec::new());
        if recorded.status == Status::Ok && (wanted || self.leads(&recorded)) {
            let fresh;
            (fresh, models, predictions) = self.run_trial(family, params, recorded.number);
            if fresh.status == Status::Ok && fresh.metrics != recorded.metrics {
                return Err(format!(
                    "{id} scored {:?} when fitted again, not the recorded {:?}",
                    fresh.metrics, recorded.metrics
                ));
            }
        } else {
            self.learn_recorded(&recorded);
        }
        let cost = self.cost(family, &taken);
        states[pick].record(point, loss, cost * self.share_run(&recorded));
        self.keep_for_ensemble(&recorded, &models, predictions);
        self.push_at(recorded, models, on_event);
        self.follow_ensemble();
        Ok(())
    }

    /// Learns a family's rate from a recorded trial's seconds, as its run
    /// did.
    fn learn_recorded(&mut self, t: &Trial) {
        let Some((family, params)) = t.learner() else {
            return;
        };
        let params = params.clone();
        match t.status {
            Status::Ok => self.learn_rate(family, &params, t.seconds / self.rung_overhead()),
            Status::Pruned(_) => self.learn_rate(
                family,
                &params,
                t.seconds * self.pruned_whole(t.fold_losses.len()),
            ),
            _ => {}
        }
    }

    /// What a pruned trial's seconds are multiplied by to stand for a
    /// whole trial, after `done` folds (or the rung).
    fn pruned_whole(&self, done: usize) -> f64 {
        if self.rung() {
            RUNG_SHARE as f64
        } else {
            self.folds.len() as f64 / done.max(1) as f64
        }
    }

    /// Whether `t` would lead the trials so far.
    fn leads(&self, t: &Trial) -> bool {
        let metric = self.config.metric;
        t.status == Status::Ok
            && t.metric(metric).is_some()
            && self
                .best
                .is_none_or(|b| Trial::ranking(metric, t, &self.trials[b]) == Ordering::Less)
    }

    /// When the ensemble of the trials so far would lead but could not be
    /// refit in the time left (so the leader's refit reserve is moot): the
    /// seconds its writing needs.
    fn ensemble_frees_reserve(&self) -> Option<f64> {
        let (trial, _) = self.ensemble_trial()?;
        let leads = self.best.is_none_or(|b| {
            Trial::ranking(self.config.metric, &trial, &self.trials[b]) == Ordering::Less
        });
        let budget = &self.config.budget;
        let write = self.write(&trial);
        (leads && !budget.affords_refit(Some(self.refit(&trial)), write)).then_some(write)
    }
}

/// Each family's search state: its space for the task, its presets.
fn family_states(data: &Dataset, config: &SearchConfig) -> Vec<FamilyState> {
    config
        .families
        .iter()
        .map(|&f| {
            let space = f.learner().space(data.task);
            // Every preset fits every task's space (a unit test says so).
            let presets = f.learner().presets().iter();
            let points = presets
                .filter_map(|p| preset_point(&space, p).ok())
                .collect();
            FamilyState::new(f, space, config.seed).with_presets(points)
        })
        .collect()
}

/// The median of the measured rates (the upper one of an even count).
fn median_rate(rates: &BTreeMap<Family, f64>) -> Option<f64> {
    let mut seen: Vec<f64> = rates.values().copied().collect();
    seen.sort_by(f64::total_cmp);
    seen.get(seen.len() / 2).copied()
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
    /// The share of a trial's folds that ran: less than 1 when it was
    /// pruned.
    fn share_run(&self, t: &Trial) -> f64 {
        match t.status {
            Status::Pruned(_) if self.rung() => 1.0 / RUNG_SHARE as f64,
            Status::Pruned(_) => t.fold_losses.len() as f64 / self.folds.len().max(1) as f64,
            _ => 1.0,
        }
    }

    /// Whether trials are fitted on a rung first (one holdout split).
    fn rung(&self) -> bool {
        self.folds.first().is_some_and(|f| f.rung.is_some())
    }

    /// A whole trial's seconds over its folds' alone: the rung's fit
    /// comes first.
    fn rung_overhead(&self) -> f64 {
        if self.rung() {
            1.0 + 1.0 / RUNG_SHARE as f64
        } else {
            1.0
        }
    }

    /// The race a new trial of `family` runs, when there is one: on a
    /// supervised task with enough folds or a rung, against the worst of
    /// its family's best [`PER_FAMILY`] trials. A trial that clearly loses
    /// to it would neither lead, nor move its family's local search, nor
    /// enter the ensemble library, so the rest of its fitting would be
    /// wasted time. The margin is the rival's spread: over all its folds,
    /// or between the holdout's halves on the rung.
    fn race(&self, family: Family) -> Option<Race> {
        let rival = self.rival(family)?;
        let enough = self.rung() || self.folds.len() >= 2 * RACE_FOLDS;
        let margin = if self.rung() {
            spread(&rival.race_losses)
        } else {
            rival.primary_std
        };
        (self.data.task.is_supervised() && enough).then(|| Race {
            rival: rival.race_losses.clone(),
            margin,
        })
    }

    /// The losses a trial's race compares (see [`Trial::race_losses`]).
    fn race_losses(&self, scored: &Scored) -> Vec<f64> {
        if self.rung() {
            return scored.rung.clone();
        }
        let first = &scored.folds[..RACE_FOLDS.min(scored.folds.len())];
        first.iter().map(|s| s.loss(self.config.metric)).collect()
    }

    /// The trial a new trial of `family` races: the worst of its family's
    /// best [`PER_FAMILY`], once it has that many.
    fn rival(&self, family: Family) -> Option<&Trial> {
        let bar = self.family_bars.get(&family)?;
        bar.get(PER_FAMILY - 1).map(|&i| &self.trials[i])
    }

    /// Keeps `index` among its family's best [`PER_FAMILY`] whole trials
    /// (by the one ranking), for [`Context::race`].
    fn raise_bar(&mut self, index: usize) {
        let t = &self.trials[index];
        let (Some((family, _)), Status::Ok) = (t.learner(), &t.status) else {
            return;
        };
        if t.fold_losses.len() != self.folds.len() || t.race_losses.is_empty() {
            return;
        }
        let (trials, metric) = (&self.trials, self.config.metric);
        let bar = self.family_bars.entry(family).or_default();
        bar.push(index);
        bar.sort_by(|&a, &b| Trial::ranking(metric, &trials[a], &trials[b]));
        bar.truncate(PER_FAMILY);
    }

    fn cost(&self, family: Family, params: &Params) -> f64 {
        family
            .learner()
            .cost(params, self.n_train, self.d, self.data.target.width())
            * self.folds.len() as f64
    }

    /// Seconds a trial is expected to take, from this family's measured
    /// rate, else the median rate seen (one family's cost model that is off
    /// for this data must not keep every untried family out), else a prior.
    fn seconds(&self, family: Family, cost: f64) -> f64 {
        let rate = self
            .rates
            .get(&family)
            .copied()
            .or_else(|| median_rate(&self.rates))
            .unwrap_or(PRIOR_RATE);
        // Folds run two at a time on two cores.
        cost * rate / (self.folds.len().min(2) as f64)
    }

    /// Time to run a trial of `cost`, its rung included.
    fn trial_seconds(&self, family: Family, cost: f64) -> f64 {
        self.seconds(family, cost) * self.rung_overhead()
    }

    /// Time to refit a trial's configuration on all rows; an ensemble's
    /// members refit two at a time.
    fn refit(&self, t: &Trial) -> f64 {
        match &t.recipe {
            Recipe::Learner { .. } => self.refit_one(t),
            Recipe::Ensemble(parts) => {
                let each: Vec<f64> = parts
                    .iter()
                    .filter_map(|p| self.trials.get(p.number.checked_sub(1)?))
                    .map(|member| self.refit_one(member))
                    .collect();
                let longest = each.iter().copied().fold(0.0, f64::max);
                longest.max(each.iter().sum::<f64>() / 2.0)
            }
        }
    }

    /// A scored trial's own fitting time per fold, grown by its cost model
    /// from the training part's rows to all rows; the family's rate when it
    /// has none. The family's rate also counts scoring and encoding, which
    /// the refit doesn't do: it overestimated refits 1.2–1.5×.
    fn refit_one(&self, t: &Trial) -> f64 {
        let Some((family, params)) = t.learner() else {
            return 0.0;
        };
        let (learner, width) = (family.learner(), self.data.target.width());
        let all = learner.refit_cost(params, self.data.inputs.rows, self.d, width);
        let folds = t.fold_losses.len();
        let part = learner.refit_cost(params, self.n_train, self.d, width);
        if folds > 0 && t.fit_seconds > 0.0 && part > 0.0 && all.is_finite() {
            return t.fit_seconds / folds as f64 * all / part;
        }
        self.seconds(family, all) * self.folds.len().min(2) as f64
    }

    /// Time to write a trial's model and the run's other outputs.
    /// Seconds held back after the search for trial `t` as the winner:
    /// measuring its importance and writing its outputs.
    fn write(&self, t: &Trial) -> f64 {
        let allowed = importance::allowed(&self.config.budget);
        let measure = importance::plan_for(&self.folds, t, allowed).map_or(0.0, |p| p.seconds);
        // Unpadded: the estimate, from the trial's scoring in parallel
        // folds, ran about twice the measurement's time on adult and
        // california.
        write_reserve(t.model_bytes) + measure
    }

    /// Seconds held back for refitting the current leader and writing.
    /// A refit costing more than a quarter of the budget is not planned for:
    /// the search uses the time, and the winner's first-fold model is
    /// deployed instead.
    fn best_reserve(&self) -> f64 {
        self.best.map_or(WRITE_RESERVE, |b| {
            let t = &self.trials[b];
            let (mut refit, mut write) = (self.refit(t), self.write(t));
            if let Some(ensemble) = self.first_fold_final {
                return write.max(ensemble);
            }
            if let Some(e) = &self.ensemble_lead {
                if e.loss < self.global_best_loss() {
                    (refit, write) = (e.refit, e.write);
                }
            }
            // A refit that no longer fits will not run: its time is the
            // search's, and only the writing is held back.
            if self.config.budget.affords_refit(Some(refit), write) {
                self.config.budget.refit_reserve(refit, write)
            } else {
                write
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
        let best_reserve = self.best_reserve();
        let mut candidates = Vec::new();
        for (index, s) in states.iter_mut().enumerate() {
            self.drop_unaffordable_presets(s, best_reserve);
            let Some(params) = s.upcoming().cloned() else {
                continue;
            };
            let cost = self.cost(s.family, &params);
            candidates.push(Candidate {
                tried: s.trials > 0,
                eci: s.eci(cost, global),
                index,
                cost,
            });
        }
        // Room for this trial and for refitting the current leader; if this
        // trial wins and its own refit would not fit, the final model falls
        // back to the trial's first-fold model.
        let budget = &self.config.budget;
        let seconds = |c: &Candidate| self.trial_seconds(states[c.index].family, c.cost);
        pick(candidates.clone(), |c| {
            budget.affords(seconds(c), best_reserve)
        })
        .or_else(|| {
            pick(candidates, |c| {
                budget.affords_small(seconds(c), best_reserve)
            })
        })
    }

    /// A family's next presets that would not fit the time left (with
    /// `reserve` held back) are dropped, so that its cheaper local search
    /// goes on.
    fn drop_unaffordable_presets(&self, s: &mut FamilyState, reserve: f64) {
        while s.upcoming_is_preset() {
            let Some(params) = s.upcoming().cloned() else {
                return;
            };
            let seconds = self.trial_seconds(s.family, self.cost(s.family, &params));
            if self.config.budget.affords(seconds, reserve) {
                return;
            }
            s.drop_preset();
        }
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
            let seed = self.config.seed.wrapping_add(number as u64);
            let why = Status::Skipped("would not finish within the time budget".into());
            let trial = Trial::new(number, s.family, params, seed, why);
            self.push(trial, Vec::new(), on_event);
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
    ) -> (Trial, Vec<Estimator>, Vec<Predictions>) {
        let seed = self.config.seed.wrapping_add(number as u64);
        let started = Instant::now();
        let deadline = self.config.budget.deadline_before(self.best_reserve());
        let spec = TrialSpec {
            family,
            params: params.clone(),
            task: self.data.task,
            metrics: self.metrics.clone(),
            seed,
            contamination: self.config.contamination,
        };
        let folds = Arc::clone(&self.folds);
        let race = self.race(family);
        let result = match self.config.budget.run_until(deadline, move |cancel| {
            cross_validate(&spec, &folds, deadline, cancel, race.as_ref())
        }) {
            Finished::Done(r) => Some(r),
            // A library that panics fails this trial, not the search.
            Finished::Panicked => Some(Err(FoldError::Failed(
                "the learner's library panicked".into(),
            ))),
            Finished::TimedOut => None,
            Finished::Stopped => Some(Err(FoldError::Stopped)),
        };
        let seconds = started.elapsed().as_secs_f64();
        let mut trial = Trial::new(number, family, params, seed, Status::Ok);
        trial.seconds = seconds;
        let (mut models, mut predictions) = (Vec::new(), Vec::new());
        match result {
            Some(Ok(scored)) => (models, predictions) = self.scored(&mut trial, scored, seconds),
            Some(Err(FoldError::Pruned(scored))) => self.pruned(&mut trial, &scored, seconds),
            Some(Err(FoldError::Failed(e))) => trial.status = Status::Failed(e),
            Some(Err(FoldError::OutOfTime)) | None => {
                self.out_of_time = true;
                trial.status = Status::Skipped("stopped at the time budget".into());
            }
            Some(Err(FoldError::Stopped)) => {
                self.out_of_time = true;
                trial.status = Status::Skipped("stopped on request (Ctrl-C or SIGTERM)".into());
            }
        }
        (trial, models, predictions)
    }

    /// Records a trial scored on every fold (failed if its metric is
    /// undefined): its models and held-out predictions, fold by fold.
    fn scored(
        &mut self,
        trial: &mut Trial,
        mut scored: Scored,
        seconds: f64,
    ) -> (Vec<Estimator>, Vec<Predictions>) {
        if let Some((family, params)) = trial.learner() {
            self.learn_rate(family, params, seconds / self.rung_overhead());
        }
        trial.race_losses = self.race_losses(&scored);
        let scores = &mut scored.folds;
        let models = scores
            .iter_mut()
            .filter_map(|s| s.estimator.take())
            .collect();
        let predictions = scores
            .iter_mut()
            .filter_map(|s| s.predictions.take())
            .collect();
        summarise(trial, &self.metrics, scores);
        if !trial.metrics[0].1.is_finite() {
            trial.status =
                Status::Failed(format!("{} is undefined for this model", self.metrics[0]));
            trial.metrics.clear();
        }
        (models, predictions)
    }

    /// Records a trial that lost its race after `scored`'s folds or on the
    /// rung, its rate measured as if it had run them all.
    fn pruned(&mut self, trial: &mut Trial, scored: &Scored, seconds: f64) {
        let (k, done) = (self.folds.len(), scored.folds.len());
        let Some((family, params)) = trial.learner() else {
            return;
        };
        let whole = self.pruned_whole(done);
        self.learn_rate(family, params, seconds * whole);
        summarise(trial, &self.metrics, &scored.folds);
        trial.race_losses = self.race_losses(scored);
        let rival = self.rival(family).map_or("", |t| t.model_id.as_str());
        let why = if self.rung() {
            format!("stopped after fitting on 1/{RUNG_SHARE} of the rows, clearly worse than {rival} there")
        } else {
            format!("stopped after {done} of {k} folds, clearly worse than {rival} on them")
        };
        trial.status = Status::Pruned(why);
    }

    /// Offers a scored trial's held-out predictions and fold models to the
    /// ensemble library.
    fn keep_for_ensemble(
        &mut self,
        trial: &Trial,
        models: &[Estimator],
        predictions: Vec<Predictions>,
    ) {
        let (Some((family, _)), Some(value)) = (trial.learner(), trial.metric(self.config.metric))
        else {
            return;
        };
        let loss = self.config.metric.loss(value);
        if !self.config.ensemble || !self.library.would_keep(family, loss) {
            return;
        }
        let k = self.folds.len();
        if trial.status == Status::Ok && predictions.len() == k && models.len() == k {
            self.library_changed |= self.library.offer(Kept {
                number: trial.number,
                family,
                loss,
                folds: predictions,
                models: models.to_vec(),
                model_bytes: trial.model_bytes * k,
            });
        }
    }

    /// Greedy ensemble selection over the library, before the time held
    /// back for writing: a selection of two or more trials as the next
    /// trial, scored like the others, with its first-fold model.
    fn ensemble_trial(&self) -> Option<(Trial, Selection)> {
        let deadline = self.config.budget.deadline_before(WRITE_RESERVE);
        let selection = self
            .library
            .select(&self.folds, self.config.metric, deadline)?;
        let number = self.trials.len() + 1;
        let seed = self.config.seed.wrapping_add(number as u64);
        let parts = selection
            .members
            .iter()
            .map(|(n, w)| self.part(*n, *w))
            .collect::<Option<Vec<Part>>>()?;
        let mut trial = Trial::of(number, Recipe::Ensemble(parts), seed, Status::Ok);
        let scores = (0..self.folds.len())
            .map(|f| self.ensemble_fold_score(&selection, f))
            .collect::<Option<Vec<FoldScore>>>()?;
        summarise(&mut trial, &self.metrics, &scores);
        let members: Vec<&Trial> = selection
            .members
            .iter()
            .filter_map(|(n, _)| self.trials.get(n - 1))
            .collect();
        trial.fit_seconds = members.iter().map(|t| t.fit_seconds).sum();
        trial.predict_us_per_row = members.iter().map(|t| t.predict_us_per_row).sum();
        trial.model_bytes = members.iter().map(|t| t.model_bytes).sum();
        Some((trial, selection))
    }

    /// The ensemble trial of the library as it is, with its model from
    /// each fold (and the first one's true size).
    fn final_ensemble(&self) -> Option<(Trial, Vec<Estimator>)> {
        let (mut trial, selection) = self.ensemble_trial()?;
        let models = (0..self.folds.len())
            .map(|f| selection.fold_model(&self.library, &self.folds, f))
            .collect::<Option<Vec<Estimator>>>()?;
        trial.model_bytes = serde_json::to_vec(&models[0]).map_or(0, |v| v.len());
        Some((trial, models))
    }

    /// Re-runs selection on a timed search whose library changed, often
    /// enough to follow the leader and seldom enough to cost at most about
    /// 1/[`SELECTION_SHARE`] of the time: what the ensemble's refit needs is
    /// held back while it leads.
    fn follow_ensemble(&mut self) {
        let timed = self.config.budget.remaining().is_finite();
        if !self.config.ensemble || !timed || !self.library_changed {
            return;
        }
        if let Some((at, took)) = self.last_selection {
            if at.elapsed() < took * SELECTION_SHARE {
                return;
            }
        }
        let started = Instant::now();
        self.ensemble_lead = self.ensemble_trial().map(|(t, _)| EnsembleLead {
            loss: t
                .metric(self.config.metric)
                .map_or(f64::INFINITY, |v| self.config.metric.loss(v)),
            refit: self.refit(&t),
            write: self.write(&t),
        });
        self.last_selection = Some((started, started.elapsed()));
        self.library_changed = false;
    }

    /// Trial `number` as an ensemble member of weight `weight`.
    fn part(&self, number: usize, weight: f64) -> Option<Part> {
        let t = self.trials.get(number.checked_sub(1)?)?;
        let (family, params) = t.learner()?;
        Some(Part {
            model_id: t.model_id.clone(),
            number,
            family,
            params: params.clone(),
            seed: t.seed,
            weight,
        })
    }

    /// The ensemble's metrics on fold `f`, from its members' held-out
    /// predictions blended as the saved ensemble blends them.
    fn ensemble_fold_score(&self, selection: &Selection, f: usize) -> Option<FoldScore> {
        let pred = selection.blend(&self.library, f)?;
        let fold = &self.folds[f];
        Some(FoldScore {
            metrics: self
                .metrics
                .iter()
                .map(|m| m.compute(&fold.valid_target, &pred))
                .collect(),
            fit_seconds: 0.0,
            predict_seconds: 0.0,
            rows: fold.valid.n,
            model_bytes: 0,
            estimator: None,
            flagged: Vec::new(),
            predictions: None,
        })
    }

    fn learn_rate(&mut self, family: Family, params: &Params, seconds: f64) {
        let cost = self.cost(family, params);
        if cost > 0.0 {
            let rate = seconds * self.folds.len().min(2) as f64 / cost;
            // Keep the pessimistic side of what was seen.
            let next = self
                .rates
                .get(&family)
                .map_or(rate, |r| r.max(rate) * 0.5 + r.min(rate) * 0.5);
            self.rates.insert(family, next);
        }
    }

    /// Records a trial that just finished, with its fold models.
    fn push(&mut self, trial: Trial, models: Vec<Estimator>, on_event: &mut dyn FnMut(Event<'_>)) {
        let mut trial = trial;
        trial.finished = self.offset + self.config.budget.elapsed();
        self.push_at(trial, models, on_event);
    }

    /// Records a trial that finished at `trial.finished`.
    fn push_at(
        &mut self,
        trial: Trial,
        models: Vec<Estimator>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) {
        let better = self.leads(&trial);
        self.trials.push(trial);
        self.raise_bar(self.trials.len() - 1);
        if better {
            self.best = Some(self.trials.len() - 1);
            self.best_fold_models = models;
        }
        let best = self.best.map(|b| &self.trials[b]);
        on_event(Event::Trial {
            trial: &self.trials[self.trials.len() - 1],
            best,
        });
    }
}

/// A family's next trial, as the search weighs it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    /// Whether the family has run a trial.
    tried: bool,
    /// Its estimated cost for improvement.
    eci: f64,
    /// Its position among the searched families.
    index: usize,
    /// The cost of its next trial.
    cost: f64,
}

/// The family to run next: untried families first, then the lowest ECI,
/// ties by position — the first of those whose trial `affords` says fits.
/// `None` ends the search.
fn pick(mut candidates: Vec<Candidate>, affords: impl Fn(&Candidate) -> bool) -> Option<usize> {
    candidates.sort_by(|a, b| {
        a.tried
            .cmp(&b.tried)
            .then(a.eci.total_cmp(&b.eci))
            .then(a.index.cmp(&b.index))
    });
    candidates.iter().find(|c| affords(c)).map(|c| c.index)
}

/// The sample standard deviation of `values`.
fn spread(values: &[f64]) -> f64 {
    let k = values.len() as f64;
    let mean = values.iter().sum::<f64>() / k.max(1.0);
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1.0).max(1.0);
    var.sqrt()
}

fn summarise(trial: &mut Trial, metrics: &[Metric], scores: &[FoldScore]) {
    let k = scores.len().max(1) as f64;
    trial.metrics = metrics
        .iter()
        .enumerate()
        .map(|(i, m)| (*m, scores.iter().map(|s| s.metrics[i]).sum::<f64>() / k))
        .collect();
    let primary: Vec<f64> = scores.iter().map(|s| s.metrics[0]).collect();
    trial.primary_std = spread(&primary);
    trial.fold_losses = scores.iter().map(|s| s.loss(metrics[0])).collect();
    trial.fit_seconds = scores.iter().map(|s| s.fit_seconds).sum();
    let rows: usize = scores.iter().map(|s| s.rows).sum();
    let predict: f64 = scores.iter().map(|s| s.predict_seconds).sum();
    trial.predict_us_per_row = 1e6 * predict / rows.max(1) as f64;
    trial.model_bytes = scores.first().map_or(0, |s| s.model_bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(index: usize, tried: bool, eci: f64, cost: f64) -> Candidate {
        Candidate {
            tried,
            eci,
            index,
            cost,
        }
    }

    #[test]
    fn untried_families_go_first_then_the_lowest_eci_then_position() {
        let all = vec![
            candidate(0, true, 1.0, 1.0),
            candidate(1, false, 50.0, 50.0),
            candidate(2, false, 5.0, 5.0),
            candidate(3, true, 0.5, 0.5),
        ];
        assert_eq!(pick(all.clone(), |_| true), Some(2));
        let tried = vec![all[0], all[3], candidate(4, true, 0.5, 9.0)];
        assert_eq!(pick(tried, |_| true), Some(3));
    }

    #[test]
    fn a_trial_that_does_not_fit_gives_way_and_none_fitting_ends_the_search() {
        let all = vec![candidate(0, false, 1.0, 1.0), candidate(1, false, 8.0, 8.0)];
        assert_eq!(pick(all.clone(), |c| c.cost > 2.0), Some(1));
        assert_eq!(pick(all, |_| false), None);
        assert_eq!(pick(Vec::new(), |_| true), None);
    }
}
