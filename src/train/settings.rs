//! What `automl train` is asked to do, validated once: every default and
//! every check of the training settings lives here, so the command line and
//! a library caller get the same rules.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::topic::TopicSource;
use crate::data::Task;
use crate::error::{Error, Result};
use crate::learners::Family;
use crate::metrics::Metric;

/// Training settings that passed [`TrainSettings::validate`]: the only
/// input [`crate::train::train`] takes, so no run starts unchecked.
#[derive(Debug, Clone)]
pub struct TrainConfig(TrainSettings);

impl std::ops::Deref for TrainConfig {
    type Target = TrainSettings;

    fn deref(&self) -> &TrainSettings {
        &self.0
    }
}

/// Cross-validation folds unless told otherwise.
pub const DEFAULT_FOLDS: usize = 5;
/// Seed unless told otherwise.
pub const DEFAULT_SEED: u64 = 42;
/// Seconds for the whole command when neither a budget nor a trial limit
/// is given.
pub const DEFAULT_TIME_BUDGET: f64 = 60.0;
/// The longest time budget taken: a year. (Longer ones overflow the
/// clock's arithmetic and mean nothing for a training run.)
pub const MAX_TIME_BUDGET: f64 = 365.0 * 24.0 * 3600.0;
/// The most cross-validation folds taken.
pub const MAX_FOLDS: usize = 100;
/// The most repeats of the folds.
pub const MAX_REPEATS: usize = 10;

/// Below this many rows, `--repeats auto` cuts the folds `AUTO_REPEATS`
/// times: validation folds of under 100 rows are noisy enough to pick the
/// wrong trial, and trials there are cheap (see the book's search chapter
/// for the measurement).
pub const AUTO_REPEAT_ROWS: usize = 500;

/// Cuts of the folds `--repeats auto` makes on small data.
pub const AUTO_REPEATS: usize = 3;

/// How many times the folds are cut, each time from another seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Repeats {
    /// `AUTO_REPEATS` below `AUTO_REPEAT_ROWS` rows, once otherwise.
    #[serde(serialize_with = "auto_name")]
    Auto,
    /// This many times.
    Times(usize),
}

fn auto_name<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("auto")
}

/// `"auto"` or a number, as it is written.
impl<'de> Deserialize<'de> for Repeats {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Repeats, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) if s == "auto" => Ok(Repeats::Auto),
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(|n| Repeats::Times(n as usize))
                .ok_or_else(|| serde::de::Error::custom("repeats must be a whole number")),
            other => Err(serde::de::Error::custom(format!(
                "repeats must be auto or a number, not {other}"
            ))),
        }
    }
}

impl Repeats {
    /// The cuts for a supervised set of `rows` rows.
    pub fn times(self, rows: usize) -> usize {
        match self {
            Repeats::Auto if rows < AUTO_REPEAT_ROWS => AUTO_REPEATS,
            Repeats::Auto => 1,
            Repeats::Times(n) => n,
        }
    }
}

impl std::str::FromStr for Repeats {
    type Err = String;

    fn from_str(s: &str) -> Result<Repeats, String> {
        if s == "auto" {
            return Ok(Repeats::Auto);
        }
        s.parse()
            .map(Repeats::Times)
            .map_err(|_| format!("'{s}' is neither auto nor a whole number"))
    }
}
/// Share of rows flagged when `--contamination` is not given.
pub const DEFAULT_CONTAMINATION: f64 = 0.05;

/// Everything `automl train` was asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSettings {
    /// Data file.
    pub data: PathBuf,
    /// Target column (supervised tasks).
    pub target: Option<String>,
    /// Column to score clusters or anomaly scores against; never used to fit.
    pub label: Option<String>,
    /// Share of training rows a detector flags (anomaly task).
    pub contamination: Option<f64>,
    /// Forced task, else inferred.
    pub task: Option<Task>,
    /// Columns to drop.
    pub ignore: Vec<String>,
    /// Cell texts that mean missing beside the default markers.
    pub na_values: Vec<String>,
    /// Primary metric, else the task's default.
    pub metric: Option<Metric>,
    /// CV folds (data over `HOLDOUT_ROWS` rows uses one holdout split).
    pub folds: usize,
    /// Times the folds are cut, each time from another seed, for a
    /// supervised task: every trial is scored on all of them.
    pub repeats: Repeats,
    /// Seed.
    pub seed: u64,
    /// Wall-clock budget in seconds for the whole command.
    pub time_budget: Option<f64>,
    /// Most trials to run.
    pub max_trials: Option<usize>,
    /// Families to try (empty: all that fit the task).
    pub families: Vec<Family>,
    /// Whether the best trials may be combined into a weighted ensemble
    /// (supervised tasks).
    pub ensemble: bool,
    /// Output folder.
    pub out: PathBuf,
    /// The run folder this run resumes (its `--out` too), if any.
    #[serde(default)]
    pub resume: Option<PathBuf>,
    /// A Kafka topic to read the training records from, instead of `data`.
    #[serde(default)]
    pub kafka: Option<TopicSource>,
}

