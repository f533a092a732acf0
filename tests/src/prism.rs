//! Contract checks: Stoplight Prism, loaded with Meta's published Cloud API
//! description, between the client under test and the local Cloud API server
//! ([`crate::graph::Graph`]).
//!
//! `prism proxy --errors SPEC UPSTREAM` validates every request against the spec
//! before forwarding it, and every upstream response after:
//!
//! - a request that breaks the spec never reaches the upstream: Prism answers
//!   `422` (`401` for a missing bearer token, `404`/`405` for an unknown path or
//!   method) with `application/problem+json`, `type`
//!   `https://stoplight.io/prism/errors#…` and a `validation` array;
//! - an upstream response that breaks the response schema is replaced by a `500`
//!   problem (`#VIOLATIONS`) with the same `validation` array and an
//!   `sl-violations` header;
//! - an upstream status the spec does not list (Meta lists only `200` for
//!   `messages` and `media`, so every error envelope) passes through unchanged with
//!   an `sl-violations` header holding a `Warning`.
//!
//! [`Contract::start`] puts one Prism process (shared by every test of the test
//! binary, started on first use: ≈ 4 s) in front of a [`Graph`]: the client talks
//! to [`Contract::url`], a per-test recorder that forwards to Prism, which forwards
//! to a process-wide router that sends the request on to the test's Graph. The
//! recorder turns what Prism answered into [`Exchange`]s, and
//! [`Contract::assert_clean`] fails the test on any [`Violation`].
//!
//! Prism comes from `tests/prism/package.json` and its committed lock file,
//! installed with `npm ci` into `target/prism/` once (a file lock serialises test
//! binaries that start at the same time; later runs skip the install while the
//! lock file is unchanged).
//!
//! The spec Prism loads is `../shared/specs/whatsapp-business-messaging-api_v23.0.yaml`
//! with the errata in [`ERRATA`] applied (see [`contract_spec`]); [`meta_spec`] is
//! the file as Meta published it.
//!
//! ```no_run
//! # async fn demo() {
//! use scrm_e2e::{graph::Graph, prism::Contract};
//! let graph = Graph::start().await;
//! let contract = Contract::start(&graph).await;
//! // point the client at contract.url() instead of graph.url(), then:
//! contract.assert_clean();
//! # }
//! ```

use crate::graph::Graph;
use crate::proc::{Supervised, free_port, retry_while_port_taken, root};
use crate::repo_root;
use anyhow::{Context, Result, bail};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The header the recorder adds so that the shared router knows which [`Graph`]
/// a request is for; the router removes it.
const GRAPH_HEADER: &str = "x-scrm-graph";

/// Prism's problem types start with this.
const PRISM_ERRORS: &str = "https://stoplight.io/prism/errors#";

/// The start of the warning Prism attaches to an upstream status the spec does
/// not list.
const UNDOCUMENTED_STATUS: &str = "Unable to match the returned status code";

/// How long Prism may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Meta's spec as published, under the shared directory.
pub fn meta_spec() -> PathBuf {
    repo_root().join("../shared/specs/whatsapp-business-messaging-api_v23.0.yaml")
}

/// A correction to Meta's spec: `anchor` (found exactly once) becomes
/// `replacement`.
#[derive(Debug, Clone, Copy)]
pub struct Erratum {
    /// What is wrong, and the evidence.
    pub why: &'static str,
    /// Text found exactly once in the spec.
    pub anchor: &'static str,
    /// What it becomes.
    pub replacement: &'static str,
}

