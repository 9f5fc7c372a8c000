//! One RTCPeerConnection to one remote peer, negotiated with the perfect negotiation
//! pattern ([`crate::core::negotiation`]) and trickle ICE, plus the negotiated
//! "control" data channel that carries chat and state.
//!
//! See <https://developer.mozilla.org/en-US/docs/Web/API/RTCPeerConnection>.

use super::Error;
use crate::core::negotiation::{
    candidate_is_stale, DescriptionKind, PerfectNegotiation, RemoteDescriptionAction,
};
use crate::core::vec_map::VecMap;
use futures_channel::mpsc;
use futures_util::StreamExt;
use gloo_events::EventListener;
use peerlink_protocol::{IceServer, SignalPayload};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    MediaStream, MediaStreamTrack, MessageEvent, RtcConfiguration, RtcDataChannel,
    RtcDataChannelInit, RtcDataChannelState, RtcIceCandidateInit, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcPeerConnectionState, RtcRtpSender, RtcSdpType,
    RtcSessionDescriptionInit, RtcSignalingState, RtcTrackEvent,
};

#[wasm_bindgen]
extern "C" {
    /// RTCPeerConnection methods web-sys does not bind in the form we need.
    #[wasm_bindgen(js_name = RTCPeerConnection)]
    type PeerConnectionExt;

    /// `setLocalDescription()` without arguments: creates the right offer or answer
    /// for the current state (the form perfect negotiation relies on).
    #[wasm_bindgen(method, js_name = setLocalDescription)]
    fn set_local_description_implicit(this: &PeerConnectionExt) -> js_sys::Promise;

    /// <https://developer.mozilla.org/en-US/docs/Web/API/RTCPeerConnection/restartIce>
    #[wasm_bindgen(method, js_name = restartIce)]
    fn restart_ice(this: &PeerConnectionExt);

    #[wasm_bindgen(method, catch, js_name = addTrack)]
    fn add_track_checked(
        this: &PeerConnectionExt,
        track: &MediaStreamTrack,
        stream: &MediaStream,
    ) -> Result<RtcRtpSender, JsValue>;

    #[wasm_bindgen(method, catch, js_name = removeTrack)]
    fn remove_track_checked(this: &PeerConnectionExt, sender: &RtcRtpSender)
        -> Result<(), JsValue>;
}

fn ext(pc: &RtcPeerConnection) -> &PeerConnectionExt {
    pc.unchecked_ref()
}

/// The SCTP stream id of the negotiated control channel, the same on both sides.
const CONTROL_CHANNEL_ID: u16 = 0;
/// The SCTP stream id of the negotiated file-transfer channel.
const FILES_CHANNEL_ID: u16 = 1;
/// Control messages queued while the channel is not open yet.
const MAX_PENDING_CONTROL: usize = 256;
/// An offer still unanswered after this long is sent again (and again): signals
/// can be lost, with a signaling socket that died before anyone noticed.
const OFFER_RESEND_MS: u32 = 5_000;
/// While a link stays failed or disconnected after an ICE restart, the restart is
/// made again this often: one made while the network was still down fails too,
/// and then no state change would ask for another.
const ICE_RESTART_RETRY_MS: u32 = 5_000;

/// How to set up a [`PeerConnection`].
#[derive(Debug, Clone, Default)]
pub struct PeerConfig {
    /// ICE servers (from the signaling server's welcome).
    pub ice_servers: Vec<IceServer>,
    /// Our role in perfect negotiation; see [`crate::core::negotiation::is_polite`].
    pub polite: bool,
    /// Whether we open the connection now (the peer that joined later does). The other
    /// side waits for the first offer, which avoids a needless offer collision.
    pub initiator: bool,
    /// A DTLS certificate made ahead of time (see [`generate_certificate`]); without
    /// one each connection generates its own, and its first offer or answer waits
    /// for it.
    pub certificate: Option<JsValue>,
}

/// Generates an ECDSA P-256 DTLS certificate to share between connections
/// (<https://developer.mozilla.org/en-US/docs/Web/API/RTCPeerConnection/generateCertificate_static>).
pub async fn generate_certificate() -> Result<JsValue, Error> {
    let algorithm = js_sys::Object::new();
    js_sys::Reflect::set(&algorithm, &"name".into(), &"ECDSA".into())?;
    js_sys::Reflect::set(&algorithm, &"namedCurve".into(), &"P-256".into())?;
    let promise = RtcPeerConnection::generate_certificate_with_object(&algorithm)?;
    Ok(JsFuture::from(promise).await?)
}

