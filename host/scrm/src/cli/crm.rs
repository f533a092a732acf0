//! `scrm crm …`: a running host's two-way CRM sync: settings, the queue of CRM writes
//! (and its dead letters), pulling now, and the review queue.

use super::client::Client;
use super::{ClientArgs, TenantArgs};
use clap::Subcommand;
use serde_json::{Value, json};

/// `scrm crm` subcommands.
#[derive(Debug, Subcommand)]
pub enum CrmCommand {
    /// Show the tenant's sync settings, queue counts and pull cursor.
    Status {
        #[command(flatten)]
        target: TenantArgs,
    },
    /// Set the tenant's sync settings (unset options keep their current value).
    Set {
        #[command(flatten)]
        target: TenantArgs,
        /// realtime, batch or off.
        #[arg(long)]
        mode: Option<String>,
        /// Batch interval in minutes (batch mode).
        #[arg(long)]
        batch_minutes: Option<u32>,
        /// Seconds between pulls of CRM changes (0: no scheduled pull).
        #[arg(long)]
        pull_seconds: Option<u32>,
        /// The CRM's rate limit: requests …
        #[arg(long)]
        rate_requests: Option<u32>,
        /// … per this many seconds.
        #[arg(long)]
        rate_seconds: Option<u32>,
        /// Days of chat history to keep.
        #[arg(long)]
        retention_days: Option<u32>,
        /// The approved template replies written in the CRM go out as outside the
        /// customer's 24-hour window (its `{{1}}` gets the text; "" = none).
        #[arg(long)]
        reply_template: Option<String>,
        /// That template's language code.
        #[arg(long)]
        reply_template_language: Option<String>,
        /// Where a contact's CRM record opens, with `{id}` for its CRM id; the web
        /// inbox links the customer's profile there ("" = no link).
        #[arg(long)]
        record_url: Option<String>,
    },
    /// List the queue of CRM writes (`--state dead` is the dead-letter list).
    Jobs {
        #[command(flatten)]
        target: TenantArgs,
        /// queued, done or dead.
        #[arg(long)]
        state: Option<String>,
    },
    /// Put a dead CRM write back in the queue.
    Requeue {
        #[command(flatten)]
        target: TenantArgs,
        /// The job's id.
        #[arg(long)]
        id: i64,
    },
    /// Write the chat history of the last N days to the CRM, with a progress bar.
    /// Interrupting it loses nothing: the writes are queued in the host and go on;
    /// running it again shows the progress (nothing is queued twice).
    Backfill {
        #[command(flatten)]
        target: TenantArgs,
        /// Days of history.
        #[arg(long, default_value_t = 180)]
        days: u32,
        /// Queue only; do not wait for the writes.
        #[arg(long)]
        no_wait: bool,
    },
    /// Audit the sync now: read a random sample of synced contacts back from the CRM
    /// and print how many of their names and phones agree (target 99 %).
    Audit {
        #[command(flatten)]
        target: TenantArgs,
        /// Contacts to sample (1 to 1000).
        #[arg(long, default_value_t = 100)]
        sample: u32,
    },
    /// The mapping log: per week, CRM writes done and failed (error rate against the
    /// 2 % target) and per field the records filled with a default or not written.
    MappingLog {
        #[command(flatten)]
        target: TenantArgs,
        /// Weeks back, this one included (1 to 52).
        #[arg(long, default_value_t = 4)]
        weeks: u32,
    },
    /// Pull the CRM's changes now.
    Pull {
        #[command(flatten)]
        target: TenantArgs,
    },
    /// List the review queue (overwritten values and proposed merges).
    Reviews {
        #[command(flatten)]
        target: TenantArgs,
        /// open (default), accepted or reverted.
        #[arg(long, default_value = "open")]
        state: String,
    },
    /// List CRM records whose phone number could not be normalised, with the reason.
    PhoneProblems {
        #[command(flatten)]
        target: TenantArgs,
    },
    /// Accept a review entry: the winning value stays.
    Accept {
        #[command(flatten)]
        target: TenantArgs,
        /// The review entry's id.
        #[arg(long)]
        id: i64,
    },
    /// Revert a review entry: the value that lost is restored on the host and in the CRM.
    Revert {
        #[command(flatten)]
        target: TenantArgs,
        /// The review entry's id.
        #[arg(long)]
        id: i64,
    },
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "(empty)".into(),
        other => other.to_string(),
    }
}

fn review_line(r: &Value) -> String {
    match r["kind"].as_str() {
        Some("conflict") => format!(
            "{:>6}  {:<9} contact {} {}: kept {} ({}), replaced {} ({})",
            r["id"],
            r["state"].as_str().unwrap_or(""),
            r["contact_id"],
            r["field"].as_str().unwrap_or(""),
            show(&r["kept"]),
            r["kept_source"].as_str().unwrap_or(""),
            show(&r["lost"]),
            r["lost_source"].as_str().unwrap_or(""),
        ),
        _ => format!(
            "{:>6}  {:<9} {} contact {} {}",
            r["id"],
            r["state"].as_str().unwrap_or(""),
            r["kind"].as_str().unwrap_or(""),
            r["contact_id"],
            r["detail"]
        ),
    }
}

