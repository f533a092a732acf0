//! A tenant's standing warnings — what needs the operator's or a manager's attention
//! now: secrets due for rotation, OAuth 2 credentials that cannot renew, CRM sync
//! accuracy under its target, CRM phone numbers that could not be read. The health
//! report (`GET /v1/tenants/{id}/health`) lists them; alerts raise each once.

use scrm_store::{Db, StoreError, now_ms};
use serde_json::{Value, json};

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