/// Where a local track comes from. Each source has at most one sender per connection,
/// so switching devices is a `replaceTrack` on the same sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrackSource {
    Microphone,
    Camera,
    ScreenVideo,
    ScreenAudio,
}

/// `RTCPeerConnection.connectionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    New,
    Connecting,
    Connected,
    Disconnected,
    Failed,
    Closed,
}

impl ConnectionState {
    /// The WebRTC name, e.g. `"connected"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::Failed => "failed",
            Self::Closed => "closed",
        }
    }

    fn from_web(state: RtcPeerConnectionState) -> Self {
        match state {
            RtcPeerConnectionState::Connecting => Self::Connecting,
            RtcPeerConnectionState::Connected => Self::Connected,
            RtcPeerConnectionState::Disconnected => Self::Disconnected,
            RtcPeerConnectionState::Failed => Self::Failed,
            RtcPeerConnectionState::Closed => Self::Closed,
            _ => Self::New,
        }
    }
}

/// What a [`PeerConnection`] reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PeerEvent {
    /// Send this to the remote peer through signaling.
    Signal(SignalPayload),
    /// `connectionState` changed.
    StateChanged(ConnectionState),
    /// The control channel opened (messages can flow).
    ControlOpen,
    /// The control channel closed (the peer went away or the connection died).
    ControlClosed,
    /// A text frame arrived on the control channel.
    ControlMessage(String),
    /// The file-transfer channel opened; `max_message_size` is the remote's limit.
    FilesOpen { max_message_size: u64 },
    /// The file-transfer channel closed.
    FilesClosed,
    /// A text frame on the file-transfer channel (a transfer control message).
    FilesText(String),
    /// A binary frame on the file-transfer channel (a chunk).
    FilesBinary(js_sys::ArrayBuffer),
    /// The file-transfer channel's `bufferedAmount` fell to its low threshold.
    FilesBufferedLow,
    /// A remote track arrived, with the stream the sender grouped it in.
    Track {
        track: MediaStreamTrack,
        stream: Option<MediaStream>,
    },
    /// Something failed; the connection may recover (e.g. a rejected candidate).
    Error(Error),
}

struct Shared {
    pc: RtcPeerConnection,
    negotiation: RefCell<PerfectNegotiation>,
    /// Offers made so far: tells a resend loop whether its offer is still the
    /// one out.
    offers_made: std::cell::Cell<u32>,
    events: mpsc::UnboundedSender<PeerEvent>,
    control: RefCell<Option<RtcDataChannel>>,
    files: RefCell<Option<RtcDataChannel>>,
    /// Listeners on the data channels; they hold only a `Weak<Shared>`.
    control_listeners: RefCell<Vec<EventListener>>,
    pending_control: RefCell<VecDeque<String>>,
    /// Whether channel and tracks are attached: at once for an initiator, at the first
    /// remote offer otherwise (so they ride on that offer's answer, no extra round).
    started: std::cell::Cell<bool>,
    /// Whether an ICE restart is being retried until the link is back.
    restarting: std::cell::Cell<bool>,
    /// Whether the control channel has been open.
    control_opened: std::cell::Cell<bool>,
    /// The tracks we want to send, by source.
    wanted_tracks: RefCell<VecMap<TrackSource, (MediaStreamTrack, MediaStream)>>,
    senders: RefCell<VecMap<TrackSource, RtcRtpSender>>,
}

impl Shared {
    /// Attaches the control channel and every wanted track.
    fn start(self: &Rc<Self>) {
        if self.started.replace(true) {
            return;
        }
        self.ensure_control_channel();
        let sources: Vec<TrackSource> = self.wanted_tracks.borrow().keys().copied().collect();
        for source in sources {
            if let Err(e) = self.sync_track(source) {
                self.emit(PeerEvent::Error(e));
            }
        }
    }

    /// Makes the sender for `source` match `wanted_tracks`; returns the pending
    /// `replaceTrack` promise when the sender already existed.
    fn sync_track(&self, source: TrackSource) -> Result<Option<js_sys::Promise>, Error> {
        if !self.started.get() {
            return Ok(None);
        }
        let wanted = self.wanted_tracks.borrow();
        let mut senders = self.senders.borrow_mut();
        match (wanted.get(&source), senders.get(&source)) {
            (Some((track, _)), Some(sender)) => Ok(Some(sender.replace_track(Some(track)))),
            (Some((track, stream)), None) => {
                let sender = ext(&self.pc).add_track_checked(track, stream)?;
                senders.insert(source, sender);
                Ok(None)
            }
            (None, Some(sender)) => {
                let result = ext(&self.pc).remove_track_checked(sender);
                senders.remove(&source);
                result.map(|_| None).map_err(Error::from)
            }
            (None, None) => Ok(None),
        }
    }

