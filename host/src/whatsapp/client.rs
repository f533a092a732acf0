//! The Cloud API client: `POST /{version}/{phone-number-id}/messages` and the
//! errors Meta answers, parsed into [`SendError`] so the outbox can act on each code
//! (back off, ask for a template, suppress) instead of retrying blindly.
//!
//! The base URL and version come from an [`Endpoint`] (host-wide default, overridden
//! per app), so tests and failover can point it anywhere.
//!
//! ```no_run
//! # async fn demo() -> Result<(), scrm::whatsapp::client::SendError> {
//! use scrm::whatsapp::client::{CloudClient, Endpoint};
//! let client = CloudClient::new(std::time::Duration::from_secs(10));
//! let ep = Endpoint::new("https://graph.facebook.com", "v23.0");
//! let body = serde_json::json!({"messaging_product": "whatsapp", "recipient_type": "individual",
//!     "to": "393471234567", "type": "text", "text": {"body": "Hello"}});
//! let sent = client.send(&ep, "1234567890", "EAAG…", &body).await?;
//! println!("{:?}", sent.wamid);
//! # Ok(()) }
//! ```

use serde::Deserialize;
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

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{}", self.base_url, self.version, path)
    }
}

/// What Meta answered to an accepted send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sent {
    /// The new message's id (absent for mark-as-read, which answers `success`).
    pub wamid: Option<String>,
    /// The recipient's WhatsApp id as Meta resolved it.
    pub wa_id: Option<String>,
    /// `accepted`, `held_for_quality_assessment`, ... when Meta says.
    pub message_status: Option<String>,
}

/// A failed Cloud API call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Meta answered with its error envelope.
    #[error("Meta error {code}{}: {message}", subcode.map(|s| format!("/{s}")).unwrap_or_default())]
    Meta {
        /// HTTP status.
        status: u16,
        /// Meta's error code (130429, 131047, ...).
        code: i64,
        /// Meta's error subcode, when given.
        subcode: Option<i64>,
        /// Meta's message, with `error_data.details` when given.
        message: String,
        /// The `Retry-After` header, when sent.
        retry_after: Option<Duration>,
    },
    /// A non-2xx answer without Meta's envelope (a proxy's 502, ...).
    #[error("HTTP {status} from the Cloud API")]
    Http {
        /// HTTP status.
        status: u16,
        /// The `Retry-After` header, when sent.
        retry_after: Option<Duration>,
    },
    /// No answer within the timeout.
    #[error("the Cloud API did not answer within {0:?}")]
    Timeout(Duration),
    /// Connecting or reading failed.
    #[error("cannot reach the Cloud API: {0}")]
    Transport(String),
    /// A 2xx answer that is not what the API documents.
    #[error("unexpected Cloud API answer: {0}")]
    InvalidResponse(String),
}

impl SendError {
    /// Meta's error code, when there is one.
    pub fn code(&self) -> Option<i64> {
        match self {
            SendError::Meta { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The server's `Retry-After`, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Meta { retry_after, .. } | SendError::Http { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    error: MetaError,
}

#[derive(Deserialize)]
struct MetaError {
    #[serde(default)]
    message: String,
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default)]
    details: Option<String>,
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    contacts: Vec<ResponseContact>,
    #[serde(default)]
    messages: Vec<ResponseMessage>,
    #[serde(default)]
    success: Option<bool>,
}

#[derive(Deserialize)]
struct ResponseContact {
    #[serde(default)]
    wa_id: Option<String>,
}

#[derive(Deserialize)]
struct ResponseMessage {
    id: String,
    #[serde(default)]
    message_status: Option<String>,
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
        let response = self
            .http
            .post(ep.url(&format!("{phone_number_id}/messages")))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(error_from(status.as_u16(), retry_after, &bytes));
        }
        let parsed: SendResponse = serde_json::from_slice(&bytes)
            .map_err(|e| SendError::InvalidResponse(format!("{e}")))?;
        if parsed.messages.is_empty() && parsed.success != Some(true) {
            return Err(SendError::InvalidResponse(
                "neither `messages` nor `success` in the answer".into(),
            ));
        }
        let message = parsed.messages.into_iter().next();
        Ok(Sent {
            wa_id: parsed.contacts.into_iter().next().and_then(|c| c.wa_id),
            message_status: message.as_ref().and_then(|m| m.message_status.clone()),
            wamid: message.map(|m| m.id),
        })
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
        let response = self
            .http
            .get(ep.url(phone_number_id))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(error_from(status.as_u16(), retry_after, &bytes));
        }
        Ok(started.elapsed())
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

/// Parses a non-2xx answer: Meta's envelope when present, else the bare status.
pub fn error_from(status: u16, retry_after: Option<Duration>, body: &[u8]) -> SendError {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { error }) => {
            let message = match error.error_data.and_then(|d| d.details) {
                Some(details) if !details.is_empty() && details != error.message => {
                    format!("{} ({details})", error.message)
                }
                _ => error.message,
            };
            SendError::Meta {
                status,
                code: error.code,
                subcode: error.error_subcode,
                message,
                retry_after,
            }
        }
        Err(_) => SendError::Http {
            status,
            retry_after,
        },
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
    fn parses_meta_error_envelope_with_details() {
        let body = br#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,
            "error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed"},
            "fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}"#;
        let e = error_from(400, None, body);
        assert_eq!(e.code(), Some(131047));
        assert!(e.to_string().contains("more than 24 hours"), "{e}");
    }

    #[test]
    fn non_envelope_answer_keeps_status_and_retry_after() {
        let e = error_from(503, Some(Duration::from_secs(7)), b"<html>busy</html>");
        assert!(matches!(e, SendError::Http { status: 503, .. }));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(e.code(), None);
    }

    #[test]
    fn endpoint_drops_trailing_slashes() {
        let ep = Endpoint::new("http://127.0.0.1:9/", "v23.0");
        assert_eq!(ep.url("1/messages"), "http://127.0.0.1:9/v23.0/1/messages");
    }
}
