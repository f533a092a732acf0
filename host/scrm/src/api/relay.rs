//! The webhook relay over HTTP (`crate::relay`): set, show and remove a tenant's
//! relay, list its deliveries, re-queue a dead one.
//!
//! - `PUT /v1/tenants/{id}/relay` `{"url", "app_secret"}`: the tenant's existing
//!   app, and the app secret it checks `X-Hub-Signature-256` with (kept as the
//!   tenant secret `relay_app_secret`, never shown again);
//! - `GET /v1/tenants/{id}/relay`: the URL and the deliveries per state;
//! - `DELETE /v1/tenants/{id}/relay`: stops relaying (queued deliveries end `dead`);
//! - `GET /v1/tenants/{id}/relay/deliveries?state=&after=&limit=`;
//! - `POST /v1/tenants/{id}/relay/deliveries/{delivery}/requeue`.

use super::AppState;
use super::error::ApiError;
use crate::relay::{KIND, SECRET};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use scrm_store::hooks::Delivery;
use scrm_store::page::{Page, PageRequest};
use scrm_store::{HookRepo, SecretRepo, now_ms};
use serde::Deserialize;
use serde_json::{Value, json};

/// A relay to set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutRelay {
    /// The app's webhook URL.
    url: String,
    /// The app secret the app checks signatures with.
    app_secret: String,
}

fn check_url(url: &str) -> Result<(), ApiError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_url",
            format!("url must be an http(s) URL with a host, got {url:?}"),
        )),
    }
}

/// `PUT /v1/tenants/{id}/relay`.
pub async fn put(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<PutRelay>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    check_url(&body.url)?;
    if body.app_secret.trim().is_empty() || body.app_secret.len() > 512 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_secret",
            "app_secret must be 1 to 512 characters: the secret your app checks X-Hub-Signature-256 with",
        ));
    }
    super::require_tenant(&state, &tenant).await?;
    let t = tenant.clone();
    state
        .db
        .write(move |c| {
            scrm_store::transaction(c, |tx| {
                SecretRepo::set(tx, &t, SECRET, &body.app_secret)?;
                HookRepo::set_hook(tx, &t, KIND, &body.url, SECRET, "*", now_ms())
            })
        })
        .await?;
    show(&state, &tenant).await.map(Json)
}

/// `GET /v1/tenants/{id}/relay`.
pub async fn get(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    show(&state, &tenant).await.map(Json)
}

async fn show(state: &AppState, tenant: &str) -> Result<Value, ApiError> {
    let t = tenant.to_owned();
    let (hook, counts) = state
        .db
        .read(move |c| Ok((HookRepo::hook(c, &t, KIND)?, HookRepo::counts(c, &t, KIND)?)))
        .await?;
    let hook = hook.ok_or_else(|| not_set(tenant))?;
    let counts: serde_json::Map<String, Value> =
        counts.into_iter().map(|(s, n)| (s, json!(n))).collect();
    Ok(json!({
        "url": hook.url, "secret": hook.secret_name, "updated_at": hook.updated_at,
        "deliveries": counts,
    }))
}

fn not_set(tenant: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "relay_not_set",
        format!("tenant {tenant:?} has no relay; set one with PUT /v1/tenants/{tenant}/relay"),
    )
}

/// `DELETE /v1/tenants/{id}/relay`.
pub async fn delete(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<StatusCode, ApiError> {
    let t = tenant.clone();
    let removed = state
        .db
        .write(move |c| HookRepo::remove_hook(c, &t, KIND))
        .await?;
    if removed {
        state.relay.wake();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_set(&tenant))
    }
}

/// Filters of the delivery list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    after: Option<i64>,
    limit: Option<u32>,
    /// `queued`, `delivered` or `dead`.
    state: Option<String>,
}

/// `GET /v1/tenants/{id}/relay/deliveries`.
pub async fn deliveries(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    let Query(q) = q?;
    if let Some(s) = q
        .state
        .as_deref()
        .filter(|s| !["queued", "delivered", "dead"].contains(s))
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("state must be queued, delivered or dead, got {s:?}"),
        ));
    }
    let page = PageRequest::new(q.after, q.limit);
    let found = state
        .db
        .read(move |c| HookRepo::deliveries(c, &tenant, KIND, q.state.as_deref(), page))
        .await?;
    Ok(Json(found))
}

/// `POST /v1/tenants/{id}/relay/deliveries/{delivery}/requeue`.
pub async fn requeue(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    let t = tenant.clone();
    let done = state
        .db
        .write(move |c| HookRepo::requeue(c, &t, id, now_ms()))
        .await?;
    if !done {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_dead",
            format!("tenant {tenant:?} has no dead relay delivery {id}"),
        ));
    }
    state.relay.wake();
    Ok(Json(json!({"id": id, "state": "queued"})))
}
