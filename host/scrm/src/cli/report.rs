//! `scrm report …`: a tenant's reports from a running host, printed to stdout.

use super::TenantArgs;
use super::client::Client;
use clap::Subcommand;
use serde_json::Value;

/// `scrm report` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The weekly reports of an ISO week beside the week before: service
    /// efficiency (response times against 3 minutes, resolution against 85 %, agents
    /// flagged), sales funnel (conversion against the target) and cost
    /// effectiveness (acquisition cost against the range).
    Weekly {
        #[command(flatten)]
        target: TenantArgs,
        /// The ISO week (2026-W48) [default: the last whole week].
        #[arg(long)]
        week: Option<String>,
        /// html, json, csv or pdf (PDF bytes to stdout: redirect to a file).
        #[arg(long, default_value = "html")]
        format: String,
    },
}

/// Runs a `scrm report` command.
///
/// # Errors
/// The host's refusal (a week that does not exist: exit 3) or an unreachable host.
pub async fn run(cmd: ReportCommand) -> anyhow::Result<()> {
    match cmd {
        ReportCommand::Weekly {
            target,
            week,
            format,
        } => {
            let c = Client::new(&target.client);
            let mut path = format!(
                "/v1/tenants/{}/reports/weekly?format={format}",
                target.tenant
            );
            if let Some(w) = week {
                path.push_str(&format!("&week={w}"));
            }
            if format == "pdf" {
                let bytes = c.send_bytes(c.get(&path)).await?;
                use std::io::Write;
                std::io::stdout().write_all(&bytes)?;
                return Ok(());
            }
            match c.send(c.get(&path)).await? {
                Value::String(text) => print!("{text}"),
                json => println!("{}", serde_json::to_string_pretty(&json)?),
            }
        }
    }
    Ok(())
}
