//! Fifth stage: every trial ranked by the primary metric, written as CSV,
//! JSON and Markdown and printed as a table. Ties break by family order,
//! then trial number, so seeded runs produce identical files.

use std::path::Path;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table as TextTable};
use serde::{Deserialize, Serialize};

pub use crate::data::csv_line;
use crate::data::Task;
use crate::error::{Error, Result};
use crate::learners::space::short;
use crate::metrics::Metric;
use crate::output::write_atomic;
use crate::search::{Status, Trial};

/// One leaderboard row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// 1 is best.
    pub rank: usize,
    /// Trial identifier.
    pub model_id: String,
    /// Learner family.
    pub family: String,
    /// Hyperparameters, `name=value` separated by spaces.
    pub params: String,
    /// Mean over folds of each metric, primary first (null unless ok).
    pub metrics: Vec<(String, Option<f64>)>,
    /// Standard deviation over folds of the primary metric.
    pub primary_std: Option<f64>,
    /// Seconds spent fitting (all folds).
    pub fit_seconds: f64,
    /// Microseconds to score one row.
    pub predict_us_per_row: f64,
    /// Lowered model size in bytes.
    pub model_bytes: usize,
    /// `ok`, `pruned: …`, `failed: …` or `skipped: …`.
    pub status: String,
}

/// The ranked trials of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leaderboard {
    /// The task.
    pub task: Task,
    /// The primary metric.
    pub metric: Metric,
    /// Rows, best first.
    pub rows: Vec<Row>,
}

impl Leaderboard {
    /// Ranks `trials`: scored ones by `metric`, then pruned, then failed, then skipped.
    /// `labelled` says whether an unsupervised run had a `--label` column.
    pub fn new(task: Task, metric: Metric, labelled: bool, trials: &[Trial]) -> Leaderboard {
        let mut order: Vec<&Trial> = trials.iter().collect();
        order.sort_by(|a, b| Trial::ranking(metric, a, b));
        let metrics: Vec<Metric> = {
            let mut m = vec![metric];
            m.extend(
                Metric::all_for(task, labelled)
                    .iter()
                    .filter(|x| **x != metric),
            );
            m
        };
        let rows = order
            .iter()
            .enumerate()
            .map(|(i, t)| Row {
                rank: i + 1,
                model_id: t.model_id.clone(),
                family: t.family_name().to_string(),
                params: t.describe(),
                metrics: metrics
                    .iter()
                    .map(|m| (m.name().to_string(), t.metric(*m)))
                    .collect(),
                primary_std: (t.status == Status::Ok).then_some(t.primary_std),
                fit_seconds: t.fit_seconds,
                predict_us_per_row: t.predict_us_per_row,
                model_bytes: t.model_bytes,
                status: t.status.describe(),
            })
            .collect();
        Leaderboard { task, metric, rows }
    }

