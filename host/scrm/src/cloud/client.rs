//! The Cloud API client: `POST /{version}/{phone-number-id}/messages` and the
//! errors Meta answers, parsed into [`SendError`] so the outbox can act on each code
//! (back off, ask for a template, suppress) instead of retrying blindly.
//!
//! The base URL and version come from an [`Endpoint`] (host-wide default, overridden
//! per app), so tests and failover can point it anywhere.
//!
//! ```no_run
//! # async fn demo() -> Result<(), scrm_wire::graph::SendError> {
//! use scrm::cloud::client::{CloudClient, Endpoint};
//! let client = CloudClient::new(std::time::Duration::from_secs(10));
//! let ep = Endpoint::new("https://graph.facebook.com", "v23.0");
//! let body = serde_json::json!({"messaging_product": "whatsapp", "recipient_type": "individual",
//!     "to": "393471234567", "type": "text", "text": {"body": "Hello"}});
//! let sent = client.send(&ep, "1234567890", "EAAG…", &body).await?;
//! println!("{:?}", sent.wamid);
//! # Ok(()) }
//! ```

use scrm_wire::graph::{SendError, Sent, error_from, sent_from};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Where the Cloud API is: base URL (no trailing slash) and Graph API version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// For example `https://graph.facebook.com`.
    pub base_url: String,
    /// For example `v23.0`.
    pub version: String,
}

impl Endpoint {
    /// An endpoint; a trailing slash on `base_url` is dropped.
    pub fn new(base_url: impl Into<String>, version: impl Into<String>) -> Endpoint {
        let mut base_url = base_url.into();
        while base_url.ends_with('/') {
            base_url.pop();
        }
        Endpoint {
            base_url,
            version: version.into(),
        }
    }

    /// The URL of `path` under this endpoint's base URL and version.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{}/{}", self.base_url, self.version, path)
    }
}

/// A Cloud API client with one connection pool and a per-request timeout.
#[derive(Debug, Clone)]
pub struct CloudClient {
    http: reqwest::Client,
    timeout: Duration,
}

impl CloudClient {
    /// A client whose requests time out after `timeout`.
    pub fn new(timeout: Duration) -> CloudClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(256)
            .user_agent(concat!("scrm/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's static configuration is valid");
        CloudClient { http, timeout }
    }

    /// Sends one message object (or a mark-as-read) from `phone_number_id`.
    ///
    /// # Errors
    /// [`SendError`] with Meta's code when Meta refused, or why no answer came.
    pub async fn send(
        &self,
        ep: &Endpoint,
        phone_number_id: &str,
        token: &str,
        body: &Value,
    ) -> Result<Sent, SendError> {
        let url = ep.url(&format!("{phone_number_id}/messages"));
        let bytes = self.post_json(&url, body, token).await?;
        sent_from(&bytes)
    }

    /// Reads the phone number's record (`GET /{version}/{phone-number-id}`): a cheap
    /// authenticated call for health probes. Returns how long it took.
    ///
    /// # Errors
    /// As [`CloudClient::send`].
    pub async fn probe(
        &self,
        ep: &Endpoint,
        phone_number_id: &str,
        token: &str,
    ) -> Result<Duration, SendError> {
        let started = Instant::now();
        self.get(&ep.url(phone_number_id), &[], token).await?;
        Ok(started.elapsed())
    }

    /// `GET url?query` with the bearer `token`: the body of a 2xx answer.
    ///
    /// # Errors
    /// As [`CloudClient::send`].
    pub(crate) async fn get(
        &self,
        url: &str,
        query: &[(&str, &str)],
        token: &str,
    ) -> Result<Vec<u8>, SendError> {
        self.body_of(self.http.get(url).query(query).bearer_auth(token))
            .await
    }

    /// `POST`s the JSON `body` to `url` with `token`: the answer's body, or Meta's
    /// error.
    ///
    /// # Errors
    /// As [`CloudClient::send`].
    pub(crate) async fn post_json(
        &self,
        url: &str,
        body: &Value,
        token: &str,
    ) -> Result<Vec<u8>, SendError> {
        self.body_of(self.http.post(url).bearer_auth(token).json(body))
            .await
    }

    /// Sends `request`: the body of a 2xx answer, or Meta's error.
    async fn body_of(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, SendError> {
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(error_from(status.as_u16(), retry_after, &bytes));
        }
        Ok(bytes.to_vec())
    }

    /// The underlying HTTP client (media transfers share its pool).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn transport(&self, e: reqwest::Error) -> SendError {
        if e.is_timeout() {
            SendError::Timeout(self.timeout)
        } else {
            SendError::Transport(e.without_url().to_string())
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Meta).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_drops_trailing_slashes() {
        let ep = Endpoint::new("http://127.0.0.1:9/", "v23.0");
        assert_eq!(ep.url("1/messages"), "http://127.0.0.1:9/v23.0/1/messages");
    }
}
