//! `scrm classifier`: train, evaluate and cross-validate the intent classifier's model
//! locally (no server needed), and give a model other rules.

use anyhow::Context;
use clap::{Args, Subcommand};
use scrm_intent::{ClassifierError, FeatureParams, Rules, TrainParams, cv, data, rules, train};
use std::path::{Path, PathBuf};

/// `scrm classifier …`.
#[derive(Debug, Subcommand)]
pub enum ClassifierCommand {
    /// Train a model from a CSV file (columns `text`, `intent`) and write the model file
    /// to install as the intent-classifier's configuration.
    Train {
        /// Labelled examples (CSV with a header naming `text` and `intent`).
        #[arg(long)]
        data: PathBuf,
        /// Auto-labelling rules (TOML) [default: the built-in seed rules].
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Where to write the model.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        params: ParamArgs,
    },
    /// Evaluate a model on labelled examples: accuracy, per-intent precision and recall,
    /// the most confused pairs.
    Eval {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Labelled examples (CSV with `text` and `intent`).
        #[arg(long)]
        data: PathBuf,
        /// How many confused pairs to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stratified k-fold cross-validation of training on a CSV file.
    Cv {
        /// Labelled examples (CSV with `text` and `intent`).
        #[arg(long)]
        data: PathBuf,
        /// Number of folds.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// How many confused pairs to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        params: ParamArgs,
    },
    /// Write a copy of a model with other rules (same weights, no retraining).
    Rules {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// The rules (TOML).
        #[arg(long)]
        rules: PathBuf,
        /// Where to write the new model.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Training hyperparameters (the defaults are the measured ones).
#[derive(Debug, Args)]
pub struct ParamArgs {
    /// SVM cost C (larger = less regularisation).
    #[arg(long, default_value_t = 1.0)]
    c: f32,
    /// log2 of the number of hash buckets (model size = 2^bits × intents bytes).
    #[arg(long, default_value_t = 17, value_parser = clap::value_parser!(u8).range(8..=26))]
    hash_bits: u8,
}

impl ParamArgs {
    fn params(&self) -> TrainParams {
        let defaults = TrainParams::default();
        TrainParams {
            c: self.c,
            features: FeatureParams {
                hash_bits: self.hash_bits,
                ..defaults.features.clone()
            },
            ..defaults
        }
    }
}

fn read_rules(path: Option<&Path>) -> anyhow::Result<Rules> {
    Ok(match path {
        None => rules::defaults(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read rules {}", p.display()))?;
            rules::parse(&text, &p.display().to_string())?
        }
    })
}

fn read_model(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| {
        ClassifierError::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()
    })
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs a `scrm classifier` command (CPU-bound: on a blocking thread).
///
/// # Errors
/// Bad input files (the message names the file and line), or a failed write.
pub async fn run(cmd: ClassifierCommand) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || run_blocking(cmd)).await?
}

/// Writes `text` to stdout; a closed pipe (`… | head`) is not an error.
fn out(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to stdout"))
        }
        _ => Ok(()),
    }
}

fn run_blocking(cmd: ClassifierCommand) -> anyhow::Result<()> {
    match cmd {
        ClassifierCommand::Train {
            data,
            rules: rules_path,
            out: path,
            params,
        } => {
            let rules = read_rules(rules_path.as_deref())?;
            let examples = data::load_csv(&data)?;
            let trained = train::train(&examples, &rules, &params.params())?;
            // The built-in rules name intents of several data sets on purpose; only
            // the operator's own rules are worth a note (a typo is the usual cause).
            if rules_path.is_some() {
                for intent in rules::unknown_intents(&rules, &trained.classes) {
                    eprintln!(
                        "note: the rules name intent {intent:?}, which this model does not have"
                    );
                }
            }
            write(&path, &trained.model)?;
            out(&format!(
                "trained on {} examples, {} intents in {:.2} s; wrote {} ({} bytes)\n",
                examples.len(),
                trained.classes.len(),
                trained.seconds,
                path.display(),
                trained.model.len()
            ))?;
        }
        ClassifierCommand::Eval {
            model,
            data,
            top,
            json,
        } => {
            let bytes = read_model(&model)?;
            let examples = data::load_csv(&data)?;
            let eval = train::evaluate(&bytes, &examples, top)?;
            if json {
                out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&eval.report)?
                ))?;
            } else {
                out(&format!(
                    "{}\nnative prediction: {:.1} µs per message\n",
                    eval.report.to_text(),
                    eval.micros_per_message
                ))?;
            }
        }
        ClassifierCommand::Cv {
            data,
            folds,
            top,
            json,
            params,
        } => {
            let examples = data::load_csv(&data)?;
            let result = cv::cross_validate(&examples, &params.params(), folds, top)?;
            if json {
                out(&format!("{}\n", serde_json::to_string_pretty(&result)?))?;
            } else {
                let per_fold: Vec<String> = result
                    .fold_accuracy
                    .iter()
                    .map(|a| format!("{:.2}", 100.0 * a))
                    .collect();
                out(&format!(
                    "{}-fold cross-validation on {} examples: accuracy {:.2}% (± {:.2}; folds {}), training {:.2} s per fold\n\n{}",
                    result.folds,
                    examples.len(),
                    100.0 * result.mean_accuracy,
                    100.0 * result.std_dev,
                    per_fold.join(" "),
                    result.train_seconds_per_fold,
                    result.report.to_text()
                ))?;
            }
        }
        ClassifierCommand::Rules {
            model,
            rules: rules_path,
            out: path,
        } => {
            let rules = read_rules(Some(&rules_path))?;
            let bytes = read_model(&model)?;
            let repacked = train::replace_rules(&bytes, &rules)?;
            write(&path, &repacked)?;
            out(&format!(
                "wrote {} ({} bytes)\n",
                path.display(),
                repacked.len()
            ))?;
        }
    }
    Ok(())
}
