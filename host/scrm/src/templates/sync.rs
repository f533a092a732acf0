//! Syncing a tenant's templates from its WhatsApp Business Account: every page of
//! Meta's list, fetched with the tenant's access token from the tenant's Cloud API
//! endpoint, then stored in one transaction. A failure anywhere before the store
//! (a refused token, a rate limit, an HTML error page, a page that is not a list)
//! leaves the stored list exactly as it was.

use super::new_template;
use crate::cloud::client::CloudClient;
use crate::cloud::health::Health;
use crate::config::SendSettings;
use scrm_store::secrets::TOKEN_SECRET;
use scrm_store::templates::{Replaced, TemplateKey};
use scrm_store::{Db, StoreError, TemplateRepo, now_ms};
use scrm_wire::graph::SendError;
use scrm_wire::template::Skipped;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Why a sync did not happen. The stored templates are unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No such tenant.
    #[error("no tenant {0:?}")]
    UnknownTenant(String),
    /// No WABA id was given, none is recorded, and the tenant's webhooks do not name
    /// exactly one.
    #[error(
        "tenant {tenant:?} has no WhatsApp Business Account id recorded{}: give it once (scrm template sync --waba-id ID, or \"waba_id\" in the request); it is kept after a successful sync",
        seen_list(seen)
    )]
    NoWaba {
        /// The tenant.
        tenant: String,
        /// The WABAs its webhooks came from.
        seen: Vec<String>,
    },
    /// The WABA id is not a Graph id.
    #[error("WhatsApp Business Account id {0:?} is not a Graph id (digits only)")]
    InvalidWaba(String),
    /// The tenant has no Cloud API access token.
    #[error(
        "tenant {0:?} has no Cloud API access token: set the tenant secret whatsapp_access_token (scrm secret set)"
    )]
    NoAccessToken(String),
    /// Meta refused, or no usable answer came.
    #[error(
        "the template list of WhatsApp Business Account {waba_id} could not be fetched: {error}; the stored templates are unchanged"
    )]
    Graph {
        /// The account.
        waba_id: String,
        /// What Meta (or the network) answered.
        error: SendError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn seen_list(seen: &[String]) -> String {
    if seen.len() > 1 {
        format!(" and its webhooks come from several ({})", seen.join(", "))
    } else {
        String::new()
    }
}

impl SyncError {
    /// A machine-readable code: `not_found`, `no_waba_id`, `invalid_waba_id`,
    /// `no_access_token`, `graph_token_invalid` (Meta's 190), `graph_rate_limited`,
    /// `graph_timeout`, `graph_unavailable` (5xx, an answer that is not Meta's,
    /// no connection), `graph_invalid_response`, `graph_refused` (another Meta
    /// error), or `store`.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::UnknownTenant(_) => "not_found",
            SyncError::NoWaba { .. } => "no_waba_id",
            SyncError::InvalidWaba(_) => "invalid_waba_id",
            SyncError::NoAccessToken(_) => "no_access_token",
            SyncError::Graph { error, .. } => graph_code(error),
            SyncError::Store(_) => "store",
        }
    }

    /// The server's `Retry-After`, when Meta gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SyncError::Graph { error, .. } => error.retry_after(),
            _ => None,
        }
    }
}

fn graph_code(e: &SendError) -> &'static str {
    match e {
        SendError::Meta { code: 190, .. } => "graph_token_invalid",
        e if scrm_wire::graph::rate_limit_code(e.code()) => "graph_rate_limited",
        SendError::Meta { status: 429, .. } | SendError::Http { status: 429, .. } => {
            "graph_rate_limited"
        }
        SendError::Timeout(_) => "graph_timeout",
        SendError::Http { .. } | SendError::Transport(_) => "graph_unavailable",
        SendError::Meta { status, .. } if *status >= 500 => "graph_unavailable",
        SendError::InvalidResponse(_) => "graph_invalid_response",
        SendError::Meta { .. } => "graph_refused",
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    /// The account synced from.
    pub waba_id: String,
    /// Pages read.
    pub pages: u32,
    /// Templates Meta listed that could be read.
    pub fetched: usize,
    /// New ones.
    pub added: u64,
    /// Changed ones.
    pub updated: u64,
    /// Ones already as Meta has them.
    pub unchanged: u64,
    /// Synced ones Meta no longer has, now deleted.
    pub removed: Vec<TemplateKey>,
    /// Ones Meta listed that could not be read, with why (not stored).
    pub skipped: Vec<Skipped>,
    /// When the sync finished, Unix ms.
    pub synced_at: i64,
}

/// Syncs tenants' templates from Meta; cheap to clone.
#[derive(Debug, Clone)]
pub struct TemplateSync {
    pub(super) db: Db,
    pub(super) client: CloudClient,
    settings: Arc<SendSettings>,
    health: Option<Arc<Health>>,
}

/// What a sync needs from the store before it calls Meta.
pub(super) struct Source {
    pub(super) waba_id: String,
    pub(super) token: String,
    pub(super) endpoint: crate::cloud::client::Endpoint,
}

impl TemplateSync {
    /// Syncs over `db`, calling the Cloud API as `settings` say.
    pub fn new(db: Db, settings: SendSettings) -> TemplateSync {
        TemplateSync {
            client: CloudClient::new(Duration::from_millis(settings.request_timeout_ms)),
            db,
            settings: Arc::new(settings),
            health: None,
        }
    }

    /// Calls the base URL `health` says is active for the tenant's app.
    pub fn with_health(mut self, health: Arc<Health>) -> TemplateSync {
        self.health = Some(health);
        self
    }

