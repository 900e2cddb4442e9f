//! Generates a std-only Rust module from a portable model. The module is
//! the model's static tables, a little glue from the template, and the
//! crate's own kernels (`data/cell.rs`, `prep/kernels.rs`,
//! `model/kernels.rs`) copied in verbatim, so the generated code computes
//! what `automl predict` computes by construction. Each estimator kind says
//! which tables it needs and which kernel scores with them
//! (`Kind::lower`); this file only spells them as Rust.
//! Strings from the data reach the source only as `{:?}`-escaped literals or
//! inside `//` comments with line breaks escaped, so data can't inject code.

use std::fmt::Write as _;

use minijinja::{context, AutoEscape, Environment};

use crate::error::{Error, Result};
use crate::model::estimator::{Lowered, PackedBits, PackedRanks, PackedTrees, Table};
use crate::model::kernels;
use crate::model::Model;
use crate::prep::{ColumnKind, ColumnPrep, Encoding};

/// The template, embedded so the binary works anywhere.
const TEMPLATE: &str = include_str!("../../templates/model.rs.j2");

/// The kernels the generated module embeds, as the crate compiles them.
const KERNELS: [(&str, &str, &str); 3] = [
    ("cell", "data/cell.rs", include_str!("../data/cell.rs")),
    (
        "encode",
        "prep/kernels.rs",
        include_str!("../prep/kernels.rs"),
    ),
    (
        "kernels",
        "model/kernels.rs",
        include_str!("../model/kernels.rs"),
    ),
];

/// Optional parts of the generated module.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parts {
    /// `predict_explained`: reason codes.
    pub explain: bool,
    /// What only the Kafka consumer uses: the drift reference with
    /// `drift_bins`, and `Prediction::compared`.
    pub consumer: bool,
}

/// Generates the module's source with the optional `parts`.
pub fn generate(model: &Model, model_json: &[u8], parts: Parts) -> Result<String> {
    let explain = parts.explain;
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_template("model.rs", TEMPLATE)
        .map_err(template_error)?;
    let names = field_names(model);
    let shape = model.estimator.shape();
    let lowered = model.estimator.as_kind().lower();
    let reasons = if explain {
        Some(reasons(model, &lowered)?)
    } else {
        None
    };
    let ctx = context! {
        explain => reasons,
        version => env!("CARGO_PKG_VERSION"),
        model_id => comment_text(&model.meta.model_id),
        family => comment_text(&model.meta.family),
        task => model.task.to_string(),
        task_literal => lit(&model.task.to_string()),
        model_id_literal => lit(&model_id(model, model_json)),
        n_inputs => model.prep.columns.len(),
        input_columns => list(model.prep.columns.iter().map(|c| lit(&c.name))),
        classification => model.task.is_classification(),
        noise => matches!(shape, crate::model::estimator::Shape::Cluster { noise: true, .. }),
        memberships => model.estimator.memberships(),
        n_classes => model.classes.len(),
        classes => list(model.classes.iter().map(|c| lit(c))),
        n_features => model.prep.width().max(1),
        n_outputs => model.output_width(),
        input_lifetime => if has_levels(model) { "<'a>" } else { "" },
        input_fields => input_fields(model, &names),
        input_values => input_values(model, &names),
        encode_tables => encode_tables(model),
        encode_body => encode_body(model),
        estimator_tables => estimator_tables(&lowered, explain),
        score_body => indent(&lowered.call),
        batch_body => batch_body(&lowered),
        kernels => embedded_kernels(parts.consumer),
        drift => parts.consumer.then(|| super::drift::items(model)),
    };
    let mut source = env
        .get_template("model.rs")
        .and_then(|t| t.render(ctx))
        .map_err(template_error)?;
    // minijinja drops the template's final newline.
    source.push('\n');
    Ok(source)
}

/// What the template's reason codes need: the raw outputs and their
/// names, each input column's features, and the body of `contributions`.
fn reasons(model: &Model, lowered: &Lowered) -> Result<minijinja::Value> {
    let (outputs, _) = model.explains()?;
    let names = model.explained_names()?;
    let body = lowered
        .explain
        .as_ref()
        .map(|(_, call)| indent(call))
        .ok_or_else(|| Error::Explain {
            model: model.meta.model_id.clone(),
            reason: "its estimator has no generated contributions".into(),
        })?;
    Ok(context! {
        raw_outputs => outputs,
        names => list(names.iter().map(|n| lit(n))),
        widths => ints(&model.column_widths()),
        body => body,
    })
}

