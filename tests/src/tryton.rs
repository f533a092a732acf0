//! A real Tryton 8.2 server (`trytond` with the `party`, `sale` and
//! `stock_package_shipping` modules, SQLite backend)
//! on loopback, for tests of the Tryton CRM connector, and helpers that act as
//! "sales changing something in the CRM" through Tryton's REST API.
//!
//! # Install (once per machine)
//!
//! [`install`] creates a Python virtual environment in `target/tryton-venv`
//! (`python3 -m venv`) and installs the exact versions of
//! `tests/tryton/requirements.txt` into it with pip (≈ 15 s). It is skipped while
//! `target/tryton-venv/scrm-requirements.txt` equals the committed file; a file lock
//! (`target/tryton-venv.lock`) makes test binaries that start at the same time take
//! turns, so the later ones find the install done.
//!
//! # Template database (once per machine)
//!
//! Initialising a Tryton database with `party` activated takes ≈ 7 s on two cores,
//! so it is done once: `tests/tryton/bootstrap.py` builds `target/tryton-template/`
//! (`scrm.sqlite` plus `bootstrap.json` holding the REST key), rebuilt whenever
//! `requirements.txt` or `bootstrap.py` change (lock: `target/tryton-template.lock`).
//! Every [`Tryton::start`] copies that 1.7 MB file into a fresh temporary
//! directory, so each test gets its own empty database with the same key.
//!
//! # Server (per test, ≈ 0.7 s)
//!
//! [`Tryton::start`] writes a `trytond.conf` next to the copy, runs
//! `trytond -c trytond.conf -d scrm` on a free `127.0.0.1` port (logs go to
//! `trytond.log` in the temporary directory, see [`Tryton::log`]) and returns once
//! `GET /scrm/rest/model/party.party` answers `200` with the key. Dropping the
//! [`Tryton`] kills the server and removes the directory; a watchdog kills the
//! server too if the test process exits without dropping it.
//!
//! # REST in brief
//!
//! Every call goes to `{base}/{db}/rest/model/{model}[/{id}]` with
//! `Authorization: Bearer {key}` (see [`Tryton::call`]); bodies are JSON with
//! `Content-Type: application/json`; search domains and orders travel base64url
//! encoded **with padding** in the `d` and `o` query parameters ([`encode_param`]),
//! fields to return as repeated `f` parameters; datetimes are objects
//! `{"__class__": "datetime", "year": …, "microsecond": …}` in UTC
//! ([`datetime`], [`datetime_to_iso`]).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use scrm_e2e::tryton::Tryton;
//! let crm = Tryton::start()?;
//! let id = crm.create_party("Alice Example", "+4915112345678").await?;
//! assert_eq!(crm.find_party_by_phone("+4915112345678").await?, Some(id));
//! crm.add_note(id, "called back").await?;
//! assert_eq!(crm.notes_of(id).await?, vec!["called back".to_string()]);
//! # Ok(())
//! # }
//! ```

use crate::proc::{Supervised, free_port, lock, retry_while_port_taken, root, run};
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The database name every test server uses (the file `scrm.sqlite`).
pub const DB: &str = "scrm";

/// How long `trytond` may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The fields [`Tryton::party`] reads.
pub const PARTY_FIELDS: &[&str] = &[
    "name",
    "code",
    "active",
    "create_date",
    "write_date",
    "contact_mechanisms.type",
    "contact_mechanisms.value",
    "contact_mechanisms.value_compact",
];

