//! Terminal output: the live progress display during a search (the only code
//! that touches indicatif), the final summary, and the text of `inspect`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::Model;
use crate::search::{Event, Status};

/// The live display of a running search: elapsed time against the budget,
/// trials done, best model so far. Hidden unless stdout is a terminal.
pub struct Progress {
    bar: ProgressBar,
    trials: usize,
}

impl Progress {
    /// A display for a search limited by `budget` seconds and/or `max_trials`;
    /// `quiet` hides it.
    pub fn new(budget: Option<f64>, max_trials: Option<usize>, quiet: bool) -> Progress {
        let visible = !quiet && std::io::stdout().is_terminal();
        let bar = match (budget, max_trials) {
            (Some(s), _) => ProgressBar::new((s * 10.0).round() as u64),
            (None, Some(n)) => ProgressBar::new(n as u64),
            (None, None) => ProgressBar::no_length(),
        };
        bar.set_draw_target(if visible {
            ProgressDrawTarget::stdout()
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
        Progress { bar, trials: 0 }
    }

    /// Updates the display for a search event.
    pub fn on_event(&mut self, event: &Event<'_>, budget: Option<f64>) {
        let Event::Trial { trial, best } = event;
        if !matches!(trial.status, Status::Skipped(_)) {
            self.trials += 1;
        }
        match budget {
            Some(_) => self
                .bar
                .set_position((self.bar.elapsed().as_secs_f64() * 10.0) as u64),
            None => self.bar.set_position(self.trials as u64),
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
    let params: Vec<String> = m.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.push_str(&format!("params     {}\n", params.join(" ")));
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
    for c in &model.prep.columns {
        let kind = format!("{:?}", c.kind).to_lowercase();
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
        out.push_str(&format!("  {:<24} {kind:<12} {enc}{ind}\n", c.name));
    }
    out
}
