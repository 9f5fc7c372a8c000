//! Server settings, built by the CLI or directly by tests.

use crate::rate_limit::RateLimit;
use peerlink_protocol::IceServer;
use std::path::PathBuf;
use std::time::Duration;

/// Hard cap on one WebSocket message or frame, in bytes. Text frames above
/// [`peerlink_protocol::MAX_TEXT_FRAME_BYTES`] but below this get a `too_large`
/// error and the connection stays open; above this the WebSocket library refuses
/// to buffer the frame and the connection is closed.
pub const HARD_FRAME_CAP_BYTES: usize = 256 * 1024;

/// Everything [`crate::Server`] needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory with the built page, served on every path other than `/ws` and
    /// `/healthz`, with `index.html` as the fallback for unknown paths.
    pub static_dir: Option<PathBuf>,
    /// Room capacity.
    pub max_peers: usize,
    /// ICE servers handed to every client in its welcome.
    pub ice_servers: Vec<IceServer>,
    /// Per-connection limit on incoming frames.
    pub rate_limit: RateLimit,
    /// At most one `rate_limited` error per this interval per connection.
    pub rate_notice_interval: Duration,
    /// How often the server sends a WebSocket ping to every connection.
    pub ping_interval: Duration,
    /// A connection that sends nothing (not even a pong) for this long is dropped.
    pub idle_timeout: Duration,
    /// Frames queued for one client before it is considered too slow and dropped.
    pub outbound_queue: usize,
    /// How long a closing connection may take to flush its queue and close frame.
    pub close_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            static_dir: None,
            max_peers: 8,
            ice_servers: Vec::new(),
            rate_limit: RateLimit::default(),
            rate_notice_interval: Duration::from_secs(1),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            outbound_queue: 256,
            close_grace: Duration::from_secs(2),
        }
    }
}
