//! The relay's sender: due deliveries, leased, posted, recorded.

use super::KIND;
use crate::backoff::backoff_ms;
use scrm_store::hooks::{Attempt, Delivery};
use scrm_store::{Db, HookRepo, InboxRepo, SecretRepo, StoreError, TenantRepo, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The `[relay]` table: how deliveries are retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaySettings {
    /// Attempts before a delivery is `dead`.
    pub max_attempts: u32,
    /// First back-off, ms; doubled per attempt, with jitter.
    pub backoff_base_ms: u64,
    /// Longest back-off, ms.
    pub backoff_max_ms: u64,
    /// Timeout of one delivery, ms.
    pub timeout_ms: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            max_attempts: 12,
            backoff_base_ms: 1_000,
            backoff_max_ms: 600_000,
            timeout_ms: 10_000,
        }
    }
}

/// Deliveries handled per pass.
const BATCH: u32 = 64;

/// How often the sender looks for due deliveries when nothing wakes it.
const IDLE: Duration = Duration::from_millis(500);

/// The relay's sender.
#[derive(Debug, Clone)]
pub struct Relay {
    db: Db,
    http: reqwest::Client,
    settings: Arc<RelaySettings>,
    wake: Arc<Notify>,
}

impl Relay {
    /// A sender over `db`.
    pub fn new(db: Db, settings: RelaySettings) -> Relay {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .build()
            .unwrap_or_default();
        Relay {
            db,
            http,
            settings: Arc::new(settings),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Wakes the sender (after a delivery was re-queued).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Sends due deliveries until the task is dropped.
    pub async fn run(self) {
        loop {
            match self.pass().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "relay: cannot read due deliveries"),
            }
            let _ = tokio::time::timeout(IDLE, self.wake.notified()).await;
        }
    }

    /// One pass: every due delivery (the oldest of each contact), sent at once.
    ///
    /// # Errors
    /// When the due deliveries cannot be read or leased.
    pub async fn pass(&self) -> Result<usize, StoreError> {
        let now = now_ms();
        let lease = now + self.settings.timeout_ms as i64 + 5_000;
        let mine = self
            .db
            .write(move |c| {
                let mut mine = Vec::new();
                for d in HookRepo::due(c, now, BATCH)? {
                    if HookRepo::lease(c, d.id, now, lease)? {
                        mine.push(d);
                    }
                }
                Ok(mine)
            })
            .await?;
        let n = mine.len();
        let sends = mine.into_iter().map(|d| async move {
            let attempt = self.attempt(&d).await;
            (d.id, attempt)
        });
        let outcomes = futures_util::future::join_all(sends).await;
        self.db
            .write(move |c| {
                let now = now_ms();
                for (id, attempt) in &outcomes {
                    HookRepo::record(c, *id, attempt, now)?;
                }
                Ok(())
            })
            .await?;
        Ok(n)
    }

