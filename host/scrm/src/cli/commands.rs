//! The client commands: app (add, list, set, health), tenant, plugin, replay.

use super::client::{Client, send_raw};
use super::{
    AppCommand, InstallArgs, PluginCommand, ReplayArgs, SecretCommand, TenantArgs, TenantCommand,
};
use anyhow::{Context, anyhow};
use scrm_wire::signature;
use serde_json::{Value, json};

fn print(json_out: bool, v: &Value, table: impl FnOnce(&Value)) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        table(v);
    }
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    items_of(v, "items")
}

fn items_of<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    v[key].as_array().into_iter().flatten()
}

pub async fn app(cmd: AppCommand) -> anyhow::Result<()> {
    match cmd {
        AppCommand::Add {
            client,
            id,
            app_secret,
            verify_token,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.post("/v1/apps").json(&json!({
                    "id": id, "app_secret": app_secret, "verify_token": verify_token
                })))
                .await?;
            print(client.json, &v, |v| {
                println!("app {} added", v["id"].as_str().unwrap_or(""))
            });
        }
        AppCommand::List { client } => {
            let c = Client::new(&client);
            let v = c.send(c.get("/v1/apps")).await?;
            print(client.json, &v, |v| {
                println!(
                    "{:<24} {:<14} {:<36} {:<10} BACKUP_GRAPH_URL",
                    "ID", "CREATED_AT", "GRAPH_URL", "VERSION"
                );
                for a in items(v) {
                    let or_default = |k: &str| a[k].as_str().unwrap_or("(default)").to_string();
                    println!(
                        "{:<24} {:<14} {:<36} {:<10} {}",
                        a["id"].as_str().unwrap_or(""),
                        a["created_at"],
                        or_default("graph_url"),
                        or_default("graph_version"),
                        a["backup_graph_url"].as_str().unwrap_or("-"),
                    );
                }
            });
        }
        AppCommand::Set {
            client,
            id,
            graph_url,
            graph_version,
            backup_graph_url,
        } => {
            let mut body = serde_json::Map::new();
            for (k, v) in [
                ("graph_url", graph_url),
                ("graph_version", graph_version),
                ("backup_graph_url", backup_graph_url),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), if v.is_empty() { Value::Null } else { json!(v) });
                }
            }
            if body.is_empty() {
                return Err(anyhow!(
                    "nothing to set: give --graph-url, --graph-version or --backup-graph-url"
                ));
            }
            let c = Client::new(&client);
            let v = c
                .send(
                    c.patch(&format!("/v1/apps/{id}"))
                        .json(&Value::Object(body)),
                )
                .await?;
            print(client.json, &v, |v| {
                println!(
                    "app {}: graph_url {}, graph_version {}, backup_graph_url {}",
                    v["id"].as_str().unwrap_or(""),
                    v["graph_url"].as_str().unwrap_or("(default)"),
                    v["graph_version"].as_str().unwrap_or("(default)"),
                    v["backup_graph_url"].as_str().unwrap_or("-"),
                );
            });
        }
        AppCommand::Health { client, id, probe } => {
            let c = Client::new(&client);
            let v = if probe {
                c.send(c.post(&format!("/v1/apps/{id}/health/probe")))
                    .await?
            } else {
                c.send(c.get(&format!("/v1/apps/{id}/health"))).await?
            };
            print(client.json, &v, |v| {
                println!(
                    "app {}: {} active ({})",
                    v["app"].as_str().unwrap_or(""),
                    v["active"].as_str().unwrap_or(""),
                    v["active_url"].as_str().unwrap_or("")
                );
                println!(
                    "primary {}: {} unhealthy in a row",
                    v["primary"]["url"].as_str().unwrap_or(""),
                    v["primary"]["consecutive_unhealthy"]
                );
                println!(
                    "backup  {}",
                    v["backup"]["url"].as_str().unwrap_or("(none: no failover)")
                );
                println!(
                    "{:<14} {:<8} {:<9} {:>10}  ERROR",
                    "AT", "TARGET", "OUTCOME", "LATENCY_MS"
                );
                for p in v["probes"].as_array().into_iter().flatten() {
                    println!(
                        "{:<14} {:<8} {:<9} {:>10}  {}",
                        p["at"],
                        p["target"].as_str().unwrap_or(""),
                        p["outcome"].as_str().unwrap_or(""),
                        p["latency_ms"],
                        p["error"].as_str().unwrap_or("")
                    );
                }
                for s in v["switches"].as_array().into_iter().flatten() {
                    println!(
                        "switch at {}: {} -> {} ({})",
                        s["at"],
                        s["from"].as_str().unwrap_or(""),
                        s["to"].as_str().unwrap_or(""),
                        s["reason"].as_str().unwrap_or("")
                    );
                }
            });
        }
    }
    Ok(())
}

