//! Alerts from the numbers: which conditions hold for a tenant now, raised once when
//! they start and cleared when they end (`scrm_store::alerts`). Checked every few
//! minutes by one host of a fleet, and on demand (`POST …/alerts/check`).
//!
//! - `agent_slow`: an agent's mean response time over the last 7 days (at least
//!   [`MIN_ANSWERS`] answers) is over `agent_flag_minutes`;
//! - `promotion_below`: a promotion running today is used by less than its
//!   `min_share` of the conversations since it started;
//! - `plugin_quarantined`: one of the tenant's plugins is quarantined;
//! - `churn_risk_high`: a customer at high churn risk (`scrm_analytics::churn`); its
//!   raise sets the contact's field `churn_risk` to `high` (and its clearing clears
//!   it), which the `win-back` flow reacts to;
//! - `daily_cap_80`: a business number has reached 80 % of its daily cap (distinct
//!   recipients of business-initiated messages in the last 24 hours);
//! - each warning of the tenant's health report (`crate::warnings`), by its code:
//!   `crm_sync_accuracy` (under 99 %), `oauth2_renewal_failing` (a CRM credential that
//!   cannot renew), `credential_expiring` / `credential_expired` (a secret whose
//!   expiry is known), `secret_due_for_rotation`, `crm_phone_problems`.

use super::{Context, Query, context, responses};
use crate::limits::Limits;
use chrono::Utc;
use scrm_analytics::DateRange;
use scrm_store::alerts::{Alert, Condition};
use scrm_store::analytics::Scope;
use scrm_store::{AlertRepo, Db, StoreError};
use serde_json::json;
use std::time::Duration;

/// Answers an agent must have given in 7 days before their speed raises an alert.
pub const MIN_ANSWERS: u64 = 2;
/// How often a host checks every tenant.
pub const CHECK_EVERY: Duration = Duration::from_secs(300);

/// The conditions that hold for `tenant` now.
///
/// # Errors
/// On database failure.
pub async fn conditions(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    limits: Limits,
) -> Result<Vec<Condition>, StoreError> {
    let today = Utc::now().with_timezone(&ctx.tz).date_naive();
    let mut out = Vec::new();
    let week = DateRange {
        from: today - chrono::Days::new(6),
        to: today,
        tz: ctx.tz,
    };
    let r = responses(
        db,
        tenant,
        ctx,
        &Query {
            range: week,
            scope: Scope::default(),
            limit: 0,
        },
    )
    .await?;
    for a in r
        .agents
        .iter()
        .filter(|a| a.flagged && a.response.count >= MIN_ANSWERS)
    {
        out.push(Condition {
            kind: "agent_slow".into(),
            subject: format!("person:{}", a.person),
            message: format!(
                "person {} answered {} times in 7 days with a mean of {:.1} min, over {} min: training suggested",
                a.person,
                a.response.count,
                a.response.mean_s / 60.0,
                ctx.settings.agent_flag_minutes
            ),
            details: json!({"person": a.person, "answered": a.response.count, "mean_s": a.response.mean_s,
                            "flag_over_s": r.flag_over_s}),
        });
    }
    for p in ctx
        .settings
        .promotions
        .iter()
        .filter(|p| p.from <= today && today <= p.to)
    {
        let range = DateRange {
            from: p.from,
            to: today,
            tz: ctx.tz,
        };
        let counter = super::words(db, tenant, ctx, range.bounds_ms(), &Scope::default()).await?;
        let (n, used) = (
            counter.conversations(),
            counter.conversations_using(&p.words),
        );
        let share = scrm_analytics::stats::share(used, n);
        if n > 0 && share < p.min_share {
            out.push(Condition {
                kind: "promotion_below".into(),
                subject: p.name.clone(),
                message: format!(
                    "promotion {:?}: {:.1} % of conversations use its words ({}), under {:.1} %: change it now",
                    p.name,
                    share * 100.0,
                    p.words.join(", "),
                    p.min_share * 100.0
                ),
                details: json!({"promotion": p.name, "conversations": n, "using": used, "share": share,
                                "min_share": p.min_share}),
            });
        }
    }
    let q = Query::tenant_wide(week, 1_000);
    for c in super::churn(db, tenant, ctx, &q)
        .await?
        .0
        .into_iter()
        .filter(|c| c.risk.risk == "high")
    {
        let who = c
            .name
            .clone()
            .or_else(|| c.wa_id.clone())
            .unwrap_or_else(|| format!("#{}", c.contact_id));
        out.push(Condition {
            kind: "churn_risk_high".into(),
            subject: format!("contact:{}", c.contact_id),
            message: format!(
                "{who}: wrote on {} day(s) last week against {:.1} a week before, unhappy (sentiment {:.2}); {}",
                c.risk.last_week,
                c.risk.baseline_per_week,
                c.risk.sentiment.unwrap_or(0.5),
                c.suggestion.clone().unwrap_or_default()
            ),
            details: json!(c),
        });
    }
    out.extend(daily_caps(db, tenant, limits).await?);
    out.extend(model_budget(db, tenant).await?);
    // The health report's warnings: CRM sync accuracy, a CRM credential that cannot
    // renew, a secret due for rotation, unreadable CRM phone numbers.
    for w in crate::warnings::tenant(db, tenant).await? {
        let code = w["code"].as_str().unwrap_or("warning").to_string();
        out.push(Condition {
            subject: w["secret"]
                .as_str()
                .map_or_else(|| code.clone(), str::to_string),
            message: w["message"].as_str().unwrap_or_default().to_string(),
            kind: code,
            details: w,
        });
    }
    let t = tenant.to_string();
    for (slot, reason) in db.read(move |c| AlertRepo::quarantined(c, &t)).await? {
        out.push(Condition {
            kind: "plugin_quarantined".into(),
            message: format!("plugin slot {slot} is quarantined: {reason}"),
            details: json!({"slot": slot, "reason": reason}),
            subject: slot,
        });
    }
    Ok(out)
}

