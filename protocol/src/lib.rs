//! Signaling wire types shared by the peerlink client and the signaling server.
//!
//! Every frame is one JSON object with a `"type"` field, sent as a WebSocket text
//! frame on `/ws`. The server relays [`ClientMessage::Signal`] payloads between
//! members of one room without interpreting them; [`SignalPayload`] is what the
//! peerlink client puts inside.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest text frame the server accepts, in bytes. Larger frames get
/// [`ErrorCode::TooLarge`].
pub const MAX_TEXT_FRAME_BYTES: usize = 64 * 1024;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
/// Longest room password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Shortest and longest resume token, in characters (`[A-Za-z0-9_-]`): at least
/// 128 bits of a random hex or base64url secret.
pub const RESUME_TOKEN_CHARS: std::ops::RangeInclusive<usize> = 22..=64;

/// Checks a resume token's shape: 22 to 64 characters of `[A-Za-z0-9_-]`.
pub fn validate_resume_token(token: &str) -> Result<(), String> {
    if !RESUME_TOKEN_CHARS.contains(&token.len()) {
        return Err(format!(
            "resume token is {} characters; it must have {} to {}",
            token.len(),
            RESUME_TOKEN_CHARS.start(),
            RESUME_TOKEN_CHARS.end()
        ));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err("resume token may only contain A-Z, a-z, 0-9, '_' and '-'".into());
    }
    Ok(())
}

/// A peer's id, assigned by the server on join. Unique per server process.
pub type PeerId = String;

/// A frame from a client to the server.
///
/// `D` is the type of a signal's `data`. The server relays it without looking
/// inside, as any JSON value (the default); the peerlink client knows it sends
/// a [`SignalPayload`] and names that type, so its build needs no generic JSON
/// value type.
///
/// In wasm32 the derive is serde's externally tagged form (`{"join":{…}}`), not
/// the wire's: the peerlink client moves the tag itself, on the parsed JS object,
/// which spares its Wasm module serde's buffered decoding of internally tagged
/// enums (see `peerlink::core::json`). Elsewhere it is the wire's form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(tag = "type"))]
#[serde(rename_all = "snake_case")]
pub enum ClientMessage<D = serde_json::Value> {
    /// Join `room` as `name`. The first joiner's password (if any) protects the room.
    Join {
        room: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        /// A secret the client keeps for as long as it wants to stay the same peer
        /// (see [`validate_resume_token`]). The server derives the peer id from it,
        /// so a client that reconnects after losing its socket (or after the server
        /// restarted) comes back under the same id, and a newer socket with the same
        /// token replaces an older one that has not closed yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// Relay `data` to peer `to`, which must be in the same room.
    Signal { to: PeerId, data: D },
    /// Keep-alive; the server answers [`ServerMessage::Pong`].
    Ping,
}

/// The type names [`ClientMessage`] knows, used to tell an unknown type from a
/// malformed known one.
#[cfg(not(target_arch = "wasm32"))]
const CLIENT_TYPES: &[&str] = &["join", "signal", "ping"];

/// Why a client frame could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub code: ErrorCode,
    pub message: String,
}

#[cfg(not(target_arch = "wasm32"))]
impl ClientMessage {
    /// Parses one text frame, classifying failures as [`ErrorCode::BadJson`] (not
    /// JSON, or not an object with a string `type`), [`ErrorCode::UnknownType`] or
    /// [`ErrorCode::BadMessage`] (a known type with missing or wrong fields).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ParseError {
            code: ErrorCode::BadJson,
            message: format!("frame is not valid JSON: {e}"),
        })?;
        let Some(kind) = value.get("type").and_then(|t| t.as_str()) else {
            return Err(ParseError {
                code: ErrorCode::BadJson,
                message: "frame must be a JSON object with a string \"type\" field".into(),
            });
        };
        let kind = kind.to_owned();
        if !CLIENT_TYPES.contains(&kind.as_str()) {
            let shown: String = kind.chars().take(32).collect();
            return Err(ParseError {
                code: ErrorCode::UnknownType,
                message: format!("unknown message type {shown:?}"),
            });
        }
        serde_json::from_value(value).map_err(|e| ParseError {
            code: ErrorCode::BadMessage,
            message: format!("malformed {kind:?} message: {e}"),
        })
    }

    /// Serializes to the JSON text sent on the wire.
    pub fn to_json(&self) -> String {
        // Serializing these plain types to a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A member of a room as other members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub id: PeerId,
    pub name: String,
}

/// An ICE server handed to clients, shaped like WebRTC's `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// A frame from the server to a client. `D` is the type of a relayed signal's
/// `data`, as in [`ClientMessage`].
///
/// In wasm32 the derive is serde's externally tagged form, as for
/// [`ClientMessage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(tag = "type"))]
#[serde(rename_all = "snake_case")]
pub enum ServerMessage<D = serde_json::Value> {
    /// Sent once after a successful join.
    Welcome {
        /// The id the server assigned to this client.
        id: PeerId,
        /// Peers already in the room (not including this client).
        peers: Vec<PeerInfo>,
        /// ICE servers to configure RTCPeerConnection with.
        ice_servers: Vec<IceServer>,
        /// Room capacity.
        max_peers: usize,
    },
    /// Another peer joined the room.
    PeerJoined { peer: PeerInfo },
    /// A peer left the room (closed its socket or timed out).
    PeerLeft { id: PeerId },
    /// A signal relayed from peer `from`.
    Signal { from: PeerId, data: D },
    /// The last frame (or the connection) was refused; see `code`.
    Error { code: ErrorCode, message: String },
    /// Answer to [`ClientMessage::Ping`].
    Pong,
}

