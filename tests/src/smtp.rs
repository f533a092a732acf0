//! A local SMTP server (`mailin-embedded`) that keeps every message it is given, for
//! the tests of reports and alerts by email; and a local alert webhook that keeps
//! every request.

use crate::serve;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use mailin_embedded::response::{OK, Response};
use mailin_embedded::{Handler, Server, SslConfig};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

/// A message the server accepted.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// `MAIL FROM`.
    pub from: String,
    /// `RCPT TO`, each.
    pub to: Vec<String>,
    /// The message as sent (headers and MIME body).
    pub data: String,
}

#[derive(Clone, Default)]
struct Keep {
    current: Mail,
    all: Arc<Mutex<Vec<Mail>>>,
}

impl Handler for Keep {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.current = Mail {
            from: from.to_string(),
            ..Mail::default()
        };
        OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        self.current.to.push(to.to_string());
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = std::mem::take(&mut self.current);
        self.all.lock().expect("mails").push(mail);
        OK
    }
}

/// A running SMTP server on a loopback port (no TLS, no authentication), serving
/// on a thread of its own until the test process ends.
#[derive(Clone)]
pub struct Smtp {
    /// Where it listens.
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp").field("addr", &self.addr).finish()
    }
}

impl Smtp {
    /// Starts one.
    ///
    /// # Panics
    /// When no port can be bound.
    pub fn start() -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an SMTP port");
        let addr = listener.local_addr().expect("address");
        let keep = Keep::default();
        let mails = keep.all.clone();
        let mut server = Server::new(keep);
        server
            .with_name("mail.scrm.test")
            .with_ssl(SslConfig::None)
            .expect("no TLS")
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Smtp { addr, mails }
    }

    /// The URL the host is configured with.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("mails").clone()
    }
}

/// A request the webhook received.
#[derive(Debug, Clone)]
pub struct Hook {
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// A local webhook receiver answering 200 to `POST /hook`.
#[derive(Debug)]
pub struct Webhook {
    shared: Arc<serve::Shared<Vec<Hook>>>,
    _server: serve::Running,
}

async fn hook(
    State(s): State<Arc<serve::Shared<Vec<Hook>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    s.lock().push(Hook { headers, body });
    "ok"
}

impl Webhook {
    /// Starts one.
    pub async fn start() -> Webhook {
        let listener = serve::Listener::loopback().await;
        let shared = Arc::new(serve::Shared::new(listener.addr(), Vec::new()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(shared.clone());
        Webhook {
            _server: listener.serve(app),
            shared,
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("{}/hook", self.shared.base())
    }

    /// What it received.
    pub fn received(&self) -> Vec<Hook> {
        self.shared.lock().clone()
    }
}