/// `model_budget_spent` when flows' model calls this month (UTC) cost the tenant's
/// monthly budget or more: those flows' drafts and sends are stopped until the
/// month turns (`crate::automation`). The subject is the month, so the alert clears
/// when it ends.
async fn model_budget(db: &Db, tenant: &str) -> Result<Option<Condition>, StoreError> {
    let t = tenant.to_string();
    let now = scrm_store::now_ms();
    let found = db
        .read(move |c| {
            let Some(budget) = scrm_store::AssistRepo::model_budget(c, &t)? else {
                return Ok(None);
            };
            let since = scrm_store::assist::month_start(now);
            Ok(Some((
                budget,
                scrm_store::AssistRepo::spent_since(c, &t, since)?,
            )))
        })
        .await?;
    Ok(found.filter(|(budget, spent)| spent >= budget).map(|(budget, spent)| {
        let month = scrm_store::assist::month_of(now);
        Condition {
            kind: "model_budget_spent".into(),
            message: format!(
                "flows' model calls cost {spent:.2} in {month}, the monthly budget is {budget:.2}: AI drafts and replies are stopped until the month turns (raise it with PATCH /v1/tenants/{{id}} model_budget)"
            ),
            details: json!({"month": month, "budget": budget, "spent": spent}),
            subject: month,
        }
    }))
}

/// The share of its daily cap at which a number raises `daily_cap_80`.
pub const CAP_SHARE: f64 = 0.8;

/// `daily_cap_80` for each of the tenant's numbers at 80 % of its cap or more.
async fn daily_caps(db: &Db, tenant: &str, defaults: Limits) -> Result<Vec<Condition>, StoreError> {
    let t = tenant.to_string();
    let since = scrm_store::now_ms() - 86_400_000;
    let usage = db
        .read(move |c| {
            let Some(tn) = scrm_store::TenantRepo::get(c, &t)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for number in tn.phone_number_ids {
                let limits = crate::outbox::effective_limits(c, &t, &number, defaults)?;
                if let Some(cap) = limits.daily_cap.get() {
                    let (reached, _) = scrm_store::OutboxRepo::reached_since(c, &number, since)?;
                    out.push((number, reached, cap));
                }
            }
            Ok(out)
        })
        .await?;
    Ok(usage
        .into_iter()
        .filter(|(_, reached, cap)| f64::from(*reached) >= CAP_SHARE * f64::from(*cap))
        .map(|(number, reached, cap)| Condition {
            kind: "daily_cap_80".into(),
            subject: format!("number:{number}"),
            message: format!(
                "number {number} reached {reached} of its {cap} recipients in the last 24 hours ({:.0} %): business-initiated messages wait once it is full",
                f64::from(reached) / f64::from(cap) * 100.0
            ),
            details: json!({"number": number, "reached": reached, "cap": cap}),
        })
        .collect())
}

