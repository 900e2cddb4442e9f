//! Hyperparameter spaces: each learner declares its dimensions with a range,
//! a scale and a low-cost starting value. The search moves in the unit cube
//! and decodes points into concrete `Params`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The range of one hyperparameter.
#[derive(Debug, Clone)]
pub enum Range {
    /// Whole numbers in `[lo, hi]`, log-scaled when `log`.
    Int {
        /// Lowest value.
        lo: i64,
        /// Highest value.
        hi: i64,
        /// Log scale.
        log: bool,
    },
    /// Reals in `[lo, hi]`, log-scaled when `log`.
    Float {
        /// Lowest value.
        lo: f64,
        /// Highest value.
        hi: f64,
        /// Log scale.
        log: bool,
    },
    /// One of a few names.
    Choice(&'static [&'static str]),
}

/// One hyperparameter.
#[derive(Debug, Clone)]
pub struct Dim {
    /// Name, as shown on the leaderboard.
    pub name: &'static str,
    /// Range.
    pub range: Range,
    /// Starting value, as a point in `[0, 1]` (the cheap end for costly ones).
    pub init: f64,
}

impl Dim {
    /// An integer dimension starting at value `init`.
    pub fn int(name: &'static str, lo: i64, hi: i64, log: bool, init: i64) -> Dim {
        let range = Range::Int { lo, hi, log };
        let init = to_unit(init as f64, lo as f64, hi as f64, log);
        Dim { name, range, init }
    }

    /// A real dimension starting at value `init`.
    pub fn float(name: &'static str, lo: f64, hi: f64, log: bool, init: f64) -> Dim {
        let range = Range::Float { lo, hi, log };
        Dim {
            name,
            range,
            init: to_unit(init, lo, hi, log),
        }
    }

    /// A choice starting at `choices[init]`.
    pub fn choice(name: &'static str, choices: &'static [&'static str], init: usize) -> Dim {
        let init = (init as f64 + 0.5) / choices.len() as f64;
        Dim {
            name,
            range: Range::Choice(choices),
            init,
        }
    }

    fn decode(&self, u: f64) -> Param {
        let u = u.clamp(0.0, 1.0);
        match self.range {
            Range::Int { lo, hi, log } => {
                Param::Int(from_unit(u, lo as f64, hi as f64, log).round() as i64)
            }
            Range::Float { lo, hi, log } => Param::Float(from_unit(u, lo, hi, log)),
            Range::Choice(c) => {
                Param::Choice(c[((u * c.len() as f64) as usize).min(c.len() - 1)].to_string())
            }
        }
    }
}

fn to_unit(v: f64, lo: f64, hi: f64, log: bool) -> f64 {
    if hi <= lo {
        return 0.0;
    }
    if log {
        (v.ln() - lo.ln()) / (hi.ln() - lo.ln())
    } else {
        (v - lo) / (hi - lo)
    }
}

fn from_unit(u: f64, lo: f64, hi: f64, log: bool) -> f64 {
    if log {
        (lo.ln() + u * (hi.ln() - lo.ln())).exp()
    } else {
        lo + u * (hi - lo)
    }
}

/// A concrete hyperparameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Param {
    /// A whole number.
    Int(i64),
    /// A real.
    Float(f64),
    /// A named choice.
    Choice(String),
}

/// A configuration: hyperparameter values by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Params(pub BTreeMap<String, Param>);

impl Params {
    /// Decodes a point of the unit cube.
    pub fn decode(space: &[Dim], point: &[f64]) -> Params {
        Params(
            space
                .iter()
                .zip(point)
                .map(|(d, u)| (d.name.to_string(), d.decode(*u)))
                .collect(),
        )
    }

    /// An integer value (0 when absent, which a learner's space rules out).
    pub fn int(&self, name: &str) -> i64 {
        match self.0.get(name) {
            Some(Param::Int(v)) => *v,
            Some(Param::Float(v)) => *v as i64,
            _ => 0,
        }
    }

    /// A real value.
    pub fn float(&self, name: &str) -> f64 {
        match self.0.get(name) {
            Some(Param::Float(v)) => *v,
            Some(Param::Int(v)) => *v as f64,
            _ => 0.0,
        }
    }

    /// A choice value.
    pub fn choice(&self, name: &str) -> &str {
        match self.0.get(name) {
            Some(Param::Choice(s)) => s,
            _ => "",
        }
    }

    /// Compact `name=value` text, floats to 4 significant digits.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| match v {
                Param::Int(i) => format!("{k}={i}"),
                Param::Float(f) => format!("{k}={}", short(*f)),
                Param::Choice(s) => format!("{k}={s}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// As JSON values, for the model's metadata.
    pub fn to_json(&self) -> BTreeMap<String, serde_json::Value> {
        self.0
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect()
    }
}

/// A float to 4 significant digits.
pub fn short(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let mag = f.abs().log10().floor() as i32;
    if !(-3..6).contains(&mag) {
        format!("{f:.3e}")
    } else {
        let decimals = (3 - mag).max(0) as usize;
        format!("{f:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_decodes_to_the_declared_start() {
        let space = [
            Dim::int("trees", 4, 1000, true, 8),
            Dim::float("lr", 0.01, 1.0, true, 0.1),
            Dim::choice("c", &["a", "b", "c"], 1),
        ];
        let init: Vec<f64> = space.iter().map(|d| d.init).collect();
        let p = Params::decode(&space, &init);
        assert_eq!(p.int("trees"), 8);
        assert!((p.float("lr") - 0.1).abs() < 1e-12);
        assert_eq!(p.choice("c"), "b");
    }
}