/// The corrections [`contract_spec`] applies. Each is a place where the spec's own
/// examples contradict its schema; `graph_contract.rs` proves each is still needed
/// by sending the spec's example to a Prism loaded with [`meta_spec`].
pub const ERRATA: &[Erratum] = &[
    Erratum {
        why: "Message.oneOf has no branch for mark-as-read / typing indicator, so the spec's own \
          example 'Send typing indicator and read receipt' ({messaging_product, status: read, \
          message_id, typing_indicator}) fails it. Adds MarkReadRequest, as strict as the example.",
        anchor: "      - $ref: '#/components/schemas/ContactsMessage'\n    TextMessage:\n",
        replacement: "      - $ref: '#/components/schemas/ContactsMessage'
      - $ref: '#/components/schemas/MarkReadRequest'
    MarkReadRequest:
      type: object
      description: 'scrm erratum: mark a message as read, optionally showing a typing indicator.'
      additionalProperties: false
      required:
      - messaging_product
      - status
      - message_id
      properties:
        messaging_product:
          type: string
          enum:
          - whatsapp
        status:
          type: string
          enum:
          - read
        message_id:
          type: string
        typing_indicator:
          type: object
          additionalProperties: false
          required:
          - type
          properties:
            type:
              type: string
              enum:
              - text
    TextMessage:
",
    },
    Erratum {
        why: "LanguageObject requires `policy`, yet the spec's own template examples ('Basic \
          Template', 'Template with Product Policy', 'Parameterized Template') give only \
          `language: {code}`, as every client does (pywa). `policy` stays allowed.",
        anchor: "    LanguageObject:\n      type: object\n      required:\n      - policy\n      - code\n",
        replacement: "    LanguageObject:\n      type: object\n      required:\n      - code\n",
    },
];

/// Meta's spec with [`ERRATA`] applied, written once per process to
/// `target/prism/spec/`; its path.
///
/// # Errors
/// When the spec cannot be read or an erratum's anchor is not found exactly once
/// (the spec changed: review the erratum).
pub fn contract_spec() -> Result<PathBuf> {
    static SPEC: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SPEC.get_or_init(|| write_contract_spec().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn write_contract_spec() -> Result<PathBuf> {
    let source = meta_spec();
    let mut text = std::fs::read_to_string(&source)
        .with_context(|| format!("read the Cloud API spec {}", source.display()))?;
    for erratum in ERRATA {
        let found = text.matches(erratum.anchor).count();
        if found != 1 {
            bail!(
                "erratum anchor found {found} times in {} (expected once): {}",
                source.display(),
                erratum.why
            );
        }
        text = text.replacen(erratum.anchor, erratum.replacement, 1);
    }
    let dir = root()?.join("target/prism/spec");
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let out = dir.join("whatsapp-business-messaging-api_v23.0.scrm.yaml");
    let tmp = out.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, &out).with_context(|| format!("move to {}", out.display()))?;
    Ok(out)
}

/// Installs Prism (`npm ci` from `tests/prism/`) into `target/prism/` unless the
/// installed lock file matches the committed one; the `prism` executable.
///
/// Safe when several test binaries call it at once: they take turns on
/// `target/prism/install.lock`, and the later ones find the install done.
///
/// # Errors
/// When npm is missing or `npm ci` fails (the message holds npm's output).
pub fn install() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| install_now().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn install_now() -> Result<PathBuf> {
    let root = root()?;
    let dir = crate::proc::npm_project(
        &root.join("tests/prism"),
        &root.join("target/prism"),
        "node_modules/.bin/prism",
    )
    .context("install prism (is Node.js installed?)")?;
    Ok(dir.join("node_modules/.bin/prism"))
}

/// A running `prism proxy --errors` process; killed when dropped, and by a
/// watchdog when the test process exits without dropping it.
#[derive(Debug)]
pub struct Prism {
    url: String,
    _process: Supervised,
    log: Arc<Mutex<Vec<String>>>,
}

impl Prism {
    /// Installs Prism if needed and starts `prism proxy --errors spec upstream` on a
    /// free loopback port; returns once Prism says it is listening (≈ 4 s).
    ///
    /// # Errors
    /// When the install fails, or Prism exits or stays silent for 120 s (the
    /// message holds its output).
    pub fn start(spec: &Path, upstream: &str) -> Result<Prism> {
        let bin = install()?;
        let spec = spec
            .canonicalize()
            .with_context(|| format!("resolve {}", spec.display()))?;
        retry_while_port_taken("EADDRINUSE", || Prism::try_start(&bin, &spec, upstream))
    }

    fn try_start(bin: &Path, spec: &Path, upstream: &str) -> Result<Prism> {
        let port = free_port()?;
        let started = Instant::now();
        let child = Command::new(bin)
            .args(["proxy", "--errors"])
            .arg(spec)
            .arg(upstream)
            .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let mut process = Supervised::watch(child, "prism")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        if let Some(out) = process.child().stdout.take() {
            drain(out, log.clone(), tx.clone());
        }
        if let Some(err) = process.child().stderr.take() {
            drain(err, log.clone(), tx);
        }
        let prism = Prism {
            url: format!("http://127.0.0.1:{port}"),
            _process: process,
            log,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(Line::Ready) => {}
            Ok(Line::Closed) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("prism exited while starting:\n{}", prism.log().join("\n"))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                "prism did not start within {} s:\n{}",
                START_TIMEOUT.as_secs(),
                prism.log().join("\n")
            ),
        }
        eprintln!(
            "prism on {} (upstream {upstream}) started in {:.1} s",
            prism.url,
            started.elapsed().as_secs_f64()
        );
        Ok(prism)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Prism's output so far, one line per entry (it logs every request and every
    /// violation it found).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

enum Line {
    Ready,
    Closed,
}

/// Reads `stream` line by line into `log` until it closes (Prism must never block
/// on a full pipe); tells `tx` when Prism is listening and when the stream closes.
fn drain(stream: impl Read + Send + 'static, log: Arc<Mutex<Vec<String>>>, tx: mpsc::Sender<Line>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if line.contains("Prism is listening on") {
                let _ = tx.send(Line::Ready);
            }
            log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
        let _ = tx.send(Line::Closed);
    });
}

