//! `scrm flow …`: the host's flows and each tenant's: add a flow component, list the
//! flows with their parameters, enable one for a tenant with `--set KEY=VALUE`,
//! disable it, and show what it fired, what waits and what was skipped and why.

use super::client::Client;
use super::{ClientArgs, TenantArgs};
use anyhow::{Context, anyhow};
use clap::Subcommand;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// `scrm flow` subcommands.
#[derive(Debug, Subcommand)]
pub enum FlowCommand {
    /// List the flows this host offers and their parameters.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add a flow component (a .wasm built for the `flow` world) to the host.
    Add {
        #[command(flatten)]
        client: ClientArgs,
        /// The component file.
        file: PathBuf,
    },
    /// Enable a flow for a tenant, or change its parameters (a new version).
    Enable {
        #[command(flatten)]
        target: TenantArgs,
        /// The flow's name (scrm flow list).
        name: String,
        /// A parameter: KEY=VALUE, or KEY=@FILE to read the value from a file.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Disable a tenant's flow (its versions, log and timers are kept).
    Disable {
        #[command(flatten)]
        target: TenantArgs,
        /// The flow's name.
        name: String,
    },
    /// What the tenant's flows fired, what waits, what was skipped and why.
    Status {
        #[command(flatten)]
        target: TenantArgs,
        /// One flow only.
        name: Option<String>,
        /// How many recent and waiting entries to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

fn parse_set(raw: &str) -> anyhow::Result<(String, Value)> {
    let (key, value) = raw
        .split_once('=')
        .ok_or_else(|| anyhow!("--set {raw:?}: write KEY=VALUE"))?;
    let value = match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--set {key}=@{path}: cannot read the file"))?,
        None => value.to_string(),
    };
    Ok((key.trim().to_string(), Value::String(value)))
}

fn param_lines(f: &Value) -> String {
    let mut out = String::new();
    for p in f["params"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "    {:<20} {:<9} {:<12} {}\n",
            p["name"].as_str().unwrap_or(""),
            p["kind"].as_str().unwrap_or(""),
            p["default"]
                .as_str()
                .map_or_else(|| "(required)".to_string(), |d| short(d, 12)),
            p["description"].as_str().unwrap_or("")
        ));
    }
    out
}

fn short(s: &str, n: usize) -> String {
    let one_line = s.replace('\n', " ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        format!("{}…", one_line.chars().take(n - 1).collect::<String>())
    }
}

fn catalog_lines(v: &Value) -> String {
    let mut out = String::new();
    for f in v["items"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{}  {}\n  triggers: {}\n  sha256: {}\n  parameters:\n{}",
            f["name"].as_str().unwrap_or(""),
            f["description"].as_str().unwrap_or(""),
            f["triggers"]
                .as_array()
                .map(|t| t
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            f["sha256"].as_str().unwrap_or(""),
            param_lines(f)
        ));
    }
    if out.is_empty() {
        out.push_str("no flows yet: scrm flow add FILE.wasm\n");
    }
    out
}

fn job_line(j: &Value) -> String {
    let when = j["fired_at"]
        .as_i64()
        .or(j["fire_at"].as_i64())
        .unwrap_or(0);
    format!(
        "    {:>7} {:<9} {:<13} contact {:<6} {}{}  {}",
        j["id"],
        j["state"].as_str().unwrap_or(""),
        j["kind"].as_str().unwrap_or(""),
        j["contact_id"],
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(when.max(0) as u64)
        ),
        j["late_ms"]
            .as_i64()
            .filter(|l| *l >= 1_000)
            .map(|l| format!(" ({} late)", crate::automation::params::format_duration(l)))
            .unwrap_or_default(),
        j["outcome"].as_str().unwrap_or("")
    )
}

/// A flow's parameters as `name=value` pairs, long values shortened (`--json` has
/// them whole).
fn params_line(raw: &str) -> String {
    let Ok(Value::Object(params)) = serde_json::from_str::<Value>(raw) else {
        return short(raw, 200);
    };
    params
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{k}={}", short(&text, 32))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn status_lines(items: &[Value]) -> String {
    let mut out = String::new();
    for f in items {
        out.push_str(&format!(
            "{}@{}  {}{}\n  parameters: {}\n  counts: {}\n",
            f["name"].as_str().unwrap_or(""),
            f["version"],
            f["state"].as_str().unwrap_or(""),
            f["quarantine_reason"]
                .as_str()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            params_line(f["params"].as_str().unwrap_or("")),
            f["counts"]
        ));
        let waiting = f["waiting"].as_array().cloned().unwrap_or_default();
        if !waiting.is_empty() {
            out.push_str("  waiting:\n");
            for j in &waiting {
                out.push_str(&job_line(j));
                out.push('\n');
            }
        }
        let recent = f["recent"].as_array().cloned().unwrap_or_default();
        if !recent.is_empty() {
            out.push_str("  recent:\n");
            for j in &recent {
                out.push_str(&job_line(j));
                out.push('\n');
            }
        }
    }
    if out.is_empty() {
        out.push_str("no flows enabled: scrm flow enable --tenant T NAME\n");
    }
    out
}

/// Runs a `scrm flow` command.
///
/// # Errors
/// When the server refuses or cannot be reached, or a file cannot be read.
pub async fn run(cmd: FlowCommand) -> anyhow::Result<()> {
    let (client, v, text): (ClientArgs, Value, fn(&Value) -> String) = match cmd {
        FlowCommand::List { client } => {
            let c = Client::new(&client);
            let v = c.send(c.get("/v1/flows")).await?;
            (client, v, catalog_lines)
        }
        FlowCommand::Add { client, file } => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("cannot read component {}", file.display()))?;
            let c = Client::new(&client);
            let v = c.send(c.post("/v1/flows").body(bytes)).await?;
            (client, v, |v| catalog_lines(&json!({"items": [v]})))
        }
        FlowCommand::Enable {
            target: TenantArgs { client, tenant },
            name,
            set,
        } => {
            let mut sets = Map::new();
            for raw in &set {
                let (k, v) = parse_set(raw)?;
                sets.insert(k, v);
            }
            let c = Client::new(&client);
            let v = c
                .send(
                    c.put(&format!("/v1/tenants/{tenant}/flows/{name}"))
                        .json(&json!({"set": sets})),
                )
                .await?;
            (client, v, |v| status_lines(std::slice::from_ref(v)))
        }
        FlowCommand::Disable {
            target: TenantArgs { client, tenant },
            name,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.post(&format!("/v1/tenants/{tenant}/flows/{name}/disable")))
                .await?;
            (client, v, |v| status_lines(std::slice::from_ref(v)))
        }
        FlowCommand::Status {
            target: TenantArgs { client, tenant },
            name,
            limit,
        } => {
            let c = Client::new(&client);
            let path = match &name {
                Some(n) => format!("/v1/tenants/{tenant}/flows/{n}?limit={limit}"),
                None => format!("/v1/tenants/{tenant}/flows?limit={limit}"),
            };
            let v = c.send(c.get(&path)).await?;
            let v = if name.is_some() {
                json!({"items": [v]})
            } else {
                v
            };
            (client, v, |v| {
                status_lines(v["items"].as_array().map(Vec::as_slice).unwrap_or(&[]))
            })
        }
    };
    if client.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", text(&v));
    }
    Ok(())
}
