//! Running one plugin component locally, with no server: `scrm plugin run` (and
//! the conformance checks of `scrm plugin test`, which feed it their cases).
//!
//! The component is checked, compiled and called by the engine the server uses
//! ([`scrm_engine::PluginHost`]: the same limits, fuel, memory cap, output cap and
//! capabilities), bound to the tenant [`TENANT`] outside every tenant table, with
//! its key-value data in memory for the run ([`MemoryKv`]), secrets from a map the
//! caller reads from a file, the clock, and outbound HTTP through the binding's
//! allowlist policy. Inputs are what the slot sees in production: each message of
//! a Cloud API webhook payload, parsed by `scrm-wire`, with its sender made a
//! contact by the pipeline's own rules and converted by [`crate::slots`]; CRM
//! records; parcels ([`Input`]). Each call's answer comes back with what it used
//! ([`Outcome`]).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use scrm::runner::{Input, RunSpec, Runner};
//! let spec = RunSpec::new(std::fs::read("classifier.wasm")?, "classifier");
//! let mut runner = Runner::new(spec)?;
//! let input = Input::parse(&std::fs::read("text_message.json")?, "text_message.json")?;
//! for outcome in runner.run(&input)? {
//!     println!("{} {}: {:?} ({:?})", outcome.call, outcome.subject, outcome.result, outcome.usage);
//! }
//! # Ok(()) }
//! ```

mod calls;
mod flow;
mod input;
mod logs;
pub mod units;

pub use input::{Input, Parcel, accepts, runs_without_input};

use scrm_engine::capabilities::http::HttpPolicy;
use scrm_engine::capabilities::kv::KvQuota;
use scrm_engine::contract::{self, ComponentInfo, ContractError};
use scrm_engine::error::{CallError, InstallError};
use scrm_engine::storage::memory::{MemoryKv, MemorySecrets};
use scrm_engine::usage::{CallUsage, UsageObserver};
use scrm_engine::{ActiveBinding, BindingSpec, LimitOverrides, PluginHost, PluginLimits};
use scrm_store::contacts::Contact;
use secrecy::SecretString;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The tenant a local run's binding belongs to.
pub const TENANT: &str = "local";

/// What to run and how.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The component's bytes.
    pub component: Vec<u8>,
    /// Its name (its key-value namespace, and what its log records say).
    pub name: String,
    /// The configuration, as `--config` of `scrm plugin install` gives it.
    pub config: Vec<u8>,
    /// Limits over the host's defaults, as a binding sets them.
    pub limits: LimitOverrides,
    /// The outbound HTTP policy, as `--http` of `scrm plugin install` gives it.
    pub http: Value,
    /// Secrets by name (what `scrm secret set` would store for the tenant).
    pub secrets: Vec<(String, SecretString)>,
    /// Where compiled components are cached (must be writable only by the user).
    pub cache_dir: PathBuf,
    /// The default region for numbers without a country code (the tenant's).
    pub region: String,
}

impl RunSpec {
    /// A spec with no configuration, default limits, no HTTP, no secrets, the region
    /// US and a compile cache under the user's cache directory.
    pub fn new(component: Vec<u8>, name: &str) -> RunSpec {
        RunSpec {
            component,
            name: name.to_string(),
            config: Vec::new(),
            limits: LimitOverrides::default(),
            http: Value::Null,
            secrets: Vec::new(),
            cache_dir: default_cache_dir(),
            region: "US".into(),
        }
    }
}

/// The user's compile cache: `$XDG_CACHE_HOME/scrm/compile-cache`, else
/// `~/.cache/scrm/compile-cache`, else a directory of this process under the
/// system's temporary directory.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        });
    match base {
        Some(b) => b.join("scrm").join("compile-cache"),
        None => std::env::temp_dir().join(format!("scrm-run-{}", std::process::id())),
    }
}

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The file is not a component this host loads (not a component, another
    /// world, an unknown WIT version).
    #[error(transparent)]
    Component(#[from] ContractError),
    /// The component declares a world of this host but does not load.
    #[error("{0}")]
    Load(InstallError),
    /// A limit is out of range.
    #[error("invalid limits: {0}")]
    Limits(String),
    /// The HTTP policy is not usable.
    #[error("invalid HTTP policy: {0}")]
    Http(String),
    /// An input does not fit.
    #[error("{0}")]
    Input(String),
    /// The plugin said its configuration is not usable.
    #[error(
        "the plugin rejects its configuration: {0}; fix the configuration (--config FILE; see the plugin's documentation)"
    )]
    Config(String),
    /// A flow's `describe` failed.
    #[error("the flow cannot describe itself: {0}")]
    Describe(String),
    /// The engine could not start.
    #[error("cannot start the plugin engine: {0}")]
    Engine(String),
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The machine-readable code the host records (`plugin_timeout`, …).
    pub code: String,
    /// What happened.
    pub message: String,
}