    /// Sends one delivery: what came of it.
    async fn attempt(&self, d: &Delivery) -> Attempt {
        let (tenant, inbox, kind) = (d.tenant_id.clone(), d.inbox_id, d.kind.clone());
        let found = self
            .db
            .read(move |c| {
                let hook = HookRepo::hook(c, &tenant, &kind)?;
                let secret = match &hook {
                    Some(h) => SecretRepo::get(c, &tenant, &h.secret_name)?,
                    None => None,
                };
                let body = match inbox {
                    Some(id) => InboxRepo::body(c, id)?,
                    None => None,
                };
                let numbers = TenantRepo::get(c, &tenant)?
                    .map(|t| t.phone_number_ids)
                    .unwrap_or_default();
                Ok((hook, secret, body, numbers))
            })
            .await;
        let (hook, secret, body, numbers) = match found {
            Ok(x) => x,
            Err(e) => return self.failed(d, None, format!("cannot read the delivery: {e}")),
        };
        let Some(hook) = hook else {
            return give_up(&format!("the tenant's {} hook was removed", d.kind));
        };
        let Some(secret) = secret else {
            let why = format!("the hook's secret {:?} is not set", hook.secret_name);
            return self.failed(d, None, why);
        };
        let mut request = self
            .http
            .post(&hook.url)
            .header("content-type", "application/json");
        let body = if d.kind == KIND {
            let Some((_, body)) = body else {
                return give_up("the webhook body is no longer stored");
            };
            let body = for_tenant(body, &numbers);
            let signature = scrm_wire::signature::sign(secret.as_bytes(), &body);
            request = request.header("x-hub-signature-256", signature);
            body
        } else {
            // An outbound event: its own payload, signed as scrm signs its webhooks.
            let body = d.payload.clone().unwrap_or_default().into_bytes();
            let kind = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let signature = scrm_wire::signature::sign(secret.as_bytes(), &body);
            request = request
                .header(crate::event_hooks::SIGNATURE_HEADER, signature)
                .header("x-scrm-event", kind);
            body
        };
        let sent = request.body(body).send().await;
        match sent {
            Ok(r) if r.status().is_success() => Attempt::Delivered(i64::from(r.status().as_u16())),
            Ok(r) => {
                let status = r.status().as_u16();
                self.failed(
                    d,
                    Some(i64::from(status)),
                    format!("the app answered {status}"),
                )
            }
            Err(e) => self.failed(d, None, format!("cannot reach the app: {e}")),
        }
    }

    /// A failed attempt: retried after a back-off, or dead after the last.
    fn failed(&self, d: &Delivery, status: Option<i64>, error: String) -> Attempt {
        let attempts = d.attempts + 1;
        let retry_at = (attempts < i64::from(self.settings.max_attempts)).then(|| {
            now_ms()
                + backoff_ms(
                    self.settings.backoff_base_ms,
                    self.settings.backoff_max_ms,
                    attempts,
                )
        });
        Attempt::Failed {
            status,
            error,
            retry_at,
        }
    }
}

fn give_up(why: &str) -> Attempt {
    Attempt::Failed {
        status: None,
        error: why.to_owned(),
        retry_at: None,
    }
}

/// `body` as the tenant's app should see it: unchanged when every change in it is
/// for one of `numbers` (or names no number), else without the other numbers'
/// changes (and entries left empty).
pub fn for_tenant(body: Vec<u8>, numbers: &[String]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    let ours = |c: &Value| {
        c["value"]["metadata"]["phone_number_id"]
            .as_str()
            .is_none_or(|p| numbers.iter().any(|n| n == p))
    };
    let all_ours = v["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
        .all(ours);
    if all_ours {
        return body;
    }
    if let Some(entries) = v["entry"].as_array_mut() {
        for e in entries.iter_mut() {
            if let Some(changes) = e["changes"].as_array_mut() {
                changes.retain(ours);
            }
        }
        entries.retain(|e| e["changes"].as_array().is_some_and(|c| !c.is_empty()));
    }
    serde_json::to_vec(&v).unwrap_or(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_is_forwarded_as_received_unless_it_carries_another_tenants_number() {
        let change =
            |pn: &str| json!({"field": "messages", "value": {"metadata": {"phone_number_id": pn}}});
        let mine = br#"{"object":"whatsapp_business_account",  "entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"100"}}}]}]}"#.to_vec();
        assert_eq!(
            for_tenant(mine.clone(), &["100".into()]),
            mine,
            "byte for byte"
        );
        let mixed = serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [
            {"id": "1", "changes": [change("100"), change("200")]},
            {"id": "2", "changes": [change("200")]}]}))
        .unwrap();
        let cut: Value = serde_json::from_slice(&for_tenant(mixed, &["100".into()])).unwrap();
        assert_eq!(cut["entry"].as_array().unwrap().len(), 1);
        assert_eq!(cut["entry"][0]["changes"], json!([change("100")]));
        assert_eq!(for_tenant(b"not json".to_vec(), &[]), b"not json");
    }
}
