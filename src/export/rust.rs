//! Generates a std-only Rust module from a portable model. The skeleton is
//! a minijinja template; the bodies (encoders, tables, scoring loops) come
//! from the small code writers below. Every scorer here mirrors
//! `model::estimator` operation for operation, so results agree bit for bit.
//! Strings from the data reach the source only as `{:?}`-escaped literals or
//! inside `//` comments with line breaks escaped, so data can't inject code.

use std::fmt::Write as _;

use minijinja::{context, AutoEscape, Environment};

use crate::error::{Error, Result};
use crate::model::estimator::{
    Centroids, Combine, CorePoints, Estimator, Isolation, Linear, Link, Mixture, NaiveBayes,
    Neighbors, Rule, Tree, TreeEnsemble, Weighting,
};
use crate::model::Model;
use crate::prep::{ColumnKind, ColumnPrep, Encoding};

/// The template, embedded so the binary works anywhere.
const TEMPLATE: &str = include_str!("../../templates/model.rs.j2");

/// Generates the module's source.
pub fn generate(model: &Model, model_json: &[u8]) -> Result<String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_template("model.rs", TEMPLATE)
        .map_err(template_error)?;
    let names = field_names(model);
    let uses = Uses::of(model);
    let ctx = context! {
        version => env!("CARGO_PKG_VERSION"),
        model_id => comment_text(&model.meta.model_id),
        family => comment_text(&model.meta.family),
        task => model.task.to_string(),
        model_id_literal => lit(&model_id(model, model_json)),
        n_inputs => model.prep.columns.len(),
        input_columns => list(model.prep.columns.iter().map(|c| lit(&c.name))),
        classification => model.task.is_classification(),
        noise => matches!(model.estimator, Estimator::CorePoints(_)),
        memberships => model.estimator.memberships(),
        n_classes => model.classes.len(),
        classes => list(model.classes.iter().map(|c| lit(c))),
        n_features => model.prep.width().max(1),
        n_outputs => model.output_width(),
        input_lifetime => if uses.levels { "<'a>" } else { "" },
        input_fields => input_fields(model, &names),
        input_values => input_values(model, &names),
        encode_body => encode_body(model),
        scale_body => scale_body(model),
        estimator => estimator(&model.estimator, model.prep.width().max(1), model.output_width()),
        helpers => helpers(&uses),
    };
    let mut source = env
        .get_template("model.rs")
        .and_then(|t| t.render(ctx))
        .map_err(template_error)?;
    // minijinja drops the template's final newline.
    source.push('\n');
    Ok(source)
}

fn template_error(e: minijinja::Error) -> Error {
    Error::Output {
        path: "templates/model.rs.j2".into(),
        reason: e.to_string(),
    }
}

