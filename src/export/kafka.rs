//! The Kafka consumer project: a Cargo project rendered from
//! `templates/kafka-consumer/` around the generated model module. The folder
//! is assembled beside its destination and renamed into place, so it appears
//! whole or not at all.

use std::path::Path;

use minijinja::{context, AutoEscape, Environment};

use crate::error::{Error, Result};
use crate::model::Model;

const CARGO_TOML: &str = include_str!("../../templates/kafka-consumer/Cargo.toml.j2");
const README: &str = include_str!("../../templates/kafka-consumer/README.md.j2");
const REASONS: &str = include_str!("../../templates/kafka-consumer/src/reasons.rs.j2");
/// The consumer's sources: plain Rust that its user owns; only the model
/// module is generated.
const SOURCES: [(&str, &str); 7] = [
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

/// Writes the consumer project into `dir`, which must not exist yet; each
/// output record carries its `reasons` largest reason codes (none for 0).
pub fn write_project(model: &Model, model_json: &[u8], dir: &Path, reasons: usize) -> Result<()> {
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
    let files = render(model, model_json, &name, reasons)?;
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

fn render(
    model: &Model,
    model_json: &[u8],
    name: &str,
    reasons: usize,
) -> Result<Vec<(&'static str, String)>> {
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
    };
    let render = |t: &str| -> Result<String> {
        let mut text = env
            .get_template(t)
            .and_then(|t| t.render(&ctx))
            .map_err(fail)?;
        text.push('\n');
        Ok(text)
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
                    drift: true,
                },
            )?,
        ),
        (".gitignore", "/target\n".to_string()),
        ("schema.json", schema_text(model)?),
    ];
    files.extend(SOURCES.iter().map(|(path, text)| (*path, text.to_string())));
    Ok(files)
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
