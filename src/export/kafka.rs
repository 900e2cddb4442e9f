//! The Kafka consumer project: a Cargo project rendered from
//! `templates/kafka-consumer/` around the generated model module. The folder
//! is assembled beside its destination and renamed into place, so it appears
//! whole or not at all.

use std::path::Path;

use minijinja::{context, AutoEscape, Environment};

use super::rust::{ints, list, lit};
use crate::error::{Error, Result};
use crate::model::Model;

const CARGO_TOML: &str = include_str!("../../templates/kafka-consumer/Cargo.toml.j2");
const README: &str = include_str!("../../templates/kafka-consumer/README.md.j2");
const REASONS: &str = include_str!("../../templates/kafka-consumer/src/reasons.rs.j2");
/// The consumer's sources: plain Rust that its user owns. Generated beside
/// them: the model modules (`src/model.rs`, `src/challenger.rs`), the fields
/// read (`src/fields.rs`) and the reason codes (`src/reasons.rs`).
const SOURCES: [(&str, &str); 8] = [
    (
        "src/shadow.rs",
        include_str!("../../templates/kafka-consumer/src/shadow.rs"),
    ),
    (
        "src/drift.rs",
        include_str!("../../templates/kafka-consumer/src/drift.rs"),
    ),
    (
        "src/metrics.rs",
        include_str!("../../templates/kafka-consumer/src/metrics.rs"),
    ),
    (
        "src/contract.rs",
        include_str!("../../templates/kafka-consumer/src/contract.rs"),
    ),
    (
        "src/main.rs",
        include_str!("../../templates/kafka-consumer/src/main.rs"),
    ),
    (
        "src/settings.rs",
        include_str!("../../templates/kafka-consumer/src/settings.rs"),
    ),
    (
        "src/record.rs",
        include_str!("../../templates/kafka-consumer/src/record.rs"),
    ),
    (
        "src/delivery.rs",
        include_str!("../../templates/kafka-consumer/src/delivery.rs"),
    ),
];

/// What a consumer project scores with.
pub struct Project<'a> {
    /// The model whose outputs go to the output topic, and its file.
    pub champion: (&'a Model, &'a [u8]),
    /// A model scored beside it, to the shadow topic, and its file.
    pub challenger: Option<(&'a Model, &'a [u8])>,
    /// Reason codes in each output record (none for 0).
    pub reasons: usize,
}

/// Writes the consumer project into `dir`, which must not exist yet. A
/// challenger must be [`comparable`] with the champion.
pub fn write_project(project: &Project<'_>, dir: &Path) -> Result<()> {
    if dir.exists() {
        return Err(Error::output(dir, "already exists; choose a new folder"));
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = package_name(dir);
    let staging = tempfile::Builder::new()
        .prefix(".automl-project-")
        .tempdir_in(parent)
        .map_err(|e| Error::output(dir, e))?;
    let root = staging.path();
    std::fs::create_dir(root.join("src")).map_err(|e| Error::output(dir, e))?;
    let files = render(project, &name)?;
    for (path, text) in &files {
        std::fs::write(root.join(path), text).map_err(|e| Error::output(dir.join(path), e))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        Error::output(dir, e)
    })
}

/// A Cargo package name from the folder name.
fn package_name(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!(
            "automl-scorer{}",
            if name.is_empty() {
                String::new()
            } else {
                format!("-{name}")
            }
        )
    } else {
        name
    }
}

/// A challenger must predict what the champion predicts: the same task
/// and, for a classifier, the same classes in the same order; else why not.
pub fn comparable(champion: &Model, challenger: &Model) -> std::result::Result<(), String> {
    if champion.task != challenger.task {
        return Err(format!(
            "can't challenge the champion: it is a {} model and the champion a {} one",
            challenger.task, champion.task
        ));
    }
    if champion.classes != challenger.classes {
        return Err(format!(
            "can't challenge the champion: its classes {:?} are not the champion's {:?}",
            challenger.classes, champion.classes
        ));
    }
    Ok(())
}