/// `family-trial` plus a 64-bit FNV-1a hash of the model file.
pub fn model_id(model: &Model, model_json: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in model_json {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{} {:016x}", model.meta.model_id, h)
}

/// A Rust string literal for any text: `{:?}` escapes quotes, backslashes,
/// line breaks and other control characters.
fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// Text safe inside a `//` comment: line breaks and other control
/// characters escaped, so nothing can end the comment.
fn comment_text(s: &str) -> String {
    s.chars().flat_map(char::escape_debug).collect()
}

/// A float literal that reads back as exactly `x` (`{:?}` round-trips and
/// always has a `.` or an exponent).
fn float(x: f64) -> String {
    if x.is_finite() {
        format!("{x:?}")
    } else if x.is_nan() {
        "f64::NAN".into()
    } else if x > 0.0 {
        "f64::INFINITY".into()
    } else {
        "f64::NEG_INFINITY".into()
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// Which helpers the module needs (unused ones would warn).
struct Uses {
    numbers: bool,
    flags: bool,
    levels: bool,
    argmax: bool,
    softmax: bool,
    sigmoid: bool,
}

impl Uses {
    fn of(model: &Model) -> Uses {
        let kinds: Vec<ColumnKind> = model.prep.columns.iter().map(|c| c.kind).collect();
        let link = match &model.estimator {
            Estimator::Trees(t) => Some(t.link),
            Estimator::Linear(l) => Some(l.link),
            Estimator::NaiveBayes(_) => Some(Link::Softmax),
            _ => None,
        };
        Uses {
            numbers: kinds.contains(&ColumnKind::Numeric),
            flags: kinds.contains(&ColumnKind::Boolean),
            levels: kinds.contains(&ColumnKind::Categorical),
            argmax: model.task.is_classification() || model.estimator.memberships() > 0,
            softmax: link == Some(Link::Softmax),
            sigmoid: link == Some(Link::Sigmoid),
        }
    }
}

/// Column names made into distinct snake_case identifiers.
fn field_names(model: &Model) -> Vec<String> {
    let mut taken: Vec<String> = Vec::new();
    for c in &model.prep.columns {
        let mut base: String = c
            .name
            .chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() {
                    ch.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        // snake_case: no leading, trailing or doubled underscores.
        base = base
            .split('_')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("_");
        if base.is_empty() || base.starts_with(|ch: char| ch.is_ascii_digit()) || is_keyword(&base)
        {
            base = format!("c_{base}");
        }
        let mut name = base.clone();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        taken.push(name);
    }
    taken
}

fn is_keyword(s: &str) -> bool {
    const KEYWORDS: [&str; 52] = [
        "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn",
        "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
        "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
        "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final",
        "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
        "union",
    ];
    KEYWORDS.contains(&s)
}

fn input_fields(model: &Model, names: &[String]) -> String {
    let mut out = String::new();
    for (c, name) in model.prep.columns.iter().zip(names) {
        let ty = match c.kind {
            ColumnKind::Numeric => "Option<f64>",
            ColumnKind::Boolean => "Option<bool>",
            ColumnKind::Categorical => "Option<&'a str>",
        };
        let _ = writeln!(
            out,
            "    /// Column {} ({:?}).",
            comment_text(&lit(&c.name)),
            c.kind
        );
        let _ = writeln!(out, "    pub {name}: {ty},");
    }
    out
}

fn input_values(model: &Model, names: &[String]) -> String {
    list(
        model
            .prep
            .columns
            .iter()
            .zip(names)
            .map(|(c, name)| match c.kind {
                ColumnKind::Numeric => format!("self.{name}.map_or(Value::Missing, Value::Number)"),
                ColumnKind::Boolean => format!(
                    "self.{name}.map_or(Value::Missing, |b| Value::Number(f64::from(u8::from(b))))"
                ),
                ColumnKind::Categorical => {
                    format!("self.{name}.map_or(Value::Missing, Value::Text)")
                }
            }),
    )
}

/// Per column: read the value as its kind, write its features, and set the
/// missing indicator — as `ColumnPrep::encode` does.
fn encode_body(model: &Model) -> String {
    let mut out = String::new();
    let mut offset = 0;
    for (i, c) in model.prep.columns.iter().enumerate() {
        let _ = writeln!(out, "    // {}", comment_text(&c.name));
        out.push_str(&encode_column(i, c, offset));
        offset += c.width();
    }
    out
}

fn encode_column(i: usize, c: &ColumnPrep, at: usize) -> String {
    let col = lit(&c.name);
    // What a missing value writes: the fill (if any) and the indicator.
    let on_missing = |fill: Option<f64>| {
        let mut stmts = Vec::new();
        if let Some(f) = fill {
            stmts.push(format!("x[{at}] = {};", float(f)));
        }
        if c.missing_indicator {
            stmts.push(format!("x[{}] = 1.0;", at + c.width() - 1));
        }
        match stmts.len() {
            0 => "{}".to_string(),
            _ => format!(
                "{{\n            {}\n        }}",
                stmts.join("\n            ")
            ),
        }
    };
    match &c.encoding {
        Encoding::Number { fill } | Encoding::Flag { fill } => {
            let reader = if c.kind == ColumnKind::Boolean {
                "read_flag"
            } else {
                "read_number"
            };
            format!(
                "    match {reader}(values[{i}], {col})? {{\n        Some(v) => x[{at}] = v,\n        None => {}\n    }}\n",
                on_missing(Some(*fill))
            )
        }
        Encoding::OneHot { levels } => {
            let arms: String = levels
                .iter()
                .enumerate()
                .map(|(k, l)| format!("            {} => x[{}] = 1.0,\n", lit(l), at + k))
                .collect();
            let missing = on_missing(None);
            if missing == "{}" {
                // clippy's single_match: no `None` arm when nothing happens.
                format!(
                    "    let mut text = NumText::new();\n    if let Some(level) = read_level(values[{i}], &mut text) {{\n        match level {{\n{arms}            _ => {{}}\n        }}\n    }}\n"
                )
            } else {
                format!(
                    "    let mut text = NumText::new();\n    match read_level(values[{i}], &mut text) {{\n        Some(level) => match level {{\n{arms}            _ => {{}}\n        }},\n        None => {missing}\n    }}\n"
                )
            }
        }
        Encoding::Frequency {
            levels,
            shares,
            missing,
        } => {
            let arms: String = levels
                .iter()
                .zip(shares)
                .map(|(l, s)| format!("                {} => {},\n", lit(l), float(*s)))
                .collect();
            format!(
                "    let mut text = NumText::new();\n    match read_level(values[{i}], &mut text) {{\n        Some(level) => {{\n            x[{at}] = match level {{\n{arms}                _ => 0.0,\n            }}\n        }}\n        None => {}\n    }}\n",
                on_missing(Some(*missing))
            )
        }
    }
}

fn scale_body(model: &Model) -> String {
    let Some(s) = &model.prep.scaler else {
        return String::new();
    };
    let d = s.mean.len();
    format!(
        "    static MEAN: [f64; {d}] = [{}];\n    static SCALE: [f64; {d}] = [{}];\n    for ((v, m), sd) in x.iter_mut().zip(MEAN.iter()).zip(SCALE.iter()) {{\n        *v = (*v - m) / sd;\n    }}\n",
        list(s.mean.iter().map(|v| float(*v))),
        list(s.scale.iter().map(|v| float(*v)))
    )
}

fn estimator(e: &Estimator, d: usize, w: usize) -> String {
    match e {
        Estimator::Trees(t) => trees(t, d, w),
        Estimator::Linear(l) => linear(l, d, w),
        Estimator::NaiveBayes(nb) => naive_bayes(nb, d, w),
        Estimator::Neighbors(nn) => neighbors(nn, d, w),
        Estimator::Centroids(c) => centroids(c, d, w),
        Estimator::Mixture(m) => mixture(m, d, w),
        Estimator::CorePoints(c) => core_points(c, d, w),
        Estimator::Isolation(i) => isolation(i, d, w),
    }
}

/// The anomaly flag from a score already in `out[0]`.
fn flag_code(threshold: f64) -> String {
    format!(
        "    out[1] = f64::from(u8::from(out[0] > {}));\n",
        float(threshold)
    )
}

/// `sum (a - b)^2` over two slices, as `estimator::squared_distance`.
const SQUARED_DISTANCE: &str =
    "p.iter().zip(x.iter()).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()";

/// Nearest centroid, as `Centroids::score`.
fn centroids(c: &Centroids, d: usize, w: usize) -> String {
    let result = match c.threshold {
        Some(t) => format!("    out[0] = best.1.sqrt();\n{}", flag_code(t)),
        None => "    out[0] = best.0 as f64;\n".into(),
    };
    format!(
        "static CENTROIDS: [f64; {}] = [{}];\n\nfn score(x: &[f64; {d}], out: &mut [f64; {w}]) {{\n    let mut best = (0usize, f64::INFINITY);\n    for (c, p) in CENTROIDS.chunks({d}).enumerate() {{\n        let dist = {SQUARED_DISTANCE};\n        if dist < best.1 {{\n            best = (c, dist);\n        }}\n    }}\n{result}}}\n",
        c.centroids.len(),
        list(c.centroids.iter().map(|v| float(*v))),
    )
}

/// Component log-densities and their normalisation, as `Mixture::score`.
fn mixture(m: &Mixture, d: usize, w: usize) -> String {
    let k = m.k();
    let result = match m.threshold {
        Some(t) => format!("    out[0] = -log_total;\n{}", flag_code(t)),
        None => "    for (o, l) in out[1..].iter_mut().zip(log_p.iter()) {\n        *o = (l - log_total).exp();\n    }\n    out[0] = argmax(&log_p) as f64;\n".into(),
    };
    format!(
        "static WEIGHTS: [f64; {k}] = [{}];\nstatic MEANS: [f64; {}] = [{}];\nstatic PRECISIONS: [f64; {}] = [{}];\nstatic LOG_DET: [f64; {k}] = [{}];\n\nfn score(x: &[f64; {d}], out: &mut [f64; {w}]) {{\n    let half_d_ln_2pi = 0.5 * {} * (2.0 * core::f64::consts::PI).ln();\n    let mut log_p = [0.0f64; {k}];\n    for (c, lp) in log_p.iter_mut().enumerate() {{\n        let mean = &MEANS[c * {d}..(c + 1) * {d}];\n        let p = &PRECISIONS[c * {dd}..(c + 1) * {dd}];\n        let mut q = 0.0;\n        for i in 0..{d} {{\n            let mut s = 0.0;\n            for j in 0..{d} {{\n                s += p[i * {d} + j] * (x[j] - mean[j]);\n            }}\n            q += (x[i] - mean[i]) * s;\n        }}\n        *lp = WEIGHTS[c].ln() + 0.5 * LOG_DET[c] - half_d_ln_2pi - 0.5 * q;\n    }}\n    let max = log_p.iter().copied().fold(f64::NEG_INFINITY, f64::max);\n    let sum: f64 = log_p.iter().map(|l| (l - max).exp()).sum();\n    let log_total = max + sum.ln();\n{result}}}\n",
        list(m.weights.iter().map(|v| float(*v))),
        m.means.len(),
        list(m.means.iter().map(|v| float(*v))),
        m.precisions.len(),
        list(m.precisions.iter().map(|v| float(*v))),
        list(m.log_det.iter().map(|v| float(*v))),
        float(d as f64),
        dd = d * d,
    )
}

/// Nearest core point within eps, else noise, as `CorePoints::score`.
fn core_points(c: &CorePoints, d: usize, w: usize) -> String {
    format!(
        "static POINTS: [f64; {}] = [{}];\nstatic CLUSTERS: [u32; {}] = [{}];\n\nfn score(x: &[f64; {d}], out: &mut [f64; {w}]) {{\n    let eps = {};\n    let limit = eps * eps;\n    let mut best = (-1.0f64, f64::INFINITY);\n    for (p, c) in POINTS.chunks({d}).zip(CLUSTERS.iter()) {{\n        let dist = {SQUARED_DISTANCE};\n        if dist <= limit && dist < best.1 {{\n            best = (f64::from(*c), dist);\n        }}\n    }}\n    out[0] = best.0;\n}}\n",
        c.points.len(),
        list(c.points.iter().map(|v| float(*v))),
        c.clusters.len(),
        list(c.clusters.iter().map(u32::to_string)),
        float(c.eps),
    )
}

/// Mean path length over the trees, as `Isolation::score`.
fn isolation(i: &Isolation, d: usize, w: usize) -> String {
    let mut s = tree_tables(&i.trees);
    let _ = writeln!(s, "\nfn score(x: &[f64; {d}], out: &mut [f64; {w}]) {{");
    s.push_str("    let mut total = 0.0;\n    for root in ROOT.iter() {\n        let mut n = *root as usize;\n        while FEATURE[n] >= 0 {\n            n = if x[FEATURE[n] as usize] < THRESHOLD[n] { LEFT[n] } else { RIGHT[n] } as usize;\n        }\n        total += VALUES[n];\n    }\n");
    let _ = writeln!(
        s,
        "    let mean = total / {};\n    out[0] = (-(mean / {}) * core::f64::consts::LN_2).exp();",
        float(i.trees.len().max(1) as f64),
        float(i.normalizer)
    );
    s.push_str(&flag_code(i.threshold));
    s.push_str("}\n");
    s
}

fn link_code(link: Link) -> &'static str {
    match link {
        Link::Identity => "",
        Link::Sigmoid => "    let p = sigmoid(out[0]);\n    out[0] = 1.0 - p;\n    out[1] = p;\n",
        Link::Softmax => "    softmax(out);\n",
    }
}

/// The nodes of `trees` as static tables indexed by a global node number.
fn tree_tables(trees: &[Tree]) -> String {
    let (mut feature, mut threshold, mut left, mut right, mut values) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut roots, mut outputs, mut less_eq) = (vec![], vec![], vec![]);
    for tree in trees {
        let base = feature.len() as u32;
        roots.push(base.to_string());
        outputs.push(tree.output.to_string());
        less_eq.push((tree.rule == Rule::LessOrEqual).to_string());
        for n in 0..tree.len() {
            let leaf = tree.feature[n] < 0;
            feature.push(tree.feature[n].to_string());
            threshold.push(float(tree.threshold[n]));
            left.push(if leaf {
                "0".into()
            } else {
                (base + tree.left[n]).to_string()
            });
            right.push(if leaf {
                "0".into()
            } else {
                (base + tree.right[n]).to_string()
            });
            values.extend(
                tree.values[n * tree.width..(n + 1) * tree.width]
                    .iter()
                    .map(|v| float(*v)),
            );
        }
    }
    let m = feature.len();
    let t_count = trees.len();
    let mut s = String::new();
    let _ = writeln!(s, "static ROOT: [u32; {t_count}] = [{}];", roots.join(", "));
    let _ = writeln!(
        s,
        "static OUTPUT: [usize; {t_count}] = [{}];",
        outputs.join(", ")
    );
    let _ = writeln!(
        s,
        "static LESS_OR_EQUAL: [bool; {t_count}] = [{}];",
        less_eq.join(", ")
    );
    let _ = writeln!(s, "static FEATURE: [i32; {m}] = [{}];", feature.join(", "));
    let _ = writeln!(
        s,
        "static THRESHOLD: [f64; {m}] = [{}];",
        threshold.join(", ")
    );
    let _ = writeln!(s, "static LEFT: [u32; {m}] = [{}];", left.join(", "));
    let _ = writeln!(s, "static RIGHT: [u32; {m}] = [{}];", right.join(", "));
    let _ = writeln!(
        s,
        "static VALUES: [f64; {}] = [{}];",
        values.len(),
        values.join(", ")
    );
    s
}

/// All trees' nodes in one set of static tables, walked by one loop.
fn trees(t: &TreeEnsemble, d: usize, w: usize) -> String {
    let width = t.trees.first().map_or(1, |x| x.width);
    let t_count = t.trees.len();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "static BASE: [f64; {}] = [{}];",
        t.base.len(),
        list(t.base.iter().map(|v| float(*v)))
    );
    s.push_str(&tree_tables(&t.trees));
    let _ = writeln!(s, "\nfn score(x: &[f64; {d}], out: &mut [f64; {w}]) {{");
    let _ = writeln!(s, "    out[..{}].copy_from_slice(&BASE);", t.base.len());
    s.push_str("    for (t, root) in ROOT.iter().enumerate() {\n        let mut n = *root as usize;\n        while FEATURE[n] >= 0 {\n            let v = x[FEATURE[n] as usize];\n            let left = if LESS_OR_EQUAL[t] { v <= THRESHOLD[n] } else { v < THRESHOLD[n] };\n            n = if left { LEFT[n] } else { RIGHT[n] } as usize;\n        }\n");
    if width == 1 {
        s.push_str("        out[OUTPUT[t]] += VALUES[n];\n    }\n");
    } else {
        let _ = writeln!(
            s,
            "        for (o, v) in out[OUTPUT[t]..OUTPUT[t] + {width}].iter_mut().zip(&VALUES[n * {width}..(n + 1) * {width}]) {{\n            *o += v;\n        }}\n    }}"
        );
    }
    if t.combine == Combine::Mean && t_count > 0 {
        let _ = writeln!(
            s,
            "    let n = {};\n    out[..{}].iter_mut().for_each(|o| *o /= n);",
            float(t_count as f64),
            t.base.len()
        );
    }
    s.push_str(link_code(t.link));
    s.push_str("}\n");
    s
}

fn linear(l: &Linear, d: usize, w: usize) -> String {
    let o = l.intercept.len();
    format!(
        "static WEIGHTS: [f64; {}] = [{}];\nstatic INTERCEPT: [f64; {o}] = [{}];\n\nfn score(x: &[f64; {d}], out: &mut [f64; {w}]) {{\n    for (o, b) in INTERCEPT.iter().enumerate() {{\n        let w = &WEIGHTS[o * {d}..(o + 1) * {d}];\n        out[o] = b + w.iter().zip(x.iter()).map(|(w, x)| w * x).sum::<f64>();\n    }}\n{}}}\n",
        l.weights.len(),
        list(l.weights.iter().map(|v| float(*v))),
        list(l.intercept.iter().map(|v| float(*v))),
        link_code(l.link)
    )
}

fn naive_bayes(nb: &NaiveBayes, d: usize, w: usize) -> String {
    let k = nb.prior.len();
    format!(
        "static PRIOR: [f64; {k}] = [{}];\nstatic MEAN: [f64; {}] = [{}];\nstatic VARIANCE: [f64; {}] = [{}];\n\nfn score(x: &[f64; {d}], out: &mut [f64; {w}]) {{\n    for (c, prior) in PRIOR.iter().enumerate() {{\n        let mean = &MEAN[c * {d}..(c + 1) * {d}];\n        let var = &VARIANCE[c * {d}..(c + 1) * {d}];\n        let norm: f64 = var.iter().map(|v| (2.0 * core::f64::consts::PI * v).ln()).sum();\n        let dist: f64 = x.iter().zip(mean).zip(var).map(|((x, m), v)| (x - m).powi(2) / v).sum();\n        out[c] = prior.ln() - 0.5 * norm - 0.5 * dist;\n    }}\n    softmax(out);\n}}\n",
        list(nb.prior.iter().map(|v| float(*v))),
        nb.mean.len(),
        list(nb.mean.iter().map(|v| float(*v))),
        nb.variance.len(),
        list(nb.variance.iter().map(|v| float(*v))),
    )
}

/// Exhaustive nearest-neighbour search over stored rows, with the k best
/// kept in a fixed array (ties: the earlier row), as `Neighbors::score`.
fn neighbors(nn: &Neighbors, d: usize, w: usize) -> String {
    let n = nn.targets.len();
    let k = nn.k.min(n).max(1);
    let weights = match nn.weighting {
        Weighting::Uniform => "    let weight = |_: f64| 1.0;\n".to_string(),
        Weighting::Distance => "    let exact = best[..len].iter().any(|(d, _)| *d == 0.0);\n    let weight = |d: f64| if exact { f64::from(u8::from(d == 0.0)) } else { 1.0 / d.sqrt() };\n".to_string(),
    };
    let combine = if w == 1 {
        "    let total: f64 = best[..len].iter().map(|(d, _)| weight(*d)).sum();\n    out[0] = best[..len].iter().map(|(d, i)| weight(*d) * TARGETS[*i]).sum::<f64>() / total;\n"
    } else {
        "    let total: f64 = best[..len].iter().map(|(d, _)| weight(*d)).sum();\n    out.fill(0.0);\n    for (d, i) in &best[..len] {\n        out[TARGETS[*i] as usize] += weight(*d) / total;\n    }\n"
    };
    format!(
        "static POINTS: [f64; {}] = [{}];\nstatic TARGETS: [f64; {n}] = [{}];\n\nfn score(x: &[f64; {d}], out: &mut [f64; {w}]) {{\n    let mut best = [(0.0f64, 0usize); {k}];\n    let mut len = 0;\n    for (i, p) in POINTS.chunks({d}).enumerate() {{\n        let dist = p.iter().zip(x.iter()).map(|(a, b)| (a - b) * (a - b)).sum::<f64>();\n        if len == {k} && dist >= best[{k} - 1].0 {{\n            continue;\n        }}\n        let at = best[..len].partition_point(|(bd, _)| *bd <= dist);\n        let end = if len < {k} {{ len + 1 }} else {{ {k} }};\n        best.copy_within(at..end - 1, at + 1);\n        best[at] = (dist, i);\n        len = end;\n    }}\n{weights}{combine}}}\n",
        nn.points.len(),
        list(nn.points.iter().map(|v| float(*v))),
        list(nn.targets.iter().map(|v| float(*v))),
    )
}

fn helpers(u: &Uses) -> String {
    let mut s = String::new();
    if u.numbers || u.flags || u.levels {
        s.push_str(MISSING_HELPERS);
    }
    if u.numbers {
        s.push_str(NUMBER_HELPER);
    }
    if u.flags {
        s.push_str(FLAG_HELPER);
    }
    if u.levels {
        s.push_str(LEVEL_HELPERS);
    }
    if u.argmax {
        s.push_str(ARGMAX_HELPER);
    }
    if u.softmax {
        s.push_str(SOFTMAX_HELPER);
    }
    if u.sigmoid {
        s.push_str(SIGMOID_HELPER);
    }
    s
}

const MISSING_HELPERS: &str = r#"
/// Cell texts that mean "missing" (after trimming), as in automl.
const MISSING: [&str; 8] = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"];

fn is_missing(text: &str) -> bool {
    MISSING.contains(&text)
}
"#;

const NUMBER_HELPER: &str = r#"
fn read_number(v: Value<'_>, column: &'static str) -> Result<Option<f64>, InputError> {
    match v {
        Value::Missing => Ok(None),
        Value::Number(x) => Ok(Some(x).filter(|x| x.is_finite())),
        Value::Text(t) => {
            let t = t.trim();
            if is_missing(t) {
                return Ok(None);
            }
            match t.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(InputError { column, reason: "value is not a number" }),
            }
        }
    }
}
"#;

