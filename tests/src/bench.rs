//! Pieces the benchmarks share: a plugin runtime without a server, components built
//! from `plugins/`, bindings and a sample message.

use scrm::config::PluginLimits;
use scrm_engine::BindingSpec;
use scrm_engine::PluginHost;
use scrm_store::contacts::Contact;
use scrm_wire::payload::{self, Event, InboundMessage};
use std::path::Path;

/// A plugin runtime with default limits, keeping its files under `dir`.
pub fn plugin_host(dir: &Path) -> PluginHost {
    PluginHost::new(
        PluginLimits::default(),
        dir.join("components"),
        dir.join("cache"),
    )
    .expect("plugin host")
}

/// Builds the plugin `package`, stores and compiles it in `host`; its SHA-256.
pub fn install(host: &PluginHost, package: &str) -> String {
    install_file(host, &crate::guest(package))
}

/// Installs the component at `path` in `host`; its sha256.
pub fn install_file(host: &PluginHost, path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read component");
    let (inspected, _) = host.inspect(&bytes).expect("inspect");
    host.save_component(&inspected.sha256, &bytes)
        .expect("save component");
    inspected.sha256
}

/// An active binding of `sha` (named `name`) in `slot` of `tenant`.
pub fn binding(tenant: &str, slot: &str, sha: &str, name: &str, config: &[u8]) -> BindingSpec {
    BindingSpec {
        tenant_id: tenant.into(),
        slot: slot.into(),
        version: 1,
        sha256: sha.into(),
        name: name.into(),
        config: config.to_vec(),
        limits: serde_json::json!({}),
        http: serde_json::json!({}),
        quarantine: None,
    }
}

/// An inbound text message with `text`, parsed from a webhook body.
pub fn message(text: &str) -> InboundMessage {
    let body = crate::text_webhook("1", "393471234567", &[("wamid.b", text)]);
    match payload::parse(&body).expect("parse").events().remove(0) {
        Event::Message(m) => m,
        other => panic!("unexpected event {other:?}"),
    }
}

/// A contact to send messages from.
pub fn contact() -> Contact {
    Contact {
        id: 1,
        wa_id: Some("393471234567".into()),
        user_id: None,
        phone: Some("+393471234567".into()),
        name: Some("Bench".into()),
        created_at: 0,
        updated_at: 0,
        merged_into: None,
    }
}

/// A size a benchmark reads from the environment (`1_000_000` allowed), else `default`.
pub fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile (0.0–1.0) of `sorted` durations, nearest rank.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
