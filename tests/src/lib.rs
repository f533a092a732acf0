//! The one end-to-end harness: a real host on `127.0.0.1:0` over a temporary SQLite
//! file or a fresh PostgreSQL database ([`backend`], [`both_backends!`]), real
//! plugins built from `plugins/` for wasm32-wasip2, real HTTP.
//!
//! Guests are built once per test process (and cargo makes later processes no-ops),
//! into `target/guests`, separate from the host's target directory so that the
//! nested cargo never waits on the outer one's lock.

pub mod aftership;
pub mod backend;
pub mod bench;
pub mod browser;
pub mod catcher;
pub mod chat;
pub mod crm;
pub mod fleet;
pub mod flows;
pub mod geocoding;
pub mod graph;
pub mod hubspot;
pub mod jsclient;
pub mod oauth;
pub mod orders;
pub mod polyglot;
pub mod prism;
pub mod proc;
pub mod pywa;
pub mod salesforce;
pub mod serve;
pub mod smtp;
pub mod tryton;
pub mod tryton_sales;
pub mod zoho;

use anyhow::{Context, Result, bail};
use reqwest::StatusCode;
use scrm::config::{Overrides, PluginLimits, SecretString, Settings};
use scrm::server::Running;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The operator token every test host uses.
pub const TOKEN: &str = "test-operator-token-0123456789";
/// The app secret of the default test app.
pub const APP_SECRET: &str = "test-app-secret-0123456789abcdef";
/// The verify token of the default test app.
pub const VERIFY_TOKEN: &str = "test-verify-token";
/// The phone_number_id used by every fixture in ../shared/fixtures/webhooks.
pub const FIXTURE_PNID: &str = "106540352242922";

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared webhook fixtures directory.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("../shared/fixtures/webhooks")
}

/// A webhook fixture's bytes, by file stem.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()))
}

/// Builds the Rust plugin `package` from `plugins/` once per process; its path.
pub fn guest(package: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = built.get(package) {
        return p.clone();
    }
    let root = repo_root();
    let path =
        scrm_engine::build::build_rust_plugin(&root, package, "guest", &root.join("target/guests"))
            .unwrap_or_else(|e| panic!("building plugin {package}: {e}"));
    built.insert(package.to_string(), path.clone());
    path
}

