//! `POST /{version}/{phone_number_id}/messages`: through the outbox, answered as
//! Meta answers (see the module above).

use super::media::scrm_media_ids;
use super::{
    AppState, GraphError, Principal, answer_error, caller, check_version, fbtrace_id, unavailable,
};
use crate::limits::policy::Refusal;
use crate::outbox::SubmitError;
use crate::templates::TemplateError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use scrm_store::outbox::OutboxItem;
use scrm_wire::graph::sent_answer;
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
    scrm_media_ids(state, &tenant, &mut message).await?;
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
        132016 => "Template has been disabled",
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
        SubmitError::Template(t) => {
            let code = match &t {
                TemplateError::BodyParams { .. } | TemplateError::NamedParams { .. } => 132000,
                TemplateError::NotApproved { status, .. } if status == "PAUSED" => 132015,
                TemplateError::NotApproved { status, .. } if status == "DISABLED" => 132016,
                _ => 132001,
            };
            GraphError::new(400, code, format!("(#{code}) {}", title(code)))
                .details(format!("{t} (scrm: {})", t.code()))
        }
        SubmitError::UnknownTenant(t) => unavailable(&format!("no tenant {t:?}")),
        SubmitError::Store(s) => unavailable(&s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_answer_with_metas_codes() {
        let code = |r| refused(SubmitError::Refused(r)).code;
        assert_eq!(code(Refusal::OutsideServiceWindow), 131047);
        assert_eq!(code(Refusal::MarketingStopped), 131050);
        assert_eq!(code(Refusal::OptedOut), 131026);
    }
}
