//! The WebSocket to the signaling server.
//!
//! See <https://developer.mozilla.org/en-US/docs/Web/API/WebSocket>.

use super::Error;
use futures_channel::mpsc;
use futures_util::StreamExt;
use gloo_events::EventListener;
use peerlink_protocol::{ClientMessage, ServerMessage};
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// What arrives from the signaling server.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalingEvent {
    /// A well-formed frame.
    Message(ServerMessage),
    /// A frame that is not valid protocol JSON (it is skipped).
    Invalid(String),
    /// The socket closed; no more events follow.
    Closed { code: u16, reason: String },
}

enum Raw {
    Open,
    Text(String),
    NonText,
    Error,
    Closed { code: u16, reason: String },
}

/// An open WebSocket to the signaling server. Dropping it closes the socket.
pub struct Signaling {
    ws: WebSocket,
    incoming: mpsc::UnboundedReceiver<Raw>,
    _listeners: [EventListener; 4],
}

impl Signaling {
    /// Opens a WebSocket to `url` and waits until it is open.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let unreachable = || Error::SignalingUnreachable {
            url: url.to_owned(),
        };
        let ws = WebSocket::new(url).map_err(|_| unreachable())?;
        let (tx, incoming) = mpsc::unbounded();
        let on = |kind: &'static str, f: fn(&web_sys::Event) -> Raw| {
            let tx = tx.clone();
            EventListener::new(&ws, kind, move |event| {
                // The receiver is gone only when Signaling was dropped.
                let _ = tx.unbounded_send(f(event));
            })
        };
        let listeners = [
            on("open", |_| Raw::Open),
            on("error", |_| Raw::Error),
            on("close", |event| match event.dyn_ref::<CloseEvent>() {
                Some(close) => Raw::Closed {
                    code: close.code(),
                    reason: close.reason(),
                },
                None => Raw::Closed {
                    code: 1006,
                    reason: String::new(),
                },
            }),
            on("message", |event| {
                match event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|m| m.data().as_string())
                {
                    Some(text) => Raw::Text(text),
                    None => Raw::NonText,
                }
            }),
        ];
        let mut signaling = Signaling {
            ws,
            incoming,
            _listeners: listeners,
        };
        loop {
            match signaling.incoming.next().await {
                Some(Raw::Open) => return Ok(signaling),
                Some(Raw::Error | Raw::Closed { .. }) | None => return Err(unreachable()),
                Some(_) => {}
            }
        }
    }

    /// Sends one frame.
    pub fn send(&self, msg: &ClientMessage) -> Result<(), Error> {
        send_on(&self.ws, msg)
    }

    /// A handle that can send on this socket from elsewhere.
    pub fn sender(&self) -> SignalingSender {
        SignalingSender(self.ws.clone())
    }

    /// The next event; `None` after [`SignalingEvent::Closed`].
    pub async fn next(&mut self) -> Option<SignalingEvent> {
        loop {
            match self.incoming.next().await? {
                Raw::Text(text) => {
                    return Some(match serde_json::from_str::<ServerMessage>(&text) {
                        Ok(msg) => SignalingEvent::Message(msg),
                        Err(e) => SignalingEvent::Invalid(e.to_string()),
                    })
                }
                Raw::NonText => {
                    return Some(SignalingEvent::Invalid("unexpected binary frame".into()))
                }
                Raw::Closed { code, reason } => {
                    self.incoming.close();
                    return Some(SignalingEvent::Closed { code, reason });
                }
                Raw::Open | Raw::Error => {}
            }
        }
    }
}

impl Drop for Signaling {
    fn drop(&mut self) {
        let _ = self.ws.close();
    }
}

/// A cloneable sending half of [`Signaling`].
#[derive(Clone)]
pub struct SignalingSender(WebSocket);

impl SignalingSender {
    /// Sends one frame.
    pub fn send(&self, msg: &ClientMessage) -> Result<(), Error> {
        send_on(&self.0, msg)
    }

    /// Closes the socket.
    pub fn close(&self) {
        let _ = self.0.close();
    }
}

fn send_on(ws: &WebSocket, msg: &ClientMessage) -> Result<(), Error> {
    if ws.ready_state() != WebSocket::OPEN {
        return Err(Error::SignalingClosed {
            reason: "socket is not open".into(),
        });
    }
    ws.send_with_str(&msg.to_json()).map_err(Error::from)
}
