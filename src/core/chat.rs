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
    /// The chat message `id` arrived (see [`ChatOutbox`]).
    ChatAck {
        id: String,
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
            PeerMessage::Media(_)
            | PeerMessage::Ping { .. }
            | PeerMessage::Pong { .. }
            | PeerMessage::ChatAck { .. } => {}
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

/// Most chat messages kept per peer until it acknowledges them; the oldest go first.
pub const MAX_UNACKED_CHAT: usize = 100;

/// Most chat ids remembered per peer to drop a message that comes twice.
pub const MAX_SEEN_CHAT: usize = 256;

/// Our chat messages to one peer that it has not acknowledged yet (their ids and
/// wire text), so that they can be sent again on a new connection to it: a
/// message sent while a link was dying goes down with its SCTP association (or
/// finds the channel closed), and nothing else would tell.
#[derive(Debug, Clone, Default)]
pub struct ChatOutbox {
    unacked: std::collections::VecDeque<(String, String)>,
}

impl ChatOutbox {
    /// Notes that message `id` went (or is going) out as `wire`.
    pub fn sent(&mut self, id: &str, wire: &str) {
        if self.unacked.len() == MAX_UNACKED_CHAT {
            self.unacked.pop_front();
        }
        self.unacked.push_back((id.to_owned(), wire.to_owned()));
    }

    /// The peer acknowledged `id` (only that one: the ones before it may have
    /// been lost with an earlier connection).
    pub fn acked(&mut self, id: &str) {
        self.unacked.retain(|(sent, _)| sent != id);
    }

    /// The wire text of every unacknowledged message, oldest first.
    pub fn unacked(&self) -> impl Iterator<Item = &str> {
        self.unacked.iter().map(|(_, wire)| wire.as_str())
    }
}

/// The ids of the latest chat messages from one peer, so that one sent again
/// (see [`ChatOutbox`]) after it had arrived after all is shown once.
#[derive(Debug, Clone, Default)]
pub struct ChatInbox {
    seen: std::collections::VecDeque<String>,
}

impl ChatInbox {
    /// Whether message `id` is new (and remembers it).
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.seen.iter().any(|seen| seen == id) {
            return false;
        }
        if self.seen.len() == MAX_SEEN_CHAT {
            self.seen.pop_front();
        }
        self.seen.push_back(id.to_owned());
        true
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

    #[test]
    fn chat_ack_wire_shape() {
        let ack = PeerMessage::ChatAck { id: "p1:7".into() };
        assert_eq!(ack.to_json(), r#"{"type":"chat_ack","id":"p1:7"}"#);
        assert_eq!(PeerMessage::parse(&ack.to_json(), "p2").unwrap(), ack);
    }

    #[test]
    fn the_outbox_keeps_what_was_not_acknowledged() {
        let mut out = ChatOutbox::default();
        out.sent("a:1", "one");
        out.sent("a:2", "two");
        out.sent("a:3", "three");
        // a:2 came through a new connection; a:1 was lost with the old one.
        out.acked("a:2");
        assert_eq!(out.unacked().collect::<Vec<_>>(), ["one", "three"]);
        out.acked("a:9");
        out.acked("a:1");
        out.acked("a:3");
        assert_eq!(out.unacked().count(), 0);
    }

    #[test]
    fn the_outbox_is_bounded_and_drops_the_oldest() {
        let mut out = ChatOutbox::default();
        for i in 0..MAX_UNACKED_CHAT + 5 {
            out.sent(&format!("a:{i}"), &i.to_string());
        }
        let kept: Vec<_> = out.unacked().collect();
        assert_eq!(kept.len(), MAX_UNACKED_CHAT);
        assert_eq!(kept[0], "5");
    }

    #[test]
    fn the_inbox_shows_a_message_once() {
        let mut inbox = ChatInbox::default();
        assert!(inbox.first_time("b:1"));
        assert!(inbox.first_time("b:2"));
        assert!(!inbox.first_time("b:1"));
        for i in 3..3 + MAX_SEEN_CHAT {
            assert!(inbox.first_time(&format!("b:{i}")));
        }
        // Bounded: the oldest ids are forgotten.
        assert!(inbox.first_time("b:1"));
    }
}
