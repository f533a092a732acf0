//! Serving an axum [`Router`] on a loopback port: how the local stand-ins for Meta's
//! Cloud API and the CRMs ([`crate::graph`], [`crate::hubspot`], [`crate::zoho`],
//! [`crate::salesforce`]) run.
//!
//! A server binds a port with [`Listener::loopback`], builds its [`Shared`] state
//! from the address (its answers carry URLs of itself), then [`Listener::serve`]s a
//! router over that state. One that goes down and comes back on the same port
//! [`Running::stop`]s and [`Listener::rebind`]s.
//!
//! ```no_run
//! # async fn demo() {
//! use scrm_e2e::serve::{Listener, Shared};
//! use std::sync::Arc;
//! let listener = Listener::loopback().await;
//! let shared = Arc::new(Shared::new(listener.addr(), Vec::<String>::new()));
//! let app = |s: &Arc<Shared<Vec<String>>>| axum::Router::new().with_state(s.clone());
//! let running = listener.serve(app(&shared));
//! running.stop().await; // the port refuses connections from here on
//! let _again = Listener::rebind(shared.addr).await.serve(app(&shared));
//! # }
//! ```

use axum::Router;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What a local server's handlers and its test-facing methods share: its address
/// and its data.
#[derive(Debug)]
pub struct Shared<T> {
    /// Where the server listens.
    pub addr: SocketAddr,
    data: Mutex<T>,
}

impl<T> Shared<T> {
    /// The state of a server on `addr` holding `data`.
    pub fn new(addr: SocketAddr, data: T) -> Shared<T> {
        Shared {
            addr,
            data: Mutex::new(data),
        }
    }

    /// `http://127.0.0.1:PORT`: the server's base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The data, locked. A handler that panicked while holding it does not poison it
    /// for the rest of the test: its assertion is the failure worth reading.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A bound loopback port, not serving yet.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// Binds a free port on `127.0.0.1`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn loopback() -> Listener {
        Listener::bind("127.0.0.1:0".parse().expect("loopback address")).await
    }

    /// Binds `addr` again, for a server that comes back on the port it had.
    ///
    /// # Panics
    /// When `addr` cannot be bound (another process took the port meanwhile).
    pub async fn rebind(addr: SocketAddr) -> Listener {
        Listener::bind(addr).await
    }

    async fn bind(addr: SocketAddr) -> Listener {
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().expect("local addr");
        Listener { listener, addr }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `app` on this port, in a task of the current runtime.
    pub fn serve(self, app: Router) -> Running {
        let handle = tokio::spawn(async move {
            // The task ends only when aborted; a failing accept loop has no one to tell.
            let _ = axum::serve(self.listener, app).await;
        });
        Running {
            addr: self.addr,
            handle,
        }
    }
}

/// A server task; aborted when dropped, which closes its port.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    handle: JoinHandle<()>,
}

impl Running {
    /// Stops serving and returns once the port is closed (connections are refused).
    pub async fn stop(mut self) {
        self.handle.abort();
        let _ = (&mut self.handle).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
