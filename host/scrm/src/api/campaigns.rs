//! Campaigns over HTTP: create, list, one campaign's status, its traffic plan,
//! start (now or at a time), pause, and its recipients' outcomes. The rules live in
//! `crate::campaigns`; this maps requests and errors.

use super::AppState;
use super::error::ApiError;
use crate::campaigns::{self, CampaignError, NewCampaign};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use scrm_store::CampaignRepo;
use scrm_store::campaigns::{Campaign, RecipientRow};
use scrm_store::page::PageRequest;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::Instrument;

impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> ApiError {
        let status = match e {
            CampaignError::Store(s) => return s.into(),
            CampaignError::Template(t) => return t.into(),
            CampaignError::NotFound(_) => StatusCode::NOT_FOUND,
            CampaignError::State { .. } => StatusCode::CONFLICT,
            CampaignError::Audience { .. }
            | CampaignError::Parameter { .. }
            | CampaignError::Invalid(_)
            | CampaignError::Number { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// `POST /v1/tenants/{id}/campaigns`: checks and stores a campaign (`201`);
/// `422 invalid_audience` with the line, column and what was expected, `404
/// unknown_template` (and the registry's other codes), `422 invalid_parameter` for
/// a variable that can be missing for a contact.
pub async fn create(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<NewCampaign>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let span = tracing::info_span!("scrm.campaigns.create", tenant = %tenant);
    let c = campaigns::create(&state.db, &tenant, req)
        .instrument(span)
        .await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

/// `GET /v1/tenants/{id}/campaigns`: every campaign with its counts, newest first.
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let items = campaigns::status(&state.db, &tenant, None).await?;
    Ok(Json(json!({"items": items})))
}

/// `GET /v1/tenants/{id}/campaigns/{cid}`: one campaign with recipients counted by
/// outcome and skipped ones by reason.
pub async fn get(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<campaigns::Status>, ApiError> {
    let mut items = campaigns::status(&state.db, &tenant, Some(id)).await?;
    Ok(Json(items.remove(0)))
}

/// `GET /v1/tenants/{id}/campaigns/{cid}/plan`: the traffic plan (the one it runs
/// by once started).
pub async fn plan(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<campaigns::plan::Plan>, ApiError> {
    let limits = state.outbox.defaults().limits;
    Ok(Json(
        campaigns::plan_of(&state.db, &tenant, id, limits).await?,
    ))
}

/// Body of `POST …/start` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// Start then: RFC 3339, or a delay from now (`2h`).
    #[serde(default)]
    at: Option<String>,
}

/// `POST /v1/tenants/{id}/campaigns/{cid}/start`: begins now (or resumes a paused
/// campaign), or schedules it with `{"at": …}`; `409 campaign_state` when it is done.
pub async fn start(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
    body: Bytes,
) -> Result<Json<Campaign>, ApiError> {
    let body: StartBody = if body.iter().all(u8::is_ascii_whitespace) {
        StartBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?
    };
    let limits = state.outbox.defaults().limits;
    let span = tracing::info_span!("scrm.campaigns.start", tenant = %tenant, campaign = id);
    let c = campaigns::start(&state.db, &tenant, id, body.at.as_deref(), limits)
        .instrument(span)
        .await?;
    Ok(Json(c))
}

/// `POST /v1/tenants/{id}/campaigns/{cid}/pause`: nothing more is queued until it is
/// started again.
pub async fn pause(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<Campaign>, ApiError> {
    let c = campaigns::pause(&state.db, &tenant, id).await?;
    Ok(Json(c))
}

/// Query of the recipients list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientsQuery {
    /// Recipients whose contact id is greater than this.
    after: Option<i64>,
    /// How many (1..=500, default 50).
    limit: Option<u32>,
}

/// One recipient's outcome as served.
#[derive(Debug, Serialize)]
pub struct Recipient {
    /// The contact.
    contact_id: i64,
    /// Where the message goes.
    wa_id: String,
    /// Its batch (24-hour window), from 0.
    batch: i64,
    /// `pending`, `queued`, `sent`, `delivered`, `read`, `failed` or `skipped`.
    outcome: &'static str,
    /// Why it was skipped or failed, or why its send waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Its outbox row.
    #[serde(skip_serializing_if = "Option::is_none")]
    outbox_id: Option<i64>,
    /// Meta's message id.
    #[serde(skip_serializing_if = "Option::is_none")]
    wamid: Option<String>,
    /// When it was queued, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    queued_at: Option<i64>,
}

impl From<RecipientRow> for Recipient {
    fn from(r: RecipientRow) -> Recipient {
        let (outcome, reason) = campaigns::outcome(&r);
        Recipient {
            contact_id: r.contact_id,
            wa_id: r.wa_id,
            batch: r.batch,
            outcome,
            reason,
            outbox_id: r.outbox_id,
            wamid: r.wamid,
            queued_at: r.queued_at,
        }
    }
}

/// `GET /v1/tenants/{id}/campaigns/{cid}/recipients[?after=&limit=]`: each
/// recipient's outcome, read from its outbox row and the stored message's status.
pub async fn recipients(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
    q: Result<Query<RecipientsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    let page = PageRequest::new(q.after, q.limit);
    let t = tenant.clone();
    let found = state
        .db
        .read(move |s| {
            if CampaignRepo::get(s, &t, id)?.is_none() {
                return Ok(None);
            }
            CampaignRepo::recipients(s, id, page).map(Some)
        })
        .await?;
    let page = found
        .ok_or_else(|| ApiError::not_found(format!("tenant {tenant:?} has no campaign {id}")))?;
    let items: Vec<Recipient> = page.items.into_iter().map(Recipient::from).collect();
    Ok(Json(json!({"items": items, "next_after": page.next_after})))
}