    /// Reads `leaderboard.json`.
    pub fn load(path: &Path) -> Result<Leaderboard> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::data(path, e.to_string()))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::data(path, format!("not a leaderboard: {e}")))
    }

    fn header(&self) -> Vec<String> {
        let mut h = vec![
            "rank".to_string(),
            "model_id".into(),
            "family".into(),
            "params".into(),
        ];
        if let Some(first) = self.rows.first() {
            h.extend(
                first
                    .metrics
                    .iter()
                    .take(1)
                    .map(|(m, _)| format!("{m}_mean")),
            );
            h.push(format!("{}_std", self.metric));
            h.extend(first.metrics.iter().skip(1).map(|(m, _)| m.clone()));
        }
        h.extend(["fit_seconds", "predict_us_per_row", "model_bytes", "status"].map(String::from));
        h
    }

    fn cells(row: &Row, precise: bool) -> Vec<String> {
        let num = |v: Option<f64>| match v {
            Some(x) if precise => format!("{x}"),
            Some(x) => format!("{x:.4}"),
            None => String::new(),
        };
        let mut c = vec![
            row.rank.to_string(),
            row.model_id.clone(),
            row.family.clone(),
            row.params.clone(),
        ];
        c.extend(row.metrics.iter().take(1).map(|(_, v)| num(*v)));
        c.push(num(row.primary_std));
        c.extend(row.metrics.iter().skip(1).map(|(_, v)| num(*v)));
        c.push(if precise {
            format!("{}", row.fit_seconds)
        } else {
            format!("{:.2}", row.fit_seconds)
        });
        c.push(if precise {
            format!("{}", row.predict_us_per_row)
        } else {
            short(row.predict_us_per_row)
        });
        c.push(row.model_bytes.to_string());
        c.push(row.status.clone());
        c
    }

    /// CSV text (full precision).
    pub fn to_csv(&self) -> String {
        let mut out = csv_line(&self.header());
        for row in &self.rows {
            out.push_str(&csv_line(&Self::cells(row, true)));
        }
        out
    }

    /// Markdown table text.
    pub fn to_markdown(&self) -> String {
        let header = self.header();
        let mut out = format!(
            "| {} |\n|{}|\n",
            header.join(" | "),
            vec!["---"; header.len()].join("|")
        );
        for row in &self.rows {
            let cells: Vec<String> = Self::cells(row, false)
                .iter()
                .map(|c| c.replace('|', "\\|"))
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }

    /// A terminal table of the first `limit` rows.
    pub fn to_table(&self, limit: usize) -> String {
        let mut table = TextTable::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        let header = self.header();
        let keep: Vec<usize> = (0..header.len())
            .filter(|&i| header[i] != "model_bytes")
            .collect();
        table.set_header(keep.iter().map(|&i| header[i].clone()));
        for row in self.rows.iter().take(limit) {
            let cells = Self::cells(row, false);
            table.add_row(keep.iter().map(|&i| truncate(&cells[i], 48)));
        }
        table.to_string()
    }

    /// The end-of-run tables for a terminal `width` columns wide: the best
    /// trial of each family, then the `top` best trials overall, with the
    /// primary metric, its spread and the fit time, and parameters cut to
    /// fit (every column stays in the files and `automl leaderboard`).
    pub fn to_summary(&self, top: usize, width: usize) -> String {
        let best = self.family_best();
        let overall: Vec<&Row> = self.rows.iter().take(top).collect();
        format!(
            "best of each family\n{}\ntop {} overall\n{}",
            self.summary_table(&best, width),
            overall.len(),
            self.summary_table(&overall, width)
        )
    }

    /// The best row of each family, best first.
    pub fn family_best(&self) -> Vec<&Row> {
        let mut seen = std::collections::BTreeSet::new();
        self.rows
            .iter()
            .filter(|r| seen.insert(r.family.as_str()))
            .collect()
    }

    /// One summary table of `rows`, at most `width` columns wide.
    fn summary_table(&self, rows: &[&Row], width: usize) -> String {
        let header = [
            "rank".to_string(),
            "model_id".into(),
            "params".into(),
            self.metric.name().to_string(),
            "±".into(),
            "fit s".into(),
        ];
        let cells: Vec<[String; 6]> = rows
            .iter()
            .map(|r| {
                let num = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.4}"));
                let value = r.metrics.first().and_then(|(_, v)| *v);
                let status = if r.status == "ok" {
                    num(value)
                } else {
                    r.status.clone()
                };
                [
                    r.rank.to_string(),
                    r.model_id.clone(),
                    r.params.clone(),
                    status,
                    num(r.primary_std),
                    format!("{:.2}", r.fit_seconds),
                ]
            })
            .collect();
        let column = |i: usize| {
            let widest = cells.iter().map(|c| c[i].chars().count()).max();
            widest.unwrap_or(0).max(header[i].chars().count())
        };
        // A condensed UTF-8 table takes 3 characters a column beyond its
        // text, and one for the closing border.
        let others: usize = (0..6).filter(|&i| i != 2).map(|i| column(i) + 3).sum();
        let room = width.saturating_sub(others + 4).max(12);
        let mut table = TextTable::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(header);
        for c in cells {
            table.add_row(c.iter().enumerate().map(|(i, v)| {
                if i == 2 {
                    truncate(v, room)
                } else if i == 3 && v.chars().count() > 40 {
                    truncate(v, 40)
                } else {
                    v.clone()
                }
            }));
        }
        table.to_string()
    }

    /// Writes `leaderboard.{csv,json,md}` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::output(dir, e))?;
        write_atomic(&dir.join("leaderboard.json"), json.as_bytes())?;
        write_atomic(&dir.join("leaderboard.csv"), self.to_csv().as_bytes())?;
        write_atomic(&dir.join("leaderboard.md"), self.to_markdown().as_bytes())
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learners::space::{Param, Params};
    use crate::learners::Family;

    fn trial(number: usize, family: Family, auc: Option<f64>, status: Status) -> Trial {
        let mut t = Trial::new(number, family, Params::default(), 0, status);
        t.metrics = auc.map(|v| (Metric::RocAuc, v)).into_iter().collect();
        t
    }

    #[test]
    fn the_summary_shows_each_familys_best_then_the_top_within_the_width() {
        let params = Params(
            [
                ("some_long_parameter", Param::Float(123456.789)),
                (
                    "another_long_parameter",
                    Param::Choice("a long value".into()),
                ),
                ("yet_another_parameter", Param::Int(1234567)),
            ]
            .map(|(k, v)| (k.to_string(), v))
            .into(),
        );
        let scored = |n: usize, family, auc: f64| {
            let mut t = Trial::new(n, family, params.clone(), 0, Status::Ok);
            t.metrics = vec![(Metric::RocAuc, auc)];
            t
        };
        let mut trials: Vec<Trial> = (1..=12)
            .map(|n| scored(n, Family::Gbdt, 0.9 - 0.001 * n as f64))
            .collect();
        trials.push(scored(13, Family::Linear, 0.8));
        let board = Leaderboard::new(Task::Binary, Metric::RocAuc, false, &trials);
        let text = board.to_summary(5, 100);
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        let (families, top) = text.split_once("top 5 overall").unwrap();
        assert!(
            families.contains("gbdt-1 ") && families.contains("linear-13"),
            "{text}"
        );
        assert!(!families.contains("gbdt-2 "), "{text}");
        for n in 1..=5 {
            assert!(top.contains(&format!("gbdt-{n} ")), "{text}");
        }
        assert!(
            !top.contains("gbdt-6 ") && !top.contains("linear"),
            "{text}"
        );
        assert!(text.contains('…'), "long parameters are cut: {text}");
    }

    #[test]
    fn ok_rows_rank_by_metric_then_family_order_then_trial_number() {
        let trials = [
            trial(1, Family::Knn, Some(0.9), Status::Ok),
            trial(2, Family::Gbdt, None, Status::Skipped("time".into())),
            trial(3, Family::Linear, None, Status::Failed("bad".into())),
            trial(4, Family::Linear, Some(0.95), Status::Ok),
            trial(5, Family::Gbdt, Some(0.95), Status::Ok),
            trial(6, Family::Gbdt, Some(0.95), Status::Ok),
        ];
        let board = Leaderboard::new(Task::Binary, Metric::RocAuc, true, &trials);
        let ids: Vec<&str> = board.rows.iter().map(|r| r.model_id.as_str()).collect();
        assert_eq!(
            ids,
            ["gbdt-5", "gbdt-6", "linear-4", "knn-1", "linear-3", "gbdt-2"]
        );
        assert_eq!(board.rows[0].rank, 1);
    }
}
