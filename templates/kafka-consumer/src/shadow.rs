//! The challenger (`automl export --kafka-consumer --challenger`): every
//! record the champion scores is scored by the challenger too, its output
//! going to the shadow topic with the same key; how often the two agree is
//! reported every `--stats-seconds`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value as Json};

use crate::record::{finish, values, Reading, Row, Scored};
use crate::{challenger, fields, model};

impl<'a> Reading<'a> for challenger::Value<'a> {
    const MISSING: Self = challenger::Value::Missing;
    fn number(x: f64) -> Self {
        challenger::Value::Number(x)
    }
    fn text(t: &'a str) -> Self {
        challenger::Value::Text(t)
    }
}

/// Scores with the challenger every record the champion scored (`champion`
/// holds its predictions), adding the challenger's output JSON — or, for a
/// record it can't score, `{"error": reason}` — to each such result.
pub fn score(
    objects: &[Result<Row<'_>, String>],
    records: &[(Option<&[u8]>, String)],
    champion: &[Option<model::Prediction>],
    results: &mut [Result<Scored, String>],
    agreement: &mut Agreement,
) {
    let bools = ["false".to_string(), "true".to_string()];
    let (mut rows, mut row_of) = (Vec::new(), Vec::new());
    for (i, object) in objects.iter().enumerate() {
        let (Ok(object), Some(_)) = (object, champion[i]) else {
            continue;
        };
        match values::<challenger::Value<'_>, _>(object, &fields::CHALLENGER, &bools) {
            Ok(v) => {
                rows.push(v);
                row_of.push(i);
            }
            Err(e) => shadow(results, i, refused(&e, &records[i].1)),
        }
    }
    challenger::predict_batch(&rows, |r, q| {
        let i = row_of[r];
        let text = match q {
            Ok(q) => {
                if let Some(p) = champion[i] {
                    agreement.add(p.compared(), q.compared());
                }
                let mut out = String::from("{");
                q.write_json(&mut out);
                finish(&mut out, challenger::MODEL_ID, &records[i].1);
                out
            }
            Err(e) => refused(&e.to_string(), &records[i].1),
        };
        shadow(results, i, text);
    });
}

fn shadow(results: &mut [Result<Scored, String>], i: usize, text: String) {
    if let Ok(scored) = &mut results[i] {
        scored.shadow = Some(text);
    }
}

/// The shadow output of a record the challenger can't score.
fn refused(reason: &str, source: &str) -> String {
    let mut out = format!("{{\"error\":{}", Json::from(reason));
    finish(&mut out, challenger::MODEL_ID, source);
    out
}

/// Champion and challenger compared since the last report.
#[derive(Debug, Default)]
pub struct Agreement {
    compared: u64,
    /// Records where both gave a class (a cluster, an anomaly flag).
    classed: u64,
    equal: u64,
    /// Sum over records of the mean absolute difference of their scores.
    differences: f64,
}

/// One report of the agreement.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Records both models scored.
    pub window: u64,
    /// Share of them with the same class (none for a regression).
    pub equal_share: Option<f64>,
    /// Mean absolute difference of their scores (class probabilities, the
    /// value, the anomaly score).
    pub mean_abs_diff: f64,
}

impl Agreement {
    /// Adds one record's two predictions, as `Prediction::compared` gives.
    pub fn add(&mut self, (a, p): (Option<usize>, &[f64]), (b, q): (Option<usize>, &[f64])) {
        self.compared += 1;
        if let (Some(a), Some(b)) = (a, b) {
            self.classed += 1;
            self.equal += u64::from(a == b);
        }
        if !p.is_empty() && p.len() == q.len() {
            let total: f64 = p.iter().zip(q).map(|(x, y)| (x - y).abs()).sum();
            self.differences += total / p.len() as f64;
        }
    }

    /// Adds what another part of the batch compared.
    pub fn merge(&mut self, other: &Agreement) {
        self.compared += other.compared;
        self.classed += other.classed;
        self.equal += other.equal;
        self.differences += other.differences;
    }

    /// The report since the last one (none if nothing was compared), and a
    /// fresh start.
    pub fn take(&mut self) -> Option<Report> {
        if self.compared == 0 {
            return None;
        }
        let a = std::mem::take(self);
        Some(Report {
            window: a.compared,
            equal_share: (a.classed > 0).then(|| a.equal as f64 / a.classed as f64),
            mean_abs_diff: a.differences / a.compared as f64,
        })
    }
}

impl Report {
    /// The report as the metrics topic carries it.
    pub fn json(&self) -> String {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        json!({
            "kind": "agreement",
            "champion": model::MODEL_ID,
            "challenger": challenger::MODEL_ID,
            "at_ms": at,
            "window": self.window,
            "equal_share": self.equal_share,
            "mean_abs_diff": self.mean_abs_diff,
        })
        .to_string()
    }

    /// The counters line's end.
    pub fn line(&self) -> String {
        let equal = self
            .equal_share
            .map_or("-".to_string(), |e| format!("{e:.4}"));
        format!(
            " compared={} equal-share={equal} mean-abs-diff={:.6}",
            self.window, self.mean_abs_diff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_counts_equal_classes_and_score_differences() {
        let mut a = Agreement::default();
        a.add((Some(1), &[0.2, 0.8]), (Some(1), &[0.4, 0.6]));
        a.add((Some(0), &[0.9, 0.1]), (Some(1), &[0.3, 0.7]));
        let r = a.take().unwrap();
        assert_eq!(r.window, 2);
        assert_eq!(r.equal_share, Some(0.5));
        assert!((r.mean_abs_diff - 0.4).abs() < 1e-12);
        assert!(a.take().is_none());
    }
}
