//! Media: inbound files downloaded from the Cloud API and verified, outbound files
//! uploaded to scrm and then to Meta, all stored content-addressed.
//!
//! - Files live once under `<data_dir>/media/<sha256 hex>`, written to a temporary
//!   file, synced and renamed (so a file under its hash is always whole); the
//!   `media` table (`scrm_store::media`) says which tenant may see which file.
//! - **Inbound**: when the pipeline stores a message with media it records a
//!   download job in the same transaction ([`record_inbound`]). The downloader
//!   ([`MediaStore::run_downloader`], [`download`]) asks Meta for the media URL
//!   (`GET /{version}/{media_id}`), fetches it with the tenant's token, checks the
//!   bytes against every SHA-256 Meta gave (the webhook's, base64; the URL answer's,
//!   hex), and stores them. Transient failures are retried with back-off; a hash
//!   mismatch is recorded as the job's error and nothing is stored.
//! - **Outbound**: `POST /v1/tenants/{id}/media` stores an upload
//!   ([`MediaStore::ingest`]) and answers `scrm:<sha256>`, the id a send's media
//!   object may carry. Images over Meta's 5 MB (or not JPEG/PNG) are re-encoded to
//!   JPEG below it at that moment ([`reencode`]). Right before sending, the outbox
//!   uploads the file to Meta from the sending number and replaces the id with
//!   Meta's ([`MediaStore::prepare_outbound`]), caching Meta's id per number and
//!   content for 29 days (Meta keeps uploads for 30).
//!
//! ```no_run
//! # async fn demo(db: scrm_store::Db) -> Result<(), scrm::media::MediaError> {
//! let media = scrm::media::MediaStore::open(db, "data/media".as_ref(), Default::default())?;
//! let sha = media.put_bytes(b"%PDF-1.7 ...").await?;
//! assert!(media.path(&sha).is_some());
//! # Ok(()) }
//! ```

pub mod download;
pub mod kinds;
pub mod reencode;
use scrm_store::media as rows;
pub mod upload;

use crate::cloud::client::CloudClient;
use crate::config::SendSettings;
use scrm_store::Store;
use scrm_store::{Db, StoreError};
use scrm_wire::content::Content;
use scrm_wire::outbound::Invalid;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

pub use kinds::Kind;

/// The prefix of scrm's own media ids in send requests: `scrm:<sha256 hex>`.
pub const ID_PREFIX: &str = "scrm:";

/// Why a send's media references were refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A reference is unknown, or its file does not fit the kind it is sent as.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Errors of the media store.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Reading or writing a file failed.
    #[error("media file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An upload is over the limit of its kind.
    #[error("{kind} files may be at most {limit} bytes; this one is {size}")]
    TooLarge {
        /// The kind.
        kind: &'static str,
        /// Its size.
        size: u64,
        /// Meta's limit.
        limit: u64,
    },
    /// Meta does not accept this MIME type for the kind.
    #[error("Meta does not accept {mime} as {kind} (accepted: {accepted})")]
    UnsupportedType {
        /// The kind.
        kind: &'static str,
        /// The file's MIME type.
        mime: String,
        /// What Meta accepts.
        accepted: String,
    },
    /// An image could not be re-encoded below Meta's limit.
    #[error(transparent)]
    Reencode(#[from] reencode::ReencodeError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MediaError + '_ {
    move |source| MediaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The content-addressed media store, its downloader and its uploader; cheap to clone.
#[derive(Debug, Clone)]
pub struct MediaStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    root: PathBuf,
    tmp: PathBuf,
    client: CloudClient,
    settings: SendSettings,
    wake: Notify,
    health: std::sync::OnceLock<Arc<crate::cloud::health::Health>>,
}

