//! The downloader: takes due download jobs, fetches each file from the Cloud API
//! with the tenant's token, verifies it against Meta's hashes and stores it.
//!
//! One attempt: `GET /{version}/{media_id}` answers a short-lived `url` (plus
//! `mime_type`, `sha256` as hex, `file_size`); `GET <url>` with the same bearer token
//! streams the bytes into a temporary file, hashing as they come. The bytes are
//! kept only if they match every hash Meta gave (the webhook's and the URL
//! answer's). Timeouts, transport errors, 5xx, 429 and Meta's temporary and rate
//! codes are retried with exponential back-off and jitter (the outbox's
//! `backoff_base_ms`, `backoff_max_ms`, `max_attempts`); other errors, and a hash
//! mismatch, end the job as `failed` with the reason.

use super::{MediaStore, kinds};
use crate::cloud::client::Endpoint;
use scrm_store::media::Job;
use scrm_store::secrets::TOKEN_SECRET;
use scrm_store::{StoreError, now_ms};
use scrm_wire::graph::{SendError, error_from};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Jobs taken per round (downloaded concurrently).
const BATCH: usize = 8;
/// How long a job waits when its tenant has no access token.
const NO_TOKEN_WAIT_MS: i64 = 60_000;
/// The shortest time a whole file transfer may take before it times out.
const MIN_TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// Why one attempt failed, and whether another may succeed.
#[derive(Debug)]
struct Failure {
    transient: bool,
    message: String,
}

impl Failure {
    fn transient(message: impl Into<String>) -> Failure {
        Failure {
            transient: true,
            message: message.into(),
        }
    }

    fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            transient: false,
            message: message.into(),
        }
    }
}

impl From<SendError> for Failure {
    fn from(e: SendError) -> Failure {
        Failure {
            transient: e.transient(),
            message: e.to_string(),
        }
    }
}

/// The media URL answer (`GET /{version}/{media_id}`).
#[derive(Debug, Deserialize)]
struct MediaInfo {
    url: String,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    /// A string in Meta's spec, a number in some answers.
    #[serde(default)]
    file_size: Option<Value>,
}

/// A downloaded, verified and stored file.
#[derive(Debug)]
struct Fetched {
    sha256: String,
    size: u64,
    mime_type: Option<String>,
    animated: bool,
}

