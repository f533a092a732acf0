//! A small client of the admin API for the CLI commands.

use super::ClientArgs;
use anyhow::{Context, anyhow};
use serde_json::Value;

/// The server answered with an error; carries its code and message.
#[derive(Debug, thiserror::Error)]
#[error("{message} ({code}, HTTP {status})")]
pub struct Refused {
    /// HTTP status.
    pub status: u16,
    /// Machine-readable code.
    pub code: String,
    /// Human message.
    pub message: String,
}

/// The server could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {url}: {source}; is `scrm serve` running there?")]
pub struct Unreachable {
    url: String,
    source: reqwest::Error,
}

/// The process exit code for an error.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<Refused>().is_some() {
        3
    } else if e.downcast_ref::<Unreachable>().is_some() {
        4
    } else {
        1
    }
}

/// An authenticated client of one host.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(args: &ClientArgs) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: args.server.trim_end_matches('/').to_string(),
            token: args.token.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authed(&self, rb: reqwest::RequestBuilder) -> anyhow::Result<reqwest::RequestBuilder> {
        let token = self.token.as_deref().ok_or_else(|| {
            anyhow!("no token: set SCRM_ADMIN_TOKEN (the operator token `scrm serve` prints at first start, or a tenant API token) or pass --token")
        })?;
        Ok(rb.bearer_auth(token))
    }

    /// Sends a request to the admin API and returns its JSON body.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let rb = self.authed(rb)?;
        send_raw(rb, &self.base).await
    }

    /// Sends a request and returns its body as bytes (a PDF, …).
    pub async fn send_bytes(&self, rb: reqwest::RequestBuilder) -> anyhow::Result<Vec<u8>> {
        let resp = self
            .authed(rb)?
            .send()
            .await
            .map_err(|source| Unreachable {
                url: self.base.clone(),
                source,
            })?;
        let status = resp.status();
        let body = resp.bytes().await.context("reading the response")?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(refused(status.as_u16(), &String::from_utf8_lossy(&body)).into())
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path))
    }

    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.put(self.url(path))
    }

    pub fn patch(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.patch(self.url(path))
    }

    pub fn http_delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path))
    }
}

/// Sends `rb` and maps failures to [`Refused`] / [`Unreachable`].
pub async fn send_raw(rb: reqwest::RequestBuilder, base: &str) -> anyhow::Result<Value> {
    let resp = rb.send().await.map_err(|source| Unreachable {
        url: base.to_string(),
        source,
    })?;
    let status = resp.status();
    let text = resp.text().await.context("reading the response")?;
    if status.is_success() {
        if text.trim_start().starts_with(['{', '[']) {
            return serde_json::from_str(&text).context("the server's answer is not JSON");
        }
        return Ok(Value::String(text));
    }
    Err(refused(status.as_u16(), &text).into())
}

/// The host's refusal, from its status and error body.
fn refused(status: u16, text: &str) -> Refused {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    Refused {
        status,
        code: v["error"]["code"]
            .as_str()
            .unwrap_or("http_error")
            .to_string(),
        message: v["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(200).collect()),
    }
}