/// The process-wide Prism, loaded with [`contract_spec`], whose upstream is the
/// router.
#[derive(Debug)]
struct SharedPrism {
    prism: Prism,
}

fn shared() -> Result<&'static SharedPrism> {
    static SHARED: OnceLock<Result<SharedPrism, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| start_shared().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn start_shared() -> Result<SharedPrism> {
    let spec = contract_spec()?;
    let router = start_router()?;
    let prism = Prism::start(&spec, &format!("http://{router}"))?;
    Ok(SharedPrism { prism })
}

/// Starts the router on its own thread and runtime (it outlives every test's
/// runtime); its address. It forwards each request to the Graph named in
/// [`GRAPH_HEADER`].
fn start_router() -> Result<SocketAddr> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("prism-router".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(anyhow::Error::from(e)));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = tx.send(Err(e.into()));
                        return;
                    }
                };
                let _ = tx.send(listener.local_addr().map_err(Into::into));
                let app = axum::Router::new().fallback(route).with_state(client());
                let _ = axum::serve(listener, app).await;
            });
        })
        .context("spawn the prism router thread")?;
    rx.recv().context("the prism router thread died")?
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

async fn route(State(client): State<reqwest::Client>, req: axum::extract::Request) -> Response {
    let Some(target) = req
        .headers()
        .get(GRAPH_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return (
            StatusCode::BAD_GATEWAY,
            format!("prism router: no {GRAPH_HEADER} header"),
        )
            .into_response();
    };
    match forward(&client, &format!("http://{target}"), req, None).await {
        Ok((resp, _)) => resp,
        Err(e) => (StatusCode::BAD_GATEWAY, format!("prism router: {e:#}")).into_response(),
    }
}

/// Hop-by-hop headers and those the HTTP client sets itself.
fn skip_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-connection"
    ) || name.as_str() == GRAPH_HEADER
}

/// Sends `req` to `base` + its path, with `extra` added; the answer, and its body.
async fn forward(
    client: &reqwest::Client,
    base: &str,
    req: axum::extract::Request,
    extra: Option<(&'static str, String)>,
) -> Result<(Response, axum::body::Bytes)> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 128 << 20)
        .await
        .context("read request body")?;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut rb = client.request(parts.method.clone(), format!("{base}{path}"));
    for (name, value) in &parts.headers {
        if !skip_header(name) {
            rb = rb.header(name, value);
        }
    }
    if let Some((name, value)) = extra {
        rb = rb.header(name, value);
    }
    let upstream = rb.body(body).send().await.context("forward")?;
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let bytes = upstream.bytes().await.context("read response body")?;
    let mut resp = Response::new(axum::body::Body::from(bytes.clone()));
    *resp.status_mut() = status;
    for (name, value) in &headers {
        if !skip_header(name) {
            resp.headers_mut().append(name, value.clone());
        }
    }
    Ok((resp, bytes))
}

