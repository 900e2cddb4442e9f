//! Last stage: exports of the portable model. `rust` writes a
//! dependency-free Rust module that predicts exactly what the model
//! predicts (skeleton: `templates/model.rs.j2`); `kafka` wraps it in a
//! consumer project (`templates/kafka-consumer/`).

pub mod kafka;
pub mod rust;

use std::path::Path;

use crate::error::Result;
use crate::model::Model;
use crate::output::write_atomic;

/// Writes `model` as a Rust module to `path` (atomically).
pub fn write_rust(model: &Model, model_json: &[u8], path: &Path) -> Result<()> {
    let source = rust::generate(model, model_json)?;
    write_atomic(path, source.as_bytes())
}
