//! The intent model of the `intent-classifier` plugin: a hashed word + character
//! n-gram linear classifier (one-vs-rest L2 SVM) whose weights are **read in place**.
//!
//! A message's features are hashed into `2^k` buckets; a prediction reads the model's
//! head (a few KB) and then only the weight rows of those buckets (one i8 per class),
//! so a 10 MB model costs ~10 KB of reads per message and is never parsed whole.
//!
//! * [`features`]: the feature extractor shared by training and inference.
//! * [`format`]: the binary layout.
//! * [`infer`]: dependency-free inference over any [`ModelReader`].
//! * [`rules`]: the per-tenant rules section stored with the weights.
//! * `train` (cargo feature `train`): training and serialisation.
//!
//! ```
//! # #[cfg(feature = "train")] {
//! use scrm_intent_model::{TrainParams, predict, train};
//! let rows: Vec<(String, String)> = [("where is my parcel", "track"), ("cancel my order", "cancel")]
//!     .iter().map(|(t, i)| (t.to_string(), i.to_string())).collect();
//! let bytes = train(&rows, &TrainParams::default()).expect("train").to_bytes();
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
pub mod train;

pub use features::{CharMode, FeatureParams};
pub use infer::{Classifier, ModelError, ModelReader, Prediction, Workspace, predict, with_rules};
pub use rules::{Priority, Product, Rule, RuleView, Rules, RulesError, RulesView};
#[cfg(feature = "train")]
pub use train::{Model, TrainError, TrainParams, train};
