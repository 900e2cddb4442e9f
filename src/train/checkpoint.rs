//! Resumable runs. As the search goes, its trials are written to
//! `--out/.checkpoint.json` (atomically, at most once a second), with the
//! settings and a hash of the data; a finished or stopped run publishes
//! them as `checkpoint.json` with its other outputs. `automl train
//! --resume RUN` reads them back (the hidden file first: it is what a
//! killed run left), checks the data is the same, and the search replays
//! the trials — the same decisions, fed the recorded outcomes — before it
//! goes on, so a resumed run continues the very search it stopped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::TrainSettings;
use crate::error::{Error, Result};
use crate::learners::space::Params;
use crate::learners::Family;
use crate::metrics::Metric;
use crate::output::write_atomic;
use crate::search::{Status, Trial};

/// The checkpoint a finished run publishes.
pub const FILE: &str = "checkpoint.json";
/// The checkpoint a run writes as it goes (left behind by a killed run).
pub const PARTIAL: &str = ".checkpoint.json";
/// Seconds between writes of the partial checkpoint, at least.
const EVERY: f64 = 1.0;

/// What a resumed run needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The automl that wrote it.
    pub tool_version: String,
    /// The run's settings.
    pub settings: TrainSettings,
    /// FNV-1a hash of the data file's bytes.
    pub data_hash: String,
    /// Every trial of a family the search ran, in order.
    pub trials: Vec<TrialRecord>,
}

/// One trial as the search recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    number: usize,
    family: Family,
    params: Params,
    seed: u64,
    status: Status,
    metrics: Vec<(Metric, f64)>,
    primary_std: f64,
    fold_losses: Vec<f64>,
    race_losses: Vec<f64>,
    fit_seconds: f64,
    predict_us_per_row: f64,
    model_bytes: usize,
    finished: f64,
    seconds: f64,
}

impl TrialRecord {
    /// The record of a trial the search ran (`None` for an ensemble, which
    /// a resumed run selects again, and for a trial skipped for time, which
    /// it runs).
    pub fn of(t: &Trial) -> Option<TrialRecord> {
        let (family, params) = t.learner()?;
        if matches!(t.status, Status::Skipped(_)) {
            return None;
        }
        Some(TrialRecord {
            number: t.number,
            family,
            params: params.clone(),
            seed: t.seed,
            status: t.status.clone(),
            metrics: t.metrics.clone(),
            primary_std: t.primary_std,
            fold_losses: t.fold_losses.clone(),
            race_losses: t.race_losses.clone(),
            fit_seconds: t.fit_seconds,
            predict_us_per_row: t.predict_us_per_row,
            model_bytes: t.model_bytes,
            finished: t.finished,
            seconds: t.seconds,
        })
    }

    /// The trial again.
    pub fn trial(&self) -> Trial {
        let mut t = Trial::new(
            self.number,
            self.family,
            self.params.clone(),
            self.seed,
            self.status.clone(),
        );
        t.metrics = self.metrics.clone();
        t.primary_std = self.primary_std;
        t.fold_losses = self.fold_losses.clone();
        t.race_losses = self.race_losses.clone();
        t.fit_seconds = self.fit_seconds;
        t.predict_us_per_row = self.predict_us_per_row;
        t.model_bytes = self.model_bytes;
        t.finished = self.finished;
        t.seconds = self.seconds;
        t
    }
}

/// FNV-1a hash of the file at `path`.
pub fn data_hash(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::data(path, e.to_string()))?;
    Ok(format!("{:016x}", crate::output::fingerprint(&bytes)))
}

impl Checkpoint {
    /// The checkpoint of run folder `dir`: what a killed run left, else
    /// what a finished one published.
    pub fn load(dir: &Path) -> Result<Checkpoint> {
        let path = [PARTIAL, FILE]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .ok_or_else(|| {
                Error::Settings(format!(
                    "--resume: {} has no checkpoint (is it a folder written by automl train?)",
                    dir.display()
                ))
            })?;
        let text = std::fs::read_to_string(&path).map_err(|e| Error::data(&path, e.to_string()))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::data(&path, format!("not a checkpoint: {e}")))
    }

    /// The recorded trials, to replay.
    pub fn trials(&self) -> Vec<Trial> {
        self.trials.iter().map(TrialRecord::trial).collect()
    }
}