pub async fn tenant(cmd: TenantCommand) -> anyhow::Result<()> {
    match cmd {
        TenantCommand::Add {
            client,
            id,
            app,
            phone_number_ids,
            region,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.post("/v1/tenants").json(&json!({
                    "id": id, "app": app, "phone_number_ids": phone_number_ids, "region": region
                })))
                .await?;
            print(client.json, &v, |v| {
                println!("tenant {} added", v["id"].as_str().unwrap_or(""));
            });
        }
        TenantCommand::Set {
            target: TenantArgs { client, tenant },
            secret_rotation_days,
            track_links,
            time_zone,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.patch(&format!("/v1/tenants/{tenant}")).json(&json!({
                    "secret_rotation_days": secret_rotation_days,
                    "track_links": track_links,
                    "time_zone": time_zone,
                })))
                .await?;
            print(client.json, &v, |v| {
                println!(
                    "tenant {tenant}: secrets due for rotation after {} days; time zone {}; links {}",
                    v["secret_rotation_days"],
                    v["time_zone"].as_str().unwrap_or("UTC"),
                    if v["track_links"] == true {
                        "tracked"
                    } else {
                        "not tracked"
                    }
                );
            });
        }
        TenantCommand::Health {
            target: TenantArgs { client, tenant },
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.get(&format!("/v1/tenants/{tenant}/health")))
                .await?;
            print(client.json, &v, |v| {
                println!("{}", v["status"].as_str().unwrap_or(""));
                for w in items_of(v, "warnings") {
                    println!(
                        "warning {}: {}",
                        w["code"].as_str().unwrap_or(""),
                        w["message"].as_str().unwrap_or("")
                    );
                }
            });
            if v["status"] != "ok" {
                std::process::exit(5);
            }
        }
        TenantCommand::List { client } => {
            let c = Client::new(&client);
            let v = c.send(c.get("/v1/tenants")).await?;
            print(client.json, &v, |v| {
                println!(
                    "{:<20} {:<20} {:<6} PHONE_NUMBER_IDS",
                    "ID", "APP", "REGION"
                );
                for t in items(v) {
                    let numbers: Vec<&str> = t["phone_number_ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    println!(
                        "{:<20} {:<20} {:<6} {}",
                        t["id"].as_str().unwrap_or(""),
                        t["app_id"].as_str().unwrap_or(""),
                        t["default_region"].as_str().unwrap_or(""),
                        numbers.join(",")
                    );
                }
            });
        }
    }
    Ok(())
}

/// `scrm plugin install`: uploads the component, then binds it with its config,
/// limits and HTTP policy.
async fn install(args: InstallArgs) -> anyhow::Result<()> {
    let InstallArgs {
        target: TenantArgs { client, tenant },
        slot,
        config,
        name,
        limits: limit_args,
        isolation,
        http,
        file,
    } = args;
    let http_policy: Value = match &http {
        Some(p) => serde_json::from_slice(
            &std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        )
        .with_context(|| format!("{} is not JSON", p.display()))?,
        None => json!({}),
    };
    let mut limits = match serde_json::to_value(limit_args.overrides())? {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    if let Some(isolation) = isolation {
        limits.insert("isolation".into(), json!(isolation));
    }
    let bytes = std::fs::read(&file)
        .with_context(|| format!("cannot read component {}", file.display()))?;
    let config = config
        .map(|p| std::fs::read(&p).with_context(|| format!("cannot read config {}", p.display())))
        .transpose()?;
    // Text configs travel as text; binary ones (trained models) as base64.
    let config_field = match config {
        None => json!({}),
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(text) => json!({"config": text}),
            Err(e) => {
                use base64::Engine as _;
                json!({"config_base64": base64::engine::general_purpose::STANDARD.encode(e.into_bytes())})
            }
        },
    };
    let name = name.unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().replace('_', "-"))
            .unwrap_or_else(|| "plugin".into())
    });
    let c = Client::new(&client);
    let comp = c
        .send(
            c.post("/v1/components")
                .query(&[("name", &name)])
                .header("content-type", "application/wasm")
                .body(bytes),
        )
        .await?;
    let sha = comp["sha256"]
        .as_str()
        .ok_or_else(|| anyhow!("the server did not return the component's sha256"))?;
    let v = c
        .send(
            c.put(&format!("/v1/tenants/{tenant}/plugins/{slot}"))
                .json(&{
                    let mut body = config_field;
                    body["sha256"] = json!(sha);
                    body["limits"] = Value::Object(limits);
                    body["http"] = http_policy;
                    body
                }),
        )
        .await?;
    print(client.json, &v, |v| {
        println!(
            "installed {} as {} of tenant {} (version {}, sha256 {})",
            v["name"].as_str().unwrap_or(""),
            v["slot"].as_str().unwrap_or(""),
            v["tenant_id"].as_str().unwrap_or(""),
            v["version"],
            v["sha256"].as_str().unwrap_or(""),
        );
    });
    Ok(())
}

