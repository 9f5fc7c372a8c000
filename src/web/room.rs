//! A room: the signaling session plus one [`PeerConnection`] per remote member (mesh).

use super::files::PeerFiles;
use super::media::{self, MediaError, MediaRequest};
use super::peer::{ConnectionState, PeerConfig, PeerConnection, PeerEvent, TrackSource};
use super::signaling::{
    ClientMessage, ServerMessage, SignalData, Signaling, SignalingEvent, SignalingSender,
};
use super::store::{holds_start_of, load_stored, StoredTransfer};
use super::SEGMENT_BYTES;
use super::{now_ms, Error};
use crate::core::chat::{
    ChatComposer, ChatInbox, ChatMessage, ChatOutbox, MediaState, PeerMessage,
};
use crate::core::negotiation::is_polite;
use crate::core::transfer::{
    reattach_proof, ControlMessage, FileOffer, Progress, TransferEvent, TransferId, TransferKey,
};
use crate::core::vec_map::VecMap;
use futures_channel::mpsc;
use futures_util::StreamExt;
use gloo_events::EventListener;
use peerlink_protocol::{IceServer, PeerId, PeerInfo, SignalPayload};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaStream, MediaStreamTrack};

/// How long a peer the server says left has to answer a ping over its data channel
/// before its link is considered gone.
const LEFT_PEER_PROBE_MS: u32 = 3_000;

/// How long after its data channel closed a peer still in the room gets a new
/// connection (see `RoomShared::relink`).
const RELINK_AFTER_MS: u32 = 2_000;

/// Interval of application-level keep-alive pings to the signaling server, each
/// answered with a pong.
const KEEPALIVE_MS: u32 = 10_000;

/// A socket that brings nothing, not even a pong, for this long after a ping is
/// dead: after a change of network its TCP connection may take many minutes to
/// fail, while the server and our peers can no longer reach us through it.
const PONG_WAIT_MS: u32 = 10_000;

/// Wait before the first attempt to reach a lost signaling server again, doubled
/// after each failed attempt up to [`RECONNECT_MAX_MS`].
const RECONNECT_FIRST_MS: u32 = 250;
const RECONNECT_MAX_MS: u32 = 8_000;

/// The close code the server sends when a newer connection took our peer id.
const CLOSE_REPLACED: u16 = 4000;

/// How long the unfinished outgoing transfers of a peer that left are kept, in case
/// its page reloads and picks them up again (see [`ControlMessage::Reattach`]).
const PARKED_TRANSFERS_MS: u32 = 10 * 60 * 1000;

/// Where and as whom to join.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JoinOptions {
    /// WebSocket URL of the signaling server, e.g. `wss://example.org/ws`.
    pub server_url: String,
    pub room: String,
    /// Display name shown to others.
    pub name: String,
    /// Optional room password (the first joiner sets it).
    pub password: Option<String>,
    /// Capture camera/microphone while connecting, so the first offer to every peer
    /// already carries the tracks (one negotiation instead of two). A capture error
    /// does not fail the join: it arrives as [`RoomEvent::MediaFailed`].
    pub media: Option<MediaRequest>,
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
    /// A peer started sending a stream (camera+mic, or a screen share). Tell them
    /// apart with [`RoomEvent::PeerMedia`]'s `camera_stream` / `screen_stream` ids.
    RemoteStream { peer: PeerId, stream: MediaStream },
    /// A stream from [`RoomEvent::RemoteStream`] gained or lost a track and still
    /// has some: e.g. a peer that called with voice only turned its camera on.
    RemoteStreamChanged { peer: PeerId, stream: MediaStream },
    /// A peer's stream has no tracks left (e.g. the screen share stopped).
    RemoteStreamRemoved { peer: PeerId, stream_id: String },
    /// A peer's media state changed (mute, camera off, screen share on/off).
    PeerMedia { peer: PeerId, state: MediaState },
    /// Our own screen share ended (from the browser's "Stop sharing" button too).
    ScreenShareEnded,
    /// The capture asked for in [`JoinOptions::media`] failed (we are in the room
    /// without it).
    MediaFailed(MediaError),
    /// Something happened to a file transfer with `peer` (offered, progress, done...).
    Transfer { peer: PeerId, event: TransferEvent },
    /// Our transfers with `from` continue with `to`: the same client came back
    /// under a new id (its page reloaded) and proved it holds their resume token.
    TransfersMoved { from: PeerId, to: PeerId },
    /// A partial incoming file from before this page (re)loaded is being taken up
    /// again with `peer`, its sender: the stored bytes are checked, then the rest
    /// arrives (`Transfer` events follow, starting with `Resumed`).
    TransferRestoring { peer: PeerId, offer: FileOffer },
    /// Storage holds the first `bytes` of incoming offer `id` from `peer` already,
    /// left by an earlier offer of the same file (name, folder path, size, type)
    /// whose sender went away, e.g. because its page reloaded. Accepting continues
    /// from there once the sender has checked those bytes against its file (if they
    /// differ, the whole file comes).
    PartialCopy {
        peer: PeerId,
        id: TransferId,
        bytes: u64,
    },
    /// An incoming file arrived complete and its SHA-256 matched.
    FileReceived {
        peer: PeerId,
        offer: FileOffer,
        blob: web_sys::Blob,
    },
    /// The signaling server went away. Established peer connections keep working.
    /// With `reconnecting`, the room is trying to reach the server again (with
    /// backoff, keeping our peer id) and [`RoomEvent::SignalingRestored`] follows
    /// once it is back; without, the room stays off the server (e.g. another tab
    /// resumed this peer) until it is joined again.
    SignalingLost { reason: String, reconnecting: bool },
    /// The signaling server is reachable again and we are back in the room under
    /// the same peer id; peers that joined meanwhile are being connected.
    SignalingRestored,
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
    /// Streams received from this peer, by id: the stream, the ids of the tracks
    /// last told of, and its `removetrack` listener.
    streams: VecMap<String, (MediaStream, Vec<String>, EventListener)>,
    media: MediaState,
    /// The server said this peer left, but our direct link to it was still up; it
    /// is removed when that link goes down.
    left_signaling: bool,
    /// The nonce of an unanswered liveness ping, if any.
    probe: Option<u32>,
    files: Rc<PeerFiles>,
    /// Which of our connections to this peer `connection` is (see
    /// [`RoomShared::relink`]): events of an earlier one are ignored.
    link: u32,
    /// We asked the peer to start over with a new connection and it has not
    /// said it did yet: its signals until then belong to its old one.
    relink_asked: bool,
    /// Our chat messages it has not acknowledged: sent again on a new connection.
    outbox: ChatOutbox,
    /// Its latest chat ids: one sent again that had arrived is shown once.
    inbox: ChatInbox,
}

// Note: `MediaStream` and `MediaStreamTrack` have an inherent JS `clone()` that makes a
// *new* stream/track; this module always copies handles with `Clone::clone(&x)`.

/// Our capture streams and the state we announce.
#[derive(Default)]
struct LocalMedia {
    /// Microphone and camera tracks (one stream, kept across device switches).
    camera: Option<MediaStream>,
    screen: Option<MediaStream>,
    /// Watches the screen track's `ended` (the browser's own "Stop sharing").
    screen_ended: Option<EventListener>,
    state: MediaState,
}

