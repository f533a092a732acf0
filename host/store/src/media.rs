//! The `media` and `media_uploads` tables: which tenant may see which stored file,
//! inbound download jobs with their attempts, and Meta's ids for uploaded content.

use crate::page::{Page, PageRequest};
use crate::params;
use crate::sql::{Conn, Row};
use crate::{StoreError, now_ms};
use serde::Serialize;

/// A media row as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaRow {
    /// Host id.
    pub id: i64,
    /// `inbound` (downloaded from Meta) or `outbound` (uploaded to scrm).
    pub direction: String,
    /// `image`, `audio`, `voice`, `video`, `document` or `sticker`.
    pub kind: String,
    /// The id to put in a send's media object: `scrm:<sha256>`, once stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrm_id: Option<String>,
    /// Meta's media id (inbound).
    pub meta_media_id: Option<String>,
    /// The message it came with (inbound).
    pub message_id: Option<i64>,
    /// Hex SHA-256 of the stored bytes; `None` until stored.
    pub sha256: Option<String>,
    /// MIME type.
    pub mime_type: Option<String>,
    /// Size in bytes, once stored.
    pub size: Option<i64>,
    /// The file name, when known.
    pub file_name: Option<String>,
    /// True for an animated WebP (a sticker may then be 500 KB instead of 100 KB).
    pub animated: bool,
    /// `pending`, `stored` or `failed`.
    pub state: String,
    /// Download attempts so far (inbound).
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The upload's size before it was re-encoded (outbound images over 5 MB).
    pub original_size: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, direction, kind, meta_media_id, message_id, sha256, mime_type, size, \
     file_name, state, attempts, last_error, original_size, created_at, updated_at, animated";

fn from_row(r: &Row<'_>) -> Result<MediaRow, StoreError> {
    let sha256: Option<String> = r.get(5)?;
    let state: String = r.get(9)?;
    Ok(MediaRow {
        id: r.get(0)?,
        direction: r.get(1)?,
        kind: r.get(2)?,
        scrm_id: sha256
            .as_ref()
            .filter(|_| state == "stored")
            .map(|s| format!("scrm:{s}")),
        meta_media_id: r.get(3)?,
        message_id: r.get(4)?,
        sha256,
        mime_type: r.get(6)?,
        size: r.get(7)?,
        file_name: r.get(8)?,
        state,
        attempts: r.get(10)?,
        last_error: r.get(11)?,
        original_size: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        animated: r.get(15)?,
    })
}

/// An inbound media object to download.
#[derive(Debug, Clone, Copy)]
pub struct NewInbound<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The message it came with.
    pub message_id: i64,
    /// The number that received it.
    pub phone_number_id: &'a str,
    /// `image`, `voice`, ...
    pub kind: &'a str,
    /// Meta's media id.
    pub meta_media_id: &'a str,
    /// The webhook's hash, as hex (already parsed).
    pub expected_sha256: Option<&'a str>,
    /// The webhook's MIME type.
    pub mime_type: Option<&'a str>,
    /// The document's file name.
    pub file_name: Option<&'a str>,
}

/// Records a download job (once per message and media id). True when new.
///
/// # Errors
/// On database failure.
pub(crate) fn insert_inbound(c: &Conn<'_>, m: &NewInbound<'_>) -> Result<bool, StoreError> {
    let now = now_ms();
    Ok(c.execute(
        "INSERT INTO media (tenant_id, direction, kind, meta_media_id, message_id, phone_number_id,
             expected_sha256, mime_type, file_name, state, next_attempt_at, created_at, updated_at)
         VALUES (?1, 'inbound', ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?9, ?9)
         ON CONFLICT DO NOTHING",
        params![
            m.tenant,
            m.kind,
            m.meta_media_id,
            m.message_id,
            m.phone_number_id,
            m.expected_sha256,
            m.mime_type,
            m.file_name,
            now
        ],
    )? == 1)
}

/// A download job claimed by the downloader.
#[derive(Debug, Clone)]
pub struct Job {
    /// The media row.
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// Meta's media id.
    pub meta_media_id: String,
    /// The webhook's hash (hex), if it gave one.
    pub expected_sha256: Option<String>,
    /// The webhook's MIME type.
    pub mime_type: Option<String>,
    /// Attempts including this one.
    pub attempts: i64,
}

/// Pending jobs due at `now`, oldest first.
///
/// # Errors
/// On database failure.
pub(crate) fn due(c: &Conn<'_>, now: i64, limit: usize) -> Result<Vec<Job>, StoreError> {
    let rows = c.query(
        "SELECT id, tenant_id, meta_media_id, expected_sha256, mime_type, attempts FROM media
         WHERE state = 'pending' AND next_attempt_at <= ?1 AND meta_media_id IS NOT NULL
         ORDER BY next_attempt_at, id LIMIT ?2",
        params![now, limit as i64],
        |r| {
            Ok(Job {
                id: r.get(0)?,
                tenant: r.get(1)?,
                meta_media_id: r.get(2)?,
                expected_sha256: r.get(3)?,
                mime_type: r.get(4)?,
                attempts: r.get(5)?,
            })
        },
    )?;
    Ok(rows)
}

