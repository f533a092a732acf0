//! Flows over HTTP: the host's catalog (`/v1/flows`) and each tenant's flows
//! (`/v1/tenants/{id}/flows`). The work is in [`crate::automation::ops`].

use super::AppState;
use super::error::ApiError;
use crate::automation::ops::{self, FlowOpError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

impl From<FlowOpError> for ApiError {
    fn from(e: FlowOpError) -> ApiError {
        let status = match &e {
            FlowOpError::NotAFlow(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not_a_flow"),
            FlowOpError::UnknownFlow(_) => (StatusCode::NOT_FOUND, "unknown_flow"),
            FlowOpError::NotEnabled(..) => (StatusCode::NOT_FOUND, "flow_not_enabled"),
            FlowOpError::UnknownTenant(_) => (StatusCode::NOT_FOUND, "not_found"),
            FlowOpError::Param(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_parameter"),
            FlowOpError::Load(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            FlowOpError::Store(_) => {
                let FlowOpError::Store(s) = e else {
                    unreachable!()
                };
                return ApiError::from(s);
            }
        };
        ApiError::new(status.0, status.1, e.to_string())
    }
}

/// `POST /v1/flows`: adds a flow component (the request body) to the catalog.
pub async fn add(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<ops::CatalogFlow>), ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "send the flow component's bytes as the request body",
        ));
    }
    let flow = ops::add(&state.db, &state.plugins, body.to_vec()).await?;
    Ok((StatusCode::CREATED, Json(flow)))
}

/// `GET /v1/flows`: the flows this host offers, with their parameters.
pub async fn catalog(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"items": ops::catalog(&state.db).await?})))
}

/// Query of the status routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// How many recent and waiting jobs to show (default 20, at most 500).
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /v1/tenants/{id}/flows`: the tenant's flows and what they did.
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(20).min(500);
    let items = ops::status(&state.db, &tenant, None, limit).await?;
    Ok(Json(json!({"items": items})))
}

/// `GET /v1/tenants/{id}/flows/{name}`: one flow's status.
pub async fn get(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ops::FlowStatus>, ApiError> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(20).min(500);
    let mut items = ops::status(&state.db, &tenant, Some(&name), limit).await?;
    Ok(Json(items.remove(0)))
}

/// Body of `PUT /v1/tenants/{id}/flows/{name}`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnableBody {
    /// Parameters to set: name → value (text as on the command line; JSON values
    /// are taken as their JSON text).
    #[serde(default)]
    set: serde_json::Map<String, Value>,
}

/// `PUT /v1/tenants/{id}/flows/{name}`: enables the flow (or changes its
/// parameters) as a new version; events from now on use it.
pub async fn enable(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<ops::FlowStatus>, ApiError> {
    let body: EnableBody = if body.iter().all(u8::is_ascii_whitespace) {
        EnableBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "invalid_json",
                format!("the body must be {{\"set\": {{\"name\": \"value\", …}}}}: {e}"),
            )
        })?
    };
    let sets = body
        .set
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect();
    ops::enable(
        &state.db,
        &state.plugins,
        &state.flow_endpoints,
        &tenant,
        &name,
        sets,
    )
    .await?;
    let mut items = ops::status(&state.db, &tenant, Some(&name), 20).await?;
    Ok(Json(items.remove(0)))
}

/// `POST /v1/tenants/{id}/flows/{name}/disable`: stops the flow at once.
pub async fn disable(
    State(state): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Json<ops::FlowStatus>, ApiError> {
    ops::disable(&state.db, &state.plugins, &tenant, &name).await?;
    let mut items = ops::status(&state.db, &tenant, Some(&name), 20).await?;
    Ok(Json(items.remove(0)))
}

/// `POST /v1/tenants/{id}/conversations/{cid}/resolve`: marks the conversation
/// resolved; the tenant's flows that want it get a `resolved` event.
pub async fn resolve(
    State(state): State<AppState>,
    axum::Extension(who): axum::Extension<super::access::Principal>,
    Path((tenant, conversation)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    super::conversations::visible(&state, &tenant, conversation, &who).await?;
    let at = scrm_store::now_ms();
    let t = tenant.clone();
    let contact = state
        .db
        .write(move |c| crate::automation::resolve_conversation(c, &t, conversation, at))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "tenant {tenant:?} has no conversation {conversation}"
            ))
        })?;
    Ok(Json(
        json!({"id": conversation, "contact_id": contact, "resolved_at": at}),
    ))
}
