//! A tenant's own settings and its health report: what needs the operator's
//! attention (secrets due for rotation, OAuth 2 credentials that cannot renew, CRM
//! numbers that could not be read).

use super::AppState;
use super::error::ApiError;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// Body of `PATCH /v1/tenants/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// Days a secret may go unchanged before the health report warns (0: never).
    secret_rotation_days: Option<i64>,
    /// Whether links in the tenant's messages are tracked (when the host has a
    /// `public_url`; on by default).
    track_links: Option<bool>,
    /// The tenant's time zone (IANA name, e.g. `Europe/Rome`): flows' schedules run
    /// in it.
    time_zone: Option<String>,
    /// Whether agents see conversations nobody is assigned to (on by default), or
    /// only their own and their teams'.
    agents_see_unassigned: Option<bool>,
    /// The monthly budget for flows' model calls, in the currency of their prices
    /// (`null`: none); once spent, those flows' drafts and sends stop until the
    /// month turns.
    model_budget: Option<Value>,
}

/// `PATCH /v1/tenants/{id}`: changes the tenant's settings and answers all of them.
pub async fn patch(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    body: Result<Json<TenantPatch>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(patch) = body?;
    if let Some(days) = patch.secret_rotation_days
        && !(0..=3650).contains(&days)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_secret_rotation_days",
            format!("secret_rotation_days must be 0 (never warn) to 3650, not {days}"),
        ));
    }
    if let Some(zone) = &patch.time_zone {
        crate::automation::schedule::zone(zone)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_time_zone", e))?;
    }
    let budget = match &patch.model_budget {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => match v.as_f64().filter(|b| b.is_finite() && *b >= 0.0) {
            Some(b) => Some(Some(b)),
            None => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_model_budget",
                    format!("model_budget is a number not below 0, or null for none; got {v}"),
                ));
            }
        },
    };
    let t = tenant.clone();
    let settings = state
        .db
        .write(move |c| {
            scrm_store::transaction(c, |tx| {
                if let Some(days) = patch.secret_rotation_days {
                    scrm_store::SecretRepo::set_rotation_days(tx, &t, days)?;
                }
                if let Some(on) = patch.track_links {
                    scrm_store::LinkRepo::set_tracking(tx, &t, on)?;
                }
                if let Some(zone) = &patch.time_zone {
                    scrm_store::FlowRepo::set_time_zone(tx, &t, zone.trim())?;
                }
                if let Some(on) = patch.agents_see_unassigned {
                    scrm_store::ConversationRepo::set_agents_see_unassigned(tx, &t, on)?;
                }
                if let Some(b) = budget {
                    scrm_store::AssistRepo::set_model_budget(tx, &t, b)?;
                }
                let days = scrm_store::SecretRepo::rotation_days(tx, &t)?;
                let track = scrm_store::LinkRepo::tracking(tx, &t)?;
                let zone = scrm_store::FlowRepo::time_zone(tx, &t)?;
                let unassigned = scrm_store::ConversationRepo::agents_see_unassigned(tx, &t)?;
                let budget = scrm_store::AssistRepo::model_budget(tx, &t)?;
                Ok(days.zip(track).zip(zone).map(|s| (s, (unassigned, budget))))
            })
        })
        .await?;
    let Some((((days, track_links), time_zone), (unassigned, budget))) = settings else {
        return Err(ApiError::not_found(format!("no tenant {tenant:?}")));
    };
    Ok(Json(json!({
        "secret_rotation_days": days,
        "track_links": track_links,
        "time_zone": time_zone,
        "agents_see_unassigned": unassigned,
        "model_budget": budget,
    })))
}

/// `GET /v1/tenants/{id}/health`: `status` is `ok` or `warning`, and each warning
/// has a machine-readable `code` and a message (`crate::warnings`).
pub async fn health(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    super::require_tenant(&state, &tenant).await?;
    let warnings = crate::warnings::tenant(&state.db, &tenant).await?;
    let status = if warnings.is_empty() { "ok" } else { "warning" };
    Ok(Json(json!({ "status": status, "warnings": warnings })))
}
