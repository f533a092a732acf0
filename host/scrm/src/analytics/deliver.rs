//! Delivery: each tenant's weekly reports generated on Monday for the week that
//! just ended (stored once, listed, emailed to its report recipients with the PDF and
//! CSV attached), and every alert raised or cleared posted to the tenant's webhook
//! (signed) and emailed to its alert recipients — retried until delivered.
//!
//! One host of a fleet delivers at a time (the `reports` singleton). Nothing is
//! emailed without the host's `[smtp]`; a report older than 8 days is no longer
//! emailed (a host down for a week does not flood inboxes when it returns).

use super::{Context, context, report, report_pdf};
use crate::mail::{Email, File, Mailer};
use chrono::{DateTime, Utc};
use scrm_analytics::DateRange;
use scrm_store::alerts::Notice;
use scrm_store::reports::ReportInfo;
use scrm_store::{AlertRepo, Db, ReportRepo, SecretRepo, StoreError, TenantRepo};
use serde_json::{Value, json};
use std::time::Duration;

/// How often the loop looks for work.
pub const EVERY: Duration = Duration::from_secs(5);
/// Reports generated longer ago than this are not emailed any more.
const EMAIL_WINDOW_MS: i64 = 8 * 86_400_000;
/// Tries per report email.
const REPORT_ATTEMPTS: i64 = 5;
/// Tries per alert notice.
const NOTICE_ATTEMPTS: i64 = 10;
/// The tenant secret alert webhooks are signed with.
pub const WEBHOOK_SECRET: &str = "alert_webhook_secret";
pub use crate::event_hooks::SIGNATURE_HEADER;

/// Generates, stores and sends reports and alert notices.
#[derive(Debug, Clone)]
pub struct Delivery {
    db: Db,
    mailer: Option<Mailer>,
    http: reqwest::Client,
}

/// The week whose report is due on `now` for a tenant created at `created_at`: the
/// ISO week before the current one in `tz`, when the tenant existed all of it.
pub fn due_week(now: DateTime<Utc>, tz: chrono_tz::Tz, created_at: i64) -> Option<DateRange> {
    let today = now.with_timezone(&tz).date_naive();
    let week = DateRange::iso_week(&DateRange::week_name(today), tz)
        .ok()?
        .previous_week();
    (created_at <= week.bounds_ms().0).then_some(week)
}

impl Delivery {
    /// Delivery through `mailer` (none: nothing is emailed).
    pub fn new(db: Db, mailer: Option<Mailer>) -> Delivery {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a TLS client");
        Delivery { db, mailer, http }
    }

    /// Whether email can be sent.
    pub fn can_email(&self) -> bool {
        self.mailer.is_some()
    }

    /// Generates and stores `week`'s report for `tenant` (unless stored), then emails
    /// it when it has not been; what is stored now.
    ///
    /// # Errors
    /// On database failure.
    pub async fn weekly(
        &self,
        tenant: &str,
        ctx: &Context,
        week: DateRange,
    ) -> Result<ReportInfo, StoreError> {
        let name = DateRange::week_name(week.from);
        let body = report::weekly(&self.db, tenant, ctx, week).await?;
        let (t, n) = (tenant.to_string(), name.clone());
        self.db
            .write(move |c| ReportRepo::put(c, &t, &n, &body, scrm_store::now_ms()))
            .await?;
        self.email_report(tenant, &name).await?;
        let (t, n) = (tenant.to_string(), name);
        let stored = self.db.read(move |c| ReportRepo::get(c, &t, &n)).await?;
        stored
            .map(|(info, _)| info)
            .ok_or_else(|| StoreError::Column("the report just stored is gone".into()))
    }

    /// Generates the reports due now for every tenant.
    async fn generate_due(&self) -> Result<(), StoreError> {
        let tenants = self.db.read(|c| TenantRepo::list(c)).await?;
        for t in tenants {
            let Some(ctx) = context(&self.db, &t.id).await? else {
                continue;
            };
            let Some(week) = due_week(Utc::now(), ctx.tz, t.created_at) else {
                continue;
            };
            let (id, name) = (t.id.clone(), DateRange::week_name(week.from));
            if self
                .db
                .read(move |c| ReportRepo::get(c, &id, &name))
                .await?
                .is_none()
            {
                let info = self.weekly(&t.id, &ctx, week).await?;
                tracing::info!(tenant = %t.id, week = %info.week, "weekly reports generated");
            }
        }
        Ok(())
    }

