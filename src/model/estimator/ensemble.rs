//! A weighted ensemble: the weighted mean of supervised members' outputs
//! (class probabilities or regression values), as greedy ensemble selection
//! chose them. Members taking standardised features share one scaler held
//! here, since the model's own preprocessing stops before scaling for an
//! ensemble whose members disagree about it. Each member lowers into a
//! module of its own in the generated code.

use serde::{Deserialize, Serialize};

use super::{all_finite, ensure, Estimator, Kind, Link, Lowered, Shape, Table};
use crate::model::graph::Graph;
use crate::model::kernels;
use crate::prep::kernels::standardise;
use crate::prep::Scaler;

/// One member: its fitted estimator and which features it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Whether it reads the standardised features.
    pub scaled: bool,
    /// The fitted member.
    pub estimator: Estimator,
}

/// `out = sum_i weights[i] * member_i(x)`, members in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    /// One weight per member; they sum to 1.
    pub weights: Vec<f64>,
    /// The members.
    pub members: Vec<Member>,
    /// Standardisation for the members that read scaled features.
    pub scaler: Option<Scaler>,
}

impl Ensemble {
    /// The ensemble of `members` weighted by `weights`, as an estimator;
    /// `scaler` is kept only if a member reads scaled features.
    pub fn of(weights: Vec<f64>, members: Vec<Member>, scaler: Option<Scaler>) -> Estimator {
        let scaler = scaler.filter(|_| members.iter().any(|m| m.scaled));
        Estimator::Ensemble(Ensemble {
            weights,
            members,
            scaler,
        })
    }

    /// The standardised copy of rows `x` (`d` values each) that scaled
    /// members read, when the ensemble has a scaler.
    fn standardised(&self, x: &[f64], d: usize) -> Option<Vec<f64>> {
        self.scaler.as_ref().map(|s| {
            let mut z = x.to_vec();
            for row in z.chunks_exact_mut(d.max(1)) {
                standardise(row, &s.mean, &s.scale);
            }
            z
        })
    }

    /// The generated `contributions`: the members' contributions blended
    /// by [`kernels::ensemble`] as [`Kind::contributions`] blends them.
    fn explain_call(&self) -> String {
        let mut call = String::from("let mut part = [0.0f64; RAW_OUTPUTS * (FEATURES + 1)];\n");
        if self.scaler.is_some() {
            call.push_str("let mut z = [0.0f64; FEATURES];\nz.copy_from_slice(x);\n");
            call.push_str("encode::standardise(&mut z, &MEMBER_MEAN, &MEMBER_SCALE);\n");
        }
        call.push_str("let out = phi;\n");
        call.push_str(&member_calls(&self.members, "contributions(", "&z", "part", "&mut part"));
        call
    }

    /// The features member `m` reads: `x`, or its standardised copy `z`
    /// (made only when the ensemble has a scaler).
    fn input<'a>(m: &Member, x: &'a [f64], z: Option<&'a [f64]>) -> &'a [f64] {
        match z {
            Some(z) if m.scaled => z,
            _ => x,
        }
    }
}

impl Kind for Ensemble {
    fn shape(&self) -> Shape {
        Shape::Supervised
    }

    fn score(&self, x: &[f64], out: &mut [f64]) {
        let z = self.standardised(x, x.len());
        let mut part = vec![0.0; out.len()];
        kernels::ensemble(&self.weights, &mut part, out, |i, part| {
            let m = &self.members[i];
            m.estimator.score(Ensemble::input(m, x, z.as_deref()), part);
        });
    }

    fn score_batch(&self, x: &[f64], d: usize, out: &mut [f64], w: usize) {
        let z = self.standardised(x, d);
        let mut part = vec![0.0; out.len()];
        kernels::ensemble(&self.weights, &mut part, out, |i, part| {
            let m = &self.members[i];
            let input = Ensemble::input(m, x, z.as_deref());
            m.estimator.as_kind().score_batch(input, d, part, w);
        });
    }

    fn check(&self, d: usize, w: usize) -> Result<(), String> {
        ensure(
            !self.members.is_empty() && self.weights.len() == self.members.len(),
            || format!("{} weights for {} members", self.weights.len(), self.members.len()),
        )?;
        let scaler_fits = self
            .scaler
            .as_ref()
            .is_none_or(|s| s.mean.len() == d && s.scale.len() == d);
        ensure(scaler_fits, || "the members' scaler does not match the features".into())?;
        ensure(
            self.scaler.is_some() || self.members.iter().all(|m| !m.scaled),
            || "a member reads scaled features but there is no scaler".into(),
        )?;
        self.members.iter().try_for_each(|m| {
            let e = &m.estimator;
            ensure(
                e.shape() == Shape::Supervised && !matches!(e, Estimator::Ensemble(_)),
                || format!("a {} member can't be averaged", e.kind()),
            )?;
            e.check(d, w)
        })
    }

