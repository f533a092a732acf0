//! `scrm plugin run` and `scrm plugin inspect`: local commands on a component file,
//! no server. Argument handling and printing only: the work is done by
//! [`crate::runner`] and [`scrm_engine::contract`].

use crate::runner::units::{bytes, ms, percent, thousands};
use crate::runner::{
    Input, Outcome, RunError, RunSpec, Runner, accepts, default_cache_dir, runs_without_input,
};
use anyhow::{Context, anyhow, bail};
use clap::Args;
use scrm_engine::PluginLimits;
use scrm_engine::contract::{self, ComponentInfo};
use scrm_engine::usage::CallUsage;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `scrm plugin run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The component file (.wasm).
    pub(crate) file: PathBuf,
    /// The plugin's configuration file, as `plugin install --config` takes it (for a
    /// flow: a JSON object of its parameters).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// An input: a Cloud API webhook payload, a CRM record or a parcel (JSON); `-`
    /// reads it from standard input.
    #[arg(long)]
    pub(crate) input: Option<PathBuf>,
    /// A directory of inputs: every *.json file in it, in name order.
    #[arg(long)]
    pub(crate) fixtures: Option<PathBuf>,
    /// The tenant secrets the binding's HTTP policy names, a JSON object or TOML
    /// table of name = value (keep it out of version control).
    #[arg(long)]
    pub(crate) secrets: Option<PathBuf>,
    /// The binding's outbound HTTP policy, a JSON file as for `plugin install --http`.
    #[arg(long)]
    pub(crate) http: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) limits: super::LimitArgs,
    /// The plugin's name (its key-value namespace) [default: the file name].
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// The tenant's default region, for numbers without a country code.
    #[arg(long, default_value = "US")]
    pub(crate) region: String,
    /// Where compiled components are kept between runs [default:
    /// ~/.cache/scrm/compile-cache].
    #[arg(long, env = "SCRM_COMPILE_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Print one JSON object per call instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `scrm plugin inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The component file (.wasm).
    pub(crate) file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `scrm plugin inspect`: what a component declares, read without compiling it.
pub async fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let file = args.file.display().to_string();
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("cannot read component {file}"))?;
    let info = contract::read(&bytes).map_err(|e| anyhow!("{file}: {e}"))?;
    if args.json {
        let mut v = json!(info);
        v["file"] = json!(file);
        v["world"] = json!(info.world());
        v["host_wit_versions"] = json!(contract::SHIPPED);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_info(&file, &info);
    }
    let missing: Vec<&str> = info.missing().map(|i| i.name.as_str()).collect();
    if !missing.is_empty() {
        bail!(
            "{file}: imports what this host does not provide ({}): installing it fails; build it against wit/ without them",
            missing.join(", ")
        );
    }
    Ok(())
}

fn print_info(file: &str, info: &ComponentInfo) {
    println!("file     {file}");
    println!(
        "size     {} bytes ({})",
        thousands(info.size as u64),
        bytes(info.size)
    );
    println!("sha256   {}", info.sha256);
    println!("world    {} (slot {})", info.world(), info.slot.as_str());
    println!(
        "wit      {}@{} (this host loads {})",
        contract::PACKAGE,
        info.wit_version,
        contract::SHIPPED.join(", ")
    );
    let exports = rows(&info.exports);
    let imports = rows(&info.imports);
    let width = exports
        .iter()
        .chain(&imports)
        .map(|(name, _)| name.len())
        // Grouped WASI rows run long; they do not set the column.
        .filter(|&len| len <= 40)
        .max()
        .unwrap_or(0);
    for (title, list) in [("exports", exports), ("imports", imports)] {
        for (n, (name, about)) in list.iter().enumerate() {
            let head = if n == 0 { title } else { "" };
            println!("{head:<8} {name:<width$}  {about}");
        }
    }
}

/// One row per interface, except that the WASI interfaces of one package and
/// version the host provides share a row: `wasi:cli/{environment, exit}@0.2.6`.
fn rows(list: &[contract::Interface]) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut groups: Vec<(String, String, Vec<String>, String)> = Vec::new();
    for i in list {
        let mark = if i.provided { "" } else { "  [NOT PROVIDED]" };
        let wasi = i.name.strip_prefix("wasi:").and_then(|rest| {
            let (package, iv) = rest.split_once('/')?;
            let (iface, version) = iv.split_once('@')?;
            Some((package, iface, version))
        });
        match wasi {
            Some((package, iface, version)) if i.provided => {
                match groups.iter_mut().find(|g| g.0 == package && g.1 == version) {
                    Some(g) => g.2.push(iface.to_string()),
                    None => groups.push((
                        package.into(),
                        version.into(),
                        vec![iface.into()],
                        i.about.clone(),
                    )),
                }
            }
            _ => rows.push((i.name.clone(), format!("{}{mark}", i.about))),
        }
    }
    for (package, version, ifaces, about) in groups {
        let name = match ifaces.as_slice() {
            [one] => format!("wasi:{package}/{one}@{version}"),
            many => format!("wasi:{package}/{{{}}}@{version}", many.join(", ")),
        };
        rows.push((name, about));
    }
    rows
}

