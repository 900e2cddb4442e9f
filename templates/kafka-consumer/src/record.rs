//! One record: its JSON value read into the model's inputs, scored, and the
//! output JSON written (the prediction's part by the model itself).

use serde_json::{Map, Value as Json};

use crate::model;

/// The record's fields in `INPUT_COLUMNS` order, or why it can't be read.
/// `bools` holds the texts a JSON `false` and `true` stand for.
fn values<'a>(
    record: &'a Map<String, Json>,
    bools: &'a [String; 2],
) -> Result<[model::Value<'a>; model::INPUT_COLUMNS.len()], String> {
    let mut out = [model::Value::Missing; model::INPUT_COLUMNS.len()];
    for (slot, column) in out.iter_mut().zip(model::INPUT_COLUMNS) {
        *slot = match record.get(column) {
            None | Some(Json::Null) => model::Value::Missing,
            Some(Json::Number(n)) => model::Value::Number(
                n.as_f64()
                    .ok_or(format!("field '{column}': number out of range"))?,
            ),
            Some(Json::String(t)) => model::Value::Text(t),
            Some(Json::Bool(b)) => model::Value::Text(&bools[usize::from(*b)]),
            Some(_) => {
                return Err(format!(
                    "field '{column}': expected a number, a string or null"
                ))
            }
        };
    }
    Ok(out)
}

/// Scores one record value: the output JSON and whether the row is an
/// alert (an anomaly), or the reason it can't be scored.
pub fn score(payload: Option<&[u8]>, source: &Json) -> Result<(String, bool), String> {
    let json: Json = serde_json::from_slice(payload.unwrap_or_default())
        .map_err(|e| format!("not JSON: {e}"))?;
    let Json::Object(record) = json else {
        return Err("not a JSON object".into());
    };
    let bools = ["false".to_string(), "true".to_string()];
    let p = model::predict(&values(&record, &bools)?).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(256);
    out.push('{');
    p.write_json(&mut out);
    out.push_str(",\"model_id\":");
    out.push_str(&Json::from(model::MODEL_ID).to_string());
    out.push_str(",\"source\":");
    out.push_str(&source.to_string());
    out.push('}');
    Ok((out, p.is_alert()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Json {
        serde_json::json!({"topic": "t", "partition": 0, "offset": 1})
    }

    #[test]
    fn malformed_records_are_refused_with_a_reason() {
        let refused = |v: &[u8]| score(Some(v), &source()).unwrap_err();
        assert!(refused(b"not json").starts_with("not JSON"));
        assert_eq!(refused(b"[1, 2]"), "not a JSON object");
        let mut nested = Map::new();
        let column = model::INPUT_COLUMNS[0].to_string();
        nested.insert(column, serde_json::json!({"a": 1}));
        let nested = Json::Object(nested).to_string();
        assert!(refused(nested.as_bytes()).contains("expected a number"));
    }

    #[test]
    fn an_empty_object_is_all_missing_and_scores_to_valid_json() {
        let (text, _) = score(Some(b"{}"), &source()).unwrap();
        let out: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(out["model_id"], model::MODEL_ID);
        assert_eq!(out["source"]["offset"], 1);
    }
}