/// One violation Prism reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Where: `["body", "to"]`, `["header", …]`, `["response", "body", …]`, or
    /// `["request"]` for a problem without details (missing auth, unknown path).
    pub location: Vec<String>,
    /// `Error` or `Warning`.
    pub severity: String,
    /// The JSON-Schema keyword (`required`, `enum`, …) or Prism's problem type.
    pub code: Option<String>,
    /// Prism's message.
    pub message: String,
}

impl Violation {
    /// True for a violation of the response (our server's fault, not the client's).
    pub fn in_response(&self) -> bool {
        self.location.first().is_some_and(|l| l == "response")
    }
}

/// One request through Prism, as the client saw it answered.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// When the request arrived.
    pub at: Instant,
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The status the client got.
    pub status: u16,
    /// Prism's own problem document, when Prism answered instead of the upstream.
    pub problem: Option<Value>,
    /// What breaks the spec.
    pub violations: Vec<Violation>,
    /// What Prism flagged but the spec cannot express: a Meta error status on an
    /// operation that documents only `200`.
    pub tolerated: Vec<Violation>,
}

/// Sorts what Prism answered into its problem document, violations, and the
/// tolerated warnings.
fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> (Option<Value>, Vec<Violation>, Vec<Violation>) {
    let mut violations = Vec::new();
    let mut tolerated = Vec::new();
    let is_problem = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/problem+json"));
    let problem = is_problem
        .then(|| serde_json::from_slice::<Value>(body).ok())
        .flatten()
        .filter(|p| {
            p["type"]
                .as_str()
                .is_some_and(|t| t.starts_with(PRISM_ERRORS))
        });
    if let Some(p) = &problem {
        let listed = p["validation"].as_array().cloned().unwrap_or_default();
        if listed.is_empty() {
            violations.push(Violation {
                location: vec!["request".into()],
                severity: "Error".into(),
                code: p["type"]
                    .as_str()
                    .map(|t| t.trim_start_matches(PRISM_ERRORS).to_string()),
                message: format!(
                    "{}: {}",
                    p["title"].as_str().unwrap_or_default(),
                    p["detail"].as_str().unwrap_or_default()
                ),
            });
        }
        violations.extend(listed.iter().map(violation));
    } else if let Some(header) = headers.get("sl-violations").and_then(|v| v.to_str().ok()) {
        let listed: Vec<Value> = serde_json::from_str(header).unwrap_or_default();
        for v in listed.iter().map(violation) {
            let undocumented_error = !status.is_success()
                && v.severity == "Warning"
                && v.message.starts_with(UNDOCUMENTED_STATUS);
            if undocumented_error {
                tolerated.push(v);
            } else {
                violations.push(v);
            }
        }
    }
    (problem, violations, tolerated)
}

