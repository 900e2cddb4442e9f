//! The one error type of the crate, with a variant per stage of the data's
//! path (data → prep → search → model → output), and the exit codes that the
//! binary maps them to. The codes are a documented contract (book: reference).

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, by stage. Messages name the file, column or
/// value at fault so that a user can fix the input without reading code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data file could not be read or parsed.
    #[error("cannot read data {path}: {reason}")]
    Data {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The data was read but can't be used as asked (target, columns, kinds).
    #[error("{0}")]
    Schema(String),
    /// A setting on the command line is out of range or inconsistent.
    #[error("invalid setting: {0}")]
    Settings(String),
    /// A value handed to a model can't be encoded.
    #[error("column '{column}': {reason}")]
    Input {
        /// The input column.
        column: String,
        /// Why the value was refused.
        reason: String,
    },
    /// No trial produced a model.
    #[error("training failed: {0}")]
    Training(String),
    /// A model file is unreadable, corrupt, or of another format version.
    #[error("cannot load model {path}: {reason}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A model asked for reason codes has none; the reason says why.
    #[error("model {model} has no reason codes: {reason}")]
    Explain {
        /// The model's id.
        model: String,
        /// Why.
        reason: String,
    },

    /// The run was stopped by Ctrl-C or SIGTERM; the message says what was
    /// kept.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// A fault inside automl (a panic): a bug, never the user's input.
    #[error("internal fault ({0}); this is a bug in automl, please report it")]
    Internal(String),
    /// An output file or folder could not be written.
    #[error("cannot write {path}: {reason}")]
    Output {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
}

/// Exit codes of the `automl` binary (also listed in the book's reference).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// An unexpected internal failure.
    pub const INTERNAL: u8 = 1;
    /// Command-line usage error (unknown flag, bad value); clap's own code.
    pub const USAGE: u8 = 2;
    /// The input data is missing, malformed, or unusable as asked.
    pub const DATA: u8 = 3;
    /// A model file is missing, corrupt, or of another format version.
    pub const MODEL: u8 = 4;
    /// An output file or folder can't be written.
    pub const OUTPUT: u8 = 5;
    /// The search ended without a usable model.
    pub const TRAINING: u8 = 6;
    /// Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: u8 = 130;
}

impl Error {
    /// The documented exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Data { .. } | Error::Schema(_) | Error::Input { .. } => exit::DATA,
            Error::Settings(_) => exit::USAGE,
            Error::Training(_) => exit::TRAINING,
            Error::Model { .. } | Error::Explain { .. } => exit::MODEL,
            Error::Output { .. } => exit::OUTPUT,
            Error::Internal(_) => exit::INTERNAL,
            Error::Interrupted(_) => exit::INTERRUPTED,
        }
    }

    /// Shorthand for a data error on `path`.
    pub fn data(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for an output error on `path`.
    pub fn output(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Error::Output {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
