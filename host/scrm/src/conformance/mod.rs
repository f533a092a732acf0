//! The conformance checks of `scrm plugin test`: what a plugin of a world must do
//! before it is installed, checked on the component itself under production limits.
//!
//! The checks call the component through [`crate::runner`] — the host's own engine,
//! limits and capabilities, as `scrm plugin run` calls it — on inputs built into the
//! binary ([`cases`]: Meta's webhook examples, the contract's other message types,
//! hostile texts; `mapper`: CRM record shapes; `connector`: a local CRM that
//! speaks HubSpot's, Zoho's, Salesforce's or Tryton's API, the [`Flavour`] of
//! [`Options::crm`]). Every fed input runs twice, on two runners that share
//! nothing (fresh instances, each its own empty key-value store), in the same
//! order: the second pass is the determinism check, and key-value state a plugin
//! keeps is the same at each step of both. Each [`Check`] passes or fails with the
//! inputs that broke it named; the [`Report`] closes with what the calls used
//! against the limits.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use scrm::conformance::{Options, test};
//! use scrm::runner::RunSpec;
//! let spec = RunSpec::new(std::fs::read("classifier.wasm")?, "classifier");
//! let report = test(spec, &Options::default())?;
//! for c in &report.checks {
//!     println!("{} {}: {}", if c.passed { "PASS" } else { "FAIL" }, c.name, c.detail);
//! }
//! println!("{} passed, {} failed", report.passed(), report.failed());
//! # Ok(()) }
//! ```

pub mod cases;
mod classifier;
mod connector;
mod hubspot;
mod limits;
mod local;
mod mapper;
mod messages;
mod responder;
mod salesforce;
mod tryton;
mod zoho;

pub use limits::Headroom;
pub use local::Flavour;

use crate::runner::{RunError, RunSpec, Runner};
use scrm_engine::contract::{self, ComponentInfo, ContractError};
use scrm_engine::{PluginLimits, Slot};

/// The worlds that have checks.
pub const CHECKED: [Slot; 4] = [
    Slot::Classifier,
    Slot::Responder,
    Slot::Mapper,
    Slot::Connector,
];

/// What to check beyond the component itself.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The world the component must implement; any of those with checks when none.
    pub world: Option<Slot>,
    /// More webhook payloads (name, bytes) whose messages join the message checks.
    pub fixtures: Vec<(String, Vec<u8>)>,
    /// The CRM API the local CRM of a connector's checks speaks.
    pub crm: Flavour,
}

/// One check and how it went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// Its name, e.g. `message text`, `output tags`, `deterministic`.
    pub name: String,
    /// Whether the component passed it.
    pub passed: bool,
    /// What was checked, or, when it failed, which inputs broke it and how.
    pub detail: String,
}

impl Check {
    /// A check that passed, with what it covered.
    pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            passed: true,
            detail: detail.into(),
        }
    }

    /// A check that failed, with why.
    pub fn fail(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            passed: false,
            detail: detail.into(),
        }
    }

    /// Passed with `covered` when `problems` is empty, else failed with the first
    /// few problems (and how many there were).
    pub fn from_problems(name: impl Into<String>, covered: String, problems: &[String]) -> Check {
        const SHOWN: usize = 3;
        match problems {
            [] => Check::pass(name, covered),
            _ => {
                let mut detail = problems[..problems.len().min(SHOWN)].join("; ");
                if problems.len() > SHOWN {
                    detail += &format!("; and {} more", problems.len() - SHOWN);
                }
                Check::fail(name, detail)
            }
        }
    }
}

/// What the checks found.
#[derive(Debug, Clone)]
pub struct Report {
    /// What the component declares.
    pub info: ComponentInfo,
    /// The limits its calls ran under.
    pub limits: PluginLimits,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
    /// What the calls used at most, when calls ran.
    pub headroom: Option<Headroom>,
    /// The API of the local CRM a connector was checked against.
    pub crm: Option<Flavour>,
}

impl Report {
    /// How many checks passed.
    pub fn passed(&self) -> usize {
        self.checks.iter().filter(|c| c.passed).count()
    }

    /// How many checks failed.
    pub fn failed(&self) -> usize {
        self.checks.len() - self.passed()
    }
}

