//! Outbound events over HTTP (WIP, issue 21 item 3; `crate::event_hooks`):
//!
//! - `PUT /v1/tenants/{id}/event-hook` `{"url", "secret", "types": [..]}` (types
//!   default to all);
//! - `GET` / `DELETE` the same path;
//! - `GET /v1/tenants/{id}/event-hook/deliveries?state=` (the delivery log).

use super::AppState;
use super::error::ApiError;
use crate::event_hooks::{KIND, SECRET, TYPES};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use scrm_store::hooks::Delivery;
use scrm_store::page::{Page, PageRequest};
use scrm_store::{HookRepo, SecretRepo, now_ms};
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

fn unprocessable(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// `PUT /v1/tenants/{id}/event-hook`.
pub async fn put(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<PutHook>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    match reqwest::Url::parse(&body.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => {
            return Err(unprocessable(
                "invalid_url",
                format!("url must be an http(s) URL with a host, got {:?}", body.url),
            ));
        }
    }
    if body.secret.trim().is_empty() || body.secret.len() > 512 {
        return Err(unprocessable(
            "invalid_secret",
            "secret must be 1 to 512 characters".into(),
        ));
    }
    if let Some(bad) = body.types.iter().find(|t| !TYPES.contains(&t.as_str())) {
        return Err(unprocessable(
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
    super::require_tenant(&state, &tenant).await?;
    let t = tenant.clone();
    state
        .db
        .write(move |c| {
            scrm_store::transaction(c, |tx| {
                SecretRepo::set(tx, &t, SECRET, &body.secret)?;
                HookRepo::set_hook(tx, &t, KIND, &body.url, SECRET, &types, now_ms())
            })
        })
        .await?;
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
    let t = tenant.to_owned();
    let (hook, counts) = state
        .db
        .read(move |c| Ok((HookRepo::hook(c, &t, KIND)?, HookRepo::counts(c, &t, KIND)?)))
        .await?;
    let hook = hook.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "event_hook_not_set",
            format!("tenant {tenant:?} has no event hook"),
        )
    })?;
    let counts: serde_json::Map<String, Value> =
        counts.into_iter().map(|(s, n)| (s, json!(n))).collect();
    Ok(
        json!({"url": hook.url, "types": hook.types, "updated_at": hook.updated_at,
              "deliveries": counts}),
    )
}

/// `DELETE /v1/tenants/{id}/event-hook`.
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
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "event_hook_not_set",
            format!("tenant {tenant:?} has no event hook"),
        ))
    }
}

/// Filters of the delivery log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    after: Option<i64>,
    limit: Option<u32>,
    state: Option<String>,
}

/// `GET /v1/tenants/{id}/event-hook/deliveries`.
pub async fn deliveries(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    let Query(q) = q?;
    let page = PageRequest::new(q.after, q.limit);
    let found = state
        .db
        .read(move |c| HookRepo::deliveries(c, &tenant, KIND, q.state.as_deref(), page))
        .await?;
    Ok(Json(found))
}
