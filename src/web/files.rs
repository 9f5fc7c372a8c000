//! File transfer glue: drives one [`TransferManager`] per remote peer over the
//! peer's "files" data channel, reading outgoing files in slices
//! (`Blob.slice().arrayBuffer()`) and collecting incoming bytes into Blobs, so wasm
//! memory stays bounded by the manager's windows whatever the file size.
//!
//! See <https://developer.mozilla.org/en-US/docs/Web/API/RTCDataChannel/bufferedamountlow_event>.

use super::room::RoomEvent;
use super::store::{spawn_writer, StoreJob, StoredTransfer};
use super::{now_ms, Error};
use crate::core::transfer::{
    decode_chunk, ControlMessage, Direction, FileOffer, OutgoingFile, Output, Progress,
    TransferConfig, TransferEvent, TransferId, TransferKey, TransferManager, TransferPhase,
    CHUNK_HEADER_LEN,
};
use crate::core::vec_map::VecMap;
use futures_channel::mpsc;
use peerlink_protocol::PeerId;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Blob, BlobPropertyBag, File, RtcDataChannel, RtcDataChannelState};

/// Incoming bytes are gathered into a Blob every this many bytes, so they leave the
/// JS heap for the browser's blob storage (which can spill to disk).
const BLOB_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// Stored bytes are fed back to the hasher after a reload this many at a time.
const RESTORE_SLICE_BYTES: u64 = 1024 * 1024;

/// Where an incoming file's bytes go: in-order segments, merged at the end. Each
/// segment is also copied to the origin private file system (see [`super::store`])
/// when the offer can be resumed after a reload.
struct IncomingSink {
    parts: js_sys::Array,
    part_bytes: u64,
    segments: js_sys::Array,
    /// The partial copy's writer, and the index of the next segment.
    store: Option<mpsc::UnboundedSender<StoreJob>>,
    next_segment: u32,
    /// Some segments are files in storage (restored after a reload): they must stay
    /// until the page goes, because the final Blob reads them.
    reads_storage: bool,
}

impl IncomingSink {
    fn new(store: Option<mpsc::UnboundedSender<StoreJob>>) -> Self {
        Self {
            parts: js_sys::Array::new(),
            part_bytes: 0,
            segments: js_sys::Array::new(),
            store,
            next_segment: 0,
            reads_storage: false,
        }
    }

    /// A sink that continues after the `stored` segments of an earlier page load.
    fn restored(stored: &[web_sys::File], store: Option<mpsc::UnboundedSender<StoreJob>>) -> Self {
        let mut sink = Self::new(store);
        for file in stored {
            sink.segments.push(file);
        }
        sink.next_segment = stored.len() as u32;
        sink.reads_storage = !stored.is_empty();
        sink
    }

    /// Appends `bytes`, a JS view when the glue still has the received frame (no
    /// copy out of wasm memory), else a copy.
    fn write(&mut self, bytes: &[u8], view: Option<js_sys::Uint8Array>) -> Result<(), Error> {
        let part = view.unwrap_or_else(|| js_sys::Uint8Array::from(bytes));
        self.parts.push(&part);
        self.part_bytes += bytes.len() as u64;
        if self.part_bytes >= BLOB_SEGMENT_BYTES {
            self.seal()?;
        }
        Ok(())
    }

    fn seal(&mut self) -> Result<(), Error> {
        if self.parts.length() > 0 {
            let segment = Blob::new_with_u8_array_sequence(&self.parts)?;
            self.segments.push(&segment);
            if let Some(store) = &self.store {
                let _ = store.unbounded_send(StoreJob::Segment(self.next_segment, segment));
                self.next_segment += 1;
            }
            self.parts = js_sys::Array::new();
            self.part_bytes = 0;
        }
        Ok(())
    }

    /// The partial copy is no longer needed (`keep_segments`: the saved Blob still
    /// reads some of it).
    fn discard_copy(&mut self, keep_segments: bool) {
        if let Some(store) = self.store.take() {
            let _ = store.unbounded_send(StoreJob::Finish { keep_segments });
        }
    }

