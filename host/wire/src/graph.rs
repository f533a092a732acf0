//! Graph API answers: what Meta returns to an accepted send, its error envelope,
//! and what each error code means for the sender. Pure parsing; the HTTP client
//! that receives these answers lives above this crate.

use serde::Deserialize;
use std::time::Duration;

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

/// The body of a 2xx answer to `POST /{phone-number-id}/messages`.
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

/// Parses a 2xx answer to a send (or a mark-as-read, which answers `success`).
///
/// # Errors
/// [`SendError::InvalidResponse`] when the body is not what the API documents.
pub fn sent_from(body: &[u8]) -> Result<Sent, SendError> {
    let parsed: SendResponse =
        serde_json::from_slice(body).map_err(|e| SendError::InvalidResponse(format!("{e}")))?;
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

/// Meta's codes for a temporary failure on its side (unknown, service, "something
/// went wrong", service unavailable, phone number down).
pub fn temporary_code(code: Option<i64>) -> bool {
    matches!(code, Some(1 | 2 | 131000 | 131016 | 133004))
}

/// Meta's codes asking the sender to slow down: API calls (4, 80007), throughput
/// (130429) and pair rate (131056).
pub fn rate_limit_code(code: Option<i64>) -> bool {
    matches!(code, Some(4 | 80007 | 130429 | 131056))
}

/// What a failed send's code asks of the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// Slow down and try again (rate limits); never a reason to give up.
    SlowDown,
    /// The customer-service window is closed: only a template may go (131047).
    NeedsTemplate,
    /// The recipient cannot receive WhatsApp messages (131026).
    Undeliverable,
    /// The recipient stopped marketing messages (131050).
    StoppedMarketing,
    /// Meta paused marketing to this recipient for a while (131049).
    MarketingPausedForContact,
    /// Meta paused marketing from this number for a while (368).
    MarketingPausedForNumber,
    /// Anything else: retried when the failure is temporary, else final.
    Other,
}

/// What Meta's error `code` means for the sender.
pub fn meaning(code: Option<i64>) -> Meaning {
    match code {
        c if rate_limit_code(c) => Meaning::SlowDown,
        Some(131047) => Meaning::NeedsTemplate,
        Some(131026) => Meaning::Undeliverable,
        Some(131050) => Meaning::StoppedMarketing,
        Some(131049) => Meaning::MarketingPausedForContact,
        Some(368) => Meaning::MarketingPausedForNumber,
        _ => Meaning::Other,
    }
}

impl SendError {
    /// True for failures that another attempt may fix: 5xx, 429, timeouts, transport
    /// errors, and Meta's own "temporary" codes.
    pub fn retryable(&self) -> bool {
        match self {
            SendError::Meta { status, code, .. } => {
                *status >= 500 || *status == 429 || temporary_code(Some(*code))
            }
            SendError::Http { status, .. } => *status >= 500 || *status == 429,
            SendError::Timeout(_) | SendError::Transport(_) => true,
            SendError::InvalidResponse(_) => false,
        }
    }

    /// True for failures a later attempt may fix when nothing else holds the work
    /// back: [`SendError::retryable`] plus Meta's rate limits.
    pub fn transient(&self) -> bool {
        self.retryable() || rate_limit_code(self.code())
    }
}

/// An error in Meta's envelope, for a server that answers as the Cloud API does
/// (scrm's drop-in endpoint): `{"error": {"message", "type", "code",
/// "error_subcode"?, "error_data": {"messaging_product", "details"}, "fbtrace_id"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    /// HTTP status.
    pub status: u16,
    /// Meta's error code (`131047`, `100`, `190`, ...).
    pub code: i64,
    /// Meta's error subcode, when it gives one.
    pub subcode: Option<i64>,
    /// Meta's `type`: `OAuthException` for almost everything.
    pub kind: &'static str,
    /// The message: Meta's title for the code, `(#code) …` as Meta writes it.
    pub message: String,
    /// `error_data.details`: what exactly went wrong.
    pub details: Option<String>,
}

