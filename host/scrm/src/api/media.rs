//! Media over HTTP: `POST /v1/tenants/{id}/media` (multipart `file`, optional
//! `type`) stores a file for sending and answers its `scrm:<sha256>` id;
//! `GET /v1/tenants/{id}/media` lists a tenant's media (inbound downloads with their
//! state, and uploads), `GET /v1/tenants/{id}/media/{sha256}` serves the bytes.

use super::AppState;
use super::error::ApiError;
use crate::media::{Kind, MediaError, kinds};
use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use scrm_store::media::{Filter, MediaRow};
use scrm_store::page::{Page, PageRequest};
use serde::Deserialize;
use serde_json::{Value, json};

/// The largest request `POST /media` takes: Meta's largest file (a 100 MB
/// document) plus room for the multipart framing.
pub const UPLOAD_BODY_LIMIT: usize = kinds::DOCUMENT_MAX as usize + (1 << 20);

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> ApiError {
        match e {
            MediaError::TooLarge { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "media_too_large",
                e.to_string(),
            ),
            MediaError::UnsupportedType { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_media_type",
                e.to_string(),
            ),
            MediaError::Reencode(r) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_image",
                r.to_string(),
            ),
            MediaError::Store(s) => s.into(),
            MediaError::Io { .. } => {
                tracing::error!(error = %e, "media storage failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                )
            }
        }
    }
}

fn multipart_error(e: &MultipartError) -> ApiError {
    ApiError::new(e.status(), "invalid_multipart", e.body_text())
}

/// `POST /v1/tenants/{id}/media`: 201 with `{"id": "scrm:<sha256>", ...}`.
pub async fn upload(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::bad_request(
            "invalid_multipart",
            format!(
                "send multipart/form-data with a `file` part (and optionally `type`): {}",
                e.body_text()
            ),
        )
    })?;
    super::require_tenant(&state, &tenant).await?;
    let mut file = None;
    let mut kind = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(&e))?
    {
        match field.name().unwrap_or_default() {
            "file" => {
                let file_name = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(str::to_owned);
                let mut w = state.media.writer().await?;
                while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e))? {
                    w.write(&chunk).await?;
                    if w.size() > kinds::DOCUMENT_MAX {
                        return Err(ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "media_too_large",
                            format!("files may be at most {} bytes", kinds::DOCUMENT_MAX),
                        ));
                    }
                }
                file = Some((w, file_name, content_type));
            }
            "type" => {
                let text = field.text().await.map_err(|e| multipart_error(&e))?;
                kind = Some(Kind::parse(text.trim()).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_media_type",
                        format!(
                            "`type` must be image, audio, video, document or sticker, got {text:?}"
                        ),
                    )
                })?);
            }
            other => {
                return Err(ApiError::bad_request(
                    "invalid_multipart",
                    format!("unknown part {other:?}: expected `file` and optionally `type`"),
                ));
            }
        }
    }
    let Some((w, file_name, content_type)) = file else {
        return Err(ApiError::bad_request(
            "invalid_multipart",
            "no `file` part in the upload",
        ));
    };
    if w.size() == 0 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_file",
            "the uploaded file is empty",
        ));
    }
    let ingested = state
        .media
        .ingest(&tenant, w, file_name, content_type, kind)
        .await?;
    let row = ingested.row;
    let mut out = json!({
        "id": row.scrm_id,
        "sha256": row.sha256,
        "type": row.kind,
        "mime_type": row.mime_type,
        "size": row.size,
        "file_name": row.file_name,
    });
    if let Some((quality, width, height)) = ingested.reencoded {
        out["reencoded"] = json!({
            "original_size": row.original_size,
            "quality": quality,
            "width": width,
            "height": height,
        });
    }
    Ok((StatusCode::CREATED, Json(out)))
}

/// Filters of the media list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaQuery {
    after: Option<i64>,
    limit: Option<u32>,
    /// One message's media.
    message_id: Option<i64>,
    /// `pending`, `stored` or `failed`.
    state: Option<String>,
    /// `inbound` or `outbound`.
    direction: Option<String>,
}

/// `GET /v1/tenants/{id}/media?message_id=&state=&direction=`.
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    q: Result<Query<MediaQuery>, QueryRejection>,
) -> Result<Json<Page<MediaRow>>, ApiError> {
    let Query(q) = q?;
    if let Some(s) = q
        .state
        .as_deref()
        .filter(|s| !["pending", "stored", "failed"].contains(s))
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("state must be pending, stored or failed, got {s:?}"),
        ));
    }
    if let Some(d) = q
        .direction
        .as_deref()
        .filter(|d| !["inbound", "outbound"].contains(d))
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("direction must be inbound or outbound, got {d:?}"),
        ));
    }
    super::require_tenant(&state, &tenant).await?;
    let page = PageRequest::new(q.after, q.limit);
    let filter = Filter {
        message_id: q.message_id,
        state: q.state,
        direction: q.direction,
    };
    Ok(Json(
        state
            .db
            .read(move |c| scrm_store::MediaRepo::list(c, &tenant, &filter, page))
            .await?,
    ))
}

/// `GET /v1/tenants/{id}/media/{sha256}`: the bytes, with their MIME type.
pub async fn get(
    State(state): State<AppState>,
    Path((tenant, sha)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let sha = sha.to_ascii_lowercase();
    if !kinds::is_hex_sha256(&sha) {
        return Err(ApiError::bad_request(
            "invalid_sha256",
            "the media is named by the 64 hex digits of its SHA-256",
        ));
    }
    super::require_tenant(&state, &tenant).await?;
    let (t, s) = (tenant.clone(), sha.clone());
    let row = state
        .db
        .read(move |c| scrm_store::MediaRepo::visible(c, &t, &s))
        .await?;
    let (Some(row), Some(path)) = (row, state.media.path(&sha)) else {
        return Err(ApiError::not_found(format!(
            "tenant {tenant:?} has no stored media {sha}"
        )));
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| MediaError::Io {
            path: path.clone(),
            source: e,
        })?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let mime = row
        .mime_type
        .unwrap_or_else(|| "application/octet-stream".into());
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = mime.parse() {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Some(len) = len {
        headers.insert(header::CONTENT_LENGTH, len.into());
    }
    if let Ok(v) = format!("\"{sha}\"").parse() {
        headers.insert(header::ETAG, v);
    }
    // Content-addressed: the bytes under this name never change.
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(response)
}