/// `scrm plugin run`: the component on each input, each call printed with what it
/// used against its limits.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let spec = spec_of(&args)?;
    let inputs = inputs_of(&args)?;
    let file = args.file.display().to_string();
    // What the component is, and whether it takes these inputs, before compiling it.
    let slot = contract::read(&spec.component)
        .map_err(|e| anyhow!("{file}: {e}"))?
        .slot;
    for (name, input) in &inputs {
        accepts(slot, input).map_err(|e| anyhow!("{name}: {e}"))?;
    }
    if inputs.is_empty() {
        runs_without_input(slot).map_err(|e| anyhow!("{file}: {e}"))?;
    }
    let config = args.config.as_ref().map(|c| c.display().to_string());
    let json_out = args.json;
    let (total, failed) = tokio::task::spawn_blocking(move || -> anyhow::Result<(usize, usize)> {
        // A configuration the plugin rejects is named by its file; other errors by
        // the component or input that met them.
        let failed = |input: &str, e: RunError| match (&e, &config) {
            (RunError::Config(_), Some(c)) => anyhow!("{c}: {e}"),
            _ => anyhow!("{input}: {e}"),
        };
        let mut runner = Runner::new(spec).map_err(|e| failed(&file, e))?;
        if !json_out {
            print_header(&runner);
        }
        let mut printer = Printer::new(json_out, *runner.limits());
        if inputs.is_empty() {
            let outcomes = runner.run_without_input().map_err(|e| failed(&file, e))?;
            printer.all("-", &outcomes);
        }
        for (name, input) in &inputs {
            let outcomes = runner.run(input).map_err(|e| failed(name, e))?;
            printer.all(name, &outcomes);
        }
        let kv = runner.kv_entries();
        if !json_out {
            let kv_bytes: usize = kv.iter().map(|(k, v)| k.len() + v.len()).sum();
            println!(
                "{} call{}: {} ok, {} failed; key-value store: {} key{}, {}",
                printer.calls,
                if printer.calls == 1 { "" } else { "s" },
                printer.calls - printer.failed,
                printer.failed,
                kv.len(),
                if kv.len() == 1 { "" } else { "s" },
                bytes(kv_bytes)
            );
        }
        Ok((printer.calls, printer.failed))
    })
    .await??;
    if failed > 0 {
        bail!("{failed} of {total} calls failed");
    }
    Ok(())
}

/// The run's spec from the command line.
fn spec_of(args: &RunArgs) -> anyhow::Result<RunSpec> {
    let component = std::fs::read(&args.file)
        .with_context(|| format!("cannot read component {}", args.file.display()))?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| component_name(&args.file));
    let mut spec = RunSpec::new(component, &name);
    if let Some(p) = &args.config {
        spec.config = read(p, "config")?;
    }
    if let Some(p) = &args.http {
        spec.http = serde_json::from_slice(&read(p, "HTTP policy")?)
            .with_context(|| format!("HTTP policy {} is not JSON", p.display()))?;
    }
    if let Some(p) = &args.secrets {
        spec.secrets = secrets_file(p)?;
    }
    spec.limits = args.limits.overrides();
    spec.region = args.region.clone();
    spec.cache_dir = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    Ok(spec)
}

/// A component's name from its file: `keyword_classifier.wasm` → `keyword-classifier`.
pub(super) fn component_name(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().replace('_', "-"))
        .unwrap_or_else(|| "plugin".into())
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// Secrets from a JSON object or TOML table of name → text.
fn secrets_file(path: &Path) -> anyhow::Result<Vec<(String, SecretString)>> {
    let text = String::from_utf8(read(path, "secrets")?)
        .with_context(|| format!("secrets {} is not UTF-8", path.display()))?;
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(&text)
        .or_else(|_| toml::from_str(&text))
        .map_err(|_| {
            anyhow!(
                "secrets {} is neither a JSON object nor a TOML table of name = \"value\"",
                path.display()
            )
        })?;
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, SecretString::from(v)))
        .collect())
}

/// The inputs, by name: `--input` first, then `--fixtures` in name order.
fn inputs_of(args: &RunArgs) -> anyhow::Result<Vec<(String, Input)>> {
    let mut files: Vec<PathBuf> = args.input.iter().cloned().collect();
    if let Some(dir) = &args.fixtures {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read fixtures directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        if found.is_empty() {
            bail!("fixtures directory {} has no .json files", dir.display());
        }
        found.sort();
        files.extend(found);
    }
    let mut inputs = Vec::new();
    for f in files {
        let (name, bytes) = if f.as_os_str() == "-" {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
                .context("reading the input from standard input")?;
            ("(stdin)".to_string(), b)
        } else {
            (f.display().to_string(), read(&f, "input")?)
        };
        inputs.push((
            name.clone(),
            Input::parse(&bytes, &name).map_err(|e| anyhow!(e))?,
        ));
    }
    Ok(inputs)
}