/// The contact field a high churn risk sets (`high`) and its end clears: flows
/// such as `win-back` react to its change, and the CRM sees it.
pub const CHURN_FIELD: &str = "churn_risk";

/// Sets [`CHURN_FIELD`] on the contacts whose churn alert was raised, clears it on
/// those whose alert cleared, and tells the flows (`field-changed`).
fn churn_fields(
    tx: &dyn scrm_store::Store,
    tenant: &str,
    raised: &[Alert],
    cleared: &[Alert],
) -> Result<(), StoreError> {
    let now = scrm_store::now_ms();
    let changes = raised
        .iter()
        .map(|a| (a, json!("high")))
        .chain(cleared.iter().map(|a| (a, serde_json::Value::Null)));
    for (alert, value) in changes {
        let contact = alert
            .subject
            .strip_prefix("contact:")
            .and_then(|c| c.parse::<i64>().ok());
        let Some(contact) = contact.filter(|_| alert.kind == "churn_risk_high") else {
            continue;
        };
        let old = scrm_store::CrmRepo::fields(tx, tenant, contact)?
            .into_iter()
            .find(|(n, _)| n == CHURN_FIELD)
            .map(|(_, c)| c.value);
        if old.as_ref() == Some(&value) {
            continue;
        }
        let clock = scrm_store::crm::FieldClock {
            value: value.clone(),
            changed_at: now,
            source: "whatsapp".into(),
        };
        scrm_store::CrmRepo::set_field(tx, tenant, contact, CHURN_FIELD, &clock)?;
        scrm_store::CrmRepo::enqueue_contact(tx, tenant, contact)?;
        crate::automation::emit(
            tx,
            tenant,
            "field-changed",
            contact,
            &json!({"name": CHURN_FIELD, "old": old, "new": value}),
            None,
        )?;
    }
    Ok(())
}

/// Checks `tenant` now: the alerts raised and cleared; `None` when there is no such
/// tenant.
///
/// # Errors
/// On database failure.
pub async fn check(
    db: &Db,
    tenant: &str,
    limits: Limits,
) -> Result<Option<(Vec<Alert>, Vec<Alert>)>, StoreError> {
    let Some(ctx) = context(db, tenant).await? else {
        return Ok(None);
    };
    let holding = conditions(db, tenant, &ctx, limits).await?;
    let t = tenant.to_string();
    let (raised, cleared) = db
        .write(move |c| {
            scrm_store::transaction(c, |tx| {
                let (raised, cleared) = AlertRepo::reconcile(tx, &t, &holding)?;
                churn_fields(tx, &t, &raised, &cleared)?;
                for a in &raised {
                    crate::event_hooks::emit(
                        tx,
                        &t,
                        "alert.raised",
                        &a.kind,
                        serde_json::json!({"alert_id": a.id, "kind": a.kind, "subject": a.subject,
                            "message": a.message, "details": a.details, "raised_at": a.raised_at}),
                    )?;
                }
                Ok((raised, cleared))
            })
        })
        .await?;
    for a in &raised {
        tracing::warn!(tenant, kind = %a.kind, subject = %a.subject, message = %a.message, "alert raised");
    }
    for a in &cleared {
        tracing::info!(tenant, kind = %a.kind, subject = %a.subject, "alert cleared");
    }
    Ok(Some((raised, cleared)))
}