    fn finish(mut self, mime_type: &str) -> Result<Blob, Error> {
        // The last bytes are not copied: the file is complete.
        let store = self.store.take();
        self.seal()?;
        self.store = store;
        let keep = self.reads_storage;
        self.discard_copy(keep);
        let options = BlobPropertyBag::new();
        options.set_type(mime_type);
        Ok(Blob::new_with_blob_sequence_and_options(
            &self.segments,
            &options,
        )?)
    }
}

struct State {
    manager: TransferManager,
    outgoing: VecMap<TransferId, File>,
    incoming: VecMap<TransferId, IncomingSink>,
    channel: Option<RtcDataChannel>,
    /// The remote's `maxMessageSize`, from the last `opened`.
    max_message_size: u64,
    /// The chunk frame being handled: (transfer id, offset, payload length, the
    /// received buffer), so its write can reference the payload instead of copying.
    last_frame: Option<(TransferId, u64, usize, js_sys::ArrayBuffer)>,
}

/// File transfers with one remote peer: owns its [`TransferManager`] and carries out
/// its outputs on the peer's "files" data channel. [`super::Room`] keeps one per peer;
/// it can also be driven directly (feed it the [`super::PeerEvent`]`::Files*` events).
pub struct PeerFiles {
    /// Changes when a reloaded receiver reattaches (see [`super::Room`]).
    peer: RefCell<PeerId>,
    state: RefCell<State>,
    events: mpsc::UnboundedSender<RoomEvent>,
}

impl PeerFiles {
    /// Transfers with `peer`; events go to `events`.
    pub fn new(peer: PeerId, events: mpsc::UnboundedSender<RoomEvent>) -> Rc<Self> {
        Rc::new(Self {
            peer: RefCell::new(peer),
            state: RefCell::new(State {
                manager: TransferManager::new(TransferConfig::default()),
                outgoing: VecMap::new(),
                incoming: VecMap::new(),
                channel: None,
                max_message_size: 0,
                last_frame: None,
            }),
            events,
        })
    }

    fn emit(&self, event: RoomEvent) {
        let _ = self.events.unbounded_send(event);
    }

    fn warn(&self, error: impl Into<Error>) {
        self.emit(RoomEvent::Warning(error.into()));
    }

    /// The files channel opened (or reopened): transfers start or resume.
    pub fn opened(self: &Rc<Self>, channel: RtcDataChannel, max_message_size: u64) {
        {
            let mut state = self.state.borrow_mut();
            let low = state.manager.config().low_water_mark;
            channel.set_buffered_amount_low_threshold(low.min(u32::MAX as u64) as u32);
            state.channel = Some(channel);
            state.max_message_size = max_message_size;
            state.manager.set_max_message_size(max_message_size);
            state.manager.on_connection_restored();
        }
        self.drain();
    }

    /// The files channel closed: transfers pause.
    pub fn closed(self: &Rc<Self>) {
        self.state.borrow_mut().manager.on_connection_lost();
        self.drain();
    }

    /// A text frame from the files channel.
    pub fn text(self: &Rc<Self>, text: &str) {
        match ControlMessage::parse(text) {
            Ok(msg) => self.control(msg),
            Err(e) => self.bad_peer(e.to_string()),
        }
    }

    /// A parsed control message from the files channel.
    pub fn control(self: &Rc<Self>, msg: ControlMessage) {
        self.state
            .borrow_mut()
            .manager
            .handle_control(msg, now_ms());
        self.drain();
    }

    /// Sends a control message now (dropped when the channel is not open).
    pub(crate) fn send_control(&self, msg: &ControlMessage) {
        let channel = self.state.borrow().channel.clone();
        if let Some(c) = channel.filter(|c| c.ready_state() == RtcDataChannelState::Open) {
            if let Err(e) = c.send_with_str(&msg.to_json()) {
                self.warn(e);
            }
        }
    }

    /// The peer these transfers are with.
    pub fn peer(&self) -> PeerId {
        self.peer.borrow().clone()
    }

