//! `automl export --schema`: a JSON Schema (draft 2020-12) of the records
//! the model scores — what a producer writing to the consumer's topic, or
//! any caller of `predict`, may send. One property per input column, none
//! required (an absent field is a missing value), other fields allowed
//! (they are ignored). Each column's property accepts what the model's cell
//! readers (`data/cell.rs`) accept; a categorical column's levels are an
//! open enum: the known ones listed, any other string or number allowed
//! (it scores as an unseen level).

use std::path::Path;

use serde_json::{json, Value as Json};

use crate::data::cell::MISSING_TOKENS;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::output::write_atomic;
use crate::prep::{ColumnKind, ColumnPrep, Encoding};

/// A number as `parse_number` reads text: optional sign, digits with an
/// optional point (or a point and digits), optional exponent.
const NUMBER: &str = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?";

/// `true` or `false` in any case.
const FLAG: &str = "[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]";

/// The schema of `model`'s input records.
pub fn generate(model: &Model) -> Json {
    let markers = &model.prep.missing_markers;
    let properties: serde_json::Map<String, Json> = model
        .prep
        .columns
        .iter()
        .map(|c| (c.name.clone(), column(c, markers)))
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("input record of automl model {}", model.meta.model_id),
        "description": "One JSON object per record. A field that is absent or null is a missing value, as is a string that is one of the missing markers; fields not listed are ignored.",
        "type": "object",
        "properties": properties,
        "additionalProperties": true,
    })
}

/// Writes the schema of `model` to `path` (atomically), pretty-printed.
pub fn write_schema(model: &Model, path: &Path) -> Result<()> {
    let text =
        serde_json::to_string_pretty(&generate(model)).map_err(|e| Error::output(path, e))?;
    write_atomic(path, format!("{text}\n").as_bytes())
}

/// One column's property.
fn column(c: &ColumnPrep, markers: &[String]) -> Json {
    let missing = missing_tokens(markers);
    let text = |inner: &str| format!(r"^\s*(?:{inner}|{missing})\s*$");
    match c.kind {
        ColumnKind::Numeric => json!({
            "type": ["number", "string", "null"],
            "pattern": text(NUMBER),
            "description": "numeric: a number, a number in text, or missing",
        }),
        ColumnKind::MostlyNumeric => json!({
            "type": ["number", "string", "null"],
            "description": "mostly numeric: a number or a number in text; any other text is read as missing, as in training",
        }),
        ColumnKind::Boolean => json!({
            "anyOf": [
                {"type": "boolean"},
                {"enum": [0, 1]},
                {"type": "string", "pattern": text(FLAG)},
                {"type": "null"},
            ],
            "description": "true/false: a JSON boolean, 0 or 1, true or false in text (any case), or missing",
        }),
        ColumnKind::Categorical => json!({
            "type": ["string", "number", "null"],
            "anyOf": [{"enum": levels(&c.encoding)}, {"type": ["string", "number", "null"]}],
            "description": "categorical, an open enum: the levels seen in training are listed; any other value scores as an unseen level (a number as its text)",
        }),
    }
}

/// The known levels of a categorical column.
fn levels(encoding: &Encoding) -> Vec<String> {
    match encoding {
        Encoding::OneHot { levels } | Encoding::Frequency { levels, .. } => levels.clone(),
        _ => Vec::new(),
    }
}

/// The missing markers as regular-expression alternatives (the empty text
/// among them).
fn missing_tokens(markers: &[String]) -> String {
    let tokens = MISSING_TOKENS
        .iter()
        .map(|t| t.to_string())
        .chain(markers.iter().cloned());
    tokens.map(|t| escape(&t)).collect::<Vec<_>>().join("|")
}

/// `text` with the characters that mean something in a regular expression
/// escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if r"\^$.|?*+()[]{}/".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_become_escaped_alternatives_beside_the_defaults() {
        let tokens = missing_tokens(&["-999".to_string(), "n.a.".to_string()]);
        assert!(
            tokens.starts_with("|NA|N\\/A|NaN|nan|null|NULL|None|\\?"),
            "{tokens}"
        );
        assert!(tokens.ends_with("|-999|n\\.a\\."), "{tokens}");
    }
}
