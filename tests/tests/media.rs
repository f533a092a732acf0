//! Media end to end: inbound media downloaded through the Cloud API, verified
//! against Meta's SHA-256 and served by the API; a tampered download recorded as an
//! error with nothing stored; outbound uploads stored content-addressed, oversized
//! images re-encoded under Meta's 5 MB, uploaded to Meta right before the send and
//! sent by Meta's id; bad media refused at submit.

use base64::Engine as _;
use image::{ImageFormat, Rgb, RgbImage};
use scrm_e2e::graph::{ACCESS_TOKEN, Graph, RecordedBody, VERSION};
use scrm_e2e::prism::Contract;
use scrm_e2e::{APP_SECRET, FIXTURE_PNID, Host, eventually, text_webhook};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Cursor;
use std::path::Path;
use std::time::Instant;

const CUSTOMER: &str = "16505551234";

async fn start(dir: &Path, graph_url: String) -> Host {
    let host = Host::start_configured(dir, |s| {
        s.whatsapp.graph_url = graph_url;
        s.whatsapp.backoff_base_ms = 50;
        s.whatsapp.backoff_max_ms = 200;
    })
    .await;
    host.tenant("acme", &[FIXTURE_PNID], "US").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/whatsapp_access_token",
        Some(json!({"value": ACCESS_TOKEN})),
    )
    .await;
    host
}

/// Noise: compresses like a photo's detail, so the PNG is about `w·h·3` bytes.
fn noisy_image(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let mut state = 0x9e37_79b9_u32;
    let img = RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        // Some structure too, so that quality matters as it does for photos.
        let base = ((x / 8 + y / 8) % 2 * 96) as u8;
        Rgb([
            base.wrapping_add(state as u8 / 2),
            base.wrapping_add((state >> 8) as u8 / 2),
            (state >> 16) as u8,
        ])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn sha_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// A webhook with one media message of `kind` (`image`, `document`, ...).
fn media_webhook(wamid: &str, kind: &str, media: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": FIXTURE_PNID},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": CUSTOMER}],
            "messages": [{"from": CUSTOMER, "id": wamid, "timestamp": "1744344496",
                          "type": kind, kind: media}]
        }}]}]
    }))
    .unwrap()
}

/// The customer writes now: free-form sends are within the 24-hour window.
async fn open_window(host: &Host, wamid: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = String::from_utf8(text_webhook(FIXTURE_PNID, CUSTOMER, &[(wamid, "hi")]))
        .unwrap()
        .replace("1750000000", &now.to_string());
    assert_eq!(host.post_signed(body.as_bytes(), APP_SECRET).await.0, 200);
    host.settle().await;
}

/// The tenant's media rows matching `query`, once `done` says they are final.
async fn media_when(host: &Host, query: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    eventually(|| async {
        let items = host.all(&format!("/v1/tenants/acme/media?{query}")).await;
        Ok(done(&items).then_some(items))
    })
    .await
    .unwrap_or_else(|e| panic!("media {query}: {e}"))
}

async fn get_bytes(host: &Host, path: &str) -> (u16, Option<String>, Vec<u8>) {
    let resp = host
        .http
        .get(format!("{}{path}", host.base))
        .bearer_auth(scrm_e2e::TOKEN)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, ct, resp.bytes().await.unwrap().to_vec())
}

