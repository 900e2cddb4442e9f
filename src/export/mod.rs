//! Last stage: exports of the portable model. `rust` writes a
//! dependency-free Rust module that predicts exactly what the model
//! predicts (skeleton: `templates/model.rs.j2`); `kafka` wraps it in a
//! consumer project (`templates/kafka-consumer/`); `onnx` writes the whole
//! pipeline as an ONNX file for ONNX Runtime and other runtimes; `schema`
//! writes a JSON Schema of the input records.

pub mod drift;
pub mod kafka;
pub mod onnx;
pub mod rust;
pub mod schema;

pub use onnx::write_onnx;
pub use schema::write_schema;

use std::path::Path;

use crate::error::Result;
use crate::model::Model;
use crate::output::write_atomic;

/// Writes `model` as a Rust module to `path` (atomically), with
/// `predict_explained` (reason codes) when `explain`.
pub fn write_rust(model: &Model, model_json: &[u8], path: &Path, explain: bool) -> Result<()> {
    let parts = rust::Parts {
        explain,
        consumer: false,
    };
    let source = rust::generate(model, model_json, parts)?;
    write_atomic(path, source.as_bytes())
}
