//! The run's report, `report.html` in every `--out`: one self-contained
//! page (inline SVG drawn by plotters, inline style, no script, no network)
//! with the leaderboard, the search's trajectory, feature importance and
//! the task's own charts of the winner. It sits after the leaderboard and
//! the model on the data's path and reads their results. `report.json`
//! keeps what the charts draw ([`ReportData`]), so `automl report`
//! redraws the page from the run folder alone.

pub mod charts;
pub mod data;

use std::fmt::Write as _;
use std::path::Path;

pub use data::{Outcomes, ReportData, Run};

use crate::error::{Error, Result};
use crate::leaderboard::Leaderboard;
use crate::model::Importance;
use crate::output::write_atomic;

/// Overall best leaderboard rows the page lists after each family's best.
pub const ROWS: usize = 10;

/// The page for a run's leaderboard, importance (if measured) and data.
pub fn render(
    board: &Leaderboard,
    importance: Option<&Importance>,
    data: &ReportData,
) -> Result<String> {
    let mut page = String::new();
    head(&mut page, data);
    let tables = format!(
        "<h3>Best of each family</h3>\n{}\n<h3>Top {ROWS} overall</h3>\n{}",
        leaderboard(board, &board.family_best()),
        leaderboard(board, &board.rows.iter().take(ROWS).collect::<Vec<_>>())
    );
    section(&mut page, "Leaderboard", &tables);
    let trajectory = charts::trajectory(&data.trajectory, &data.metric, data.higher_is_better);
    section(&mut page, "Search", &figure(trajectory)?);
    let importance = match importance {
        Some(i) => figure(charts::importance(i))?,
        None => "<p>Not measured in this run (see the notes in run.json).</p>".into(),
    };
    section(&mut page, "Feature importance", &importance);
    outcomes(&mut page, &data.outcomes)?;
    let _ = writeln!(
        page,
        "<p>All {} trials: leaderboard.csv, or <code>automl leaderboard</code>.</p>",
        board.rows.len()
    );
    page.push_str("</main>\n</body>\n</html>\n");
    Ok(page)
}

/// Redraws `dir/report.html` from the run folder's `leaderboard.json`,
/// `report.json` and `importance.json` (if any).
pub fn rebuild(dir: &Path) -> Result<()> {
    let board = Leaderboard::load(&dir.join("leaderboard.json"))?;
    let read = |name: &str| -> Result<Option<String>> {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::data(path, e.to_string())),
        }
    };
    let parse_error = |name: &str, e: serde_json::Error| Error::data(dir.join(name), e.to_string());
    let data: ReportData = match read("report.json")? {
        Some(text) => serde_json::from_str(&text).map_err(|e| parse_error("report.json", e))?,
        None => {
            return Err(Error::data(
                dir.join("report.json"),
                "not found: is this a run folder written by automl train?",
            ))
        }
    };
    let importance: Option<Importance> = match read("importance.json")? {
        Some(text) => {
            Some(serde_json::from_str(&text).map_err(|e| parse_error("importance.json", e))?)
        }
        None => None,
    };
    let page = render(&board, importance.as_ref(), &data)?;
    write_atomic(&dir.join("report.html"), page.as_bytes())
}

/// Text made safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:0;color:#222}\
main{max-width:1000px;margin:0 auto;padding:1em 2em}\
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;font-size:.85em}td,th{padding:.25em .6em;border-bottom:1px solid #eee;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1em 0}figure svg{max-width:100%;height:auto}";

fn head(page: &mut String, data: &ReportData) {
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>automl run: {id}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>automl run: {id}</h1>\n<p>{task} task, ranked by {metric}; the saved model is <strong>{id}</strong>.</p>\n",
        id = escape(&data.model_id),
        task = data.task,
        metric = escape(&data.metric),
    );
}

fn section(page: &mut String, title: &str, body: &str) {
    let _ = write!(
        page,
        "<section>\n<h2>{}</h2>\n{body}\n</section>\n",
        escape(title)
    );
}