fn template_error(e: minijinja::Error) -> Error {
    Error::Output {
        path: "templates/model.rs.j2".into(),
        reason: e.to_string(),
    }
}

/// `family-trial` plus a 64-bit FNV-1a hash of the model file.
pub fn model_id(model: &Model, model_json: &[u8]) -> String {
    let h = crate::output::fingerprint(model_json);
    format!("{} {h:016x}", model.meta.model_id)
}

/// A Rust string literal for any text: `{:?}` escapes quotes, backslashes,
/// line breaks and other control characters.
pub(super) fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// Text safe inside a `//` comment: line breaks and other control
/// characters escaped, so nothing can end the comment.
fn comment_text(s: &str) -> String {
    s.chars().flat_map(char::escape_debug).collect()
}

/// A float literal that reads back as exactly `x` (`{:?}` round-trips and
/// always has a `.` or an exponent).
pub(super) fn float(x: f64) -> String {
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

pub(super) fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// Indents every non-empty line by four spaces (a body inside a block).
fn indent(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if !line.is_empty() {
            out.push_str("    ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Each kernel file as an inline module, its text unchanged but indented;
/// the drift kernels only with `drift`.
fn embedded_kernels(drift: bool) -> String {
    let mut out = String::new();
    let psi = ("psi", "model/psi.rs", include_str!("../model/psi.rs"));
    for (name, origin, text) in KERNELS.into_iter().chain(drift.then_some(psi)) {
        let _ = write!(
            out,
            "\n// automl's `{origin}`, copied verbatim.\nmod {name} {{\n{}}}\n",
            indent(text)
        );
    }
    out
}

fn has_levels(model: &Model) -> bool {
    model
        .prep
        .columns
        .iter()
        .any(|c| c.kind == ColumnKind::Categorical)
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
            ColumnKind::Numeric | ColumnKind::MostlyNumeric => "Option<f64>",
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
                ColumnKind::Numeric | ColumnKind::MostlyNumeric => {
                    format!("self.{name}.map_or(Value::Missing, Value::Number)")
                }
                ColumnKind::Boolean => format!(
                    "self.{name}.map_or(Value::Missing, |b| Value::Number(f64::from(u8::from(b))))"
                ),
                ColumnKind::Categorical => {
                    format!("self.{name}.map_or(Value::Missing, Value::Text)")
                }
            }),
    )
}

/// The model's missing markers, then static level (and share) tables of
/// the categorical columns.
fn encode_tables(model: &Model) -> String {
    let mut out = String::new();
    let markers = &model.prep.missing_markers;
    let _ = writeln!(
        out,
        "static MISSING: [&str; {}] = [{}];",
        markers.len(),
        list(markers.iter().map(|m| lit(m)))
    );
    for (i, c) in model.prep.columns.iter().enumerate() {
        let (levels, shares) = match &c.encoding {
            Encoding::OneHot { levels } => (levels, None),
            Encoding::Frequency { levels, shares, .. } => (levels, Some(shares)),
            Encoding::Number { .. } | Encoding::Flag { .. } => continue,
        };
        let _ = writeln!(
            out,
            "static LEVELS_{i}: [&str; {}] = [{}];",
            levels.len(),
            list(levels.iter().map(|l| lit(l)))
        );
        if let Some(shares) = shares {
            write_table(
                &mut out,
                &format!("SHARES_{i}"),
                &Table::F64s(shares.clone()),
            );
        }
    }
    if let Some(s) = &model.prep.scaler {
        write_table(&mut out, "SCALER_MEAN", &Table::F64s(s.mean.clone()));
        write_table(&mut out, "SCALER_SCALE", &Table::F64s(s.scale.clone()));
    }
    out
}

/// Per column: its kind's reader, then its encoder, on the column's slice
/// of the features — as `ColumnPrep::encode` does; then the scaler.
fn encode_body(model: &Model) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (i, c) in model.prep.columns.iter().enumerate() {
        let _ = writeln!(out, "    // {}", comment_text(&c.name));
        out.push_str(&encode_column(i, c, at));
        at += c.width();
    }
    if model.prep.scaler.is_some() {
        out.push_str("    encode::standardise(x, &SCALER_MEAN, &SCALER_SCALE);\n");
    }
    out
}

