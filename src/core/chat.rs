//! Messages carried on the control data channel between two peers: chat and, later,
//! media state. JSON text frames, tagged by `"type"`.

use peerlink_protocol::PeerId;
use serde::{Deserialize, Serialize};

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Unique per sender: `"<sender id>:<sequence>"`.
    pub id: String,
    /// The sender's peer id.
    pub from: PeerId,
    /// The sender's display name at send time.
    pub name: String,
    /// Sender's wall-clock time, ms since the Unix epoch.
    pub time_ms: f64,
    pub text: String,
}

/// A frame on the control channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(tag = "type"))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PeerMessage {
    Chat(ChatMessage),
    /// The sender's media state, sent when the channel opens and on every change.
    Media(MediaState),
    /// Are you still there? Sent when the server says a peer left while its direct
    /// link still looks up (a closed tab is not always noticed by the link at once).
    Ping {
        nonce: u32,
    },
    /// Answer to [`PeerMessage::Ping`].
    Pong {
        nonce: u32,
    },
}

/// What a peer is sending, so others can show mute and camera-off badges and tell a
/// camera stream from a screen share (by `MediaStream.id`, which WebRTC preserves).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaState {
    /// Microphone live (captured and not muted).
    pub mic: bool,
    /// Camera live (captured and not turned off).
    pub camera: bool,
    /// Id of the stream that carries microphone and camera.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_stream: Option<String>,
    /// Id of the stream that carries the screen share, while sharing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_stream: Option<String>,
}

/// Why a control frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerMessageError {
    #[error("malformed peer message: {0}")]
    Malformed(String),
    #[error("chat message is empty")]
    EmptyChat,
    #[error("chat message is {0} characters; the limit is {MAX_CHAT_CHARS}")]
    ChatTooLong(usize),
    #[error("message claims to be from {claimed}, but came from {actual}")]
    WrongSender { claimed: PeerId, actual: PeerId },
}

/// Its derive has the wire's tag only outside wasm32; [`json`](super::json) moves it.
impl super::json::Tagged for PeerMessage {
    const TAG: &'static str = "type";
}

impl PeerMessage {
    /// Encodes for the wire.
    pub fn to_json(&self) -> String {
        super::json::to_string(self)
    }

    /// Decodes and validates a frame received from peer `from`.
    pub fn parse(text: &str, from: &str) -> Result<Self, PeerMessageError> {
        let msg: PeerMessage = super::json::from_str(text).map_err(PeerMessageError::Malformed)?;
        match &msg {
            PeerMessage::Chat(chat) => {
                if chat.from != from {
                    return Err(PeerMessageError::WrongSender {
                        claimed: chat.from.clone(),
                        actual: from.to_owned(),
                    });
                }
                validate_chat_text(&chat.text)?;
            }
            PeerMessage::Media(_) | PeerMessage::Ping { .. } | PeerMessage::Pong { .. } => {}
        }
        Ok(msg)
    }
}

/// Checks a chat text before sending or after receiving.
pub fn validate_chat_text(text: &str) -> Result<(), PeerMessageError> {
    if text.trim().is_empty() {
        return Err(PeerMessageError::EmptyChat);
    }
    let chars = text.chars().count();
    if chars > MAX_CHAT_CHARS {
        return Err(PeerMessageError::ChatTooLong(chars));
    }
    Ok(())
}

/// Creates this peer's outgoing chat messages with unique ids.
#[derive(Debug, Clone)]
pub struct ChatComposer {
    local_id: PeerId,
    next_seq: u64,
}

impl ChatComposer {
    pub fn new(local_id: PeerId) -> Self {
        Self {
            local_id,
            next_seq: 1,
        }
    }

    /// Builds the next message; `now_ms` is wall-clock time in ms since the epoch.
    pub fn compose(
        &mut self,
        name: &str,
        text: &str,
        now_ms: f64,
    ) -> Result<ChatMessage, PeerMessageError> {
        validate_chat_text(text)?;
        let msg = ChatMessage {
            id: format!("{}:{}", self.local_id, self.next_seq),
            from: self.local_id.clone(),
            name: name.to_owned(),
            time_ms: now_ms,
            text: text.to_owned(),
        };
        self.next_seq += 1;
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // Also in the browser (`make test-wasm`), where the JSON codec is the browser's.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn compose_and_parse_round_trip() {
        let mut c = ChatComposer::new("p1".into());
        let m1 = c.compose("Ann", "hello <b>", 1.0).unwrap();
        let m2 = c.compose("Ann", "again", 2.0).unwrap();
        assert_ne!(m1.id, m2.id);
        let wire = PeerMessage::Chat(m1.clone()).to_json();
        assert_eq!(
            PeerMessage::parse(&wire, "p1").unwrap(),
            PeerMessage::Chat(m1)
        );
    }

    #[test]
    fn media_state_round_trips() {
        let state = MediaState {
            mic: true,
            camera: false,
            camera_stream: Some("s1".into()),
            screen_stream: None,
        };
        let wire = PeerMessage::Media(state.clone()).to_json();
        assert!(!wire.contains("screen_stream"));
        assert_eq!(
            PeerMessage::parse(&wire, "any").unwrap(),
            PeerMessage::Media(state)
        );
    }

    #[test]
    fn ping_pong_wire_shape() {
        let wire = PeerMessage::Ping { nonce: 7 }.to_json();
        assert_eq!(wire, r#"{"type":"ping","nonce":7}"#);
        assert_eq!(
            PeerMessage::parse(r#"{"type":"pong","nonce":7}"#, "x").unwrap(),
            PeerMessage::Pong { nonce: 7 }
        );
    }

    #[test]
    fn rejects_bad_chat() {
        let mut c = ChatComposer::new("p1".into());
        assert_eq!(c.compose("A", "  ", 0.0), Err(PeerMessageError::EmptyChat));
        let long = "x".repeat(MAX_CHAT_CHARS + 1);
        assert!(matches!(
            c.compose("A", &long, 0.0),
            Err(PeerMessageError::ChatTooLong(_))
        ));
    }

    #[test]
    fn rejects_spoofed_sender_and_garbage() {
        let mut c = ChatComposer::new("p1".into());
        let wire = PeerMessage::Chat(c.compose("A", "hi", 0.0).unwrap()).to_json();
        assert!(matches!(
            PeerMessage::parse(&wire, "p2"),
            Err(PeerMessageError::WrongSender { .. })
        ));
        assert!(matches!(
            PeerMessage::parse("{\"type\":\"nope\"}", "p1"),
            Err(PeerMessageError::Malformed(_))
        ));
        assert!(matches!(
            PeerMessage::parse("\u{0}", "p1"),
            Err(PeerMessageError::Malformed(_))
        ));
    }
}
