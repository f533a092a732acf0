//! Cloud API health per app: `GET /v1/apps/{id}/health` (active base URL, the
//! primary's and backup's newest probes, switches) and `POST /v1/apps/{id}/health/probe`
//! (probe now instead of waiting for the schedule).

use super::AppState;
use super::error::ApiError;
use crate::cloud::health::{HealthError, HealthView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tracing::Instrument;

impl From<HealthError> for ApiError {
    fn from(e: HealthError) -> ApiError {
        match e {
            HealthError::UnknownApp(_) => ApiError::not_found(e.to_string()),
            HealthError::NoCredentials(_) => {
                ApiError::new(StatusCode::CONFLICT, "no_probe_credentials", e.to_string())
            }
            HealthError::Store(s) => s.into(),
        }
    }
}

/// `GET /v1/apps/{id}/health`.
pub async fn get(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<HealthView>, ApiError> {
    Ok(Json(state.health.view(&app).await?))
}

/// `POST /v1/apps/{id}/health/probe`: probes the app's primary (and its backup, if
/// then active) now, applies the outcome, and answers the health as after it.
pub async fn probe(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<HealthView>, ApiError> {
    let span = tracing::info_span!("scrm.health.probe", app = %app);
    Ok(Json(state.health.probe_now(&app).instrument(span).await?))
}