    /// Emails the stored report of `week` to the tenant's recipients, unless it was
    /// emailed, there are none, or the host has no SMTP server.
    async fn email_report(&self, tenant: &str, week: &str) -> Result<(), StoreError> {
        let Some(mailer) = &self.mailer else {
            return Ok(());
        };
        let (t, w) = (tenant.to_string(), week.to_string());
        let Some((info, body)) = self.db.read(move |c| ReportRepo::get(c, &t, &w)).await? else {
            return Ok(());
        };
        let Some(ctx) = context(&self.db, tenant).await? else {
            return Ok(());
        };
        let to = ctx.settings.report_recipients.clone();
        if info.emailed_at.is_some() || to.is_empty() || info.email_attempts >= REPORT_ATTEMPTS {
            return Ok(());
        }
        let outcome = match report_email(tenant, week, &body, to) {
            Ok(email) => mailer
                .send(email)
                .await
                .map(|()| scrm_store::now_ms())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match &outcome {
            Ok(_) => tracing::info!(tenant, week, "weekly reports emailed"),
            Err(e) => tracing::warn!(tenant, week, error = %e, "cannot email the weekly reports"),
        }
        let (t, w) = (tenant.to_string(), week.to_string());
        self.db
            .write(move |c| ReportRepo::emailed(c, &t, &w, outcome))
            .await
    }

    /// Emails the recent reports not emailed yet.
    async fn email_unsent(&self) -> Result<(), StoreError> {
        if self.mailer.is_none() {
            return Ok(());
        }
        let since = scrm_store::now_ms() - EMAIL_WINDOW_MS;
        let unsent = self
            .db
            .read(move |c| ReportRepo::unsent(c, since, REPORT_ATTEMPTS, 100))
            .await?;
        for (tenant, week) in unsent {
            self.email_report(&tenant, &week).await?;
        }
        Ok(())
    }

    /// Delivers the alert notices due now.
    ///
    /// # Errors
    /// On database failure.
    pub async fn deliver_notices(&self) -> Result<usize, StoreError> {
        let now = scrm_store::now_ms();
        let due = self
            .db
            .read(move |c| AlertRepo::due_notices(c, now, 100))
            .await?;
        let n = due.len();
        for notice in due {
            let outcome = match self.deliver(&notice).await {
                Ok(to) => Ok(to),
                Err(e) if notice.attempts + 1 >= NOTICE_ATTEMPTS => {
                    tracing::error!(tenant = %notice.tenant_id, alert = notice.alert.id, error = %e,
                        "alert notice given up");
                    Err((e, None))
                }
                Err(e) => {
                    let wait = 30_000i64 << notice.attempts.clamp(0, 8);
                    tracing::warn!(tenant = %notice.tenant_id, alert = notice.alert.id, error = %e,
                        "alert notice not delivered; retrying");
                    Err((e, Some(now + wait)))
                }
            };
            let id = notice.id;
            self.db
                .write(move |c| AlertRepo::notice_outcome(c, id, outcome))
                .await?;
        }
        Ok(n)
    }

    /// Posts and emails one notice; where it went (empty: nowhere configured).
    async fn deliver(&self, notice: &Notice) -> Result<String, String> {
        let ctx = context(&self.db, &notice.tenant_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the tenant is gone")?;
        let mut done = Vec::new();
        let payload = json!({
            "tenant": notice.tenant_id,
            "event": notice.event,
            "alert": notice.alert,
        });
        if let Some(url) = &ctx.settings.alert_webhook {
            self.post(&notice.tenant_id, url, &payload).await?;
            done.push("webhook");
        }
        let to = ctx.settings.alert_emails.clone();
        if let (Some(mailer), false) = (&self.mailer, to.is_empty()) {
            let verb = if notice.event == "cleared" {
                "cleared"
            } else {
                "alert"
            };
            let a = &notice.alert;
            let email = Email {
                to,
                subject: format!("[scrm {}] {verb}: {}", notice.tenant_id, a.message),
                text: format!(
                    "{verb}: {}\n\nkind: {}\nsubject: {}\nraised: {}\n\n{}\n",
                    a.message,
                    a.kind,
                    a.subject,
                    when(a.raised_at),
                    serde_json::to_string_pretty(&a.details).unwrap_or_default()
                ),
                html: None,
                files: Vec::new(),
            };
            mailer.send(email).await.map_err(|e| e.to_string())?;
            done.push("email");
        }
        Ok(done.join(","))
    }

    /// Posts `payload` to `url`, signed with the tenant's webhook secret.
    async fn post(&self, tenant: &str, url: &str, payload: &Value) -> Result<(), String> {
        let t = tenant.to_string();
        let secret = self
            .db
            .read(move |c| SecretRepo::get(c, &t, WEBHOOK_SECRET))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!("set the tenant secret {WEBHOOK_SECRET} to sign alert webhooks")
            })?;
        let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        let signature = scrm_wire::signature::sign(secret.as_bytes(), &body);
        let resp = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("webhook: {e}"))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered {}", resp.status()))
        }
    }

    /// One pass: reports due, reports to email, notices to deliver.
    async fn pass(&self) {
        if let Err(e) = self.generate_due().await {
            tracing::error!(error = %e, "cannot generate the weekly reports");
        }
        if let Err(e) = self.email_unsent().await {
            tracing::error!(error = %e, "cannot email the weekly reports");
        }
        if let Err(e) = self.deliver_notices().await {
            tracing::error!(error = %e, "cannot deliver alert notices");
        }
    }

    /// Delivers every [`EVERY`], on one host of a fleet at a time.
    pub async fn run(self, host: String) {
        let lease = crate::singleton::Singleton::new(
            self.db.clone(),
            &host,
            "reports",
            12 * EVERY.as_millis() as i64,
        );
        loop {
            if lease.held().await {
                self.pass().await;
            }
            tokio::time::sleep(EVERY).await;
        }
    }
}

