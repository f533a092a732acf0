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
//! Who may call it: the operator's token, or a tenant token whose role may
//! `POST /v1/tenants/{id}/messages` (manager or admin), for the tenant's own numbers.

use super::AppState;
use super::access::{self, Principal};
use crate::limits::policy::Refusal;
use crate::outbox::SubmitError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use scrm_store::outbox::OutboxItem;
use scrm_wire::graph::{GraphError, sent_answer};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How often a waiting answer looks at its outbox row.
const POLL: Duration = Duration::from_millis(20);

/// `POST /{version}/{phone_number_id}/messages`.
pub async fn messages(
    State(state): State<AppState>,
    Path((version, number)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let trace = fbtrace_id();
    match send(&state, &version, &number, &headers, &body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => {
            tracing::info!(fbtrace_id = %trace, code = e.code, message = %e.message,
                details = e.details.as_deref().unwrap_or(""), "drop-in send refused");
            answer_error(&e, &trace)
        }
    }
}

/// The send itself: checks, queues, waits, answers.
async fn send(
    state: &AppState,
    version: &str,
    number: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, GraphError> {
    check_version(version, &format!("/{number}/messages"))?;
    let (tenant, who) = caller(state, headers, number, "/tenants/{id}/messages").await?;
    let mut message: Value = serde_json::from_slice(body).map_err(|e| {
        GraphError::new(400, 100, "(#100) Invalid parameter")
            .details(format!("the body is not JSON: {e}"))
    })?;
    let input = message["to"].as_str().unwrap_or_default().to_owned();
    if let Some(obj) = message.as_object_mut() {
        // The number is the path's; scrm's own extension fields are not Meta's.
        obj.insert("from".into(), Value::from(number));
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .map(str::to_owned);
    let source = match &who {
        Principal::Operator => "cloud-api".to_string(),
        other => format!("cloud-api {}", other.actor()),
    };
    let (item, _) = state
        .outbox
        .submit(&tenant, message, key, &source)
        .await
        .map_err(refused)?;
    let wait = Duration::from_millis(state.outbox.settings().drop_in_wait_ms);
    let item = settled(state, item, wait).await?;
    answer(&item, &input)
}

/// The tenant that owns `number`, and the caller, admitted to do what `rule` (a
/// `POST` route of [`access::RULES`]) does for it.
async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    number: &str,
    rule: &str,
) -> Result<(String, Principal), GraphError> {
    let who = access::bearer(state, headers).await.map_err(|e| {
        GraphError::new(
            401,
            190,
            "Invalid OAuth access token - Cannot parse access token",
        )
        .details(e.message)
    })?;
    let n = number.to_owned();
    let owner = state
        .db
        .read(move |c| scrm_store::TenantRepo::owner(c, &n))
        .await
        .map_err(|e| unavailable(&e.to_string()))?;
    let unknown = || {
        GraphError::new(
            400,
            100,
            format!(
                "Unsupported post request. Object with ID '{number}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"
            ),
        )
        .subcode(33)
        .kind("GraphMethodException")
    };
    let tenant = owner.ok_or_else(unknown)?;
    match access::admit_as(&who, &Method::POST, rule, &tenant) {
        Ok(()) => Ok((tenant, who)),
        Err(e) if e.code == "other_tenant" => Err(unknown()),
        Err(e) => Err(GraphError::new(
            403,
            10,
            "(#10) Application does not have permission for this action",
        )
        .details(e.message)),
    }
}

/// `POST /{version}/{phone_number_id}/media`: multipart `file`, `type` (its MIME
/// type) and `messaging_product`, as Meta takes it; `{"id": "scrm:<sha256>"}`, an id
/// any send of the tenant's can use (the outbox uploads the file to Meta first).
pub async fn media(
    State(state): State<AppState>,
    Path((version, number)): Path<(String, String)>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let trace = fbtrace_id();
    let stored = async {
        check_version(&version, &format!("/{number}/media"))?;
        let (tenant, _) = caller(&state, &headers, &number, "/tenants/{id}/media").await?;
        let multipart = multipart.map_err(|e| bad_upload(&e.body_text()))?;
        let (w, file_name, mime) = read_upload(&state, multipart).await?;
        let ingested = state
            .media
            .ingest(&tenant, w, file_name, mime, None)
            .await
            .map_err(|e| {
                GraphError::new(400, 131053, "(#131053) Media upload error").details(e.to_string())
            })?;
        Ok::<_, GraphError>(json!({"id": ingested.row.scrm_id}))
    }
    .await;
    match stored {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => answer_error(&e, &trace),
    }
}

/// The upload's file (written to the media store's temporary file), its name and
/// the MIME type its `type` part gives.
async fn read_upload(
    state: &AppState,
    mut multipart: Multipart,
) -> Result<(crate::media::Writer, Option<String>, Option<String>), GraphError> {
    let (mut file, mut mime) = (None, None);
    let max = crate::media::kinds::DOCUMENT_MAX;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| bad_upload(&e.body_text()))?
    {
        match field.name().unwrap_or_default() {
            "file" => {
                let name = field.file_name().map(str::to_owned);
                let part_type = field.content_type().map(str::to_owned);
                let mut w = state
                    .media
                    .writer()
                    .await
                    .map_err(|e| unavailable(&e.to_string()))?;
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| bad_upload(&e.body_text()))?
                {
                    w.write(&chunk)
                        .await
                        .map_err(|e| unavailable(&e.to_string()))?;
                    if w.size() > max {
                        return Err(GraphError::new(400, 131053, "(#131053) Media upload error")
                            .details(format!("files may be at most {max} bytes")));
                    }
                }
                file = Some((w, name, part_type));
            }
            "type" => mime = Some(field.text().await.map_err(|e| bad_upload(&e.body_text()))?),
            "messaging_product" => {
                let p = field.text().await.map_err(|e| bad_upload(&e.body_text()))?;
                if p.trim() != "whatsapp" {
                    return Err(bad_upload("messaging_product must be whatsapp"));
                }
            }
            other => return Err(bad_upload(&format!("unknown part {other:?}"))),
        }
    }
    let (w, name, part_type) = file.ok_or_else(|| bad_upload("no `file` part"))?;
    if w.size() == 0 {
        return Err(bad_upload("the file is empty"));
    }
    Ok((w, name, mime.map(|m| m.trim().to_owned()).or(part_type)))
}

