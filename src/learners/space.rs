//! Hyperparameter spaces: each learner declares its dimensions with a range,
//! a scale and a low-cost starting value. The search moves in the unit cube
//! and decodes points into concrete `Params`; each family then reads those
//! into its own typed parameter struct through the checked getters here
//! (`count`, `real`, `option`), which refuse a missing or mistyped name
//! instead of guessing, and choices become enums (`Choice`).

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

/// A dimension before it is named: its range and starting point. The
/// `hyperparameters!` declarations name each one after its field.
#[derive(Debug, Clone)]
pub struct Unnamed {
    range: Range,
    init: f64,
}

impl Unnamed {
    /// The dimension called `name`.
    pub fn named(self, name: &'static str) -> Dim {
        Dim {
            name,
            range: self.range,
            init: self.init,
        }
    }
}

/// Whole numbers in `[lo, hi]` (log-scaled when `log`), starting at `init`.
pub fn int(lo: i64, hi: i64, log: bool, init: i64) -> Unnamed {
    let range = Range::Int { lo, hi, log };
    let init = to_unit(init as f64, lo as f64, hi as f64, log);
    Unnamed { range, init }
}

/// Reals in `[lo, hi]` (log-scaled when `log`), starting at `init`.
pub fn real(lo: f64, hi: f64, log: bool, init: f64) -> Unnamed {
    let range = Range::Float { lo, hi, log };
    let init = to_unit(init, lo, hi, log);
    Unnamed { range, init }
}

/// One of a choice's options, starting at `init`.
pub fn choice<C: Choice + PartialEq>(init: C) -> Unnamed {
    let at = C::ALL.iter().position(|c| *c == init).unwrap_or(0);
    let init = (at as f64 + 0.5) / C::NAMES.len() as f64;
    Unnamed {
        range: Range::Choice(C::NAMES),
        init,
    }
}

impl Dim {
    /// An integer dimension starting at value `init`.
    pub fn int(name: &'static str, lo: i64, hi: i64, log: bool, init: i64) -> Dim {
        int(lo, hi, log, init).named(name)
    }

    /// A real dimension starting at value `init`.
    pub fn float(name: &'static str, lo: f64, hi: f64, log: bool, init: f64) -> Dim {
        real(lo, hi, log, init).named(name)
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

/// A known-good configuration a family tries right after its cheap start:
/// values by dimension name (a choice by its position); dimensions it
/// leaves out keep their starting point.
pub type Preset = &'static [(&'static str, f64)];

