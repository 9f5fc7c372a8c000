//! Room membership: who is in which room, and delivering frames to them.
//!
//! All state sits behind one [`std::sync::Mutex`] that is only held for map
//! updates and non-blocking queue pushes, never across an `.await`. Frames reach a
//! connection through its bounded [`Outbox`]; a full outbox flags that connection
//! to be dropped instead of making the sender (or the room) wait.

use axum::extract::ws::Utf8Bytes;
use peerlink_protocol::{
    validate_label, ErrorCode, IceServer, PeerId, PeerInfo, ServerMessage, MAX_NAME_CHARS,
    MAX_PASSWORD_CHARS, MAX_ROOM_CHARS,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{mpsc, Notify};

/// The sending half of one connection's outbound queue.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    frames: mpsc::Sender<Utf8Bytes>,
    overflowed: Arc<Notify>,
}

impl Outbox {
    /// A queue holding up to `capacity` frames, the receiver the connection's
    /// writer drains, and the signal raised when the queue overflows.
    pub(crate) fn new(capacity: usize) -> (Self, mpsc::Receiver<Utf8Bytes>, Arc<Notify>) {
        let (frames, receiver) = mpsc::channel(capacity.max(1));
        let overflowed = Arc::new(Notify::new());
        let outbox = Self {
            frames,
            overflowed: Arc::clone(&overflowed),
        };
        (outbox, receiver, overflowed)
    }

    /// Queues `frame` without waiting. If the queue is full the client is not
    /// keeping up: the frame is dropped and the connection is told to close.
    pub(crate) fn push(&self, frame: Utf8Bytes) {
        match self.frames.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.overflowed.notify_one(),
            // The connection is already shutting down.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Queues `frame`, waiting for room in the queue. Fails only if the writer
    /// has stopped.
    pub(crate) async fn send_waiting(
        &self,
        frame: Utf8Bytes,
    ) -> Result<(), mpsc::error::SendError<Utf8Bytes>> {
        self.frames.send(frame).await
    }

    /// Serializes and queues one message.
    pub(crate) fn send(&self, message: &ServerMessage) {
        self.push(Utf8Bytes::from(message.to_json()));
    }
}

/// Why a join or a signal was refused; becomes an error frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The error frame for this refusal.
    pub(crate) fn to_message(&self) -> ServerMessage {
        ServerMessage::error(self.code, self.message.clone())
    }
}

/// A connection's membership, returned by a successful [`Rooms::join`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Membership {
    /// The room's (trimmed) name.
    pub(crate) room: String,
    /// The id assigned to this connection.
    pub(crate) id: PeerId,
}

struct Member {
    info: PeerInfo,
    outbox: Outbox,
}

struct Room {
    /// Set by the first joiner; `None` means anyone may join.
    password: Option<String>,
    /// In join order, so welcomes list peers oldest first.
    members: Vec<Member>,
}

impl Room {
    fn broadcast(&self, frame: &Utf8Bytes, except: &str) {
        for member in self.members.iter().filter(|m| m.info.id != except) {
            member.outbox.push(frame.clone());
        }
    }
}

/// Every room on this server.
pub(crate) struct Rooms {
    rooms: Mutex<HashMap<String, Room>>,
    max_peers: usize,
    ice_servers: Vec<IceServer>,
}