impl MediaStore {
    /// Runs the downloader until the task is dropped.
    pub async fn run_downloader(self) {
        loop {
            let jobs = match self.claim().await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error = %e, "media download claim failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    () = self.inner.wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
                continue;
            }
            let mut set = JoinSet::new();
            for (job, token, ep) in jobs {
                let span = tracing::info_span!("scrm.media.download", tenant = %job.tenant, media = job.id);
                set.spawn(self.clone().attempt(job, token, ep).instrument(span));
            }
            while set.join_next().await.is_some() {}
        }
    }

    /// How long one file transfer may take.
    pub(crate) fn transfer_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.settings.request_timeout_ms).max(MIN_TRANSFER_TIMEOUT)
    }

    /// Takes due jobs with their tenant's token and endpoint.
    async fn claim(&self) -> Result<Vec<(Job, String, Endpoint)>, StoreError> {
        let this = self.clone();
        let lease = (self.transfer_timeout().as_millis() as i64) * 2 + 60_000;
        self.inner
            .db
            .write(move |c| {
                scrm_store::transaction(c, |tx| {
                    // One claim at a time across hosts sharing the database.
                    tx.lock("media-claim")?;
                    let now = now_ms();
                    let mut out = Vec::new();
                    for mut job in scrm_store::MediaRepo::due(tx, now, BATCH)? {
                        let Some(token) =
                            scrm_store::SecretRepo::get(tx, &job.tenant, TOKEN_SECRET)?
                        else {
                            scrm_store::MediaRepo::defer(
                                tx,
                                job.id,
                                now + NO_TOKEN_WAIT_MS,
                                "no access token: set the tenant secret whatsapp_access_token",
                            )?;
                            continue;
                        };
                        scrm_store::MediaRepo::lease(tx, job.id, now + lease)?;
                        job.attempts += 1;
                        let health = this.inner.health.get().map(|h| &**h);
                        let ep = crate::cloud::endpoint_for(
                            tx,
                            &job.tenant,
                            &this.inner.settings,
                            health,
                        )?;
                        out.push((job, token, ep));
                    }
                    Ok(out)
                })
            })
            .await
    }

    /// One attempt at one job, with its outcome recorded.
    async fn attempt(self, job: Job, token: String, ep: Endpoint) {
        let result = self.fetch(&job, &token, &ep).await;
        let s = &self.inner.settings;
        let (max_attempts, base, max) = (
            i64::from(s.max_attempts),
            s.backoff_base_ms,
            s.backoff_max_ms,
        );
        let id = job.id;
        let attempts = job.attempts;
        match &result {
            Ok(f) => tracing::info!(size = f.size, "media stored"),
            Err(f) => {
                tracing::warn!(attempts, transient = f.transient, error = %f.message, "media download failed");
            }
        }
        let recorded = self
            .inner
            .db
            .write(move |c| match result {
                Ok(f) => scrm_store::MediaRepo::mark_stored(
                    c,
                    id,
                    &f.sha256,
                    f.size,
                    f.mime_type.as_deref(),
                    f.animated,
                ),
                Err(f) if f.transient && attempts < max_attempts => {
                    scrm_store::MediaRepo::retry_at(
                        c,
                        id,
                        now_ms() + crate::backoff::backoff_ms(base, max, attempts),
                        &f.message,
                    )
                }
                Err(f) if f.transient => scrm_store::MediaRepo::mark_failed(
                    c,
                    id,
                    &format!("gave up after {attempts} attempts: {}", f.message),
                ),
                Err(f) => scrm_store::MediaRepo::mark_failed(c, id, &f.message),
            })
            .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, "cannot record a media download's outcome; it is retried after its lease");
        }
    }

    async fn fetch(&self, job: &Job, token: &str, ep: &Endpoint) -> Result<Fetched, Failure> {
        let http = self.inner.client.http();
        let timeout = Duration::from_millis(self.inner.settings.request_timeout_ms);
        let info_url = format!("{}/{}/{}", ep.base_url, ep.version, job.meta_media_id);
        let response = http
            .get(info_url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| transport(e, timeout))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(e, timeout))?;
        if !status.is_success() {
            return Err(error_from(status.as_u16(), None, &bytes).into());
        }
        let info: MediaInfo = serde_json::from_slice(&bytes).map_err(|e| {
            Failure::permanent(format!(
                "the media URL answer is not what Meta documents: {e}"
            ))
        })?;
        let announced = info.file_size.as_ref().and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        });
        if let Some(size) = announced.filter(|s| *s > kinds::DOCUMENT_MAX) {
            return Err(Failure::permanent(format!(
                "the file is {size} bytes; the host downloads at most {}",
                kinds::DOCUMENT_MAX
            )));
        }
        let transfer = self.transfer_timeout();
        let mut response = http
            .get(&info.url)
            .bearer_auth(token)
            .timeout(transfer)
            .send()
            .await
            .map_err(|e| transport(e, transfer))?;
        let status = response.status();
        if !status.is_success() {
            // The URL lives 5 minutes: another attempt asks for a fresh one.
            return Err(Failure::transient(format!(
                "HTTP {} downloading the media",
                status.as_u16()
            )));
        }
        let header_mime = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut w = self
            .writer()
            .await
            .map_err(|e| Failure::transient(e.to_string()))?;
        let mut head = Vec::with_capacity(32);
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(e, transfer))? {
            if head.len() < 32 {
                head.extend_from_slice(&chunk[..chunk.len().min(32 - head.len())]);
            }
            w.write(&chunk)
                .await
                .map_err(|e| Failure::transient(e.to_string()))?;
            if w.size() > kinds::DOCUMENT_MAX {
                return Err(Failure::permanent(format!(
                    "the file is over {} bytes, the most the host downloads",
                    kinds::DOCUMENT_MAX
                )));
            }
        }
        let got = w.sha256();
        let checks = [
            ("the webhook", job.expected_sha256.clone()),
            (
                "the media URL answer",
                info.sha256.as_deref().map(|s| {
                    kinds::parse_sha256(s)
                        .map(hex::encode)
                        .unwrap_or_else(|| s.to_owned())
                }),
            ),
        ];
        for (source, expected) in checks {
            if let Some(expected) = expected
                && expected != got
            {
                // Dropping the writer deletes the bytes: nothing is stored.
                return Err(Failure::permanent(format!(
                    "sha256 mismatch: {source} says {expected}, the downloaded bytes hash to {got}; not stored"
                )));
            }
        }
        let (sha256, size) = w
            .commit()
            .await
            .map_err(|e| Failure::transient(e.to_string()))?;
        Ok(Fetched {
            sha256,
            size,
            mime_type: info
                .mime_type
                .or(header_mime)
                .or_else(|| job.mime_type.clone()),
            animated: kinds::is_animated_webp(&head),
        })
    }
}

fn transport(e: reqwest::Error, timeout: Duration) -> SendError {
    if e.is_timeout() {
        SendError::Timeout(timeout)
    } else {
        SendError::Transport(e.without_url().to_string())
    }
}
