//! Records: each JSON value read into the model's inputs, a batch of them
//! scored together, and each output JSON written (the prediction's part by
//! the model itself).
//!
//! A record is read straight from its JSON text into one slot per field a
//! model reads (`fields::NAMES`), strings borrowed from the payload where
//! they have no escapes: no map of every field is built, and fields no
//! model uses are skipped unread.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value as Json;

use crate::drift::Drift;
use crate::fields;
use crate::model;

/// One input field as the record has it.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    Missing,
    Number(f64),
    Text(Cow<'a, str>),
    Bool(bool),
    /// An object or an array: not an input value.
    Nested,
}

/// A record's fields in `fields::NAMES` order (the last of repeated keys).
pub struct Row<'a>([Field<'a>; fields::NAMES.len()]);

impl<'de> de::Deserialize<'de> for Row<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RowVisitor)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = Row<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row<'de>, A::Error> {
        let mut row = Row(std::array::from_fn(|_| Field::Missing));
        while let Some(column) = map.next_key_seed(ColumnOf)? {
            match column {
                Some(i) => row.0[i] = map.next_value_seed(FieldSeed)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(row)
    }
}

/// A key as the index of the field it names, if any.
struct ColumnOf;

impl<'de> DeserializeSeed<'de> for ColumnOf {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ColumnOf {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(fields::NAMES.iter().position(|c| *c == key))
    }
}

/// A field's value.
struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, a string or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Field<'de>, E> {
        Ok(Field::Missing)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Field<'de>, E> {
        Ok(Field::Bool(b))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field<'de>, E> {
        Ok(Field::Number(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field<'de>, E> {
        Ok(Field::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field<'de>, E> {
        Ok(Field::Number(v as f64))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Owned(v.to_string())))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Nested)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Nested)
    }
}

/// A record value read into its row, or why it can't be: not JSON, or
/// JSON but not an object.
pub fn row(payload: Option<&[u8]>) -> Result<Row<'_>, String> {
    let payload = payload.unwrap_or_default();
    serde_json::from_slice(payload).map_err(|e| {
        match serde_json::from_slice::<IgnoredAny>(payload) {
            Ok(_) => "not a JSON object".to_string(),
            Err(_) => format!("not JSON: {e}"),
        }
    })
}

/// A model's input value, made from a record's field: each generated
/// model module has its own `Value` type.
pub trait Reading<'a>: Copy {
    const MISSING: Self;
    fn number(x: f64) -> Self;
    fn text(t: &'a str) -> Self;
}

impl<'a> Reading<'a> for model::Value<'a> {
    const MISSING: Self = model::Value::Missing;
    fn number(x: f64) -> Self {
        model::Value::Number(x)
    }
    fn text(t: &'a str) -> Self {
        model::Value::Text(t)
    }
}

/// The row's fields at `picks` as a model's inputs, or the first field
/// that is not an input value. `bools` holds the texts a JSON `false` and
/// `true` stand for.
pub fn values<'a, V: Reading<'a>, const N: usize>(
    row: &'a Row<'_>,
    picks: &[usize; N],
    bools: &'a [String; 2],
) -> Result<[V; N], String> {
    let mut out = [V::MISSING; N];
    for (slot, &at) in out.iter_mut().zip(picks) {
        *slot = match &row.0[at] {
            Field::Missing => V::MISSING,
            Field::Number(n) => V::number(*n),
            Field::Text(t) => V::text(t),
            Field::Bool(b) => V::text(&bools[usize::from(*b)]),
            Field::Nested => {
                return Err(format!(
                    "field '{}': expected a number, a string or null",
                    fields::NAMES[at]
                ))
            }
        };
    }
    Ok(out)
}

/// Closes an output JSON object begun with a prediction's members: the
/// model id and where the record came from (`source`, a JSON object's
/// text).
pub fn finish(out: &mut String, model_id: &str, source: &str) {
    out.push_str(",\"model_id\":");
    out.push_str(&Json::from(model_id).to_string());
    out.push_str(",\"source\":");
    out.push_str(source);
    out.push('}');
}

