//! Sending: every message goes through the durable outbox, WhatsApp's limits and the
//! Cloud API client, and every answer is handled by its error code.
//!
//! - [`Outbox::submit`] checks a request (`scrm_wire::outbound`), applies the rules
//!   ([`crate::limits::policy`]) so that a send Meta would reject is refused at once
//!   with a specific code, and stores it (idempotent on the caller's key).
//! - [`Outbox::run`] is the sender. It claims due rows (only the oldest unfinished row
//!   per number and recipient, so each recipient's messages stay in order), applies
//!   the rules again with fresh facts, paces each number ([`crate::limits::rate`]),
//!   calls the Cloud API, and records the outcome: `sent` with Meta's message id, a
//!   back-off (130429, 131056, honouring `Retry-After`), `needs_template` (131047),
//!   `undeliverable` (131026), marketing stopped or paused (131050, 131049, 368),
//!   retries with exponential back-off and jitter for 5xx and timeouts, then `dead`
//!   with the reason. Nothing over a limit is dropped: it waits in the outbox with
//!   its reason.
//! - [`links`]: with a `public_url`, the links of every send are rewritten to
//!   tracked links when it is queued, and clicks on them are recorded.

use crate::cloud::client::{CloudClient, Endpoint};
use crate::config::{PublicUrl, SendSettings};
use crate::limits::policy::{self, Category, Decision, Facts, Refusal, WaitReason};
use crate::limits::{LimitOverrides, Limits};
use crate::metrics::Metrics;
use scrm_store::Store;
use scrm_store::outbox::{NewSend, OutboxItem};
use scrm_store::{Db, StoreError, now_ms};
use scrm_wire::graph::{Meaning, SendError, Sent, meaning};
use scrm_wire::outbound::{self, Checked};
use scrm_wire::payload::ApiError;
use scrm_wire::phone;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc};
use tracing::Instrument;

mod enqueue;
mod failures;
pub mod links;
#[cfg(test)]
mod links_tests;
mod worker;

pub use enqueue::{
    FlowSendOutcome, action_send, effective_limits, enqueue_actions, enqueue_flow_send,
};
pub use failures::{apply_failed_status, apply_failure};
pub use scrm_store::secrets::TOKEN_SECRET;