    fn summary(&self) -> String {
        let parts: Vec<String> = self
            .members
            .iter()
            .zip(&self.weights)
            .map(|(m, w)| format!("{w:.3} × {}", m.estimator.as_kind().summary()))
            .collect();
        format!(
            "weighted ensemble of {} members: {}",
            self.members.len(),
            parts.join("; ")
        )
    }

    fn finite(&self) -> bool {
        let scaler = self
            .scaler
            .as_ref()
            .is_none_or(|s| all_finite(&s.mean) && all_finite(&s.scale));
        scaler
            && all_finite(&self.weights)
            && self.members.iter().all(|m| m.estimator.as_kind().finite())
    }

    /// A weighted mean of members whose raw outputs are their predictions
    /// (no link) is explained by the weighted mean of their contributions;
    /// a member with a link contributes to log-odds or log-scores, which a
    /// mean of probabilities is not a sum of.
    fn explains(&self) -> Result<(usize, Link), String> {
        let mut outputs = None;
        for (i, m) in self.members.iter().enumerate() {
            let (o, link) = m.estimator.as_kind().explains().map_err(|e| format!("member {} ({}): {e}", i + 1, m.estimator.kind()))?;
            ensure(link == Link::Identity, || {
                format!("member {} ({}) scores through a {link:?} link, so the ensemble's probabilities are not a sum of contributions", i + 1, m.estimator.kind()).to_lowercase()
            })?;
            ensure(outputs.is_none_or(|w| w == o), || "members differ in outputs".into())?;
            outputs = Some(o);
        }
        Ok((outputs.unwrap_or(0), Link::Identity))
    }

    fn record_cover(&mut self, x: &[f64], d: usize) {
        let z = self.standardised(x, d);
        for m in &mut self.members {
            let input = Ensemble::input(m, x, z.as_deref());
            m.estimator.as_kind_mut().record_cover(input, d);
        }
    }

    fn contributions(&self, x: &[f64], phi: &mut [f64]) {
        let z = self.standardised(x, x.len());
        let mut part = vec![0.0; phi.len()];
        kernels::ensemble(&self.weights, &mut part, phi, |i, part| {
            let m = &self.members[i];
            m.estimator.as_kind().contributions(Ensemble::input(m, x, z.as_deref()), part);
        });
    }

    fn lower(&self) -> Lowered {
        let mut tables = vec![("WEIGHTS", Table::F64s(self.weights.clone()))];
        let mut call = String::from("let mut part = [0.0f64; OUTPUTS];\n");
        let mut batch = String::from("let mut part = [0.0f64; BLOCK_ROWS * OUTPUTS];\n");
        if let Some(s) = &self.scaler {
            tables.push(("MEMBER_MEAN", Table::F64s(s.mean.clone())));
            tables.push(("MEMBER_SCALE", Table::F64s(s.scale.clone())));
            call.push_str("let mut z = [0.0f64; FEATURES];\nz.copy_from_slice(x);\n");
            call.push_str("encode::standardise(&mut z, &MEMBER_MEAN, &MEMBER_SCALE);\n");
        }
        if self.scaler.is_some() && self.members.iter().any(|m| m.scaled) {
            batch.push_str("let mut z = [0.0f64; BLOCK_ROWS * FEATURES];\n");
        }
        call.push_str(&member_calls(&self.members, "score(", "&z", "part", "&mut part"));
        batch.push_str("for (x, out) in x.chunks(BLOCK_ROWS * d).zip(out.chunks_mut(BLOCK_ROWS * w)) {\n");
        if self.scaler.is_some() && self.members.iter().any(|m| m.scaled) {
            batch.push_str(concat!(
                "    let z = &mut z[..x.len()];\n    z.copy_from_slice(x);\n",
                "    for row in z.chunks_exact_mut(d) {\n",
                "        encode::standardise(row, &MEMBER_MEAN, &MEMBER_SCALE);\n    }\n",
                "    let z: &[f64] = z;\n",
            ));
        }
        batch.push_str("    let part = &mut part[..out.len()];\n");
        let calls = member_calls(&self.members, "score_batch(", "z", "d, part, w", "part");
        batch.push_str(&format!("{}}}\n", indent(&calls)));
        let explain = self.explains().ok().map(|_| (Vec::new(), self.explain_call()));
        Lowered {
            tables,
            call,
            batch: Some(batch),
            members: self.members.iter().map(|m| m.estimator.as_kind().lower()).collect(),
            explain,
        }
    }

