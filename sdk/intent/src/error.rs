//! [`ClassifierError`]: why a tool of the `train` feature failed, naming the file,
//! line or rule at fault.

use crate::{ModelError, TrainError};
use std::path::PathBuf;

/// Why a classifier tool failed.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A CSV record is malformed.
    #[error("{source_name}: line {line}: {message}")]
    Csv {
        /// The file.
        source_name: String,
        /// Its line (1-based; the header is line 1).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The CSV header lacks a column.
    #[error("{source_name}: missing column {column:?} (the header must name `text` and `intent`)")]
    MissingColumn {
        /// The file.
        source_name: String,
        /// The missing column.
        column: String,
    },
    /// The CSV has a header but no examples.
    #[error("{source_name}: no data rows")]
    NoRows {
        /// The file.
        source_name: String,
    },
    /// The rules file is invalid.
    #[error("rules {source_name}: {message}")]
    Rules {
        /// The file.
        source_name: String,
        /// What is wrong, naming the rule.
        message: String,
    },
    /// The bytes are not a usable model. (The cause is in the message and is not
    /// also the error's `source`, so that an error chain does not print it twice.)
    #[error("not a usable intent model: {0}")]
    Model(ModelError),
    /// Training could not start.
    #[error("cannot train: {0}")]
    Train(TrainError),
    /// Cross-validation needs more folds or more examples.
    #[error("cross-validation: {0}")]
    Folds(String),
}

impl From<ModelError> for ClassifierError {
    fn from(e: ModelError) -> Self {
        ClassifierError::Model(e)
    }
}

impl From<TrainError> for ClassifierError {
    fn from(e: TrainError) -> Self {
        ClassifierError::Train(e)
    }
}