/// The output JSON of a prediction for the record of `values` from
/// `source`, with its reason codes when the project has them.
fn output(
    p: &model::Prediction,
    values: &[model::Value<'_>; model::INPUT_COLUMNS.len()],
    source: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push('{');
    p.write_json(&mut out);
    crate::reasons::write(values, &mut out);
    finish(&mut out, model::MODEL_ID, source);
    out
}

/// What watches the scored records: drift monitoring, and the agreement
/// of champion and challenger.
#[derive(Default)]
pub struct Monitors {
    pub drift: Option<Drift>,
    #[cfg(feature = "challenger")]
    pub agreement: crate::shadow::Agreement,
}

impl Monitors {
    /// Drift monitoring if `drift`, and the challenger's agreement if the
    /// project has one.
    pub fn new(drift: Option<Drift>) -> Monitors {
        Monitors {
            drift,
            #[cfg(feature = "challenger")]
            agreement: Default::default(),
        }
    }
}

/// What scoring part of a batch saw, for the monitors: each scored
/// record's drift bins, in order (when drift is watched), and the
/// challenger's agreement.
#[derive(Default)]
pub struct Seen {
    pub bins: Vec<[u16; model::DRIFT_SERIES.len()]>,
    #[cfg(feature = "challenger")]
    pub agreement: crate::shadow::Agreement,
}

/// A scored record: its output JSON, whether it is an alert, and the
/// challenger's output JSON when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub out: String,
    pub alert: bool,
    pub shadow: Option<String>,
}

/// Fewest records a scoring thread is given: below, a thread costs more
/// than it saves.
const MIN_SHARE: usize = 256;

/// Scores a batch of record values, each with the JSON text of its source:
/// per record, its outputs, or the reason it can't be scored. The batch is
/// cut into up to `threads` consecutive parts scored at once, each by the
/// model's `predict_batch` (which gives what `predict` gives row by row);
/// the results come back in record order, and each scored record is shown
/// to `monitors` in that order (and, with a challenger, scored by it too).
pub fn score_batch(
    records: &[(Option<&[u8]>, String)],
    monitors: &mut Monitors,
    threads: usize,
) -> Vec<Result<Scored, String>> {
    let drift = monitors.drift.is_some();
    let share = records.len().div_ceil(threads.max(1)).max(MIN_SHARE);
    let parts: Vec<(Vec<Result<Scored, String>>, Seen)> = std::thread::scope(|scope| {
        let others: Vec<_> = records
            .chunks(share)
            .skip(1)
            .map(|part| (part.len(), scope.spawn(move || score_part(part, drift))))
            .collect();
        let first = score_part(&records[..share.min(records.len())], drift);
        let joined = others.into_iter().map(|(len, thread)| {
            thread.join().unwrap_or_else(|_| {
                let failed = Err("scoring panicked".to_string());
                (vec![failed; len], Seen::default())
            })
        });
        std::iter::once(first).chain(joined).collect()
    });
    let mut results = Vec::with_capacity(records.len());
    for (part, seen) in parts {
        results.extend(part);
        if let Some(d) = monitors.drift.as_mut() {
            seen.bins.iter().for_each(|bins| d.push(bins));
        }
        #[cfg(feature = "challenger")]
        monitors.agreement.merge(&seen.agreement);
    }
    results
}