    /// The open channel and the remote's `maxMessageSize`, to hand to another
    /// [`PeerFiles`] taking over this link.
    pub(crate) fn link(&self) -> Option<(RtcDataChannel, u64)> {
        let state = self.state.borrow();
        state.channel.clone().map(|c| (c, state.max_message_size))
    }

    /// Sending side: whether the peer `requester` may take over transfer `id` with
    /// `proof` (see [`crate::core::transfer::reattach_proof`]); `holder` is our id.
    pub(crate) fn accepts_reattach(
        &self,
        id: TransferId,
        proof: &str,
        requester: &str,
        holder: &str,
    ) -> bool {
        self.state
            .borrow()
            .manager
            .accepts_reattach(id, proof, requester, holder)
    }

    /// Whether some outgoing transfer is unfinished.
    pub(crate) fn has_unfinished_outgoing(&self) -> bool {
        self.state.borrow().manager.has_unfinished_outgoing()
    }

    /// Whether there is no transfer at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.state.borrow().manager.is_empty()
    }

    /// Moves these transfers to the link with `peer` (a reloaded receiver that
    /// proved it is the same client): they continue there as after a reconnection.
    pub(crate) fn rebind(self: &Rc<Self>, peer: PeerId, link: Option<(RtcDataChannel, u64)>) {
        self.closed(); // (no-op if already paused)
        *self.peer.borrow_mut() = peer;
        if let Some((channel, max_message_size)) = link {
            self.opened(channel, max_message_size);
        }
    }

    /// Gives up on every unfinished transfer (a receiver that left and never came
    /// back).
    pub(crate) fn abandon(self: &Rc<Self>) {
        let keys: Vec<TransferKey> = self
            .state
            .borrow()
            .manager
            .transfers()
            .filter(|(_, _, phase)| !phase.is_terminal())
            .map(|(key, _, _)| key)
            .collect();
        for key in keys {
            let _ = self.state.borrow_mut().manager.cancel(key);
        }
        self.drain();
    }

    /// Receiving side, after a reload: takes up `stored` again. The bytes on disk
    /// are fed back to the hasher in slices (never the whole file in memory); then
    /// the sender is asked to continue from there.
    pub(crate) fn restore(self: &Rc<Self>, stored: StoredTransfer) -> Result<(), Error> {
        let id = stored.offer.id;
        {
            let mut state = self.state.borrow_mut();
            state.manager.restore_incoming(stored.offer.clone())?;
            let store = spawn_writer(stored.offer.clone(), Some(stored.clone()), self.warner());
            state
                .incoming
                .insert(id, IncomingSink::restored(&stored.segments, store));
        }
        let weak: Weak<Self> = Rc::downgrade(self);
        spawn_local(async move {
            let mut result = Ok(());
            'files: for file in &stored.segments {
                let size = file.size() as u64;
                let mut offset = 0;
                while offset < size {
                    let len = RESTORE_SLICE_BYTES.min(size - offset);
                    let bytes = match read_slice(file, offset, len).await {
                        Ok(bytes) => bytes,
                        Err(e) => {
                            result = Err(e);
                            break 'files;
                        }
                    };
                    let Some(this) = weak.upgrade() else { return };
                    let fed = this
                        .state
                        .borrow_mut()
                        .manager
                        .feed_stored_bytes(id, &bytes);
                    if let Err(e) = fed {
                        result = Err(e.into());
                        break 'files;
                    }
                    offset += len;
                }
            }
            let Some(this) = weak.upgrade() else { return };
            let key = TransferKey::incoming(id);
            let result = result.and_then(|()| {
                let mut state = this.state.borrow_mut();
                state
                    .manager
                    .finish_restore(id, now_ms())
                    .map(|_| ())
                    .map_err(Error::from)
            });
            if let Err(e) = result {
                this.warn(e);
                let restoring =
                    this.state.borrow().manager.phase(key) == Some(TransferPhase::Restoring);
                if restoring {
                    let _ = this.state.borrow_mut().manager.cancel(key);
                }
            }
            this.drain();
        });
        Ok(())
    }

    fn warner(&self) -> impl Fn(Error) + 'static {
        let events = self.events.clone();
        move |e| {
            let _ = events.unbounded_send(RoomEvent::Warning(e));
        }
    }

    /// A binary frame from the files channel.
    pub fn binary(self: &Rc<Self>, buffer: &js_sys::ArrayBuffer) {
        let bytes = js_sys::Uint8Array::new(buffer).to_vec();
        let result = {
            let mut state = self.state.borrow_mut();
            state.last_frame = decode_chunk(&bytes)
                .ok()
                .map(|f| (f.id, f.offset, f.payload.len(), Clone::clone(buffer)));
            state.manager.handle_chunk(&bytes)
        };
        drop(bytes);
        if let Err(e) = result {
            self.bad_peer(e.to_string());
        }
        self.drain();
        self.state.borrow_mut().last_frame = None;
    }

    /// Reports a frame from this peer that breaks the protocol.
    pub(crate) fn bad_peer(&self, reason: String) {
        self.warn(Error::BadPeerMessage {
            peer: self.peer(),
            reason,
        });
    }

    /// Offers `file` to this peer; `relative_path` keeps a folder's structure.
    pub fn send(
        self: &Rc<Self>,
        file: &File,
        relative_path: Option<String>,
    ) -> Result<TransferId, Error> {
        let outgoing = OutgoingFile {
            name: file.name(),
            relative_path,
            size: file.size() as u64,
            mime_type: file.type_(),
            // Without random bits from the browser: no resume across reloads.
            resume_token: super::random_token().ok(),
        };
        let id = {
            let mut state = self.state.borrow_mut();
            let id = state.manager.offer_file(outgoing, now_ms())?;
            // Clone::clone: File's inherent methods are not involved, but stay explicit.
            state.outgoing.insert(id, Clone::clone(file));
            id
        };
        self.drain();
        Ok(id)
    }

    /// Accepts an offered file.
    pub fn accept(self: &Rc<Self>, id: TransferId) -> Result<(), Error> {
        {
            let mut state = self.state.borrow_mut();
            state.manager.accept(id, now_ms())?;
            // A file of one segment or less has nothing to resume from: no copy.
            let store = state
                .manager
                .offer(TransferKey::incoming(id))
                .filter(|offer| offer.size > BLOB_SEGMENT_BYTES)
                .cloned()
                .and_then(|offer| spawn_writer(offer, None, self.warner()));
            state.incoming.insert(id, IncomingSink::new(store));
        }
        self.drain();
        Ok(())
    }

    /// Declines an offered file.
    pub fn reject(self: &Rc<Self>, id: TransferId) -> Result<(), Error> {
        self.state.borrow_mut().manager.reject(id)?;
        self.drain();
        Ok(())
    }

    /// Cancels a transfer in either direction.
    pub fn cancel(self: &Rc<Self>, key: TransferKey) -> Result<(), Error> {
        self.state.borrow_mut().manager.cancel(key)?;
        self.drain();
        Ok(())
    }

    /// Progress of a transfer.
    pub fn progress(&self, key: TransferKey) -> Option<Progress> {
        self.state.borrow().manager.progress(key, now_ms())
    }

    /// The (sanitized) offer of a transfer.
    pub fn offer(&self, key: TransferKey) -> Option<FileOffer> {
        self.state.borrow().manager.offer(key).cloned()
    }

    /// Carries out everything the manager wants done now.
    pub fn drain(self: &Rc<Self>) {
        loop {
            let (output, channel) = {
                let mut state = self.state.borrow_mut();
                let channel = state
                    .channel
                    .clone()
                    .filter(|c| c.ready_state() == RtcDataChannelState::Open);
                if let Some(c) = &channel {
                    state
                        .manager
                        .set_buffered_amount(c.buffered_amount() as u64);
                }
                (state.manager.poll_output(), channel)
            };
            let Some(output) = output else { return };
            match output {
                Output::SendControl(msg) => {
                    if let Some(c) = &channel {
                        if let Err(e) = c.send_with_str(&msg.to_json()) {
                            self.warn(e);
                        }
                    }
                }
                Output::SendChunk { frame, .. } => {
                    if let Some(c) = &channel {
                        if let Err(e) = c.send_with_u8_array(&frame) {
                            self.warn(e);
                        }
                    }
                }
                Output::SendChunkRequest { id, offset, len } => self.read(id, offset, len),
                Output::WriteChunk { id, offset, bytes } => self.write(id, offset, &bytes),
                Output::Event(event) => self.on_event(event),
            }
        }
    }

    fn read(self: &Rc<Self>, id: TransferId, offset: u64, len: u64) {
        let Some(file) = self.state.borrow().outgoing.get(&id).cloned() else {
            return;
        };
        let weak: Weak<Self> = Rc::downgrade(self);
        spawn_local(async move {
            let bytes = read_slice(&file, offset, len).await;
            let Some(this) = weak.upgrade() else { return };
            {
                let mut state = this.state.borrow_mut();
                let result = match bytes {
                    Ok(bytes) => state.manager.provide_chunk(id, offset, &bytes),
                    Err(e) => state.manager.read_failed(id, &e.to_string()),
                };
                drop(state);
                if let Err(e) = result {
                    this.warn(e);
                }
            }
            this.drain();
        });
    }

    fn write(self: &Rc<Self>, id: TransferId, offset: u64, bytes: &[u8]) {
        let mut state = self.state.borrow_mut();
        // The write of exactly the frame just received: its payload is still in
        // the JS buffer, after the header.
        let view = match &state.last_frame {
            Some((fid, foffset, flen, buffer))
                if (*fid, *foffset, *flen) == (id, offset, bytes.len()) =>
            {
                Some(js_sys::Uint8Array::new_with_byte_offset_and_length(
                    buffer,
                    CHUNK_HEADER_LEN as u32,
                    bytes.len() as u32,
                ))
            }
            _ => None,
        };
        let written = match state.incoming.get_mut(&id) {
            Some(sink) => sink.write(bytes, view),
            None => Err(Error::InvalidInput(
                "no destination for this transfer".into(),
            )),
        };
        let result = match written {
            Ok(()) => state
                .manager
                .chunk_written(id, offset, bytes.len() as u64, now_ms()),
            Err(e) => state.manager.write_failed(id, &e.to_string()),
        };
        drop(state);
        if let Err(e) = result {
            self.warn(e);
        }
    }

    fn on_event(&self, event: TransferEvent) {
        let mut ready = None;
        match &event {
            TransferEvent::Completed { key, verified } if key.direction == Direction::Incoming => {
                let mut state = self.state.borrow_mut();
                let mut sink = state.incoming.remove(&key.id);
                let offer = state.manager.offer(*key).cloned();
                drop(state);
                if !*verified {
                    if let Some(sink) = &mut sink {
                        sink.discard_copy(false);
                    }
                }
                // A file whose hash does not match is dropped, never offered to save.
                if let (true, Some(sink), Some(offer)) = (*verified, sink, offer) {
                    match sink.finish(&offer.mime_type) {
                        Ok(blob) => ready = Some((offer, blob)),
                        Err(e) => self.warn(e),
                    }
                }
            }
            TransferEvent::Completed { key, .. }
            | TransferEvent::Cancelled { key, .. }
            | TransferEvent::Failed { key, .. }
            | TransferEvent::Rejected { key } => {
                let mut state = self.state.borrow_mut();
                match key.direction {
                    Direction::Incoming => {
                        if let Some(mut sink) = state.incoming.remove(&key.id) {
                            sink.discard_copy(false);
                        }
                    }
                    Direction::Outgoing => {
                        state.outgoing.remove(&key.id);
                    }
                }
            }
            _ => {}
        }
        self.emit(RoomEvent::Transfer {
            peer: self.peer(),
            event,
        });
        if let Some((offer, blob)) = ready {
            self.emit(RoomEvent::FileReceived {
                peer: self.peer(),
                offer,
                blob,
            });
        }
    }
}

async fn read_slice(file: &File, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
    let slice = file.slice_with_f64_and_f64(offset as f64, (offset + len) as f64)?;
    let buffer = JsFuture::from(slice.array_buffer()).await?;
    let buffer: js_sys::ArrayBuffer = buffer.unchecked_into();
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}
