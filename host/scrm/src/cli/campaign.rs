//! `scrm campaign …`: create a campaign (template, audience, per-contact
//! parameters), see its traffic plan before anything is sent, start it (now or at a
//! time), pause it, and follow its progress and each recipient's outcome.

use super::TenantArgs;
use super::client::Client;
use crate::campaigns::plan::stamp;
use clap::Subcommand;
use serde_json::{Value, json};

/// `scrm campaign` subcommands.
#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Create a campaign (a draft, or scheduled with --at).
    Create {
        #[command(flatten)]
        target: TenantArgs,
        /// A name for people.
        #[arg(long)]
        name: String,
        /// The approved template (scrm template list).
        #[arg(long)]
        template: String,
        /// The template's language [default: its only one].
        #[arg(long)]
        language: Option<String>,
        /// Who receives it: tag:vip AND NOT tag:complained, field:city = "Milano",
        /// crm:tier != gold, opted_in, OR, parentheses (docs/campaigns.md).
        #[arg(long)]
        audience: String,
        /// A body parameter in the template language, in order (NAME=VALUE for a
        /// named template): --param '{{ contact.first_name | default("there") }}'.
        #[arg(long = "param", value_name = "TEXT")]
        params: Vec<String>,
        /// Start then by itself: RFC 3339 (2026-12-06T09:00:00Z) or a delay (2h).
        #[arg(long)]
        at: Option<String>,
        /// The sending number's phone_number_id [default: the tenant's only one].
        #[arg(long)]
        from: Option<String>,
        /// API calls expected per recipient, for the plan.
        #[arg(long, default_value_t = crate::campaigns::plan::DEFAULT_INTERACTIONS)]
        interactions: u32,
    },
    /// The traffic plan: recipients, API calls against the number's daily cap and
    /// throughput, batch mode and its windows.
    Plan {
        #[command(flatten)]
        target: TenantArgs,
        /// The campaign's id.
        id: i64,
    },
    /// Start now (or resume a paused campaign), or at --at TIME.
    Start {
        #[command(flatten)]
        target: TenantArgs,
        /// The campaign's id.
        id: i64,
        /// Start then instead: RFC 3339 or a delay (2h).
        #[arg(long)]
        at: Option<String>,
    },
    /// Stop queueing its sends until it is started again.
    Pause {
        #[command(flatten)]
        target: TenantArgs,
        /// The campaign's id.
        id: i64,
    },
    /// Progress: recipients by outcome; with an id, each recipient's outcome too.
    Status {
        #[command(flatten)]
        target: TenantArgs,
        /// One campaign.
        id: Option<i64>,
        /// How many recipients to list.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

fn when(v: &Value) -> String {
    v.as_i64().map(stamp).unwrap_or_else(|| "-".into())
}

fn campaign_line(c: &Value) -> String {
    let mut out = format!(
        "campaign {} {:?}: {}  template {} ({}) from {}\n  audience: {}\n",
        c["id"],
        c["name"].as_str().unwrap_or(""),
        c["state"].as_str().unwrap_or(""),
        c["template"].as_str().unwrap_or(""),
        c["language"].as_str().unwrap_or(""),
        c["phone_number_id"].as_str().unwrap_or(""),
        c["audience"].as_str().unwrap_or("")
    );
    if c["state"] == "scheduled" {
        out.push_str(&format!("  starts at {}\n", when(&c["scheduled_at"])));
    }
    if let Some(counts) = c["counts"].as_object().filter(|m| !m.is_empty()) {
        let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        out.push_str(&format!("  recipients: {}\n", parts.join(", ")));
    }
    if let Some(skipped) = c["skipped"].as_object().filter(|m| !m.is_empty()) {
        let parts: Vec<String> = skipped.iter().map(|(k, n)| format!("{k} {n}")).collect();
        out.push_str(&format!("  skipped: {}\n", parts.join(", ")));
    }
    if let Some(b) = c["current_batch"].as_i64() {
        out.push_str(&format!(
            "  batch {} from {}\n",
            b + 1,
            when(&c["batch_starts_at"])
        ));
    }
    out
}

fn list_lines(v: &Value) -> String {
    let items = v["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return "no campaigns yet: scrm campaign create --tenant T …\n".into();
    }
    items.iter().map(campaign_line).collect()
}

fn recipient_lines(v: &Value) -> String {
    let mut out = String::new();
    for r in v["recipients"]["items"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "    contact {:<6} {:<15} batch {:<3} {:<9} {}\n",
            r["contact_id"],
            r["wa_id"].as_str().unwrap_or(""),
            r["batch"].as_i64().unwrap_or(0) + 1,
            r["outcome"].as_str().unwrap_or(""),
            r["reason"].as_str().unwrap_or("")
        ));
    }
    if let Some(next) = v["recipients"]["next_after"].as_i64() {
        out.push_str(&format!(
            "    … more after contact {next} (--json for all fields)\n"
        ));
    }
    out
}

