//! The intent model of scrm: a hashed word + character n-gram linear classifier
//! (one-vs-rest L2 SVM) whose weights are **read in place**, and the tooling that
//! trains it. The `intent-classifier` plugin links the inference; the `scrm classifier`
//! commands and the end-to-end tests link the tooling (cargo feature `train`).
//!
//! A message's features are hashed into `2^k` buckets; a prediction reads the model's
//! head (a few KB) and then only the weight rows of those buckets (one i8 per class),
//! so a 10 MB model costs ~10 KB of reads per message and is never parsed whole.
//!
//! Inference, without dependencies (it is compiled into a WebAssembly plugin):
//!
//! * [`features`]: the feature extractor shared by training and inference.
//! * [`format`](mod@format): the binary layout.
//! * [`infer`]: inference over any [`ModelReader`].
//! * [`rules`]: the per-tenant rules section stored with the weights.
//!
//! Tooling (feature `train`, with `csv`, `serde`, `thiserror` and `toml`):
//!
//! * `data`: labelled examples from CSV (`text`, `intent` columns);
//! * `rules::parse`: the operator's rules TOML → the rules section;
//! * `train`: fitting the SVMs (`train::fit`), writing a model file with its rules
//!   (`train::train`), evaluating one (`train::evaluate`);
//! * `cv`: stratified k-fold cross-validation;
//! * `report`: accuracy, per-intent precision / recall, most confused pairs;
//! * `ClassifierError`: why a tool failed.
//!
//! ```
//! # #[cfg(feature = "train")] {
//! use scrm_intent::{TrainParams, fit, predict};
//! let rows: Vec<(String, String)> = [("where is my parcel", "track"), ("cancel my order", "cancel")]
//!     .iter().map(|(t, i)| (t.to_string(), i.to_string())).collect();
//! let bytes = fit(&rows, &TrainParams::default()).expect("train").to_bytes();
//! let p = predict(bytes.as_slice(), "parcel?").expect("a model");
//! assert_eq!(p.intent, "track");
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod features;
pub mod format;
pub mod infer;
pub mod rules;

#[cfg(feature = "train")]
pub mod cv;
#[cfg(feature = "train")]
pub mod data;
#[cfg(feature = "train")]
mod error;
#[cfg(feature = "train")]
pub mod report;
#[cfg(feature = "train")]
pub mod train;

pub use features::{CharMode, FeatureParams};
pub use infer::{Classifier, ModelError, ModelReader, Prediction, Workspace, predict, with_rules};
pub use rules::{Priority, Product, Rule, RuleView, Rules, RulesError, RulesView};

#[cfg(feature = "train")]
pub use error::ClassifierError;
#[cfg(feature = "train")]
pub use train::{Model, TrainError, TrainParams, fit};
