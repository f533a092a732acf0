//! Host tooling of the `intent-classifier` plugin: training its model from labelled
//! CSV, evaluating a model, and k-fold cross-validation. The `scrm classifier`
//! commands are thin wrappers over these functions.
//!
//! * [`data`]: labelled examples from CSV (`text`, `intent` columns);
//! * [`rules`]: the operator's rules TOML → the rules section stored in the model;
//! * [`train`]: [`train::train`] writes a model file, [`train::evaluate`] measures one;
//! * [`cv`]: stratified k-fold cross-validation;
//! * [`report`]: accuracy, per-intent precision / recall, most confused pairs.
//!
//! ```no_run
//! use scrm::classifier::{data, rules, train};
//! # fn main() -> Result<(), scrm::classifier::ClassifierError> {
//! let examples = data::load_csv("bitext-train.csv".as_ref())?;
//! let trained = train::train(&examples, &rules::defaults(), &Default::default())?;
//! std::fs::write("bitext.model", &trained.model).expect("write");
//! let eval = train::evaluate(&trained.model, &examples, 10)?;
//! println!("{}", eval.report.to_text());
//! # Ok(())
//! # }
//! ```
//!
//! The model format and the training algorithm live in the `scrm-intent-model` crate
//! (`plugins/intent-classifier/model`), shared with the plugin so that training and
//! inference extract features with the same code.

pub mod cv;
pub mod data;
pub mod report;
pub mod rules;
pub mod train;

pub use scrm_intent_model::TrainParams;
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
    Model(scrm_intent_model::ModelError),
    /// Training could not start.
    #[error("cannot train: {0}")]
    Train(scrm_intent_model::TrainError),
    /// Cross-validation needs more folds or more examples.
    #[error("cross-validation: {0}")]
    Folds(String),
}

impl From<scrm_intent_model::ModelError> for ClassifierError {
    fn from(e: scrm_intent_model::ModelError) -> Self {
        ClassifierError::Model(e)
    }
}

impl From<scrm_intent_model::TrainError> for ClassifierError {
    fn from(e: scrm_intent_model::TrainError) -> Self {
        ClassifierError::Train(e)
    }
}