/// One call and its answer.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The export called, e.g. `classify`, `contact-to-crm`.
    pub call: &'static str,
    /// What it was called on, e.g. the message's wamid.
    pub subject: String,
    /// Its answer as JSON, in the host's terms (what the host stores or acts on).
    pub result: Result<Value, Failure>,
    /// A classifier's or responder's answer as the plugin gave it, before the host
    /// normalised it (tags trimmed, lowercased and deduplicated, sentiment clamped);
    /// none for the other calls and for failures.
    pub given: Option<Value>,
    /// What the call used; none for a step that made no call.
    pub usage: Option<CallUsage>,
    /// The log records the plugin wrote during the call (`level: message (fields)`),
    /// within its per-call budget.
    pub logs: Vec<String>,
}

/// A contact the run has seen, with its messages (newest first), for the facts a
/// mapper gets and the history a flow reads.
#[derive(Debug, Clone)]
struct Seen {
    contact: Contact,
    messages: Vec<scrm_engine::bindings::types::Message>,
}

/// A component bound for local calls.
pub struct Runner {
    host: PluginHost,
    binding: Arc<ActiveBinding>,
    info: ComponentInfo,
    last_usage: Arc<Mutex<Option<CallUsage>>>,
    kv: Arc<MemoryKv>,
    region: String,
    seen: Vec<Seen>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("binding", &self.binding.label())
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Checks, compiles and binds the component. Blocking (compiling a JavaScript or
    /// Python component takes seconds the first time; the cache keeps it).
    ///
    /// # Errors
    /// [`RunError`] saying what is wrong with the component, limits or policy.
    pub fn new(spec: RunSpec) -> Result<Runner, RunError> {
        let info = contract::read(&spec.component)?;
        let policy: HttpPolicy = if spec.http.is_null() {
            HttpPolicy::default()
        } else {
            serde_json::from_value(spec.http.clone()).map_err(|e| RunError::Http(e.to_string()))?
        };
        policy.validate().map_err(RunError::Http)?;
        private_dir(&spec.cache_dir).map_err(|e| {
            RunError::Engine(format!("compile cache {}: {e}", spec.cache_dir.display()))
        })?;
        let kv = Arc::new(MemoryKv::default());
        let secrets = Arc::new(MemorySecrets::new(spec.secrets));
        let host = PluginHost::new(
            PluginLimits::default(),
            spec.cache_dir.join("components"),
            spec.cache_dir.clone(),
        )
        .map_err(|e| RunError::Engine(format!("{e:#}")))?
        .with_storage(kv.clone(), KvQuota::default(), secrets);
        let limits = serde_json::to_value(spec.limits).unwrap_or(Value::Null);
        host.limits_for(&limits).map_err(RunError::Limits)?;
        let (_, component) = host.inspect(&spec.component).map_err(RunError::Load)?;
        let config = match info.slot {
            scrm_engine::Slot::Flow => flow::resolve_config(&host, &component, &spec.config)?,
            _ => spec.config,
        };
        let last_usage: Arc<Mutex<Option<CallUsage>>> = Arc::default();
        let sink = last_usage.clone();
        let observer = UsageObserver::new(move |u| {
            *sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(u);
        });
        let row = BindingSpec {
            tenant_id: TENANT.into(),
            slot: info.slot.as_str().into(),
            version: 1,
            sha256: info.sha256.clone(),
            name: spec.name,
            config,
            limits,
            http: serde_json::to_value(&policy).unwrap_or(Value::Null),
            quarantine: None,
        };
        let binding = host
            .detached_binding(&row, component, Some(observer))
            .map_err(RunError::Load)?;
        Ok(Runner {
            host,
            binding,
            info,
            last_usage,
            kv,
            region: spec.region,
            seen: Vec::new(),
        })
    }

    /// What the component declares.
    pub fn info(&self) -> &ComponentInfo {
        &self.info
    }

    /// The limits its calls run under.
    pub fn limits(&self) -> &PluginLimits {
        &self.binding.limits
    }

    /// Its key-value data now.
    pub fn kv_entries(&self) -> Vec<(String, Vec<u8>)> {
        self.kv.entries(TENANT, &self.binding.name)
    }

    /// Calls the plugin on `input` as production would: each message of a webhook
    /// payload in order, or the record or parcel. Blocking; outbound HTTP needs a
    /// tokio runtime context (call from `spawn_blocking`).
    ///
    /// # Errors
    /// [`RunError::Input`] when the slot does not take `input`, and
    /// [`RunError::Config`] when the plugin rejects its configuration (every later
    /// call would fail the same way).
    pub fn run(&mut self, input: &Input) -> Result<Vec<Outcome>, RunError> {
        accepts(self.info.slot, input).map_err(RunError::Input)?;
        let outcomes = self.run_all(input)?;
        Self::stop_on_config(outcomes)
    }

    /// Calls what the plugin does without an input: a connector's first pull of
    /// changes, a flow's `describe`.
    ///
    /// # Errors
    /// [`RunError::Input`] for the other slots, which need an input;
    /// [`RunError::Config`] as for [`Runner::run`].
    pub fn run_without_input(&mut self) -> Result<Vec<Outcome>, RunError> {
        runs_without_input(self.info.slot).map_err(RunError::Input)?;
        let outcome = match self.info.slot {
            scrm_engine::Slot::Flow => self.describe_flow(),
            _ => self.pull_changes(),
        };
        Self::stop_on_config(vec![outcome])
    }

    /// [`Runner::run`], except that a call the plugin fails for its configuration
    /// is an outcome like any other (its failure message starts with
    /// [`CONFIG_PREFIX`]): the conformance checks tell a configuration the plugin
    /// rejects from a plugin that wrongly blames its configuration for one input.
    ///
    /// # Errors
    /// [`RunError::Input`] when the slot does not take `input`.
    pub fn run_all(&mut self, input: &Input) -> Result<Vec<Outcome>, RunError> {
        accepts(self.info.slot, input).map_err(RunError::Input)?;
        Ok(match input {
            Input::Webhook(n) => self.on_webhook(n),
            Input::Record(r) => self.on_record(r),
            Input::Parcel(p) => vec![self.on_parcel(p)],
        })
    }

    fn stop_on_config(outcomes: Vec<Outcome>) -> Result<Vec<Outcome>, RunError> {
        for o in &outcomes {
            if let Err(f) = &o.result
                && let Some(m) = f.message.strip_prefix(CONFIG_PREFIX)
            {
                return Err(RunError::Config(one_line(m)));
            }
        }
        Ok(outcomes)
    }

    /// The outcome of one call made by `f`, with the usage the call reported.
    fn measured<T, E>(
        &self,
        call: &'static str,
        subject: String,
        f: impl FnOnce() -> Result<T, E>,
        ok: impl FnOnce(T) -> Value,
        failure: impl FnOnce(E) -> Failure,
    ) -> Outcome {
        *self.last_usage.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.measured_given(call, subject, f, |t| (ok(t), None), failure)
    }

    /// [`Runner::measured`] for a call whose answer the host normalises: `ok` gives
    /// the host's form and the plugin's own.
    fn measured_given<T, E>(
        &self,
        call: &'static str,
        subject: String,
        f: impl FnOnce() -> Result<T, E>,
        ok: impl FnOnce(T) -> (Value, Option<Value>),
        failure: impl FnOnce(E) -> Failure,
    ) -> Outcome {
        *self.last_usage.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let (result, logs) = logs::caught(f);
        let (result, given) = match result {
            Ok(t) => {
                let (host, given) = ok(t);
                (Ok(host), given)
            }
            Err(e) => (Err(failure(e)), None),
        };
        let usage = self
            .last_usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Outcome {
            call,
            subject,
            result,
            given,
            usage,
            logs,
        }
    }

    /// A call error as a failure, the binding's name left out of the message.
    fn call_failure(&self, e: CallError) -> Failure {
        let code = e.code().to_string();
        let message = match e {
            CallError::InvalidConfig { message, .. } => format!("{CONFIG_PREFIX}{message}"),
            other => self.without_site(other.to_string()),
        };
        Failure { code, message }
    }

    fn without_site(&self, message: String) -> String {
        let site = format!("{}: ", self.binding.site());
        message
            .strip_prefix(&site)
            .map(str::to_string)
            .unwrap_or(message)
    }
}

/// `text` on one line: its lines trimmed and joined with "; ", leaving out empty
/// lines and the source excerpts parsers draw under a message (`1 | [[rules]`,
/// `|   ^`).
pub(crate) fn one_line(text: &str) -> String {
    let excerpt = |l: &str| {
        l.starts_with('|')
            || l.split_once(" |")
                .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !excerpt(l))
        .collect::<Vec<_>>()
        .join("; ")
}

/// How a failure caused by the plugin's configuration starts.
pub const CONFIG_PREFIX: &str = "invalid config: ";

/// Creates `dir` (and its missing parents) usable by the user only, and refuses an
/// existing one others can write to: compiled code is loaded from it.
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(std::io::Error::other(
                "writable by others; compiled code is loaded from it (chmod go-w, or pass --cache-dir)",
            ));
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_parser_message_fits_on_one_line() {
        let toml = "TOML parse error at line 1, column 9\n  |\n1 | [[rules]\n  |         ^\nunclosed array table, expected `]`\n";
        assert_eq!(
            super::one_line(toml),
            "TOML parse error at line 1, column 9; unclosed array table, expected `]`"
        );
    }
}
