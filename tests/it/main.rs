//! Integration tests: every test drives the real `automl` binary.
//!
//! - `train`: quality floors on held-out rows, reproducibility, the budget.
//! - `errors`: bad inputs give a clear message, a documented exit code and
//!   no output files.
//! - `corpus`: the bad-input corpus, one table row per hostile file, flag,
//!   model or output place (exit code, message, what is left on disk).
//! - `commands`: predict, leaderboard, inspect and the library API agree.
//! - `snapshots`: help, inspect and leaderboard text (insta).
//! - `export`: generated Rust compiles cleanly and predicts bit for bit
//!   what `automl predict` does.
//! - `onnx`: the ONNX file scored by ONNX Runtime agrees with `automl
//!   predict` on every row.
//! - `schema`: the JSON Schema of the input records against the
//!   `jsonschema` package.
//! - `kafka`: the generated consumer against a real broker.
//! - `notes`: what the tool decided about the data is said, not hidden.
//! - `unsupervised`: clustering and anomaly detection.

mod commands;
mod corpus;
mod errors;
mod explain;
mod export;
mod kafka;
mod notes;
mod onnx;
mod report;
mod resume;
mod schema;
mod snapshots;
mod support;
mod train;
mod unsupervised;