    /// [`kernels::ensemble`]: the members' weighted outputs added in
    /// member order (the kernel's leading zero changes no sum).
    fn graph(&self, g: &mut Graph, x: &str, w: usize) -> Result<String, String> {
        let z = self.scaler.as_ref().map(|s| g.standardise(x, &s.mean, &s.scale));
        let mut total: Option<String> = None;
        for (m, weight) in self.members.iter().zip(&self.weights) {
            let input = match (&z, m.scaled) {
                (Some(z), true) => z.as_str(),
                _ => x,
            };
            let part = m.estimator.graph(g, input, w)?;
            let weight = g.scalar(*weight);
            let weighted = g.op("Mul", &[&weight, &part]);
            total = Some(match total {
                Some(t) => g.op("Add", &[&t, &weighted]),
                None => weighted,
            });
        }
        total.ok_or_else(|| "no members".into())
    }
}

/// Each line of `text` indented by four spaces.
fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// The `kernels::ensemble` call (its scratch passed as `scratch`), each
/// member scored by its own module's `function` (its name and open
/// parenthesis) on `x` or, for a member reading standardised features,
/// `scaled`, then `rest` of the arguments.
fn member_calls(
    members: &[Member],
    function: &str,
    scaled: &str,
    rest: &str,
    scratch: &str,
) -> String {
    let arg = |m: &Member| if m.scaled { scaled } else { "x" };
    let call = format!("kernels::ensemble(&WEIGHTS, {scratch}, out, ");
    if let [only] = members {
        return format!(
            "{call}|_, part| member_0::{function}{}, {rest}));\n",
            arg(only)
        );
    }
    let mut arms = String::new();
    for (i, m) in members.iter().enumerate() {
        let pattern = if i + 1 == members.len() {
            "_".to_string()
        } else {
            i.to_string()
        };
        arms.push_str(&format!("    {pattern} => member_{i}::{function}{}, {rest}),\n", arg(m)));
    }
    format!("{call}|i, part| match i {{\n{arms}}});\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::estimator::{Centroids, Linear};
    use crate::model::kernels::Link;

    fn linear(w: f64) -> Estimator {
        Estimator::Linear(Linear {
            weights: vec![w, -w],
            intercept: vec![0.0],
            link: Link::Sigmoid,
        })
    }

    fn pair(scaled: bool, scaler: Option<Scaler>) -> Ensemble {
        Ensemble {
            weights: vec![0.25, 0.75],
            members: vec![
                Member {
                    scaled,
                    estimator: linear(1.0),
                },
                Member {
                    scaled: false,
                    estimator: linear(-2.0),
                },
            ],
            scaler,
        }
    }

    fn scaler() -> Option<Scaler> {
        Some(Scaler {
            mean: vec![1.0, 2.0],
            scale: vec![2.0, 4.0],
        })
    }

    #[test]
    fn scores_the_weighted_mean_with_the_scaled_member_reading_standardised_features() {
        let e = pair(true, scaler());
        let x = [3.0, 6.0];
        let (mut a, mut b, mut out) = ([0.0; 2], [0.0; 2], [0.0; 2]);
        e.members[0].estimator.score(&[1.0, 1.0], &mut a);
        e.members[1].estimator.score(&x, &mut b);
        e.score(&x, &mut out);
        for i in 0..2 {
            assert_eq!(out[i], 0.25 * a[i] + 0.75 * b[i]);
        }
    }

    #[test]
    fn a_damaged_ensemble_is_refused_on_load() {
        assert!(pair(true, scaler()).check(2, 2).is_ok());
        let no_scaler = pair(true, None).check(2, 2).unwrap_err();
        assert!(no_scaler.contains("no scaler"), "{no_scaler}");
        let mut weights = pair(false, None);
        weights.weights.pop();
        assert!(weights.check(2, 2).unwrap_err().contains("1 weights for 2 members"));
        let mut nested = pair(false, None);
        nested.members[1].estimator = Estimator::Ensemble(pair(false, None));
        assert!(nested.check(2, 2).unwrap_err().contains("ensemble member"));
        let mut clusters = pair(false, None);
        clusters.members[0].estimator = Estimator::Centroids(Centroids {
            centroids: vec![0.0, 0.0],
            k: 1,
            threshold: None,
        });
        assert!(clusters.check(2, 2).unwrap_err().contains("centroids member"));
        assert!(pair(false, None).check(3, 2).is_err(), "members see 2 features");
    }
}
