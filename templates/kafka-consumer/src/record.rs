//! Records: each JSON value read into the model's inputs, a batch of them
//! scored together, and each output JSON written (the prediction's part by
//! the model itself).

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

/// A record value as a JSON object, or why it is not one.
fn object(payload: Option<&[u8]>) -> Result<Map<String, Json>, String> {
    let json: Json = serde_json::from_slice(payload.unwrap_or_default())
        .map_err(|e| format!("not JSON: {e}"))?;
    match json {
        Json::Object(record) => Ok(record),
        _ => Err("not a JSON object".into()),
    }
}

/// The output JSON of a prediction for the record from `source`.
fn output(p: &model::Prediction, source: &Json) -> String {
    let mut out = String::with_capacity(256);
    out.push('{');
    p.write_json(&mut out);
    out.push_str(",\"model_id\":");
    out.push_str(&Json::from(model::MODEL_ID).to_string());
    out.push_str(",\"source\":");
    out.push_str(&source.to_string());
    out.push('}');
    out
}

/// Scores a batch of record values, each with its source: per record, the
/// output JSON and whether the row is an alert (an anomaly), or the reason
/// it can't be scored. The readable records are scored together by the
/// model's `predict_batch`, which gives what `predict` gives row by row.
pub fn score_batch(records: &[(Option<&[u8]>, Json)]) -> Vec<Result<(String, bool), String>> {
    let bools = ["false".to_string(), "true".to_string()];
    let objects: Vec<Result<Map<String, Json>, String>> = records
        .iter()
        .map(|(payload, _)| object(*payload))
        .collect();
    let mut results: Vec<Result<(String, bool), String>> =
        vec![Err("not scored".to_string()); records.len()];
    let (mut rows, mut row_of) = (Vec::new(), Vec::new());
    for (i, read) in objects.iter().enumerate() {
        let read = read
            .as_ref()
            .map_err(String::clone)
            .and_then(|record| values(record, &bools));
        match read {
            Ok(v) => {
                rows.push(v);
                row_of.push(i);
            }
            Err(e) => results[i] = Err(e),
        }
    }
    model::predict_batch(&rows, |r, p| {
        let i = row_of[r];
        results[i] = p
            .map(|p| (output(&p, &records[i].1), p.is_alert()))
            .map_err(|e| e.to_string());
    });
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Json {
        serde_json::json!({"topic": "t", "partition": 0, "offset": 1})
    }

    fn score(payload: Option<&[u8]>, source: &Json) -> Result<(String, bool), String> {
        let mut results = score_batch(&[(payload, source.clone())]);
        results.pop().expect("one result per record")
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

    #[test]
    fn a_batch_gives_each_record_what_it_gets_alone() {
        let payloads: [&[u8]; 4] = [b"{}", b"not json", b"[1]", b"{}"];
        let records: Vec<(Option<&[u8]>, Json)> =
            payloads.iter().map(|p| (Some(*p), source())).collect();
        let batch = score_batch(&records);
        assert_eq!(batch.len(), records.len());
        for ((payload, source), result) in records.iter().zip(&batch) {
            assert_eq!(result, &score(*payload, source));
        }
    }
}