fn job_line(j: &Value) -> String {
    format!(
        "{:>6}  {:<7} {:<8} contact {:<6} message {:<6} attempts {}{}",
        j["id"],
        j["state"].as_str().unwrap_or(""),
        j["kind"].as_str().unwrap_or(""),
        j["contact_id"],
        j["message_id"],
        j["attempts"],
        j["last_error"]
            .as_str()
            .map(|e| format!(" — {e}"))
            .unwrap_or_default()
    )
}

/// Shows the tenant's backfill progress until nothing of it is queued.
async fn wait_for_backfill(c: &Client, tenant: &str, queued: &Value) -> anyhow::Result<()> {
    let path = format!("/v1/tenants/{tenant}/crm");
    let count = |v: &Value, k: &str| v["backfill"][k].as_u64().unwrap_or(0);
    let first = c.send(c.get(&path)).await?;
    let total = count(&first, "queued") + count(&first, "done") + count(&first, "dead");
    eprintln!(
        "{} messages in range, {} newly queued",
        queued["messages"], queued["queued"]
    );
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} written to the CRM ({per_sec}, {eta} left) {msg}",
    )?);
    loop {
        let v = c.send(c.get(&path)).await?;
        let (done, dead) = (count(&v, "done"), count(&v, "dead"));
        bar.set_position(done + dead);
        if dead > 0 {
            bar.set_message(format!("{dead} dead-lettered (scrm crm jobs --state dead)"));
        }
        if count(&v, "queued") == 0 {
            bar.finish();
            if dead > 0 {
                anyhow::bail!(
                    "{dead} history writes failed; see `scrm crm jobs --tenant {tenant} --state dead`"
                );
            }
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Runs `scrm crm …`.
pub async fn run(cmd: CrmCommand) -> anyhow::Result<()> {
    let (client, v, line): (ClientArgs, Value, fn(&Value) -> String) = match cmd {
        CrmCommand::Status {
            target: TenantArgs { client, tenant },
        } => {
            let c = Client::new(&client);
            let v = c.send(c.get(&format!("/v1/tenants/{tenant}/crm"))).await?;
            (client, v, |v| {
                serde_json::to_string_pretty(v).unwrap_or_default()
            })
        }
        CrmCommand::Set {
            target: TenantArgs { client, tenant },
            mode,
            batch_minutes,
            pull_seconds,
            rate_requests,
            rate_seconds,
            retention_days,
            reply_template,
            reply_template_language,
            record_url,
        } => {
            let c = Client::new(&client);
            let path = format!("/v1/tenants/{tenant}/crm");
            let mut s = c.send(c.get(&path)).await?["settings"].take();
            let mut set = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    s[k] = v;
                }
            };
            set("mode", mode.map(|m| json!(m)));
            set("batch_minutes", batch_minutes.map(|m| json!(m)));
            set("pull_seconds", pull_seconds.map(|m| json!(m)));
            set("rate_requests", rate_requests.map(|m| json!(m)));
            set("rate_seconds", rate_seconds.map(|m| json!(m)));
            set("retention_days", retention_days.map(|m| json!(m)));
            set("reply_template", reply_template.map(|m| json!(m)));
            set(
                "reply_template_language",
                reply_template_language.map(|m| json!(m)),
            );
            set("record_url", record_url.map(|m| json!(m)));
            let v = c.send(c.put(&path).json(&s)).await?;
            (client, v, |v| {
                serde_json::to_string_pretty(v).unwrap_or_default()
            })
        }
        CrmCommand::Jobs {
            target: TenantArgs { client, tenant },
            state,
        } => {
            let c = Client::new(&client);
            let q = state.map(|s| format!("&state={s}")).unwrap_or_default();
            let v = c
                .send(c.get(&format!("/v1/tenants/{tenant}/crm/jobs?limit=500{q}")))
                .await?;
            if !client.json {
                for j in v["items"].as_array().into_iter().flatten() {
                    println!("{}", job_line(j));
                }
                return Ok(());
            }
            (client, v, job_line)
        }
        CrmCommand::Requeue {
            target: TenantArgs { client, tenant },
            id,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.post(&format!("/v1/tenants/{tenant}/crm/jobs/{id}/requeue")))
                .await?;
            (client, v, job_line)
        }
        CrmCommand::Backfill {
            target: TenantArgs { client, tenant },
            days,
            no_wait,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(
                    c.post(&format!("/v1/tenants/{tenant}/crm/backfill"))
                        .json(&json!({"days": days})),
                )
                .await?;
            if no_wait || client.json {
                (client, v, |v| {
                    format!("queued {} of {} messages", v["queued"], v["messages"])
                })
            } else {
                wait_for_backfill(&c, &tenant, &v).await?;
                return Ok(());
            }
        }
        CrmCommand::Audit {
            target: TenantArgs { client, tenant },
            sample,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(
                    c.post(&format!("/v1/tenants/{tenant}/crm/audit"))
                        .json(&json!({"sample": sample})),
                )
                .await?;
            (client, v, |v| {
                let pct = |x: &Value| {
                    x.as_f64()
                        .map_or_else(|| "n/a".to_string(), |f| format!("{:.1} %", f * 100.0))
                };
                let mut out = format!(
                    "accuracy {} (target {}): {} contacts sampled, {} compared",
                    pct(&v["accuracy"]),
                    pct(&v["target"]),
                    v["sampled"],
                    v["compared"]
                );
                for (field, s) in v["fields"].as_object().into_iter().flatten() {
                    let (m, n) = (
                        s["matched"].as_f64().unwrap_or(0.0),
                        s["compared"].as_f64().unwrap_or(0.0),
                    );
                    let share = if n > 0.0 {
                        format!("{:.1} %", m / n * 100.0)
                    } else {
                        "n/a".into()
                    };
                    out.push_str(&format!("\n  {field:<8} {share:>8}  ({m}/{n})"));
                }
                for d in v["mismatches"].as_array().into_iter().flatten() {
                    out.push_str(&format!(
                        "\n  differs: contact {} ({}) {}: host {} / CRM {}",
                        d["contact"], d["crm_id"], d["field"], d["host"], d["crm"]
                    ));
                }
                out
            })
        }
        CrmCommand::MappingLog {
            target: TenantArgs { client, tenant },
            weeks,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.get(&format!(
                    "/v1/tenants/{tenant}/crm/mapping-log?weeks={weeks}"
                )))
                .await?;
            (client, v, |v| {
                let mut out = String::from("WEEK        WRITTEN  FAILED  ERROR RATE (target 2 %)");
                for w in v["weeks"].as_array().into_iter().flatten() {
                    let rate = w["error_rate"]
                        .as_f64()
                        .map_or_else(|| "-".to_string(), |r| format!("{:.1} %", r * 100.0));
                    let flag = if w["above_target"] == true {
                        "  above target"
                    } else {
                        ""
                    };
                    out.push_str(&format!(
                        "\n{}  {:>7}  {:>6}  {rate:>10}{flag}",
                        w["week"].as_str().unwrap_or(""),
                        w["written"],
                        w["failed"]
                    ));
                    for (field, f) in w["fields"].as_object().into_iter().flatten() {
                        out.push_str(&format!(
                            "\n    {field}: {} defaulted, {} skipped",
                            f["defaulted"], f["skipped"]
                        ));
                    }
                }
                out
            })
        }
        CrmCommand::Pull {
            target: TenantArgs { client, tenant },
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.post(&format!("/v1/tenants/{tenant}/crm/pull")))
                .await?;
            (client, v, |v| {
                format!(
                    "{} records: {} changed, {} conflicts (in the review queue), {} created, {} echoes ignored, {} skipped, {} unusable phone numbers (scrm crm phone-problems)",
                    v["records"],
                    v["changed"],
                    v["conflicts"],
                    v["created"],
                    v["echoes"],
                    v["skipped"],
                    v["phone_problems"]
                )
            })
        }
        CrmCommand::Reviews {
            target: TenantArgs { client, tenant },
            state,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.get(&format!(
                    "/v1/tenants/{tenant}/crm/reviews?state={state}&limit=500"
                )))
                .await?;
            if !client.json {
                for r in v["items"].as_array().into_iter().flatten() {
                    println!("{}", review_line(r));
                }
                return Ok(());
            }
            (client, v, review_line)
        }
        CrmCommand::PhoneProblems {
            target: TenantArgs { client, tenant },
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.get(&format!("/v1/tenants/{tenant}/crm/phone-problems")))
                .await?;
            if !client.json {
                for p in v["items"].as_array().into_iter().flatten() {
                    println!(
                        "{}\t{}\t{}",
                        p["crm_id"].as_str().unwrap_or(""),
                        p["phone"].as_str().unwrap_or(""),
                        p["reason"].as_str().unwrap_or("")
                    );
                }
                return Ok(());
            }
            (client, v, |v| v.to_string())
        }
        CrmCommand::Accept {
            target: TenantArgs { client, tenant },
            id,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.post(&format!("/v1/tenants/{tenant}/crm/reviews/{id}/accept")))
                .await?;
            (client, v, review_line)
        }
        CrmCommand::Revert {
            target: TenantArgs { client, tenant },
            id,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.post(&format!("/v1/tenants/{tenant}/crm/reviews/{id}/revert")))
                .await?;
            (client, v, review_line)
        }
    };
    if client.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", line(&v));
    }
    Ok(())
}
