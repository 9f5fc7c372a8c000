//! The WebSocket to the signaling server.
//!
//! See <https://developer.mozilla.org/en-US/docs/Web/API/WebSocket>.

use super::Error;
use crate::core::json;
use futures_channel::mpsc;
use futures_util::StreamExt;
use gloo_events::EventListener;
use peerlink_protocol::SignalPayload;
use serde::de::IgnoredAny;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// A frame this client sends: its signals carry a [`SignalPayload`].
pub type ClientMessage = peerlink_protocol::ClientMessage<json::Nested<SignalPayload>>;
/// A frame this client receives, with a relayed signal's `data` read as a
/// [`SignalData`].
pub type ServerMessage = peerlink_protocol::ServerMessage<SignalData>;

/// The `data` of a relayed signal. The server relays whatever a peer sent, so a
/// payload this client cannot read is reported for that signal alone instead of
/// making the whole frame invalid.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalData {
    Payload(SignalPayload),
    Invalid(String),
}

/// Reads one text frame from the server.
///
/// A signal's `data` is decoded on its own, from the parsed JS object, after the
/// frame: [`json`] moves the tag of the value it decodes, not of one nested in it,
/// and a payload this client cannot read spoils only that signal.
pub(crate) fn read_frame(text: &str) -> Result<ServerMessage, String> {
    let value = json::parse_js(text)?;
    let frame: peerlink_protocol::ServerMessage<IgnoredAny> = json::from_js(value.clone())?;
    Ok(frame.map_data(|_| {
        let data =
            js_sys::Reflect::get(&value, &JsValue::from_str("data")).unwrap_or(JsValue::UNDEFINED);
        match json::from_js::<SignalPayload>(data) {
            Ok(payload) => SignalData::Payload(payload),
            Err(e) => SignalData::Invalid(e),
        }
    }))
}

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
                    return Some(match read_frame(&text) {
                        Ok(msg) => SignalingEvent::Message(msg),
                        Err(e) => SignalingEvent::Invalid(e),
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
    ws.send_with_str(&json::to_string(msg)).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerlink_protocol::{ErrorCode, IceServer, PeerInfo};
    use wasm_bindgen_test::wasm_bindgen_test;

    // Frames as the server (serde_json) writes them, read with the browser's JSON.
    #[wasm_bindgen_test]
    fn reads_server_frames() {
        let welcome = r#"{"type":"welcome","id":"a","peers":[{"id":"b","name":"Bo"}],"ice_servers":[{"urls":["turn:x"],"username":"u","credential":"c"}],"max_peers":8}"#;
        assert_eq!(
            read_frame(welcome),
            Ok(ServerMessage::Welcome {
                id: "a".into(),
                peers: vec![PeerInfo {
                    id: "b".into(),
                    name: "Bo".into()
                }],
                ice_servers: vec![IceServer {
                    urls: vec!["turn:x".into()],
                    username: Some("u".into()),
                    credential: Some("c".into()),
                }],
                max_peers: 8,
            })
        );
        assert_eq!(
            read_frame(r#"{"type":"error","code":"room_full","message":"full"}"#),
            Ok(ServerMessage::Error {
                code: ErrorCode::RoomFull,
                message: "full".into()
            })
        );
        assert_eq!(read_frame(r#"{"type":"pong"}"#), Ok(ServerMessage::Pong));
        // A later server may add fields to a pong: still a pong.
        assert_eq!(
            read_frame(r#"{"type":"pong","time":1}"#),
            Ok(ServerMessage::Pong)
        );
        assert!(read_frame(r#"{"type":"hello"}"#).is_err());
        assert!(read_frame("{").is_err());
        assert!(read_frame(r#"{"type":"signal","from":"b"}"#).is_err());
    }

    #[wasm_bindgen_test]
    fn a_bad_signal_payload_spoils_only_its_signal() {
        let good = r#"{"type":"signal","from":"b","data":{"kind":"description","sdp_type":"offer","sdp":"v=0"}}"#;
        assert_eq!(
            read_frame(good),
            Ok(ServerMessage::Signal {
                from: "b".into(),
                data: SignalData::Payload(SignalPayload::Description {
                    sdp_type: "offer".into(),
                    sdp: "v=0".into()
                })
            })
        );
        for bad in [r#"{"x":1}"#, "5", "null", r#"{"kind":"candidate"}"#] {
            let frame = format!(r#"{{"type":"signal","from":"b","data":{bad}}}"#);
            assert!(
                matches!(
                    read_frame(&frame),
                    Ok(ServerMessage::Signal { data: SignalData::Invalid(e), .. }) if !e.is_empty()
                ),
                "{frame}"
            );
        }
    }

    #[wasm_bindgen_test]
    fn writes_client_frames_as_the_server_reads_them() {
        let signal = ClientMessage::Signal {
            to: "p1".into(),
            data: json::Nested(SignalPayload::Candidate {
                candidate: "c".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
            }),
        };
        assert_eq!(
            json::to_string(&signal),
            r#"{"type":"signal","to":"p1","data":{"kind":"candidate","candidate":"c","sdp_mid":"0","sdp_m_line_index":0}}"#
        );
        let join = ClientMessage::Join {
            room: "r".into(),
            name: "Ann".into(),
            password: None,
            resume: Some("t".into()),
        };
        assert_eq!(
            json::to_string(&join),
            r#"{"type":"join","room":"r","name":"Ann","resume":"t"}"#
        );
        assert_eq!(json::to_string(&ClientMessage::Ping), r#"{"type":"ping"}"#);
    }

    #[wasm_bindgen_test]
    fn relink_signals_go_both_ways() {
        for (payload, kind) in [
            (SignalPayload::Relink, "relink"),
            (SignalPayload::RelinkAck, "relink_ack"),
        ] {
            let out = ClientMessage::Signal {
                to: "p1".into(),
                data: json::Nested(payload.clone()),
            };
            assert_eq!(
                json::to_string(&out),
                format!(r#"{{"type":"signal","to":"p1","data":{{"kind":"{kind}"}}}}"#)
            );
            let frame = format!(r#"{{"type":"signal","from":"b","data":{{"kind":"{kind}"}}}}"#);
            assert_eq!(
                read_frame(&frame),
                Ok(ServerMessage::Signal {
                    from: "b".into(),
                    data: SignalData::Payload(payload)
                })
            );
        }
    }
}
