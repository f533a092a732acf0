//! A webhook receiver on loopback — a Zapier or Make catch hook, or an app that
//! already took Meta's webhooks — that keeps every request it gets and can be made
//! to fail (answer 500) to see retries.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One request: its headers and body.
pub type Request = (HeaderMap, Bytes);

/// A running receiver.
#[derive(Debug)]
pub struct Catcher {
    /// Where to post (`http://127.0.0.1:PORT/hook`).
    pub url: String,
    seen: Arc<Mutex<Vec<Request>>>,
    failing: Arc<AtomicBool>,
}

impl Catcher {
    /// Starts one, answering 200 `ok`.
    pub async fn start() -> Catcher {
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let failing = Arc::new(AtomicBool::new(false));
        let (sink, down) = (seen.clone(), failing.clone());
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let (sink, down) = (sink.clone(), down.clone());
            async move {
                if down.load(Ordering::SeqCst) {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "down");
                }
                sink.lock().unwrap().push((headers, body));
                (StatusCode::OK, "ok")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Catcher { url, seen, failing }
    }

    /// Answers 500 (and keeps nothing) while `on`.
    pub fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    /// What it accepted so far.
    pub fn got(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until it accepted at least `n` requests; them.
    pub async fn received(&self, n: usize) -> Vec<Request> {
        crate::eventually(|| async {
            let got = self.got();
            Ok((got.len() >= n).then_some(got))
        })
        .await
        .unwrap_or_else(|e| panic!("{n} requests: {e}"))
    }

    /// The `X-Scrm-Event` of each request accepted so far.
    pub fn event_types(&self) -> Vec<String> {
        self.got()
            .iter()
            .filter_map(|(h, _)| h.get("x-scrm-event")?.to_str().ok().map(str::to_owned))
            .collect()
    }
}
