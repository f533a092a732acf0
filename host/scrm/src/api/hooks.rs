//! What the webhook relay (`api/relay.rs`) and the events hook (`api/event_hook.rs`)
//! share over HTTP: a tenant's hook of one kind set, read and removed, and its
//! deliveries listed and re-queued.

use super::AppState;
use super::error::ApiError;
use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use scrm_store::hooks::{Delivery, Hook};
use scrm_store::page::{Page, PageRequest};
use scrm_store::{HookRepo, SecretRepo, now_ms};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Refuses a URL that is not http(s) with a host (`422 invalid_url`).
pub(super) fn check_url(url: &str) -> Result<(), ApiError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_url",
            format!("url must be an http(s) URL with a host, got {url:?}"),
        )),
    }
}

/// Refuses an empty or overlong secret (`422 invalid_secret`, with `what` it is).
pub(super) fn check_secret(secret: &str, what: &str) -> Result<(), ApiError> {
    if secret.trim().is_empty() || secret.len() > 512 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_secret",
            format!("{what} must be 1 to 512 characters"),
        ));
    }
    Ok(())
}

/// What a hook of `kind` is set to.
pub(super) struct NewHook {
    pub(super) kind: &'static str,
    pub(super) url: String,
    /// The tenant secret it signs with, and its value.
    pub(super) secret_name: &'static str,
    pub(super) secret: String,
    /// Comma-separated event types (`*`: all).
    pub(super) types: String,
}

/// Sets the tenant's hook (and its secret) in one transaction.
pub(super) async fn set(state: &AppState, tenant: &str, hook: NewHook) -> Result<(), ApiError> {
    super::require_tenant(state, tenant).await?;
    let t = tenant.to_owned();
    state
        .db
        .write(move |c| {
            scrm_store::transaction(c, |tx| {
                SecretRepo::set(tx, &t, hook.secret_name, &hook.secret)?;
                let (url, types) = (&hook.url, &hook.types);
                HookRepo::set_hook(tx, &t, hook.kind, url, hook.secret_name, types, now_ms())
            })
        })
        .await?;
    Ok(())
}

/// The tenant's hook of `kind` and its deliveries per state; `None` when unset.
pub(super) async fn read(
    state: &AppState,
    tenant: &str,
    kind: &'static str,
) -> Result<Option<(Hook, Map<String, Value>)>, ApiError> {
    let t = tenant.to_owned();
    let (hook, counts) = state
        .db
        .read(move |c| Ok((HookRepo::hook(c, &t, kind)?, HookRepo::counts(c, &t, kind)?)))
        .await?;
    let counts = counts.into_iter().map(|(s, n)| (s, json!(n))).collect();
    Ok(hook.map(|h| (h, counts)))
}

/// Removes the tenant's hook of `kind`; whether there was one.
pub(super) async fn remove(
    state: &AppState,
    tenant: &str,
    kind: &'static str,
) -> Result<bool, ApiError> {
    let t = tenant.to_owned();
    let removed = state
        .db
        .write(move |c| HookRepo::remove_hook(c, &t, kind))
        .await?;
    if removed {
        state.relay.wake();
    }
    Ok(removed)
}

/// Filters of a delivery list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    after: Option<i64>,
    limit: Option<u32>,
    /// `queued`, `delivered` or `dead`.
    state: Option<String>,
}

/// A page of the tenant's deliveries of `kind`.
pub(super) async fn deliveries(
    state: &AppState,
    tenant: String,
    kind: &'static str,
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
        .read(move |c| HookRepo::deliveries(c, &tenant, kind, q.state.as_deref(), page))
        .await?;
    Ok(Json(found))
}

/// Puts the tenant's dead delivery `id` back in the queue (`409 not_dead` when it
/// is not dead).
pub(super) async fn requeue(
    state: &AppState,
    tenant: String,
    id: i64,
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
            format!("tenant {tenant:?} has no dead delivery {id}"),
        ));
    }
    state.relay.wake();
    Ok(Json(json!({"id": id, "state": "queued"})))
}
