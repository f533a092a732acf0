//! Two-way CRM sync over HTTP: CRM webhooks (`POST /v1/crm/{tenant}/webhook`, no
//! operator token: the tenant's connector checks the CRM's signature), and for the
//! operator the tenant's sync settings, its queue of CRM writes (with the dead-letter
//! list), an immediate pull, and the review queue.

use super::AppState;
use super::error::ApiError;
use crate::sync::{Applied, SyncError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use scrm_store::crm::{CrmSettings, Job, Review};
use scrm_store::page::{Page, PageRequest};
use serde::Deserialize;
use serde_json::{Value, json};

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> ApiError {
        match e {
            SyncError::Store(s) => s.into(),
            SyncError::NotConfigured(..) => {
                ApiError::new(StatusCode::CONFLICT, "crm_not_configured", e.to_string())
            }
            SyncError::Call(c) => {
                let status = match c.code() {
                    "crm_unauthorized" => StatusCode::UNAUTHORIZED,
                    "crm_invalid" | "crm_unmapped_fields" => StatusCode::UNPROCESSABLE_ENTITY,
                    "crm_rate_limited" => StatusCode::TOO_MANY_REQUESTS,
                    _ => StatusCode::BAD_GATEWAY,
                };
                ApiError::new(status, c.code(), c.to_string())
            }
            SyncError::Task(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", m),
        }
    }
}

/// `POST /v1/crm/{tenant}/webhook`: a delivery from the tenant's CRM, parsed (and its
/// signature checked) by the tenant's connector, applied at once.
pub async fn webhook(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Applied>, ApiError> {
    super::require_tenant(&state, &tenant).await?;
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let applied = state.sync.webhook(&tenant, headers, body.to_vec()).await?;
    Ok(Json(applied))
}

/// `GET /v1/tenants/{id}/crm`: settings, queue counts by state, the pull cursor.
pub async fn get_settings(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    super::require_tenant(&state, &tenant).await?;
    let (settings, counts, backfill, cursor) = state
        .db
        .read(move |c| {
            Ok((
                scrm_store::CrmRepo::settings(c, &tenant)?,
                scrm_store::CrmRepo::job_counts(c, &tenant)?,
                scrm_store::CrmRepo::backfill_counts(c, &tenant)?,
                scrm_store::CrmRepo::cursor(c, &tenant)?,
            ))
        })
        .await?;
    let map = |v: Vec<(String, i64)>| -> serde_json::Map<String, Value> {
        v.into_iter().map(|(k, n)| (k, json!(n))).collect()
    };
    Ok(Json(json!({
        "settings": settings,
        "jobs": map(counts),
        "backfill": map(backfill),
        "cursor": cursor
    })))
}

/// `PUT /v1/tenants/{id}/crm`: replaces the sync settings (missing fields take their
/// defaults; see [`CrmSettings`]). 422 `invalid_crm_settings` says which value is wrong.
pub async fn put_settings(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<CrmSettings>, JsonRejection>,
) -> Result<Json<CrmSettings>, ApiError> {
    let Json(settings) = body?;
    settings
        .validate()
        .map_err(|m| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_crm_settings", m))?;
    super::require_tenant(&state, &tenant).await?;
    let s = settings.clone();
    state
        .db
        .write(move |c| scrm_store::CrmRepo::put_settings(c, &tenant, &s))
        .await?;
    Ok(Json(settings))
}

/// Filters of the job and review lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    after: Option<i64>,
    limit: Option<u32>,
    state: Option<String>,
}

fn page(q: &ListQuery) -> PageRequest {
    PageRequest::new(q.after, q.limit)
}

/// `GET /v1/tenants/{id}/crm/jobs[?state=queued|done|dead]`: the queue of CRM writes;
/// `state=dead` is the dead-letter list.
pub async fn jobs(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Job>>, ApiError> {
    let Query(q) = q?;
    if let Some(s) = &q.state
        && !matches!(s.as_str(), "queued" | "done" | "dead")
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("state must be queued, done or dead, not {s:?}"),
        ));
    }
    super::require_tenant(&state, &tenant).await?;
    let p = page(&q);
    let out = state
        .db
        .read(move |c| scrm_store::CrmRepo::list_jobs(c, &tenant, q.state.as_deref(), p))
        .await?;
    Ok(Json(out))
}

