//! `scrm template …`: a tenant's message templates on a running host — sync them
//! from the tenant's WhatsApp Business Account, list them, add one from a file in
//! Meta's format (checked here first, with the same wire types the host uses),
//! check one the way automations and campaigns are checked, remove one.

use super::TenantArgs;
use super::client::Client;
use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::PathBuf;

/// `scrm template` subcommands.
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Sync the tenant's templates from its WhatsApp Business Account (every page of
    /// Meta's list). The stored list is replaced; when Meta refuses, it is kept as it
    /// was and the error says why.
    Sync {
        #[command(flatten)]
        target: TenantArgs,
        /// The tenant's WhatsApp Business Account id, kept after a successful sync
        /// [default: the one kept, else the one the tenant's webhooks come from].
        #[arg(long)]
        waba_id: Option<String>,
    },
    /// List the tenant's templates with their status and the parameters a send gives.
    List {
        #[command(flatten)]
        target: TenantArgs,
        /// Only templates with this status (approved, paused, rejected, pending, …).
        #[arg(long)]
        status: Option<String>,
    },
    /// Add (or replace) a template from a JSON file in Meta's template format
    /// (name, language, category, components; status defaults to APPROVED), for
    /// tenants whose templates are not synced.
    Add {
        #[command(flatten)]
        target: TenantArgs,
        /// The template file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Create a template in the tenant's WhatsApp Business Account from a JSON file
    /// in Meta's template format (name, language, category, components); it is kept
    /// with the status Meta answers (PENDING until Meta's review).
    Create {
        #[command(flatten)]
        target: TenantArgs,
        /// The template file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Check a template as automations and campaigns are checked: known to the
    /// tenant, approved, and (with --body-params) taking that many body parameters.
    Check {
        #[command(flatten)]
        target: TenantArgs,
        /// The template's name.
        #[arg(long)]
        name: String,
        /// Its language code (en_US, it, …).
        #[arg(long)]
        language: String,
        /// The number of body parameters a send would give.
        #[arg(long)]
        body_params: Option<usize>,
    },
    /// Remove a template from the registry (a synced one comes back with the next
    /// sync while Meta still has it).
    Remove {
        #[command(flatten)]
        target: TenantArgs,
        /// The template's name.
        #[arg(long)]
        name: String,
        /// Its language code.
        #[arg(long)]
        language: String,
    },
}

fn print(json_out: bool, v: &Value, text: impl FnOnce(&Value)) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        text(v);
    }
}

