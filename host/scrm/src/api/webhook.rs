//! `GET/POST /webhooks/whatsapp`: Meta's subscription handshake and signed
//! notifications. A body is answered 200 only after it is durably stored.

use super::AppState;
use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use scrm_wire::signature::{self, SignatureError};
use secrecy::ExposeSecret;
use serde::Deserialize;
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
    let apps = state.db.read(|c| scrm_store::AppRepo::list(c)).await?;
    let candidates = apps
        .iter()
        .filter(|a| only_app.as_deref().is_none_or(|id| id == a.id));
    let mut outcome = Err(SignatureError::Mismatch);
    for app in candidates {
        match signature::verify(
            app.app_secret.expose_secret().as_bytes(),
            &body,
            header.as_deref(),
        ) {
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
