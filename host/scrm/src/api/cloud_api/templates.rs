//! `GET /{version}/{waba_id}/message_templates`: the tenant's templates as Meta
//! lists them, asked of Meta with the tenant's own access token (the query —
//! `fields`, `limit`, `after`, `name`, `status`, … — passes through), so a client
//! that reads its templates keeps working with only its scrm token.

use super::{
    AppState, GraphError, access, answer_error, bad_token, check_version, fbtrace_id, forbidden,
    unavailable, unknown_object,
};
use crate::templates::SyncError;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scrm_wire::graph::SendError;

/// `GET /{version}/{waba_id}/message_templates`.
pub async fn message_templates(
    State(state): State<AppState>,
    Path((version, waba)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let trace = fbtrace_id();
    let listed = async {
        check_version(&version, &format!("/{waba}/message_templates"))?;
        let who = access::bearer(&state, &headers).await.map_err(bad_token)?;
        let w = waba.clone();
        let tenant = state
            .db
            .read(move |c| scrm_store::TenantRepo::of_waba(c, &w))
            .await
            .map_err(|e| unavailable(&e.to_string()))?
            .ok_or_else(|| unknown_object(&waba, "get"))?;
        match access::admit_as(&who, &Method::GET, "/tenants/{id}/templates", &tenant) {
            Ok(()) => {}
            Err(e) if e.code == "other_tenant" => return Err(unknown_object(&waba, "get")),
            Err(e) => return Err(forbidden(e.message)),
        }
        state
            .templates
            .list_from_meta(&tenant, &waba, &query)
            .await
            .map_err(from_sync)
    }
    .await;
    match listed {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => answer_error(&e, &trace),
    }
}

/// Meta's refusal as Meta gave it; scrm's own problems as Meta's "temporarily
/// unavailable" with the reason.
fn from_sync(e: SyncError) -> GraphError {
    match e {
        SyncError::Graph {
            error:
                SendError::Meta {
                    status,
                    code,
                    subcode,
                    message,
                    ..
                },
            ..
        } => {
            let mut g = GraphError::new(status, code, message);
            g.subcode = subcode;
            g
        }
        other => {
            GraphError::new(503, 2, "Service temporarily unavailable").details(other.to_string())
        }
    }
}
