//! Configuration: built-in defaults, then a TOML file (`--config`), then `SCRM_*`
//! environment variables and command-line flags. Parsed once, validated into
//! [`Settings`].
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "./scrm-data"
//! # admin_token = "…"          # else generated at first start and printed once
//! # compile_cache_dir = "…"    # default <data_dir>/cache
//! # media_dir = "…"            # default <data_dir>/media; shared by every host
//! # database_url = "postgres://scrm:…@db.internal/scrm"   # default: SQLite in data_dir
//! # database_pool = 16         # PostgreSQL connections per host
//! # secrets_key_file = "…"     # default <data_dir>/secrets.key; or SCRM_SECRETS_KEY
//! # public_url = "https://crm.example.com"   # or SCRM_PUBLIC_URL; turns on tracked links
//! # trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]  # or SCRM_TRUSTED_PROXIES (comma-separated)
//!
//! [plugins]
//! deadline_ms = 200            # CPU deadline per plugin call
//! memory_mib = 64              # memory cap per plugin instance
//! log_records_per_call = 32
//!
//! [whatsapp]
//! graph_url = "https://graph.facebook.com"   # or --graph-url / SCRM_GRAPH_URL
//! graph_version = "v23.0"
//! probe_interval_secs = 3600   # Cloud API health probe per app (see docs/sending.md)
//! probe_slow_ms = 1500         # slower answers are unhealthy
//! probe_failures_to_switch = 3 # unhealthy probes in a row → the app's backup URL
//!
//! [smtp]                       # reports and alerts by email (docs/analytics.md)
//! url = "smtp://mail.example.com:587?tls=required"   # or SCRM_SMTP_URL
//! from = "scrm <reports@example.com>"                # or SCRM_SMTP_FROM
//!
//! [whatsapp.limits]            # defaults; tenants and numbers override them
//! daily_cap = 1000             # 250, 2000, 10000, 100000 or "unlimited"
//! mps = 80                     # messages per second per number (up to 1000)
//! ```

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub mod endpoints;
mod public_url;
mod smtp;
mod whatsapp;

pub use public_url::{InvalidPublicUrl, PublicUrl};
pub use scrm_engine::{LimitOverrides, PluginLimits};
pub use secrecy::SecretString;
pub use smtp::{Smtp, SmtpFile};
pub use whatsapp::{InvalidProbeSettings, ProbeSettings, SendSettings};

/// The configuration file's shape. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on (default 127.0.0.1:8080).
    pub listen: Option<SocketAddr>,
    /// Directory holding the SQLite file and plugin components (default ./scrm-data).
    pub data_dir: Option<PathBuf>,
    /// The operator's bearer token for the admin API (default: generated once).
    pub admin_token: Option<SecretString>,
    /// Where compiled plugin code is cached (default: `<data_dir>/cache`).
    pub compile_cache_dir: Option<PathBuf>,
    /// Where media files are kept (default: `<data_dir>/media`). Hosts sharing a
    /// PostgreSQL database must share this directory too.
    pub media_dir: Option<PathBuf>,
    /// A PostgreSQL database to use instead of the SQLite file in the data
    /// directory (`postgres://user:password@host:port/db`).
    pub database_url: Option<SecretString>,
    /// PostgreSQL connections per host (default 16).
    pub database_pool: Option<u32>,
    /// The file holding the key tenant secrets are sealed with (default
    /// `<data_dir>/secrets.key`, created at first start). `SCRM_SECRETS_KEY` wins.
    pub secrets_key_file: Option<PathBuf>,
    /// The address the world reaches this host at, behind its TLS proxy
    /// (`https://crm.example.com`). With it, links in outbound messages are tracked
    /// through `{public_url}/l/{token}` (docs/links.md); without it, none are.
    pub public_url: Option<String>,
    /// The reverse proxies in front of this host (addresses or CIDR ranges): for a
    /// request from one of them, the client is read from `X-Forwarded-For` (audit
    /// log, login rate limit, sessions). Default none: the peer address is used.
    pub trusted_proxies: Option<Vec<String>>,
    /// Limits for plugin calls.
    #[serde(default)]
    pub plugins: PluginLimits,
    /// The Cloud API, retries and WhatsApp's sending limits (`[whatsapp]`,
    /// `[whatsapp.limits]`).
    #[serde(default)]
    pub whatsapp: crate::config::SendSettings,
    /// Automation: timers' settle delay, batch size, attempts (`[flows]`).
    #[serde(default)]
    pub flows: FlowSettings,
    /// The webhook relay's retries (`[relay]`).
    #[serde(default)]
    pub relay: crate::relay::RelaySettings,
    #[serde(default)]
    pub smtp: SmtpFile,
}