fn render(project: &Project<'_>, name: &str) -> Result<Vec<(&'static str, String)>> {
    let (model, model_json) = project.champion;
    let reasons = project.reasons;
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let fail = |e: minijinja::Error| Error::Output {
        path: "templates/kafka-consumer".into(),
        reason: e.to_string(),
    };
    env.add_template("Cargo.toml", CARGO_TOML).map_err(fail)?;
    env.add_template("README.md", README).map_err(fail)?;
    env.add_template("reasons.rs", REASONS).map_err(fail)?;
    let ctx = context! {
        name => name,
        version => env!("CARGO_PKG_VERSION"),
        model_id => super::rust::model_id(model, model_json),
        family => model.meta.family.clone(),
        task => model.task.to_string(),
        classification => model.task.is_classification(),
        memberships => model.estimator.memberships(),
        example_input => "records",
        columns => model.input_columns().iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
        reasons => reasons,
        challenger => project.challenger.map(|(m, json)| super::rust::model_id(m, json)),
    };
    let render = |t: &str| -> Result<String> {
        let mut text = env
            .get_template(t)
            .and_then(|t| t.render(&ctx))
            .map_err(fail)?;
        text.push('\n');
        Ok(text)
    };
    let consumer = super::rust::Parts {
        explain: false,
        consumer: true,
    };
    let mut files = vec![
        ("Cargo.toml", render("Cargo.toml")?),
        ("README.md", render("README.md")?),
        ("src/reasons.rs", render("reasons.rs")?),
        (
            "src/model.rs",
            super::rust::generate(
                model,
                model_json,
                super::rust::Parts {
                    explain: reasons > 0,
                    ..consumer
                },
            )?,
        ),
        (".gitignore", "/target\n".to_string()),
        ("schema.json", schema_text(model)?),
        (
            "src/fields.rs",
            fields(model, project.challenger.map(|(m, _)| m)),
        ),
    ];
    if let Some((challenger, json)) = project.challenger {
        files.push((
            "src/challenger.rs",
            super::rust::generate(challenger, json, consumer)?,
        ));
    }
    files.extend(SOURCES.iter().map(|(path, text)| (*path, text.to_string())));
    Ok(files)
}

/// `src/fields.rs`: the record fields the consumer reads (the champion's
/// input columns, then the challenger's others) and where each model's
/// inputs are among them.
fn fields(champion: &Model, challenger: Option<&Model>) -> String {
    let mut names: Vec<&str> = champion.input_columns();
    let mut challenger_at = Vec::new();
    if let Some(c) = challenger {
        for column in &c.prep.columns {
            let at = match names.iter().position(|n| *n == column.name) {
                Some(at) => at,
                None => {
                    names.push(&column.name);
                    names.len() - 1
                }
            };
            challenger_at.push(at);
        }
    }
    let champion_at: Vec<usize> = (0..champion.prep.columns.len()).collect();
    let mut out = format!(
        "//! The record fields the consumer reads: the champion's input columns{}.\n//! Generated by `automl export --kafka-consumer`.\n\n/// Field names.\npub const NAMES: [&str; {}] = [{}];\n\n/// Where each of the champion's input columns is in `NAMES`.\npub const CHAMPION: [usize; {}] = [{}];\n",
        if challenger.is_some() { ", then the challenger's others" } else { "" },
        names.len(),
        list(names.iter().map(|n| lit(n))),
        champion_at.len(),
        ints(&champion_at),
    );
    if challenger.is_some() {
        out.push_str(&format!(
            "\n/// Where each of the challenger's input columns is in `NAMES`.\npub const CHALLENGER: [usize; {}] = [{}];\n",
            challenger_at.len(),
            ints(&challenger_at)
        ));
    }
    out
}

/// The input records' JSON Schema, as `automl export --schema` writes it.
fn schema_text(model: &Model) -> Result<String> {
    let schema = super::schema::generate(model);
    let text =
        serde_json::to_string_pretty(&schema).map_err(|e| Error::output("schema.json", e))?;
    Ok(format!("{text}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_are_valid() {
        assert_eq!(
            package_name(Path::new("out/Titanic Scorer")),
            "titanic-scorer"
        );
        assert_eq!(package_name(Path::new("9lives")), "automl-scorer-9lives");
        assert_eq!(package_name(Path::new("__")), "automl-scorer");
    }
}