/// Takes a job for an attempt: counts it and hides it until `lease_until` (so a
/// crash mid-download retries it then).
///
/// # Errors
/// On database failure.
pub(crate) fn lease(c: &Conn<'_>, id: i64, lease_until: i64) -> Result<(), StoreError> {
    c.execute("UPDATE media SET attempts = attempts + 1, next_attempt_at = ?2, updated_at = ?3 WHERE id = ?1", params![id, lease_until, now_ms()])?;
    Ok(())
}

/// Defers a job without counting an attempt (no access token yet, say).
///
/// # Errors
/// On database failure.
pub(crate) fn defer(c: &Conn<'_>, id: i64, until: i64, reason: &str) -> Result<(), StoreError> {
    c.execute(
        "UPDATE media SET next_attempt_at = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, until, reason, now_ms()],
    )?;
    Ok(())
}

/// Records a downloaded, verified and stored file.
///
/// # Errors
/// On database failure.
pub(crate) fn mark_stored(
    c: &Conn<'_>,
    id: i64,
    sha256: &str,
    size: u64,
    mime_type: Option<&str>,
    animated: bool,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE media SET state = 'stored', sha256 = ?2, size = ?3,
             mime_type = COALESCE(?4, mime_type), last_error = NULL, updated_at = ?5, animated = ?6
         WHERE id = ?1",
        params![id, sha256, size as i64, mime_type, now_ms(), animated],
    )?;
    Ok(())
}

/// Schedules another attempt at `at` after a transient failure.
///
/// # Errors
/// On database failure.
pub(crate) fn retry_at(c: &Conn<'_>, id: i64, at: i64, error: &str) -> Result<(), StoreError> {
    defer(c, id, at, error)
}

/// Gives up on a job: `failed` with the reason.
///
/// # Errors
/// On database failure.
pub(crate) fn mark_failed(c: &Conn<'_>, id: i64, error: &str) -> Result<(), StoreError> {
    c.execute(
        "UPDATE media SET state = 'failed', last_error = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, error, now_ms()],
    )?;
    Ok(())
}

/// A file uploaded to scrm for sending.
#[derive(Debug, Clone, Copy)]
pub struct NewOutbound<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The kind it was uploaded as.
    pub kind: &'a str,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: &'a str,
    /// MIME type.
    pub mime_type: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// The file name, when given.
    pub file_name: Option<&'a str>,
    /// The size before re-encoding, when re-encoded.
    pub original_size: Option<u64>,
    /// An animated WebP.
    pub animated: bool,
}

/// Records (or refreshes) a tenant's uploaded file; the row.
///
/// # Errors
/// On database failure.
pub(crate) fn upsert_outbound(c: &Conn<'_>, m: &NewOutbound<'_>) -> Result<MediaRow, StoreError> {
    let now = now_ms();
    c.execute(
        "INSERT INTO media (tenant_id, direction, kind, sha256, mime_type, size, file_name,
             state, original_size, created_at, updated_at, animated)
         VALUES (?1, 'outbound', ?2, ?3, ?4, ?5, ?6, 'stored', ?7, ?8, ?8, ?9)
         ON CONFLICT (tenant_id, sha256) WHERE direction = 'outbound' DO UPDATE SET
             kind = excluded.kind, mime_type = excluded.mime_type,
             file_name = COALESCE(excluded.file_name, media.file_name),
             original_size = COALESCE(excluded.original_size, media.original_size),
             updated_at = excluded.updated_at",
        params![
            m.tenant,
            m.kind,
            m.sha256,
            m.mime_type,
            m.size as i64,
            m.file_name,
            m.original_size.map(|s| s as i64),
            now,
            m.animated
        ],
    )?;
    c.query_one(
        &format!(
            "SELECT {COLUMNS} FROM media WHERE tenant_id = ?1 AND sha256 = ?2 AND direction = 'outbound'"
        ),
        params![m.tenant, m.sha256],
        from_row,)
}

/// A stored file the tenant may use or read (uploaded by it, or received by it),
/// preferring its own upload.
///
/// # Errors
/// On database failure.
pub(crate) fn visible(
    c: &Conn<'_>,
    tenant: &str,
    sha256: &str,
) -> Result<Option<MediaRow>, StoreError> {
    c.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM media WHERE tenant_id = ?1 AND sha256 = ?2 AND state = 'stored'
         ORDER BY direction = 'outbound' DESC, id LIMIT 1"
        ),
        params![tenant, sha256],
        from_row,
    )
}

/// The tenant's stored file of row `id`.
///
/// # Errors
/// On database failure.
pub(crate) fn stored_row(
    c: &Conn<'_>,
    tenant: &str,
    id: i64,
) -> Result<Option<MediaRow>, StoreError> {
    c.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM media WHERE tenant_id = ?1 AND id = ?2 AND state = 'stored'"
        ),
        params![tenant, id],
        from_row,
    )
}