/// The automation settings (`[flows]` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowSettings {
    /// How long after its due time a timer is evaluated, ms: data arriving at the
    /// same moment (the order that lands a second before the deadline) is seen.
    pub settle_ms: u64,
    /// Events and timers claimed per round.
    pub batch: usize,
    /// Failed attempts before an event is given up (kept as `failed`).
    pub max_attempts: u32,
    /// The first retry's wait after a failed attempt, ms; it doubles with each
    /// attempt, up to an hour.
    pub retry_ms: u64,
    /// The model endpoints flows may name (`endpoints = ["api.openai.com",
    /// "127.0.0.1:11434", "*.openai.azure.com"]`); empty: any.
    pub endpoints: endpoints::Allowlist,
}

impl Default for FlowSettings {
    fn default() -> Self {
        FlowSettings {
            settle_ms: 5_000,
            batch: 256,
            max_attempts: 8,
            retry_ms: 5_000,
            endpoints: endpoints::Allowlist::default(),
        }
    }
}

/// Validated runtime settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// The operator token, when configured (else the stored, generated one is used).
    pub admin_token: Option<SecretString>,
    /// Where compiled plugin code is cached.
    pub compile_cache_dir: PathBuf,
    /// Plugin call limits.
    pub plugins: PluginLimits,
    /// Sending: Cloud API endpoint, retries, limits.
    pub whatsapp: crate::config::SendSettings,
    /// Automation settings.
    pub flows: FlowSettings,
    /// The webhook relay's retries.
    pub relay: crate::relay::RelaySettings,
    /// Where media files are kept.
    pub media_dir: PathBuf,
    /// The PostgreSQL database, when one is configured; else the SQLite file.
    pub database_url: Option<SecretString>,
    /// PostgreSQL connections per host.
    pub database_pool: u32,
    /// The key tenant secrets are sealed with, when given in the environment.
    pub secrets_key: Option<SecretString>,
    /// Else the file it is read from (created with a new key when missing).
    pub secrets_key_file: PathBuf,
    /// Where tracked links point (`{public_url}/l/{token}`); none: links are not
    /// tracked.
    pub public_url: Option<PublicUrl>,
    /// The reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where reports and alerts are emailed from; none: nothing is emailed.
    pub smtp: Option<Smtp>,
}

/// Values from the environment or the command line; they win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen` / `SCRM_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir` / `SCRM_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `SCRM_ADMIN_TOKEN`.
    pub admin_token: Option<SecretString>,
    /// `SCRM_COMPILE_CACHE_DIR`.
    pub compile_cache_dir: Option<PathBuf>,
    /// `--graph-url` / `SCRM_GRAPH_URL`: the Cloud API base URL.
    pub graph_url: Option<String>,
    /// `--database-url` / `SCRM_DATABASE_URL`: a PostgreSQL database.
    pub database_url: Option<SecretString>,
    /// `SCRM_SECRETS_KEY`: the key tenant secrets are sealed with (32 bytes, base64
    /// or hex).
    pub secrets_key: Option<SecretString>,
    /// `--public-url` / `SCRM_PUBLIC_URL`: the host's public address (tracked links).
    pub public_url: Option<String>,
    /// `SCRM_TRUSTED_PROXIES`: the reverse proxies, comma-separated.
    pub trusted_proxies: Option<Vec<String>>,
    /// `SCRM_SMTP_URL`: the SMTP server reports and alerts are emailed through.
    pub smtp_url: Option<SecretString>,
    /// `SCRM_SMTP_FROM`: their sender.
    pub smtp_from: Option<String>,
}

/// Errors reading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the location.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "scrm-data";

/// Addresses (`10.0.0.5`, `::1`) and CIDR ranges (`10.0.0.0/8`).
fn parse_proxies(items: &[String]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError::Invalid(format!(
                        "trusted_proxies: {s:?} is not an IP address or CIDR range"
                    ))
                })
        })
        .collect()
}

