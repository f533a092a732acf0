//! Sending: `POST /v1/tenants/{id}/messages` (the Cloud API's message object), the
//! outbox (list, one item, re-queue, cancel), limits per tenant and number, and
//! consent per recipient.

use super::AppState;
use super::error::ApiError;
use crate::limits::{LimitOverrides, Limits};
use crate::outbox::{SubmitError, effective_limits};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use scrm_store::Store;
use scrm_store::consent::Consent;
use scrm_store::outbox::OutboxItem;
use scrm_store::page::{Page, PageRequest};
use scrm_store::{StoreError, now_ms};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> ApiError {
        match e {
            SubmitError::Invalid(i) if i.code == "invalid_json" => {
                ApiError::bad_request(i.code, i.message)
            }
            SubmitError::Invalid(i) if i.code == "message_not_found" => {
                ApiError::new(StatusCode::NOT_FOUND, i.code, i.message)
            }
            SubmitError::Invalid(i) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, i.code, i.message)
            }
            SubmitError::Refused(r) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, r.code(), r.message())
            }
            SubmitError::Template(t) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, t.code(), t.to_string())
            }
            SubmitError::UnknownTenant(t) => ApiError::not_found(format!("no tenant {t:?}")),
            SubmitError::Store(s) => s.into(),
        }
    }
}

/// `POST /v1/tenants/{id}/messages`: 202 with the outbox item; 200 with the
/// existing one when the `Idempotency-Key` was seen before.
pub async fn send(
    State(state): State<AppState>,
    axum::Extension(who): axum::Extension<super::access::Principal>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<OutboxItem>), ApiError> {
    let Json(body) = body?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= 200 => Some(k.to_owned()),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 200 visible ASCII characters",
                ));
            }
        },
    };
    // Who sent it: the operator's sends stay `api`; a tenant token's name it.
    let source = match who {
        super::access::Principal::Operator => "api".to_string(),
        other => format!("api {}", other.actor()),
    };
    let (item, created) = state.outbox.submit(&tenant, body, key, &source).await?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(item)))
}

/// Filters of the outbox list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    after: Option<i64>,
    limit: Option<u32>,
    /// `queued`, `sending`, `sent`, `needs_template`, `undeliverable`, `suppressed`,
    /// `dead` (the dead-letter list) or `cancelled`.
    state: Option<String>,
}

const STATES: &[&str] = &[
    "queued",
    "sending",
    "sent",
    "needs_template",
    "undeliverable",
    "suppressed",
    "dead",
    "cancelled",
];

/// `GET /v1/tenants/{id}/outbox?state=dead`.
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<OutboxQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    if let Some(s) = &q.state
        && !STATES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("state must be one of {}, got {s:?}", STATES.join(", ")),
        ));
    }
    let page = PageRequest::new(q.after, q.limit);
    let (page, counts): (Page<OutboxItem>, _) = state
        .db
        .read(move |c| {
            if scrm_store::TenantRepo::get(c, &tenant)?.is_none() {
                return Err(StoreError::NotFound {
                    what: "tenant",
                    id: tenant,
                });
            }
            Ok((
                scrm_store::OutboxRepo::list(c, &tenant, q.state.as_deref(), page)?,
                scrm_store::OutboxRepo::counts(c, &tenant)?,
            ))
        })
        .await?;
    let mut by_state: BTreeMap<String, Value> = BTreeMap::new();
    for (s, reason, n) in counts {
        let entry = by_state.entry(s).or_insert_with(|| json!({"total": 0}));
        entry["total"] = json!(entry["total"].as_i64().unwrap_or(0) + n);
        if let Some(r) = reason {
            entry["waiting"][r] = json!(n);
        }
    }
    Ok(Json(
        json!({"items": page.items, "next_after": page.next_after, "counts": by_state}),
    ))
}

async fn item_op(
    state: &AppState,
    tenant: String,
    id: i64,
    op: fn(&dyn Store, &str, i64) -> Result<OutboxItem, StoreError>,
) -> Result<Json<OutboxItem>, ApiError> {
    let item = state
        .db
        .write(move |c| op(c, &tenant, id))
        .await
        .map_err(|e| match e {
            StoreError::Conflict { id, .. } => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_state",
                format!("outbox item {id} cannot do that"),
            ),
            other => other.into(),
        })?;
    state.outbox.wake();
    Ok(Json(item))
}

/// `GET /v1/tenants/{id}/outbox/{item}`.
pub async fn get(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<OutboxItem>, ApiError> {
    state
        .db
        .read(move |c| scrm_store::OutboxRepo::get(c, &tenant, id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no outbox item {id}")))
}

/// `POST /v1/tenants/{id}/outbox/{item}/requeue`: a dead, suppressed,
/// needs-template or undeliverable send goes back in the queue.
pub async fn requeue(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<OutboxItem>, ApiError> {
    item_op(&state, tenant, id, |c, t, id| {
        scrm_store::OutboxRepo::requeue(c, t, id)
    })
    .await
}

/// `POST /v1/tenants/{id}/outbox/{item}/cancel`: a queued send is cancelled.
pub async fn cancel(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, i64)>,
) -> Result<Json<OutboxItem>, ApiError> {
    item_op(&state, tenant, id, |c, t, id| {
        scrm_store::OutboxRepo::cancel(c, t, id)
    })
    .await
}

fn parse_overrides(v: Value) -> Result<LimitOverrides, ApiError> {
    serde_json::from_value(v).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limits",
            e.to_string(),
        )
    })
}

