//! Terminal output, decided in one place: [`Printer`] sends results and
//! `--json` to stdout and everything else — progress, notes, warnings — to
//! stderr, and draws the live progress display (the only code that touches
//! indicatif) only when stderr is a terminal. Also the text of `inspect`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::{Error, Result};
use crate::model::{Importance, Model};
use crate::search::{Event, Status};

/// The output policy of one command.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// No progress display and no notes.
    pub quiet: bool,
}

impl Printer {
    /// Prints a result on stdout; a closed pipe (`| head`) is not an error.
    pub fn result(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map_err(|e| Error::output("stdout", e)),
        }
    }

    /// A note on stderr, unless quiet.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("note: {text}");
        }
    }

    /// The progress display of a run limited by `budget` seconds and/or
    /// `max_trials`: drawn on stderr when it is a terminal and not quiet.
    pub fn progress(&self, budget: Option<f64>, max_trials: Option<usize>) -> Progress {
        let visible = !self.quiet && std::io::stderr().is_terminal();
        Progress::new(budget, max_trials, visible, self.quiet)
    }
}

/// The live display of a training run: its phase, elapsed time against the
/// budget, trials done, best model so far.
pub struct Progress {
    bar: ProgressBar,
    trials: usize,
    budget: Option<f64>,
    quiet: bool,
}

impl Progress {
    fn new(budget: Option<f64>, max_trials: Option<usize>, visible: bool, quiet: bool) -> Progress {
        let bar = match (budget, max_trials) {
            (Some(s), _) => ProgressBar::new((s * 10.0).round() as u64),
            (None, Some(n)) => ProgressBar::new(n as u64),
            (None, None) => ProgressBar::no_length(),
        };
        bar.set_draw_target(if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let template = if budget.is_some() {
            "{spinner} [{elapsed_precise}] {bar:30} budget {msg}"
        } else {
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} trials {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar,
            trials: 0,
            budget,
            quiet,
        }
    }

    /// Updates the display for an event of the run.
    pub fn on_event(&mut self, event: &Event<'_>) {
        if self.budget.is_some() {
            let tenths = self.bar.elapsed().as_secs_f64() * 10.0;
            self.bar.set_position(tenths as u64);
        }
        let (trial, best) = match event {
            Event::Phase(phase) => return self.bar.set_message(format!("| {}", phase.describe())),
            Event::Records(n) => {
                return self
                    .bar
                    .set_message(format!("| reading the topic: {n} records"))
            }
            Event::Note(note) if !self.quiet => {
                return self.bar.suspend(|| eprintln!("note: {note}"));
            }
            Event::Note(_) => return,
            Event::Trial { trial, best } => (trial, best),
        };
        if !matches!(trial.status, Status::Skipped(_)) {
            self.trials += 1;
        }
        if self.budget.is_none() {
            self.bar.set_position(self.trials as u64);
        }
        let best = best.map_or("none yet".to_string(), |b| {
            let (m, v) = b.metrics[0];
            format!("{} {m}={v:.4}", b.model_id)
        });
        self.bar
            .set_message(format!("| {} trials | best {best}", self.trials));
    }

    /// Removes the display.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// The `params` lines of `automl inspect`: `name=value` pairs, or for an
/// ensemble one line per member (weight, trial, family, its parameters).
fn describe_params(params: &BTreeMap<String, serde_json::Value>) -> String {
    let pairs = |p: &serde_json::Map<String, serde_json::Value>| -> String {
        let all: Vec<String> = p.iter().map(|(k, v)| format!("{k}={v}")).collect();
        all.join(" ")
    };
    let members: Option<Vec<String>> = params
        .iter()
        .map(|(id, v)| {
            let weight = v.get("weight")?.as_f64()?;
            let family = v.get("family")?.as_str()?;
            let own = v.get("params")?.as_object()?;
            Some(format!("{weight:.3} × {id} ({family}: {})", pairs(own)))
        })
        .collect();
    match members {
        Some(lines) if !lines.is_empty() => {
            let mut out = String::new();
            for (i, line) in lines.iter().enumerate() {
                let label = if i == 0 { "members" } else { "" };
                out.push_str(&format!("{label:<10} {line}\n"));
            }
            out
        }
        _ => {
            let all: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("params     {}\n", all.join(" "))
        }
    }
}

/// The text of `automl inspect`.
pub fn describe_model(model: &Model) -> String {
    let mut out = String::new();
    let m = &model.meta;
    out.push_str(&format!("model      {} ({})\n", m.model_id, m.family));
    out.push_str(&format!(
        "format     version {}, written by automl {}\n",
        model.format_version, m.tool_version
    ));
    out.push_str(
        &match (model.task.is_supervised(), model.target.is_empty()) {
            (true, _) => format!("task       {} on target '{}'\n", model.task, model.target),
            (false, true) => format!("task       {}, no labels\n", model.task),
            (false, false) => format!(
                "task       {}, scored against label '{}' (not used to fit)\n",
                model.task, model.target
            ),
        },
    );
    if !model.classes.is_empty() {
        out.push_str(&format!("classes    {}\n", model.classes.join(", ")));
    }
    out.push_str(&format!("cv score   {} = {:.6}\n", m.metric, m.cv_score));
    out.push_str(&format!(
        "trained on {} rows, seed {}\n",
        m.trained_rows, m.seed
    ));
    out.push_str(&describe_params(&m.params));
    out.push_str(&format!(
        "estimator  {}\n",
        model.estimator.as_kind().summary()
    ));
    out.push_str(&format!(
        "inputs     {} columns -> {} features{}\n",
        model.prep.columns.len(),
        model.prep.width(),
        if model.prep.scaler.is_some() {
            " (standardised)"
        } else {
            ""
        }
    ));
    if !model.prep.missing_markers.is_empty() {
        out.push_str(&format!(
            "  also missing: {}\n",
            model.prep.missing_markers.join(", ")
        ));
    }
    for c in &model.prep.columns {
        let kind = c.kind.name();
        let enc = match &c.encoding {
            crate::prep::Encoding::Number { fill } => format!("number, missing -> {fill}"),
            crate::prep::Encoding::Flag { fill } => format!("true/false, missing -> {fill}"),
            crate::prep::Encoding::OneHot { levels } => {
                format!("one-hot over {} levels", levels.len())
            }
            crate::prep::Encoding::Frequency { levels, .. } => {
                format!("frequency code over {} levels", levels.len())
            }
        };
        let ind = if c.missing_indicator {
            ", missing indicator"
        } else {
            ""
        };
        out.push_str(&format!("  {:<24} {kind:<14} {enc}{ind}\n", c.name));
    }
    if let Some(importance) = &m.importance {
        out.push_str(&describe_importance(importance));
    }
    out
}

/// Input columns shown by `inspect`, most important first; the rest are
/// in the model file and `importance.json`.
const IMPORTANCE_SHOWN: usize = 20;

/// The importance section of `inspect`.
fn describe_importance(importance: &Importance) -> String {
    let mut out = format!(
        "importance {} when shuffled ({} shuffles of {} held-out rows)\n",
        importance.measure, importance.shuffles, importance.rows
    );
    for c in importance.columns.iter().take(IMPORTANCE_SHOWN) {
        out.push_str(&format!(
            "  {:<24} {:>10.6} ± {:.6}\n",
            c.column, c.importance, c.std
        ));
    }
    let more = importance.columns.len().saturating_sub(IMPORTANCE_SHOWN);
    if more > 0 {
        out.push_str(&format!("  … and {more} more (importance.json)\n"));
    }
    out
}