/// Installs trytond, trytond-party and phonenumbers (`tests/tryton/requirements.txt`)
/// into `target/tryton-venv` unless the installed requirements match; the venv's
/// directory (`bin/trytond`, `bin/trytond-admin` and `bin/python` are in it).
///
/// Safe when several test binaries call it at once: they take turns on
/// `target/tryton-venv.lock`, and the later ones find the install done.
///
/// # Errors
/// When `python3 -m venv` or `pip install` fails (the message holds their output).
pub fn install() -> Result<PathBuf> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    VENV.get_or_init(|| install_now().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn install_now() -> Result<PathBuf> {
    let root = root()?;
    crate::proc::venv(
        &root.join("tests/tryton/requirements.txt"),
        &root.join("target/tryton-venv"),
        "bin/trytond",
    )
}

/// The template database built by `tests/tryton/bootstrap.py`.
#[derive(Debug, Clone)]
struct Template {
    /// `target/tryton-template/scrm.sqlite`.
    database_file: PathBuf,
    /// The REST key of admin (a `res.user.application` record for `rest`).
    key: String,
    /// The company admin works for (sales need one).
    company: i64,
}

/// The template database, built if missing or out of date (see the module docs).
fn template() -> Result<Template> {
    static TEMPLATE: OnceLock<Result<Template, String>> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| template_now().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn template_now() -> Result<Template> {
    let venv = install()?;
    let root = root()?;
    let source = root.join("tests/tryton");
    let dir = root.join("target/tryton-template");
    let _lock = lock(&root.join("target/tryton-template.lock"))?;
    let mut wanted = Vec::new();
    for file in ["requirements.txt", "bootstrap.py"] {
        let path = source.join(file);
        wanted.extend(std::fs::read(&path).with_context(|| format!("read {}", path.display()))?);
    }
    let stamp = dir.join("stamp");
    let output = dir.join("bootstrap.json");
    if !std::fs::read(&stamp).is_ok_and(|s| s == wanted) {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let started = Instant::now();
        let out = run(Command::new(venv.join("bin/python"))
            .arg(source.join("bootstrap.py"))
            .arg(&dir)
            .args(["--db", DB, "--listen", "127.0.0.1:8000"]))
        .context("bootstrap the Tryton template database")?;
        std::fs::write(&output, out).with_context(|| format!("write {}", output.display()))?;
        std::fs::write(&stamp, &wanted).with_context(|| format!("write {}", stamp.display()))?;
        eprintln!(
            "initialised the Tryton template database in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let text =
        std::fs::read_to_string(&output).with_context(|| format!("read {}", output.display()))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("parse {text}"))?;
    let key = v["key"]
        .as_str()
        .with_context(|| format!("no key in {text}"))?
        .to_string();
    Ok(Template {
        database_file: dir.join(format!("{DB}.sqlite")),
        key,
        company: v["company"].as_i64().unwrap_or(1),
    })
}

/// A running `trytond` on a fresh copy of the template database; killed when
/// dropped.
#[derive(Debug)]
pub struct Tryton {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The database name, the first path segment of every URL ([`DB`]).
    pub db: String,
    /// The REST key of admin: `Authorization: Bearer {key}`.
    pub key: String,
    /// The company of admin, sent as the context of every helper's request.
    pub company: i64,
    /// The HTTP client the helpers use.
    pub http: reqwest::Client,
    server: Supervised,
    dir: tempfile::TempDir,
}

impl Tryton {
    /// Installs Tryton and builds the template database if needed, then starts
    /// `trytond` on a copy of it on a free loopback port; returns once the REST API
    /// answers (≈ 0.7 s when the install and the template exist).
    ///
    /// Blocking: call it before the test does anything asynchronous, or accept
    /// that it blocks the runtime for that long.
    ///
    /// # Errors
    /// When the install or the bootstrap fails, or `trytond` exits or does not
    /// answer within 60 s (the message holds its log).
    pub fn start() -> Result<Tryton> {
        let venv = install()?;
        let template = template()?;
        retry_while_port_taken("Address already in use", || {
            Tryton::try_start(&venv, &template)
        })
    }

    fn try_start(venv: &Path, template: &Template) -> Result<Tryton> {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("scrm-tryton-")
            .tempdir()
            .context("create a temporary directory")?;
        let path = dir.path();
        std::fs::copy(&template.database_file, path.join(format!("{DB}.sqlite")))
            .with_context(|| format!("copy {}", template.database_file.display()))?;
        let port = free_port()?;
        // The same configuration as bootstrap.py writes.
        let conf = path.join("trytond.conf");
        std::fs::write(
            &conf,
            format!(
                "[database]\nuri = sqlite://\npath = {dir}\n\n[web]\nlisten = 127.0.0.1:{port}\n\
                 root = {dir}/www\n",
                dir = path.display()
            ),
        )
        .with_context(|| format!("write {}", conf.display()))?;
        File::create(path.join("trytond.log")).context("create trytond.log")?;
        let server = spawn(venv, path)?;
        let mut tryton = Tryton {
            base: format!("http://127.0.0.1:{port}"),
            db: DB.to_string(),
            key: template.key.clone(),
            company: template.company,
            http: reqwest::Client::new(),
            server,
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = tryton
                .server
                .child()
                .try_wait()
                .context("wait for trytond")?
            {
                bail!(
                    "trytond exited while starting ({status}):\n{}",
                    tryton.log()
                );
            }
            if tryton.ready(port) {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "trytond did not answer within {} s:\n{}",
                    START_TIMEOUT.as_secs(),
                    tryton.log()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        eprintln!(
            "trytond on {} started in {:.2} s",
            tryton.base,
            started.elapsed().as_secs_f64()
        );
        Ok(tryton)
    }

    /// Stops the server, keeping its database: the CRM is down until [`Tryton::resume`].
    pub fn pause(&mut self) {
        self.server.stop();
    }

    /// Starts the server again on the same port and database after [`Tryton::pause`];
    /// returns once the REST API answers.
    ///
    /// # Errors
    /// When `trytond` cannot be started or does not answer within 60 s.
    pub fn resume(&mut self) -> Result<()> {
        let venv = install()?;
        let port: u16 = self
            .base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .context("port of base")?;
        self.server = spawn(&venv, self.dir.path())?;
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.ready(port) {
            if let Some(status) = self.server.child().try_wait().context("wait for trytond")? {
                bail!(
                    "trytond exited while restarting ({status}):\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                bail!("trytond did not answer after a restart:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(())
    }

    /// Whether `GET /{db}/rest/model/party.party?s=1` answers 200 (blocking, no
    /// runtime needed).
    fn ready(&self, port: u16) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let req = format!(
            "GET /{}/rest/model/party.party?s=1 HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\
             Authorization: Bearer {}\r\n\r\n",
            self.db, self.key
        );
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        s.read_exact(&mut head).is_ok()
            && String::from_utf8_lossy(&head).split_whitespace().nth(1) == Some("200")
    }

    /// `{base}/{db}/rest/model`: the prefix of every model URL.
    pub fn rest_url(&self) -> String {
        format!("{}/{}/rest/model", self.base, self.db)
    }

    /// The server's temporary directory (`scrm.sqlite`, `trytond.conf`,
    /// `trytond.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What `trytond` logged so far (one line per request, and tracebacks).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("trytond.log")).unwrap_or_default()
    }

    /// Sends `method {rest_url}/{path}` with the key as bearer token and `body` as
    /// JSON; the status and the body (JSON, or a JSON string holding the text of a
    /// non-JSON body such as Werkzeug's HTML error pages).
    ///
    /// `path` is relative to [`Tryton::rest_url`], query included, e.g.
    /// `party.party/1?f=name`.
    ///
    /// # Errors
    /// When the request cannot be sent or the body cannot be read.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value)> {
        let url = format!("{}/{path}", self.rest_url());
        // The REST API runs without the user's preferences: the company that sales
        // and products belong to travels as the request's context.
        let context = encode_param(&json!({"company": self.company})).replace("%3D", "=");
        let mut rb = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.key)
            .header("x-tryton-context", context);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = rb.send().await.with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("{method} {url}: read the body"))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// [`Tryton::call`], insisting on a 2xx answer; its body (`null` for 204).
    ///
    /// # Errors
    /// When the request fails or the status is not 2xx (the message holds the
    /// status and body).
    pub async fn ok(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let (status, value) = self.call(method.clone(), path, body).await?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {value}");
        }
        Ok(match value {
            Value::String(s) if s.is_empty() => Value::Null,
            v => v,
        })
    }

    /// `GET {model}?d=…&o=…&s=…&f=…`: the records of `model` matching `domain`
    /// (a Tryton domain such as `[["name", "=", "x"]]`), in `order` (such as
    /// `[["id", "ASC"]]`, or the model's default order when `None`), at most
    /// `limit`, each with `id`, `__name__` and `fields`.
    ///
    /// # Errors
    /// When the request fails or the answer is not a 2xx array.
    pub async fn search(
        &self,
        model: &str,
        domain: &Value,
        fields: &[&str],
        order: Option<&Value>,
        limit: Option<u32>,
    ) -> Result<Vec<Value>> {
        let mut query = vec![format!("d={}", encode_param(domain))];
        if let Some(o) = order {
            query.push(format!("o={}", encode_param(o)));
        }
        if let Some(s) = limit {
            query.push(format!("s={s}"));
        }
        query.extend(fields.iter().map(|f| format!("f={f}")));
        let v = self
            .ok(Method::GET, &format!("{model}?{}", query.join("&")), None)
            .await?;
        match v {
            Value::Array(a) => Ok(a),
            other => bail!("search {model}: not an array: {other}"),
        }
    }

    /// `GET {model}/{id}?f=…`: one record with `id`, `__name__` and `fields`.
    ///
    /// # Errors
    /// When the request fails or the status is not 2xx (404 for a missing id).
    pub async fn read(&self, model: &str, id: i64, fields: &[&str]) -> Result<Value> {
        self.ok(
            Method::GET,
            &with_fields(&format!("{model}/{id}"), fields),
            None,
        )
        .await
    }

    /// `POST {model}?f=…` with `values`: the created record with `fields`.
    ///
    /// # Errors
    /// When the request fails or the status is not 2xx (400 with
    /// `{"status", "message", "description"}` for a validation error).
    pub async fn create(&self, model: &str, values: &Value, fields: &[&str]) -> Result<Value> {
        self.ok(Method::POST, &with_fields(model, fields), Some(values))
            .await
    }

    /// `PUT {model}/{id}?f=…` with `values`: the written record with `fields`.
    ///
    /// # Errors
    /// When the request fails or the status is not 2xx.
    pub async fn write(
        &self,
        model: &str,
        id: i64,
        values: &Value,
        fields: &[&str],
    ) -> Result<Value> {
        self.ok(
            Method::PUT,
            &with_fields(&format!("{model}/{id}"), fields),
            Some(values),
        )
        .await
    }

    /// Creates a party named `name` with one `mobile` contact mechanism holding
    /// `phone_e164` (such as `+4915112345678`); its id.
    ///
    /// # Errors
    /// When Tryton refuses (for example 400 for a number phonenumbers finds
    /// invalid).
    pub async fn create_party(&self, name: &str, phone_e164: &str) -> Result<i64> {
        let v = self
            .create(
                "party.party",
                &json!({
                    "name": name,
                    "contact_mechanisms": [["create", [{"type": "mobile", "value": phone_e164}]]],
                }),
                &[],
            )
            .await?;
        id_of(&v)
    }

    /// Renames party `id`.
    ///
    /// # Errors
    /// When Tryton refuses (404 for a missing party).
    pub async fn rename_party(&self, id: i64, name: &str) -> Result<()> {
        self.write("party.party", id, &json!({"name": name}), &[])
            .await
            .map(drop)
    }

    /// The active party with a contact mechanism whose `value_compact` is
    /// `e164` (the lowest id if several), if any.
    ///
    /// # Errors
    /// When the search fails.
    pub async fn find_party_by_phone(&self, e164: &str) -> Result<Option<i64>> {
        let found = self
            .search(
                "party.party",
                &json!([["contact_mechanisms.value_compact", "=", e164]]),
                &[],
                Some(&json!([["id", "ASC"]])),
                Some(1),
            )
            .await?;
        found.first().map(id_of).transpose()
    }

    /// Attaches a note (`ir.note`, resource `party.party,{party}`) to a party; its
    /// id.
    ///
    /// # Errors
    /// When Tryton refuses (400 for a missing party).
    pub async fn add_note(&self, party: i64, message: &str) -> Result<i64> {
        let v = self
            .create(
                "ir.note",
                &json!({"resource": format!("party.party,{party}"), "message": message}),
                &[],
            )
            .await?;
        id_of(&v)
    }

    /// The messages of the notes attached to party `party`, oldest first.
    ///
    /// # Errors
    /// When the search fails.
    pub async fn notes_of(&self, party: i64) -> Result<Vec<String>> {
        let notes = self
            .search(
                "ir.note",
                &json!([["resource", "=", format!("party.party,{party}")]]),
                &["message"],
                Some(&json!([["id", "ASC"]])),
                None,
            )
            .await?;
        Ok(notes
            .iter()
            .map(|n| n["message"].as_str().unwrap_or_default().to_string())
            .collect())
    }

    /// Party `id` with [`PARTY_FIELDS`]: `contact_mechanisms` is an array of
    /// `{id, __name__, type, value, value_compact}`.
    ///
    /// # Errors
    /// When the read fails (404 for a missing party).
    pub async fn party(&self, id: i64) -> Result<Value> {
        self.read("party.party", id, PARTY_FIELDS).await
    }

    /// The parties created or written after `since` (a Tryton datetime object,
    /// see [`datetime`]; compared with microsecond precision), oldest change
    /// first, with [`PARTY_FIELDS`].
    ///
    /// # Errors
    /// When the search fails.
    pub async fn parties_changed_since(&self, since: &Value) -> Result<Vec<Value>> {
        self.search(
            "party.party",
            &json!([
                "OR",
                ["write_date", ">", since],
                ["create_date", ">", since]
            ]),
            PARTY_FIELDS,
            Some(&json!([["write_date", "ASC"], ["id", "ASC"]])),
            None,
        )
        .await
    }
}

/// A domain or order as Tryton's REST API wants it in the `d` and `o` query
/// parameters: the JSON, base64url-encoded **with** `=` padding (Python's
/// `urlsafe_b64decode` rejects unpadded input with a 500), the padding written as
/// `%3D`.
pub fn encode_param(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE
        .encode(v.to_string())
        .replace('=', "%3D")
}

/// A Tryton JSON datetime (`{"__class__": "datetime", "year", "month", "day",
/// "hour", "minute", "second", "microsecond"}`) from `YYYY-MM-DD[ T]HH:MM:SS[.ffffff]`
/// (naive UTC, as Tryton stores them).
///
/// # Errors
/// When `iso` does not have that shape.
pub fn datetime(iso: &str) -> Result<Value> {
    let bad = || anyhow::anyhow!("not a YYYY-MM-DD HH:MM:SS[.ffffff] datetime: {iso}");
    let (date, time) = iso.split_once([' ', 'T']).ok_or_else(bad)?;
    let d: Vec<u32> = date
        .split('-')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<u32> = hms
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    if d.len() != 3 || t.len() != 3 || frac.len() > 6 {
        return Err(bad());
    }
    let micro: u32 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
    Ok(json!({
        "__class__": "datetime",
        "year": d[0], "month": d[1], "day": d[2],
        "hour": t[0], "minute": t[1], "second": t[2], "microsecond": micro,
    }))
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` from a Tryton JSON datetime, if `v` is one.
pub fn datetime_to_iso(v: &Value) -> Option<String> {
    if v["__class__"] != "datetime" {
        return None;
    }
    let n = |k: &str| v[k].as_u64();
    Some(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        n("year")?,
        n("month")?,
        n("day")?,
        n("hour")?,
        n("minute")?,
        n("second")?,
        n("microsecond")?
    ))
}

/// Starts `trytond` on the configuration and database in `dir`, appending to its
/// `trytond.log`, with a watchdog that kills it when the watchdog's stdin closes (when
/// the [`Tryton`] is dropped, or when the test process exits without dropping it).
fn spawn(venv: &Path, dir: &Path) -> Result<Supervised> {
    let log = OpenOptions::new()
        .append(true)
        .open(dir.join("trytond.log"))
        .context("open trytond.log")?;
    let mut cmd = Command::new(venv.join("bin/trytond"));
    cmd.arg("-c").arg(dir.join("trytond.conf")).args(["-d", DB]);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TRYTOND_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("clone the log file")?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("start {}/bin/trytond", venv.display()))?;
    Supervised::watch(child, "trytond")
}

/// `path` with `f=…` for each field.
fn with_fields(path: &str, fields: &[&str]) -> String {
    if fields.is_empty() {
        return path.to_string();
    }
    let f: Vec<String> = fields.iter().map(|f| format!("f={f}")).collect();
    format!("{path}?{}", f.join("&"))
}

/// The `id` of a record.
fn id_of(v: &Value) -> Result<i64> {
    v["id"].as_i64().with_context(|| format!("no id in {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_padded_base64url() {
        // 3 bytes → no padding; 1 byte → "==".
        assert_eq!(encode_param(&json!([])), "W10%3D");
        let d = json!([["contact_mechanisms.value_compact", "=", "+4915112345678"]]);
        let enc = encode_param(&d).replace("%3D", "=");
        let back = base64::engine::general_purpose::URL_SAFE
            .decode(enc)
            .expect("base64");
        assert_eq!(serde_json::from_slice::<Value>(&back).expect("json"), d);
    }

    #[test]
    fn datetimes_round_trip() {
        let v = datetime("2026-11-25 21:02:16.647473").expect("datetime");
        assert_eq!(v["microsecond"], 647_473);
        assert_eq!(
            datetime_to_iso(&v).as_deref(),
            Some("2026-11-25 21:02:16.647473")
        );
        assert_eq!(
            datetime("2026-11-25T21:02:16").expect("dt")["microsecond"],
            0
        );
        assert_eq!(
            datetime("2026-11-25 21:02:16.5").expect("dt")["microsecond"],
            500_000
        );
        assert!(datetime("yesterday").is_err());
        assert_eq!(datetime_to_iso(&json!({"__class__": "date"})), None);
    }
}
