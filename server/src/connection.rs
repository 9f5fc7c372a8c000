//! One WebSocket connection: reading and checking client frames, and writing the
//! connection's outbound queue.
//!
//! Each connection runs two tasks. The reader (this module's [`run`]) parses
//! frames, applies the rate limit and talks to [`Rooms`]; the writer drains the
//! connection's bounded [`Outbox`] into the socket and sends keep-alive pings. A
//! client that stops reading fills only its own queue, and is then dropped.

use crate::rate_limit::{NoticeThrottle, TokenBucket};
use crate::rooms::{Membership, Outbox, Rooms};
use crate::Config;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use peerlink_protocol::{ClientMessage, ErrorCode, ServerMessage, MAX_TEXT_FRAME_BYTES};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{interval_at, timeout, MissedTickBehavior};

/// WebSocket close codes (RFC 6455 §7.4.1) the server sends.
mod close_code {
    /// The server is shutting down, or the connection went silent.
    pub(super) const GOING_AWAY: u16 = 1001;
    /// A text frame that is not valid UTF-8.
    pub(super) const INVALID_PAYLOAD: u16 = 1007;
    /// A message larger than the hard cap.
    pub(super) const TOO_BIG: u16 = 1009;
    /// The socket failed in some other way.
    pub(super) const PROTOCOL_ERROR: u16 = 1002;
    /// A newer connection resumed this peer (application code, 4000–4999).
    pub(super) const REPLACED: u16 = 4000;
}

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) rooms: Rooms,
    pub(crate) config: Config,
    /// Becomes `true` when the server starts shutting down.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Never used to send: every connection task holds an `Arc<Shared>`, so this
    /// sender is dropped (and [`crate::Server`]'s receiver sees the channel
    /// close) only once the router and every connection are gone.
    pub(crate) _alive: mpsc::Sender<()>,
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The client closed the socket (close frame or EOF).
    ClientClosed,
    /// Nothing arrived within the idle timeout.
    Idle,
    /// The outbound queue overflowed: the client is not reading.
    TooSlow,
    /// The server is shutting down.
    Shutdown,
    /// A newer connection joined with this one's resume token.
    Replaced,
    /// The WebSocket layer failed, e.g. a frame above the hard cap.
    Failed(axum::Error),
    /// The writer stopped because writing to the socket failed.
    WriterGone,
}

impl End {
    /// The close frame to send, if any is worth sending.
    fn close_frame(&self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            End::ClientClosed | End::TooSlow | End::WriterGone => return None,
            End::Idle => (close_code::GOING_AWAY, "idle timeout"),
            End::Shutdown => (close_code::GOING_AWAY, "server shutting down"),
            End::Replaced => (close_code::REPLACED, "replaced by a newer connection"),
            End::Failed(error) => failure_close(error),
        };
        Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })
    }
}

/// The close code and reason for a WebSocket-layer failure. axum wraps
/// tungstenite's error opaquely, so this goes by its text.
fn failure_close(error: &axum::Error) -> (u16, &'static str) {
    let text = error.to_string().to_ascii_lowercase();
    if text.contains("space limit exceeded") || text.contains("message too long") {
        (close_code::TOO_BIG, "message too large")
    } else if text.contains("utf-8") {
        (close_code::INVALID_PAYLOAD, "text frame is not valid UTF-8")
    } else {
        (close_code::PROTOCOL_ERROR, "websocket protocol error")
    }
}

