//! Outbound media: files uploaded to scrm ([`MediaStore::ingest`]) and their upload
//! to Meta right before a send ([`MediaStore::prepare_outbound`]).
//!
//! Oversized images are re-encoded when they are uploaded to scrm, not when they
//! are sent: the caller learns at once whether the file can be sent (and what it
//! became), the `scrm:<sha256>` id names exactly the bytes Meta will get, and
//! the sender never spends seconds of CPU in front of a paced number's queue.

use super::reencode::to_jpeg_under;
use super::{ID_PREFIX, Kind, MediaError, MediaStore, Writer, kinds, scrm_refs};
use crate::cloud::client::Endpoint;
use scrm_store::media::{MediaRow, NewOutbound};
use scrm_store::now_ms;
use scrm_wire::graph::{SendError, error_from};
use serde_json::Value;
use std::borrow::Cow;
use tracing::Instrument;

/// How long Meta's id for an upload is reused: Meta keeps uploads 30 days.
pub const UPLOAD_TTL_MS: i64 = 29 * 24 * 3600 * 1000;

/// A file stored for sending.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// Its row (with `scrm_id`).
    pub row: MediaRow,
    /// Set when the upload was re-encoded: the JPEG's quality, width and height.
    pub reencoded: Option<(u8, u32, u32)>,
}

impl MediaStore {
    /// Stores a file uploaded by `tenant` for sending as `kind` (inferred from the
    /// MIME type when `None`). An image over 5 MB, or not JPEG or PNG, is re-encoded
    /// to a JPEG under 5 MB; any other file must already be of a type and size
    /// Meta accepts for its kind.
    ///
    /// # Errors
    /// [`MediaError::TooLarge`], [`MediaError::UnsupportedType`],
    /// [`MediaError::Reencode`] for files Meta would refuse; I/O and database errors.
    pub async fn ingest(
        &self,
        tenant: &str,
        w: Writer,
        file_name: Option<String>,
        content_type: Option<String>,
        kind: Option<Kind>,
    ) -> Result<Ingested, MediaError> {
        let head = read_head(w.temp_path()).await;
        let mime = mime_of(content_type.as_deref(), file_name.as_deref(), &head);
        let kind = kind.unwrap_or_else(|| Kind::infer(&mime));
        let original = w.size();
        let (sha, size, mime, file_name, original_size, reencoded, animated) =
            if kind == Kind::Image && (original > kinds::IMAGE_MAX || !kind.accepts(&mime)) {
                let path = w.temp_path().to_path_buf();
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(|source| MediaError::Io { path, source })?;
                let started = std::time::Instant::now();
                let out =
                    tokio::task::spawn_blocking(move || to_jpeg_under(&bytes, kinds::IMAGE_MAX))
                        .await
                        .map_err(|e| MediaError::Io {
                            path: w.temp_path().to_path_buf(),
                            source: std::io::Error::other(e.to_string()),
                        })??;
                tracing::info!(
                    tenant,
                    from = original,
                    to = out.bytes.len(),
                    quality = out.quality,
                    width = out.width,
                    height = out.height,
                    tries = out.tries,
                    ms = started.elapsed().as_millis() as u64,
                    "image re-encoded for Meta's 5 MB limit"
                );
                drop(w);
                let sha = self.put_bytes(&out.bytes).await?;
                let name = file_name.map(|n| match n.rsplit_once('.') {
                    Some((stem, _)) => format!("{stem}.jpg"),
                    None => format!("{n}.jpg"),
                });
                (
                    sha,
                    out.bytes.len() as u64,
                    "image/jpeg".to_owned(),
                    name,
                    Some(original),
                    Some((out.quality, out.width, out.height)),
                    false,
                )
            } else {
                if !kind.accepts(&mime) {
                    return Err(MediaError::UnsupportedType {
                        kind: kind.as_str(),
                        mime,
                        accepted: kind.accepted(),
                    });
                }
                let animated = kinds::is_animated_webp(&head);
                let limit = kind.max_size(animated);
                if original > limit {
                    return Err(MediaError::TooLarge {
                        kind: kind.as_str(),
                        size: original,
                        limit,
                    });
                }
                let (sha, size) = w.commit().await?;
                (sha, size, mime, file_name, None, None, animated)
            };
        let tenant = tenant.to_owned();
        let row = self
            .inner
            .db
            .write(move |c| {
                scrm_store::MediaRepo::upsert_outbound(
                    c,
                    &NewOutbound {
                        tenant: &tenant,
                        kind: kind.as_str(),
                        sha256: &sha,
                        mime_type: &mime,
                        size,
                        file_name: file_name.as_deref(),
                        original_size,
                        animated,
                    },
                )
            })
            .await?;
        Ok(Ingested { row, reencoded })
    }

