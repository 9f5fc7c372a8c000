//! A room: the signaling session plus one [`PeerConnection`] per remote member (mesh).

use super::peer::{ConnectionState, PeerConfig, PeerConnection, PeerEvent};
use super::signaling::{Signaling, SignalingEvent, SignalingSender};
use super::{now_ms, Error};
use crate::core::chat::{ChatComposer, ChatMessage, PeerMessage};
use crate::core::negotiation::is_polite;
use futures_channel::mpsc;
use futures_util::StreamExt;
use peerlink_protocol::{ClientMessage, IceServer, PeerId, PeerInfo, ServerMessage, SignalPayload};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use wasm_bindgen_futures::spawn_local;

/// Interval of application-level keep-alive pings to the signaling server.
const KEEPALIVE_MS: u32 = 20_000;

/// Where and as whom to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOptions {
    /// WebSocket URL of the signaling server, e.g. `wss://example.org/ws`.
    pub server_url: String,
    pub room: String,
    /// Display name shown to others.
    pub name: String,
    /// Optional room password (the first joiner sets it).
    pub password: Option<String>,
}

/// What happens in a room, in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RoomEvent {
    /// A peer is in the room (sent for peers present at join time too).
    PeerJoined(PeerInfo),
    /// A peer left (its socket closed), or its connection was dropped.
    PeerLeft(PeerId),
    /// The connection to a peer changed state.
    PeerState { id: PeerId, state: ConnectionState },
    /// The data channel to a peer opened (chat can flow).
    PeerChannelOpen(PeerId),
    /// A chat message from another peer.
    Chat(ChatMessage),
    /// The signaling server went away. Established peer connections keep working;
    /// new peers cannot join until the room is joined again.
    SignalingLost { reason: String },
    /// A recoverable problem (a peer sent garbage, a candidate failed, ...).
    Warning(Error),
}

/// A member of the room as seen right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSnapshot {
    pub id: PeerId,
    pub name: String,
    pub state: ConnectionState,
}

struct RemotePeer {
    info: PeerInfo,
    connection: PeerConnection,
}

struct RoomShared {
    id: PeerId,
    name: String,
    room: String,
    ice_servers: Vec<IceServer>,
    signaling: SignalingSender,
    peers: RefCell<BTreeMap<PeerId, RemotePeer>>,
    composer: RefCell<ChatComposer>,
    events: mpsc::UnboundedSender<RoomEvent>,
}

impl RoomShared {
    fn emit(&self, event: RoomEvent) {
        let _ = self.events.unbounded_send(event);
    }

    fn add_peer(self: &Rc<Self>, info: PeerInfo, initiator: bool) {
        if info.id == self.id || self.peers.borrow().contains_key(&info.id) {
            return;
        }
        let config = PeerConfig {
            ice_servers: self.ice_servers.clone(),
            polite: is_polite(&self.id, &info.id),
            initiator,
        };
        let (connection, events) = match PeerConnection::new(&config) {
            Ok(pair) => pair,
            Err(e) => {
                self.emit(RoomEvent::Warning(e));
                return;
            }
        };
        spawn_local(forward_peer_events(Rc::downgrade(self), info.id.clone(), events));
        self.peers
            .borrow_mut()
            .insert(info.id.clone(), RemotePeer { info: info.clone(), connection });
        self.emit(RoomEvent::PeerJoined(info));
    }

    fn remove_peer(&self, id: &str) {
        // Dropping the RemotePeer closes its RTCPeerConnection.
        if self.peers.borrow_mut().remove(id).is_some() {
            self.emit(RoomEvent::PeerLeft(id.to_owned()));
        }
    }

    fn handle_server_message(self: &Rc<Self>, msg: ServerMessage) {
        match msg {
            ServerMessage::PeerJoined { peer } => self.add_peer(peer, false),
            ServerMessage::PeerLeft { id } => self.remove_peer(&id),
            ServerMessage::Signal { from, data } => {
                let payload = match serde_json::from_value::<SignalPayload>(data) {
                    Ok(p) => p,
                    Err(e) => {
                        self.emit(RoomEvent::Warning(Error::BadPeerMessage {
                            peer: from,
                            reason: format!("bad signal: {e}"),
                        }));
                        return;
                    }
                };
                match self.peers.borrow().get(&from) {
                    Some(peer) => peer.connection.handle_signal(payload),
                    None => self.emit(RoomEvent::Warning(Error::BadPeerMessage {
                        peer: from,
                        reason: "signal from a peer that is not in the room".into(),
                    })),
                }
            }
            ServerMessage::Error { code, message } => {
                self.emit(RoomEvent::Warning(Error::Rejected { code, message }))
            }
            ServerMessage::Welcome { .. } | ServerMessage::Pong => {}
        }
    }

    fn handle_peer_event(&self, from: &str, event: PeerEvent) {
        match event {
            PeerEvent::Signal(payload) => {
                let data = match serde_json::to_value(&payload) {
                    Ok(d) => d,
                    Err(_) => return,
                };
                let msg = ClientMessage::Signal { to: from.to_owned(), data };
                // Without signaling, established connections still work; new
                // negotiations wait until the room is joined again.
                if let Err(e) = self.signaling.send(&msg) {
                    self.emit(RoomEvent::Warning(e));
                }
            }
            PeerEvent::StateChanged(state) => self.emit(RoomEvent::PeerState {
                id: from.to_owned(),
                state,
            }),
            PeerEvent::ControlOpen => self.emit(RoomEvent::PeerChannelOpen(from.to_owned())),
            PeerEvent::ControlClosed => {}
            PeerEvent::ControlMessage(text) => match PeerMessage::parse(&text, from) {
                Ok(PeerMessage::Chat(chat)) => self.emit(RoomEvent::Chat(chat)),
                Err(e) => self.emit(RoomEvent::Warning(Error::BadPeerMessage {
                    peer: from.to_owned(),
                    reason: e.to_string(),
                })),
            },
            PeerEvent::Error(e) => self.emit(RoomEvent::Warning(e)),
        }
    }
}