pub async fn plugin(cmd: PluginCommand) -> anyhow::Result<()> {
    match cmd {
        PluginCommand::New {
            name,
            world,
            lang,
            dir,
            sdk,
        } => {
            let (dir, files) = super::scaffold::write(&super::scaffold::NewProject {
                name,
                world,
                lang,
                dir,
                sdk,
            })?;
            for f in files {
                eprintln!("wrote {}", f.display());
            }
            println!("{}", dir.display());
        }
        PluginCommand::Build {
            dir,
            package,
            profile,
            out,
            work_dir,
        } => {
            let options = scrm_engine::build::BuildOptions {
                out,
                work_dir,
                profile: Some(profile),
                package,
            };
            let path = tokio::task::spawn_blocking(move || {
                scrm_engine::build::build_project(&dir, &options, &|step| eprintln!("{step}"))
            })
            .await??;
            println!("{}", path.display());
        }
        PluginCommand::Install(args) => install(args).await?,
        PluginCommand::Run(args) => super::local_plugin::run(args).await?,
        PluginCommand::Inspect(args) => super::local_plugin::inspect(args).await?,
        PluginCommand::Test(args) => super::plugin_test::test(args).await?,
        PluginCommand::Rollback {
            target: TenantArgs { client, tenant },
            slot,
            to,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(
                    c.post(&format!("/v1/tenants/{tenant}/plugins/{slot}/rollback"))
                        .json(&json!({"to": to})),
                )
                .await?;
            print(client.json, &v, |v| {
                println!(
                    "{} of tenant {} is now {} version {}",
                    v["slot"].as_str().unwrap_or(""),
                    v["tenant_id"].as_str().unwrap_or(""),
                    v["name"].as_str().unwrap_or(""),
                    v["version"]
                );
            });
        }
        PluginCommand::Enable {
            target: TenantArgs { client, tenant },
            slot,
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.post(&format!("/v1/tenants/{tenant}/plugins/{slot}/enable")))
                .await?;
            print(client.json, &v, |v| {
                println!(
                    "{} of tenant {} re-enabled ({} version {})",
                    v["slot"].as_str().unwrap_or(""),
                    v["tenant_id"].as_str().unwrap_or(""),
                    v["name"].as_str().unwrap_or(""),
                    v["version"]
                );
            });
        }
        PluginCommand::List {
            target: TenantArgs { client, tenant },
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.get(&format!("/v1/tenants/{tenant}/plugins")))
                .await?;
            print(client.json, &v, |v| {
                println!(
                    "{:<12} {:<8} {:<24} {:<12} SHA256",
                    "SLOT", "VERSION", "NAME", "STATE"
                );
                for b in items(v) {
                    let state = match (b["active"].as_bool(), b["quarantined_at"].is_null()) {
                        (Some(true), true) => "active",
                        (Some(true), false) => "quarantined",
                        _ => "",
                    };
                    println!(
                        "{:<12} {:<8} {:<24} {:<12} {}",
                        b["slot"].as_str().unwrap_or(""),
                        b["version"].as_i64().unwrap_or(0),
                        b["name"].as_str().unwrap_or(""),
                        state,
                        b["sha256"].as_str().unwrap_or("")
                    );
                }
            });
        }
    }
    Ok(())
}

