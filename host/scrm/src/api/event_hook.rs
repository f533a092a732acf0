//! Outbound events over HTTP (`crate::event_hooks`):
//!
//! - `PUT /v1/tenants/{id}/event-hook` `{"url", "secret", "types": [..]}` (types
//!   default to all);
//! - `GET` / `DELETE` the same path;
//! - `GET /v1/tenants/{id}/event-hook/deliveries?state=` (the delivery log);
//! - `POST /v1/tenants/{id}/event-hook/deliveries/{delivery}/requeue`.

use super::AppState;
use super::error::ApiError;
use super::hooks::{self, DeliveryQuery, NewHook};
use crate::event_hooks::{KIND, SECRET, TYPES};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use scrm_store::hooks::Delivery;
use scrm_store::page::Page;
use serde::Deserialize;
use serde_json::{Value, json};

/// An events hook to set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutHook {
    /// Where events are posted (Zapier's or Make's catch-hook URL).
    url: String,
    /// What events are signed with.
    secret: String,
    /// The event types wanted [default: all].
    #[serde(default)]
    types: Vec<String>,
}

/// `PUT /v1/tenants/{id}/event-hook`.
pub async fn put(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<PutHook>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    hooks::check_url(&body.url)?;
    hooks::check_secret(&body.secret, "secret")?;
    if let Some(bad) = body.types.iter().find(|t| !TYPES.contains(&t.as_str())) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_event_type",
            format!(
                "unknown event type {bad:?}; the types are {}",
                TYPES.join(", ")
            ),
        ));
    }
    let types = if body.types.is_empty() {
        "*".to_string()
    } else {
        body.types.join(",")
    };
    let hook = NewHook {
        kind: KIND,
        url: body.url,
        secret_name: SECRET,
        secret: body.secret,
        types,
    };
    hooks::set(&state, &tenant, hook).await?;
    show(&state, &tenant).await.map(Json)
}

/// `GET /v1/tenants/{id}/event-hook`.
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
    Ok(
        json!({"url": hook.url, "types": hook.types, "updated_at": hook.updated_at,
              "deliveries": counts}),
    )
}

fn not_set(tenant: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "event_hook_not_set",
        format!(
            "tenant {tenant:?} has no event hook; set one with PUT /v1/tenants/{tenant}/event-hook"
        ),
    )
}

/// `DELETE /v1/tenants/{id}/event-hook`.
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

/// `GET /v1/tenants/{id}/event-hook/deliveries`.
pub async fn deliveries(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    hooks::deliveries(&state, tenant, KIND, q).await
}