/// Sends the hosts' logs to standard error (shown with a failing test) when
/// `SCRM_TEST_LOG` is set, with its value as the filter (`SCRM_TEST_LOG=warn`).
fn log_to_stderr() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if let Ok(filter) = std::env::var("SCRM_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

/// A running test host.
#[derive(Debug)]
pub struct Host {
    /// The running server.
    pub running: Option<Running>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The data directory (kept for restarts).
    pub data_dir: PathBuf,
    /// The PostgreSQL database, when the host runs on one (restarts reconnect to it).
    pub database_url: Option<String>,
    _tmp: Option<tempfile::TempDir>,
}

impl Host {
    /// A view of a host running elsewhere (another process, see [`fleet`]) at
    /// `base`, for its HTTP API.
    pub fn remote(base: &str, data_dir: &Path) -> Host {
        Host {
            running: None,
            base: base.to_string(),
            http: reqwest::Client::new(),
            data_dir: data_dir.to_path_buf(),
            database_url: None,
            _tmp: None,
        }
    }

    /// Starts a host on a fresh data directory with default limits.
    pub async fn start() -> Host {
        Host::start_with(PluginLimits::default()).await
    }

    /// Starts a host on a fresh data directory with `limits`.
    pub async fn start_with(limits: PluginLimits) -> Host {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut h = Host::start_in(&dir, limits).await;
        h._tmp = Some(tmp);
        h
    }

    /// Starts a host on `data_dir` (which may hold a previous host's data).
    pub async fn start_in(data_dir: &Path, limits: PluginLimits) -> Host {
        Host::start_configured(data_dir, |s| s.plugins = limits).await
    }

    /// Starts a host on a fresh data directory (removed with it), with settings
    /// changed by `configure`.
    pub async fn start_configured_temp(configure: impl FnOnce(&mut Settings)) -> Host {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut h = Host::start_configured(&dir, configure).await;
        h._tmp = Some(tmp);
        h
    }

    /// Starts a host on `data_dir` with settings adjusted by `configure` (for
    /// example `s.whatsapp.graph_url` pointing at a local Cloud API server).
    ///
    /// On the PostgreSQL [`backend`] the host uses the database paired with
    /// `data_dir`: a fresh one the first time, the same one on a restart.
    pub async fn start_configured(data_dir: &Path, configure: impl FnOnce(&mut Settings)) -> Host {
        Host::try_start_configured(data_dir, configure)
            .await
            .expect("start host")
    }

    /// [`Host::start_configured`], returning why the host refused to start.
    ///
    /// # Errors
    /// The host's start-up error.
    pub async fn try_start_configured(
        data_dir: &Path,
        configure: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Host> {
        log_to_stderr();
        let database_url = backend::database_for(data_dir);
        let mut settings = Settings::load(
            None,
            Overrides {
                listen: Some("127.0.0.1:0".parse().expect("addr")),
                data_dir: Some(data_dir.to_path_buf()),
                admin_token: Some(SecretString::from(TOKEN)),
                // One cache for every test host: each component compiles once per run.
                compile_cache_dir: Some(repo_root().join("target/compile-cache")),
                graph_url: None,
                database_url: database_url.clone().map(SecretString::from),
                secrets_key: None,
                public_url: None,
                trusted_proxies: None,
                smtp_url: None,
                smtp_from: None,
            },
        )
        .expect("settings");
        configure(&mut settings);
        let running = scrm::server::start(settings).await?;
        let on_postgres = running.state.db.dialect() == scrm_store::Dialect::Postgres;
        assert_eq!(
            on_postgres,
            backend::current() == backend::Backend::Postgres,
            "the host runs on {}, not on the test's backend",
            running.state.db.location()
        );
        Ok(Host {
            base: format!("http://{}", running.local_addr),
            running: Some(running),
            http: reqwest::Client::new(),
            data_dir: data_dir.to_path_buf(),
            database_url,
            _tmp: None,
        })
    }

    /// The running host's store, for tests that read or write rows directly.
    ///
    /// # Panics
    /// When the host is stopped.
    pub fn db(&self) -> scrm_store::Db {
        self.running
            .as_ref()
            .expect("the host is running")
            .state
            .db
            .clone()
    }

    /// Runs `f` with a connection to the running host's database on the blocking
    /// pool: PostgreSQL's synchronous driver must not run on an async worker.
    ///
    /// # Errors
    /// Whatever `f` returns.
    ///
    /// # Panics
    /// When the host is stopped or the blocking task dies.
    pub async fn with_conn<R: Send + 'static>(
        &self,
        f: impl FnOnce(&scrm_store::Conn<'_>) -> Result<R, scrm_store::StoreError> + Send + 'static,
    ) -> Result<R, scrm_store::StoreError> {
        let db = self.db();
        tokio::task::spawn_blocking(move || db.with_conn(f))
            .await
            .expect("the blocking task")
    }

    /// Stops the host, keeping its data directory for [`Host::restart`].
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("stop host");
        }
    }

    /// Stops and starts the host again on the same data directory.
    pub async fn restart(mut self) -> Host {
        self.stop().await;
        let mut h = Host::start_in(&self.data_dir, PluginLimits::default()).await;
        h._tmp = self._tmp.take();
        h
    }

    /// Calls the admin/read API with the operator token.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.api_as(TOKEN, method, path, body).await
    }

    /// Calls the API with bearer token `token` (a tenant's API token).
    pub async fn api_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A host whose Cloud API is `graph_url` (fast retries: 50 ms back-off, 2
    /// attempts), with tenant `acme` owning `pn` and holding the local Graph's access
    /// token: how the sending tests start.
    pub async fn sending_to(dir: &Path, graph_url: &str, pn: &str) -> Host {
        let host = Host::start_configured(dir, |s| {
            s.whatsapp.graph_url = graph_url.to_owned();
            s.whatsapp.backoff_base_ms = 50;
            s.whatsapp.max_attempts = 2;
        })
        .await;
        host.tenant("acme", &[pn], "IT").await;
        host.ok(
            "PUT",
            "/v1/tenants/acme/secrets/whatsapp_access_token",
            Some(json!({"value": graph::ACCESS_TOKEN})),
        )
        .await;
        host
    }

    /// Runs the `scrm` command line against this host as the operator (without
    /// blocking the runtime); its stdout.
    ///
    /// # Panics
    /// When the binary cannot run or exits unsuccessfully (with its stderr).
    pub async fn cli(&self, args: &[&str]) -> String {
        let bin = fleet::scrm_binary().expect("the scrm binary");
        let out = tokio::process::Command::new(bin)
            .args(args)
            .env("SCRM_SERVER", &self.base)
            .env("SCRM_ADMIN_TOKEN", TOKEN)
            .output()
            .await
            .expect("run scrm");
        assert!(
            out.status.success(),
            "scrm {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Calls the API and insists on a 2xx answer.
    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.api(method, path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }

    /// Adds a person of `tenant` with `role` (in `team`, if any) and a token acting
    /// for them; their id and the token.
    pub async fn person_token(
        &self,
        tenant: &str,
        email: &str,
        role: &str,
        team: Option<i64>,
    ) -> (i64, String) {
        let teams: Vec<i64> = team.into_iter().collect();
        let body =
            json!({"email": email, "name": email.split('@').next(), "role": role, "teams": teams});
        let p = self
            .ok("POST", &format!("/v1/tenants/{tenant}/people"), Some(body))
            .await;
        let id = p["id"].as_i64().expect("the person's id");
        let t = self
            .ok(
                "POST",
                &format!("/v1/tenants/{tenant}/tokens"),
                Some(json!({"person": id})),
            )
            .await;
        (id, t["token"].as_str().expect("the token").to_string())
    }

    /// The id of `tenant`'s conversation with customer `wa_id`, as the inbox lists it.
    pub async fn conversation_of(&self, tenant: &str, wa_id: &str) -> i64 {
        let list = self
            .ok(
                "GET",
                &format!("/v1/tenants/{tenant}/inbox/conversations"),
                None,
            )
            .await;
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["wa_id"] == wa_id)
            .and_then(|c| c["id"].as_i64())
            .unwrap_or_else(|| panic!("no conversation with {wa_id}: {list}"))
    }

    /// Adds team `name` to `tenant`; its id.
    pub async fn team(&self, tenant: &str, name: &str) -> i64 {
        self.ok(
            "POST",
            &format!("/v1/tenants/{tenant}/teams"),
            Some(json!({"name": name})),
        )
        .await["id"]
            .as_i64()
            .expect("the team's id")
    }

    /// Adds the default app (`app1`) and a tenant owning `pnids`.
    pub async fn tenant(&self, tenant: &str, pnids: &[&str], region: &str) {
        let (status, _) = self.api("GET", "/v1/apps", None).await;
        assert!(status.is_success());
        let apps = self.ok("GET", "/v1/apps", None).await;
        if !apps["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["id"] == "app1"))
        {
            self.ok(
                "POST",
                "/v1/apps",
                Some(json!({"id": "app1", "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN})),
            )
            .await;
        }
        self.ok(
            "POST",
            "/v1/tenants",
            Some(json!({"id": tenant, "app": "app1", "phone_number_ids": pnids, "region": region})),
        )
        .await;
    }

    /// Uploads `wasm` and installs it in `slot` of `tenant` with `config`.
    pub async fn install(
        &self,
        tenant: &str,
        slot: &str,
        wasm: &Path,
        config: Option<&str>,
    ) -> Value {
        let comp = self.upload(wasm).await;
        let sha = comp["sha256"].as_str().expect("sha256").to_string();
        self.ok(
            "PUT",
            &format!("/v1/tenants/{tenant}/plugins/{slot}"),
            Some(json!({"sha256": sha, "config": config})),
        )
        .await
    }

    /// Uploads `wasm` and installs it in `slot` of `tenant` with a binary `config`
    /// (such as a trained model), sent base64-encoded.
    pub async fn install_bytes(
        &self,
        tenant: &str,
        slot: &str,
        wasm: &Path,
        config: &[u8],
    ) -> Value {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(config);
        let comp = self.upload(wasm).await;
        let sha = comp["sha256"].as_str().expect("sha256").to_string();
        self.ok(
            "PUT",
            &format!("/v1/tenants/{tenant}/plugins/{slot}"),
            Some(json!({"sha256": sha, "config_base64": b64})),
        )
        .await
    }

    /// Uploads a component file; the server's answer.
    pub async fn upload(&self, wasm: &Path) -> Value {
        let bytes = std::fs::read(wasm).expect("read wasm");
        let name = wasm
            .file_stem()
            .map(|s| s.to_string_lossy().replace('_', "-"))
            .unwrap_or_default();
        let resp = self
            .http
            .post(format!("{}/v1/components?name={name}", self.base))
            .bearer_auth(TOKEN)
            .body(bytes)
            .send()
            .await
            .expect("upload");
        let status = resp.status();
        let v: Value = resp.json().await.expect("json");
        assert!(status.is_success(), "upload: {status} {v}");
        v
    }

    /// Posts a webhook body signed with `secret`; status and body text.
    pub async fn post_signed(&self, body: &[u8], secret: &str) -> (StatusCode, String) {
        let sig = scrm_wire::signature::sign(secret.as_bytes(), body);
        self.post_webhook(body, Some(&sig)).await
    }

    /// Posts a webhook body with the given signature header (or none).
    pub async fn post_webhook(&self, body: &[u8], signature: Option<&str>) -> (StatusCode, String) {
        let mut rb = self
            .http
            .post(format!("{}/webhooks/whatsapp", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = signature {
            rb = rb.header("x-hub-signature-256", s);
        }
        let resp = rb.send().await.expect("post webhook");
        (resp.status(), resp.text().await.unwrap_or_default())
    }

    /// The host's Prometheus metrics, as text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Waits until the inbox holds no pending body (the pipeline caught up).
    pub async fn settle(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.ok("GET", "/v1/inbox", None).await;
            if v["pending"] == 0 {
                return v;
            }
            assert!(Instant::now() < deadline, "pipeline did not settle: {v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every message of `tenant` (all pages).
    pub async fn messages(&self, tenant: &str) -> Vec<Value> {
        self.all(&format!("/v1/tenants/{tenant}/messages")).await
    }

    /// Every item of a paginated list.
    pub async fn all(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0i64;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let v = self
                .ok("GET", &format!("{path}{sep}after={after}&limit=500"), None)
                .await;
            out.extend(v["items"].as_array().cloned().unwrap_or_default());
            match v["next_after"].as_i64() {
                Some(n) => after = n,
                None => return out,
            }
        }
    }
}

/// Replaces the fixtures' phone_number_id with `pnid` (to route to another tenant).
pub fn with_pnid(body: &[u8], pnid: &str) -> Vec<u8> {
    String::from_utf8_lossy(body)
        .replace(FIXTURE_PNID, pnid)
        .into_bytes()
}

/// A synthetic text-message webhook body with one message per `(wamid, text)`.
pub fn text_webhook(pnid: &str, from: &str, messages: &[(&str, &str)]) -> Vec<u8> {
    let msgs: Vec<Value> = messages
        .iter()
        .map(|(id, text)| {
            json!({"from": from, "id": id, "timestamp": "1750000000", "type": "text", "text": {"body": text}})
        })
        .collect();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": pnid},
            "contacts": [{"profile": {"name": "Test Customer"}, "wa_id": from}],
            "messages": msgs
        }}]}]
    }))
    .expect("json")
}

/// Runs `f` until it returns `Ok(Some)`, for up to 30 s.
pub async fn eventually<T, F, Fut>(mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await.context("eventually")? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("condition not met within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