fn figure(svg: std::result::Result<String, String>) -> Result<String> {
    let svg = svg.map_err(Error::Internal)?;
    // The SVG's own XML declaration is not allowed inside HTML.
    let start = svg.find("<svg").unwrap_or(0);
    Ok(format!("<figure>{}</figure>", &svg[start..]))
}

/// Leaderboard `rows` as a table.
fn leaderboard(board: &Leaderboard, rows: &[&crate::leaderboard::Row]) -> String {
    let metric = board.metric.name();
    let mut table = format!(
        "<table>\n<tr><th>rank</th><th>model</th><th>family</th><th>{}</th><th>± std</th><th>fit s</th><th>status</th></tr>\n",
        escape(metric)
    );
    for r in rows {
        let value = r
            .metrics
            .first()
            .and_then(|m| m.1)
            .map_or(String::new(), |v| format!("{v:.4}"));
        let std = r.primary_std.map_or(String::new(), |v| format!("{v:.4}"));
        let _ = writeln!(
            table,
            "<tr><td class=\"n\">{}</td><td title=\"{}\">{}</td><td>{}</td><td class=\"n\">{value}</td><td class=\"n\">{std}</td><td class=\"n\">{:.2}</td><td>{}</td></tr>",
            r.rank,
            escape(&r.params),
            escape(&r.model_id),
            escape(&r.family),
            r.fit_seconds,
            escape(&r.status)
        );
    }
    table.push_str("</table>");
    table
}

/// The task's sections.
fn outcomes(page: &mut String, outcomes: &Outcomes) -> Result<()> {
    match outcomes {
        Outcomes::Classification {
            classes,
            roc,
            pr,
            confusion,
        } => {
            let axes = ("false positive rate", "true positive rate");
            let curves = [
                figure(charts::curves("ROC (out of fold)", roc, axes, true))?,
                figure(charts::curves(
                    "Precision and recall (out of fold)",
                    pr,
                    ("recall", "precision"),
                    false,
                ))?,
                figure(charts::confusion(classes, confusion))?,
            ];
            section(page, "Classification", &curves.concat());
        }
        Outcomes::Regression { points } => {
            let (lo, hi) = points
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                    (a.min(p.0), b.max(p.0))
                });
            let residuals: Vec<(f64, f64)> = points.iter().map(|(a, p)| (*p, a - p)).collect();
            let x_range = residuals
                .iter()
                .map(|r| r.0)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
            let charts = [
                figure(charts::scatter(
                    "Predicted against actual (out of fold)",
                    points,
                    ("actual", "predicted"),
                    Some([(lo, lo), (hi, hi)]),
                ))?,
                figure(charts::scatter(
                    "Residuals (out of fold)",
                    &residuals,
                    ("predicted", "actual − predicted"),
                    Some([(x_range.0, 0.0), (x_range.1, 0.0)]),
                ))?,
            ];
            section(page, "Regression", &charts.concat());
        }
        Outcomes::Cluster { sizes, projection } => {
            let bars: Vec<(String, usize)> = sizes
                .iter()
                .map(|(c, n)| {
                    (
                        if *c < 0 {
                            "noise".to_string()
                        } else {
                            c.to_string()
                        },
                        *n,
                    )
                })
                .collect();
            let charts = [
                figure(charts::bars("Rows per cluster", &bars, ("cluster", "rows")))?,
                figure(charts::projection(projection))?,
            ];
            section(page, "Clusters", &charts.concat());
        }
        Outcomes::Anomaly { scores, threshold } => {
            let flagged = scores.iter().filter(|s| **s > *threshold).count();
            let text = format!(
                "<p>{flagged} of {} sampled rows score above the threshold.</p>{}",
                scores.len(),
                figure(charts::histogram(scores, *threshold))?
            );
            section(page, "Anomalies", &text);
        }
    }
    Ok(())
}
