//! The read API: a tenant's contacts, conversations and messages, paginated with
//! `?after=<id>&limit=<n>` (the response's `next_after` is the next page's cursor).

use super::AppState;
use super::error::ApiError;
use crate::store::contacts::{self, Contact};
use crate::store::messages::{self, Conversation, Message, MessageFilter};
use crate::store::page::{Page, PageRequest};
use crate::store::tenants;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

/// Pagination and filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items with ids greater than this.
    after: Option<i64>,
    /// Page size, 1–500 (default 50).
    limit: Option<u32>,
    /// Messages of one conversation only.
    conversation_id: Option<i64>,
    /// Messages with this tag only.
    tag: Option<String>,
}

async fn ensure_tenant(state: &AppState, tenant: &str) -> Result<(), ApiError> {
    let t = tenant.to_string();
    match state.db.read(move |c| tenants::get(c, &t)).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("no tenant {tenant:?}"))),
    }
}

/// `GET /v1/tenants/{id}/contacts`.
pub async fn contacts(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Contact>>, ApiError> {
    let Query(q) = q?;
    ensure_tenant(&state, &tenant).await?;
    let page = PageRequest::new(q.after, q.limit);
    Ok(Json(
        state
            .db
            .read(move |c| contacts::list(c, &tenant, page))
            .await?,
    ))
}

/// `GET /v1/tenants/{id}/conversations`.
pub async fn conversations(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Conversation>>, ApiError> {
    let Query(q) = q?;
    ensure_tenant(&state, &tenant).await?;
    let page = PageRequest::new(q.after, q.limit);
    Ok(Json(
        state
            .db
            .read(move |c| messages::conversations(c, &tenant, page))
            .await?,
    ))
}

/// `GET /v1/tenants/{id}/messages`.
pub async fn messages(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Message>>, ApiError> {
    let Query(q) = q?;
    ensure_tenant(&state, &tenant).await?;
    let page = PageRequest::new(q.after, q.limit);
    Ok(Json(
        state
            .db
            .read(move |c| {
                let filter = MessageFilter {
                    conversation_id: q.conversation_id,
                    tag: q.tag.as_deref(),
                };
                messages::list(c, &tenant, filter, page)
            })
            .await?,
    ))
}