fn encode_column(i: usize, c: &ColumnPrep, at: usize) -> String {
    let slice = format!("&mut x[{at}..{}]", at + c.width());
    let ind = c.missing_indicator;
    match &c.encoding {
        Encoding::Number { fill } | Encoding::Flag { fill } => {
            let read = match c.kind {
                ColumnKind::Boolean => format!("cell::read_flag(values[{i}], &MISSING).map_err(refused({i}))?"),
                ColumnKind::MostlyNumeric => format!("cell::read_number_or_missing(values[{i}], &MISSING)"),
                _ => format!("cell::read_number(values[{i}], &MISSING).map_err(refused({i}))?"),
            };
            format!(
                "    let v = {read};\n    encode::number(v, {}, {ind}, {slice});\n",
                float(*fill)
            )
        }
        Encoding::OneHot { .. } => format!(
            "    let mut text = cell::NumText::new();\n    let level = cell::read_level(values[{i}], &MISSING, &mut text);\n    encode::one_hot(level, &LEVELS_{i}, {ind}, {slice});\n"
        ),
        Encoding::Frequency { missing, .. } => format!(
            "    let mut text = cell::NumText::new();\n    let level = cell::read_level(values[{i}], &MISSING, &mut text);\n    encode::frequency(level, &LEVELS_{i}, &SHARES_{i}, {}, {ind}, {slice});\n",
            float(*missing)
        ),
    }
}

/// The estimator's tables, in the order its kind lists them (with those
/// of its reason codes when `explain`), then an ensemble's members as
/// modules of their own (so their tables' names can't collide), each
/// scoring (and explaining) with its own tables.
fn estimator_tables(lowered: &Lowered, explain: bool) -> String {
    let mut out = String::new();
    for (name, table) in &lowered.tables {
        write_table(&mut out, name, table);
    }
    let explained = lowered.explain.as_ref().filter(|_| explain);
    for (name, table) in explained.map_or(&[][..], |(tables, _)| tables) {
        write_table(&mut out, name, table);
    }
    for (i, member) in lowered.members.iter().enumerate() {
        let contributions = match member.explain.as_ref().filter(|_| explain) {
            Some((_, call)) => format!(
                "\npub fn contributions(x: &[f64], phi: &mut [f64]) {{\n{}}}\n",
                indent(call)
            ),
            None => String::new(),
        };
        let body = format!(
            "use super::kernels;\n\n{}\npub fn score(x: &[f64], out: &mut [f64]) {{\n{}}}\n\n{}\n{}}}\n{contributions}",
            estimator_tables(member, explain),
            indent(&member.call),
            "pub fn score_batch(x: &[f64], d: usize, out: &mut [f64], w: usize) {",
            batch_body(member)
        );
        let _ = write!(out, "\nmod member_{i} {{\n{}}}\n", indent(&body));
    }
    out
}

/// The body of `score_batch`: the kind's batch kernel call, or its rows
/// scored one by one.
fn batch_body(lowered: &Lowered) -> String {
    const ROW_BY_ROW: &str =
        "for (x, out) in x.chunks_exact(d).zip(out.chunks_exact_mut(w)) {\n    score(x, out);\n}\n";
    indent(lowered.batch.as_deref().unwrap_or(ROW_BY_ROW))
}

