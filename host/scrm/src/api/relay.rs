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
use super::hooks::{self, DeliveryQuery, NewHook};
use crate::relay::{KIND, SECRET};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use scrm_store::hooks::Delivery;
use scrm_store::page::Page;
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

/// `PUT /v1/tenants/{id}/relay`.
pub async fn put(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<PutRelay>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    hooks::check_url(&body.url)?;
    hooks::check_secret(
        &body.app_secret,
        "app_secret (the secret your app checks X-Hub-Signature-256 with)",
    )?;
    let hook = NewHook {
        kind: KIND,
        url: body.url,
        secret_name: SECRET,
        secret: body.app_secret,
        types: "*".into(),
    };
    hooks::set(&state, &tenant, hook).await?;
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
    let (hook, counts) = hooks::read(state, tenant, KIND)
        .await?
        .ok_or_else(|| not_set(tenant))?;
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
    if hooks::remove(&state, &tenant, KIND).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_set(&tenant))
    }
}

/// `GET /v1/tenants/{id}/relay/deliveries`.
pub async fn deliveries(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    hooks::deliveries(&state, tenant, KIND, q).await
}

/// `POST /v1/tenants/{id}/relay/deliveries/{delivery}/requeue` (and the same under
/// `event-hook`).
pub async fn requeue(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    hooks::requeue(&state, tenant, id).await
}