    fn emit(&self, event: PeerEvent) {
        // Nobody listening any more means the owner is shutting down.
        let _ = self.events.unbounded_send(event);
    }

    fn send_local_description(&self) {
        let Some(desc) = self.pc.local_description() else {
            return;
        };
        let sdp_type = match desc.type_() {
            RtcSdpType::Offer => "offer",
            RtcSdpType::Answer => "answer",
            _ => return,
        };
        self.emit(PeerEvent::Signal(SignalPayload::Description {
            sdp_type: sdp_type.into(),
            sdp: desc.sdp(),
        }));
    }

    /// An ordered, reliable channel negotiated out of band with a fixed stream id (the
    /// same on both sides, so neither waits for the other to announce it).
    fn negotiated_channel(&self, label: &str, id: u16) -> RtcDataChannel {
        let init = RtcDataChannelInit::new();
        init.set_negotiated(true);
        init.set_id(id);
        init.set_ordered(true);
        self.pc
            .create_data_channel_with_data_channel_dict(label, &init)
    }

    /// Listens to `kind` on `target` with a callback that holds only a weak reference,
    /// so the listener (stored in `self`) does not keep `self` alive.
    fn listen_weak(
        self: &Rc<Self>,
        target: &web_sys::EventTarget,
        kind: &'static str,
        f: fn(&Rc<Shared>, &web_sys::Event),
    ) -> EventListener {
        let weak: Weak<Shared> = Rc::downgrade(self);
        EventListener::new(target, kind, move |event| {
            if let Some(shared) = weak.upgrade() {
                f(&shared, event);
            }
        })
    }