/// One table as Rust items.
fn write_table(out: &mut String, name: &str, table: &Table) {
    let _ = match table {
        Table::F64s(v) => writeln!(
            out,
            "static {name}: [f64; {}] = [{}];",
            v.len(),
            list(v.iter().map(|x| float(*x)))
        ),
        Table::U32s(v) => writeln!(out, "static {name}: [u32; {}] = [{}];", v.len(), ints(v)),
        Table::Links(v) => writeln!(
            out,
            "static {name}: [u64; {}] = [{}];",
            v.len(),
            list(v.iter().map(|&l| {
                let (feature, right) = kernels::link_parts(l);
                format!("0x{right:x}_{feature:08x}")
            }))
        ),
        Table::F64(x) => writeln!(out, "const {name}: f64 = {};", float(*x)),
        Table::MaybeF64(x) => writeln!(
            out,
            "const {name}: Option<f64> = {};",
            x.map_or("None".into(), |x| format!("Some({})", float(x)))
        ),
        Table::Usize(n) => writeln!(out, "const {name}: usize = {n};"),
        Table::Link(l) => writeln!(out, "const {name}: kernels::Link = kernels::Link::{l:?};"),
        Table::Combine(c) => writeln!(
            out,
            "const {name}: kernels::Combine = kernels::Combine::{c:?};"
        ),
        Table::Weighting(w) => writeln!(
            out,
            "const {name}: kernels::Weighting = kernels::Weighting::{w:?};"
        ),
        Table::Trees(t) => {
            write_trees(out, name, t);
            Ok(())
        }
    };
}

pub(super) fn ints<T: ToString>(v: &[T]) -> String {
    list(v.iter().map(ToString::to_string))
}

/// Tree tables `NAME_THRESHOLD`, `NAME_LINK`, … and the
/// `kernels::Trees` view over them, named `NAME`.
fn write_trees(out: &mut String, name: &str, t: &PackedTrees) {
    let threshold = Table::F64s(t.threshold.clone());
    write_table(out, &format!("{name}_THRESHOLD"), &threshold);
    write_table(out, &format!("{name}_LINK"), &Table::Links(t.link.clone()));
    for (part, v) in [
        ("ROOTS", &t.roots),
        ("OUTPUTS", &t.outputs),
        ("DEPTHS", &t.depths),
    ] {
        write_table(out, &format!("{name}_{part}"), &Table::U32s(v.clone()));
    }
    write_table(
        out,
        &format!("{name}_VALUES"),
        &Table::F64s(t.values.clone()),
    );
    let bits = t
        .bits
        .as_ref()
        .map_or("None".into(), |b| write_bits(out, name, b));
    let ranks = t
        .ranks
        .as_ref()
        .map_or("None".into(), |r| write_ranks(out, name, r));
    let _ = writeln!(
        out,
        "static {name}: kernels::Trees<'static> = kernels::Trees {{
    threshold: &{name}_THRESHOLD,
    link: &{name}_LINK,
    roots: &{name}_ROOTS,
    outputs: &{name}_OUTPUTS,
    depths: &{name}_DEPTHS,
    values: &{name}_VALUES,
    width: {},
    bits: {},
    ranks: {},
}};",
        t.width, bits, ranks
    );
}

/// The rank walk's tables `NAME_RANK_STARTS`, …; returns the
/// `kernels::RankTrees` over them.
fn write_ranks(out: &mut String, name: &str, r: &PackedRanks) -> String {
    for (part, v) in [("CUTS", &r.cuts), ("VALUES", &r.values)] {
        write_table(out, &format!("{name}_RANK_{part}"), &Table::F64s(v.clone()));
    }
    for (part, v) in [("STARTS", &r.starts), ("SPLITS", &r.splits)] {
        write_table(out, &format!("{name}_RANK_{part}"), &Table::U32s(v.clone()));
    }
    format!(
        "Some(kernels::RankTrees {{
        starts: &{name}_RANK_STARTS,
        cuts: &{name}_RANK_CUTS,
        splits: &{name}_RANK_SPLITS,
        values: &{name}_RANK_VALUES,
        depth: {},
    }})",
        r.depth
    )
}