/// `POST /v1/tenants/{id}/crm/jobs/{job}/requeue`: puts a dead job back, due now.
pub async fn requeue(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<Job>, ApiError> {
    let t = tenant.clone();
    match state
        .db
        .write(move |c| scrm_store::CrmRepo::requeue(c, &t, id))
        .await?
    {
        None => Err(ApiError::not_found(format!(
            "tenant {tenant:?} has no CRM job {id}"
        ))),
        Some(Err(s)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_dead",
            format!("CRM job {id} is {s}; only dead jobs can be re-queued"),
        )),
        Some(Ok(job)) => {
            state.sync.waker().notify_one();
            Ok(Json(job))
        }
    }
}

/// `POST /v1/tenants/{id}/crm/pull`: pulls the CRM's changes now; what was applied.
pub async fn pull(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Applied>, ApiError> {
    super::require_tenant(&state, &tenant).await?;
    Ok(Json(state.sync.pull(&tenant).await?))
}

/// The body of an audit request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    /// Contacts to sample (1 to 1000; default 100).
    #[serde(default)]
    sample: Option<u32>,
}

/// An audit as the API shows it: with the target and whether it was met.
fn audit_json(a: &scrm_store::crm::Audit) -> Value {
    let target = crate::sync::audit::ACCURACY_TARGET;
    let mut v = serde_json::to_value(a).unwrap_or_default();
    v["target"] = serde_json::json!(target);
    v["below_target"] = serde_json::json!(a.accuracy.is_some_and(|x| x < target));
    v
}

/// `POST /v1/tenants/{id}/crm/audit`: reads a random sample of synced contacts back
/// from the CRM now, compares name and phone, stores and returns the accuracy.
pub async fn audit(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Option<Json<AuditRequest>>,
) -> Result<Json<Value>, ApiError> {
    let req = body.map(|Json(b)| b).unwrap_or_default();
    let sample = req.sample.unwrap_or(crate::sync::audit::DEFAULT_SAMPLE);
    if !(1..=crate::sync::audit::MAX_SAMPLE).contains(&sample) {
        return Err(ApiError::bad_request(
            "invalid_sample",
            format!(
                "sample must be 1 to {}, not {sample}",
                crate::sync::audit::MAX_SAMPLE
            ),
        ));
    }
    super::require_tenant(&state, &tenant).await?;
    let a = state.sync.audit(&tenant, sample).await?;
    Ok(Json(audit_json(&a)))
}

/// `GET /v1/tenants/{id}/crm/audit`: the newest audit (404 before the first).
pub async fn last_audit(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    super::require_tenant(&state, &tenant).await?;
    let a = state
        .db
        .read(move |c| scrm_store::CrmRepo::last_audit(c, &tenant))
        .await?
        .ok_or_else(|| ApiError::not_found("no audit yet (scrm crm audit runs one)"))?;
    Ok(Json(audit_json(&a)))
}

/// The weekly error rate the mapping log is held to.
pub const ERROR_RATE_TARGET: f64 = 0.02;

/// Query of the mapping log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingLogQuery {
    /// Weeks back, this one included (1 to 52; default 4).
    #[serde(default)]
    weeks: Option<u32>,
}