fn when(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

/// The email of a tenant's weekly reports: the HTML page as the body, the PDF and
/// CSV attached.
fn report_email(tenant: &str, week: &str, body: &Value, to: Vec<String>) -> Result<Email, String> {
    let html = report::html(body).map_err(|e| format!("report page: {e}"))?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    for r in report::rows(body) {
        csv.write_record(&r).map_err(|e| e.to_string())?;
    }
    let csv = csv.into_inner().map_err(|e| e.to_string())?;
    let s = &body["service"]["this_week"];
    let f = &body["sales"]["this_week"];
    let c = &body["cost"]["this_week"];
    let text = format!(
        "Weekly reports {week} for {tenant}\n\n\
         Service: mean response {:.0} s, resolution {:.1} %\n\
         Sales: overall conversion {:.1} %, {} orders\n\
         Cost: {} {} in all, {} per new customer\n\n\
         The full reports are in the HTML part and the attached PDF and CSV.\n",
        s["mean_response_s"].as_f64().unwrap_or(0.0),
        s["resolution_rate"].as_f64().unwrap_or(0.0) * 100.0,
        f["overall"].as_f64().unwrap_or(0.0) * 100.0,
        f["orders"],
        c["total"],
        c["currency"].as_str().unwrap_or_default(),
        c["acquisition_cost"],
    );
    Ok(Email {
        to,
        subject: format!("Weekly reports {week} — {tenant}"),
        text,
        html: Some(html),
        files: vec![
            File {
                name: format!("weekly-{week}.pdf"),
                mime: "application/pdf",
                bytes: report_pdf::pdf(body),
            },
            File {
                name: format!("weekly-{week}.csv"),
                mime: "text/csv",
                bytes: csv,
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_week_due_is_the_last_whole_one_the_tenant_lived_through() {
        let rome = chrono_tz::Europe::Rome;
        // Monday 7 December 2026, 00:30 in Rome (Sunday 23:30 UTC).
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 23, 30, 0).unwrap();
        let old = 0;
        let w = due_week(now, rome, old).unwrap();
        assert_eq!(DateRange::week_name(w.from), "2026-W49");
        // In UTC it is still Sunday: the week before that.
        let w = due_week(now, chrono_tz::UTC, old).unwrap();
        assert_eq!(DateRange::week_name(w.from), "2026-W48");
        // A tenant created during the week has no report for it.
        let created = Utc
            .with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(due_week(now, rome, created), None);
    }
}