impl GraphError {
    /// An `OAuthException` with `code` and `message`, answered with `status`.
    pub fn new(status: u16, code: i64, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code,
            subcode: None,
            kind: "OAuthException",
            message: message.into(),
            details: None,
        }
    }

    /// With `error_data.details`.
    #[must_use]
    pub fn details(mut self, details: impl Into<String>) -> GraphError {
        self.details = Some(details.into());
        self
    }

    /// With a subcode.
    #[must_use]
    pub fn subcode(mut self, subcode: i64) -> GraphError {
        self.subcode = Some(subcode);
        self
    }

    /// With another `type` (`GraphMethodException`).
    #[must_use]
    pub fn kind(mut self, kind: &'static str) -> GraphError {
        self.kind = kind;
        self
    }

    /// The envelope, with `fbtrace_id` (a request id the operator can find in the
    /// host's log).
    pub fn envelope(&self, fbtrace_id: &str) -> serde_json::Value {
        let mut error = serde_json::json!({
            "message": self.message, "type": self.kind, "code": self.code,
            "fbtrace_id": fbtrace_id,
        });
        if let Some(s) = self.subcode {
            error["error_subcode"] = s.into();
        }
        if let Some(d) = &self.details {
            error["error_data"] =
                serde_json::json!({"messaging_product": "whatsapp", "details": d});
        }
        serde_json::json!({ "error": error })
    }
}

/// Meta's answer to an accepted send: `{"messaging_product", "contacts": [{"input",
/// "wa_id"}], "messages": [{"id", "message_status"?}]}`.
pub fn sent_answer(
    input: &str,
    wa_id: &str,
    id: &str,
    message_status: Option<&str>,
) -> serde_json::Value {
    let mut message = serde_json::json!({ "id": id });
    if let Some(s) = message_status {
        message["message_status"] = s.into();
    }
    serde_json::json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": input, "wa_id": wa_id}],
        "messages": [message],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_we_answer_reads_back_as_the_same_meta_error() {
        let e = GraphError::new(400, 131047, "(#131047) Re-engagement message")
            .details("more than 24 hours have passed");
        let body = serde_json::to_vec(&e.envelope("Aabc")).unwrap();
        match error_from(400, None, &body) {
            SendError::Meta {
                code,
                message,
                subcode,
                ..
            } => {
                assert_eq!(code, 131047);
                assert_eq!(subcode, None);
                assert!(message.contains("more than 24 hours"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let v = GraphError::new(400, 100, "x").subcode(33).envelope("t");
        assert_eq!(v["error"]["error_subcode"], 33);
        assert!(v["error"].get("error_data").is_none());
        let sent = sent_answer(
            "+39 347 1234567",
            "393471234567",
            "wamid.A",
            Some("accepted"),
        );
        let parsed = sent_from(&serde_json::to_vec(&sent).unwrap()).unwrap();
        assert_eq!(parsed.wamid.as_deref(), Some("wamid.A"));
        assert_eq!(parsed.wa_id.as_deref(), Some("393471234567"));
    }

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
    fn only_temporary_failures_are_retried() {
        let meta = |status, code| SendError::Meta {
            status,
            code,
            subcode: None,
            message: String::new(),
            retry_after: None,
        };
        assert!(meta(500, 1).retryable());
        assert!(meta(400, 131000).retryable());
        assert!(!meta(400, 100).retryable());
        assert!(!meta(401, 190).retryable());
        assert!(SendError::Timeout(Duration::from_secs(1)).retryable());
        assert!(
            SendError::Http {
                status: 502,
                retry_after: None
            }
            .retryable()
        );
        assert!(
            !SendError::Http {
                status: 404,
                retry_after: None
            }
            .retryable()
        );
    }

    #[test]
    fn transient_adds_rate_limits_to_retryable() {
        let meta = |status, code| SendError::Meta {
            status,
            code,
            subcode: None,
            message: String::new(),
            retry_after: None,
        };
        assert!(meta(500, 131000).transient());
        assert!(meta(400, 130429).transient());
        assert!(
            !meta(400, 100).transient(),
            "an unknown media id stays unknown"
        );
        assert!(!meta(401, 190).transient());
        assert!(SendError::Timeout(Duration::from_secs(1)).transient());
        assert!(!SendError::InvalidResponse("x".into()).transient());
    }
}