impl TrainSettings {
    /// A supervised run on `data` predicting `target` with every other
    /// setting at the default `automl train` uses (output in
    /// `runs/<data stem>`). Change fields with struct update syntax.
    pub fn new(data: impl Into<PathBuf>, target: &str) -> TrainSettings {
        let data = data.into();
        TrainSettings {
            out: TrainSettings::out_for(None, &data),
            data,
            target: Some(target.to_string()),
            label: None,
            contamination: None,
            task: None,
            ignore: Vec::new(),
            na_values: Vec::new(),
            metric: None,
            folds: DEFAULT_FOLDS,
            repeats: Repeats::Auto,
            seed: DEFAULT_SEED,
            time_budget: TrainSettings::budget_for(None, None),
            max_trials: None,
            families: Vec::new(),
            ensemble: true,
            resume: None,
            kafka: None,
        }
    }

    /// The settings that resume the run in `dir` for `time_budget`
    /// seconds or `max_trials` more trials: the run's own, read from its
    /// checkpoint, with the new budget.
    pub fn resume(
        dir: &Path,
        time_budget: Option<f64>,
        max_trials: Option<usize>,
    ) -> Result<TrainSettings> {
        let checkpoint = super::checkpoint::Checkpoint::load(dir)?;
        if let Some(k) = &checkpoint.settings.kafka {
            return Err(Error::Settings(format!(
                "--resume continues runs trained from a file; {} read topic {}, whose log moves on (train from the topic again)",
                dir.display(),
                k.topic
            )));
        }
        let done = checkpoint.trials.len();
        Ok(TrainSettings {
            time_budget: TrainSettings::budget_for(time_budget, max_trials),
            max_trials: max_trials.map(|n| done + n),
            out: dir.to_path_buf(),
            resume: Some(dir.to_path_buf()),
            ..checkpoint.settings
        })
    }

    /// The time budget to use: as given; none when only a trial limit is
    /// given; else the default.
    pub fn budget_for(time_budget: Option<f64>, max_trials: Option<usize>) -> Option<f64> {
        match (time_budget, max_trials) {
            (Some(b), _) => Some(b),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TIME_BUDGET),
        }
    }

    /// The output folder to use: as given, else `runs/<data file stem>`.
    pub fn out_for(out: Option<PathBuf>, data: &Path) -> PathBuf {
        out.unwrap_or_else(|| {
            let stem = data
                .file_stem()
                .map_or("run".into(), |s| s.to_string_lossy().into_owned());
            Path::new("runs").join(stem)
        })
    }

    /// The share of rows a detector flags, for an anomaly task.
    pub fn contamination_for(&self, task: Task) -> Option<f64> {
        (task == Task::Anomaly).then(|| self.contamination.unwrap_or(DEFAULT_CONTAMINATION))
    }

    /// The settings as a configuration a run can start from, or why not:
    /// contradictory or out-of-range settings are refused here, once.
    pub fn validate(self) -> Result<TrainConfig> {
        self.check()?;
        Ok(TrainConfig(self))
    }

    fn check(&self) -> Result<()> {
        let s = self;
        let unsupervised = s.task.is_some_and(|t| !t.is_supervised());
        if unsupervised && s.target.is_some() {
            return Err(Error::Settings(
                "clustering and anomaly detection take no --target; use --label COL to score against a column"
                    .into(),
            ));
        }
        if !unsupervised && s.label.is_some() {
            return Err(Error::Settings(
                "--label is for --task cluster or --task anomaly; supervised tasks use --target"
                    .into(),
            ));
        }
        if let Some(c) = s.contamination {
            if s.task != Some(Task::Anomaly) {
                return Err(Error::Settings(
                    "--contamination is for --task anomaly".into(),
                ));
            }
            if !(c > 0.0 && c < 0.5) {
                return Err(Error::Settings(format!(
                    "--contamination must be between 0 and 0.5, not {c}"
                )));
            }
        }
        if let Some(b) = s.time_budget {
            if !(b > 0.0 && b.is_finite()) {
                return Err(Error::Settings(format!(
                    "--time-budget must be a positive number of seconds, not {b}"
                )));
            }
            if b > MAX_TIME_BUDGET {
                return Err(Error::Settings(format!(
                    "--time-budget must be at most {MAX_TIME_BUDGET} seconds (a year), not {b}"
                )));
            }
        }
        if s.max_trials == Some(0) {
            return Err(Error::Settings("--max-trials must be at least 1".into()));
        }
        if let Repeats::Times(n) = s.repeats {
            if !(1..=MAX_REPEATS).contains(&n) {
                return Err(Error::Settings(format!(
                    "--repeats must be auto or between 1 and {MAX_REPEATS}, not {n}"
                )));
            }
        }
        if !(2..=MAX_FOLDS).contains(&s.folds) {
            return Err(Error::Settings(format!(
                "--folds must be between 2 and {MAX_FOLDS}, not {}",
                s.folds
            )));
        }
        Ok(())
    }
}