/// The bit-vector walk's tables `NAME_BIT_STARTS`, …; returns the
/// `kernels::BitTrees` over them.
fn write_bits(out: &mut String, name: &str, b: &PackedBits) -> String {
    write_table(
        out,
        &format!("{name}_BIT_THRESHOLD"),
        &Table::F64s(b.threshold.clone()),
    );
    for (part, v) in [
        ("STARTS", &b.starts),
        ("TREE", &b.tree),
        ("FIRST_LEAF", &b.first_leaf),
        ("LEAVES", &b.leaves),
    ] {
        write_table(out, &format!("{name}_BIT_{part}"), &Table::U32s(v.clone()));
    }
    let masks = list(b.mask.iter().map(|m| format!("0x{m:x}")));
    let _ = writeln!(
        out,
        "static {name}_BIT_MASK: [u64; {}] = [{masks}];",
        b.mask.len()
    );
    let _ = writeln!(
        out,
        "static {name}_BIT_SINGLE: [bool; {}] = [{}];",
        b.single.len(),
        list(b.single.iter().map(ToString::to_string))
    );
    format!(
        "Some(kernels::BitTrees {{
        starts: &{name}_BIT_STARTS,
        threshold: &{name}_BIT_THRESHOLD,
        tree: &{name}_BIT_TREE,
        mask: &{name}_BIT_MASK,
        first_leaf: &{name}_BIT_FIRST_LEAF,
        leaves: &{name}_BIT_LEAVES,
        narrow: {},
        single: &{name}_BIT_SINGLE,
    }})",
        b.narrow
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::data::Task;
    use crate::model::estimator::{
        Combine, Ensemble, Estimator, Isolation, Linear, Link, Member, Mixture, Rule, Tree,
        TreeEnsemble,
    };
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
            prep: Prep {
                columns,
                scaler,
                missing_markers: Vec::new(),
            },
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
                importance: None,
            },
            drift: None,
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
            cover: Vec::new(),
        }
    }

    /// The generated source up to the embedded kernels, which
    /// `kernels_are_embedded_verbatim` checks on their own.
    fn source(m: &Model) -> String {
        let full = generate(m, b"{}", Parts::default()).unwrap();
        let tables = full.split("\n// automl's `").next().unwrap_or_default();
        tables.replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
    }

    #[test]
    fn kernels_are_embedded_verbatim() {
        let cols = vec![numeric("x", 0.0, false)];
        let est = Estimator::Linear(Linear {
            weights: vec![1.0],
            intercept: vec![0.0],
            link: Link::Identity,
        });
        let full = generate(
            &model(Task::Regression, &[], cols, None, est),
            b"{}",
            Parts::default(),
        )
        .unwrap();
        for (name, origin, text) in KERNELS {
            let header = format!("// automl's `{origin}`, copied verbatim.\nmod {name} {{\n");
            let at = full.find(&header).expect("the kernel module is there") + header.len();
            let embedded: String = full[at..]
                .lines()
                .take_while(|l| *l != "}")
                .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
                .collect();
            assert_eq!(embedded, text, "{origin}");
        }
    }

    #[test]
    fn depth_two_regression_tree() {
        let est = Estimator::Trees(TreeEnsemble {
            base: vec![0.0],
            trees: vec![depth_two(0, 1.0)].into(),
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
            trees: vec![depth_two(0, 0.1), depth_two(0, -0.05)].into(),
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
    fn ensemble_of_a_scaled_linear_model_and_a_tree() {
        let linear = Estimator::Linear(Linear {
            weights: vec![0.5, -1.25],
            intercept: vec![0.1],
            link: Link::Identity,
        });
        let tree = Estimator::Trees(TreeEnsemble {
            base: vec![0.0],
            trees: vec![depth_two(0, 1.0)].into(),
            combine: Combine::Mean,
            link: Link::Identity,
        });
        let members = vec![
            Member {
                scaled: true,
                estimator: linear,
            },
            Member {
                scaled: false,
                estimator: tree,
            },
        ];
        let scaler = Scaler {
            mean: vec![1.0, 2.0],
            scale: vec![0.5, 4.0],
        };
        let est = Ensemble::of(vec![0.25, 0.75], members, Some(scaler));
        let cols = vec![numeric("a", 0.0, false), numeric("b", 1.0, false)];
        insta::assert_snapshot!(source(&model(Task::Regression, &[], cols, None, est)));
    }

    #[test]
    fn isolation_forest_detector() {
        let mut tree = depth_two(0, 1.0);
        tree.values = vec![0.0, 0.0, 0.0, 2.0, 3.5, 1.0, 2.5];
        let est = Estimator::Isolation(Isolation {
            trees: vec![tree.clone(), tree].into(),
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