/// Why the checks could not run: the component, the asked world, the inputs or the
/// configuration are wrong, not the plugin's behaviour.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// Not a component this host loads (not a component, another world, an
    /// unknown WIT version).
    #[error(transparent)]
    Component(#[from] ContractError),
    /// A component of another world than the one asked for.
    #[error(
        "it implements the {found} world ({world}), not {wanted}: test it as a {found} (--world {found}) or build it against the {wanted} world in wit/"
    )]
    OtherWorld {
        /// Its world's slot.
        found: &'static str,
        /// Its world, in full.
        world: String,
        /// The world asked for.
        wanted: &'static str,
    },
    /// A world that has no conformance checks yet.
    #[error(
        "there are no conformance checks for the {0} world yet (there are for {checked}): try it with `scrm plugin run`",
        checked = CHECKED.map(Slot::as_str).join(", ")
    )]
    NoChecks(&'static str),
    /// The extra fixtures are not what the checks take.
    #[error("{0}")]
    Fixtures(String),
    /// The run could not start or go on; a configuration the plugin rejects is
    /// [`RunError::Config`].
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Runs the checks of the component's world on it.
///
/// Blocking: call from `spawn_blocking` (a connector's HTTP needs the tokio
/// runtime's context).
///
/// # Errors
/// [`TestError`] when the checks cannot run at all: a file that is not a component
/// of a world with checks, another world than [`Options::world`], unusable
/// fixtures, limits or HTTP policy, or a configuration the plugin rejects.
pub fn test(spec: RunSpec, options: &Options) -> Result<Report, TestError> {
    let info = contract::read(&spec.component)?;
    if let Some(wanted) = options.world
        && wanted != info.slot
    {
        return Err(TestError::OtherWorld {
            found: info.slot.as_str(),
            world: info.world(),
            wanted: wanted.as_str(),
        });
    }
    if !CHECKED.contains(&info.slot) {
        return Err(TestError::NoChecks(info.slot.as_str()));
    }
    let mut report = Report {
        info: info.clone(),
        limits: PluginLimits::default(),
        checks: Vec::new(),
        headroom: None,
        crm: (info.slot == Slot::Connector).then_some(options.crm),
    };
    if info.slot == Slot::Connector && !options.fixtures.is_empty() {
        return Err(TestError::Fixtures(
            "a connector is checked against the local CRM; --fixtures gives webhook payloads to classifiers, responders and mappers".into(),
        ));
    }
    let (spec, local) = match info.slot {
        Slot::Connector => {
            let (spec, local) = connector::prepare(spec, options.crm)?;
            (spec, Some(local))
        }
        _ => (spec, None),
    };
    let mut first = match Runner::new(spec.clone()) {
        Ok(r) => r,
        Err(RunError::Load(e)) => {
            report.checks.push(Check::fail("loads", e.to_string()));
            return Ok(report);
        }
        Err(e) => return Err(e.into()),
    };
    report.limits = *first.limits();
    report.checks.push(loads(&report.limits));
    report.checks.push(world(&info));
    let outcomes = match &local {
        Some(local) => {
            let (checks, calls) = connector::checks(&mut first, local)?;
            report.checks.extend(checks);
            calls
        }
        None => fed(&mut first, spec, info.slot, options, &mut report)?,
    };
    let (check, headroom) = limits::check(outcomes.iter(), &report.limits);
    report.checks.push(check);
    report.headroom = headroom;
    Ok(report)
}

/// The checks of a plugin fed inputs (classifier, responder, mapper), on `first`
/// and a second runner of `spec`; every outcome of both passes.
fn fed(
    first: &mut Runner,
    spec: RunSpec,
    slot: Slot,
    options: &Options,
    report: &mut Report,
) -> Result<Vec<crate::runner::Outcome>, TestError> {
    let mut second = Runner::new(spec)?;
    let mut cases = messages::cases(&options.fixtures)?;
    if slot == Slot::Mapper {
        cases.extend(mapper::records());
    }
    let ran = messages::run(first, &mut second, cases)?;
    let (output, allowed) = match slot {
        Slot::Classifier => (classifier::output(&ran), &[][..]),
        Slot::Responder => (responder::output(&ran), &[][..]),
        _ => (mapper::output(&ran), &mapper::ANSWERS[..]),
    };
    report.checks.extend(messages::answered(&ran, allowed));
    report.checks.extend(output);
    report.checks.push(messages::deterministic(&ran));
    Ok(ran
        .into_iter()
        .flat_map(|r| r.first.into_iter().chain(r.second))
        .collect())
}

fn loads(l: &PluginLimits) -> Check {
    Check::pass(
        "loads",
        format!(
            "compiled and linked by this host's engine; every call in a fresh instance with a deadline of {} ms, fuel {}, memory {} MiB, output {} KiB",
            l.deadline_ms,
            limits::thousands(l.fuel),
            l.memory_mib,
            l.output_kib
        ),
    )
}

fn world(info: &ComponentInfo) -> Check {
    let current = contract::SHIPPED.last().copied().unwrap_or_default();
    let how = if info.wit_version == current {
        "the current version".to_string()
    } else {
        format!("an earlier version this host still loads (current: {current})")
    };
    Check::pass(
        "world",
        format!(
            "exports {}/{}@{} (the {} world of WIT {}, {how})",
            contract::PACKAGE,
            contract::slot_interface(info.slot),
            info.wit_version,
            info.slot.as_str(),
            info.wit_version
        ),
    )
}
