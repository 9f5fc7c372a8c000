//! Room membership: who is in which room, and delivering frames to them.
//!
//! All state sits behind one [`std::sync::Mutex`] that is only held for map
//! updates and non-blocking queue pushes, never across an `.await`. Frames reach a
//! connection through its bounded [`Outbox`]; a full outbox flags that connection
//! to be dropped instead of making the sender (or the room) wait.

use axum::extract::ws::Utf8Bytes;
use peerlink_protocol::{
    validate_label, validate_resume_token, ErrorCode, IceServer, PeerId, PeerInfo, ServerMessage,
    MAX_NAME_CHARS, MAX_PASSWORD_CHARS, MAX_ROOM_CHARS,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{mpsc, Notify};

/// The sending half of one connection's outbound queue.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    frames: mpsc::Sender<Utf8Bytes>,
    overflowed: Arc<Notify>,
    /// Raised when a newer connection took this one's place (same resume token).
    evicted: Arc<Notify>,
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
            evicted: Arc::new(Notify::new()),
        };
        (outbox, receiver, overflowed)
    }

    /// The signal raised when this connection is replaced by a newer one.
    pub(crate) fn evicted(&self) -> Arc<Notify> {
        Arc::clone(&self.evicted)
    }

    /// Tells the connection why it is being closed, then closes it (after the
    /// queued frames, this one included, are written).
    fn evict(&self, message: &ServerMessage) {
        self.send(message);
        self.evicted.notify_one();
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
    /// Which connection holds the id: a resumed id moves to a newer connection,
    /// and the older one must then neither leave nor signal in its name.
    conn: u64,
}

struct Member {
    info: PeerInfo,
    outbox: Outbox,
    conn: u64,
}

struct Room {
    /// Set by the first joiner; `None` means anyone may join.
    password: Option<String>,
    /// In join order, so welcomes list peers oldest first.
    members: Vec<Member>,
}

impl Room {
    /// Whether `membership`'s connection is (still) the one holding its id.
    fn holds(&self, membership: &Membership) -> bool {
        self.members
            .iter()
            .any(|m| m.info.id == membership.id && m.conn == membership.conn)
    }

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
    next_conn: AtomicU64,
}

