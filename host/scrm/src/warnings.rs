//! A tenant's standing warnings — what needs the operator's or a manager's attention
//! now: secrets due for rotation, credentials about to expire (or expired), OAuth 2
//! credentials that cannot renew, CRM sync
//! accuracy under its target, CRM phone numbers that could not be read. The health
//! report (`GET /v1/tenants/{id}/health`) lists them; alerts raise each once.

use scrm_store::{Db, StoreError, now_ms};
use serde_json::{Value, json};

/// How long before a credential expires it is warned about.
pub const EXPIRY_NOTICE_MS: i64 = 14 * 86_400_000;

/// The warning for a secret that expires within [`EXPIRY_NOTICE_MS`] or has expired.
fn expiry(a: &scrm_store::secrets::SecretAge, now: i64) -> Option<Value> {
    let at = a.expires_at?;
    let left = at - now;
    if left > EXPIRY_NOTICE_MS {
        return None;
    }
    let date = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at).map_or_else(
        || at.to_string(),
        |d| d.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    Some(if left <= 0 {
        json!({
            "code": "credential_expired",
            "secret": a.name,
            "expires_at": at,
            "message": format!("the credential {:?} expired on {date}: set a new one (scrm secret set)", a.name),
        })
    } else {
        json!({
            "code": "credential_expiring",
            "secret": a.name,
            "expires_at": at,
            "days_left": left / 86_400_000,
            "message": format!(
                "the credential {:?} expires on {date}, in {} days: renew it with its issuer and set the new one (scrm secret set)",
                a.name,
                left / 86_400_000
            ),
        })
    })
}

/// The warnings that hold for `tenant` now, each with a machine-readable `code`, a
/// `message`, and what it is about (`secret`, …).
///
/// # Errors
/// On database failure.
pub async fn tenant(db: &Db, tenant: &str) -> Result<Vec<Value>, StoreError> {
    let t = tenant.to_string();
    let (ages, problems, values, audit) = db
        .read(move |c| {
            Ok((
                scrm_store::SecretRepo::ages(c, Some(&t))?,
                scrm_store::CrmRepo::phone_problems(c, &t)?.len(),
                scrm_store::SecretRepo::all(c, &t)?,
                scrm_store::CrmRepo::last_audit(c, &t)?,
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
    warnings.extend(ages.iter().filter_map(|a| expiry(a, now)));
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
    Ok(warnings)
}