impl Rooms {
    pub(crate) fn new(max_peers: usize, ice_servers: Vec<IceServer>) -> Self {
        Self {
            rooms: Mutex::new(HashMap::new()),
            max_peers,
            ice_servers,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        // A panic while holding the lock cannot leave the map half-updated in a
        // way that matters more than refusing every later connection would.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a connection to `room` (creating it), queues its welcome and tells
    /// the other members. The first joiner's password protects the room.
    pub(crate) fn join(
        &self,
        room: &str,
        name: &str,
        password: Option<&str>,
        outbox: &Outbox,
    ) -> Result<Membership, Refusal> {
        let room = validate_label(room, MAX_ROOM_CHARS)
            .map_err(|why| Refusal::new(ErrorCode::BadRoom, format!("room name {why}")))?;
        let name = validate_label(name, MAX_NAME_CHARS)
            .map_err(|why| Refusal::new(ErrorCode::BadName, format!("name {why}")))?;
        let password = password.filter(|p| !p.is_empty());
        if let Some(password) = password {
            let chars = password.chars().count();
            if chars > MAX_PASSWORD_CHARS {
                return Err(Refusal::new(
                    ErrorCode::BadMessage,
                    format!("password is {chars} characters; the limit is {MAX_PASSWORD_CHARS}"),
                ));
            }
        }

        let id = uuid::Uuid::new_v4().to_string();
        let info = PeerInfo {
            id: id.clone(),
            name: name.to_owned(),
        };
        let mut rooms = self.lock();
        let entry = rooms.entry(room.to_owned()).or_insert_with(|| Room {
            password: password.map(str::to_owned),
            members: Vec::new(),
        });
        if let Some(expected) = &entry.password {
            if !password.is_some_and(|given| same_secret(given, expected)) {
                return Err(Refusal::new(
                    ErrorCode::WrongPassword,
                    "this room has a different password",
                ));
            }
        }
        if entry.members.len() >= self.max_peers {
            return Err(Refusal::new(
                ErrorCode::RoomFull,
                format!("the room already has {} peers", self.max_peers),
            ));
        }
        outbox.send(&ServerMessage::Welcome {
            id: id.clone(),
            peers: entry.members.iter().map(|m| m.info.clone()).collect(),
            ice_servers: self.ice_servers.clone(),
            max_peers: self.max_peers,
        });
        let joined = Utf8Bytes::from(ServerMessage::PeerJoined { peer: info.clone() }.to_json());
        entry.broadcast(&joined, &id);
        entry.members.push(Member {
            info,
            outbox: outbox.clone(),
        });
        Ok(Membership {
            room: room.to_owned(),
            id,
        })
    }

    /// Relays `data` from `from` to `to`, both of which must be in `room`.
    pub(crate) fn relay(
        &self,
        membership: &Membership,
        to: &str,
        data: serde_json::Value,
    ) -> Result<(), Refusal> {
        let unknown = || Refusal::new(ErrorCode::UnknownPeer, "no such peer in this room");
        if to == membership.id {
            return Err(Refusal::new(
                ErrorCode::UnknownPeer,
                "a peer cannot signal itself",
            ));
        }
        // Serialize before taking the lock: it is the expensive part.
        let frame = Utf8Bytes::from(
            ServerMessage::Signal {
                from: membership.id.clone(),
                data,
            }
            .to_json(),
        );
        let rooms = self.lock();
        let target = rooms
            .get(&membership.room)
            .and_then(|room| room.members.iter().find(|m| m.info.id == to))
            .ok_or_else(unknown)?;
        target.outbox.push(frame);
        Ok(())
    }

    /// Removes a member, deleting the room if it is now empty and telling the
    /// rest otherwise. Does nothing if the member is already gone.
    pub(crate) fn leave(&self, membership: &Membership) {
        let mut rooms = self.lock();
        let Some(room) = rooms.get_mut(&membership.room) else {
            return;
        };
        let before = room.members.len();
        room.members.retain(|m| m.info.id != membership.id);
        if room.members.len() == before {
            return;
        }
        if room.members.is_empty() {
            rooms.remove(&membership.room);
        } else {
            let left = Utf8Bytes::from(
                ServerMessage::PeerLeft {
                    id: membership.id.clone(),
                }
                .to_json(),
            );
            room.broadcast(&left, &membership.id);
        }
    }
}

/// Compares two secrets without stopping at the first differing byte.
fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(receiver: &mut mpsc::Receiver<Utf8Bytes>) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        while let Ok(frame) = receiver.try_recv() {
            out.push(serde_json::from_str(&frame).unwrap());
        }
        out
    }

    #[test]
    fn join_relay_leave() {
        let rooms = Rooms::new(2, Vec::new());
        let (a_box, mut a_rx, _) = Outbox::new(8);
        let (b_box, mut b_rx, _) = Outbox::new(8);
        let a = rooms.join(" r ", "Ann", Some("pw"), &a_box).unwrap();
        assert_eq!(a.room, "r");
        assert!(
            matches!(&drain(&mut a_rx)[..], [ServerMessage::Welcome { peers, .. }] if peers.is_empty())
        );

        let refused = rooms.join("r", "Bob", None, &b_box).unwrap_err();
        assert_eq!(refused.code, ErrorCode::WrongPassword);
        let b = rooms.join("r", "Bob", Some("pw"), &b_box).unwrap();
        assert!(
            matches!(&drain(&mut a_rx)[..], [ServerMessage::PeerJoined { peer }] if peer.id == b.id)
        );
        assert!(
            matches!(&drain(&mut b_rx)[..], [ServerMessage::Welcome { peers, .. }] if peers[0].id == a.id)
        );

        let (c_box, _c_rx, _) = Outbox::new(8);
        assert_eq!(
            rooms.join("r", "Cy", Some("pw"), &c_box).unwrap_err().code,
            ErrorCode::RoomFull
        );

        rooms.relay(&a, &b.id, serde_json::json!({"x": 1})).unwrap();
        assert!(
            matches!(&drain(&mut b_rx)[..], [ServerMessage::Signal { from, .. }] if *from == a.id)
        );
        assert_eq!(
            rooms
                .relay(&a, &a.id, serde_json::json!(1))
                .unwrap_err()
                .code,
            ErrorCode::UnknownPeer
        );

        rooms.leave(&b);
        assert!(matches!(&drain(&mut a_rx)[..], [ServerMessage::PeerLeft { id }] if *id == b.id));
        rooms.leave(&a);
        // The room is gone, so a new first joiner sets a new password.
        assert!(rooms.join("r", "Dee", Some("other"), &c_box).is_ok());
    }

    #[test]
    fn overflow_raises_the_flag() {
        let (outbox, _rx, overflowed) = Outbox::new(1);
        outbox.push(Utf8Bytes::from_static("1"));
        outbox.push(Utf8Bytes::from_static("2"));
        let notified = overflowed.notified();
        // notify_one stored a permit, so this completes at once.
        futures_util::FutureExt::now_or_never(notified).unwrap();
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