struct RoomShared {
    id: PeerId,
    name: String,
    room: String,
    ice_servers: Vec<IceServer>,
    /// One DTLS certificate for all our connections, made while joining.
    certificate: Option<wasm_bindgen::JsValue>,
    /// The current socket to the server (replaced after a reconnect).
    signaling: RefCell<SignalingSender>,
    /// When a keep-alive ping went out on it that nothing has come in after yet.
    unanswered_ping: Cell<Option<f64>>,
    /// How to join again after losing the server: the same options and resume
    /// token, so the server gives us the same peer id back.
    join_options: JoinOptions,
    resume_token: String,
    /// Set by [`Room::leave`]: no more reconnecting.
    left: std::cell::Cell<bool>,
    peers: RefCell<VecMap<PeerId, RemotePeer>>,
    composer: RefCell<ChatComposer>,
    events: mpsc::UnboundedSender<RoomEvent>,
    /// Tracks sent to every peer (and to peers that join later), by source.
    tracks: RefCell<VecMap<TrackSource, (MediaStreamTrack, MediaStream)>>,
    media: RefCell<LocalMedia>,
    /// Unfinished outgoing transfers of peers that left, kept for a while in case
    /// the peer reloads and reattaches.
    parked: RefCell<Vec<Rc<PeerFiles>>>,
    /// Partial incoming files of an earlier page load (or found in storage for a
    /// new offer since), not yet taken up again; each locked by this tab.
    restorable: RefCell<Vec<StoredTransfer>>,
    /// New offers waiting to be matched against the partial files in storage
    /// (see [`RoomShared::look_for_partial_copy`]); `None` while no scan runs.
    partial_scan: RefCell<Option<Vec<PartialCopyWanted>>>,
    /// Offers whose copy no scan found yet (see `wait_for_copies`), and whether a
    /// task waits to look for them again.
    copy_waiting: RefCell<Vec<PartialCopyWanted>>,
    copy_watching: Cell<bool>,
}

/// A new offer over one segment: storage may hold its start already.
struct PartialCopyWanted {
    from: PeerId,
    files: Weak<PeerFiles>,
    offer: FileOffer,
}

impl RoomShared {
    fn emit(&self, event: RoomEvent) {
        let _ = self.events.unbounded_send(event);
    }

    fn add_peer(self: &Rc<Self>, info: PeerInfo, initiator: bool) {
        if info.id == self.id {
            return;
        }
        if let Some(peer) = self.peers.borrow_mut().get_mut(&info.id) {
            // A peer we still have a link to came back to the server (it had lost
            // its socket, or the server restarted): keep the link, and resend
            // what signaling may have lost meanwhile.
            peer.left_signaling = false;
            peer.probe = None;
            peer.connection.resignal();
            return;
        }
        let Some(connection) = self.connect(&info.id, initiator, 0) else {
            return;
        };
        self.peers.borrow_mut().insert(
            info.id.clone(),
            RemotePeer {
                info: info.clone(),
                connection,
                streams: VecMap::new(),
                media: MediaState::default(),
                left_signaling: false,
                probe: None,
                files: PeerFiles::new(info.id.clone(), self.events.clone()),
                link: 0,
                relink_asked: false,
                outbox: ChatOutbox::default(),
                inbox: ChatInbox::default(),
            },
        );
        self.emit(RoomEvent::PeerJoined(info));
    }

    /// A new connection to `id` carrying our tracks, its events forwarded as
    /// those of connection number `link`.
    fn connect(self: &Rc<Self>, id: &str, initiator: bool, link: u32) -> Option<PeerConnection> {
        let config = PeerConfig {
            ice_servers: self.ice_servers.clone(),
            polite: is_polite(&self.id, id),
            initiator,
            certificate: self.certificate.clone(),
        };
        let (connection, events) = match PeerConnection::new(&config) {
            Ok(pair) => pair,
            Err(e) => {
                self.emit(RoomEvent::Warning(e));
                return None;
            }
        };
        for (source, (track, stream)) in self.tracks.borrow().iter() {
            if let Err(e) = connection.set_track(*source, Some((track, stream))) {
                self.emit(RoomEvent::Warning(e));
            }
        }
        spawn_local(forward_peer_events(
            Rc::downgrade(self),
            id.to_owned(),
            link,
            events,
        ));
        Some(connection)
    }

    /// Relays `payload` to peer `to` through the signaling server.
    fn send_signal(&self, to: &str, payload: SignalPayload) -> Result<(), Error> {
        self.signaling.borrow().send(&ClientMessage::Signal {
            to: to.to_owned(),
            data: crate::core::json::Nested(payload),
        })
    }

    /// Replaces the connection to `id` by a new one for a relink (see
    /// [`RoomShared::relink`]): `asked`, we asked for it, so we make the first
    /// offer and wait for the peer's `relink_ack`. Its streams go; transfers
    /// continue when the new files channel opens, from what was acknowledged.
    fn replace_connection(self: &Rc<Self>, id: &str, asked: bool) {
        let Some(link) = self.peers.borrow().get(id).map(|p| p.link.wrapping_add(1)) else {
            return;
        };
        let Some(connection) = self.connect(id, asked, link) else {
            return;
        };
        let (old, streams, files) = {
            let mut peers = self.peers.borrow_mut();
            let Some(peer) = peers.get_mut(id) else {
                return;
            };
            peer.link = link;
            peer.relink_asked = asked;
            peer.probe = None;
            let old = std::mem::replace(&mut peer.connection, connection);
            let streams: Vec<String> = peer.streams.keys().cloned().collect();
            (old, streams, peer.files.clone())
        };
        drop(old); // closes the old RTCPeerConnection
        files.closed();
        for stream_id in streams {
            self.remote_stream_gone(id, &stream_id);
        }
    }

    /// Our data channel to `id` closed while the peer is still in the room: its
    /// SCTP association is gone (Firefox gives one up after a long enough outage,
    /// even when an ICE restart brings the path back), and no data channel can be
    /// opened on it again. Both sides start over with a new connection: we send
    /// `relink` and make the offer; the peer drops its connection, answers
    /// `relink_ack`, and takes the offer. Its signals before that ack belong to
    /// its old connection and are dropped. If both ask at once, the polite side
    /// gives way.
    ///
    /// Returns whether the request went out (not while signaling is down).
    fn relink(self: &Rc<Self>, id: &str) -> bool {
        if self.send_signal(id, SignalPayload::Relink).is_err() {
            return false;
        }
        self.replace_connection(id, true);
        true
    }

    /// `from` asks to start over (see [`RoomShared::relink`]).
    fn relink_asked_by(self: &Rc<Self>, from: &str) {
        let asked_too = match self.peers.borrow().get(from) {
            Some(peer) => peer.relink_asked,
            None => return,
        };
        if asked_too && !is_polite(&self.id, from) {
            return; // our request stands; the peer gives way to it
        }
        self.replace_connection(from, false);
        if let Err(e) = self.send_signal(from, SignalPayload::RelinkAck) {
            self.emit(RoomEvent::Warning(e));
        }
    }