    /// Replaces `tenant`'s synced templates with its WABA's current list. The WABA
    /// is `waba_id` when given (recorded once the sync succeeds), else the one
    /// recorded, else the only one the tenant's webhooks came from.
    ///
    /// # Errors
    /// [`SyncError`]; the stored templates are unchanged then.
    pub async fn sync(&self, tenant: &str, waba_id: Option<&str>) -> Result<SyncReport, SyncError> {
        let span = tracing::info_span!("scrm.templates.sync", tenant = %tenant);
        async {
            let source = self.source(tenant, waba_id).await?;
            let started = now_ms();
            let fetched = self
                .client
                .message_templates(&source.endpoint, &source.waba_id, &source.token)
                .await
                .map_err(|error| SyncError::Graph {
                    waba_id: source.waba_id.clone(),
                    error,
                })?;
            let rows = fetched
                .templates
                .iter()
                .map(new_template)
                .collect::<Result<Vec<_>, _>>()
                .map_err(StoreError::Json)?;
            let (t, w) = (tenant.to_owned(), source.waba_id.clone());
            let replaced: Replaced = self
                .db
                .write(move |s| TemplateRepo::replace_synced(s, &t, &w, &rows, started))
                .await?;
            tracing::info!(waba = %source.waba_id, pages = fetched.pages, templates = fetched.templates.len(),
                skipped = fetched.skipped.len(), removed = replaced.removed.len(), "templates synced");
            Ok(SyncReport {
                waba_id: source.waba_id,
                pages: fetched.pages,
                fetched: fetched.templates.len(),
                added: replaced.added,
                updated: replaced.updated,
                unchanged: replaced.unchanged,
                removed: replaced.removed,
                skipped: fetched.skipped,
                synced_at: now_ms(),
            })
        }
        .instrument(span)
        .await
    }

    /// Meta's own answer to `GET /{version}/{waba_id}/message_templates?{query}`,
    /// asked with `tenant`'s access token at its endpoint: the drop-in endpoint's
    /// pass-through, so a client sees exactly what Meta lists.
    ///
    /// # Errors
    /// [`SyncError`]: Meta's refusal, no answer, no access token.
    pub async fn list_from_meta(
        &self,
        tenant: &str,
        waba_id: &str,
        query: &[(String, String)],
    ) -> Result<Vec<u8>, SyncError> {
        let source = self.source(tenant, Some(waba_id)).await?;
        let url = source.endpoint.url(&format!("{waba_id}/message_templates"));
        let query: Vec<(&str, &str)> = query
            .iter()
            .filter(|(k, _)| k != "access_token")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.client
            .get(&url, &query, &source.token)
            .await
            .map_err(|error| SyncError::Graph {
                waba_id: waba_id.to_owned(),
                error,
            })
    }

    /// The WABA, token and endpoint of `tenant`.
    pub(super) async fn source(
        &self,
        tenant: &str,
        waba_id: Option<&str>,
    ) -> Result<Source, SyncError> {
        if let Some(w) = waba_id
            && (w.is_empty() || w.len() > 32 || !w.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(SyncError::InvalidWaba(w.to_owned()));
        }
        let (t, settings, health) = (
            tenant.to_owned(),
            self.settings.clone(),
            self.health.clone(),
        );
        let (account, token, endpoint) = self
            .db
            .read(move |s| {
                Ok((
                    TemplateRepo::account(s, &t)?,
                    scrm_store::SecretRepo::get(s, &t, TOKEN_SECRET)?,
                    crate::cloud::endpoint_for(s, &t, &settings, health.as_deref())?,
                ))
            })
            .await?;
        let account = account.ok_or_else(|| SyncError::UnknownTenant(tenant.to_owned()))?;
        let waba_id = match (waba_id, account.waba_id) {
            (Some(w), _) => w.to_owned(),
            (None, Some(w)) => w,
            (None, None) => match account.seen_waba_ids.as_slice() {
                [only] => only.clone(),
                seen => {
                    return Err(SyncError::NoWaba {
                        tenant: tenant.to_owned(),
                        seen: seen.to_vec(),
                    });
                }
            },
        };
        let token = token.ok_or_else(|| SyncError::NoAccessToken(tenant.to_owned()))?;
        Ok(Source {
            waba_id,
            token,
            endpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(status: u16, code: i64) -> SendError {
        SendError::Meta {
            status,
            code,
            subcode: None,
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn graph_failures_get_specific_codes() {
        assert_eq!(graph_code(&meta(401, 190)), "graph_token_invalid");
        assert_eq!(graph_code(&meta(400, 80007)), "graph_rate_limited");
        assert_eq!(graph_code(&meta(400, 4)), "graph_rate_limited");
        assert_eq!(graph_code(&meta(500, 1)), "graph_unavailable");
        assert_eq!(graph_code(&meta(400, 100)), "graph_refused");
        let html =
            scrm_wire::graph::error_from(502, None, b"<html><body>Bad Gateway</body></html>");
        assert_eq!(graph_code(&html), "graph_unavailable");
        assert_eq!(
            graph_code(&SendError::Timeout(Duration::from_secs(1))),
            "graph_timeout"
        );
        assert_eq!(
            graph_code(&SendError::InvalidResponse("x".into())),
            "graph_invalid_response"
        );
    }

    #[test]
    fn the_missing_waba_message_says_what_to_do() {
        let e = SyncError::NoWaba {
            tenant: "acme".into(),
            seen: vec!["1".into(), "2".into()],
        };
        let m = e.to_string();
        assert!(
            m.contains("--waba-id") && m.contains("several (1, 2)"),
            "{m}"
        );
    }
}