impl Settings {
    /// Layers defaults, the optional file and the overrides, then validates.
    ///
    /// # Errors
    /// When the file cannot be read or parsed, or a value is out of range.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Settings, ConfigError> {
        let fc = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        let data_dir = overrides
            .data_dir
            .or(fc.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let public_url = overrides
            .public_url
            .or(fc.public_url)
            .filter(|u| !u.trim().is_empty())
            .map(|u| PublicUrl::parse(&u))
            .transpose()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let trusted_proxies = parse_proxies(
            &overrides
                .trusted_proxies
                .or(fc.trusted_proxies)
                .unwrap_or_default(),
        )?;
        let smtp = Smtp::resolve(fc.smtp, overrides.smtp_url, overrides.smtp_from)?;
        let settings = Settings {
            smtp,
            public_url,
            trusted_proxies,
            compile_cache_dir: overrides
                .compile_cache_dir
                .or(fc.compile_cache_dir)
                .unwrap_or_else(|| data_dir.join("cache")),
            media_dir: fc.media_dir.unwrap_or_else(|| data_dir.join("media")),
            secrets_key_file: fc
                .secrets_key_file
                .unwrap_or_else(|| data_dir.join("secrets.key")),
            secrets_key: overrides
                .secrets_key
                .filter(|k| !k.expose_secret().trim().is_empty()),
            data_dir,
            listen: overrides
                .listen
                .or(fc.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address")),
            admin_token: overrides.admin_token.or(fc.admin_token),
            plugins: fc.plugins,
            flows: fc.flows,
            relay: fc.relay,
            whatsapp: crate::config::SendSettings {
                graph_url: overrides.graph_url.unwrap_or(fc.whatsapp.graph_url.clone()),
                ..fc.whatsapp
            },
            database_url: overrides
                .database_url
                .or(fc.database_url)
                .filter(|u| !u.expose_secret().trim().is_empty()),
            database_pool: fc.database_pool.unwrap_or(scrm_store::DEFAULT_POOL),
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let f = &self.flows;
        if f.settle_ms > 3_600_000
            || !(1..=10_000).contains(&f.batch)
            || f.max_attempts == 0
            || !(1..=3_600_000).contains(&f.retry_ms)
        {
            return Err(ConfigError::Invalid(format!(
                "flows: settle_ms must be 0..=3600000, batch 1..=10000, max_attempts at least 1 \
                 and retry_ms 1..=3600000, got {}, {}, {}, {}",
                f.settle_ms, f.batch, f.max_attempts, f.retry_ms
            )));
        }
        f.endpoints
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("flows: endpoints: {e}")))?;
        let r = &self.relay;
        if r.max_attempts == 0 || r.backoff_base_ms == 0 || !(1..=120_000).contains(&r.timeout_ms) {
            return Err(ConfigError::Invalid(format!(
                "relay: max_attempts and backoff_base_ms must be at least 1 and timeout_ms \
                 1..=120000, got {}, {}, {}",
                r.max_attempts, r.backoff_base_ms, r.timeout_ms
            )));
        }
        let p = &self.plugins;
        if !(1..=60_000).contains(&p.deadline_ms) {
            return Err(ConfigError::Invalid(format!(
                "plugins.deadline_ms must be 1..=60000, got {}",
                p.deadline_ms
            )));
        }
        if !(1..=4096).contains(&p.memory_mib) {
            return Err(ConfigError::Invalid(format!(
                "plugins.memory_mib must be 1..=4096, got {}",
                p.memory_mib
            )));
        }
        if p.output_kib == 0 {
            return Err(ConfigError::Invalid(
                "plugins.output_kib must be > 0".into(),
            ));
        }
        let w = &self.whatsapp;
        if !(w.graph_url.starts_with("http://") || w.graph_url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "whatsapp.graph_url must be an http(s) URL, got {:?}",
                w.graph_url
            )));
        }
        if w.max_attempts == 0 || w.request_timeout_ms == 0 || w.backoff_base_ms == 0 {
            return Err(ConfigError::Invalid(
                "whatsapp.max_attempts, request_timeout_ms and backoff_base_ms must be > 0".into(),
            ));
        }
        w.limits
            .check()
            .map_err(|e| ConfigError::Invalid(format!("whatsapp.limits.{e}")))?;
        crate::config::ProbeSettings::from_send_settings(w)
            .map_err(|e| ConfigError::Invalid(format!("whatsapp.{e}")))?;
        if let Some(url) = &self.database_url {
            let url = url.expose_secret();
            if !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.contains("host="))
            {
                return Err(ConfigError::Invalid(format!(
                    "database_url must be a PostgreSQL URL (postgres://…), got {:?}",
                    scrm_store::mask_url(url)
                )));
            }
        }
        if !(1..=1000).contains(&self.database_pool) {
            return Err(ConfigError::Invalid(format!(
                "database_pool must be 1..=1000, got {}",
                self.database_pool
            )));
        }
        if let Some(t) = &self.admin_token
            && t.expose_secret().len() < 16
        {
            return Err(ConfigError::Invalid(
                "admin token must be at least 16 characters".into(),
            ));
        }
        Ok(())
    }

    /// The SQLite file inside the data directory.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("scrm.db")
    }

    /// Where the data is, for messages: the SQLite file, or the PostgreSQL URL
    /// with its password masked.
    pub fn database(&self) -> String {
        match &self.database_url {
            Some(url) => scrm_store::mask_url(url.expose_secret()),
            None => self.db_path().display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_flags_override_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scrm.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/tmp/x\"\n[plugins]\ndeadline_ms = 50\n",
        )
        .unwrap();
        let s = Settings::load(Some(&path), Overrides::default()).unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.plugins.deadline_ms, 50);
        assert_eq!(s.plugins.memory_mib, 64);
        let s = Settings::load(
            Some(&path),
            Overrides {
                listen: Some("127.0.0.1:9001".parse().unwrap()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(s.listen.port(), 9001);
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scrm.toml");
        std::fs::write(&path, "listne = \"127.0.0.1:9000\"\n").unwrap();
        let err = Settings::load(Some(&path), Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("unknown field `listne`"), "{err}");
        std::fs::write(&path, "[plugins]\nmemory_mib = 0\n").unwrap();
        let err = Settings::load(Some(&path), Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("memory_mib"), "{err}");
    }

    #[test]
    fn public_url_comes_from_the_file_or_the_environment_and_is_validated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scrm.toml");
        let s = Settings::load(None, Overrides::default()).unwrap();
        assert_eq!(s.public_url, None, "no public URL: no tracked links");
        std::fs::write(&path, "public_url = \"https://crm.example.com/\"\n").unwrap();
        let s = Settings::load(Some(&path), Overrides::default()).unwrap();
        assert_eq!(
            s.public_url.as_ref().map(PublicUrl::as_str),
            Some("https://crm.example.com")
        );
        let env = |url: &str| Overrides {
            public_url: Some(url.into()),
            ..Overrides::default()
        };
        let s = Settings::load(Some(&path), env("http://10.1.2.3:8080")).unwrap();
        assert_eq!(s.public_url.unwrap().as_str(), "http://10.1.2.3:8080");
        let s = Settings::load(Some(&path), env("")).unwrap();
        assert_eq!(s.public_url, None, "an empty value turns the file's off");
        let err = Settings::load(None, env("crm.example.com/x?y=1")).unwrap_err();
        assert!(
            err.to_string()
                .contains("public_url must be an absolute http(s) URL"),
            "{err}"
        );
        std::fs::write(&path, "public_url = \"https://crm.example.com/#x\"\n").unwrap();
        let err = Settings::load(Some(&path), Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("fragment"), "{err}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scrm.toml");
        std::fs::write(
            &path,
            "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n",
        )
        .unwrap();
        let s = Settings::load(Some(&path), Overrides::default()).unwrap();
        let shown: Vec<String> = s.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        let env = Overrides {
            trusted_proxies: Some(vec!["192.168.1.0/24".into(), " ".into()]),
            ..Overrides::default()
        };
        let s = Settings::load(Some(&path), env).unwrap();
        assert_eq!(s.trusted_proxies.len(), 1, "the environment wins");
        std::fs::write(&path, "trusted_proxies = [\"proxy.internal\"]\n").unwrap();
        let err = Settings::load(Some(&path), Overrides::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("\"proxy.internal\" is not an IP address"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = SecretString::from("hunter2-hunter2-hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
