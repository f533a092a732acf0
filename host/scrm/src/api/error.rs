//! The one mapping from errors to HTTP responses: status, machine-readable code,
//! human message. Internal details are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use scrm_engine::error::InstallError;
use scrm_store::StoreError;
use serde_json::json;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code, stable across versions.
    pub code: &'static str,
    /// Human message.
    pub message: String,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
            StoreError::Conflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_exists", e.to_string())
            }
            // The database is down: nothing was stored, and the caller should retry
            // (Meta does, for webhooks).
            other if other.is_unavailable() => {
                tracing::error!(error = %other, "database unavailable while serving a request");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database is unavailable; nothing was stored, retry later",
                )
            }
            other => {
                tracing::error!(error = %other, "store error while serving a request");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                )
            }
        }
    }
}

impl From<InstallError> for ApiError {
    fn from(e: InstallError) -> ApiError {
        match e {
            InstallError::NotAComponent(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_a_component",
                e.to_string(),
            ),
            InstallError::WrongWorld { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_world",
                e.to_string(),
            ),
            InstallError::WitVersion(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_wit_version",
                e.to_string(),
            ),
            InstallError::WrongSlot { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong_slot",
                e.to_string(),
            ),
            InstallError::Io(io) => {
                tracing::error!(error = %io, "component storage failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                )
            }
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> ApiError {
        ApiError::new(e.status(), "invalid_json", e.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> ApiError {
        ApiError::bad_request("invalid_query", e.body_text())
    }
}