    /// Creates the negotiated control channel if it does not exist yet.
    fn ensure_control_channel(self: &Rc<Self>) {
        if self.control.borrow().is_some() {
            return;
        }
        let channel = self.negotiated_channel("control", CONTROL_CHANNEL_ID);
        let listen = |kind, f| self.listen_weak(&channel, kind, f);
        let listeners = vec![
            listen("open", |shared, _| {
                shared.control_opened.set(true);
                shared.flush_pending_control();
                shared.emit(PeerEvent::ControlOpen);
            }),
            listen("close", |shared, _| shared.emit(PeerEvent::ControlClosed)),
            listen("message", |shared, event| {
                let text = event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|m| m.data().as_string());
                if let Some(text) = text {
                    shared.emit(PeerEvent::ControlMessage(text));
                }
            }),
        ];
        *self.control_listeners.borrow_mut() = listeners;
        *self.control.borrow_mut() = Some(channel);
        self.create_files_channel();
    }

    /// The negotiated channel for file transfers: binary chunks need their own
    /// stream so a large file never delays chat or media state behind it.
    fn create_files_channel(self: &Rc<Self>) {
        let channel = self.negotiated_channel("files", FILES_CHANNEL_ID);
        channel.set_binary_type(web_sys::RtcDataChannelType::Arraybuffer);
        let listen = |kind, f| self.listen_weak(&channel, kind, f);
        let listeners = [
            listen("open", |shared, _| {
                let max_message_size = js_sys::Reflect::get(&shared.pc, &"sctp".into())
                    .and_then(|sctp| js_sys::Reflect::get(&sctp, &"maxMessageSize".into()))
                    .ok()
                    .and_then(|v| v.as_f64())
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .map_or(crate::core::transfer::DEFAULT_MAX_MESSAGE_SIZE, |v| {
                        v as u64
                    });
                shared.emit(PeerEvent::FilesOpen { max_message_size });
            }),
            listen("close", |shared, _| shared.emit(PeerEvent::FilesClosed)),
            listen("bufferedamountlow", |shared, _| {
                shared.emit(PeerEvent::FilesBufferedLow)
            }),
            listen("message", |shared, event| {
                let Some(data) = event.dyn_ref::<MessageEvent>().map(|m| m.data()) else {
                    return;
                };
                if let Some(text) = data.as_string() {
                    shared.emit(PeerEvent::FilesText(text));
                } else if let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() {
                    shared.emit(PeerEvent::FilesBinary(buffer));
                }
            }),
        ];
        self.control_listeners.borrow_mut().extend(listeners);
        *self.files.borrow_mut() = Some(channel);
    }

    fn flush_pending_control(&self) {
        let control = self.control.borrow();
        let Some(channel) = control.as_ref() else {
            return;
        };
        let mut pending = self.pending_control.borrow_mut();
        while let Some(text) = pending.pop_front() {
            if let Err(e) = channel.send_with_str(&text) {
                self.emit(PeerEvent::Error(e.into()));
            }
        }
    }

    async fn make_offer(self: &Rc<Self>) {
        self.negotiation.borrow_mut().offer_started();
        let result = JsFuture::from(ext(&self.pc).set_local_description_implicit()).await;
        match result {
            Ok(_) => {
                self.send_local_description();
                self.resend_while_unanswered();
            }
            Err(e) => self.emit(PeerEvent::Error(e.into())),
        }
        self.negotiation.borrow_mut().offer_finished();
    }

    /// Restarts ICE (perfect negotiation makes that safe from either side), and
    /// again every [`ICE_RESTART_RETRY_MS`] while the link is still down.
    fn restart_ice_until_connected(self: &Rc<Self>) {
        ext(&self.pc).restart_ice();
        if self.restarting.replace(true) {
            return;
        }
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            loop {
                gloo_timers::future::TimeoutFuture::new(ICE_RESTART_RETRY_MS).await;
                let Some(shared) = weak.upgrade() else { return };
                match ConnectionState::from_web(shared.pc.connection_state()) {
                    ConnectionState::Failed | ConnectionState::Disconnected => {
                        ext(&shared.pc).restart_ice()
                    }
                    _ => {
                        shared.restarting.set(false);
                        return;
                    }
                }
            }
        });
    }

    /// Sends the offer just sent again every [`OFFER_RESEND_MS`] until it is
    /// answered, rolled back or replaced by a newer one. A remote that had it
    /// answers it again, and that answer finds us stable
    /// ([`RemoteDescriptionAction::Stale`]).
    fn resend_while_unanswered(self: &Rc<Self>) {
        let offer = self.offers_made.get().wrapping_add(1);
        self.offers_made.set(offer);
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            loop {
                gloo_timers::future::TimeoutFuture::new(OFFER_RESEND_MS).await;
                let Some(shared) = weak.upgrade() else { return };
                let pending = shared.pc.signaling_state() == RtcSignalingState::HaveLocalOffer;
                if !pending || shared.offers_made.get() != offer {
                    return;
                }
                shared.send_local_description();
            }
        });
    }

    fn remote_candidate_is_stale(&self, candidate: &str) -> bool {
        let remote_sdp = self
            .pc
            .remote_description()
            .map(|d| d.sdp())
            .unwrap_or_default();
        candidate_is_stale(candidate, &remote_sdp)
    }

    async fn handle_signal(self: &Rc<Self>, payload: SignalPayload) -> Result<(), Error> {
        match payload {
            SignalPayload::Description { sdp_type, sdp } => {
                let kind = DescriptionKind::from_sdp_type(&sdp_type).ok_or_else(|| {
                    Error::InvalidInput(format!("unsupported description type \"{sdp_type}\""))
                })?;
                let stable = self.pc.signaling_state() == RtcSignalingState::Stable;
                let action = self
                    .negotiation
                    .borrow_mut()
                    .remote_description(kind, stable);
                let answer_needed = match action {
                    RemoteDescriptionAction::Apply { answer_needed } => answer_needed,
                    RemoteDescriptionAction::Ignore { resend_offer } => {
                        if resend_offer {
                            self.send_local_description();
                        }
                        return Ok(());
                    }
                    RemoteDescriptionAction::Stale => return Ok(()),
                };
                let init = RtcSessionDescriptionInit::new(match kind {
                    DescriptionKind::Offer => RtcSdpType::Offer,
                    DescriptionKind::Answer => RtcSdpType::Answer,
                });
                init.set_sdp(&sdp);
                let applied = JsFuture::from(self.pc.set_remote_description(&init)).await;
                self.negotiation.borrow_mut().remote_description_applied();
                applied?;
                if answer_needed {
                    // Tracks added now reuse the offer's transceivers of the same
                    // kind and go out with this answer; others renegotiate after.
                    self.start();
                    JsFuture::from(ext(&self.pc).set_local_description_implicit()).await?;
                    self.send_local_description();
                }
                Ok(())
            }
            SignalPayload::Candidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
            } => {
                let init = RtcIceCandidateInit::new(&candidate);
                init.set_sdp_mid(sdp_mid.as_deref());
                init.set_sdp_m_line_index(sdp_m_line_index);
                let added = JsFuture::from(
                    self.pc
                        .add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)),
                )
                .await;
                match added {
                    Err(_) if self.negotiation.borrow().ignoring_offer() => Ok(()),
                    // Late candidates of a rolled-back offer or of the ICE
                    // generation before a restart: expected, harmless.
                    Err(_) if self.remote_candidate_is_stale(&candidate) => Ok(()),
                    Err(e) => Err(e.into()),
                    Ok(_) => Ok(()),
                }
            }
            // About the connection as a whole: the room handles these.
            SignalPayload::Relink | SignalPayload::RelinkAck => Ok(()),
        }
    }
}