/// The unit-cube point of `preset` in `space`; `Err` names a dimension the
/// space does not have.
pub fn preset_point(space: &[Dim], preset: Preset) -> Result<Vec<f64>, String> {
    let mut point: Vec<f64> = space.iter().map(|d| d.init).collect();
    for (name, value) in preset {
        let Some(at) = space.iter().position(|d| d.name == *name) else {
            return Err(format!("no dimension '{name}'"));
        };
        point[at] = match space[at].range {
            Range::Int { lo, hi, log } => to_unit(*value, lo as f64, hi as f64, log),
            Range::Float { lo, hi, log } => to_unit(*value, lo, hi, log),
            Range::Choice(c) => (value + 0.5) / c.len() as f64,
        }
        .clamp(0.0, 1.0);
    }
    Ok(point)
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

    /// A whole number of at least 0 (counts, depths, sizes).
    pub fn count(&self, name: &str) -> Result<usize, String> {
        match self.0.get(name) {
            Some(Param::Int(v)) => {
                usize::try_from(*v).map_err(|_| format!("hyperparameter {name}={v} is negative"))
            }
            other => Err(missing(name, other, "a whole number")),
        }
    }

    /// A finite real number (an integer value reads as one).
    pub fn real(&self, name: &str) -> Result<f64, String> {
        match self.0.get(name) {
            Some(Param::Float(v)) if v.is_finite() => Ok(*v),
            Some(Param::Int(v)) => Ok(*v as f64),
            other => Err(missing(name, other, "a finite number")),
        }
    }

    /// One of a choice's options.
    pub fn option<C: Choice>(&self, name: &str) -> Result<C, String> {
        match self.0.get(name) {
            Some(Param::Choice(s)) => C::NAMES
                .iter()
                .position(|n| n == s)
                .map(|i| C::ALL[i])
                .ok_or_else(|| format!("hyperparameter {name}={s} is not one of {:?}", C::NAMES)),
            other => Err(missing(name, other, "a choice")),
        }
    }

    /// An integer value, unchecked (tests).
    #[cfg(test)]
    pub fn int(&self, name: &str) -> i64 {
        match self.0.get(name) {
            Some(Param::Int(v)) => *v,
            _ => 0,
        }
    }

    /// A real value, unchecked (tests).
    #[cfg(test)]
    pub fn float(&self, name: &str) -> f64 {
        self.real(name).unwrap_or(0.0)
    }

    /// A choice's name, unchecked (tests).
    #[cfg(test)]
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

/// Why a hyperparameter could not be read as `wanted`.
fn missing(name: &str, found: Option<&Param>, wanted: &str) -> String {
    match found {
        None => format!("hyperparameter {name} is missing"),
        Some(p) => format!("hyperparameter {name}={p:?} is not {wanted}"),
    }
}

/// A hyperparameter's typed value, read from `Params` by name.
pub trait FromParam: Sized {
    /// The value of `name` in `p`, or why it can't be read.
    fn from_param(p: &Params, name: &str) -> Result<Self, String>;
}

impl FromParam for usize {
    fn from_param(p: &Params, name: &str) -> Result<Self, String> {
        p.count(name)
    }
}

impl FromParam for f64 {
    fn from_param(p: &Params, name: &str) -> Result<Self, String> {
        p.real(name)
    }
}

/// A hyperparameter that only some tasks' spaces have.
impl<T: FromParam> FromParam for Option<T> {
    fn from_param(p: &Params, name: &str) -> Result<Self, String> {
        match p.0.contains_key(name) {
            true => T::from_param(p, name).map(Some),
            false => Ok(None),
        }
    }
}

/// A family's typed hyperparameters: its space, and the reading of a
/// configuration of it. `hyperparameters!` writes both.
pub trait Hyperparameters: Sized {
    /// The search space for `task`.
    fn space(task: crate::data::Task) -> Vec<Dim>;
    /// Reads a configuration, refusing a missing or mistyped value.
    fn decode(p: &Params) -> Result<Self, String>;
}

/// Declares a family's hyperparameters once: a struct with one typed field
/// per dimension, `space(task)` (the dimensions in field order, named after
/// the fields; `where { condition }` keeps a dimension to the tasks the
/// condition holds for) and `decode`, which reads `Params` back into the
/// struct through the checked getters.
macro_rules! hyperparameters {
    (
        $(#[$doc:meta])* $name:ident($task:ident) {
            $($(#[$fdoc:meta])* $field:ident: $ty:ty $(where { $when:expr })? = $range:expr,)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty,)*
        }

        impl $name {
            /// The family's search space for `task`.
            #[allow(unused_variables)]
            pub fn space($task: $crate::data::Task) -> Vec<$crate::learners::space::Dim> {
                let mut dims = Vec::new();
                $(
                    if true $(&& $when)? {
                        dims.push(($range).named(stringify!($field)));
                    }
                )*
                dims
            }

            /// Reads a configuration of the space, refusing a missing or
            /// mistyped value.
            pub fn decode(p: &$crate::learners::space::Params) -> Result<Self, String> {
                use $crate::learners::space::FromParam;
                Ok($name {
                    $($field: FromParam::from_param(p, stringify!($field))?,)*
                })
            }
        }

        impl $crate::learners::space::Hyperparameters for $name {
            fn space(task: $crate::data::Task) -> Vec<$crate::learners::space::Dim> {
                $name::space(task)
            }

            fn decode(p: &$crate::learners::space::Params) -> Result<Self, String> {
                $name::decode(p)
            }
        }
    };
}
pub(crate) use hyperparameters;

/// The options of a choice hyperparameter, as an enum.
pub trait Choice: Sized + Copy + 'static {
    /// Option names, in the order the space lists them.
    const NAMES: &'static [&'static str];
    /// The options, parallel to `NAMES`.
    const ALL: &'static [Self];
}

/// Declares a choice enum with its option names (`choices! { Name { A =
/// "a", … } }`).
macro_rules! choices {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $crate::learners::space::Choice for $name {
            const NAMES: &'static [&'static str] = &[$($text),*];
            const ALL: &'static [Self] = &[$($name::$variant),*];
        }

        impl $crate::learners::space::FromParam for $name {
            fn from_param(
                p: &$crate::learners::space::Params,
                name: &str,
            ) -> Result<Self, String> {
                p.option(name)
            }
        }
    };
}
pub(crate) use choices;

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

    choices! {
        /// A test choice.
        Colour {
            /// Red.
            Red = "red",
            /// Blue.
            Blue = "blue",
        }
    }

    #[test]
    fn checked_getters_refuse_missing_and_mistyped_names() {
        let space = [
            Dim::int("trees", 4, 1000, true, 8),
            Dim::choice("colour", Colour::NAMES, 1),
        ];
        let init: Vec<f64> = space.iter().map(|d| d.init).collect();
        let p = Params::decode(&space, &init);
        assert_eq!(p.count("trees"), Ok(8));
        assert_eq!(p.option::<Colour>("colour"), Ok(Colour::Blue));
        assert_eq!(
            p.count("tress"),
            Err("hyperparameter tress is missing".into())
        );
        assert!(p
            .real("colour")
            .unwrap_err()
            .contains("is not a finite number"));
        let mut odd = p.clone();
        odd.0.insert("colour".into(), Param::Choice("green".into()));
        odd.0.insert("trees".into(), Param::Int(-1));
        assert!(odd
            .option::<Colour>("colour")
            .unwrap_err()
            .contains("not one of"));
        assert!(odd.count("trees").unwrap_err().contains("negative"));
    }
}
