//! Drift monitoring (`--drift-seconds N`): the bins of the last
//! `--drift-window` scored records, each input column's and the
//! prediction's, compared every N seconds with the training distributions
//! stored in the model (the population stability index, PSI). A report
//! goes to the metrics topic as JSON, a series above `--drift-threshold`
//! is logged as a warning, and the values are served as metrics.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value as Json};

use crate::model;

/// The drift window and when it is next reported.
pub struct Drift {
    window: model::DriftWindow,
    every: Duration,
    last: Instant,
    threshold: f64,
}

/// One report: the PSI of every series over the window.
pub struct Report {
    /// Records in the window.
    pub window: usize,
    /// PSI per series, in `model::DRIFT_SERIES` order.
    pub psi: [f64; model::DRIFT_SERIES.len()],
    /// The warning threshold.
    pub threshold: f64,
}

impl Drift {
    /// Monitoring over the last `rows` records, reported every `seconds`;
    /// an error when the model has no drift reference.
    pub fn new(rows: usize, seconds: u64, threshold: f64) -> Result<Drift, String> {
        if model::DRIFT_SERIES.is_empty() {
            return Err(
                "--drift-seconds: this model has no drift reference (train it with a newer automl)"
                    .into(),
            );
        }
        Ok(Drift {
            window: model::drift_window(rows),
            every: Duration::from_secs(seconds.max(1)),
            last: Instant::now(),
            threshold,
        })
    }

    /// Adds a scored record's bins (`model::drift_bins`).
    pub fn push(&mut self, bins: &[u16; model::DRIFT_SERIES.len()]) {
        self.window.push(bins);
    }

    /// The report, once per period when the window has records.
    pub fn due(&mut self) -> Option<Report> {
        if self.last.elapsed() < self.every || self.window.is_empty() {
            return None;
        }
        self.last = Instant::now();
        Some(Report {
            window: self.window.len(),
            psi: model::drift_psi(&self.window),
            threshold: self.threshold,
        })
    }
}

impl Report {
    /// The series above the threshold, with their PSI.
    pub fn drifted(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        model::DRIFT_SERIES
            .iter()
            .zip(self.psi)
            .filter(|(_, v)| *v > self.threshold)
            .map(|(s, v)| (*s, v))
    }

    /// The report as the metrics topic carries it.
    pub fn json(&self) -> String {
        let psi: Map<String, Json> = model::DRIFT_SERIES
            .iter()
            .zip(self.psi)
            .map(|(s, v)| (s.to_string(), json!(v)))
            .collect();
        let drifted: Vec<&str> = self.drifted().map(|(s, _)| s).collect();
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        json!({
            "kind": "drift",
            "model_id": model::MODEL_ID,
            "at_ms": at,
            "window": self.window,
            "threshold": self.threshold,
            "psi": psi,
            "drifted": drifted,
        })
        .to_string()
    }
}
