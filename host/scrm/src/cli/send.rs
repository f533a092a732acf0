//! `scrm send` and `scrm outbox`: sending through a running host's outbox.

use super::client::Client;
use super::{ClientArgs, TenantArgs};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

/// `scrm send`: one message, built from flags or given as a Cloud API message object.
#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// The recipient's phone number (E.164, or national with the tenant's region).
    #[arg(long, required_unless_present_any = ["body_file", "read"])]
    to: Option<String>,
    /// The sending phone_number_id (needed when the tenant has several numbers).
    #[arg(long)]
    from: Option<String>,
    /// A text message.
    #[arg(long, group = "kind")]
    text: Option<String>,
    /// An approved template's name.
    #[arg(long, group = "kind")]
    template: Option<String>,
    /// The template's language code.
    #[arg(long, default_value = "en_US", requires = "template")]
    language: String,
    /// A template body parameter (repeat, in order).
    #[arg(long = "param", requires = "template")]
    params: Vec<String>,
    /// The template's category: marketing (default), utility or authentication.
    #[arg(long, requires = "template")]
    category: Option<String>,
    /// An image by URL.
    #[arg(long, group = "kind")]
    image_link: Option<String>,
    /// An image caption.
    #[arg(long, requires = "image_link")]
    caption: Option<String>,
    /// Mark this received message (wamid) as read.
    #[arg(long, group = "kind")]
    read: Option<String>,
    /// A Cloud API message object from a file (`-` for stdin); other message flags
    /// are not allowed with it.
    #[arg(long = "body", value_name = "FILE", group = "kind")]
    body_file: Option<PathBuf>,
    /// Makes a retried command one send.
    #[arg(long)]
    idempotency_key: Option<String>,
}

/// `scrm outbox`.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List a tenant's sends, optionally in one state (dead = the dead-letter list).
    List {
        #[command(flatten)]
        target: TenantArgs,
        /// queued, sending, sent, needs_template, undeliverable, suppressed, dead, cancelled.
        #[arg(long)]
        state: Option<String>,
    },
    /// Put a dead, suppressed, needs-template or undeliverable send back in the queue.
    Requeue {
        #[command(flatten)]
        target: TenantArgs,
        /// The outbox item's id.
        #[arg(long)]
        id: i64,
    },
    /// Cancel a queued send.
    Cancel {
        #[command(flatten)]
        target: TenantArgs,
        /// The outbox item's id.
        #[arg(long)]
        id: i64,
    },
}

fn body(a: &SendArgs) -> anyhow::Result<Value> {
    let mut body = if let Some(path) = &a.body_file {
        let text = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("reading stdin")?;
            s
        } else {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        };
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?
    } else if let Some(wamid) = &a.read {
        json!({"status": "read", "message_id": wamid})
    } else if let Some(text) = &a.text {
        json!({"type": "text", "text": {"body": text}})
    } else if let Some(name) = &a.template {
        let mut template = json!({"name": name, "language": {"code": a.language}});
        if !a.params.is_empty() {
            let parameters: Vec<Value> = a
                .params
                .iter()
                .map(|p| json!({"type": "text", "text": p}))
                .collect();
            template["components"] = json!([{"type": "body", "parameters": parameters}]);
        }
        let mut b = json!({"type": "template", "template": template});
        if let Some(c) = &a.category {
            b["category"] = json!(c);
        }
        b
    } else if let Some(link) = &a.image_link {
        let mut image = json!({"link": link});
        if let Some(c) = &a.caption {
            image["caption"] = json!(c);
        }
        json!({"type": "image", "image": image})
    } else {
        bail!("say what to send: --text, --template, --image-link, --read or --body FILE");
    };
    if let Some(obj) = body.as_object_mut() {
        if let Some(to) = &a.to {
            obj.insert("to".into(), json!(to));
        }
        if let Some(from) = &a.from {
            obj.insert("from".into(), json!(from));
        }
    }
    Ok(body)
}

fn line(item: &Value) -> String {
    let reason = item["wait_reason"]
        .as_str()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let error = item["last_error"]
        .as_str()
        .map(|e| format!(" — {e}"))
        .unwrap_or_default();
    format!(
        "{:>6}  {:<14} {:<9} {:<14} {}{reason}{error}",
        item["id"],
        item["state"].as_str().unwrap_or(""),
        item["kind"].as_str().unwrap_or(""),
        item["to"].as_str().unwrap_or(""),
        item["wamid"].as_str().unwrap_or(""),
    )
}

/// Runs `scrm send`.
pub async fn send(a: SendArgs) -> anyhow::Result<()> {
    let body = body(&a)?;
    let c = Client::new(&a.client);
    let mut rb = c
        .post(&format!("/v1/tenants/{}/messages", a.tenant))
        .json(&body);
    if let Some(k) = &a.idempotency_key {
        rb = rb.header("Idempotency-Key", k);
    }
    let item = c.send(rb).await?;
    if a.client.json {
        println!("{}", serde_json::to_string_pretty(&item)?);
    } else {
        println!(
            "queued as outbox item {} ({}{})",
            item["id"],
            item["state"].as_str().unwrap_or(""),
            item["wait_reason"]
                .as_str()
                .map(|r| format!(", waiting: {r}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// Runs `scrm outbox …`.
pub async fn outbox(cmd: OutboxCommand) -> anyhow::Result<()> {
    let (client, v) = match cmd {
        OutboxCommand::List {
            target: TenantArgs { client, tenant },
            state,
        } => {
            let c = Client::new(&client);
            let path = match state {
                Some(s) => format!("/v1/tenants/{tenant}/outbox?state={s}&limit=500"),
                None => format!("/v1/tenants/{tenant}/outbox?limit=500"),
            };
            let v = c.send(c.get(&path)).await?;
            if !client.json {
                for item in v["items"].as_array().into_iter().flatten() {
                    println!("{}", line(item));
                }
                return Ok(());
            }
            (client, v)
        }
        OutboxCommand::Requeue {
            target: TenantArgs { client, tenant },
            id,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.post(&format!("/v1/tenants/{tenant}/outbox/{id}/requeue")))
                .await?;
            (client, v)
        }
        OutboxCommand::Cancel {
            target: TenantArgs { client, tenant },
            id,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.post(&format!("/v1/tenants/{tenant}/outbox/{id}/cancel")))
                .await?;
            (client, v)
        }
    };
    if client.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", line(&v));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: SendArgs,
    }

    #[test]
    fn builds_a_template_with_parameters_and_category() {
        let t = T::parse_from([
            "t",
            "--tenant",
            "acme",
            "--to",
            "+393471234567",
            "--template",
            "order_update",
            "--language",
            "it",
            "--param",
            "42",
            "--category",
            "utility",
        ]);
        let b = body(&t.a).unwrap();
        assert_eq!(
            b["template"]["components"][0]["parameters"][0]["text"],
            "42"
        );
        assert_eq!(b["category"], "utility");
        assert_eq!(b["to"], "+393471234567");
    }

    #[test]
    fn refuses_two_kinds_at_once() {
        assert!(
            T::try_parse_from([
                "t",
                "--tenant",
                "a",
                "--to",
                "1",
                "--text",
                "x",
                "--template",
                "y"
            ])
            .is_err()
        );
    }
}
