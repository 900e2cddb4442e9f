//! automl: turns a table into a deployable model.
//!
//! The modules follow the data's path: [`data`] reads and splits the table,
//! [`prep`] encodes it, [`search`] picks learners and hyperparameters within a
//! budget, [`learners`] fit and lower models, [`metrics`] score them,
//! [`leaderboard`] ranks them, [`model`] is the portable result, and
//! [`train`] runs the whole path and [`export`] turns a model into Rust
//! source. [`cli`] and [`report`] face the terminal.
//!
//! Scoring a saved model from Rust:
//!
//! ```no_run
//! use automl::{Model, Value};
//! let model = Model::load("runs/titanic/model.json")?;
//! let row = [Value::Number(3.0), Value::Text("male"), Value::Number(22.0)];
//! let probabilities = model.predict_row(&row)?;
//! # Ok::<(), automl::Error>(())
//! ```
#![deny(missing_docs)]

pub mod cli;
pub mod data;
pub mod error;
pub mod export;
pub mod leaderboard;
pub mod learners;
pub mod metrics;
pub mod model;
pub mod output;
pub mod page;
pub mod prep;
pub mod report;
pub mod search;
pub mod train;

pub use data::Value;
pub use error::{Error, Result};
pub use model::Model;