#[cfg(not(target_arch = "wasm32"))]
impl ServerMessage {
    /// Serializes to the JSON text sent on the wire.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Builds an error frame.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
        }
    }
}

impl<D> ServerMessage<D> {
    /// The same frame with a relayed signal's `data` turned into `f(data)`.
    pub fn map_data<E>(self, f: impl FnOnce(D) -> E) -> ServerMessage<E> {
        match self {
            Self::Welcome {
                id,
                peers,
                ice_servers,
                max_peers,
            } => ServerMessage::Welcome {
                id,
                peers,
                ice_servers,
                max_peers,
            },
            Self::PeerJoined { peer } => ServerMessage::PeerJoined { peer },
            Self::PeerLeft { id } => ServerMessage::PeerLeft { id },
            Self::Signal { from, data } => ServerMessage::Signal {
                from,
                data: f(data),
            },
            Self::Error { code, message } => ServerMessage::Error { code, message },
            Self::Pong => ServerMessage::Pong,
        }
    }
}

/// Machine-readable error codes carried by [`ServerMessage::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not JSON, or not an object with a string `type`.
    BadJson,
    /// The `type` is not one the server knows.
    UnknownType,
    /// A known type with missing or wrongly typed fields.
    BadMessage,
    /// A text frame larger than [`MAX_TEXT_FRAME_BYTES`].
    TooLarge,
    /// Binary frames are not part of the protocol.
    BinaryFrame,
    /// A signal addressed to a peer that is not in the sender's room.
    UnknownPeer,
    /// The room already has its maximum number of peers.
    RoomFull,
    /// The room has a password and the one given does not match.
    WrongPassword,
    /// The display name is empty, too long, or has control characters.
    BadName,
    /// The room name is empty, too long, or has control characters.
    BadRoom,
    /// Too many frames too fast; the frame was dropped.
    RateLimited,
    /// A signal was sent before joining a room.
    NotJoined,
    /// A second join on the same connection.
    AlreadyJoined,
    /// A newer connection joined with this connection's resume token; this one is
    /// closed.
    Replaced,
}

impl ErrorCode {
    /// The wire name, e.g. `"room_full"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::BinaryFrame => "binary_frame",
            ErrorCode::UnknownPeer => "unknown_peer",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::WrongPassword => "wrong_password",
            ErrorCode::BadName => "bad_name",
            ErrorCode::BadRoom => "bad_room",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::Replaced => "replaced",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a display name or room name: trimmed non-empty, at most `max_chars`
/// characters, no control characters. Returns the trimmed text.
pub fn validate_label(text: &str, max_chars: usize) -> Result<&str, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    let chars = trimmed.chars().count();
    if chars > max_chars {
        return Err(format!("is {chars} characters; the limit is {max_chars}"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed)
}

/// What the peerlink client puts in a signal's `data` (opaque to the server).
///
/// In wasm32 the derive is serde's externally tagged form, as for
/// [`ClientMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(tag = "kind"))]
#[serde(rename_all = "snake_case")]
pub enum SignalPayload {
    /// An SDP offer or answer (perfect negotiation).
    Description {
        /// `"offer"` or `"answer"`.
        sdp_type: String,
        sdp: String,
    },
    /// A trickled ICE candidate.
    Candidate {
        candidate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_m_line_index: Option<u16>,
    },
    /// The sender's data channel to us closed while we are both still in the
    /// room: drop the connection to it and answer with `relink_ack`; a new offer
    /// follows.
    Relink,
    /// The answer to `relink`: the connection it asked to drop is gone, and
    /// signals from here on are for the new one.
    RelinkAck,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_classifies_errors() {
        assert_eq!(
            ClientMessage::parse("{nope").unwrap_err().code,
            ErrorCode::BadJson
        );
        assert_eq!(
            ClientMessage::parse("[1,2]").unwrap_err().code,
            ErrorCode::BadJson
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":5}"#).unwrap_err().code,
            ErrorCode::BadJson
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"dance"}"#)
                .unwrap_err()
                .code,
            ErrorCode::UnknownType
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"join","room":1}"#)
                .unwrap_err()
                .code,
            ErrorCode::BadMessage
        );
    }

