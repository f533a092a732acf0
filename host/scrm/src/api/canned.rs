//! Canned responses over HTTP: search (by shortcut, title or text), add or replace
//! (checked in the template language when saved), delete, and the personalisation
//! preview of any text for one conversation's customer.

use super::AppState;
use super::access::Principal;
use super::error::ApiError;
use crate::automation::template;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use scrm_store::CannedRepo;
use serde::Deserialize;
use serde_json::{Value, json};

/// The longest canned response, bytes (WhatsApp's text limit).
const MAX_BODY: usize = 4096;

impl From<template::TemplateError> for ApiError {
    fn from(e: template::TemplateError) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_template",
            e.to_string(),
        )
    }
}

/// The search.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// A shortcut prefix (`/ship`), or words of the title or text.
    #[serde(default)]
    q: String,
    /// At most this many (default 20, at most 100).
    limit: Option<u32>,
}

/// `GET /v1/tenants/{id}/canned?q=ship`: shortcut matches first.
pub async fn search(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<Search>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let items = state
        .db
        .read(move |c| CannedRepo::search(c, &tenant, &q.q, limit))
        .await?;
    Ok(Json(json!({ "items": items })))
}

/// A canned response to save.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutCanned {
    /// A title for the picker (default: the shortcut).
    title: Option<String>,
    /// The text, in the template language.
    body: String,
}

fn check_shortcut(s: &str) -> Result<(), ApiError> {
    let ok = !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_shortcut",
            format!("shortcut {s:?} must be 1 to 40 of a-z, 0-9, - and _"),
        ))
    }
}

/// `PUT /v1/tenants/{id}/canned/{shortcut}` `{"title"?, "body"}`: the saved response;
/// a body that would fail for some customer is refused with the line and expression
/// (`422 invalid_template`).
pub async fn put(
    State(state): State<AppState>,
    Path((tenant, shortcut)): Path<(String, String)>,
    body: Result<Json<PutCanned>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(p) = body?;
    check_shortcut(&shortcut)?;
    if p.body.trim().is_empty() || p.body.len() > MAX_BODY {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("a canned response has 1 to {MAX_BODY} bytes of text"),
        ));
    }
    template::check(&p.body, &json!({}))?;
    super::require_tenant(&state, &tenant).await?;
    let title = p.title.unwrap_or_else(|| shortcut.clone());
    let saved = state
        .db
        .write(move |c| CannedRepo::put(c, &tenant, &shortcut, title.trim(), &p.body))
        .await?;
    Ok(Json(json!(saved)))
}

/// `DELETE /v1/tenants/{id}/canned/{shortcut}`: `204`.
pub async fn delete(
    State(state): State<AppState>,
    Path((tenant, shortcut)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let s = shortcut.clone();
    if state
        .db
        .write(move |c| CannedRepo::delete(c, &tenant, &s))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no canned response {shortcut:?}"
        )))
    }
}

/// Text to preview: typed, or a canned response by shortcut.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preview {
    /// Text in the template language.
    text: Option<String>,
    /// A canned response's shortcut.
    canned: Option<String>,
}

/// `text` (or the canned response `canned`) rendered for the customer of
/// conversation `id`: what a reply would send.
///
/// # Errors
/// `404` for an unknown canned response or conversation; `422 invalid_template`.
pub async fn render_for(
    state: &AppState,
    tenant: &str,
    id: i64,
    text: Option<String>,
    canned: Option<String>,
) -> Result<String, ApiError> {
    let (t, c) = (tenant.to_string(), canned.clone());
    let (source, ctx) = state
        .db
        .read(move |s| {
            let body = match c {
                Some(short) => {
                    CannedRepo::get(s, &t, short.trim_start_matches('/'))?.map(|x| x.body)
                }
                None => None,
            };
            let item = s.work_item(&t, id, None)?;
            let ctx = match item {
                Some(i) => template::contact_context(s, &t, i.contact_id)?,
                None => None,
            };
            Ok((body, ctx))
        })
        .await?;
    let source = match (text, canned) {
        (Some(text), None) => text,
        (None, Some(short)) => {
            source.ok_or_else(|| ApiError::not_found(format!("no canned response {short:?}")))?
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_message",
                "give either `text` or `canned`",
            ));
        }
    };
    let ctx = ctx.ok_or_else(|| ApiError::not_found(format!("no conversation {id}")))?;
    Ok(template::render(&source, &ctx)?)
}

/// `POST /v1/tenants/{id}/inbox/conversations/{cid}/preview` `{"text"}` or
/// `{"canned"}`: `{"text"}` as the customer would receive it.
pub async fn preview(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((tenant, id)): Path<(String, i64)>,
    body: Result<Json<Preview>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body?;
    super::conversations::visible(&state, &tenant, id, &p).await?;
    let text = render_for(&state, &tenant, id, b.text, b.canned).await?;
    Ok(Json(json!({ "text": text })))
}