impl Rooms {
    pub(crate) fn new(max_peers: usize, ice_servers: Vec<IceServer>) -> Self {
        Self {
            rooms: Mutex::new(HashMap::new()),
            max_peers,
            ice_servers,
            next_conn: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        // A panic while holding the lock cannot leave the map half-updated in a
        // way that matters more than refusing every later connection would.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a connection to `room` (creating it), queues its welcome and tells
    /// the other members. The first joiner's password protects the room.
    ///
    /// With a `resume` token the id is derived from the token, so the same client
    /// gets the same id back after a lost socket or a server restart. If that id
    /// is still in the room (its old socket has not closed yet), the new
    /// connection takes its place: the old one gets a `replaced` error and is
    /// closed, and the others see no leave and no join.
    pub(crate) fn join(
        &self,
        room: &str,
        name: &str,
        password: Option<&str>,
        resume: Option<&str>,
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

        let id = match resume {
            Some(token) => {
                validate_resume_token(token)
                    .map_err(|why| Refusal::new(ErrorCode::BadMessage, why))?;
                id_from_resume_token(token)
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
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
        if let Some(old) = entry.members.iter_mut().find(|m| m.info.id == id) {
            old.outbox.evict(&ServerMessage::error(
                ErrorCode::Replaced,
                "a newer connection resumed this peer",
            ));
            old.outbox = outbox.clone();
            old.conn = conn;
            old.info.name = info.name;
        } else {
            if entry.members.len() >= self.max_peers {
                return Err(Refusal::new(
                    ErrorCode::RoomFull,
                    format!("the room already has {} peers", self.max_peers),
                ));
            }
            let joined =
                Utf8Bytes::from(ServerMessage::PeerJoined { peer: info.clone() }.to_json());
            entry.broadcast(&joined, &id);
            entry.members.push(Member {
                info,
                outbox: outbox.clone(),
                conn,
            });
        }
        // Queued under the room lock, so it precedes anything relayed to this peer.
        outbox.send(&ServerMessage::Welcome {
            id: id.clone(),
            peers: entry
                .members
                .iter()
                .filter(|m| m.info.id != id)
                .map(|m| m.info.clone())
                .collect(),
            ice_servers: self.ice_servers.clone(),
            max_peers: self.max_peers,
        });
        Ok(Membership {
            room: room.to_owned(),
            id,
            conn,
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
        let room = rooms
            .get(&membership.room)
            .filter(|room| room.holds(membership))
            .ok_or_else(|| Refusal::new(ErrorCode::NotJoined, "this connection was replaced"))?;
        let target = room
            .members
            .iter()
            .find(|m| m.info.id == to)
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
        if !room.holds(membership) {
            // Already gone, or the id moved to a newer connection.
            return;
        }
        room.members
            .retain(|m| !(m.info.id == membership.id && m.conn == membership.conn));
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

/// The peer id for a resume token: a hash, so the id (which every member sees)
/// does not give the token (which lets its holder take the id) away.
fn id_from_resume_token(token: &str) -> PeerId {
    let digest = Sha256::new()
        .chain_update(b"peerlink peer id\0")
        .chain_update(token.as_bytes())
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
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
        let a = rooms.join(" r ", "Ann", Some("pw"), None, &a_box).unwrap();
        assert_eq!(a.room, "r");
        assert!(
            matches!(&drain(&mut a_rx)[..], [ServerMessage::Welcome { peers, .. }] if peers.is_empty())
        );

        let refused = rooms.join("r", "Bob", None, None, &b_box).unwrap_err();
        assert_eq!(refused.code, ErrorCode::WrongPassword);
        let b = rooms.join("r", "Bob", Some("pw"), None, &b_box).unwrap();
        assert!(
            matches!(&drain(&mut a_rx)[..], [ServerMessage::PeerJoined { peer }] if peer.id == b.id)
        );
        assert!(
            matches!(&drain(&mut b_rx)[..], [ServerMessage::Welcome { peers, .. }] if peers[0].id == a.id)
        );

        let (c_box, _c_rx, _) = Outbox::new(8);
        assert_eq!(
            rooms
                .join("r", "Cy", Some("pw"), None, &c_box)
                .unwrap_err()
                .code,
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
        assert!(rooms.join("r", "Dee", Some("other"), None, &c_box).is_ok());
    }

    #[test]
    fn a_resumed_id_moves_to_the_newer_connection() {
        let rooms = Rooms::new(2, Vec::new());
        let token = "0123456789abcdef0123456789abcdef";
        let (old_box, mut old_rx, _) = Outbox::new(8);
        let (b_box, mut b_rx, _) = Outbox::new(8);
        let old = rooms.join("r", "Ann", None, Some(token), &old_box).unwrap();
        assert_eq!(old.id, id_from_resume_token(token));
        assert_eq!(old.id.len(), 32);
        let b = rooms.join("r", "Bob", None, None, &b_box).unwrap();
        drain(&mut old_rx);
        drain(&mut b_rx);

        // The room is full, yet the same token gets its place back.
        let (new_box, mut new_rx, _) = Outbox::new(8);
        let evicted = old_box.evicted();
        let new = rooms.join("r", "Ann", None, Some(token), &new_box).unwrap();
        assert_eq!(new.id, old.id);
        assert!(matches!(
            &drain(&mut old_rx)[..],
            [ServerMessage::Error {
                code: ErrorCode::Replaced,
                ..
            }]
        ));
        futures_util::FutureExt::now_or_never(evicted.notified()).unwrap();
        assert!(
            matches!(&drain(&mut new_rx)[..], [ServerMessage::Welcome { peers, .. }] if peers.len() == 1 && peers[0].id == b.id)
        );
        // Bob sees neither a leave nor a join.
        assert!(drain(&mut b_rx).is_empty());

        // The old connection can no longer signal, and its late leave is a no-op.
        assert_eq!(
            rooms
                .relay(&old, &b.id, serde_json::json!(1))
                .unwrap_err()
                .code,
            ErrorCode::NotJoined
        );
        rooms.leave(&old);
        assert!(drain(&mut b_rx).is_empty());
        rooms.relay(&new, &b.id, serde_json::json!(2)).unwrap();
        assert!(
            matches!(&drain(&mut b_rx)[..], [ServerMessage::Signal { from, .. }] if *from == new.id)
        );
        rooms.leave(&new);
        assert!(matches!(&drain(&mut b_rx)[..], [ServerMessage::PeerLeft { id }] if *id == new.id));

        let (bad_box, _bad_rx, _) = Outbox::new(8);
        assert_eq!(
            rooms
                .join("r", "Eve", None, Some("short"), &bad_box)
                .unwrap_err()
                .code,
            ErrorCode::BadMessage
        );
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