/// The trials to replay and the checkpoint writer of a run: for a run
/// resuming another (`settings.resume`), that run's trials and data hash
/// (checked by [`Writer::hash_data`] once the data has loaded).
pub fn start(settings: &TrainSettings) -> Result<(Vec<Trial>, Writer)> {
    let Some(dir) = &settings.resume else {
        return Ok((
            Vec::new(),
            Writer::new(settings, String::new(), Vec::new(), false),
        ));
    };
    let checkpoint = Checkpoint::load(dir)?;
    let trials = checkpoint.trials();
    let writer = Writer::new(settings, checkpoint.data_hash, checkpoint.trials, true);
    Ok((trials, writer))
}

/// Writes the partial checkpoint as trials finish, at most once every
/// [`EVERY`] seconds.
pub struct Writer {
    checkpoint: Checkpoint,
    path: PathBuf,
    last: Option<Instant>,
    created_dir: bool,
    resuming: bool,
}

impl Writer {
    /// A writer for the run of `settings` into its `--out`, starting from
    /// `trials` (those of the run it resumes).
    pub fn new(
        settings: &TrainSettings,
        data_hash: String,
        trials: Vec<TrialRecord>,
        resuming: bool,
    ) -> Writer {
        Writer {
            checkpoint: Checkpoint {
                tool_version: env!("CARGO_PKG_VERSION").to_string(),
                settings: settings.clone(),
                data_hash,
                trials,
            },
            path: settings.out.join(PARTIAL),
            last: None,
            created_dir: false,
            resuming,
        }
    }

    /// Hashes the data file the run loaded; a resumed run's must be the
    /// one the checkpoint names.
    pub fn hash_data(&mut self, path: &Path) -> Result<()> {
        let now = data_hash(path)?;
        if self.resuming && now != self.checkpoint.data_hash {
            return Err(Error::data(
                path,
                format!(
                    "has changed since the run being resumed (hash {now}, the run's {}); resume with the same data, or start a new run",
                    self.checkpoint.data_hash
                ),
            ));
        }
        self.checkpoint.data_hash = now;
        Ok(())
    }

    /// Records a finished trial, writing the partial checkpoint if the
    /// last write is a second old. A checkpoint that can't be written
    /// doesn't stop the run: the error is returned for a note.
    pub fn record(&mut self, trial: &Trial) -> Result<()> {
        let Some(record) = TrialRecord::of(trial) else {
            return Ok(());
        };
        if let Some(old) = self
            .checkpoint
            .trials
            .iter_mut()
            .find(|r| r.number == record.number)
        {
            *old = record;
        } else {
            self.checkpoint.trials.push(record);
        }
        if self.last.is_some_and(|t| t.elapsed().as_secs_f64() < EVERY) {
            return Ok(());
        }
        self.last = Some(Instant::now());
        self.write_partial()
    }

    fn write_partial(&mut self) -> Result<()> {
        let dir = &self.checkpoint.settings.out;
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
            self.created_dir = true;
        }
        write_atomic(&self.path, &self.json()?)
    }

    /// The whole checkpoint as JSON, for the published `checkpoint.json`.
    pub fn json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.checkpoint).map_err(|e| Error::output(&self.path, e))
    }

    /// Ends the run's checkpointing. A run that published its outputs
    /// (with `checkpoint.json`) removes the partial checkpoint, as does a
    /// failed new run (with `--out` if it made it and nothing else is in
    /// it), which leaves nothing; a failed resumed run leaves it, still a
    /// checkpoint to resume from.
    pub fn finish(&self, published: bool) {
        if !published && self.resuming {
            return;
        }
        let _ = std::fs::remove_file(&self.path);
        if self.created_dir {
            let _ = std::fs::remove_dir(&self.checkpoint.settings.out);
        }
    }
}
