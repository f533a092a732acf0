//! Alerts from the numbers: which conditions hold for a tenant now, raised once when
//! they start and cleared when they end (`scrm_store::alerts`). Checked every few
//! minutes by one host of a fleet, and on demand (`POST …/alerts/check`).
//!
//! - `agent_slow`: an agent's mean response time over the last 7 days (at least
//!   [`MIN_ANSWERS`] answers) is over `agent_flag_minutes`;
//! - `promotion_below`: a promotion running today is used by less than its
//!   `min_share` of the conversations since it started;
//! - `plugin_quarantined`: one of the tenant's plugins is quarantined;
//! - `churn_risk_high`: a customer at high churn risk (`scrm_analytics::churn`);
//! - each warning of the tenant's health report (`crate::warnings`), by its code:
//!   `crm_sync_accuracy` (under 99 %), `oauth2_renewal_failing` (a CRM credential that
//!   cannot renew), `secret_due_for_rotation`, `crm_phone_problems`.

use super::{Context, Query, context, responses};
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
    let q = Query {
        range: week,
        scope: Scope::default(),
        limit: 1_000,
    };
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

/// Checks `tenant` now: the alerts raised and cleared; `None` when there is no such
/// tenant.
///
/// # Errors
/// On database failure.
pub async fn check(db: &Db, tenant: &str) -> Result<Option<(Vec<Alert>, Vec<Alert>)>, StoreError> {
    let Some(ctx) = context(db, tenant).await? else {
        return Ok(None);
    };
    let holding = conditions(db, tenant, &ctx).await?;
    let t = tenant.to_string();
    let (raised, cleared) = db
        .write(move |c| scrm_store::transaction(c, |tx| AlertRepo::reconcile(tx, &t, &holding)))
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
pub async fn run(db: Db, host: String) {
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
                        if let Err(e) = check(&db, &t).await {
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
