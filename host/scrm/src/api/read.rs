//! The read API: a tenant's contacts, conversations, messages and account events, and
//! an app's unrouted account events, paginated with `?after=<id>&limit=<n>` (the
//! response's `next_after` is the next page's cursor).

use super::AppState;
use super::error::ApiError;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use scrm_store::calls::Call;
use scrm_store::contacts::Contact;
use scrm_store::events::{AccountEvent, Owner};
use scrm_store::messages::{Conversation, Message, MessageFilter};
use scrm_store::page::{Page, PageRequest};
use scrm_store::{CallRepo, ContactRepo, EventRepo, MessageRepo, Store, StoreError};
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

/// Checks that `tenant` exists, then reads one page of its items with `read`.
pub(super) async fn tenant_page<T, F>(
    state: &AppState,
    tenant: String,
    after: Option<i64>,
    limit: Option<u32>,
    read: F,
) -> Result<Json<Page<T>>, ApiError>
where
    F: FnOnce(&dyn Store, &str, PageRequest) -> Result<Page<T>, StoreError> + Send + 'static,
    T: Send + 'static,
{
    super::require_tenant(state, &tenant).await?;
    let page = PageRequest::new(after, limit);
    Ok(Json(state.db.read(move |c| read(c, &tenant, page)).await?))
}

/// `GET /v1/tenants/{id}/contacts`.
pub async fn contacts(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Contact>>, ApiError> {
    let Query(q) = q?;
    tenant_page(&state, tenant, q.after, q.limit, |c, t, page| {
        ContactRepo::list(c, t, page)
    })
    .await
}

/// `GET /v1/tenants/{id}/conversations`.
pub async fn conversations(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Conversation>>, ApiError> {
    let Query(q) = q?;
    tenant_page(&state, tenant, q.after, q.limit, |c, t, page| {
        MessageRepo::conversations(c, t, page)
    })
    .await
}

/// `GET /v1/tenants/{id}/calls`: the tenant's WhatsApp calls, each with its
/// conversation, state, times, errors and events.
pub async fn calls(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Call>>, ApiError> {
    let Query(q) = q?;
    tenant_page(&state, tenant, q.after, q.limit, |c, t, page| {
        CallRepo::calls(c, t, page)
    })
    .await
}

/// `GET /v1/tenants/{id}/messages`.
pub async fn messages(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Message>>, ApiError> {
    let Query(q) = q?;
    let (after, limit) = (q.after, q.limit);
    tenant_page(&state, tenant, after, limit, move |c, t, page| {
        let filter = MessageFilter {
            conversation_id: q.conversation_id,
            tag: q.tag.as_deref(),
        };
        MessageRepo::list(c, t, filter, page)
    })
    .await
}

/// Pagination and the field filter of the events lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Items with ids greater than this.
    after: Option<i64>,
    /// Page size, 1–500 (default 50).
    limit: Option<u32>,
    /// Events of this webhook field only, e.g. `message_template_status_update`.
    field: Option<String>,
}

/// `GET /v1/tenants/{id}/events`: the tenant's template, number, account and
/// user-preference events.
pub async fn tenant_events(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<Page<AccountEvent>>, ApiError> {
    let Query(q) = q?;
    let (after, limit) = (q.after, q.limit);
    tenant_page(&state, tenant, after, limit, move |c, t, page| {
        EventRepo::list(c, Owner::Tenant(t), q.field.as_deref(), page)
    })
    .await
}

/// `GET /v1/apps/{id}/events`: the app's events that no tenant could be resolved for.
pub async fn app_events(
    State(state): State<AppState>,
    Path(app): Path<String>,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<Page<AccountEvent>>, ApiError> {
    let Query(q) = q?;
    let id = app.clone();
    if state
        .db
        .read(move |c| scrm_store::AppRepo::get(c, &id))
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no app {app:?}")));
    }
    let page = PageRequest::new(q.after, q.limit);
    Ok(Json(
        state
            .db
            .read(move |c| {
                scrm_store::EventRepo::list(c, Owner::App(&app), q.field.as_deref(), page)
            })
            .await?,
    ))
}
