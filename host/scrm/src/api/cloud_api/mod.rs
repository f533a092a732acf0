//! The drop-in Cloud API endpoint: the send surface of Meta's Graph API at Meta's
//! paths and in Meta's shapes, so a client written for WhatsApp (pywa, an order
//! system's notifier, a bot) keeps working with its base URL pointed at scrm and an
//! scrm token as its access token — and its traffic goes through the outbox, every
//! rule, the stored history and the CRM sync like any other send.
//!
//! - `POST /{version}/{phone_number_id}/messages`: every message the outbox sends,
//!   mark-as-read and the typing indicator. The answer waits for the send to reach
//!   Meta (up to `[whatsapp] drop_in_wait_ms`) and is Meta's own: the `wamid`, or
//!   Meta's error. A send that is still queued then (pacing, the daily cap, the
//!   opt-in rule) is answered as accepted with a provisional id
//!   `scrm.outbox.{id}`; it is sent when its rule allows, never dropped.
//! - A request scrm refuses is answered with the code Meta uses for that reason, so
//!   the client's own error handling works: outside the 24-hour window `131047`,
//!   marketing stopped `131050`, an opted-out contact `131026`, an invalid message
//!   `131009` (`100` for a body that is no JSON object), an unknown number or another
//!   tenant's `100`/`33`, a bad token `190` (HTTP 401), a role that may not send `10`.
//!
//! `messages` sends, `media` uploads and locates files; this module holds what
//! both share: who the caller is, Meta's error envelope, the version check.
//!
//! Who may call it: the operator's token, or a tenant token whose role may
//! `POST /v1/tenants/{id}/messages` (manager or admin), for the tenant's own numbers.

mod media;
mod messages;
mod templates;

pub use media::{media, media_url};
pub use messages::messages;
pub use templates::message_templates;

use super::AppState;
use super::access::{self, Principal};
use axum::Json;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use scrm_wire::graph::GraphError;

/// The tenant that owns `number`, and the caller, admitted to do what `rule` (a
/// `POST` route of [`access::RULES`]) does for it.
async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    number: &str,
    rule: &str,
) -> Result<(String, Principal), GraphError> {
    let who = access::bearer(state, headers).await.map_err(bad_token)?;
    let n = number.to_owned();
    let owner = state
        .db
        .read(move |c| scrm_store::TenantRepo::owner(c, &n))
        .await
        .map_err(|e| unavailable(&e.to_string()))?;
    let tenant = owner.ok_or_else(|| unknown_object(number, "post"))?;
    match access::admit_as(&who, &Method::POST, rule, &tenant) {
        Ok(()) => Ok((tenant, who)),
        Err(e) if e.code == "other_tenant" => Err(unknown_object(number, "post")),
        Err(e) => Err(forbidden(e.message)),
    }
}

fn bad_token(e: super::error::ApiError) -> GraphError {
    GraphError::new(
        401,
        190,
        "Invalid OAuth access token - Cannot parse access token",
    )
    .details(e.message)
}

fn forbidden(why: String) -> GraphError {
    GraphError::new(
        403,
        10,
        "(#10) Application does not have permission for this action",
    )
    .details(why)
}

/// Meta's answer for an id that is not there, or not the caller's (`verb`: `post`
/// or `get`, as Meta words it).
fn unknown_object(id: &str, verb: &str) -> GraphError {
    GraphError::new(
        400,
        100,
        format!(
            "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"
        ),
    )
    .subcode(33)
    .kind("GraphMethodException")
}

/// `version` as Meta spells one (`v23.0`), else Meta's answer to an unknown path.
fn check_version(version: &str, rest: &str) -> Result<(), GraphError> {
    let ok = version.strip_prefix('v').is_some_and(|v| {
        let mut parts = v.split('.');
        let major = parts.next().is_some_and(is_number);
        let minor = parts.next().is_none_or(is_number);
        major && minor && parts.next().is_none()
    });
    if ok {
        Ok(())
    } else {
        Err(GraphError::new(
            400,
            2500,
            format!("Unknown path components: /{version}{rest}"),
        ))
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn unavailable(why: &str) -> GraphError {
    tracing::warn!(error = why, "drop-in endpoint: the store failed");
    GraphError::new(503, 2, "Service temporarily unavailable")
        .details("scrm cannot reach its database; nothing was queued, try again")
}

/// Meta's envelope with the error's HTTP status.
fn answer_error(e: &GraphError, trace: &str) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, Json(e.envelope(trace))).into_response();
    if e.status == 401 {
        resp.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("OAuth \"Facebook Platform\" \"invalid_token\""),
        );
    }
    resp
}

/// A request id for the envelope's `fbtrace_id`, also written to the host's log.
fn fbtrace_id() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..11)
        .map(|_| {
            let i = rng.random_range(0..62u8);
            char::from(match i {
                0..=9 => b'0' + i,
                10..=35 => b'A' + i - 10,
                _ => b'a' + i - 36,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_metas_spelling() {
        for v in ["v23.0", "v19.0", "v7"] {
            assert!(check_version(v, "/1/messages").is_ok(), "{v}");
        }
        for v in ["23.0", "v", "v23.", "vx.0", "v23.0.1", "latest"] {
            let e = check_version(v, "/1/messages").unwrap_err();
            assert_eq!(e.code, 2500, "{v}");
        }
    }
}
