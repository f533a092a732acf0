//! `scrm serve`.

use super::ServeArgs;
use crate::config::{Overrides, SecretString, Settings};
use anyhow::Context;
use tracing_subscriber::EnvFilter;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SCRM_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let overrides = Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        admin_token: std::env::var("SCRM_ADMIN_TOKEN")
            .ok()
            .map(SecretString::from),
        compile_cache_dir: std::env::var_os("SCRM_COMPILE_CACHE_DIR").map(Into::into),
        graph_url: args.graph_url,
        database_url: args.database_url.map(SecretString::from),
        secrets_key: std::env::var("SCRM_SECRETS_KEY")
            .ok()
            .map(SecretString::from),
        public_url: args.public_url,
        trusted_proxies: std::env::var("SCRM_TRUSTED_PROXIES")
            .ok()
            .map(|v| v.split(',').map(str::to_string).collect()),
        smtp_url: std::env::var("SCRM_SMTP_URL").ok().map(SecretString::from),
        smtp_from: std::env::var("SCRM_SMTP_FROM").ok(),
    };
    let settings = Settings::load(args.config.as_deref(), overrides)?;
    let running = crate::server::start(settings.clone())
        .await
        .context("cannot start")?;
    println!(
        "scrm {} listening on http://{}",
        env!("CARGO_PKG_VERSION"),
        running.local_addr
    );
    println!(
        "data directory: {}",
        std::fs::canonicalize(&settings.data_dir)
            .unwrap_or(settings.data_dir.clone())
            .display()
    );
    println!("database: {}", settings.database());
    match &settings.public_url {
        Some(url) => println!("public URL: {url} (links in messages are tracked)"),
        None => println!("public URL: none (set SCRM_PUBLIC_URL to track links in messages)"),
    }
    if let Some(token) = &running.generated_token {
        println!("operator token (shown once; keep it, e.g. export SCRM_ADMIN_TOKEN={token}):");
        println!("  {token}");
    }
    running
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
            println!("shutting down");
        })
        .await
}