    /// The server says `id` left. A peer whose data channel is still open only lost
    /// its signaling socket (or the server is shutting down): keep the direct link
    /// until it goes down by itself, so the call and chat go on.
    fn peer_left_signaling(self: &Rc<Self>, id: &str) {
        let nonce = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
        let still_linked = {
            let mut peers = self.peers.borrow_mut();
            match peers.get_mut(id) {
                Some(peer) if peer.connection.control_open() => {
                    peer.left_signaling = true;
                    peer.probe = Some(nonce);
                    let ping = PeerMessage::Ping { nonce }.to_json();
                    peer.connection.send_control(&ping).is_ok()
                }
                _ => false,
            }
        };
        if !still_linked {
            self.remove_peer(id);
            return;
        }
        // A closed tab may leave the link looking up for many seconds: no answer in
        // time means it is gone.
        let weak = Rc::downgrade(self);
        let id = id.to_owned();
        spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(LEFT_PEER_PROBE_MS).await;
            let Some(room) = weak.upgrade() else { return };
            let unanswered = room
                .peers
                .borrow()
                .get(&id)
                .is_some_and(|p| p.probe == Some(nonce));
            if unanswered {
                room.remove_peer(&id);
            }
        });
    }

    /// Removes `id` if the server already said it left.
    fn link_down(self: &Rc<Self>, id: &str) {
        let (left, link) = match self.peers.borrow().get(id) {
            Some(p) => (p.left_signaling, p.link),
            None => return,
        };
        if left {
            self.remove_peer(id);
            return;
        }
        // A peer that leaves closes its connection before the server says so:
        // give that word time to come before starting over.
        let weak = Rc::downgrade(self);
        let id = id.to_owned();
        spawn_local(async move {
            loop {
                gloo_timers::future::TimeoutFuture::new(RELINK_AFTER_MS).await;
                let Some(room) = weak.upgrade() else { return };
                let still = room.peers.borrow().get(&id).is_some_and(|p| {
                    p.link == link && !p.left_signaling && !p.connection.control_open()
                });
                // Unsent while signaling is down: asked again once it may be back.
                if !still || room.left.get() || room.relink(&id) {
                    return;
                }
            }
        });
    }

    fn remove_peer(self: &Rc<Self>, id: &str) {
        // Dropping the RemotePeer closes its RTCPeerConnection.
        let removed = self.peers.borrow_mut().remove(id);
        if let Some(peer) = removed {
            if peer.files.has_unfinished_outgoing() {
                self.park(peer.files.clone());
            }
            self.emit(RoomEvent::PeerLeft(id.to_owned()));
        }
    }

    /// Keeps `files` (whose peer left) for [`PARKED_TRANSFERS_MS`]; then its
    /// unfinished transfers are cancelled.
    fn park(self: &Rc<Self>, files: Rc<PeerFiles>) {
        files.closed();
        self.parked.borrow_mut().push(files.clone());
        let weak = Rc::downgrade(self);
        let weak_files = Rc::downgrade(&files);
        spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(PARKED_TRANSFERS_MS).await;
            let (Some(room), Some(files)) = (weak.upgrade(), weak_files.upgrade()) else {
                return;
            };
            let expired = {
                let mut parked = room.parked.borrow_mut();
                let before = parked.len();
                parked.retain(|p| !Rc::ptr_eq(p, &files));
                parked.len() < before
            };
            if expired {
                files.abandon(&format!(
                    "the receiver left and did not come back within {} minutes",
                    PARKED_TRANSFERS_MS / 60_000
                ));
            }
        });
    }

    /// Sending side: `from` asks to take over transfer `id` (its page reloaded).
    /// With a valid proof, the transfers of the link that transfer was on (parked,
    /// or a link not yet noticed as gone) move to `from`'s link.
    fn reattach(self: &Rc<Self>, from: &str, id: TransferId, proof: &str) {
        let accepts = |files: &PeerFiles| files.accepts_reattach(id, proof, from, &self.id);
        let Some(current) = self.peers.borrow().get(from).map(|p| p.files.clone()) else {
            return;
        };
        if accepts(&current) {
            return; // already moved here (by another transfer of the same link)
        }
        let parked = {
            let mut parked = self.parked.borrow_mut();
            let found = parked.iter().position(|f| accepts(f));
            found.map(|i| parked.remove(i))
        };
        let found = parked.or_else(|| {
            let old = self
                .peers
                .borrow()
                .iter()
                .find(|(id, p)| id.as_str() != from && accepts(&p.files))
                .map(|(id, _)| id.clone())?;
            // The old link is the same client from before its reload: it is gone.
            let peer = self.peers.borrow_mut().remove(&old)?;
            self.emit(RoomEvent::PeerLeft(old));
            Some(peer.files)
        });
        // A reloaded page asks every peer, so most requests are for someone else.
        let Some(files) = found else { return };
        if !current.is_empty() {
            // Transfers on both links cannot be merged: keep the old ones parked.
            self.park(files);
            self.emit(RoomEvent::Warning(Error::InvalidInput(format!(
                "peer {from} asked to reattach while it already has other transfers"
            ))));
            return;
        }
        // Pause on the old link (events still name it), tell the UI, then continue
        // on the new one: every event after the move names `from`.
        files.closed();
        self.emit(RoomEvent::TransfersMoved {
            from: files.peer(),
            to: from.to_owned(),
        });
        files.rebind(from.to_owned(), current.link());
        if let Some(peer) = self.peers.borrow_mut().get_mut(from) {
            peer.files = files;
        }
    }

    /// Receiving side: asks `peer` to continue every partial file of an earlier page
    /// load that it may be sending (the proof is bound to this link, see
    /// [`reattach_proof`]).
    fn request_reattach(&self, peer: &str) {
        let Ok(files) = self.files_of(peer) else {
            return;
        };
        for stored in self.restorable.borrow().iter() {
            if let Some(token) = &stored.offer.resume_token {
                let id = stored.offer.id;
                let proof = reattach_proof(token, &self.id, peer, id);
                files.send_control(&ControlMessage::Reattach { id, proof });
            }
        }
    }

    /// A text frame on `from`'s files channel: reattach requests and the offers that
    /// answer ours are handled here, the rest by the peer's [`PeerFiles`].
    fn files_text(self: &Rc<Self>, from: &str, text: &str) {
        let Ok(files) = self.files_of(from) else {
            return;
        };
        let msg = match ControlMessage::parse(text) {
            Ok(msg) => msg,
            Err(e) => return files.bad_peer(e.to_string()),
        };
        let mut new_offer = None;
        match &msg {
            ControlMessage::Reattach { id, proof } => {
                self.reattach(from, *id, proof);
                return;
            }
            ControlMessage::Offer(offer) if offer.resume_token.is_some() => {
                let stored = {
                    let mut restorable = self.restorable.borrow_mut();
                    let found = restorable.iter().position(|s| {
                        s.offer.id == offer.id && s.offer.resume_token == offer.resume_token
                    });
                    found.map(|i| restorable.remove(i))
                };
                if let Some(stored) = stored {
                    let restoring = stored.offer.clone();
                    match files.restore(stored) {
                        Ok(()) => self.emit(RoomEvent::TransferRestoring {
                            peer: from.to_owned(),
                            offer: restoring,
                        }),
                        Err(e) => self.emit(RoomEvent::Warning(e)),
                    }
                } else if files.offer(TransferKey::incoming(offer.id)).is_none() {
                    new_offer = Some(offer.clone());
                }
            }
            _ => {}
        }
        files.control(msg);
        if let Some(offer) = new_offer {
            self.look_for_partial_copy(from, &files, offer);
        }
    }

    /// Receiving side: whether storage holds the start of the newly offered file
    /// already (a partial file of this page load whose sender reloaded, or of an
    /// earlier load that nobody took up); if so, accepting it continues from there.
    fn look_for_partial_copy(self: &Rc<Self>, from: &str, files: &Rc<PeerFiles>, offer: FileOffer) {
        let size = offer.size;
        let wanted = PartialCopyWanted {
            from: from.to_owned(),
            files: Rc::downgrade(files),
            offer,
        };
        // Only files over one segment are stored.
        if let Some(wanted) = self
            .take_known_copy(wanted)
            .filter(|_| size > SEGMENT_BYTES)
        {
            self.queue_partial_scan(wanted);
        }
    }

    /// Looks for `wanted`'s copy in storage: one scan serves every offer that came
    /// while the one before it ran (a folder sent again is many offers at once,
    /// and each scan reads every stored folder).
    fn queue_partial_scan(self: &Rc<Self>, wanted: PartialCopyWanted) {
        let mut scan = self.partial_scan.borrow_mut();
        if let Some(queue) = scan.as_mut() {
            queue.push(wanted);
            return;
        }
        *scan = Some(vec![wanted]);
        drop(scan);
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            loop {
                let Some(room) = weak.upgrade() else { return };
                let wanted: Vec<PartialCopyWanted> = {
                    let mut scan = room.partial_scan.borrow_mut();
                    match scan.as_mut().map(std::mem::take) {
                        Some(queue) if !queue.is_empty() => queue,
                        _ => {
                            *scan = None;
                            return;
                        }
                    }
                };
                // A copy an earlier scan found may be one of them.
                let wanted: Vec<_> = wanted
                    .into_iter()
                    .filter_map(|w| room.take_known_copy(w))
                    .collect();
                if wanted.is_empty() {
                    continue;
                }
                drop(room);
                let generation = super::store::unused_generation();
                // Each copy found is locked by this tab until it is dropped.
                let found = load_stored().await.unwrap_or_default();
                let Some(room) = weak.upgrade() else { return };
                // Copies nobody asks for yet are kept (locked) with the others of
                // earlier loads: dropping them would release their locks only
                // asynchronously, and the next scan would find them still locked.
                room.restorable.borrow_mut().extend(found);
                let missed: Vec<_> = wanted
                    .into_iter()
                    .filter_map(|w| room.take_known_copy(w))
                    .collect();
                room.wait_for_copies(missed, generation);
            }
        });
    }

    /// Offers no scan found a copy for: the copy may have been in use by this very
    /// page still (a transfer whose sender left, writing its last segments), so
    /// each is looked for again whenever a partial file comes free, for as long as
    /// it waits for an answer. `generation`: the store's when the scan began.
    fn wait_for_copies(self: &Rc<Self>, missed: Vec<PartialCopyWanted>, generation: u64) {
        if missed.is_empty() {
            return;
        }
        if super::store::unused_generation() != generation {
            // One came free while the scan ran: look again at once.
            for w in missed {
                self.queue_partial_scan(w);
            }
            return;
        }
        self.copy_waiting.borrow_mut().extend(missed);
        if self.copy_watching.replace(true) {
            return; // the watcher below is waiting already
        }
        // Registered now, before anything else runs: no addition goes unnoticed.
        let mut added = super::store::unused_added();
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            loop {
                let _ = added.await;
                let Some(room) = weak.upgrade() else { return };
                let waiting = std::mem::take(&mut *room.copy_waiting.borrow_mut());
                let still: Vec<_> = waiting
                    .into_iter()
                    .filter(|w| w.files.upgrade().is_some_and(|f| f.undecided(w.offer.id)))
                    .collect();
                if still.is_empty() {
                    room.copy_watching.set(false);
                    return;
                }
                added = super::store::unused_added();
                for w in still {
                    room.queue_partial_scan(w);
                }
            }
        });
    }

    /// Gives `w` a partial copy this page knows (found at load or by an earlier
    /// scan) if one holds the start of its file; `w` back if none does.
    fn take_known_copy(&self, w: PartialCopyWanted) -> Option<PartialCopyWanted> {
        let found = {
            let mut restorable = self.restorable.borrow_mut();
            let i = restorable.iter().position(|s| holds_start_of(s, &w.offer));
            i.map(|i| restorable.remove(i))
        };
        match (found, w.files.upgrade()) {
            (Some(stored), Some(files)) => {
                self.hold_partial_copy(w.from, &files, w.offer.id, stored);
                None
            }
            (Some(stored), None) => {
                self.restorable.borrow_mut().push(stored);
                None
            }
            (None, _) => Some(w),
        }
    }

    /// Gives `files` the partial copy `stored` of its offer `id`, and says so.
    fn hold_partial_copy(
        &self,
        from: PeerId,
        files: &Rc<PeerFiles>,
        id: TransferId,
        stored: StoredTransfer,
    ) {
        let bytes = stored.len();
        if files.hold(id, stored) {
            self.emit(RoomEvent::PartialCopy {
                peer: from,
                id,
                bytes,
            });
        }
    }

    fn handle_server_message(self: &Rc<Self>, msg: ServerMessage) {
        match msg {
            ServerMessage::PeerJoined { peer } => self.add_peer(peer, false),
            ServerMessage::PeerLeft { id } => self.peer_left_signaling(&id),
            ServerMessage::Signal { from, data } => {
                let payload = match data {
                    SignalData::Payload(p) => p,
                    SignalData::Invalid(e) => {
                        self.emit(RoomEvent::Warning(Error::BadPeerMessage {
                            peer: from,
                            reason: format!("bad signal: {e}"),
                        }));
                        return;
                    }
                };
                match payload {
                    SignalPayload::Relink => return self.relink_asked_by(&from),
                    SignalPayload::RelinkAck => {
                        if let Some(peer) = self.peers.borrow_mut().get_mut(&from) {
                            peer.relink_asked = false;
                        }
                        return;
                    }
                    _ => {}
                }
                match self.peers.borrow().get(&from) {
                    // Still for its old connection (sent before our `relink` came).
                    Some(peer) if peer.relink_asked => {}
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

    fn broadcast(&self, msg: &PeerMessage) {
        let wire = msg.to_json();
        for peer in self.peers.borrow().values() {
            if let Err(e) = peer.connection.send_control(&wire) {
                self.emit(RoomEvent::Warning(e));
            }
        }
    }

    /// Sends a chat message to every peer, keeping it until each acknowledges it.
    fn send_chat(&self, chat: ChatMessage) {
        let wire = PeerMessage::Chat(chat.clone()).to_json();
        for peer in self.peers.borrow_mut().values_mut() {
            peer.outbox.sent(&chat.id, &wire);
            // A link being replaced gets it with the new connection (`ControlOpen`).
            if let Err(e) = peer.connection.send_control(&wire) {
                if !peer.connection.control_lost() {
                    self.emit(RoomEvent::Warning(e));
                }
            }
        }
    }

    fn announce_media(&self) {
        let state = self.media.borrow().state.clone();
        self.broadcast(&PeerMessage::Media(state));
    }

    /// Sends `track` as `source` to every peer (now and later), or stops it.
    async fn set_track(&self, source: TrackSource, track: Option<(MediaStreamTrack, MediaStream)>) {
        match &track {
            Some(t) => self.tracks.borrow_mut().insert(source, t.clone()),
            None => self.tracks.borrow_mut().remove(&source),
        };
        let mut replacing = Vec::new();
        for peer in self.peers.borrow().values() {
            match peer
                .connection
                .set_track(source, track.as_ref().map(|(t, s)| (t, s)))
            {
                Ok(Some(promise)) => replacing.push(promise),
                Ok(None) => {}
                Err(e) => self.emit(RoomEvent::Warning(e)),
            }
        }
        for promise in replacing {
            if let Err(e) = JsFuture::from(promise).await {
                self.emit(RoomEvent::Warning(e.into()));
            }
        }
    }

    fn remote_track(self: &Rc<Self>, from: &str, stream: Option<MediaStream>) {
        let Some(stream) = stream else { return };
        let id = stream.id();
        let mut peers = self.peers.borrow_mut();
        let Some(peer) = peers.get_mut(from) else {
            return;
        };
        if peer.streams.contains_key(&id) {
            // One `track` event per track: a later one adds to a stream announced
            // already (all of a description's tracks join their streams before
            // the first event, so the first announcement may hold them all).
            drop(peers);
            self.remote_stream_changed(from, &stream);
            return;
        }
        let weak = Rc::downgrade(self);
        let (peer_id, stream_id) = (from.to_owned(), id.clone());
        let listener = EventListener::new(&stream, "removetrack", move |event| {
            let Some(stream) = event
                .target()
                .and_then(|t| t.dyn_into::<MediaStream>().ok())
            else {
                return;
            };
            let Some(room) = weak.upgrade() else { return };
            if stream.get_tracks().length() == 0 {
                room.remote_stream_gone(&peer_id, &stream_id);
            } else {
                room.remote_stream_changed(&peer_id, &stream);
            }
        });
        let tracks = track_ids(&stream);
        peer.streams
            .insert(id, (Clone::clone(&stream), tracks, listener));
        drop(peers);
        self.emit(RoomEvent::RemoteStream {
            peer: from.to_owned(),
            stream,
        });
    }

    /// Tells of a known stream's tracks if they differ from what was last told.
    fn remote_stream_changed(&self, from: &str, stream: &MediaStream) {
        let tracks = track_ids(stream);
        let changed = {
            let mut peers = self.peers.borrow_mut();
            let Some((_, told, _)) = peers
                .get_mut(from)
                .and_then(|p| p.streams.get_mut(&stream.id()))
            else {
                return;
            };
            *told != tracks && {
                *told = tracks;
                true
            }
        };
        if changed {
            self.emit(RoomEvent::RemoteStreamChanged {
                peer: from.to_owned(),
                stream: Clone::clone(stream),
            });
        }
    }

    fn remote_stream_gone(&self, from: &str, stream_id: &str) {
        let removed = self
            .peers
            .borrow_mut()
            .get_mut(from)
            .and_then(|p| p.streams.remove(stream_id));
        if removed.is_some() {
            self.emit(RoomEvent::RemoteStreamRemoved {
                peer: from.to_owned(),
                stream_id: stream_id.to_owned(),
            });
        }
    }

    fn remote_media(&self, from: &str, state: MediaState) {
        let old_screen = {
            let mut peers = self.peers.borrow_mut();
            let Some(peer) = peers.get_mut(from) else {
                return;
            };
            std::mem::replace(&mut peer.media, state.clone()).screen_stream
        };
        // A share that stopped is gone now, even before renegotiation removes it.
        if let Some(old) = old_screen.filter(|old| state.screen_stream.as_ref() != Some(old)) {
            self.remote_stream_gone(from, &old);
        }
        self.emit(RoomEvent::PeerMedia {
            peer: from.to_owned(),
            state,
        });
    }

    fn files_of(&self, peer: &str) -> Result<Rc<PeerFiles>, Error> {
        self.peers
            .borrow()
            .get(peer)
            .map(|p| p.files.clone())
            .ok_or_else(|| Error::InvalidInput(format!("no peer {peer} in the room")))
    }

    /// [`files_of`](Self::files_of), or the transfers kept for a peer that left
    /// (parked in case its page comes back): they can still be looked at and
    /// cancelled.
    fn transfers_of(&self, peer: &str) -> Result<Rc<PeerFiles>, Error> {
        self.files_of(peer).or_else(|e| {
            let parked = self.parked.borrow();
            parked.iter().find(|f| f.peer() == peer).cloned().ok_or(e)
        })
    }

    fn handle_peer_event(self: &Rc<Self>, from: &str, event: PeerEvent) {
        match event {
            PeerEvent::Signal(payload) => {
                // Without signaling, established connections still work; new
                // negotiations wait until the room is joined again.
                if let Err(e) = self.send_signal(from, payload) {
                    self.emit(RoomEvent::Warning(e));
                }
            }
            PeerEvent::StateChanged(state) => {
                self.emit(RoomEvent::PeerState {
                    id: from.to_owned(),
                    state,
                });
                let lost = state == ConnectionState::Connected
                    && self
                        .peers
                        .borrow()
                        .get(from)
                        .is_some_and(|p| p.connection.control_lost());
                if lost || matches!(state, ConnectionState::Failed | ConnectionState::Closed) {
                    self.link_down(from);
                }
            }
            PeerEvent::ControlOpen => {
                let state = self.media.borrow().state.clone();
                if let Some(peer) = self.peers.borrow().get(from) {
                    let _ = peer
                        .connection
                        .send_control(&PeerMessage::Media(state).to_json());
                    // A new connection after `relink`: what the old one may have lost.
                    if peer.link > 0 {
                        for wire in peer.outbox.unacked() {
                            let _ = peer.connection.send_control(wire);
                        }
                    }
                }
                self.emit(RoomEvent::PeerChannelOpen(from.to_owned()))
            }
            PeerEvent::Track { stream, .. } => self.remote_track(from, stream),
            PeerEvent::FilesOpen { max_message_size } => {
                let found = self
                    .peers
                    .borrow()
                    .get(from)
                    .map(|p| (p.files.clone(), p.connection.files_channel()));
                if let Some((files, Some(channel))) = found {
                    files.opened(channel, max_message_size);
                    self.request_reattach(from);
                }
            }
            PeerEvent::FilesClosed => {
                if let Ok(files) = self.files_of(from) {
                    files.closed();
                }
            }
            PeerEvent::FilesText(text) => self.files_text(from, &text),
            PeerEvent::FilesBinary(buffer) => {
                if let Ok(files) = self.files_of(from) {
                    files.binary(&buffer);
                }
            }
            PeerEvent::FilesBufferedLow => {
                if let Ok(files) = self.files_of(from) {
                    files.drain();
                }
            }
            PeerEvent::ControlClosed => self.link_down(from),
            PeerEvent::ControlMessage(text) => match PeerMessage::parse(&text, from) {
                Ok(PeerMessage::Chat(chat)) => {
                    let first_time = match self.peers.borrow_mut().get_mut(from) {
                        Some(peer) => {
                            let ack = PeerMessage::ChatAck {
                                id: chat.id.clone(),
                            };
                            let _ = peer.connection.send_control(&ack.to_json());
                            peer.inbox.first_time(&chat.id)
                        }
                        None => true,
                    };
                    if first_time {
                        self.emit(RoomEvent::Chat(chat));
                    }
                }
                Ok(PeerMessage::ChatAck { id }) => {
                    if let Some(peer) = self.peers.borrow_mut().get_mut(from) {
                        peer.outbox.acked(&id);
                    }
                }
                Ok(PeerMessage::Media(state)) => self.remote_media(from, state),
                Ok(PeerMessage::Ping { nonce }) => {
                    if let Some(peer) = self.peers.borrow().get(from) {
                        let _ = peer
                            .connection
                            .send_control(&PeerMessage::Pong { nonce }.to_json());
                    }
                }
                Ok(PeerMessage::Pong { nonce }) => {
                    if let Some(peer) = self.peers.borrow_mut().get_mut(from) {
                        if peer.probe == Some(nonce) {
                            peer.probe = None;
                        }
                    }
                }
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
    link: u32,
    mut events: mpsc::UnboundedReceiver<PeerEvent>,
) {
    while let Some(event) = events.next().await {
        let Some(room) = room.upgrade() else { return };
        // A connection replaced by `relink`: what it says no longer counts. (One
        // removed with its peer still has its last words handled.)
        if room
            .peers
            .borrow()
            .get(&peer)
            .is_some_and(|p| p.link != link)
        {
            return;
        }
        room.handle_peer_event(&peer, event);
    }
}

/// Handles the server's frames; when the socket closes (server restart, network
/// change, sleep), reconnects with backoff and carries on with the new socket.
async fn run_signaling(room: Weak<RoomShared>, mut signaling: Signaling) {
    loop {
        let (code, reason) = loop {
            // Looks at the clock now and then rather than trusting one long timer:
            // a hidden tab's timers may fire a minute late, and then the pong of a
            // ping sent by an equally late timer is not missing.
            let next = signaling.next();
            futures_util::pin_mut!(next);
            let check = gloo_timers::future::TimeoutFuture::new(PONG_WAIT_MS / 2);
            let event = match futures_util::future::select(next, check).await {
                futures_util::future::Either::Left((event, _)) => event,
                futures_util::future::Either::Right(_) => {
                    let Some(room) = room.upgrade() else { return };
                    let waited = room
                        .unanswered_ping
                        .get()
                        .map(|sent| js_sys::Date::now() - sent);
                    if waited.is_some_and(|ms| ms >= f64::from(PONG_WAIT_MS)) {
                        let secs = PONG_WAIT_MS / 1000;
                        break (
                            1006,
                            format!("no answer from the signaling server for {secs} s"),
                        );
                    }
                    continue;
                }
            };
            let Some(room) = room.upgrade() else { return };
            room.unanswered_ping.set(None);
            match event {
                Some(SignalingEvent::Message(msg)) => room.handle_server_message(msg),
                Some(SignalingEvent::Invalid(reason)) => {
                    room.emit(RoomEvent::Warning(Error::InvalidInput(format!(
                        "invalid frame from the signaling server: {reason}"
                    ))))
                }
                Some(SignalingEvent::Closed { code, reason }) => break (code, reason),
                None => break (1006, String::new()),
            }
        };
        drop(signaling);
        let Some(shared) = room.upgrade() else { return };
        if shared.left.get() {
            return;
        }
        let reason = if reason.is_empty() {
            format!("connection closed (code {code})")
        } else {
            reason
        };
        // Replaced: this peer id now belongs to a newer socket (another tab with
        // the same token); coming back would only push that one out.
        let reconnecting = code != CLOSE_REPLACED;
        shared.emit(RoomEvent::SignalingLost {
            reason,
            reconnecting,
        });
        drop(shared);
        if !reconnecting {
            return;
        }
        signaling = match reconnect(&room).await {
            Some(signaling) => signaling,
            None => return,
        };
    }
}

/// Tries to join again (same room, name and resume token) until it works, the
/// room is left, or the server refuses us for good (e.g. the room is full now).
async fn reconnect(room: &Weak<RoomShared>) -> Option<Signaling> {
    let mut delay = RECONNECT_FIRST_MS;
    loop {
        gloo_timers::future::TimeoutFuture::new(delay).await;
        delay = (delay * 2).min(RECONNECT_MAX_MS);
        let (options, token) = {
            let shared = room.upgrade()?;
            if shared.left.get() {
                return None;
            }
            (shared.join_options.clone(), shared.resume_token.clone())
        };
        let attempt = Room::handshake(&options, &token).await;
        let shared = room.upgrade()?;
        if shared.left.get() {
            return None;
        }
        match attempt {
            Ok((signaling, id, peers, _)) if id == shared.id => {
                shared.resumed(&signaling, peers);
                return Some(signaling);
            }
            Ok((_, id, _, _)) => {
                shared.emit(RoomEvent::Warning(Error::InvalidInput(format!(
                    "the signaling server gave us id {id} instead of {}: \
                     it does not support resuming; join the room again",
                    shared.id
                ))));
                return None;
            }
            Err(e @ Error::Rejected { .. }) => {
                shared.emit(RoomEvent::Warning(e));
                return None;
            }
            // Unreachable or closed early: the server is not back yet.
            Err(_) => {}
        }
    }
}

async fn keep_alive(room: Weak<RoomShared>) {
    loop {
        gloo_timers::future::TimeoutFuture::new(KEEPALIVE_MS).await;
        let Some(room) = room.upgrade() else { return };
        if room.left.get() {
            return;
        }
        // Fails only while reconnecting; the next socket gets the next ping.
        let sent = room.signaling.borrow().send(&ClientMessage::Ping).is_ok();
        if sent && room.unanswered_ping.get().is_none() {
            room.unanswered_ping.set(Some(js_sys::Date::now()));
        }
    }
}

impl RoomShared {
    /// Back on the server under our id: link up with peers that joined meanwhile,
    /// keep the links we have, and check on peers the server no longer lists.
    fn resumed(self: &Rc<Self>, signaling: &Signaling, peers: Vec<PeerInfo>) {
        *self.signaling.borrow_mut() = signaling.sender();
        self.unanswered_ping.set(None);
        let listed: Vec<PeerId> = peers.iter().map(|p| p.id.clone()).collect();
        for info in peers {
            self.add_peer(info, true);
        }
        let unlisted: Vec<PeerId> = self
            .peers
            .borrow()
            .keys()
            .filter(|id| !listed.contains(id))
            .cloned()
            .collect();
        for id in unlisted {
            // Perhaps still reconnecting itself (after a server restart everyone
            // is): a live link answers the probe and is kept.
            self.peer_left_signaling(&id);
        }
        self.emit(RoomEvent::SignalingRestored);
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
        let capture = async {
            match &options.media {
                Some(request) => Some(media::get_user_media(request).await),
                None => None,
            }
        };
        // Capture, certificate and handshake in parallel: then the first offer or
        // answer to each peer waits for none of them.
        let token = super::random_token()?;
        let (captured, certificate, welcome, stored) = futures_util::future::join4(
            capture,
            super::peer::generate_certificate(),
            Self::handshake(&options, &token),
            load_stored(),
        )
        .await;
        let (signaling, id, peers, ice_servers) = match welcome {
            Ok(w) => w,
            Err(e) => {
                if let Some(Ok(stream)) = captured {
                    stop_tracks(&stream);
                }
                return Err(e);
            }
        };
        let (events_tx, events_rx) = mpsc::unbounded();
        let shared = Rc::new(RoomShared {
            composer: RefCell::new(ChatComposer::new(id.clone())),
            id,
            name: options.name.trim().to_owned(),
            room: options.room.trim().to_owned(),
            ice_servers,
            // Without one, each connection makes its own (slower, but works).
            certificate: certificate.ok(),
            signaling: RefCell::new(signaling.sender()),
            unanswered_ping: Cell::new(None),
            join_options: options.clone(),
            resume_token: token,
            left: std::cell::Cell::new(false),
            peers: RefCell::new(VecMap::new()),
            events: events_tx,
            tracks: RefCell::new(VecMap::new()),
            media: RefCell::new(LocalMedia::default()),
            parked: RefCell::new(Vec::new()),
            // Without storage (no OPFS), nothing survives a reload.
            restorable: RefCell::new(stored.unwrap_or_default()),
            partial_scan: RefCell::new(None),
            copy_waiting: RefCell::new(Vec::new()),
            copy_watching: Cell::new(false),
        });
        let room = Room { shared };
        match (captured, &options.media) {
            (Some(Ok(stream)), Some(request)) => {
                // No peers yet: this only records the tracks for add_peer below.
                if let Err(e) = room.use_camera(&stream, request).await {
                    room.shared.emit(RoomEvent::Warning(e));
                }
            }
            (Some(Err(e)), _) => room.shared.emit(RoomEvent::MediaFailed(e)),
            _ => {}
        }
        let shared = room.shared;
        for peer in peers {
            shared.add_peer(peer, true);
        }
        spawn_local(run_signaling(Rc::downgrade(&shared), signaling));
        spawn_local(keep_alive(Rc::downgrade(&shared)));
        Ok((Room { shared }, RoomEvents(events_rx)))
    }

    /// Connects to the signaling server, joins, and waits for the welcome.
    async fn handshake(
        options: &JoinOptions,
        token: &str,
    ) -> Result<(Signaling, PeerId, Vec<PeerInfo>, Vec<IceServer>), Error> {
        let mut signaling = Signaling::connect(&options.server_url).await?;
        signaling.send(&ClientMessage::Join {
            room: options.room.clone(),
            name: options.name.clone(),
            password: options.password.clone(),
            resume: Some(token.to_owned()),
        })?;
        loop {
            match signaling.next().await {
                Some(SignalingEvent::Message(ServerMessage::Welcome {
                    id,
                    peers,
                    ice_servers,
                    ..
                })) => return Ok((signaling, id, peers, ice_servers)),
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
        }
    }

    /// Our camera/microphone stream (for a self-view), while capturing.
    pub fn local_stream(&self) -> Option<MediaStream> {
        self.shared.media.borrow().camera.clone()
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
        self.shared.send_chat(msg.clone());
        Ok(msg)
    }

    /// The connection to one peer (escape hatch to the raw `RTCPeerConnection`).
    pub fn with_peer<R>(&self, id: &str, f: impl FnOnce(&PeerConnection) -> R) -> Option<R> {
        self.shared.peers.borrow().get(id).map(|p| f(&p.connection))
    }

    /// Starts capturing camera and/or microphone and sends them to every peer.
    /// Returns the local stream (for a self-view). Calling it again replaces the
    /// capture (e.g. from voice-only to video) without a second stream; a muted
    /// microphone or a camera turned off stays so.
    pub async fn start_media(&self, request: &MediaRequest) -> Result<MediaStream, Error> {
        let captured = media::get_user_media(request).await?;
        self.use_camera(&captured, request).await
    }

    /// Sends the tracks of a fresh capture as microphone and camera.
    async fn use_camera(
        &self,
        captured: &MediaStream,
        request: &MediaRequest,
    ) -> Result<MediaStream, Error> {
        let stream = self.shared.media.borrow().camera.clone();
        let stream = match stream {
            Some(s) => s,
            None => MediaStream::new()?,
        };
        let audio = captured
            .get_audio_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
            .ok();
        let video = captured
            .get_video_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
            .ok();
        // Replacing a muted microphone (or a camera turned off) must not unmute it,
        // not even for the moment before the caller could mute it again.
        let was_enabled = |source| {
            self.shared
                .tracks
                .borrow()
                .get(&source)
                .map(|(t, _): &(MediaStreamTrack, MediaStream)| t.enabled())
        };
        let mic_on = was_enabled(TrackSource::Microphone).unwrap_or(true);
        let camera_on = was_enabled(TrackSource::Camera).unwrap_or(true);
        if let Some(t) = &audio {
            t.set_enabled(mic_on);
        }
        if let Some(t) = &video {
            t.set_enabled(camera_on);
        }
        self.put_camera_track(&stream, TrackSource::Microphone, audio)
            .await;
        self.put_camera_track(&stream, TrackSource::Camera, video)
            .await;
        {
            let mut media = self.shared.media.borrow_mut();
            media.camera = Some(Clone::clone(&stream));
            media.state.camera_stream = Some(stream.id());
            media.state.mic = request.audio.is_some() && mic_on;
            media.state.camera = request.video.is_some() && camera_on;
        }
        self.shared.announce_media();
        Ok(stream)
    }

    /// Puts `track` into our camera stream as `source` (replacing and stopping the
    /// previous one) and sends it to every peer; `None` removes the source.
    async fn put_camera_track(
        &self,
        stream: &MediaStream,
        source: TrackSource,
        track: Option<MediaStreamTrack>,
    ) {
        let old = self
            .shared
            .tracks
            .borrow()
            .get(&source)
            .map(|(t, _)| Clone::clone(t));
        if let Some(old) = &old {
            stream.remove_track(old);
        }
        if let Some(track) = &track {
            stream.add_track(track);
        }
        self.shared
            .set_track(source, track.map(|t| (t, Clone::clone(stream))))
            .await;
        if let Some(old) = old {
            old.stop();
        }
    }

    /// Stops camera and microphone.
    pub async fn stop_media(&self) {
        let Some(stream) = self.shared.media.borrow().camera.clone() else {
            return;
        };
        self.put_camera_track(&stream, TrackSource::Microphone, None)
            .await;
        self.put_camera_track(&stream, TrackSource::Camera, None)
            .await;
        {
            let mut media = self.shared.media.borrow_mut();
            media.camera = None;
            media.state.camera_stream = None;
            media.state.mic = false;
            media.state.camera = false;
        }
        self.shared.announce_media();
    }

    /// Mutes or unmutes the microphone (no renegotiation; peers are told).
    pub fn set_mic_enabled(&self, enabled: bool) -> bool {
        self.set_enabled(TrackSource::Microphone, enabled)
    }

    /// Turns the camera picture on or off (no renegotiation; peers are told).
    pub fn set_camera_enabled(&self, enabled: bool) -> bool {
        self.set_enabled(TrackSource::Camera, enabled)
    }

    fn set_enabled(&self, source: TrackSource, enabled: bool) -> bool {
        let Some((track, _)) = self.shared.tracks.borrow().get(&source).cloned() else {
            return false;
        };
        track.set_enabled(enabled);
        {
            let mut media = self.shared.media.borrow_mut();
            match source {
                TrackSource::Microphone => media.state.mic = enabled,
                _ => media.state.camera = enabled,
            }
        }
        self.shared.announce_media();
        true
    }

    /// Switches the microphone (`video == false`) or camera to another device, using
    /// `RTCRtpSender.replaceTrack` so the call goes on without renegotiation.
    pub async fn switch_device(&self, video: bool, device_id: &str) -> Result<(), Error> {
        let Some(stream) = self.shared.media.borrow().camera.clone() else {
            return Err(Error::InvalidInput(
                "start camera or microphone first".into(),
            ));
        };
        let (source, request) = if video {
            let mut v = media::VideoRequest::call_default();
            v.device_id = Some(device_id.to_owned());
            (
                TrackSource::Camera,
                MediaRequest {
                    audio: None,
                    video: Some(v),
                },
            )
        } else {
            let request = MediaRequest {
                audio: Some(Some(device_id.to_owned())),
                video: None,
            };
            (TrackSource::Microphone, request)
        };
        let enabled = self
            .shared
            .tracks
            .borrow()
            .get(&source)
            .map(|(t, _)| t.enabled())
            .unwrap_or(true);
        let captured = media::get_user_media(&request).await?;
        let track = captured
            .get_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
            .ok();
        if let Some(track) = &track {
            track.set_enabled(enabled);
        }
        self.put_camera_track(&stream, source, track).await;
        Ok(())
    }

    /// Shares a screen, window or tab (with its audio when offered) as its own
    /// stream, next to the camera. Returns the screen stream for a local preview.
    pub async fn start_screen_share(&self) -> Result<MediaStream, Error> {
        if self.shared.media.borrow().screen.is_some() {
            return Err(Error::InvalidInput("already sharing the screen".into()));
        }
        let stream = media::get_display_media(true).await?;
        let video = stream
            .get_video_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
            .map_err(|_| MediaError::NoDevice {
                what: super::media::SCREEN,
                message: "the shared surface has no video".into(),
            })?;
        let audio = stream
            .get_audio_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
            .ok();
        // Screens are text and detail: keep the resolution, drop frame rate instead.
        let _ = js_sys::Reflect::set(&video, &"contentHint".into(), &"detail".into());
        let weak = Rc::downgrade(&self.shared);
        let ended = EventListener::once(&video, "ended", move |_| {
            if let Some(shared) = weak.upgrade() {
                spawn_local(async move { Room { shared }.stop_screen_share().await });
            }
        });
        {
            let mut media = self.shared.media.borrow_mut();
            media.screen = Some(Clone::clone(&stream));
            media.screen_ended = Some(ended);
            media.state.screen_stream = Some(stream.id());
        }
        // Announce first so peers classify the new stream as a screen on arrival.
        self.shared.announce_media();
        self.shared
            .set_track(
                TrackSource::ScreenVideo,
                Some((video, Clone::clone(&stream))),
            )
            .await;
        if let Some(audio) = audio {
            self.shared
                .set_track(
                    TrackSource::ScreenAudio,
                    Some((audio, Clone::clone(&stream))),
                )
                .await;
        }
        Ok(stream)
    }

    /// Stops the screen share on every peer.
    pub async fn stop_screen_share(&self) {
        let stream = {
            let mut media = self.shared.media.borrow_mut();
            media.screen_ended = None;
            media.state.screen_stream = None;
            media.screen.take()
        };
        let Some(stream) = stream else { return };
        self.shared.announce_media();
        self.shared.set_track(TrackSource::ScreenVideo, None).await;
        self.shared.set_track(TrackSource::ScreenAudio, None).await;
        stop_tracks(&stream);
        self.shared.emit(RoomEvent::ScreenShareEnded);
    }

    /// Offers `file` to peer `peer`; `relative_path` (e.g. `webkitRelativePath`) keeps
    /// a folder's structure. The bytes are read in slices only once accepted.
    pub fn send_file(
        &self,
        peer: &str,
        file: &web_sys::File,
        relative_path: Option<String>,
    ) -> Result<TransferId, Error> {
        self.shared.files_of(peer)?.send(file, relative_path)
    }

    /// Offers `file` to every peer in the room; returns (peer, transfer id) pairs.
    pub fn send_file_to_all(
        &self,
        file: &web_sys::File,
        relative_path: Option<String>,
    ) -> Vec<(PeerId, Result<TransferId, Error>)> {
        let peers: Vec<PeerId> = self.shared.peers.borrow().keys().cloned().collect();
        peers
            .into_iter()
            .map(|p| {
                let r = self.send_file(&p, file, relative_path.clone());
                (p, r)
            })
            .collect()
    }

    /// Accepts a file `peer` offered; the bytes start flowing.
    pub fn accept_file(&self, peer: &str, id: TransferId) -> Result<(), Error> {
        self.shared.files_of(peer)?.accept(id)
    }

    /// Declines a file `peer` offered.
    pub fn reject_file(&self, peer: &str, id: TransferId) -> Result<(), Error> {
        self.shared.files_of(peer)?.reject(id)
    }

    /// Cancels a transfer in either direction (also one kept for a peer that left,
    /// waiting in case its page comes back).
    pub fn cancel_transfer(&self, peer: &str, key: TransferKey) -> Result<(), Error> {
        self.shared.transfers_of(peer)?.cancel(key)
    }

    /// Bytes done, speed and time left of a transfer.
    pub fn transfer_progress(&self, peer: &str, key: TransferKey) -> Option<Progress> {
        self.shared.transfers_of(peer).ok()?.progress(key)
    }

    /// The (sanitized) offer of a transfer.
    pub fn transfer_offer(&self, peer: &str, key: TransferKey) -> Option<FileOffer> {
        self.shared.transfers_of(peer).ok()?.offer(key)
    }

    /// Live statistics of the connection to one peer.
    pub async fn stats(&self, id: &str) -> Result<super::stats::PeerStats, Error> {
        let pc = self
            .with_peer(id, |p| p.as_raw().clone())
            .ok_or_else(|| Error::InvalidInput(format!("no peer {id} in the room")))?;
        super::stats::peer_stats(&pc).await
    }

    /// Our current media state (what peers are told).
    pub fn media_state(&self) -> MediaState {
        self.shared.media.borrow().state.clone()
    }

    /// A peer's last announced media state.
    pub fn peer_media(&self, id: &str) -> Option<MediaState> {
        self.shared.peers.borrow().get(id).map(|p| p.media.clone())
    }

    /// Leaves the room: closes every peer connection and the signaling socket.
    pub fn leave(&self) {
        self.shared.left.set(true);
        self.shared.signaling.borrow().close();
        let peers = std::mem::take(&mut *self.shared.peers.borrow_mut());
        drop(peers);
        // Partial files no offer took up: for the next join (or `stored_downloads`).
        super::store::keep_unused(std::mem::take(&mut *self.shared.restorable.borrow_mut()));
        let media = std::mem::take(&mut *self.shared.media.borrow_mut());
        for stream in [media.camera, media.screen].into_iter().flatten() {
            stop_tracks(&stream);
        }
        self.shared.tracks.borrow_mut().clear();
    }
}

/// Stops every track of `stream` (releases the camera/microphone/screen).
fn stop_tracks(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
            track.stop();
        }
    }
}

/// The ids of a stream's tracks, sorted.
fn track_ids(stream: &MediaStream) -> Vec<String> {
    let mut ids: Vec<String> = stream
        .get_tracks()
        .iter()
        .filter_map(|t| t.dyn_into::<MediaStreamTrack>().ok())
        .map(|t| t.id())
        .collect();
    ids.sort_unstable();
    ids
}