impl MediaStore {
    /// A store under `root` (created if needed; leftover temporary files of an
    /// interrupted write are removed). Cloud API calls use `settings` (base URL,
    /// version, timeouts, back-off, attempts).
    ///
    /// # Errors
    /// When the directories cannot be created.
    pub fn open(db: Db, root: &Path, settings: SendSettings) -> Result<MediaStore, MediaError> {
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        Ok(MediaStore {
            inner: Arc::new(Inner {
                db,
                root: root.to_path_buf(),
                tmp,
                client: CloudClient::new(Duration::from_millis(settings.request_timeout_ms)),
                settings,
                wake: Notify::new(),
                health: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Downloads through the base URL `health` says is active for each app
    /// (primary or backup), as the outbox sends.
    pub fn with_health(self, health: Arc<crate::cloud::health::Health>) -> MediaStore {
        let _ = self.inner.health.set(health);
        self
    }

    /// The store's database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The file of a stored hash, when it is a valid hash and the file exists.
    pub fn path(&self, sha256: &str) -> Option<PathBuf> {
        kinds::is_hex_sha256(sha256)
            .then(|| self.inner.root.join(sha256))
            .filter(|p| p.is_file())
    }

    /// Wakes the downloader (a job was recorded).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stores `bytes` under their hash; the hash.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub async fn put_bytes(&self, bytes: &[u8]) -> Result<String, MediaError> {
        let mut w = self.writer().await?;
        w.write(bytes).await?;
        let (sha, _) = w.commit().await?;
        Ok(sha)
    }

    /// A new temporary file that hashes what is written to it.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub async fn writer(&self) -> Result<Writer, MediaError> {
        let path = self.inner.tmp.join(format!(
            "{:016x}{:016x}.part",
            rand::random::<u64>(),
            rand::random::<u64>()
        ));
        let file = tokio::fs::File::create(&path).await.map_err(io(&path))?;
        Ok(Writer {
            file: Some(file),
            path,
            root: self.inner.root.clone(),
            hasher: Sha256::new(),
            size: 0,
        })
    }
}

/// A file being written into the store: hashed as it goes, moved under its hash
/// by [`Writer::commit`], deleted if dropped uncommitted.
#[derive(Debug)]
pub struct Writer {
    file: Option<tokio::fs::File>,
    path: PathBuf,
    root: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl Writer {
    /// Appends `chunk`.
    ///
    /// # Errors
    /// When writing fails.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), MediaError> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        if let Some(f) = self.file.as_mut() {
            f.write_all(chunk).await.map_err(io(&self.path))?;
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hash of what was written (hex).
    pub fn sha256(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }

    /// The temporary file (to read it back before deciding to commit).
    pub fn temp_path(&self) -> &Path {
        &self.path
    }

    /// Syncs the file and moves it under its hash (or drops it when that content is
    /// stored already); `(sha256, size)`.
    ///
    /// # Errors
    /// When syncing or renaming fails.
    pub async fn commit(mut self) -> Result<(String, u64), MediaError> {
        let sha = self.sha256();
        if let Some(mut f) = self.file.take() {
            f.flush().await.map_err(io(&self.path))?;
            f.sync_all().await.map_err(io(&self.path))?;
        }
        let target = self.root.join(&sha);
        if tokio::fs::try_exists(&target).await.unwrap_or(false) {
            let _ = tokio::fs::remove_file(&self.path).await;
        } else {
            tokio::fs::rename(&self.path, &target)
                .await
                .map_err(io(&target))?;
        }
        Ok((sha, self.size))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Uncommitted: nothing under a hash refers to it.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Records a download job for the media of an inbound message just stored (in the
/// caller's transaction); nothing for messages without media. True when recorded.
///
/// # Errors
/// On database failure.
pub fn record_inbound(
    tx: &dyn Store,
    tenant: &str,
    message_id: i64,
    phone_number_id: &str,
    content: &Content,
) -> Result<bool, StoreError> {
    let (kind, m) = match content {
        Content::Image(m) => ("image", m),
        Content::Audio(m) => ("audio", m),
        Content::Voice(m) => ("voice", m),
        Content::Video(m) => ("video", m),
        Content::Document(m) => ("document", m),
        Content::Sticker(m) => ("sticker", m),
        _ => return Ok(false),
    };
    let expected = m
        .sha256
        .as_deref()
        .and_then(kinds::parse_sha256)
        .map(hex::encode);
    scrm_store::MediaRepo::insert_inbound(
        tx,
        &rows::NewInbound {
            tenant,
            message_id,
            phone_number_id,
            kind,
            meta_media_id: &m.id,
            expected_sha256: expected.as_deref(),
            mime_type: m.mime_type.as_deref(),
            file_name: m.filename.as_deref(),
        },
    )
}

/// Where a send refers to media by id: the top-level media object, a template's
/// header parameters, an interactive message's header. `(JSON pointer to the id,
/// the kind named by the object)`.
fn media_ids(body: &Value) -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    let mut visit = |pointer: String, kind: &'static str, obj: Option<&Value>| {
        if let Some(id) = obj.and_then(|o| o.get("id")).and_then(Value::as_str) {
            out.push((format!("{pointer}/id"), kind, id.to_owned()));
        }
    };
    let kind = body.get("type").and_then(Value::as_str).unwrap_or_default();
    if let Some(k) = Kind::parse(kind) {
        visit(format!("/{kind}"), k.as_str(), body.get(kind));
    }
    if kind == "template" {
        let components = body
            .pointer("/template/components")
            .and_then(Value::as_array);
        for (i, c) in components.into_iter().flatten().enumerate() {
            let params = c.get("parameters").and_then(Value::as_array);
            for (j, p) in params.into_iter().flatten().enumerate() {
                for k in ["image", "video", "document"] {
                    let kind = Kind::parse(k).map_or("document", Kind::as_str);
                    visit(
                        format!("/template/components/{i}/parameters/{j}/{k}"),
                        kind,
                        p.get(k),
                    );
                }
            }
        }
    }
    if kind == "interactive" {
        for k in ["image", "video", "document"] {
            let kind = Kind::parse(k).map_or("document", Kind::as_str);
            visit(
                format!("/interactive/header/{k}"),
                kind,
                body.pointer(&format!("/interactive/header/{k}")),
            );
        }
    }
    out
}

/// `scrm:` references of a send: `(pointer to the id, kind, sha256)`.
pub(crate) fn scrm_refs(body: &Value) -> Vec<(String, Kind, String)> {
    media_ids(body)
        .into_iter()
        .filter_map(|(pointer, kind, id)| {
            let sha = id.strip_prefix(ID_PREFIX)?.to_ascii_lowercase();
            Some((pointer, Kind::parse(kind)?, sha))
        })
        .collect()
}

/// Checks, at submit time, every `scrm:<sha256>` media id of a send: the tenant
/// must have that file (uploaded or received), and Meta must accept it for the
/// kind it is sent as (type and size).
///
/// # Errors
/// [`Invalid`] with `unknown_media`, `unsupported_media_type` or
/// `media_too_large`; [`StoreError`] on database failure.
pub fn check_outbound(c: &dyn Store, tenant: &str, body: &Value) -> Result<(), CheckError> {
    for (pointer, kind, sha) in scrm_refs(body) {
        let Some(row) =
            scrm_store::MediaRepo::visible(c, tenant, &sha)?.filter(|_| kinds::is_hex_sha256(&sha))
        else {
            return Err(Invalid {
                code: "unknown_media",
                message: format!(
                    "`{pointer}`: no media {ID_PREFIX}{sha} for this tenant; upload it first with POST /v1/tenants/{{id}}/media"
                ),
            }
            .into());
        };
        let mime = row.mime_type.clone().unwrap_or_default();
        if !kind.accepts(&mime) {
            return Err(Invalid {
                code: "unsupported_media_type",
                message: format!(
                    "`{pointer}`: Meta does not accept {mime:?} as {} (accepted: {}); upload it with type={} to convert images",
                    kind.as_str(),
                    kind.accepted(),
                    kind.as_str()
                ),
            }
            .into());
        }
        let size = row.size.unwrap_or(0).max(0) as u64;
        let limit = kind.max_size(row.animated);
        if size > limit {
            return Err(Invalid {
                code: "media_too_large",
                message: format!(
                    "`{pointer}`: {} files may be at most {limit} bytes; {ID_PREFIX}{sha} is {size}{}",
                    kind.as_str(),
                    if kind == Kind::Image {
                        " (upload it with type=image to have it re-encoded under the limit)"
                    } else {
                        ""
                    }
                ),
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_scrm_ids_in_media_template_and_interactive_headers() {
        let sha = "a".repeat(64);
        let id = format!("scrm:{sha}");
        let image = json!({"type": "image", "image": {"id": id}});
        assert_eq!(
            scrm_refs(&image),
            vec![("/image/id".to_string(), Kind::Image, sha.clone())]
        );
        let template = json!({"type": "template", "template": {"name": "n", "components": [
            {"type": "header", "parameters": [{"type": "document", "document": {"id": id}}]}]}});
        assert_eq!(
            scrm_refs(&template),
            vec![(
                "/template/components/0/parameters/0/document/id".to_string(),
                Kind::Document,
                sha.clone()
            )]
        );
        let interactive = json!({"type": "interactive", "interactive": {"type": "button",
            "header": {"type": "video", "video": {"id": id}}}});
        assert_eq!(scrm_refs(&interactive)[0].1, Kind::Video);
        let meta_id = json!({"type": "image", "image": {"id": "1003383421387256"}});
        assert!(scrm_refs(&meta_id).is_empty());
    }

    /// Runs `test` with a media store in `<dir>/media` over each backend, each on
    /// a runtime of its own that ends before the database handle is dropped
    /// (PostgreSQL's synchronous driver must not be dropped inside one).
    fn on_each_backend<F: std::future::Future<Output = ()>>(
        test: impl Fn(MediaStore, std::path::PathBuf) -> F,
    ) {
        for t in scrm_store::testing::backends() {
            println!("backend: {}", t.backend);
            let dir = tempfile::tempdir().unwrap();
            let store = MediaStore::open(
                t.db.clone(),
                &dir.path().join("media"),
                SendSettings::default(),
            )
            .unwrap();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(test(store, dir.path().to_path_buf()));
        }
    }

    #[test]
    fn stores_content_once_under_its_hash() {
        on_each_backend(|store, dir| async move {
            let a = store.put_bytes(b"hello").await.unwrap();
            let b = store.put_bytes(b"hello").await.unwrap();
            assert_eq!(a, b);
            assert_eq!(a, hex::encode(Sha256::digest(b"hello")));
            assert_eq!(std::fs::read(store.path(&a).unwrap()).unwrap(), b"hello");
            // Nothing is left behind in the temporary directory.
            assert_eq!(std::fs::read_dir(dir.join("media/tmp")).unwrap().count(), 0);
            assert!(store.path("../scrm.db").is_none());
        });
    }

    #[test]
    fn an_uncommitted_writer_leaves_nothing() {
        on_each_backend(|store, dir| async move {
            let mut w = store.writer().await.unwrap();
            w.write(b"tampered").await.unwrap();
            let sha = w.sha256();
            drop(w);
            assert!(store.path(&sha).is_none());
            assert_eq!(std::fs::read_dir(dir.join("media/tmp")).unwrap().count(), 0);
        });
    }
}