fn print_header(runner: &Runner) {
    let info = runner.info();
    let l = runner.limits();
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
}

/// Prints outcomes and counts them.
struct Printer {
    json: bool,
    limits: PluginLimits,
    calls: usize,
    failed: usize,
}

impl Printer {
    fn new(json: bool, limits: PluginLimits) -> Printer {
        Printer {
            json,
            limits,
            calls: 0,
            failed: 0,
        }
    }

    fn all(&mut self, input: &str, outcomes: &[Outcome]) {
        if !self.json {
            println!("== {input}");
        }
        for o in outcomes {
            if o.call != "skip" {
                self.calls += 1;
                self.failed += usize::from(o.result.is_err());
            }
            if self.json {
                println!("{}", self.json_line(input, o));
            } else {
                self.text(o);
            }
        }
    }

    fn json_line(&self, input: &str, o: &Outcome) -> Value {
        let l = &self.limits;
        let usage = o.usage.as_ref().map(|u| {
            json!({
                "wall_ms": ms(u.wall), "counted_ms": ms(u.counted()), "deadline_ms": l.deadline_ms,
                "fuel": u.fuel, "fuel_limit": l.fuel,
                "peak_memory": u.peak_memory, "memory_limit": (l.memory_mib as u64) << 20,
                "http_sent": u.http_sent, "http_denied": u.http_denied,
            })
        });
        let (result, error) = match &o.result {
            Ok(v) => (v.clone(), Value::Null),
            Err(f) => (Value::Null, json!(f)),
        };
        json!({
            "input": input, "call": o.call, "subject": o.subject,
            "ok": o.result.is_ok(), "result": result, "error": error, "usage": usage,
            "logs": o.logs,
        })
    }

    fn text(&self, o: &Outcome) {
        println!("{} {}", o.call, o.subject);
        let Some(u) = &o.usage else {
            match &o.result {
                Ok(v) => println!(
                    "  {}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                ),
                Err(f) => println!("  FAILED {}: {}", f.code, f.message),
            }
            return;
        };
        let status = match &o.result {
            Ok(_) => "ok".to_string(),
            Err(f) => format!("FAILED {}", f.code),
        };
        println!("  {status} · {}", self.usage_text(u));
        for denied in &u.http_denied {
            println!("  http refused: {denied}");
        }
        for record in &o.logs {
            println!("  log {record}");
        }
        match &o.result {
            Ok(v) => println!("  {v}"),
            Err(f) => println!("  {}", f.message),
        }
    }

    /// "0.52 ms of 200 ms · fuel 96,384 of 2,000,000,000 (0.00 %) · memory 1.1 MiB
    /// of 64.0 MiB (1.72 %)", with the HTTP requests when there were any.
    fn usage_text(&self, u: &CallUsage) -> String {
        let l = &self.limits;
        let cap = (l.memory_mib as usize) << 20;
        let mut text = format!("{:.2} ms of {} ms", ms(u.counted()), l.deadline_ms);
        if !u.waited.is_zero() {
            text += &format!(" (+ {:.2} ms waiting for answers)", ms(u.waited));
        }
        text += &format!(
            " · fuel {} of {} ({}) · memory {} of {} ({})",
            thousands(u.fuel),
            thousands(l.fuel),
            percent(u.fuel as f64, l.fuel as f64),
            bytes(u.peak_memory),
            bytes(cap),
            percent(u.peak_memory as f64, cap as f64),
        );
        if u.http_sent > 0 || !u.http_denied.is_empty() {
            text += &format!(
                " · http {} sent, {} refused",
                u.http_sent,
                u.http_denied.len()
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_json_or_toml() {
        use secrecy::ExposeSecret;
        let dir = std::env::temp_dir().join(format!("scrm-secrets-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let json_file = dir.join("s.json");
        std::fs::write(&json_file, r#"{"hubspot": "pat-1"}"#).unwrap();
        let toml_file = dir.join("s.toml");
        std::fs::write(&toml_file, "hubspot = \"pat-2\"\n").unwrap();
        let bad = dir.join("bad");
        std::fs::write(&bad, "[1]").unwrap();
        assert_eq!(
            secrets_file(&json_file).unwrap()[0].1.expose_secret(),
            "pat-1"
        );
        assert_eq!(
            secrets_file(&toml_file).unwrap()[0].1.expose_secret(),
            "pat-2"
        );
        assert!(secrets_file(&bad).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