async fn forward_peer_events(
    room: Weak<RoomShared>,
    peer: PeerId,
    mut events: mpsc::UnboundedReceiver<PeerEvent>,
) {
    while let Some(event) = events.next().await {
        let Some(room) = room.upgrade() else { return };
        room.handle_peer_event(&peer, event);
    }
}

async fn run_signaling(room: Weak<RoomShared>, mut signaling: Signaling) {
    while let Some(event) = signaling.next().await {
        let Some(room) = room.upgrade() else { return };
        match event {
            SignalingEvent::Message(msg) => room.handle_server_message(msg),
            SignalingEvent::Invalid(reason) => room.emit(RoomEvent::Warning(
                Error::InvalidInput(format!("invalid frame from the signaling server: {reason}")),
            )),
            SignalingEvent::Closed { code, reason } => {
                let reason = if reason.is_empty() {
                    format!("connection closed (code {code})")
                } else {
                    reason
                };
                room.emit(RoomEvent::SignalingLost { reason });
                return;
            }
        }
    }
}

async fn keep_alive(room: Weak<RoomShared>) {
    loop {
        gloo_timers::future::TimeoutFuture::new(KEEPALIVE_MS).await;
        let Some(room) = room.upgrade() else { return };
        if room.signaling.send(&ClientMessage::Ping).is_err() {
            return;
        }
    }
}

/// A joined room. Cloning gives another handle to the same room; the room is left
/// when the last handle is dropped or [`Room::leave`] is called.
#[derive(Clone)]
pub struct Room {
    shared: Rc<RoomShared>,
}

/// The stream of [`RoomEvent`]s of a [`Room`].
pub struct RoomEvents(mpsc::UnboundedReceiver<RoomEvent>);

impl RoomEvents {
    /// The next event, or `None` once the room is gone.
    pub async fn next(&mut self) -> Option<RoomEvent> {
        self.0.next().await
    }
}

impl Room {
    /// Connects to the signaling server, joins the room, and starts connecting to
    /// every peer already there.
    pub async fn join(options: JoinOptions) -> Result<(Room, RoomEvents), Error> {
        let mut signaling = Signaling::connect(&options.server_url).await?;
        signaling.send(&ClientMessage::Join {
            room: options.room.clone(),
            name: options.name.clone(),
            password: options.password.clone(),
        })?;
        let (id, peers, ice_servers) = loop {
            match signaling.next().await {
                Some(SignalingEvent::Message(ServerMessage::Welcome {
                    id,
                    peers,
                    ice_servers,
                    ..
                })) => break (id, peers, ice_servers),
                Some(SignalingEvent::Message(ServerMessage::Error { code, message })) => {
                    return Err(Error::Rejected { code, message })
                }
                Some(SignalingEvent::Closed { .. }) | None => {
                    return Err(Error::SignalingClosed {
                        reason: "closed before the join was answered".into(),
                    })
                }
                Some(_) => {}
            }
        };
        let (events_tx, events_rx) = mpsc::unbounded();
        let shared = Rc::new(RoomShared {
            composer: RefCell::new(ChatComposer::new(id.clone())),
            id,
            name: options.name.trim().to_owned(),
            room: options.room.trim().to_owned(),
            ice_servers,
            signaling: signaling.sender(),
            peers: RefCell::new(BTreeMap::new()),
            events: events_tx,
        });
        for peer in peers {
            shared.add_peer(peer, true);
        }
        spawn_local(run_signaling(Rc::downgrade(&shared), signaling));
        spawn_local(keep_alive(Rc::downgrade(&shared)));
        Ok((Room { shared }, RoomEvents(events_rx)))
    }

    /// Our peer id.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Our display name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The room's name.
    pub fn room_name(&self) -> &str {
        &self.shared.room
    }

    /// The other members, ordered by id.
    pub fn peers(&self) -> Vec<PeerSnapshot> {
        self.shared
            .peers
            .borrow()
            .values()
            .map(|p| PeerSnapshot {
                id: p.info.id.clone(),
                name: p.info.name.clone(),
                state: p.connection.connection_state(),
            })
            .collect()
    }

    /// Sends a chat message to every peer over the data channels and returns it (for
    /// showing locally). Peers whose channel is not open yet get it once it opens.
    pub fn send_chat(&self, text: &str) -> Result<ChatMessage, Error> {
        let msg = self
            .shared
            .composer
            .borrow_mut()
            .compose(&self.shared.name, text, now_ms())
            .map_err(|e| Error::InvalidInput(e.to_string()))?;
        let wire = PeerMessage::Chat(msg.clone()).to_json();
        for peer in self.shared.peers.borrow().values() {
            if let Err(e) = peer.connection.send_control(&wire) {
                self.shared.emit(RoomEvent::Warning(e));
            }
        }
        Ok(msg)
    }

    /// The connection to one peer (escape hatch to the raw `RTCPeerConnection`).
    pub fn with_peer<R>(&self, id: &str, f: impl FnOnce(&PeerConnection) -> R) -> Option<R> {
        self.shared.peers.borrow().get(id).map(|p| f(&p.connection))
    }

    /// Leaves the room: closes every peer connection and the signaling socket.
    pub fn leave(&self) {
        self.shared.signaling.close();
        let peers = std::mem::take(&mut *self.shared.peers.borrow_mut());
        drop(peers);
    }
}
