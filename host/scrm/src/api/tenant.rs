//! A tenant's own settings and its health report: what needs the operator's
//! attention (secrets due for rotation, OAuth 2 credentials that cannot renew, CRM
//! numbers that could not be read).

use super::AppState;
use super::error::ApiError;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use scrm_store::now_ms;
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
                let days = scrm_store::SecretRepo::rotation_days(tx, &t)?;
                let track = scrm_store::LinkRepo::tracking(tx, &t)?;
                let zone = scrm_store::FlowRepo::time_zone(tx, &t)?;
                let unassigned = scrm_store::ConversationRepo::agents_see_unassigned(tx, &t)?;
                Ok(days.zip(track).zip(zone).map(|s| (s, unassigned)))
            })
        })
        .await?;
    let Some((((days, track_links), time_zone), unassigned)) = settings else {
        return Err(ApiError::not_found(format!("no tenant {tenant:?}")));
    };
    Ok(Json(json!({
        "secret_rotation_days": days,
        "track_links": track_links,
        "time_zone": time_zone,
        "agents_see_unassigned": unassigned,
    })))
}

/// `GET /v1/tenants/{id}/health`: `status` is `ok` or `warning`, and each warning
/// has a machine-readable `code` and a message.
pub async fn health(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    super::require_tenant(&state, &tenant).await?;
    let (ages, problems, values, audit) = state
        .db
        .read(move |c| {
            Ok((
                scrm_store::SecretRepo::ages(c, Some(&tenant))?,
                scrm_store::CrmRepo::phone_problems(c, &tenant)?.len(),
                scrm_store::SecretRepo::all(c, &tenant)?,
                scrm_store::CrmRepo::last_audit(c, &tenant)?,
            ))
        })
        .await?;
    let now = now_ms();
    let mut warnings: Vec<Value> = ages
        .iter()
        .filter(|a| a.stale(now))
        .map(|a| {
            let days = (now - a.set_at) / 86_400_000;
            json!({
                "code": "secret_due_for_rotation",
                "secret": a.name,
                "age_days": days,
                "message": format!(
                    "secret {:?} was set {days} days ago, longer than the tenant's rotation period of {} days: rotate it (scrm secret set)",
                    a.name, a.rotation_days
                ),
            })
        })
        .collect();
    for (name, value) in &values {
        let Some(o) =
            crate::slots::oauth::OAuth2::parse(secrecy::ExposeSecret::expose_secret(value))
        else {
            continue;
        };
        if let Some(e) = o.last_error {
            warnings.push(json!({
                "code": "oauth2_renewal_failing",
                "secret": name,
                "message": format!(
                    "the OAuth 2 credential {name:?} cannot renew its access token ({e}): authorize again and store the new refresh token (scrm secret set-oauth2)"
                ),
            }));
        }
    }
    let target = crate::sync::audit::ACCURACY_TARGET;
    if let Some(a) = audit
        && let Some(acc) = a.accuracy.filter(|x| *x < target)
    {
        warnings.push(json!({
            "code": "crm_sync_accuracy",
            "accuracy": acc,
            "target": target,
            "message": format!(
                "the last sync audit found {:.1} % of the compared contact fields in step with the CRM, below the {:.0} % target: see the differences (scrm crm audit)",
                acc * 100.0,
                target * 100.0
            ),
        }));
    }
    if problems > 0 {
        warnings.push(json!({
            "code": "crm_phone_problems",
            "count": problems,
            "message": format!(
                "{problems} CRM records have a phone number that cannot be read (scrm crm phone-problems)"
            ),
        }));
    }
    let status = if warnings.is_empty() { "ok" } else { "warning" };
    Ok(Json(json!({ "status": status, "warnings": warnings })))
}