/// One RTCPeerConnection to one remote peer. Dropping it closes the connection.
pub struct PeerConnection {
    shared: Rc<Shared>,
    signals: mpsc::UnboundedSender<SignalPayload>,
    _listeners: Vec<EventListener>,
}

impl PeerConnection {
    /// Creates the connection and returns it with its event stream. An initiator
    /// opens the control channel at once, which starts negotiation.
    pub fn new(config: &PeerConfig) -> Result<(Self, mpsc::UnboundedReceiver<PeerEvent>), Error> {
        let rtc_config = RtcConfiguration::new();
        let servers = serde_wasm_bindgen::to_value(&config.ice_servers)
            .map_err(|e| Error::InvalidInput(format!("ICE servers: {e}")))?;
        rtc_config.set_ice_servers(&servers);
        if let Some(certificate) = &config.certificate {
            rtc_config.set_certificates(&js_sys::Array::of1(certificate));
        }
        let pc = RtcPeerConnection::new_with_configuration(&rtc_config)?;
        let (events, events_rx) = mpsc::unbounded();
        let shared = Rc::new(Shared {
            pc: pc.clone(),
            negotiation: RefCell::new(PerfectNegotiation::new(config.polite)),
            offers_made: std::cell::Cell::new(0),
            events,
            control: RefCell::new(None),
            files: RefCell::new(None),
            control_listeners: RefCell::new(Vec::new()),
            pending_control: RefCell::new(VecDeque::new()),
            started: std::cell::Cell::new(false),
            restarting: std::cell::Cell::new(false),
            control_opened: std::cell::Cell::new(false),
            wanted_tracks: RefCell::new(Default::default()),
            senders: RefCell::new(Default::default()),
        });

        let listen = |kind: &'static str, f: fn(&Rc<Shared>, &web_sys::Event)| {
            let shared = shared.clone();
            EventListener::new(&pc, kind, move |event| f(&shared, event))
        };
        let listeners = vec![
            listen("negotiationneeded", |shared, _| {
                let shared = shared.clone();
                spawn_local(async move { shared.make_offer().await });
            }),
            listen("icecandidate", |shared, event| {
                let candidate = event
                    .dyn_ref::<RtcPeerConnectionIceEvent>()
                    .and_then(|e| e.candidate());
                // A null candidate marks the end of gathering; nothing to send.
                if let Some(c) = candidate {
                    shared.emit(PeerEvent::Signal(SignalPayload::Candidate {
                        candidate: c.candidate(),
                        sdp_mid: c.sdp_mid(),
                        sdp_m_line_index: c.sdp_m_line_index(),
                    }));
                }
            }),
            listen("track", |shared, event| {
                let Some(event) = event.dyn_ref::<RtcTrackEvent>() else {
                    return;
                };
                let stream = event.streams().get(0).dyn_into::<MediaStream>().ok();
                shared.emit(PeerEvent::Track {
                    track: event.track(),
                    stream,
                });
            }),
            listen("connectionstatechange", |shared, _| {
                let state = ConnectionState::from_web(shared.pc.connection_state());
                if state == ConnectionState::Failed {
                    shared.restart_ice_until_connected();
                }
                shared.emit(PeerEvent::StateChanged(state));
            }),
        ];

        // Remote signals are applied strictly in order by one task; it ends when the
        // PeerConnection (the only sender) is dropped.
        let (signals, mut signals_rx) = mpsc::unbounded::<SignalPayload>();
        let task_shared = shared.clone();
        spawn_local(async move {
            while let Some(payload) = signals_rx.next().await {
                if let Err(e) = task_shared.handle_signal(payload).await {
                    task_shared.emit(PeerEvent::Error(e));
                }
            }
        });

