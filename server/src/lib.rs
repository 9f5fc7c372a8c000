//! `peerlink-server`: the peerlink signaling server.
//!
//! Clients open a WebSocket on `/ws`, join a room, and relay WebRTC signaling
//! (offers, answers, ICE candidates) to other members of that room as JSON text
//! frames defined by [`peerlink_protocol`]. The server never interprets the
//! signal payloads. The same port can also serve the built page (`--static`) and
//! answers `GET /healthz`.
//!
//! The server runs in-process for tests:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = peerlink_server::Server::bind("127.0.0.1:0", Default::default()).await?;
//! println!("ws://{}/ws", server.local_addr());
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Layout: [`config`] (settings), `rooms` (membership and delivery), `connection`
//! (one WebSocket: frame checks, rate limit, keep-alive, outbound queue),
//! `rate_limit` (token bucket), [`cli`] (the command line) and this module (HTTP
//! routes and the [`Server`] handle).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod config;
mod connection;
mod rate_limit;
mod rooms;

pub use config::{Config, HARD_FRAME_CAP_BYTES};
pub use rate_limit::RateLimit;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use connection::Shared;
use rooms::Rooms;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

/// Read buffer per connection. Signaling frames are small and most connections
/// sit idle, so this stays well below tungstenite's 128 KiB default; larger frames
/// still arrive, the buffer just grows for them.
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Bytes buffered before a write goes to the socket (each send flushes anyway).
const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// Upper bound on one connection's unsent bytes inside the WebSocket layer; the
/// outbound queue in front of it is bounded by frame count.
const MAX_WRITE_BUFFER_BYTES: usize = HARD_FRAME_CAP_BYTES;
/// How long [`Server::shutdown`] waits for connections before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running server. Dropping it also starts a graceful shutdown.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<io::Result<()>>,
    /// Yields `None` once every connection task has ended (see `Shared::_alive`).
    connections_done: mpsc::Receiver<()>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and starts serving.
    pub async fn bind(addr: impl ToSocketAddrs, config: Config) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Self::from_listener(listener, config)
    }

    /// Starts serving on an already bound listener.
    pub fn from_listener(listener: TcpListener, config: Config) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (stop, stopping) = watch::channel(false);
        let (alive, connections_done) = mpsc::channel(1);
        let app = router(config, stopping.clone(), alive)
            .into_make_service_with_connect_info::<SocketAddr>();
        let mut graceful = stopping;
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // An error means the handle was dropped: stop as well.
                    let _ = graceful.wait_for(|stopping| *stopping).await;
                })
                .await
        });
        Ok(Self {
            local_addr,
            stop,
            task,
            connections_done,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `signal` completes, then shuts down gracefully. Returns early
    /// with the error if the server fails first.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> io::Result<()> {
        tokio::select! {
            result = &mut self.task => return flatten(result),
            () = signal => {}
        }
        self.shutdown().await
    }

    /// Stops accepting connections, closes every WebSocket (with close code 1001)
    /// and waits for the server and every connection to finish, for at most a
    /// few seconds.
    pub async fn shutdown(mut self) -> io::Result<()> {
        self.stop.send_replace(true);
        // axum's graceful shutdown waits for HTTP connections, but upgraded
        // WebSockets run in their own tasks, so wait for those separately.
        let everything = async {
            let served = (&mut self.task).await;
            let _ = self.connections_done.recv().await;
            served
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, everything).await {
            Ok(result) => flatten(result),
            Err(_elapsed) => {
                tracing::warn!("connections did not close in time; dropping them");
                self.task.abort();
                Ok(())
            }
        }
    }
}

fn flatten(result: Result<io::Result<()>, tokio::task::JoinError>) -> io::Result<()> {
    result.map_err(io::Error::other)?
}

/// The HTTP routes: `/ws`, `/healthz`, and the static page if configured.
fn router(config: Config, stopping: watch::Receiver<bool>, alive: mpsc::Sender<()>) -> Router {
    let static_dir = config.static_dir.clone();
    let shared = Arc::new(Shared {
        rooms: Rooms::new(config.max_peers, config.ice_servers.clone()),
        config,
        shutdown: stopping,
        _alive: alive,
    });
    let mut router = Router::new()
        .route("/ws", get(websocket))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(shared);
    if let Some(dir) = static_dir {
        let index = ServeFile::new(dir.join("index.html"));
        router = router.fallback_service(ServeDir::new(dir).fallback(index));
    }
    router.layer(TraceLayer::new_for_http())
}

/// Upgrades `/ws` with the frame caps and buffer sizes the server relies on.
async fn websocket(
    upgrade: WebSocketUpgrade,
    State(shared): State<Arc<Shared>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
) -> Response {
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(HARD_FRAME_CAP_BYTES)
        .max_frame_size(HARD_FRAME_CAP_BYTES)
        .on_upgrade(move |socket| connection::run(socket, shared, remote))
}
