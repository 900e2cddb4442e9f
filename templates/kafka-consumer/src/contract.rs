//! The schema contract. `schema.json` (written by `automl export` beside
//! this project's sources) says what records the model takes: each input
//! column's accepted values, the known levels of a categorical column as
//! an open enum. With `--validate`, every record is checked against it
//! first, and a record that breaks it goes to the dead-letter topic with
//! the schema's reason, even one the model could have scored (such as
//! `true` in a categorical column).

use serde_json::Value as Json;

/// The input records' JSON Schema, compiled once.
pub struct Contract {
    validator: jsonschema::Validator,
}

impl Contract {
    /// The contract of this project's `schema.json`.
    pub fn load() -> Result<Contract, String> {
        let schema: Json = serde_json::from_str(include_str!("../schema.json"))
            .map_err(|e| format!("schema.json is not JSON: {e}"))?;
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("schema.json is not a JSON Schema: {e}"))?;
        Ok(Contract { validator })
    }

    /// Whether a record's value keeps the contract, or the first way it
    /// breaks it. A value that is not JSON at all is left to the record's
    /// own reading, which says so.
    pub fn check(&self, payload: Option<&[u8]>) -> Result<(), String> {
        let Some(record) = payload.and_then(|p| serde_json::from_slice::<Json>(p).ok()) else {
            return Ok(());
        };
        self.validator.validate(&record).map_err(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            format!("breaks schema.json at {at}: {e}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    #[test]
    fn records_the_model_reads_keep_the_contract() {
        let contract = Contract::load().expect("schema.json compiles");
        let mut record = serde_json::Map::new();
        for column in model::INPUT_COLUMNS {
            record.insert(column.to_string(), Json::Null);
        }
        let text = Json::Object(record.clone()).to_string();
        assert_eq!(contract.check(Some(text.as_bytes())), Ok(()));
        assert_eq!(
            contract.check(Some(b"not json")),
            Ok(()),
            "left to the reader"
        );
        record.insert(
            model::INPUT_COLUMNS[0].to_string(),
            serde_json::json!({"a": 1}),
        );
        let text = Json::Object(record).to_string();
        let refused = contract.check(Some(text.as_bytes())).unwrap_err();
        assert!(refused.starts_with("breaks schema.json at /"), "{refused}");
    }
}
