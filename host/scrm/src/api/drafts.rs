//! Drafts over HTTP: an answer a flow left in a conversation (`scrm:plugin/assist`,
//! e.g. the AI replies flow) is sent by an agent — as written or edited — or
//! discarded. The conversation's waiting drafts are listed in its inbox view.
//!
//! - `POST /v1/tenants/{id}/inbox/conversations/{cid}/drafts/{draft}/send`
//!   `{"text"?}`: queued through the outbox as plain text (never read as a
//!   template) under every rule a send obeys; `202` the outbox item;
//! - `POST …/drafts/{draft}/discard`.

use super::AppState;
use super::access::Principal;
use super::error::ApiError;
use axum::extract::Path;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use scrm_store::assist::Draft;
use scrm_store::{AssistRepo, now_ms};
use serde::Deserialize;
use serde_json::json;

/// What an agent sends.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendDraft {
    /// The agent's edit; none: the draft as written.
    text: Option<String>,
}

/// The waiting draft `draft` of conversation `cid`; 404 when there is no such
/// draft there, 409 `draft_decided` when it was sent, discarded or replaced.
async fn waiting(state: &AppState, tenant: &str, cid: i64, draft: i64) -> Result<Draft, ApiError> {
    let t = tenant.to_owned();
    let found = state
        .db
        .read(move |c| AssistRepo::draft_of(c, &t, draft))
        .await?
        .filter(|d| d.conversation_id == cid)
        .ok_or_else(|| ApiError::not_found(format!("conversation {cid} has no draft {draft}")))?;
    if found.state != "waiting" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "draft_decided",
            format!("draft {draft} is {} already", found.state),
        ));
    }
    Ok(found)
}

/// `POST …/drafts/{draft}/send`.
pub async fn send(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((tenant, cid, draft)): Path<(String, i64, i64)>,
    body: Result<Json<SendDraft>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let item = super::conversations::visible(&state, &tenant, cid, &p).await?;
    let found = waiting(&state, &tenant, cid, draft).await?;
    let text = body.text.unwrap_or(found.text);
    if text.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_message",
            "the text to send is empty: discard the draft instead",
        ));
    }
    let Some(to) = item.wa_id.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_recipient",
            "the contact has no WhatsApp id to write to",
        ));
    };
    let message = json!({"to": to, "from": item.phone_number_id, "type": "text",
                         "text": {"body": text}});
    // One send per draft, however often the button is pressed.
    let key = format!("draft:{tenant}:{draft}");
    let source = format!("inbox {} (draft of {})", p.actor(), found.flow);
    let (queued, _) = state
        .outbox
        .submit(&tenant, message, Some(key), &source)
        .await?;
    let (t, by, outbox) = (tenant.clone(), p.actor(), queued.id);
    state
        .db
        .write(move |c| {
            AssistRepo::decide_draft(c, &t, draft, Some((&text, outbox)), &by, now_ms())
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(queued)).into_response())
}

/// `POST …/drafts/{draft}/discard`.
pub async fn discard(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((tenant, cid, draft)): Path<(String, i64, i64)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    super::conversations::visible(&state, &tenant, cid, &p).await?;
    waiting(&state, &tenant, cid, draft).await?;
    let (t, by) = (tenant.clone(), p.actor());
    let done = state
        .db
        .write(move |c| AssistRepo::decide_draft(c, &t, draft, None, &by, now_ms()))
        .await?;
    if !done {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "draft_decided",
            format!("draft {draft} was decided meanwhile"),
        ));
    }
    Ok(Json(json!({"id": draft, "state": "discarded"})))
}