/// Waits until the host's inbox has nothing pending, at most `seconds`.
async fn wait_processed(c: &Client, seconds: u64) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let v = c.send(c.get("/v1/inbox")).await?;
        if v["pending"] == 0 {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            anyhow::bail!(
                "the host has not processed its inbox after {seconds} s ({} bodies pending); see GET /v1/inbox and the host's log",
                v["pending"]
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let c = Client::new(&args.client);
    let http = reqwest::Client::new();
    let mut results = Vec::new();
    for file in &args.files {
        let body =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let sig = match &args.app_secret {
            Some(secret) => signature::sign(secret.as_bytes(), &body),
            None => {
                let v = c
                    .send(
                        c.post(&format!("/v1/apps/{}/signature", args.app))
                            .body(body.clone()),
                    )
                    .await
                    .context("asking the host to sign (or pass --app-secret)")?;
                v["signature"]
                    .as_str()
                    .ok_or_else(|| anyhow!("the host returned no signature"))?
                    .to_string()
            }
        };
        let rb = http
            .post(c.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(body);
        send_raw(rb, &args.client.server)
            .await
            .with_context(|| format!("posting {}", file.display()))?;
        results.push(json!({"file": file.display().to_string(), "status": "accepted"}));
        if !args.client.json {
            println!("{}: accepted", file.display());
        }
    }
    if let Some(seconds) = args.wait {
        wait_processed(&c, seconds).await?;
        if !args.client.json {
            println!("processed");
        }
    }
    if args.client.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"items": results}))?
        );
    }
    Ok(())
}

pub async fn secret(cmd: SecretCommand) -> anyhow::Result<()> {
    match cmd {
        SecretCommand::Set {
            target: TenantArgs { client, tenant },
            name,
            value,
            expires,
        } => {
            let expires_at = expires.as_deref().map(expiry_time).transpose()?;
            let value = match value {
                Some(v) => v,
                None => {
                    let mut v = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut v)
                        .context("reading the secret from stdin")?;
                    v.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let c = Client::new(&client);
            c.send(
                c.put(&format!("/v1/tenants/{tenant}/secrets/{name}"))
                    .json(&json!({"value": value, "expires_at": expires_at})),
            )
            .await?;
            println!("secret {name} of tenant {tenant} set");
        }
        SecretCommand::SetOauth2 {
            target: TenantArgs { client, tenant },
            name,
            token_url,
            client_id,
            client_secret,
            refresh_token,
        } => {
            let c = Client::new(&client);
            c.send(c.put(&format!("/v1/tenants/{tenant}/secrets/{name}")).json(
                &json!({"oauth2": {
                        "token_url": token_url, "client_id": client_id,
                        "client_secret": client_secret, "refresh_token": refresh_token}}),
            ))
            .await?;
            println!(
                "OAuth 2 credential {name} of tenant {tenant} set; its first access token was issued"
            );
        }
        SecretCommand::List {
            target: TenantArgs { client, tenant },
        } => {
            let c = Client::new(&client);
            let v = c
                .send(c.get(&format!("/v1/tenants/{tenant}/secrets")))
                .await?;
            print(client.json, &v, |v| {
                println!("{:<32} {:<7} {:>8}  ROTATION", "NAME", "KIND", "AGE_DAYS");
                for s in items(v) {
                    let renewal = match s["renewal_error"].as_str() {
                        Some(e) => format!("  renewal failing: {e}"),
                        None => String::new(),
                    };
                    println!(
                        "{:<32} {:<7} {:>8}  {}{renewal}",
                        s["name"].as_str().unwrap_or(""),
                        s["kind"].as_str().unwrap_or("value"),
                        s["age_days"],
                        if s["due_for_rotation"] == true {
                            "due"
                        } else {
                            "ok"
                        }
                    );
                }
            });
        }
        SecretCommand::Delete {
            target: TenantArgs { client, tenant },
            name,
        } => {
            let c = Client::new(&client);
            c.send(c.http_delete(&format!("/v1/tenants/{tenant}/secrets/{name}")))
                .await?;
            println!("secret {name} of tenant {tenant} deleted");
        }
    }
    Ok(())
}

/// `2027-01-31` (the end of that day, UTC) or an RFC 3339 time, as RFC 3339.
fn expiry_time(s: &str) -> anyhow::Result<String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_rfc3339());
    }
    let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        anyhow::anyhow!("--expires {s:?} is not a date (2027-01-31) or an RFC 3339 time")
    })?;
    Ok(day
        .and_hms_opt(23, 59, 59)
        .expect("a valid time")
        .and_utc()
        .to_rfc3339())
}