/// `GET /v1/tenants/{id}/crm/mapping-log?weeks=N`: per week, the CRM writes done
/// and failed with the error rate next to the 2 % target, and per CRM field the
/// records the mapper filled with a default or could not write.
pub async fn mapping_log(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(q): Query<MappingLogQuery>,
) -> Result<Json<Value>, ApiError> {
    let weeks = q.weeks.unwrap_or(4);
    if !(1..=52).contains(&weeks) {
        return Err(ApiError::bad_request(
            "invalid_weeks",
            format!("weeks must be 1 to 52, not {weeks}"),
        ));
    }
    super::require_tenant(&state, &tenant).await?;
    let now = scrm_store::now_ms();
    let since = scrm_store::crm::week_of(now)
        - i64::from(weeks - 1) * scrm_store::crm::mapping_log::WEEK_MS;
    let (log, writes) = state
        .db
        .read(move |c| {
            Ok((
                scrm_store::CrmRepo::mapping_log(c, &tenant, since)?,
                scrm_store::CrmRepo::week_writes(c, &tenant, since)?,
            ))
        })
        .await?;
    let mut out = Vec::new();
    for i in 0..weeks {
        let week = since + i64::from(i) * scrm_store::crm::mapping_log::WEEK_MS;
        let w = writes.iter().find(|w| w.week == week);
        let (done, failed) = w.map_or((0, 0), |w| (w.done, w.failed));
        let rate = (done + failed > 0).then(|| failed as f64 / (done + failed) as f64);
        let mut fields = serde_json::Map::new();
        for l in log.iter().filter(|l| l.week == week) {
            let entry = fields
                .entry(l.field.clone())
                .or_insert_with(|| serde_json::json!({"defaulted": 0, "skipped": 0}));
            entry[l.outcome.as_str()] = serde_json::json!(l.count);
        }
        let date = time::OffsetDateTime::from_unix_timestamp(week / 1000)
            .map(|d| d.date().to_string())
            .unwrap_or_default();
        out.push(serde_json::json!({
            "week": date, "week_start": week, "written": done, "failed": failed,
            "error_rate": rate, "above_target": rate.is_some_and(|r| r > ERROR_RATE_TARGET),
            "fields": fields,
        }));
    }
    Ok(Json(
        serde_json::json!({"target_error_rate": ERROR_RATE_TARGET, "weeks": out}),
    ))
}

/// The body of a backfill request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    /// How many days of history to write (1 to 3650).
    days: u32,
}

/// `POST /v1/tenants/{id}/crm/backfill`: queues the chat history of the last `days`
/// days for the CRM, behind live writes. Idempotent: messages already queued or
/// written are not queued again, so running it again resumes an interrupted backfill.
pub async fn backfill(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<BackfillRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(req) = body?;
    if !(1..=3650).contains(&req.days) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_backfill",
            "days must be 1 to 3650",
        ));
    }
    super::require_tenant(&state, &tenant).await?;
    let (queued, total) = state.sync.backfill(&tenant, req.days).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"queued": queued, "messages": total, "days": req.days})),
    ))
}

/// `GET /v1/tenants/{id}/crm/reviews[?state=open|accepted|reverted]`.
pub async fn reviews(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Review>>, ApiError> {
    let Query(q) = q?;
    if let Some(s) = &q.state
        && !matches!(s.as_str(), "open" | "accepted" | "reverted")
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("state must be open, accepted or reverted, not {s:?}"),
        ));
    }
    super::require_tenant(&state, &tenant).await?;
    let p = page(&q);
    let out = state
        .db
        .read(move |c| scrm_store::CrmRepo::list_reviews(c, &tenant, q.state.as_deref(), p))
        .await?;
    Ok(Json(out))
}

/// `GET /v1/tenants/{id}/crm/phone-problems`: the CRM records whose phone number
/// could not be normalised, with the reason, most recently seen first.
pub async fn phone_problems(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    super::require_tenant(&state, &tenant).await?;
    let items = state
        .db
        .read(move |c| scrm_store::CrmRepo::phone_problems(c, &tenant))
        .await?;
    Ok(Json(json!({ "items": items })))
}

/// `POST /v1/tenants/{id}/crm/reviews/{review}/accept` keeps the winning value.
pub async fn accept(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<Review>, ApiError> {
    resolve(state, tenant, id, false).await
}

/// `POST /v1/tenants/{id}/crm/reviews/{review}/revert` restores the value that lost,
/// on the host and (through a queued write) in the CRM.
pub async fn revert(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<Review>, ApiError> {
    resolve(state, tenant, id, true).await
}

async fn resolve(
    state: AppState,
    tenant: String,
    id: i64,
    revert: bool,
) -> Result<Json<Review>, ApiError> {
    match state.sync.resolve_review(&tenant, id, revert).await? {
        None => Err(ApiError::not_found(format!(
            "tenant {tenant:?} has no review {id}"
        ))),
        Some(Err(m)) => Err(ApiError::new(StatusCode::CONFLICT, "review_closed", m)),
        Some(Ok(r)) => Ok(Json(r)),
    }
}
