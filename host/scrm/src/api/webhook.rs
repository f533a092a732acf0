//! `GET/POST /webhooks/whatsapp`: Meta's subscription handshake and signed
//! notifications. A body is answered 200 only after it is durably stored.

use super::AppState;
use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use scrm_store::apps::MetaApp;
use scrm_wire::signature::{self, SignatureError};
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The handshake's query parameters.
#[derive(Debug, Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /webhooks/whatsapp`: answers the challenge when the verify token is one of
/// an app's; 403 otherwise.
pub async fn verify(
    State(state): State<AppState>,
    Query(q): Query<Handshake>,
) -> Result<(StatusCode, String), ApiError> {
    let forbidden = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "verification_failed",
            "hub.mode must be subscribe and hub.verify_token must match an app's verify token",
        )
    };
    let (Some(mode), Some(token)) = (q.mode, q.verify_token) else {
        return Err(forbidden());
    };
    if mode != "subscribe" {
        return Err(forbidden());
    }
    let apps = state.db.read(|c| scrm_store::AppRepo::list(c)).await?;
    let matched = apps.iter().fold(false, |found, app| {
        let eq: bool = app
            .verify_token
            .expose_secret()
            .as_bytes()
            .ct_eq(token.as_bytes())
            .into();
        found | eq
    });
    if !matched {
        return Err(forbidden());
    }
    Ok((StatusCode::OK, q.challenge.unwrap_or_default()))
}

/// `POST /webhooks/whatsapp`: verifies the signature against every app's secret.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, &'static str), ApiError> {
    receive_for(state, None, headers, body).await
}

/// `POST /webhooks/whatsapp/{app}`: the same, checking only that app's secret.
pub async fn receive_app(
    State(state): State<AppState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, &'static str), ApiError> {
    receive_for(state, Some(app), headers, body).await
}

async fn receive_for(
    state: AppState,
    only_app: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, &'static str), ApiError> {
    let header = headers
        .get("x-hub-signature-256")
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_string());
    let apps = state.apps.get(&state.db, APPS_MAX_AGE).await?;
    let mut outcome = signed_by(&apps, only_app.as_deref(), &body, header.as_deref());
    if matches!(outcome, Err(SignatureError::Mismatch)) {
        // An app added or re-keyed since the copy was read (on another host): read
        // again, unless the copy is fresh.
        let apps = state.apps.get(&state.db, APPS_RECHECK_AGE).await?;
        outcome = signed_by(&apps, only_app.as_deref(), &body, header.as_deref());
    }
    let app_id = match outcome {
        Ok(id) => id,
        Err(e) => {
            state.metrics.webhook(e.code());
            tracing::warn!(code = e.code(), "webhook rejected");
            let code = e.code();
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string()));
        }
    };
    let id = state.inbox.append(&app_id, body.to_vec()).await?;
    state.metrics.webhook("accepted");
    tracing::debug!(inbox_id = id, "webhook stored");
    state.pipeline.wake();
    Ok((StatusCode::OK, "EVENT_RECEIVED"))
}

/// How old the copy of the apps' secrets that verifies a webhook may be: a secret
/// changed through another host takes effect here within this.
const APPS_MAX_AGE: Duration = Duration::from_secs(1);
/// A body no app's secret verifies is checked again against a copy at most this
/// old (bounding the reads a flood of bad signatures can cause).
const APPS_RECHECK_AGE: Duration = Duration::from_millis(100);

/// The apps and their secrets, read from the database at most once per
/// [`APPS_MAX_AGE`] for verifying webhooks rather than once per webhook. A change
/// through this host's API clears it at once.
#[derive(Debug, Default)]
pub struct AppsCache {
    held: std::sync::Mutex<Option<(Instant, Arc<Vec<MetaApp>>)>>,
}

impl AppsCache {
    /// The apps, read again when the copy is older than `max_age`.
    async fn get(
        &self,
        db: &scrm_store::Db,
        max_age: Duration,
    ) -> Result<Arc<Vec<MetaApp>>, ApiError> {
        if let Some((at, apps)) = &*self.held.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < max_age
        {
            return Ok(apps.clone());
        }
        let read_at = Instant::now();
        let apps = Arc::new(db.read(|c| scrm_store::AppRepo::list(c)).await?);
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some((read_at, apps.clone()));
        Ok(apps)
    }

    /// Forgets the copy (an app was added or changed here).
    pub fn clear(&self) {
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Which app's secret signed `body` (only `only_app`'s, when given).
fn signed_by(
    apps: &[MetaApp],
    only_app: Option<&str>,
    body: &[u8],
    header: Option<&str>,
) -> Result<String, SignatureError> {
    let candidates = apps.iter().filter(|a| only_app.is_none_or(|id| id == a.id));
    let mut outcome = Err(SignatureError::Mismatch);
    for app in candidates {
        match signature::verify(app.app_secret.expose_secret().as_bytes(), body, header) {
            Ok(()) => {
                outcome = Ok(app.id.clone());
                break;
            }
            Err(e @ (SignatureError::Missing | SignatureError::Malformed)) => {
                outcome = Err(e);
                break;
            }
            Err(SignatureError::Mismatch) => {}
        }
    }
    outcome
}