fn keys(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            format!(
                "{} ({})",
                k["name"].as_str().unwrap_or(""),
                k["language"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_sync(v: &Value) {
    println!(
        "synced {} templates from WhatsApp Business Account {} ({} {}): {} added, {} updated, {} unchanged, {} removed{}",
        v["fetched"],
        v["waba_id"].as_str().unwrap_or(""),
        v["pages"],
        if v["pages"] == 1 { "page" } else { "pages" },
        v["added"],
        v["updated"],
        v["unchanged"],
        v["removed"].as_array().map_or(0, Vec::len),
        match keys(&v["removed"]) {
            k if k.is_empty() => String::new(),
            k => format!(" ({k})"),
        }
    );
    for s in v["skipped"].as_array().into_iter().flatten() {
        println!(
            "skipped {} ({}): {}",
            s["name"].as_str().unwrap_or("(no name)"),
            s["language"].as_str().unwrap_or("?"),
            s["reason"].as_str().unwrap_or("")
        );
    }
}

/// What a send of a listed template gives, in a few words.
fn needs(p: &Value) -> String {
    let mut parts = vec![match p["body_names"].as_array() {
        Some(names) => format!(
            "body {}",
            names
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        ),
        None => format!("body {}", p["body"]),
    }];
    if let Some(h) = p["header"]["type"].as_str() {
        parts.push(format!("header {h}"));
    }
    for b in p["buttons"].as_array().into_iter().flatten() {
        parts.push(format!(
            "button {} {}",
            b["index"],
            b["sub_type"].as_str().unwrap_or("")
        ));
    }
    for u in p["unmodeled"].as_array().into_iter().flatten() {
        parts.push(format!("{} (not modelled)", u.as_str().unwrap_or("")));
    }
    parts.join("; ")
}

fn print_list(v: &Value) {
    println!(
        "WhatsApp Business Account {}, last synced {}",
        v["waba_id"].as_str().unwrap_or("(none)"),
        v["synced_at"]
            .as_i64()
            .map_or("never".into(), |t| format!("at {t} (Unix ms)"))
    );
    println!(
        "{:<32} {:<8} {:<16} {:<14} {:<8} PARAMETERS",
        "NAME", "LANGUAGE", "STATUS", "CATEGORY", "SOURCE"
    );
    for t in v["items"].as_array().into_iter().flatten() {
        let s = |k: &str| t[k].as_str().unwrap_or("").to_string();
        println!(
            "{:<32} {:<8} {:<16} {:<14} {:<8} {}",
            s("name"),
            s("language"),
            s("status"),
            s("category"),
            s("source"),
            needs(&t["parameters"])
        );
    }
}

/// Reads and checks a template file; its name, language and bytes.
fn read_definition(file: &PathBuf) -> anyhow::Result<(String, String, Vec<u8>)> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let t = scrm_wire::template::parse_definition(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    Ok((t.name, t.language, bytes))
}

/// Runs `scrm template …`.
pub async fn run(cmd: TemplateCommand) -> anyhow::Result<()> {
    match cmd {
        TemplateCommand::Sync { target, waba_id } => {
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/templates/sync", target.tenant);
            let v = c
                .send(c.post(&path).json(&json!({ "waba_id": waba_id })))
                .await?;
            print(target.client.json, &v, print_sync);
        }
        TemplateCommand::List { target, status } => {
            let c = Client::new(&target.client);
            let mut rb = c.get(&format!("/v1/tenants/{}/templates", target.tenant));
            if let Some(s) = &status {
                rb = rb.query(&[("status", s)]);
            }
            let v = c.send(rb).await?;
            print(target.client.json, &v, print_list);
        }
        TemplateCommand::Add { target, file } => {
            let (name, language, bytes) = read_definition(&file)?;
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/templates/{name}/{language}", target.tenant);
            let rb = c
                .put(&path)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
            let v = c.send(rb).await?;
            print(target.client.json, &v, |v| {
                println!(
                    "template {name} ({language}) stored: {}, {}, {}",
                    v["status"].as_str().unwrap_or(""),
                    v["category"].as_str().unwrap_or(""),
                    needs(&v["parameters"])
                )
            });
        }
        TemplateCommand::Create { target, file } => {
            let (name, language, bytes) = read_definition(&file)?;
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/templates", target.tenant);
            let rb = c
                .post(&path)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
            let v = c.send(rb).await?;
            print(target.client.json, &v, |v| {
                println!(
                    "template {name} ({language}) created at Meta: {}, {}, id {}",
                    v["status"].as_str().unwrap_or(""),
                    v["category"].as_str().unwrap_or(""),
                    v["meta_id"].as_str().unwrap_or("")
                )
            });
        }
        TemplateCommand::Check {
            target,
            name,
            language,
            body_params,
        } => {
            let c = Client::new(&target.client);
            let path = format!(
                "/v1/tenants/{}/templates/{name}/{language}/check",
                target.tenant
            );
            let mut rb = c.get(&path);
            if let Some(n) = body_params {
                rb = rb.query(&[("body_params", n)]);
            }
            let v = c.send(rb).await?;
            print(target.client.json, &v, |v| {
                println!(
                    "template {name} ({language}) may be sent: {}, {}",
                    v["category"].as_str().unwrap_or(""),
                    needs(&v["parameters"])
                )
            });
        }
        TemplateCommand::Remove {
            target,
            name,
            language,
        } => {
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/templates/{name}/{language}", target.tenant);
            c.send(c.http_delete(&path)).await?;
            println!("template {name} ({language}) removed");
        }
    }
    Ok(())
}
