//! Tracked links over HTTP: `GET /l/{token}`, which customers reach by tapping a
//! link in a message (no authentication), and the tenant's read API of clicks.
//!
//! A known token answers `302 Found` with `Location:` the original URL and records
//! the click ([`crate::outbox::links::record_click`]): time, `User-Agent`, the
//! message and the recipient's contact. `HEAD` requests and link-preview fetchers
//! ([`crate::outbox::links::is_preview_fetcher`]) get the same redirect without a
//! click being recorded. An unknown or malformed token answers `404` with a small
//! HTML page that never repeats the token: the route is never an open redirect.

use super::AppState;
use super::error::ApiError;
use crate::outbox::links;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use scrm_store::links::{ClickFilter, LinkClick, MessageClicks};
use scrm_store::page::Page;
use scrm_store::{LinkRepo, now_ms};
use serde::Deserialize;

const NOT_FOUND_PAGE: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">
<title>Link not found</title></head>
<body><h1>Link not found</h1><p>This link does not exist or is no longer valid.</p></body></html>
";

const UNAVAILABLE_PAGE: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">
<title>Try again</title></head>
<body><h1>Try again in a moment</h1><p>This link cannot be opened right now.</p></body></html>
";

fn page(status: StatusCode, html: &'static str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// A `302 Found` to `url`, when it is an http(s) URL that fits a header.
fn redirect(url: &str) -> Option<Response> {
    // The stored URL is what the message said; the header carries its ASCII form
    // (punycode host, percent-encoded path).
    let url = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))?;
    let location = header::HeaderValue::from_str(url.as_str()).ok()?;
    Some(
        (
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, "no-store".parse().ok()?),
                (header::REFERRER_POLICY, "no-referrer".parse().ok()?),
            ],
        )
            .into_response(),
    )
}

/// `GET /l/{token}` (and `HEAD`): redirects to the link's original URL and records
/// the click; 404 page for an unknown token.
pub async fn follow(
    State(state): State<AppState>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    if !links::is_token(&token) {
        return page(StatusCode::NOT_FOUND, NOT_FOUND_PAGE);
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let record =
        method != Method::HEAD && !user_agent.as_deref().is_some_and(links::is_preview_fetcher);
    let found = if record {
        let at = now_ms();
        state
            .db
            .write(move |c| crate::automation::record_click(c, &token, user_agent.as_deref(), at))
            .await
            .map(|click| click.map(|c| (c.tenant_id, c.url)))
    } else {
        state
            .db
            .read(move |c| LinkRepo::get(c, &token))
            .await
            .map(|link| link.map(|l| (l.tenant_id, l.url)))
    };
    match found {
        Ok(Some((tenant, url))) => {
            if record {
                state.metrics.link_click(&tenant);
            }
            redirect(&url).unwrap_or_else(|| {
                tracing::warn!(%tenant, "a tracked link's stored URL cannot be redirected to");
                page(StatusCode::NOT_FOUND, NOT_FOUND_PAGE)
            })
        }
        Ok(None) => page(StatusCode::NOT_FOUND, NOT_FOUND_PAGE),
        Err(e) => {
            tracing::error!(error = %e, "cannot follow a tracked link");
            page(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE_PAGE)
        }
    }
}

/// Pagination and filters of the clicks list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClicksQuery {
    /// Items with ids greater than this.
    after: Option<i64>,
    /// Page size, 1–500 (default 50).
    limit: Option<u32>,
    /// Clicks of this contact (its id in `/contacts`) only.
    contact: Option<i64>,
    /// Clicks (for `/links/messages`: messages queued) at or after this time only,
    /// Unix ms.
    since: Option<i64>,
}

fn since(q: &ClicksQuery) -> Result<i64, ApiError> {
    match q.since {
        Some(s) if s < 0 => Err(ApiError::bad_request(
            "invalid_query",
            "`since` is a time in Unix milliseconds (0 or more)",
        )),
        s => Ok(s.unwrap_or(0)),
    }
}

/// `GET /v1/tenants/{id}/links/clicks?contact=&since=`: the tenant's clicks on
/// tracked links, oldest first.
pub async fn clicks(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ClicksQuery>, QueryRejection>,
) -> Result<Json<Page<LinkClick>>, ApiError> {
    let Query(q) = q?;
    let filter = ClickFilter {
        contact_id: q.contact,
        since: since(&q)?,
    };
    super::read::tenant_page(&state, tenant, q.after, q.limit, move |c, t, page| {
        LinkRepo::clicks(c, t, filter, page)
    })
    .await
}

/// `GET /v1/tenants/{id}/links/messages?since=`: the tenant's messages with tracked
/// links, each with its link and click counts (clicked or not).
pub async fn messages(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<ClicksQuery>, QueryRejection>,
) -> Result<Json<Page<MessageClicks>>, ApiError> {
    let Query(q) = q?;
    if q.contact.is_some() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`contact` filters /links/clicks; /links/messages takes `since`, `after` and `limit`",
        ));
    }
    let since = since(&q)?;
    super::read::tenant_page(&state, tenant, q.after, q.limit, move |c, t, page| {
        LinkRepo::message_clicks(c, t, since, page)
    })
    .await
}