fn bad_upload(why: &str) -> GraphError {
    GraphError::new(400, 100, "(#100) Invalid parameter").details(format!(
        "an upload is multipart/form-data with `messaging_product`, `file` and `type`: {why}"
    ))
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

/// The row once the sender has settled it (sent, failed, dead), or as it is when
/// `wait` has passed or it waits for a rule longer than that.
async fn settled(
    state: &AppState,
    item: OutboxItem,
    wait: Duration,
) -> Result<OutboxItem, GraphError> {
    let deadline = Instant::now() + wait;
    let mut item = item;
    loop {
        let held = item.wait_reason.is_some()
            && item.not_before > scrm_store::now_ms() + wait.as_millis() as i64;
        if !matches!(item.state.as_str(), "queued" | "sending")
            || held
            || Instant::now() >= deadline
        {
            return Ok(item);
        }
        tokio::time::sleep(POLL).await;
        let (tenant, id) = (item.tenant_id.clone(), item.id);
        let now = state
            .db
            .read(move |c| scrm_store::OutboxRepo::get(c, &tenant, id))
            .await
            .map_err(|e| unavailable(&e.to_string()))?;
        match now {
            Some(n) => item = n,
            // Cancelled by an operator meanwhile.
            None => return Ok(item),
        }
    }
}

/// Meta's answer for the row as it stands.
fn answer(item: &OutboxItem, input: &str) -> Result<Value, GraphError> {
    if item.kind == "read" {
        return match item.state.as_str() {
            "failed" | "dead" => Err(failed(item)),
            _ => Ok(json!({"success": true})),
        };
    }
    let wa_id = item.to.trim_start_matches('+');
    match (item.state.as_str(), &item.wamid) {
        ("sent", Some(wamid)) => Ok(sent_answer(input, wa_id, wamid, Some("accepted"))),
        ("failed" | "dead", _) => Err(failed(item)),
        _ => Ok(sent_answer(
            input,
            wa_id,
            &format!("scrm.outbox.{}", item.id),
            Some("accepted"),
        )),
    }
}

/// A send Meta (or the sender) failed, as Meta's error: its code when Meta gave one.
fn failed(item: &OutboxItem) -> GraphError {
    let details = item
        .last_error
        .clone()
        .unwrap_or_else(|| format!("the send ended {}", item.state));
    match item.error_code {
        Some(code) => {
            GraphError::new(400, code, format!("(#{code}) {}", title(code))).details(details)
        }
        None => GraphError::new(500, 131000, "(#131000) Something went wrong").details(details),
    }
}

/// Meta's title for the codes scrm answers with.
fn title(code: i64) -> &'static str {
    match code {
        131047 => "Re-engagement message",
        131050 => {
            "Unable to deliver the message. This user has chosen to stop receiving marketing messages from your business"
        }
        131026 => "Message undeliverable",
        131009 => "Parameter value is not valid",
        131008 => "Required parameter is missing",
        132000 => "Number of parameters does not match the expected number of params",
        132001 => "Template name does not exist in the translation",
        132015 => "Template is Paused",
        131056 => "(Business Account, Consumer Account) pair rate limit hit",
        130429 => "Rate limit hit",
        _ => "Message failed to send",
    }
}

/// Why the outbox did not take a request, as Meta's error.
fn refused(e: SubmitError) -> GraphError {
    match e {
        SubmitError::Refused(r) => {
            let code = match r {
                Refusal::OutsideServiceWindow => 131047,
                Refusal::MarketingStopped => 131050,
                Refusal::OptedOut => 131026,
            };
            GraphError::new(400, code, format!("(#{code}) {}", title(code))).details(format!(
                "{} (scrm: {})",
                r.message(),
                r.code()
            ))
        }
        SubmitError::Invalid(i) if i.code == "invalid_json" => {
            GraphError::new(400, 100, "(#100) Invalid parameter").details(i.message)
        }
        SubmitError::Invalid(i) => {
            GraphError::new(400, 131009, format!("(#131009) {}", title(131009))).details(i.message)
        }
        SubmitError::UnknownTenant(t) => unavailable(&format!("no tenant {t:?}")),
        SubmitError::Store(s) => unavailable(&s.to_string()),
    }
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

    #[test]
    fn refusals_answer_with_metas_codes() {
        let code = |r| refused(SubmitError::Refused(r)).code;
        assert_eq!(code(Refusal::OutsideServiceWindow), 131047);
        assert_eq!(code(Refusal::MarketingStopped), 131050);
        assert_eq!(code(Refusal::OptedOut), 131026);
    }
}