        if config.initiator {
            shared.start();
        }
        Ok((
            PeerConnection {
                shared,
                signals,
                _listeners: listeners,
            },
            events_rx,
        ))
    }

    /// Applies a signal received from the remote peer (in arrival order).
    pub fn handle_signal(&self, payload: SignalPayload) {
        let _ = self.signals.unbounded_send(payload);
    }

    /// Resends what signaling may have lost while the server was away: our
    /// pending offer (its SDP now carries the candidates gathered so far), and an
    /// ICE restart if the link failed meanwhile.
    pub fn resignal(&self) {
        if self.shared.pc.signaling_state() == RtcSignalingState::HaveLocalOffer {
            self.shared.send_local_description();
        }
        if matches!(
            self.connection_state(),
            ConnectionState::Failed | ConnectionState::Disconnected
        ) {
            self.shared.restart_ice_until_connected();
        }
    }

    /// Sends a text frame on the control channel, queueing it (up to a bound) until
    /// the channel opens.
    pub fn send_control(&self, text: &str) -> Result<(), Error> {
        let control = self.shared.control.borrow();
        match control.as_ref() {
            Some(channel) if channel.ready_state() == RtcDataChannelState::Open => {
                channel.send_with_str(text).map_err(Error::from)
            }
            Some(channel)
                if matches!(
                    channel.ready_state(),
                    RtcDataChannelState::Closing | RtcDataChannelState::Closed
                ) =>
            {
                Err(Error::InvalidInput(
                    "the data channel to this peer is closed".into(),
                ))
            }
            _ => {
                let mut pending = self.shared.pending_control.borrow_mut();
                if pending.len() >= MAX_PENDING_CONTROL {
                    return Err(Error::InvalidInput(
                        "too many messages waiting for this peer's data channel to open".into(),
                    ));
                }
                pending.push_back(text.to_owned());
                Ok(())
            }
        }
    }

    /// Sends `track` (grouped in `stream`, whose id the remote sees) as `source`, or
    /// stops sending `source` with `None`. A new source or a removal renegotiates; a
    /// different track for a source already sent uses `replaceTrack` (no
    /// renegotiation), and the returned promise settles when it is swapped.
    pub fn set_track(
        &self,
        source: TrackSource,
        track: Option<(&MediaStreamTrack, &MediaStream)>,
    ) -> Result<Option<js_sys::Promise>, Error> {
        {
            let mut wanted = self.shared.wanted_tracks.borrow_mut();
            match track {
                // Clone::clone, not .clone(): web-sys' inherent MediaStream(Track)::clone()
                // would create a new stream/track with a new id.
                Some((t, s)) => wanted.insert(source, (Clone::clone(t), Clone::clone(s))),
                None => wanted.remove(&source),
            };
        }
        self.shared.sync_track(source)
    }

    /// The sender currently used for `source`, if any.
    pub fn sender(&self, source: TrackSource) -> Option<RtcRtpSender> {
        self.shared.senders.borrow().get(&source).cloned()
    }

    /// The file-transfer data channel, once created.
    pub fn files_channel(&self) -> Option<RtcDataChannel> {
        self.shared.files.borrow().clone()
    }

    /// Whether the control channel was open once and is not any more: its SCTP
    /// association is gone (Firefox may not say so with a `close` event when
    /// that happens while the link is down).
    pub fn control_lost(&self) -> bool {
        self.shared.control_opened.get() && !self.control_open()
    }

    /// Whether the control channel is open.
    pub fn control_open(&self) -> bool {
        self.shared
            .control
            .borrow()
            .as_ref()
            .is_some_and(|c| c.ready_state() == RtcDataChannelState::Open)
    }

    /// The current `connectionState`.
    pub fn connection_state(&self) -> ConnectionState {
        ConnectionState::from_web(self.shared.pc.connection_state())
    }

    /// The underlying `RTCPeerConnection` (escape hatch, e.g. for `getStats`).
    pub fn as_raw(&self) -> &RtcPeerConnection {
        &self.shared.pc
    }
}

impl Drop for PeerConnection {
    fn drop(&mut self) {
        self.shared.control_listeners.borrow_mut().clear();
        for slot in [&self.shared.control, &self.shared.files] {
            if let Some(channel) = slot.borrow_mut().take() {
                channel.close();
            }
        }
        self.shared.pc.close();
    }
}