fn plan_lines(v: &Value) -> String {
    v["summary"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What a command asked of the server, and how to print the answer as text.
type Answer = (Value, fn(&Value) -> String);

/// Runs a `scrm campaign` command.
///
/// # Errors
/// When the server refuses (exit 3, with its code) or cannot be reached (exit 4).
pub async fn run(cmd: CampaignCommand) -> anyhow::Result<()> {
    let (json_out, (v, text)) = match cmd {
        CampaignCommand::Create {
            target,
            name,
            template,
            language,
            audience,
            params,
            at,
            from,
            interactions,
        } => {
            let body = json!({"name": name, "template": template, "language": language,
                "audience": audience, "params": params, "at": at, "from": from,
                "interactions": interactions});
            (target.client.json, create(&target, &body).await?)
        }
        CampaignCommand::Plan { target, id } => {
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/campaigns/{id}/plan", target.tenant);
            (
                target.client.json,
                (
                    c.send(c.get(&path)).await?,
                    plan_lines as fn(&Value) -> String,
                ),
            )
        }
        CampaignCommand::Start { target, id, at } => {
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/campaigns/{id}/start", target.tenant);
            let v = c.send(c.post(&path).json(&json!({"at": at}))).await?;
            (
                target.client.json,
                (v, campaign_line as fn(&Value) -> String),
            )
        }
        CampaignCommand::Pause { target, id } => {
            let c = Client::new(&target.client);
            let path = format!("/v1/tenants/{}/campaigns/{id}/pause", target.tenant);
            (
                target.client.json,
                (
                    c.send(c.post(&path)).await?,
                    campaign_line as fn(&Value) -> String,
                ),
            )
        }
        CampaignCommand::Status { target, id, limit } => {
            (target.client.json, status(&target, id, limit).await?)
        }
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", text(&v));
    }
    Ok(())
}

async fn create(target: &TenantArgs, body: &Value) -> anyhow::Result<Answer> {
    let c = Client::new(&target.client);
    let path = format!("/v1/tenants/{}/campaigns", target.tenant);
    let v = c.send(c.post(&path).json(body)).await?;
    Ok((v, |v| {
        format!(
            "{}next: scrm campaign plan --tenant {} {}\n",
            campaign_line(v),
            v["tenant_id"].as_str().unwrap_or(""),
            v["id"]
        )
    }))
}

async fn status(target: &TenantArgs, id: Option<i64>, limit: u32) -> anyhow::Result<Answer> {
    let c = Client::new(&target.client);
    let list = format!("/v1/tenants/{}/campaigns", target.tenant);
    let Some(id) = id else {
        return Ok((c.send(c.get(&list)).await?, list_lines));
    };
    let path = format!("{list}/{id}");
    let mut v = c.send(c.get(&path)).await?;
    v["recipients"] = c
        .send(c.get(&format!("{path}/recipients?limit={limit}")))
        .await?;
    Ok((v, |v| format!("{}{}", campaign_line(v), recipient_lines(v))))
}