/// Scores one part of a batch, noting the drift bins of each scored record
/// when `drift`.
fn score_part(
    records: &[(Option<&[u8]>, String)],
    drift: bool,
) -> (Vec<Result<Scored, String>>, Seen) {
    let bools = ["false".to_string(), "true".to_string()];
    let objects: Vec<Result<Row<'_>, String>> =
        records.iter().map(|(payload, _)| row(*payload)).collect();
    let mut results: Vec<Result<Scored, String>> =
        vec![Err("not scored".to_string()); records.len()];
    let (mut rows, mut row_of) = (Vec::new(), Vec::new());
    for (i, read) in objects.iter().enumerate() {
        let read = read
            .as_ref()
            .map_err(String::clone)
            .and_then(|record| values(record, &fields::CHAMPION, &bools));
        match read {
            Ok(v) => {
                rows.push(v);
                row_of.push(i);
            }
            Err(e) => results[i] = Err(e),
        }
    }
    let mut seen = Seen::default();
    let mut champion: Vec<Option<model::Prediction>> = vec![None; records.len()];
    model::predict_batch(&rows, |r, p| {
        let i = row_of[r];
        if let (true, Ok(p)) = (drift, &p) {
            let mut bins = [0u16; model::DRIFT_SERIES.len()];
            model::drift_bins(&rows[r], p, &mut bins);
            seen.bins.push(bins);
        }
        champion[i] = p.as_ref().ok().copied();
        results[i] = p
            .map(|p| Scored {
                out: output(&p, &rows[r], &records[i].1),
                alert: p.is_alert(),
                shadow: None,
            })
            .map_err(|e| e.to_string());
    });
    #[cfg(feature = "challenger")]
    crate::shadow::score(
        &objects,
        records,
        &champion,
        &mut results,
        &mut seen.agreement,
    );
    (results, seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> String {
        r#"{"topic":"t","partition":0,"offset":1}"#.to_string()
    }

    fn score(payload: Option<&[u8]>, source: &str) -> Result<Scored, String> {
        let mut results = score_batch(
            &[(payload, source.to_string())],
            &mut Monitors::default(),
            1,
        );
        results.pop().expect("one result per record")
    }

    #[test]
    fn malformed_records_are_refused_with_a_reason() {
        let refused = |v: &[u8]| score(Some(v), &source()).unwrap_err();
        assert!(refused(b"not json").starts_with("not JSON"));
        assert_eq!(refused(b"[1, 2]"), "not a JSON object");
        let mut nested = serde_json::Map::new();
        let column = fields::NAMES[0].to_string();
        nested.insert(column, serde_json::json!({"a": [1, {"b": 2}]}));
        let nested = Json::Object(nested).to_string();
        assert!(refused(nested.as_bytes()).contains("expected a number"));
        assert!(refused(b"{\"a\": 1").starts_with("not JSON"));
    }

    fn owned(f: Field<'_>) -> Field<'static> {
        match f {
            Field::Missing => Field::Missing,
            Field::Number(n) => Field::Number(n),
            Field::Text(t) => Field::Text(Cow::Owned(t.into_owned())),
            Field::Bool(b) => Field::Bool(b),
            Field::Nested => Field::Nested,
        }
    }

    #[test]
    fn fields_read_as_a_map_of_them_would() {
        let column = fields::NAMES[0];
        let text =
            |v: &str| format!("{{\"unused\": {{\"x\": [1]}}, \"{column}\": 0, \"{column}\": {v}}}");
        let read = |v: &str| -> Result<Field<'static>, String> {
            let payload = text(v);
            row(Some(payload.as_bytes())).map(|r| owned(r.0[0].clone()))
        };
        assert_eq!(read("null"), Ok(Field::Missing));
        assert_eq!(read("2.5"), Ok(Field::Number(2.5)));
        assert_eq!(read("-3"), Ok(Field::Number(-3.0)));
        assert_eq!(read("true"), Ok(Field::Bool(true)));
        assert_eq!(
            read("\"a\\\"b\""),
            Ok(Field::Text(Cow::Owned("a\"b".into())))
        );
        assert_eq!(
            read("\"plain\""),
            Ok(Field::Text(Cow::Owned("plain".into())))
        );
    }

    #[test]
    fn an_empty_object_is_all_missing_and_scores_to_valid_json() {
        let scored = score(Some(b"{}"), &source()).unwrap();
        let out: Json = serde_json::from_str(&scored.out).unwrap();
        assert_eq!(out["model_id"], model::MODEL_ID);
        assert_eq!(out["source"]["offset"], 1);
    }

    #[test]
    fn a_batch_gives_each_record_what_it_gets_alone() {
        let payloads: [&[u8]; 4] = [b"{}", b"not json", b"[1]", b"{}"];
        let records: Vec<(Option<&[u8]>, String)> =
            payloads.iter().map(|p| (Some(*p), source())).collect();
        let batch = score_batch(&records, &mut Monitors::default(), 1);
        assert_eq!(batch.len(), records.len());
        for ((payload, source), result) in records.iter().zip(&batch) {
            assert_eq!(result, &score(*payload, source));
        }
    }

    #[test]
    fn a_batch_cut_among_threads_gives_what_one_thread_gives_in_order() {
        let sources: Vec<String> = (0..700)
            .map(|i| format!(r#"{{"topic":"t","partition":0,"offset":{i}}}"#))
            .collect();
        let payloads: [&[u8]; 3] = [b"{}", b"not json", b"[1]"];
        let records: Vec<(Option<&[u8]>, String)> = sources
            .iter()
            .enumerate()
            .map(|(i, s)| (Some(payloads[i % 3]), s.clone()))
            .collect();
        let one = score_batch(&records, &mut Monitors::default(), 1);
        let three = score_batch(&records, &mut Monitors::default(), 3);
        assert_eq!(one.len(), 700);
        assert_eq!(one, three);
    }
}