/// A stored file of the tenant's received under Meta's media id `meta_media_id`.
///
/// # Errors
/// On database failure.
pub(crate) fn by_meta_id(
    c: &Conn<'_>,
    tenant: &str,
    meta_media_id: &str,
) -> Result<Option<MediaRow>, StoreError> {
    c.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM media WHERE tenant_id = ?1 AND meta_media_id = ?2 AND state = 'stored'
         ORDER BY id LIMIT 1"
        ),
        params![tenant, meta_media_id],
        from_row,
    )
}

/// Filters of [`list`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// One message's media.
    pub message_id: Option<i64>,
    /// `pending`, `stored` or `failed`.
    pub state: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
}

/// A tenant's media, oldest first.
///
/// # Errors
/// On database failure.
pub(crate) fn list(
    c: &Conn<'_>,
    tenant: &str,
    f: &Filter,
    page: PageRequest,
) -> Result<Page<MediaRow>, StoreError> {
    let rows = c.query(
        &format!(
            "SELECT {COLUMNS} FROM media WHERE tenant_id = ?1 AND id > ?2
           AND (?3 IS NULL OR message_id = ?3) AND (?4 IS NULL OR state = ?4)
           AND (?5 IS NULL OR direction = ?5)
         ORDER BY id LIMIT ?6"
        ),
        params![
            tenant,
            page.after,
            f.message_id,
            f.state,
            f.direction,
            page.sql_limit()
        ],
        from_row,
    )?;
    Ok(Page::from_rows(rows, page, |m| m.id))
}

/// Meta's id for `sha256` uploaded from `phone_number_id` at or after `since`.
///
/// # Errors
/// On database failure.
pub(crate) fn cached_upload(
    c: &Conn<'_>,
    phone_number_id: &str,
    sha256: &str,
    since: i64,
) -> Result<Option<String>, StoreError> {
    c.query_opt(
        "SELECT meta_media_id FROM media_uploads
         WHERE phone_number_id = ?1 AND sha256 = ?2 AND uploaded_at >= ?3",
        params![phone_number_id, sha256, since],
        |r| r.get(0),
    )
}

/// Remembers Meta's id for content uploaded from a number.
///
/// # Errors
/// On database failure.
pub(crate) fn remember_upload(
    c: &Conn<'_>,
    phone_number_id: &str,
    sha256: &str,
    meta_media_id: &str,
    at: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO media_uploads (phone_number_id, sha256, meta_media_id, uploaded_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (phone_number_id, sha256) DO UPDATE SET
             meta_media_id = excluded.meta_media_id, uploaded_at = excluded.uploaded_at",
        params![phone_number_id, sha256, meta_media_id, at],
    )?;
    Ok(())
}

crate::repo! {
    /// Media rows: inbound downloads and outbound uploads.
    pub trait MediaRepo {
        /// Records a download job (once per message and media id). True when new.
        fn insert_inbound(m: &NewInbound<'_>) -> Result<bool, StoreError>;
        /// Pending jobs due at `now`, oldest first.
        fn due(now: i64, limit: usize) -> Result<Vec<Job>, StoreError>;
        /// Takes a job for an attempt: counts it and hides it until `lease_until` (so a
        /// crash mid-download retries it then).
        fn lease(id: i64, lease_until: i64) -> Result<(), StoreError>;
        /// Defers a job without counting an attempt (no access token yet, say).
        fn defer(id: i64, until: i64, reason: &str) -> Result<(), StoreError>;
        /// Records a downloaded, verified and stored file.
        fn mark_stored(id: i64, sha256: &str, size: u64, mime_type: Option<&str>, animated: bool) -> Result<(), StoreError>;
        /// Schedules another attempt at `at` after a transient failure.
        fn retry_at(id: i64, at: i64, error: &str) -> Result<(), StoreError>;
        /// Gives up on a job: `failed` with the reason.
        fn mark_failed(id: i64, error: &str) -> Result<(), StoreError>;
        /// Records (or refreshes) a tenant's uploaded file; the row.
        fn upsert_outbound(m: &NewOutbound<'_>) -> Result<MediaRow, StoreError>;
        /// A stored file the tenant may use or read (uploaded by it, or received by it),
        /// preferring its own upload.
        fn visible(tenant: &str, sha256: &str) -> Result<Option<MediaRow>, StoreError>;
        /// A tenant's media, oldest first.
        /// The tenant's stored file of row `id`.
        fn stored_row(tenant: &str, id: i64) -> Result<Option<MediaRow>, StoreError>;
        /// A stored file of the tenant's received under Meta's media id.
        fn by_meta_id(tenant: &str, meta_media_id: &str) -> Result<Option<MediaRow>, StoreError>;
        fn list(tenant: &str, f: &Filter, page: PageRequest) -> Result<Page<MediaRow>, StoreError>;
        /// Meta's id for `sha256` uploaded from `phone_number_id` at or after `since`.
        fn cached_upload(phone_number_id: &str, sha256: &str, since: i64) -> Result<Option<String>, StoreError>;
        /// Remembers Meta's id for content uploaded from a number.
        fn remember_upload(phone_number_id: &str, sha256: &str, meta_media_id: &str, at: i64) -> Result<(), StoreError>;
    }
}