/// `GET /v1/tenants/{id}/limits`: defaults, the tenant's overrides, and per number
/// its overrides and the limits in force.
pub async fn get_limits(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let defaults = state.outbox.settings().limits;
    let v = state
        .db
        .read(move |c| {
            let (own, numbers) = scrm_store::TenantRepo::limits(c, &tenant)?;
            let mut per_number = serde_json::Map::new();
            for (number, json) in numbers {
                let effective = effective_limits(c, &tenant, &number, defaults)?;
                per_number.insert(
                    number,
                    json!({"overrides": serde_json::from_str::<Value>(&json)?, "effective": effective}),
                );
            }
            Ok(json!({"defaults": defaults, "tenant": serde_json::from_str::<Value>(&own)?, "numbers": per_number}))
        })
        .await?;
    Ok(Json(v))
}

async fn put_limits(
    state: &AppState,
    tenant: String,
    number: Option<String>,
    body: Value,
) -> Result<Json<Value>, ApiError> {
    let o = parse_overrides(body)?;
    Limits::default()
        .with(&o)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_limits", e))?;
    let json = serde_json::to_string(&o).expect("overrides serialise");
    let t = tenant.clone();
    state
        .db
        .write(move |c| {
            match &number {
                Some(n) => scrm_store::TenantRepo::set_number_limits(c, &t, n, &json),
                None => scrm_store::TenantRepo::set_limits(c, &t, &json),
            }
            .and_then(|()| {
                scrm_store::OutboxRepo::release(
                    c,
                    &t,
                    None,
                    &["daily_cap", "opt_in_required", "recipient_pacing"],
                )
                .map(drop)
            })
        })
        .await?;
    state.outbox.wake();
    get_limits(State(state.clone()), Path(tenant)).await
}

/// `PUT /v1/tenants/{id}/limits` with overrides such as `{"daily_cap": 10000}`.
pub async fn put_tenant_limits(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    put_limits(&state, tenant, None, body).await
}

/// `PUT /v1/tenants/{id}/numbers/{number}/limits` with overrides such as `{"mps": 200}`.
pub async fn put_number_limits(
    State(state): State<AppState>,
    Path((tenant, number)): Path<(String, String)>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    put_limits(&state, tenant, Some(number), body).await
}

/// A consent change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    /// `opted_in` or `opted_out`.
    status: String,
    /// Where the consent was collected (`crm`, `web_form`, ...).
    #[serde(default)]
    source: Option<String>,
}

async fn recipient_key(
    state: &AppState,
    tenant: &str,
    recipient: &str,
) -> Result<String, ApiError> {
    let t = tenant.to_owned();
    let region = state
        .db
        .read(move |c| scrm_store::TenantRepo::get(c, &t))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant {tenant:?}")))?
        .default_region;
    scrm_wire::phone::to_e164(recipient, Some(&region))
        .or_else(|| scrm_wire::phone::wa_id_to_e164(recipient))
        .map(|e| e.trim_start_matches('+').to_owned())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_recipient",
                format!("{recipient:?} is not a valid phone number"),
            )
        })
}

/// `GET /v1/tenants/{id}/consent/{recipient}`.
pub async fn get_consent(
    State(state): State<AppState>,
    Path((tenant, recipient)): Path<(String, String)>,
) -> Result<Json<Consent>, ApiError> {
    let key = recipient_key(&state, &tenant, &recipient).await?;
    Ok(Json(
        state
            .db
            .read(move |c| scrm_store::ConsentRepo::get(c, &tenant, &key))
            .await?,
    ))
}

/// `PUT /v1/tenants/{id}/consent/{recipient}` with `{"status": "opted_in", "source": "crm"}`.
pub async fn put_consent(
    State(state): State<AppState>,
    Path((tenant, recipient)): Path<(String, String)>,
    body: Result<Json<ConsentChange>, JsonRejection>,
) -> Result<Json<Consent>, ApiError> {
    let Json(change) = body?;
    let key = recipient_key(&state, &tenant, &recipient).await?;
    let source = change.source.unwrap_or_else(|| "api".into());
    let at = now_ms();
    let c = state
        .db
        .write(move |c| {
            match change.status.as_str() {
                "opted_in" => {
                    scrm_store::ConsentRepo::opt_in(c, &tenant, &key, &source, at)?;
                    scrm_store::OutboxRepo::release(c, &tenant, Some(&key), &["opt_in_required"])?;
                }
                "opted_out" => scrm_store::ConsentRepo::opt_out(c, &tenant, &key, &source, at)?,
                _ => return Ok(None),
            }
            Ok(Some(scrm_store::ConsentRepo::get(c, &tenant, &key)?))
        })
        .await?;
    state.outbox.wake();
    c.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_consent",
            "status must be opted_in or opted_out",
        )
    })
}
