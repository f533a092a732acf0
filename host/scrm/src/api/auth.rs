//! The operator's bearer token for `/v1/`.
//!
//! Either configured (`admin_token` / `SCRM_ADMIN_TOKEN`), or generated at first
//! start, printed once, and kept only as its SHA-256 in the store.

use super::AppState;
use super::error::ApiError;
use crate::config::SecretString;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How the operator token is checked.
#[derive(Debug, Clone)]
pub enum AdminAuth {
    /// Compare with this configured token.
    Configured(SecretString),
    /// Compare the SHA-256 of the presented token with this stored hash.
    Hashed([u8; 32]),
}

impl AdminAuth {
    /// True when `presented` is the operator token (constant time).
    pub fn accepts(&self, presented: &str) -> bool {
        match self {
            AdminAuth::Configured(t) => {
                let (a, b) = (Sha256::digest(presented), Sha256::digest(t.expose_secret()));
                a.ct_eq(&b).into()
            }
            AdminAuth::Hashed(h) => Sha256::digest(presented).as_slice().ct_eq(h).into(),
        }
    }
}

/// Middleware: rejects requests without the operator's bearer token.
pub async fn require_operator(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match token {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "missing `Authorization: Bearer <token>` header",
        )),
        Some(t) if state.auth.accepts(t) => Ok(next.run(req).await),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the bearer token is not the operator token",
        )),
    }
}