pub use enqueue::{CrmReply, ReplyOutcome, crm_reply_key, enqueue_crm_reply};
use enqueue::{Target, enqueue_checked, gather, rule_kind};
use failures::first_error;

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The body is not a valid message.
    #[error(transparent)]
    Invalid(#[from] outbound::Invalid),
    /// WhatsApp's rules forbid it (outside the window, opted out, ...).
    #[error("{}", .0.message())]
    Refused(Refusal),
    /// The tenant does not exist.
    #[error("no tenant {0:?}")]
    UnknownTenant(String),
    /// The template is not one the tenant may send as it is (unknown, not
    /// approved, other parameters).
    #[error(transparent)]
    Template(crate::templates::TemplateError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::templates::TemplateError> for SubmitError {
    fn from(e: crate::templates::TemplateError) -> SubmitError {
        match e {
            crate::templates::TemplateError::Store(s) => SubmitError::Store(s),
            other => SubmitError::Template(other),
        }
    }
}

impl From<crate::media::CheckError> for SubmitError {
    fn from(e: crate::media::CheckError) -> SubmitError {
        match e {
            crate::media::CheckError::Invalid(e) => SubmitError::Invalid(e),
            crate::media::CheckError::Store(e) => SubmitError::Store(e),
        }
    }
}

/// What the host's configuration adds to every send it queues, whoever queues it
/// (the API, the CLI, a responder, a CRM reply).
#[derive(Debug, Clone, Default)]
pub struct SendDefaults {
    /// Limits in force unless the tenant or the number overrides them.
    pub limits: Limits,
    /// Where tracked links point; none: links are sent as they are.
    pub public_url: Option<PublicUrl>,
}

/// The outbox: submit sends, run the sender.
#[derive(Debug, Clone)]
pub struct Outbox {
    db: Db,
    client: CloudClient,
    settings: Arc<SendSettings>,
    /// This host's name on the rows it claims.
    host: Arc<str>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    in_flight: Arc<Semaphore>,
    health: Option<Arc<crate::cloud::health::Health>>,
    /// Uploads `scrm:<sha256>` media to Meta right before a send (crate::media).
    media: Option<crate::media::MediaStore>,
    /// Where tracked links point (none: links are not tracked).
    public_url: Option<PublicUrl>,
}

/// Sends in flight at once, across all numbers.
const MAX_IN_FLIGHT: usize = 1024;
/// Rows examined per claim round.
const CLAIM_BATCH: usize = 512;

impl Outbox {
    /// An outbox over `db` with these settings.
    pub fn new(db: Db, settings: SendSettings, metrics: Arc<Metrics>) -> Outbox {
        Outbox {
            client: CloudClient::new(Duration::from_millis(settings.request_timeout_ms)),
            db,
            settings: Arc::new(settings),
            host: Arc::from(crate::instance::new_host_id()),
            wake: Arc::new(Notify::new()),
            metrics,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            health: None,
            media: None,
            public_url: None,
        }
    }

    /// Claims rows as `host` (see [`crate::instance::new_host_id`]).
    pub fn with_host(mut self, host: &str) -> Outbox {
        self.host = Arc::from(host);
        self
    }

    /// Sends through the base URL `health` says is active for each app (primary or
    /// backup) instead of always the primary.
    pub fn with_health(mut self, health: Arc<crate::cloud::health::Health>) -> Outbox {
        self.health = Some(health);
        self
    }

    /// Sends `scrm:<sha256>` media ids by uploading the file from `media` first.
    pub fn with_media(mut self, media: crate::media::MediaStore) -> Outbox {
        self.media = Some(media);
        self
    }

    /// Tracks the links of every send through `public_url` (`{public_url}/l/{token}`)
    /// unless the tenant turned tracking off; none: links are sent as they are.
    pub fn with_public_url(mut self, public_url: Option<PublicUrl>) -> Outbox {
        self.public_url = public_url;
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &SendSettings {
        &self.settings
    }

    /// What every send queued next to this outbox (by the pipeline, the CRM sync)
    /// must apply: the default limits and where tracked links point.
    pub fn defaults(&self) -> SendDefaults {
        SendDefaults {
            limits: self.settings.limits,
            public_url: self.public_url.clone(),
        }
    }

    /// Checks, applies the rules to and stores a send request from `source`
    /// (`api`, `api person:ID` / `api token:ID` for a tenant's token, `inbox person:ID` for a reply from the inbox, …). A request with an `idempotency_key` seen before
    /// returns the stored row instead (and `false`).
    ///
    /// # Errors
    /// [`SubmitError`] saying precisely why it was not accepted.
    pub async fn submit(
        &self,
        tenant: &str,
        body: Value,
        idempotency_key: Option<String>,
        source: &str,
    ) -> Result<(OutboxItem, bool), SubmitError> {
        let checked = outbound::check(body)?;
        let tenant = tenant.to_owned();
        let source = source.to_owned();
        let defaults = self.defaults();
        let result = self
            .db
            .write(move |c| {
                Ok(enqueue_checked(
                    c,
                    &tenant,
                    checked,
                    idempotency_key.as_deref(),
                    &source,
                    &defaults,
                ))
            })
            .await?;
        let (item, created) = result?;
        if created {
            self.wake.notify_one();
        }
        Ok((item, created))
    }

    /// The sender's wake-up signal, for producers outside this handle (the pipeline).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Wakes the sender (after an operator re-queued something, say).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Sets a tenant secret; when it is the Cloud API access token, the sends that
/// waited for it (`no_access_token`) are released.
///
/// # Errors
/// On database failure.
pub fn set_secret(c: &dyn Store, tenant: &str, name: &str, value: &str) -> Result<(), StoreError> {
    scrm_store::SecretRepo::set(c, tenant, name, value)?;
    if name == TOKEN_SECRET {
        scrm_store::OutboxRepo::release(c, tenant, None, &["no_access_token"])?;
    }
    Ok(())
}
