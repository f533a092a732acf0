//! The bare reference receiver the ingest benchmark measures scrm against: a
//! WhatsApp webhook receiver with nothing but hyper and rusqlite.
//!
//! For each `POST /webhooks/whatsapp` it verifies `X-Hub-Signature-256` against
//! `BARE_APP_SECRET`, parses the body, tags each message with a few native keyword
//! rules, and hands the messages to one writer thread. The writer inserts every
//! message waiting in one transaction (SQLite in WAL mode with `synchronous=FULL`:
//! a group commit) and only then are the requests answered `200`. A message id seen
//! before is not stored twice. Nothing else: no tenants, contacts, conversations,
//! plugins, outbox or CRM.
//!
//! Usage: `bare-receiver DB_PATH` — binds a free loopback port, prints
//! `listening on 127.0.0.1:PORT` on stdout, and serves until killed.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::io::Write;
use std::sync::mpsc;

/// One stored message.
struct Message {
    wamid: String,
    from: String,
    timestamp: i64,
    body: String,
    tags: String,
}

/// A request's messages and the answer it waits for.
struct Job {
    messages: Vec<Message>,
    done: tokio::sync::oneshot::Sender<bool>,
}

/// The native rules: a tag for each keyword family found in the text.
const RULES: &[(&str, &[&str])] = &[
    ("price", &["price", "cost", "prezzo", "costa", "quanto"]),
    (
        "order",
        &["order", "ordine", "delivery", "spedizione", "track"],
    ),
    ("refund", &["refund", "rimborso", "cancel", "annulla"]),
    ("complaint", &["complaint", "broken", "rotto", "reclamo"]),
];

fn tags(text: &str) -> String {
    let text = text.to_lowercase();
    RULES
        .iter()
        .filter(|(_, words)| words.iter().any(|w| text.contains(w)))
        .map(|(tag, _)| *tag)
        .collect::<Vec<_>>()
        .join(",")
}

fn verified(secret: &[u8], signature: Option<&str>, body: &[u8]) -> bool {
    use hmac::{Hmac, Mac};
    let Some(hex_sig) = signature.and_then(|s| s.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The messages of a Cloud API `messages` notification.
fn parse(body: &[u8]) -> Option<Vec<Message>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut out = Vec::new();
    for entry in v["entry"].as_array()? {
        for change in entry["changes"].as_array().into_iter().flatten() {
            for m in change["value"]["messages"].as_array().into_iter().flatten() {
                let text = m["text"]["body"].as_str().unwrap_or_default();
                out.push(Message {
                    wamid: m["id"].as_str()?.to_string(),
                    from: m["from"].as_str()?.to_string(),
                    timestamp: m["timestamp"].as_str()?.parse().ok()?,
                    body: text.to_string(),
                    tags: tags(text),
                });
            }
        }
    }
    Some(out)
}

/// The writer thread: one transaction for everything waiting, then the answers.
fn writer(path: &str, jobs: mpsc::Receiver<Job>) -> rusqlite::Result<()> {
    let mut db = rusqlite::Connection::open(path)?;
    db.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS messages (
             wamid TEXT PRIMARY KEY, sender TEXT NOT NULL, timestamp INTEGER NOT NULL,
             body TEXT NOT NULL, tags TEXT NOT NULL) STRICT;",
    )?;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while let Ok(more) = jobs.try_recv() {
            batch.push(more);
        }
        let tx = db.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO messages (wamid, sender, timestamp, body, tags)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (wamid) DO NOTHING",
            )?;
            for job in &batch {
                for m in &job.messages {
                    insert.execute((&m.wamid, &m.from, m.timestamp, &m.body, &m.tags))?;
                }
            }
        }
        tx.commit()?;
        for job in batch {
            let _ = job.done.send(true);
        }
    }
    Ok(())
}

fn answer(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

async fn handle(
    req: Request<Incoming>,
    secret: std::sync::Arc<Vec<u8>>,
    jobs: mpsc::Sender<Job>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if req.method() != hyper::Method::POST || req.uri().path() != "/webhooks/whatsapp" {
        return Ok(answer(StatusCode::NOT_FOUND));
    }
    let signature = req
        .headers()
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = req.into_body().collect().await?.to_bytes();
    if !verified(&secret, signature.as_deref(), &body) {
        return Ok(answer(StatusCode::UNAUTHORIZED));
    }
    let Some(messages) = parse(&body) else {
        return Ok(answer(StatusCode::BAD_REQUEST));
    };
    let (done, stored) = tokio::sync::oneshot::channel();
    if jobs.send(Job { messages, done }).is_err() {
        return Ok(answer(StatusCode::SERVICE_UNAVAILABLE));
    }
    Ok(match stored.await {
        Ok(true) => answer(StatusCode::OK),
        _ => answer(StatusCode::SERVICE_UNAVAILABLE),
    })
}

#[tokio::main]
async fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: bare-receiver DB_PATH");
    let secret = std::sync::Arc::new(
        std::env::var("BARE_APP_SECRET")
            .expect("BARE_APP_SECRET")
            .into_bytes(),
    );
    let (jobs, queue) = mpsc::channel::<Job>();
    std::thread::spawn(move || {
        if let Err(e) = writer(&path, queue) {
            eprintln!("bare-receiver: database: {e}");
            std::process::exit(1);
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("address");
    println!("listening on {addr}");
    std::io::stdout().flush().expect("stdout");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (secret, jobs) = (secret.clone(), jobs.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, secret.clone(), jobs.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