fn violation(v: &Value) -> Violation {
    Violation {
        location: v["location"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        severity: v["severity"].as_str().unwrap_or("Error").to_string(),
        code: v["code"].as_str().map(str::to_string),
        message: v["message"].as_str().unwrap_or_default().to_string(),
    }
}

#[derive(Debug)]
struct Recorder {
    prism: String,
    graph: String,
    client: reqwest::Client,
    exchanges: Mutex<Vec<Exchange>>,
}

/// A contract-checked route to a [`Graph`]: client → recorder → Prism → Graph.
#[derive(Debug)]
pub struct Contract {
    url: String,
    recorder: Arc<Recorder>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Contract {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Contract {
    /// Puts the shared Prism (started on first use) in front of `graph`.
    ///
    /// # Panics
    /// When Prism cannot be installed or started; the message says why.
    pub async fn start(graph: &Graph) -> Contract {
        Contract::start_for(&graph.addr().to_string()).await
    }

    /// Puts the shared Prism in front of any server that claims to speak the Cloud
    /// API at `addr` (`127.0.0.1:PORT`): scrm's drop-in endpoint, say.
    ///
    /// # Panics
    /// When Prism cannot be installed or started; the message says why.
    pub async fn start_for(addr: &str) -> Contract {
        let prism = tokio::task::spawn_blocking(|| shared().map(|s| s.prism.url().to_string()))
            .await
            .expect("prism start-up thread")
            .unwrap_or_else(|e| panic!("starting prism: {e:#}"));
        let recorder = Arc::new(Recorder {
            prism,
            graph: addr.to_string(),
            client: client(),
            exchanges: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the contract recorder");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let app = axum::Router::new()
            .fallback(record)
            .with_state(recorder.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Contract {
            url,
            recorder,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`: use it as the Graph base URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Every exchange so far, in arrival order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.recorder
            .exchanges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every violation so far, with the exchange it belongs to.
    pub fn violations(&self) -> Vec<(Exchange, Violation)> {
        self.exchanges()
            .into_iter()
            .flat_map(|e| {
                e.violations
                    .clone()
                    .into_iter()
                    .map(move |v| (e.clone(), v))
            })
            .collect()
    }

    /// Panics, listing them, if any exchange broke the spec.
    pub fn assert_clean(&self) {
        let bad: Vec<String> = self
            .exchanges()
            .iter()
            .filter(|e| !e.violations.is_empty())
            .map(|e| {
                let list: Vec<String> = e
                    .violations
                    .iter()
                    .map(|v| format!("  {} [{}] {}", v.location.join("."), v.severity, v.message))
                    .collect();
                format!(
                    "{} {} → {}\n{}",
                    e.method,
                    e.path,
                    e.status,
                    list.join("\n")
                )
            })
            .collect();
        assert!(
            bad.is_empty(),
            "requests that break Meta's Cloud API spec:\n{}",
            bad.join("\n")
        );
    }
}

async fn record(State(rec): State<Arc<Recorder>>, req: axum::extract::Request) -> Response {
    let at = Instant::now();
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let extra = Some((GRAPH_HEADER, rec.graph.clone()));
    match forward(&rec.client, &rec.prism, req, extra).await {
        Ok((resp, body)) => {
            let (problem, violations, tolerated) = classify(resp.status(), resp.headers(), &body);
            rec.exchanges
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Exchange {
                    at,
                    method,
                    path,
                    status: resp.status().as_u16(),
                    problem,
                    violations,
                    tolerated,
                });
            resp
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            [("content-type", HeaderValue::from_static("text/plain"))],
            format!("contract recorder: prism did not answer: {e:#}"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    #[test]
    fn a_prism_422_is_a_request_violation() {
        let body = br#"{"type":"https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY","title":"Invalid request","status":422,"validation":[{"location":["body"],"severity":"Error","code":"required","message":"Request body must have required property 'to'"}]}"#;
        let (problem, v, t) = classify(
            StatusCode::UNPROCESSABLE_ENTITY,
            &headers(&[("content-type", "application/problem+json")]),
            body,
        );
        assert!(problem.is_some());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].code.as_deref(), Some("required"));
        assert!(!v[0].in_response());
        assert!(t.is_empty());
    }

    #[test]
    fn a_problem_without_details_still_counts() {
        let body = br#"{"type":"https://stoplight.io/prism/errors#UNAUTHORIZED","title":"Invalid security scheme used","status":401,"detail":"no"}"#;
        let (_, v, _) = classify(
            StatusCode::UNAUTHORIZED,
            &headers(&[("content-type", "application/problem+json")]),
            body,
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].code.as_deref(), Some("UNAUTHORIZED"));
    }

    #[test]
    fn an_undocumented_error_status_is_tolerated_but_a_bad_success_is_not() {
        let warning = r#"[{"location":["response"],"severity":"Warning","message":"Unable to match the returned status code with those defined in the document: 200"}]"#;
        let h = headers(&[
            ("content-type", "application/json"),
            ("sl-violations", warning),
        ]);
        let (_, v, t) = classify(StatusCode::BAD_REQUEST, &h, b"{}");
        assert!(v.is_empty());
        assert_eq!(t.len(), 1);
        let (_, v, _) = classify(StatusCode::OK, &h, b"{}");
        assert_eq!(v.len(), 1);
        assert!(v[0].in_response());
    }

    #[test]
    fn an_upstream_problem_json_is_not_prisms() {
        let (problem, v, _) = classify(
            StatusCode::BAD_REQUEST,
            &headers(&[("content-type", "application/problem+json")]),
            br#"{"type":"about:blank","title":"x"}"#,
        );
        assert!(problem.is_none());
        assert!(v.is_empty());
    }
}
