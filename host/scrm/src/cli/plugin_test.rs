//! `scrm plugin test`: the conformance checks of a component's world, one line per
//! check and a closing count. Argument handling and printing only: the checks are
//! [`crate::conformance`].

use crate::conformance::{self, Flavour, Options, Report, TestError};
use crate::runner::units::{bytes, thousands};
use crate::runner::{RunError, RunSpec, default_cache_dir};
use anyhow::{Context, anyhow, bail};
use clap::Args;
use scrm_engine::Slot;
use serde_json::json;
use std::path::PathBuf;

/// `scrm plugin test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The component file (.wasm).
    pub(crate) file: PathBuf,
    /// The plugin's configuration file, as `plugin install --config` takes it.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// The world the component must implement (classifier, responder, …)
    /// [default: the one it declares].
    #[arg(long)]
    pub(crate) world: Option<String>,
    /// A directory of your own webhook payloads (*.json): their messages join the
    /// built-in examples' in the message checks.
    #[arg(long)]
    pub(crate) fixtures: Option<PathBuf>,
    /// The CRM API the local CRM of a connector's checks speaks: hubspot, zoho,
    /// salesforce or tryton [default: the one the component's file name names,
    /// else hubspot].
    #[arg(long)]
    pub(crate) crm: Option<String>,
    #[command(flatten)]
    pub(crate) limits: super::LimitArgs,
    /// Where compiled components are kept between runs [default:
    /// ~/.cache/scrm/compile-cache].
    #[arg(long, env = "SCRM_COMPILE_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `scrm plugin test`: runs the checks, prints them; fails unless all passed.
pub async fn test(args: TestArgs) -> anyhow::Result<()> {
    let file = args.file.display().to_string();
    let component =
        std::fs::read(&args.file).with_context(|| format!("cannot read component {file}"))?;
    let name = super::local_plugin::component_name(&args.file);
    let mut spec = RunSpec::new(component, &name);
    if let Some(p) = &args.config {
        spec.config =
            std::fs::read(p).with_context(|| format!("cannot read config {}", p.display()))?;
    }
    spec.limits = args.limits.overrides();
    spec.cache_dir = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let options = Options {
        world: args
            .world
            .as_deref()
            .map(str::parse::<Slot>)
            .transpose()
            .map_err(|e| anyhow!("--world: {e}"))?,
        fixtures: fixtures(args.fixtures.as_ref())?,
        crm: flavour(args.crm.as_deref(), &name)?,
    };
    let config = args.config.as_ref().map(|c| c.display().to_string());
    let report = tokio::task::spawn_blocking(move || conformance::test(spec, &options))
        .await?
        .map_err(|e| match (&e, &config) {
            (TestError::Run(RunError::Config(_)), Some(c)) => anyhow!("{c}: {e}"),
            (TestError::Fixtures(_), _) => anyhow!("{e}"),
            _ => anyhow!("{file}: {e}"),
        })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json_report(&file, &report))?
        );
    } else {
        print_report(&report);
    }
    let failed: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} checks failed: {}",
            failed.len(),
            report.checks.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// The local CRM's flavour: `--crm`, else the one the component's name makes
/// obvious (`zoho_connector.wasm`), else HubSpot's.
fn flavour(crm: Option<&str>, name: &str) -> anyhow::Result<Flavour> {
    match crm {
        Some(c) => c.parse().map_err(|e| anyhow!("--crm: {e}")),
        None => Ok(Flavour::from_name(name).unwrap_or_default()),
    }
}

/// The webhook payloads of `dir`, by path, in name order.
fn fixtures(dir: Option<&PathBuf>) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read fixtures directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    if found.is_empty() {
        bail!("fixtures directory {} has no .json files", dir.display());
    }
    found.sort();
    found
        .into_iter()
        .map(|p| {
            let bytes =
                std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
            Ok((p.display().to_string(), bytes))
        })
        .collect()
}

fn print_report(report: &Report) {
    let (info, l) = (&report.info, &report.limits);
    println!(
        "{} ({}, sha256 {})",
        info.world(),
        bytes(info.size),
        &info.sha256[..12]
    );
    println!(
        "limits: deadline {} ms, fuel {}, memory {} MiB, output {} KiB",
        l.deadline_ms,
        thousands(l.fuel),
        l.memory_mib,
        l.output_kib
    );
    if let Some(crm) = report.crm {
        println!("local CRM: {crm} (--crm {crm})");
    }
    for c in &report.checks {
        let mark = if c.passed { "PASS" } else { "FAIL" };
        println!("{mark} {}: {}", c.name, c.detail);
    }
    println!("{} passed, {} failed", report.passed(), report.failed());
}

fn json_report(file: &str, report: &Report) -> serde_json::Value {
    let l = &report.limits;
    json!({
        "file": file,
        "world": report.info.world(),
        "sha256": report.info.sha256,
        "limits": {
            "deadline_ms": l.deadline_ms, "fuel": l.fuel,
            "memory": (l.memory_mib as u64) << 20, "output": (l.output_kib as u64) << 10,
        },
        "crm": report.crm.map(Flavour::as_str),
        "checks": report.checks,
        "most_used": report.headroom.map(|h| json!({
            "calls": h.calls,
            "time_ms": h.time.as_secs_f64() * 1000.0,
            "wall_ms": h.wall.as_secs_f64() * 1000.0,
            "fuel": h.fuel,
            "memory": h.memory,
        })),
        "passed": report.passed(),
        "failed": report.failed(),
    })
}