/// Checks every tenant every [`CHECK_EVERY`], on one host of a fleet at a time.
pub async fn run(db: Db, host: String, limits: Limits) {
    let lease = crate::singleton::Singleton::new(
        db.clone(),
        &host,
        "alerts",
        3 * CHECK_EVERY.as_millis() as i64,
    );
    loop {
        if lease.held().await {
            match db.read(|c| scrm_store::TenantRepo::ids(c)).await {
                Ok(tenants) => {
                    for t in tenants {
                        if let Err(e) = check(&db, &t, limits).await {
                            tracing::error!(tenant = %t, error = %e, "cannot check alerts");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot list tenants for alerts"),
            }
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::DailyCap;
    use scrm_store::params;

    fn tenant(db: &Db) {
        db.with_conn(|c| {
            scrm_store::AppRepo::insert(c, "app", "secret", "verify")?;
            scrm_store::TenantRepo::insert(
                c,
                &scrm_store::tenants::NewTenant {
                    id: "acme".into(),
                    app_id: "app".into(),
                    phone_number_ids: vec!["100".into(), "200".into()],
                    default_region: "IT".into(),
                },
            )
        })
        .unwrap();
    }

    /// Recipients `from..from + n` reached from `number` with business-initiated
    /// sends an hour ago.
    fn reached(db: &Db, number: &str, from: u32, n: u32) {
        let at = scrm_store::now_ms() - 3_600_000;
        db.with_conn(|c| {
            for i in from..from + n {
                c.execute(
                    "INSERT INTO outbox (tenant_id, phone_number_id, to_wa, kind, category, body, source, state,
                                         not_before, business_initiated, created_at, updated_at, sent_at)
                     VALUES ('acme', ?1, ?2, 'template', 'marketing', '{}', 'api', 'sent', 0, 1, ?3, ?3, ?3)",
                    params![number, format!("39347{i:07}"), at],
                )?;
            }
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_number_at_80_percent_of_its_daily_cap_and_an_expiring_credential_raise_alerts() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        for t in scrm_store::testing::backends() {
            let b = t.backend;
            tenant(&t.db);
            let limits = Limits {
                daily_cap: DailyCap::Limited(250),
                ..Limits::default()
            };
            reached(&t.db, "100", 0, 199);
            reached(&t.db, "200", 0, 10);
            let kinds = |v: &[Condition]| -> Vec<(String, String)> {
                v.iter()
                    .map(|c| (c.kind.clone(), c.subject.clone()))
                    .collect()
            };
            let caps = |l: Limits| rt.block_on(daily_caps(&t.db, "acme", l)).unwrap();
            assert!(caps(limits).is_empty(), "{b}: 199 of 250");
            reached(&t.db, "100", 199, 1);
            let c = caps(limits);
            assert_eq!(
                kinds(&c),
                [("daily_cap_80".to_string(), "number:100".to_string())],
                "{b}"
            );
            assert!(c[0].message.contains("200 of its 250"), "{}", c[0].message);
            let unlimited = Limits {
                daily_cap: DailyCap::Unlimited,
                ..Limits::default()
            };
            assert!(caps(unlimited).is_empty());

            // A CRM key that expires in 3 days, another in 30, one expired.
            let now = scrm_store::now_ms();
            t.db.with_conn(|c| {
                for (name, days) in [("hubspot_token", 3), ("zoho_key", 30), ("old_key", -1)] {
                    scrm_store::SecretRepo::set(c, "acme", name, "v")?;
                    scrm_store::SecretRepo::set_expiry(
                        c,
                        "acme",
                        name,
                        Some(now + days * 86_400_000),
                    )?;
                }
                Ok(())
            })
            .unwrap();
            let all_conditions = || {
                rt.block_on(async {
                    let ctx = context(&t.db, "acme").await.unwrap().unwrap();
                    conditions(&t.db, "acme", &ctx, limits).await.unwrap()
                })
            };
            let all = all_conditions();
            let mut got: Vec<(String, String)> = kinds(&all)
                .into_iter()
                .filter(|(k, _)| k.starts_with("credential"))
                .collect();
            got.sort();
            assert_eq!(
                got,
                [
                    ("credential_expired".to_string(), "old_key".to_string()),
                    (
                        "credential_expiring".to_string(),
                        "hubspot_token".to_string()
                    )
                ],
                "{b}"
            );
            assert!(all.iter().any(|c| c.kind == "daily_cap_80"), "{b}");
            // A new value forgets the old expiry: the alert clears.
            t.db.with_conn(|c| scrm_store::SecretRepo::set(c, "acme", "hubspot_token", "v2"))
                .unwrap();
            assert!(
                !all_conditions()
                    .iter()
                    .any(|c| c.subject == "hubspot_token"),
                "{b}"
            );
        }
    }
}
