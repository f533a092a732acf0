//! A tenant's message templates over HTTP: sync from Meta, the list, an operator's
//! template (add, replace, delete), and the check automations and campaigns rely on
//! (`crate::templates::require_approved`).

use super::AppState;
use super::error::ApiError;
use crate::templates::{AddError, SyncError, SyncReport, TemplateError, TemplateInfo};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> ApiError {
        let e = match e {
            SyncError::Store(s) => return s.into(),
            other => other,
        };
        let status = match e.code() {
            "not_found" => StatusCode::NOT_FOUND,
            "invalid_waba_id" => StatusCode::BAD_REQUEST,
            "no_waba_id" | "no_access_token" => StatusCode::CONFLICT,
            "graph_rate_limited" => StatusCode::TOO_MANY_REQUESTS,
            "graph_timeout" => StatusCode::GATEWAY_TIMEOUT,
            // A refused token, a 5xx, an answer that is not a list: Meta's side.
            _ => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<TemplateError> for ApiError {
    fn from(e: TemplateError) -> ApiError {
        let status = match e {
            TemplateError::Store(s) => return s.into(),
            TemplateError::Unknown { .. } | TemplateError::UnknownLanguage { .. } => {
                StatusCode::NOT_FOUND
            }
            TemplateError::NotApproved { .. } => StatusCode::CONFLICT,
            TemplateError::BodyParams { .. } | TemplateError::NamedParams { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<AddError> for ApiError {
    fn from(e: AddError) -> ApiError {
        let code = match e {
            AddError::Store(s) => return s.into(),
            AddError::Invalid(_) => "invalid_template",
            AddError::Mismatch { .. } => "template_mismatch",
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
    }
}

impl From<crate::templates::CreateError> for ApiError {
    fn from(e: crate::templates::CreateError) -> ApiError {
        use crate::templates::CreateError;
        match e {
            CreateError::Sync(s) => s.into(),
            CreateError::Store(s) => s.into(),
            CreateError::Invalid(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_template",
                e.to_string(),
            ),
            CreateError::Answer(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "graph_invalid_response",
                e.to_string(),
            ),
        }
    }
}

/// `POST /v1/tenants/{id}/templates`: creates the template (Meta's template object)
/// in the tenant's WhatsApp Business Account and stores it with the status Meta
/// answers (`PENDING` until reviewed): `201`. Meta's refusal keeps its code
/// (`graph_*`, as for a sync); an invalid file is `422 invalid_template`.
pub async fn create(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let span = tracing::info_span!("scrm.templates.create", tenant = %tenant);
    let row = state
        .templates
        .create(&tenant, &body)
        .instrument(span)
        .await?;
    Ok((StatusCode::CREATED, Json(row)).into_response())
}

/// Body of `POST /v1/tenants/{id}/templates/sync` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// The tenant's WhatsApp Business Account id; recorded once the sync succeeds.
    #[serde(default)]
    waba_id: Option<String>,
}

/// `POST /v1/tenants/{id}/templates/sync`: replaces the tenant's synced templates
/// with its WABA's current list. A refusal from Meta (`graph_token_invalid`,
/// `graph_rate_limited`, `graph_unavailable`, …) leaves the stored list unchanged.
pub async fn sync(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: SyncBody = if body.iter().all(u8::is_ascii_whitespace) {
        SyncBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?
    };
    let result = state.templates.sync(&tenant, body.waba_id.as_deref()).await;
    match result {
        Ok(report) => Ok(Json::<SyncReport>(report).into_response()),
        Err(e) => {
            tracing::warn!(tenant = %tenant, code = e.code(), error = %e, "template sync failed");
            let retry = e.retry_after();
            let mut resp = ApiError::from(e).into_response();
            if let Some(secs) = retry.map(|d| d.as_secs()) {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Ok(resp)
        }
    }
}

/// Query of `GET /v1/tenants/{id}/templates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only templates with this status (`approved`, `paused`, …; any case).
    status: Option<String>,
}

/// `GET /v1/tenants/{id}/templates[?status=approved]`: the WABA, the last sync and
/// every template with what a send of it needs.
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    let status = q.status.map(|s| s.trim().to_ascii_uppercase());
    let t = tenant.clone();
    let (account, items) = state
        .db
        .read(move |s| {
            Ok((
                scrm_store::TemplateRepo::account(s, &t)?,
                scrm_store::TemplateRepo::list(s, &t, status.as_deref())?,
            ))
        })
        .await?;
    let account = account.ok_or_else(|| ApiError::not_found(format!("no tenant {tenant:?}")))?;
    Ok(Json(json!({
        "waba_id": account.waba_id,
        "synced_at": account.synced_at,
        "seen_waba_ids": account.seen_waba_ids,
        "items": items,
    })))
}

/// `PUT /v1/tenants/{id}/templates/{name}/{language}`: stores an operator's template
/// (Meta's template object; `status` defaults to `APPROVED`). `201` when new, `200`
/// when it replaced one; `422 invalid_template` with the JSON position or field and
/// the reason.
pub async fn put(
    State(state): State<AppState>,
    Path((tenant, name, language)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let span = tracing::info_span!("scrm.templates.add", tenant = %tenant);
    let (row, created) = crate::templates::add(&state.db, &tenant, Some((&name, &language)), &body)
        .instrument(span)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(row)).into_response())
}

/// `DELETE /v1/tenants/{id}/templates/{name}/{language}`: `204`, or `404`.
pub async fn delete(
    State(state): State<AppState>,
    Path((tenant, name, language)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    super::require_tenant(&state, &tenant).await?;
    let (n, l) = (name.clone(), language.clone());
    let found = state
        .db
        .write(move |s| scrm_store::TemplateRepo::delete(s, &tenant, &n, &l))
        .await?;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no template {name:?} in language {language:?}"
        )))
    }
}

/// Query of the check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckQuery {
    /// The number of body parameters a send would give.
    body_params: Option<usize>,
}

/// `GET /v1/tenants/{id}/templates/{name}/{language}/check[?body_params=N]`: the
/// rule automations and campaigns are held to. `200` with the template's category
/// and parameters when it may be sent; `404 unknown_template` (with the names the
/// tenant has), `404 unknown_template_language`, `409 template_not_approved`,
/// `422 template_parameter_mismatch`.
pub async fn check(
    State(state): State<AppState>,
    Path((tenant, name, language)): Path<(String, String, String)>,
    q: Result<Query<CheckQuery>, QueryRejection>,
) -> Result<Json<TemplateInfo>, ApiError> {
    let Query(q) = q?;
    super::require_tenant(&state, &tenant).await?;
    let info = crate::templates::check(&state.db, &tenant, &name, &language, q.body_params).await?;
    Ok(Json(info))
}