async fn upload(
    host: &Host,
    bytes: Vec<u8>,
    name: &str,
    mime: &str,
    kind: Option<&str>,
) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .unwrap();
    let mut form = reqwest::multipart::Form::new().part("file", part);
    if let Some(k) = kind {
        form = form.text("type", k.to_owned());
    }
    let resp = host
        .http
        .post(format!("{}/v1/tenants/acme/media", host.base))
        .bearer_auth(scrm_e2e::TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn inbound_image_is_downloaded_verified_and_served() {
        let graph = Graph::start().await;
        // The media URL request goes through Prism (Meta's spec); the download itself
        // goes to the URL Meta's answer names, as Meta's points at its CDN.
        let contract = Contract::start(&graph).await;
        let dir = tempfile::tempdir().unwrap();
        let host = start(dir.path(), contract.url()).await;
        let png = noisy_image(64, 48, ImageFormat::Png);
        let media_id = graph.put_media(&png, "image/png");
        let body = media_webhook(
            "wamid.media.1",
            "image",
            json!({"caption": "the shelf", "mime_type": "image/png", "sha256": sha_b64(&png), "id": media_id}),
        );
        let (status, _) = host.post_signed(&body, APP_SECRET).await;
        assert_eq!(status, 200);

        let items = media_when(&host, "direction=inbound", |i| {
            i.first().is_some_and(|m| m["state"] != "pending")
        })
        .await;
        let m = &items[0];
        assert_eq!(m["state"], "stored", "{m}");
        assert_eq!(m["sha256"], sha_hex(&png));
        assert_eq!(m["size"], png.len());
        assert_eq!(m["mime_type"], "image/png");
        assert_eq!(m["kind"], "image");
        assert_eq!(m["meta_media_id"], json!(media_id));
        assert_eq!(m["attempts"], 1);

        // The message lists it; the API serves the bytes with their type.
        let messages = host.messages("acme").await;
        let msg = messages
            .iter()
            .find(|x| x["wamid"] == "wamid.media.1")
            .unwrap();
        let by_message = host
            .all(&format!("/v1/tenants/acme/media?message_id={}", msg["id"]))
            .await;
        assert_eq!(by_message.len(), 1);
        assert_eq!(by_message[0]["sha256"], m["sha256"]);
        let sha = m["sha256"].as_str().unwrap();
        let (status, ct, bytes) = get_bytes(&host, &format!("/v1/tenants/acme/media/{sha}")).await;
        assert_eq!(status, 200);
        assert_eq!(ct.as_deref(), Some("image/png"));
        assert_eq!(bytes, png);
        // Stored once, under its hash.
        assert_eq!(
            std::fs::read(dir.path().join("media").join(sha)).unwrap(),
            png
        );

        // Both calls carried the tenant's token.
        let requests = graph.requests();
        let info = requests
            .iter()
            .find(|r| r.path == format!("/{VERSION}/{media_id}"))
            .expect("the media URL was asked for");
        assert_eq!(
            info.header("authorization"),
            Some(format!("Bearer {ACCESS_TOKEN}").as_str())
        );
        let download = requests
            .iter()
            .find(|r| r.path.starts_with("/whatsapp_business/attachments"))
            .expect("the media was downloaded");
        assert_eq!(
            download.header("authorization"),
            Some(format!("Bearer {ACCESS_TOKEN}").as_str())
        );
        contract.assert_clean();

        // Another tenant cannot read it; a redelivery records no second job.
        host.tenant("other", &["200000000000009"], "US").await;
        let (status, _, _) = get_bytes(&host, &format!("/v1/tenants/other/media/{sha}")).await;
        assert_eq!(status, 404);
        let (status, _) = host.post_signed(&body, APP_SECRET).await;
        assert_eq!(status, 200);
        host.settle().await;
        assert_eq!(host.all("/v1/tenants/acme/media").await.len(), 1);
    }

    #[tokio::test]
    async fn a_download_that_does_not_match_metas_hash_is_an_error_and_not_stored() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = start(dir.path(), graph.url()).await;
        let served = b"%PDF-1.7 what the CDN served".to_vec();
        let announced = b"%PDF-1.7 what the customer sent".to_vec();
        let media_id = graph.put_media(&served, "application/pdf");
        let body = media_webhook(
            "wamid.media.tampered",
            "document",
            json!({"filename": "invoice.pdf", "mime_type": "application/pdf",
                   "sha256": sha_b64(&announced), "id": media_id}),
        );
        assert_eq!(host.post_signed(&body, APP_SECRET).await.0, 200);

        let items = media_when(&host, "direction=inbound", |i| {
            i.first().is_some_and(|m| m["state"] != "pending")
        })
        .await;
        let m = &items[0];
        assert_eq!(m["state"], "failed", "{m}");
        let error = m["last_error"].as_str().unwrap();
        assert!(error.contains("sha256 mismatch"), "{error}");
        assert!(error.contains(&sha_hex(&announced)), "{error}");
        assert!(error.contains(&sha_hex(&served)), "{error}");
        assert_eq!(m["sha256"], Value::Null);
        assert_eq!(m["file_name"], "invoice.pdf");
        // A mismatch is not retried: another download would not change the bytes.
        assert_eq!(m["attempts"], 1);

        // Nothing under either hash, nothing left in the temporary directory.
        for sha in [sha_hex(&served), sha_hex(&announced)] {
            assert!(!dir.path().join("media").join(&sha).exists());
            let (status, _, _) = get_bytes(&host, &format!("/v1/tenants/acme/media/{sha}")).await;
            assert_eq!(status, 404);
        }
        assert_eq!(
            std::fs::read_dir(dir.path().join("media/tmp"))
                .unwrap()
                .count(),
            0
        );
        let failed = host.all("/v1/tenants/acme/media?state=failed").await;
        assert_eq!(failed.len(), 1);
    }

    #[tokio::test]
    async fn an_oversized_image_is_reencoded_under_5_mb_uploaded_and_sent_by_metas_id() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        // Uploads go straight to the local server: Prism corrupts binary multipart bodies.
        let host = start(dir.path(), graph.url()).await;
        open_window(&host, "wamid.open").await;

        let png = noisy_image(1500, 1400, ImageFormat::Png);
        assert!(png.len() > 6_000_000, "a {} byte PNG", png.len());
        let started = Instant::now();
        let (status, up) = upload(&host, png.clone(), "shelf.png", "image/png", Some("image")).await;
        let took = started.elapsed();
        assert_eq!(status, 201, "{up}");
        let size = up["size"].as_u64().unwrap();
        assert!(size <= 5_000_000, "re-encoded to {size} bytes");
        assert_eq!(up["mime_type"], "image/jpeg");
        assert_eq!(up["type"], "image");
        assert_eq!(up["file_name"], "shelf.jpg");
        assert_eq!(up["reencoded"]["original_size"], png.len());
        let sha = up["sha256"].as_str().unwrap().to_string();
        assert_eq!(up["id"], format!("scrm:{sha}"));
        eprintln!(
            "re-encoded {} → {size} bytes (quality {}, {}x{}) in {took:?}",
            png.len(),
            up["reencoded"]["quality"],
            up["reencoded"]["width"],
            up["reencoded"]["height"]
        );
        let (status, ct, stored) = get_bytes(&host, &format!("/v1/tenants/acme/media/{sha}")).await;
        assert_eq!((status, ct.as_deref()), (200, Some("image/jpeg")));
        assert_eq!(sha_hex(&stored), sha);
        let decoded = image::load_from_memory(&stored).unwrap();
        assert!(decoded.width() > 0 && decoded.width() <= 1500);

        // Two sends of the same file: one upload to Meta, both sent by Meta's id.
        for caption in ["first", "second"] {
            let (status, v) = host
                .api(
                    "POST",
                    "/v1/tenants/acme/messages",
                    Some(json!({"to": CUSTOMER, "type": "image",
                                "image": {"id": up["id"], "caption": caption}})),
                )
                .await;
            assert_eq!(status, 202, "{v}");
        }
        let sent = eventually(|| async {
            let s = graph.sent_messages();
            Ok((s.len() == 2).then_some(s))
        })
        .await;
        let sent = match sent {
            Ok(s) => s,
            Err(e) => panic!("{e}: {:?}", host.all("/v1/tenants/acme/outbox").await),
        };
        let uploads: Vec<_> = graph
            .requests()
            .into_iter()
            .filter(|r| r.path == format!("/{VERSION}/{FIXTURE_PNID}/media"))
            .collect();
        assert_eq!(uploads.len(), 1, "Meta's id is reused for the second send");
        let RecordedBody::Multipart(_) = &uploads[0].body else {
            panic!("the upload is multipart");
        };
        let body = &uploads[0].body;
        assert_eq!(body.part("messaging_product").unwrap().bytes, b"whatsapp");
        assert_eq!(body.part("type").unwrap().bytes, b"image/jpeg");
        let file = body.part("file").unwrap();
        assert_eq!(
            sha_hex(&file.bytes),
            sha,
            "Meta got exactly the stored JPEG"
        );
        assert_eq!(file.content_type.as_deref(), Some("image/jpeg"));
        for s in &sent {
            let id = s.body["image"]["id"].as_str().unwrap();
            assert!(!id.starts_with("scrm:"), "sent by Meta's id, got {id}");
            let (bytes, mime) = graph.media(id).expect("the id Meta answered");
            assert_eq!(
                (sha_hex(&bytes), mime.as_str()),
                (sha.clone(), "image/jpeg")
            );
        }
        assert_eq!(sent[0].body["image"]["caption"], "first");
        // The outbox keeps the request as given.
        let outbox = host.all("/v1/tenants/acme/outbox?state=sent").await;
        assert!(
            outbox.iter().all(|o| o["body"]["image"]["id"] == up["id"]),
            "{outbox:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_upload_is_a_failed_send_handled_by_its_code() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = start(dir.path(), graph.url()).await;
        open_window(&host, "wamid.open2").await;
        let (status, up) = upload(
            &host,
            b"%PDF-1.7 terms".to_vec(),
            "terms.pdf",
            "application/pdf",
            None,
        )
        .await;
        assert_eq!(status, 201, "{up}");
        assert_eq!(up["type"], "document");
        // The upload answers a 5xx once, then works: the send is retried and goes.
        graph.fail_next_for(FIXTURE_PNID, scrm_e2e::graph::Fault::Status(503));
        let (status, v) = host
            .api(
                "POST",
                "/v1/tenants/acme/messages",
                Some(json!({"to": CUSTOMER, "type": "document",
                            "document": {"id": up["id"], "filename": "terms.pdf"}})),
            )
            .await;
        assert_eq!(status, 202, "{v}");
        let sent = eventually(|| async {
            let s = graph.sent_messages();
            Ok((s.len() == 1).then_some(s))
        })
        .await
        .unwrap();
        let id = sent[0].body["document"]["id"].as_str().unwrap();
        assert_eq!(graph.media(id).unwrap().0, b"%PDF-1.7 terms");
        let item = eventually(|| async {
            let item = host
                .ok("GET", &format!("/v1/tenants/acme/outbox/{}", v["id"]), None)
                .await;
            Ok((item["state"] != "sending" && item["state"] != "queued").then_some(item))
        })
        .await
        .unwrap();
        assert_eq!(item["state"], "sent", "{item}");
        assert_eq!(item["attempts"], 2, "{item}");
    }

    #[tokio::test]
    async fn media_meta_would_refuse_is_refused_at_upload_or_submit() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = start(dir.path(), graph.url()).await;
        open_window(&host, "wamid.open3").await;
        let send = |media: Value| {
            let host = &host;
            async move {
                host.api(
                    "POST",
                    "/v1/tenants/acme/messages",
                    Some(json!({"to": CUSTOMER, "type": media["t"], media["t"].as_str().unwrap(): media["o"]})),
                )
                .await
            }
        };

        // An id scrm never stored.
        let (status, v) =
            send(json!({"t": "image", "o": {"id": format!("scrm:{}", "ab".repeat(32))}})).await;
        assert_eq!(status, 422, "{v}");
        assert_eq!(v["error"]["code"], "unknown_media");

        // A sticker over 100 KB (not animated).
        let big_webp = {
            let mut b = b"RIFF\0\0\0\0WEBPVP8 ".to_vec();
            b.resize(150_000, 7);
            b
        };
        let (status, v) = upload(&host, big_webp, "s.webp", "image/webp", Some("sticker")).await;
        assert_eq!(status, 422, "{v}");
        assert_eq!(v["error"]["code"], "media_too_large");

        // A WAV file as audio: Meta takes AAC, AMR, MP3, MP4 and OGG only.
        let (status, v) = upload(
            &host,
            b"RIFF\0\0\0\0WAVEfmt ".to_vec(),
            "a.wav",
            "audio/wav",
            None,
        )
        .await;
        assert_eq!(status, 422, "{v}");
        assert_eq!(v["error"]["code"], "unsupported_media_type");

        // Stored as a document, a 6 MB JPEG cannot be sent as an image.
        let jpeg = {
            let mut b = noisy_image(32, 32, ImageFormat::Jpeg);
            b.resize(6_000_000, 0);
            b
        };
        let (status, doc) = upload(&host, jpeg, "big.jpg", "image/jpeg", Some("document")).await;
        assert_eq!(status, 201, "{doc}");
        let (status, v) = send(json!({"t": "image", "o": {"id": doc["id"]}})).await;
        assert_eq!(status, 422, "{v}");
        assert_eq!(v["error"]["code"], "media_too_large");
        let (status, v) = send(json!({"t": "document", "o": {"id": doc["id"]}})).await;
        assert_eq!(status, 202, "{v}");

        // A PDF is no image; an upload without a file is refused.
        let (status, v) = upload(
            &host,
            b"%PDF-1.7".to_vec(),
            "x.pdf",
            "application/pdf",
            Some("image"),
        )
        .await;
        assert_eq!(status, 422, "{v}");
        assert_eq!(v["error"]["code"], "invalid_image");
        let resp = host
            .http
            .post(format!("{}/v1/tenants/acme/media", host.base))
            .bearer_auth(scrm_e2e::TOKEN)
            .multipart(reqwest::multipart::Form::new().text("type", "image"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_multipart");
    }
}