/// Serves one upgraded WebSocket until it closes, then removes the peer from its
/// room (which tells the others).
pub(crate) async fn run(socket: WebSocket, shared: Arc<Shared>, remote: SocketAddr) {
    let config = &shared.config;
    let (outbox, queue, overflowed) = Outbox::new(config.outbound_queue);
    let evicted = outbox.evicted();
    let (sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(write_loop(sink, queue, config.ping_interval));
    let mut shutdown = shared.shutdown.clone();
    let mut reader = Reader {
        shared: &shared,
        outbox,
        membership: None,
        bucket: TokenBucket::new(config.rate_limit, Instant::now()),
        rate_notices: NoticeThrottle::new(config.rate_notice_interval),
    };
    tracing::debug!(%remote, "websocket connected");

    let end = loop {
        let reply = tokio::select! {
            frame = timeout(config.idle_timeout, stream.next()) => match frame {
                Err(_elapsed) => break End::Idle,
                Ok(None) => break End::ClientClosed,
                Ok(Some(Err(error))) => break End::Failed(error),
                Ok(Some(Ok(message))) => match reader.on_message(message, Instant::now()) {
                    ControlFlow::Break(()) => break End::ClientClosed,
                    ControlFlow::Continue(reply) => reply,
                },
            },
            () = overflowed.notified() => break End::TooSlow,
            () = evicted.notified() => break End::Replaced,
            // An error means the server handle is gone: shut down too.
            _ = shutdown.wait_for(|stopping| *stopping) => break End::Shutdown,
        };
        let Some(reply) = reply else { continue };
        // Replies to the client's own frames wait for room in its queue, so a
        // client that sends faster than it reads is slowed down (we stop reading
        // it) rather than dropped. One that stops reading altogether still ends.
        let frame = Utf8Bytes::from(reply.to_json());
        tokio::select! {
            sent = timeout(config.idle_timeout, reader.outbox.send_waiting(frame)) => match sent {
                Ok(Ok(())) => {}
                Ok(Err(_writer_gone)) => break End::WriterGone,
                Err(_elapsed) => break End::TooSlow,
            },
            () = overflowed.notified() => break End::TooSlow,
            _ = shutdown.wait_for(|stopping| *stopping) => break End::Shutdown,
        }
    };

    let peer = reader.membership.as_ref().map(|m| m.id.clone());
    tracing::info!(%remote, peer = peer.as_deref().unwrap_or("-"), reason = ?end, "websocket closed");
    if let Some(membership) = reader.membership.take() {
        shared.rooms.leave(&membership);
    }
    // The room no longer holds a clone of the outbox, so dropping this one closes
    // the queue and the writer finishes once it has sent what is queued.
    drop(reader);
    finish(&mut writer, &mut stream, end, config.close_grace).await;
}

/// Lets the writer flush, sends a close frame and waits for the client's close
/// reply, all within `grace`. Reading until the reply (rather than dropping the
/// socket at once) keeps late client frames from turning into a TCP reset that
/// would destroy the close frame in flight. A client that is not reading gets
/// none of this.
async fn finish(
    writer: &mut JoinHandle<Option<WsSink>>,
    stream: &mut SplitStream<WebSocket>,
    end: End,
    grace: Duration,
) {
    if matches!(end, End::TooSlow) {
        writer.abort();
        return;
    }
    let closing = async {
        let Ok(Some(mut sink)) = (&mut *writer).await else {
            return;
        };
        if let Some(frame) = end.close_frame() {
            // The socket may already be gone; there is nobody left to tell.
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        let _ = sink.flush().await;
        if !matches!(end, End::ClientClosed | End::Failed(_) | End::WriterGone) {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        }
    };
    if timeout(grace, closing).await.is_err() {
        writer.abort();
    }
}

type WsSink = SplitSink<WebSocket, Message>;

/// Drains the outbound queue into the socket and pings the client every
/// `ping_interval`. Returns the sink once the queue is closed, so the caller can
/// send a close frame, or `None` if the socket failed.
async fn write_loop(
    mut sink: WsSink,
    mut queue: mpsc::Receiver<Utf8Bytes>,
    ping_interval: Duration,
) -> Option<WsSink> {
    let start = tokio::time::Instant::now() + ping_interval;
    let mut pings = interval_at(start, ping_interval);
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let message = tokio::select! {
            frame = queue.recv() => match frame {
                Some(frame) => Message::Text(frame),
                None => return Some(sink),
            },
            _ = pings.tick() => Message::Ping(Bytes::new()),
        };
        if let Err(error) = sink.send(message).await {
            tracing::debug!(%error, "websocket write failed");
            return None;
        }
    }
}

/// The reading side's state for one connection.
struct Reader<'a> {
    shared: &'a Shared,
    outbox: Outbox,
    membership: Option<Membership>,
    bucket: TokenBucket,
    rate_notices: NoticeThrottle,
}

impl Reader<'_> {
    /// Handles one incoming WebSocket message, returning the reply for the
    /// client, if any. `Break` means the client closed.
    fn on_message(&mut self, message: Message, now: Instant) -> ControlFlow<(), Reply> {
        let reply = match message {
            Message::Text(text) => match self.admit(now) {
                Ok(()) => self.on_text(&text),
                Err(notice) => notice,
            },
            Message::Binary(_) => match self.admit(now) {
                Ok(()) => refuse(
                    ErrorCode::BinaryFrame,
                    "binary frames are not part of the protocol; send JSON text",
                ),
                Err(notice) => notice,
            },
            // Pings are answered by the WebSocket layer; pongs only prove the
            // client is alive, which reaching this point already recorded.
            Message::Ping(_) | Message::Pong(_) => None,
            Message::Close(_) => return ControlFlow::Break(()),
        };
        ControlFlow::Continue(reply)
    }

    /// Applies the rate limit to one data frame. `Err` drops it, carrying a
    /// `rate_limited` notice at most once per notice interval.
    fn admit(&mut self, now: Instant) -> Result<(), Reply> {
        if self.bucket.try_take(now) {
            Ok(())
        } else if self.rate_notices.allow(now) {
            Err(refuse(
                ErrorCode::RateLimited,
                "too many frames; frames are being dropped",
            ))
        } else {
            Err(None)
        }
    }

    fn on_text(&mut self, text: &str) -> Reply {
        if text.len() > MAX_TEXT_FRAME_BYTES {
            return refuse(
                ErrorCode::TooLarge,
                format!(
                    "frame is {} bytes; the limit is {MAX_TEXT_FRAME_BYTES}",
                    text.len()
                ),
            );
        }
        let message = match ClientMessage::parse(text) {
            Ok(message) => message,
            Err(error) => return refuse(error.code, error.message),
        };
        match message {
            ClientMessage::Ping => Some(ServerMessage::Pong),
            ClientMessage::Join {
                room,
                name,
                password,
                resume,
            } => {
                if self.membership.is_some() {
                    return refuse(
                        ErrorCode::AlreadyJoined,
                        "this connection has already joined a room",
                    );
                }
                // On success the welcome is queued by `join` itself, under the
                // room lock, so it precedes anything relayed to the new peer.
                let rooms = &self.shared.rooms;
                match rooms.join(
                    &room,
                    &name,
                    password.as_deref(),
                    resume.as_deref(),
                    &self.outbox,
                ) {
                    Ok(membership) => {
                        tracing::info!(room = %membership.room, peer = %membership.id, "joined");
                        self.membership = Some(membership);
                        None
                    }
                    Err(refusal) => Some(refusal.to_message()),
                }
            }
            ClientMessage::Signal { to, data } => {
                let Some(membership) = &self.membership else {
                    return refuse(ErrorCode::NotJoined, "join a room before signaling");
                };
                let relayed = self.shared.rooms.relay(membership, &to, data);
                relayed.err().map(|refusal| refusal.to_message())
            }
        }
    }
}

/// What the server answers a client frame with, if anything.
type Reply = Option<ServerMessage>;

fn refuse(code: ErrorCode, message: impl Into<String>) -> Reply {
    Some(ServerMessage::error(code, message))
}