    #[test]
    fn join_round_trips_and_password_is_optional() {
        let join = ClientMessage::parse(r#"{"type":"join","room":"r","name":"Ann"}"#).unwrap();
        assert_eq!(
            join,
            ClientMessage::Join {
                room: "r".into(),
                name: "Ann".into(),
                password: None,
                resume: None,
            }
        );
        assert_eq!(ClientMessage::parse(&join.to_json()).unwrap(), join);
    }

    #[test]
    fn relink_signals_are_unit_variants() {
        for (payload, text) in [
            (SignalPayload::Relink, r#"{"kind":"relink"}"#),
            (SignalPayload::RelinkAck, r#"{"kind":"relink_ack"}"#),
        ] {
            assert_eq!(serde_json::to_string(&payload).unwrap(), text);
            assert_eq!(
                serde_json::from_str::<SignalPayload>(text).unwrap(),
                payload
            );
        }
    }

    #[test]
    fn signal_data_is_carried_verbatim() {
        let data = serde_json::json!({"kind":"candidate","candidate":"c","x":[1,{"y":null}]});
        let msg = ClientMessage::Signal {
            to: "p1".into(),
            data: data.clone(),
        };
        match ClientMessage::parse(&msg.to_json()).unwrap() {
            ClientMessage::Signal { data: got, .. } => assert_eq!(got, data),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn typed_signal_data_writes_the_same_frame() {
        // The client names its payload type; the server reads any JSON value.
        let typed = ClientMessage::Signal {
            to: "p1".into(),
            data: SignalPayload::Candidate {
                candidate: "c".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: None,
            },
        };
        let text = serde_json::to_string(&typed).unwrap();
        assert_eq!(
            text,
            r#"{"type":"signal","to":"p1","data":{"kind":"candidate","candidate":"c","sdp_mid":"0"}}"#
        );
        let relayed = ClientMessage::parse(&text).unwrap();
        assert_eq!(
            serde_json::to_value(&relayed).unwrap(),
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        );
        let ClientMessage::Signal { data, .. } = relayed else {
            panic!("not a signal: {relayed:?}");
        };
        let back = ServerMessage::Signal {
            from: "p2".into(),
            data,
        };
        let typed_back: ServerMessage<SignalPayload> =
            serde_json::from_str(&back.to_json()).unwrap();
        let ClientMessage::Signal { data: sent, .. } = typed else {
            unreachable!()
        };
        assert_eq!(
            typed_back,
            ServerMessage::Signal {
                from: "p2".into(),
                data: sent
            }
        );
    }

    #[test]
    fn map_data_changes_only_signal_data() {
        let signal = ServerMessage::Signal {
            from: "a".into(),
            data: 1,
        };
        assert_eq!(
            signal.map_data(|n| n + 1),
            ServerMessage::Signal {
                from: "a".into(),
                data: 2
            }
        );
        let left = ServerMessage::<u8>::PeerLeft { id: "a".into() };
        assert_eq!(left.clone().map_data(|_| -> u8 { panic!("no data") }), left);
    }

    #[test]
    fn server_messages_use_snake_case_tags() {
        let json = ServerMessage::error(ErrorCode::RoomFull, "full").to_json();
        assert_eq!(
            json,
            r#"{"type":"error","code":"room_full","message":"full"}"#
        );
        let left = ServerMessage::PeerLeft { id: "a".into() }.to_json();
        assert_eq!(left, r#"{"type":"peer_left","id":"a"}"#);
    }

    #[test]
    fn error_code_wire_names_match_serde() {
        for code in [
            ErrorCode::BadJson,
            ErrorCode::UnknownType,
            ErrorCode::BadMessage,
            ErrorCode::TooLarge,
            ErrorCode::BinaryFrame,
            ErrorCode::UnknownPeer,
            ErrorCode::RoomFull,
            ErrorCode::WrongPassword,
            ErrorCode::BadName,
            ErrorCode::BadRoom,
            ErrorCode::RateLimited,
            ErrorCode::NotJoined,
            ErrorCode::AlreadyJoined,
            ErrorCode::Replaced,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn resume_tokens_are_validated() {
        assert!(validate_resume_token("0123456789abcdef0123456789abcdef").is_ok());
        assert!(validate_resume_token("AZaz09_-AZaz09_-AZaz09").is_ok());
        assert!(validate_resume_token("short").is_err());
        assert!(validate_resume_token(&"x".repeat(65)).is_err());
        assert!(validate_resume_token("0123456789abcdef0123456789abcde!").is_err());
        let join =
            r#"{"type":"join","room":"r","name":"n","resume":"0123456789abcdef0123456789abcdef"}"#;
        assert!(matches!(
            ClientMessage::parse(join).unwrap(),
            ClientMessage::Join { resume: Some(t), .. } if t.len() == 32
        ));
    }

    #[test]
    fn labels_are_validated() {
        assert_eq!(validate_label("  Ann ", 64), Ok("Ann"));
        assert!(validate_label("   ", 64).is_err());
        assert!(validate_label(&"x".repeat(65), 64).is_err());
        assert!(validate_label(&"é".repeat(64), 64).is_ok());
        assert!(validate_label("a\u{0007}b", 64).is_err());
    }

    #[test]
    fn signal_payload_shapes() {
        let p = SignalPayload::Description {
            sdp_type: "offer".into(),
            sdp: "v=0".into(),
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["kind"], "description");
        assert_eq!(serde_json::from_value::<SignalPayload>(v).unwrap(), p);
    }
}