    /// Replaces every `scrm:<sha256>` media id of a send with Meta's id for that
    /// content from `phone_number_id`, uploading it first unless Meta got it from
    /// that number within [`UPLOAD_TTL_MS`]. The body is borrowed unchanged when it
    /// has no such id.
    ///
    /// # Errors
    /// The upload's [`SendError`] (Meta's code, HTTP status, timeout), handled by
    /// the outbox like a failed send; `InvalidResponse` when the file is not in the
    /// tenant's store.
    pub async fn prepare_outbound<'a>(
        &self,
        ep: &Endpoint,
        tenant: &str,
        phone_number_id: &str,
        token: &str,
        body: &'a Value,
    ) -> Result<Cow<'a, Value>, SendError> {
        let refs = scrm_refs(body);
        if refs.is_empty() {
            return Ok(Cow::Borrowed(body));
        }
        let mut body = body.clone();
        for (pointer, _, sha) in refs {
            let id = self
                .meta_id(ep, tenant, phone_number_id, token, &sha)
                .await?;
            if let Some(slot) = body.pointer_mut(&pointer) {
                *slot = Value::from(id);
            }
        }
        Ok(Cow::Owned(body))
    }

    async fn meta_id(
        &self,
        ep: &Endpoint,
        tenant: &str,
        pnid: &str,
        token: &str,
        sha: &str,
    ) -> Result<String, SendError> {
        let (t, p, s) = (tenant.to_owned(), pnid.to_owned(), sha.to_owned());
        let since = now_ms() - UPLOAD_TTL_MS;
        let (row, cached) = self
            .inner
            .db
            .read(move |c| {
                Ok((
                    scrm_store::MediaRepo::visible(c, &t, &s)?,
                    scrm_store::MediaRepo::cached_upload(c, &p, &s, since)?,
                ))
            })
            .await
            .map_err(|e| SendError::Transport(format!("media store: {e}")))?;
        let (Some(row), Some(path)) = (row, self.path(sha)) else {
            return Err(SendError::InvalidResponse(format!(
                "media {ID_PREFIX}{sha} is not in this tenant's media store"
            )));
        };
        if let Some(id) = cached {
            return Ok(id);
        }
        let span = tracing::info_span!("scrm.media.upload", tenant, size = row.size);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| SendError::Transport(format!("media store: {e}")))?;
        let mime = row
            .mime_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let file_name = row
            .file_name
            .clone()
            .unwrap_or_else(|| format!("{}.{}", &sha[..16], extension(&mime)));
        let id = self
            .upload_to_meta(ep, pnid, token, bytes, &mime, &file_name)
            .instrument(span)
            .await?;
        let (p, s, i) = (pnid.to_owned(), sha.to_owned(), id.clone());
        if let Err(e) = self
            .inner
            .db
            .write(move |c| scrm_store::MediaRepo::remember_upload(c, &p, &s, &i, now_ms()))
            .await
        {
            tracing::warn!(error = %e, "cannot cache Meta's media id; the next send uploads again");
        }
        Ok(id)
    }

    /// `POST /{version}/{phone_number_id}/media` (multipart `messaging_product`,
    /// `type`, `file`); Meta's media id.
    async fn upload_to_meta(
        &self,
        ep: &Endpoint,
        pnid: &str,
        token: &str,
        bytes: Vec<u8>,
        mime: &str,
        file_name: &str,
    ) -> Result<String, SendError> {
        let transfer = self.transfer_timeout();
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(mime)
            .map_err(|e| SendError::InvalidResponse(format!("MIME type {mime:?}: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.to_owned())
            .part("file", part);
        let response = self
            .inner
            .client
            .http()
            .post(format!("{}/{}/{pnid}/media", ep.base_url, ep.version))
            .bearer_auth(token)
            .timeout(transfer)
            .multipart(form)
            .send()
            .await
            .map_err(|e| transport(e, transfer))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(std::time::Duration::from_secs);
        let body = response.bytes().await.map_err(|e| transport(e, transfer))?;
        if !status.is_success() {
            return Err(error_from(status.as_u16(), retry_after, &body));
        }
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| SendError::InvalidResponse("no media `id` in the upload answer".into()))
    }
}

fn transport(e: reqwest::Error, timeout: std::time::Duration) -> SendError {
    if e.is_timeout() {
        SendError::Timeout(timeout)
    } else {
        SendError::Transport(e.without_url().to_string())
    }
}

/// The first bytes of a file (for sniffing its type).
async fn read_head(path: &std::path::Path) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut head = vec![0u8; 64];
    let n = match tokio::fs::File::open(path).await {
        Ok(mut f) => f.read(&mut head).await.unwrap_or(0),
        Err(_) => 0,
    };
    head.truncate(n);
    head
}

/// The MIME type of an upload: the part's own, else from the file name, else
/// sniffed for images, else `application/octet-stream`.
fn mime_of(content_type: Option<&str>, file_name: Option<&str>, head: &[u8]) -> String {
    if let Some(ct) = content_type.map(kinds::essence)
        && !ct.is_empty()
        && ct != "application/octet-stream"
    {
        return ct;
    }
    if let Some(guess) = file_name.and_then(|n| mime_guess::from_path(n).first()) {
        return guess.essence_str().to_owned();
    }
    match image::guess_format(head) {
        Ok(f) => f.to_mime_type().to_owned(),
        Err(_) => "application/octet-stream".to_owned(),
    }
}

/// A file extension for a MIME type, for uploads without a file name.
fn extension(mime: &str) -> &'static str {
    match kinds::essence(mime).as_str() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "audio/mpeg" => "mp3",
        "audio/ogg" => "ogg",
        "audio/aac" => "aac",
        "audio/amr" => "amr",
        "audio/mp4" => "m4a",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_comes_from_the_part_then_the_name_then_the_bytes() {
        assert_eq!(
            mime_of(Some("Image/PNG; charset=x"), Some("a.jpg"), b""),
            "image/png"
        );
        assert_eq!(
            mime_of(Some("application/octet-stream"), Some("report.pdf"), b""),
            "application/pdf"
        );
        assert_eq!(
            mime_of(None, None, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            "image/png"
        );
        assert_eq!(mime_of(None, None, b"hello"), "application/octet-stream");
    }
}