const FLAG_HELPER: &str = r#"
fn read_flag(v: Value<'_>, column: &'static str) -> Result<Option<f64>, InputError> {
    let refuse = InputError { column, reason: "value is not true or false" };
    match v {
        Value::Missing => Ok(None),
        Value::Number(x) if !x.is_finite() => Ok(None),
        Value::Number(x) if x == 0.0 || x == 1.0 => Ok(Some(x)),
        Value::Number(_) => Err(refuse),
        Value::Text(t) => {
            let t = t.trim();
            if is_missing(t) {
                Ok(None)
            } else if t.eq_ignore_ascii_case("true") {
                Ok(Some(1.0))
            } else if t.eq_ignore_ascii_case("false") {
                Ok(Some(0.0))
            } else {
                Err(refuse)
            }
        }
    }
}
"#;

const LEVEL_HELPERS: &str = r#"
/// The text of a number given to a categorical column, formatted on the
/// stack as `{}` would (finite f64 Display is at most ~330 bytes).
struct NumText {
    bytes: [u8; 400],
    len: usize,
}

impl NumText {
    fn new() -> NumText {
        NumText { bytes: [0; 400], len: 0 }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl core::fmt::Write for NumText {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(core::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The level a value names, `None` when missing.
fn read_level<'a>(v: Value<'a>, text: &'a mut NumText) -> Option<&'a str> {
    match v {
        Value::Missing => None,
        Value::Number(x) if !x.is_finite() => None,
        Value::Number(x) => {
            use core::fmt::Write as _;
            let _ = write!(text, "{x}");
            Some(text.as_str())
        }
        Value::Text(t) => Some(t.trim()).filter(|t| !is_missing(t)),
    }
}
"#;

const ARGMAX_HELPER: &str = r#"
fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}
"#;

const SOFTMAX_HELPER: &str = r#"
fn softmax(z: &mut [f64]) {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    z.iter_mut().for_each(|v| *v /= sum);
}
"#;

const SIGMOID_HELPER: &str = r#"
fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}
"#;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::data::Task;
    use crate::model::estimator::Tree;
    use crate::model::{ModelMeta, FORMAT_VERSION};
    use crate::prep::{Prep, Scaler};

    fn numeric(name: &str, fill: f64, missing_indicator: bool) -> ColumnPrep {
        ColumnPrep {
            name: name.into(),
            kind: ColumnKind::Numeric,
            encoding: Encoding::Number { fill },
            missing_indicator,
        }
    }

    fn model(
        task: Task,
        classes: &[&str],
        columns: Vec<ColumnPrep>,
        scaler: Option<Scaler>,
        estimator: Estimator,
    ) -> Model {
        Model {
            format_version: FORMAT_VERSION,
            task,
            target: "y".into(),
            classes: classes.iter().map(|c| c.to_string()).collect(),
            prep: Prep { columns, scaler },
            estimator,
            meta: ModelMeta {
                family: "test".into(),
                params: BTreeMap::new(),
                model_id: "test-1".into(),
                metric: "rmse".into(),
                cv_score: 0.0,
                trained_rows: 10,
                seed: 0,
                tool_version: "0.0.0".into(),
            },
        }
    }

    /// A depth-2 tree: root on x0, children on x1, four leaves.
    fn depth_two(output: usize, scale: f64) -> Tree {
        Tree {
            output,
            width: 1,
            rule: Rule::Less,
            feature: vec![0, 1, 1, -1, -1, -1, -1],
            threshold: vec![0.5, 1.5, 2.5, 0.0, 0.0, 0.0, 0.0],
            left: vec![1, 3, 5, 0, 0, 0, 0],
            right: vec![2, 4, 6, 0, 0, 0, 0],
            values: [0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]
                .iter()
                .map(|v| v * scale)
                .collect(),
        }
    }

    fn source(m: &Model) -> String {
        generate(m, b"{}")
            .unwrap()
            .replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
    }

    #[test]
    fn depth_two_regression_tree() {
        let est = Estimator::Trees(TreeEnsemble {
            base: vec![0.0],
            trees: vec![depth_two(0, 1.0)],
            combine: Combine::Mean,
            link: Link::Identity,
        });
        let m = model(
            Task::Regression,
            &[],
            vec![numeric("a", 0.0, false), numeric("b", 1.0, true)],
            None,
            est,
        );
        insta::assert_snapshot!(source(&m));
    }

    #[test]
    fn logistic_model_with_scaler() {
        let est = Estimator::Linear(Linear {
            weights: vec![0.5, -1.25],
            intercept: vec![0.1],
            link: Link::Sigmoid,
        });
        let scaler = Scaler {
            mean: vec![1.0, 2.0],
            scale: vec![0.5, 4.0],
        };
        let cols = vec![numeric("age", 30.0, false), numeric("fare", 14.5, false)];
        insta::assert_snapshot!(source(&model(
            Task::Binary,
            &["no", "yes"],
            cols,
            Some(scaler),
            est
        )));
    }

    #[test]
    fn two_tree_boosted_ensemble() {
        let est = Estimator::Trees(TreeEnsemble {
            base: vec![-0.2],
            trees: vec![depth_two(0, 0.1), depth_two(0, -0.05)],
            combine: Combine::Sum,
            link: Link::Sigmoid,
        });
        let cols = vec![numeric("x", 0.0, false), numeric("z", 0.0, false)];
        insta::assert_snapshot!(source(&model(Task::Binary, &["0", "1"], cols, None, est)));
    }

    #[test]
    fn pipeline_with_categorical_columns() {
        let cols = vec![
            ColumnPrep {
                name: "colour".into(),
                kind: ColumnKind::Categorical,
                encoding: Encoding::OneHot {
                    levels: vec!["red".into(), "green".into()],
                },
                missing_indicator: true,
            },
            ColumnPrep {
                name: "city".into(),
                kind: ColumnKind::Categorical,
                encoding: Encoding::Frequency {
                    levels: vec!["Oslo".into(), "Lima".into()],
                    shares: vec![0.75, 0.25],
                    missing: 0.0,
                },
                missing_indicator: false,
            },
            ColumnPrep {
                name: "member".into(),
                kind: ColumnKind::Boolean,
                encoding: Encoding::Flag { fill: 1.0 },
                missing_indicator: false,
            },
            numeric("spend", 12.5, true),
        ];
        let est = Estimator::Linear(Linear {
            weights: (0..18).map(|i| f64::from(i) / 10.0).collect(),
            intercept: vec![0.0, 0.5, -0.5],
            link: Link::Softmax,
        });
        let m = model(Task::Multiclass, &["a", "b", "c"], cols, None, est);
        insta::assert_snapshot!(source(&m));
    }

    #[test]
    fn isolation_forest_detector() {
        let mut tree = depth_two(0, 1.0);
        tree.values = vec![0.0, 0.0, 0.0, 2.0, 3.5, 1.0, 2.5];
        let est = Estimator::Isolation(Isolation {
            trees: vec![tree.clone(), tree],
            normalizer: 3.748_880_484_475_505,
            threshold: 0.61,
        });
        let cols = vec![
            numeric("temp", 20.0, false),
            numeric("vibration", 0.1, true),
        ];
        insta::assert_snapshot!(source(&model(Task::Anomaly, &[], cols, None, est)));
    }

    #[test]
    fn two_component_mixture_clusters() {
        let est = Estimator::Mixture(Mixture {
            weights: vec![0.25, 0.75],
            means: vec![-1.0, 0.5, 1.0, -0.5],
            precisions: vec![2.0, 0.1, 0.1, 1.0, 1.0, 0.0, 0.0, 1.0],
            log_det: vec![0.688_134_638_736_401, 0.0],
            threshold: None,
        });
        let scaler = Scaler {
            mean: vec![1.0, 2.0],
            scale: vec![0.5, 4.0],
        };
        let cols = vec![numeric("spend", 10.0, false), numeric("visits", 3.0, false)];
        insta::assert_snapshot!(source(&model(Task::Cluster, &[], cols, Some(scaler), est)));
    }
}
