//! File transfer glue: drives one [`TransferManager`] per remote peer over the
//! peer's "files" data channel, reading outgoing files in slices
//! (`Blob.slice().arrayBuffer()`) and handing incoming bytes in segments to a sink
//! (files in storage, else Blobs; see [`super::store`]), so wasm
//! memory stays bounded by the manager's windows whatever the file size.
//!
//! See <https://developer.mozilla.org/en-US/docs/Web/API/RTCDataChannel/bufferedamountlow_event>.

use super::hash_worker::{hash_worker, hashing_lags, WORKER_STOPPED};
use super::room::RoomEvent;
use super::store::{spawn_sink, StoreJob, StoredTransfer};
use super::{now_ms, Error};
use crate::core::transfer::{
    decode_chunk, ControlMessage, Direction, FileOffer, OutgoingFile, Output, Progress,
    TransferConfig, TransferEvent, TransferId, TransferKey, TransferManager, TransferPhase,
    CHUNK_HEADER_LEN,
};
use crate::core::vec_map::VecMap;
use futures_channel::{mpsc, oneshot};
use peerlink_protocol::PeerId;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Blob, File, RtcDataChannel, RtcDataChannelState};

/// Incoming bytes are handed to the file's sink every this many bytes (a segment),
/// so they leave the JS heap: for storage, or for the browser's blob storage (which
/// can spill to disk). See [`super::store::spawn_sink`].
pub(crate) const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// Stored bytes are fed back to the hasher after a reload this many at a time.
const RESTORE_SLICE_BYTES: u64 = 1024 * 1024;

/// Outgoing files are read this many bytes at a time (`Blob.slice().arrayBuffer()`
/// costs the page about as much per call for 256 KiB as for 2 MiB), and chunks are
/// cut from the block read last.
const READ_BLOCK_BYTES: u64 = 2 * 1024 * 1024;

/// Segments handed to a file's sink and not yet kept, beyond which received chunks
/// are no longer acknowledged (so the sender stops within its window) until storage
/// catches up: a disk slower than the link cannot pile segments up in the JS heap.
const MAX_SEGMENTS_WAITING: u32 = 2;

/// Where an incoming file's bytes go: gathered here into segments, which its sink
/// keeps in order and assembles into the file at the end.
struct IncomingSink {
    parts: js_sys::Array,
    part_bytes: u64,
    sink: mpsc::UnboundedSender<StoreJob>,
    /// Segments sent to the sink and not kept yet (the sink's `kept` counts down).
    waiting: Rc<Cell<u32>>,
    /// Chunks written here whose acknowledgement waits for storage (or for the
    /// hashing worker to catch up): (offset, len).
    held_acks: Vec<(u64, u64)>,
    /// A wake-up is asked of the hashing worker for `held_acks`.
    waits_for_hashing: bool,
}

impl IncomingSink {
    fn new(sink: mpsc::UnboundedSender<StoreJob>, waiting: Rc<Cell<u32>>) -> Self {
        Self {
            parts: js_sys::Array::new(),
            part_bytes: 0,
            sink,
            waiting,
            held_acks: Vec::new(),
            waits_for_hashing: false,
        }
    }

    /// Whether storage lags so far behind that acknowledgements must wait.
    fn backlogged(&self) -> bool {
        self.waiting.get() > MAX_SEGMENTS_WAITING
    }

    /// Appends `bytes`, a JS view when the glue still has the received frame (no
    /// copy out of wasm memory), else a copy.
    fn write(&mut self, bytes: &[u8], view: Option<js_sys::Uint8Array>) -> Result<(), Error> {
        let part = view.unwrap_or_else(|| js_sys::Uint8Array::from(bytes));
        self.parts.push(&part);
        self.part_bytes += bytes.len() as u64;
        if self.part_bytes >= SEGMENT_BYTES {
            self.seal()?;
        }
        Ok(())
    }

    fn seal(&mut self) -> Result<(), Error> {
        if self.parts.length() > 0 {
            let parts = std::mem::replace(&mut self.parts, js_sys::Array::new());
            self.part_bytes = 0;
            self.sink
                .unbounded_send(StoreJob::Segment(parts))
                .map_err(|_| Error::InvalidInput("the file's sink has stopped".into()))?;
            self.waiting.set(self.waiting.get() + 1);
        }
        Ok(())
    }

    /// Drops what was received (and its partial copy in storage).
    fn discard(&mut self) {
        let _ = self.sink.unbounded_send(StoreJob::Finish(None));
    }

    /// The whole file, once its sink has kept every segment.
    fn finish(mut self, mime_type: &str) -> oneshot::Receiver<Result<Blob, Error>> {
        let (reply, file) = oneshot::channel();
        if let Err(e) = self.seal() {
            let _ = reply.send(Err(e));
            return file;
        }
        let _ = self
            .sink
            .unbounded_send(StoreJob::Finish(Some((mime_type.to_owned(), reply))));
        file
    }
}

/// The block of an outgoing file read last: its offset and bytes.
struct ReadBlock {
    offset: u64,
    bytes: js_sys::Uint8Array,
}

impl ReadBlock {
    /// A copy of `offset..offset + len`, if the block holds all of it.
    fn get(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
        let start = offset.checked_sub(self.offset)?;
        let end = start.checked_add(len)?;
        if end > u64::from(self.bytes.length()) {
            return None;
        }
        Some(self.bytes.subarray(start as u32, end as u32).to_vec())
    }
}

struct Outgoing {
    file: File,
    block: Option<ReadBlock>,
}

struct State {
    manager: TransferManager,
    outgoing: VecMap<TransferId, Outgoing>,
    incoming: VecMap<TransferId, IncomingSink>,
    channel: Option<RtcDataChannel>,
    /// The remote's `maxMessageSize`, from the last `opened`.
    max_message_size: u64,
    /// The chunk frame being handled: (transfer id, offset, payload length, the
    /// received buffer), so its write can reference the payload instead of copying.
    last_frame: Option<(TransferId, u64, usize, js_sys::ArrayBuffer)>,
    /// Offers of which storage holds the start already (see [`PeerFiles::hold`]).
    held: VecMap<TransferId, StoredTransfer>,
    /// Transfers hashed by the page's hashing worker: their handle there.
    hashing: VecMap<TransferKey, u32>,
}

impl State {
    /// Whether incoming file `id` waits for the user's answer.
    fn awaits_decision(&self, id: TransferId) -> bool {
        self.manager.phase(TransferKey::incoming(id)) == Some(TransferPhase::AwaitingDecision)
    }
}

impl Drop for PeerFiles {
    /// Frees the running hashes of transfers that never finished.
    fn drop(&mut self) {
        let Some(worker) = hash_worker() else { return };
        for (_, &handle) in self.state.get_mut().hashing.iter() {
            worker.close(handle);
        }
    }
}

/// File transfers with one remote peer: owns its [`TransferManager`] and carries out
/// its outputs on the peer's "files" data channel. [`super::Room`] keeps one per peer;
/// it can also be driven directly (feed it the [`super::PeerEvent`]`::Files*` events).
pub struct PeerFiles {
    /// Changes when a reloaded receiver reattaches (see [`super::Room`]).
    peer: RefCell<PeerId>,
    state: RefCell<State>,
    events: mpsc::UnboundedSender<RoomEvent>,
    /// See [`PeerFiles::hash_on_main_thread`].
    main_thread_hashing: Cell<bool>,
}

impl PeerFiles {
    /// Transfers with `peer`; events go to `events`.
    pub fn new(peer: PeerId, events: mpsc::UnboundedSender<RoomEvent>) -> Rc<Self> {
        // Starts the page's hashing worker, so that it runs by the time a file is
        // offered (transfers created before it runs hash on the main thread).
        let _ = hash_worker();
        Rc::new(Self {
            peer: RefCell::new(peer),
            state: RefCell::new(State {
                manager: TransferManager::new(TransferConfig::default()),
                outgoing: VecMap::new(),
                incoming: VecMap::new(),
                channel: None,
                max_message_size: 0,
                last_frame: None,
                held: VecMap::new(),
                hashing: VecMap::new(),
            }),
            events,
            main_thread_hashing: Cell::new(false),
        })
    }

    /// Keeps SHA-256 of the transfers that start from now on on the main thread,
    /// even where the page's hashing worker runs (`false`: use it when it runs,
    /// the default).
    pub fn hash_on_main_thread(&self, yes: bool) {
        self.main_thread_hashing.set(yes);
    }

    /// Whether transfers that start now hash in the page's worker.
    fn hashing_elsewhere(&self) -> bool {
        !self.main_thread_hashing.get() && hash_worker().is_some()
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
        {
            let mut state = self.state.borrow_mut();
            // (An offer creates a transfer.)
            state.manager.set_hash_elsewhere(self.hashing_elsewhere());
            state.manager.handle_control(msg, now_ms());
        }
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
    /// back), saying why.
    pub(crate) fn abandon(self: &Rc<Self>, reason: &str) {
        let keys: Vec<TransferKey> = self
            .state
            .borrow()
            .manager
            .transfers()
            .filter(|(_, _, phase)| !phase.is_terminal())
            .map(|(key, _, _)| key)
            .collect();
        for key in keys {
            let _ = self
                .state
                .borrow_mut()
                .manager
                .cancel_because(key, Some(reason.to_owned()));
        }
        self.drain();
    }

    /// Receiving side, after a reload: takes up `stored` again. The bytes on disk
    /// are fed back to the hasher in slices (never the whole file in memory); then
    /// the sender is asked to continue from there.
    pub(crate) fn restore(self: &Rc<Self>, stored: StoredTransfer) -> Result<(), Error> {
        let offer = stored.offer.clone();
        self.state
            .borrow_mut()
            .manager
            .restore_incoming(offer.clone())?;
        self.take_up(offer, stored);
        Ok(())
    }

    /// Whether incoming file `id` still waits for the user's answer, with no partial
    /// copy found for it yet.
    pub(crate) fn undecided(&self, id: TransferId) -> bool {
        let state = self.state.borrow();
        state.awaits_decision(id) && !state.held.contains_key(&id)
    }

    /// Receiving side: storage holds the start of offered file `id` already, left by
    /// an earlier offer of it whose sender went away (its page reloaded): accepting
    /// the offer continues from those bytes, once the sender has checked them.
    /// Returns whether the offer is still undecided (else `stored` is dropped).
    pub(crate) fn hold(&self, id: TransferId, stored: StoredTransfer) -> bool {
        let mut state = self.state.borrow_mut();
        let undecided = state.awaits_decision(id);
        if undecided {
            state.held.insert(id, stored);
        }
        undecided
    }

    /// Starts the sink of incoming file `offer` on the bytes `stored` holds, and feeds
    /// them back to the manager (which is restoring it).
    fn take_up(self: &Rc<Self>, offer: FileOffer, stored: StoredTransfer) {
        let id = offer.id;
        {
            let mut state = self.state.borrow_mut();
            let (kept, waiting) = self.segment_kept(id);
            let sink = spawn_sink(offer, true, Some(stored.clone()), self.warner(), kept);
            state.incoming.insert(id, IncomingSink::new(sink, waiting));
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
            state.manager.set_hash_elsewhere(self.hashing_elsewhere());
            let id = state.manager.offer_file(outgoing, now_ms())?;
            // Clone::clone: File's inherent methods are not involved, but stay explicit.
            let file = Clone::clone(file);
            state.outgoing.insert(id, Outgoing { file, block: None });
            id
        };
        self.drain();
        Ok(id)
    }

    /// Accepts an offered file (continuing from the part storage holds, if any: see
    /// `hold`).
    pub fn accept(self: &Rc<Self>, id: TransferId) -> Result<(), Error> {
        let held = {
            let mut state = self.state.borrow_mut();
            let offer = state
                .manager
                .offer(TransferKey::incoming(id))
                .cloned()
                .ok_or_else(|| Error::InvalidInput("no such offer".into()))?;
            match state.held.remove(&id) {
                Some(stored) => {
                    state.manager.accept_held(id, now_ms())?;
                    Some((offer, stored))
                }
                None => {
                    state.manager.accept(id, now_ms())?;
                    self.start_sink(&mut state, offer);
                    None
                }
            }
        };
        if let Some((offer, stored)) = held {
            self.take_up(offer, stored);
        }
        self.drain();
        Ok(())
    }

    /// Starts an empty sink for incoming file `offer`.
    fn start_sink(self: &Rc<Self>, state: &mut State, offer: FileOffer) {
        let id = offer.id;
        // A file of one segment or less has nothing to resume from: memory only.
        let store = offer.size > SEGMENT_BYTES;
        let (kept, waiting) = self.segment_kept(id);
        let sink = spawn_sink(offer, store, None, self.warner(), kept);
        if let Some(mut old) = state.incoming.insert(id, IncomingSink::new(sink, waiting)) {
            old.discard();
        }
    }

    /// The bytes held for incoming file `id` were another file's: they go, and the
    /// file is written again from 0.
    fn restart_write(self: &Rc<Self>, id: TransferId) {
        let mut state = self.state.borrow_mut();
        if let Some(offer) = state.manager.offer(TransferKey::incoming(id)).cloned() {
            self.start_sink(&mut state, offer);
        }
    }

    /// Declines an offered file.
    pub fn reject(self: &Rc<Self>, id: TransferId) -> Result<(), Error> {
        let mut state = self.state.borrow_mut();
        state.manager.reject(id)?;
        state.held.remove(&id);
        drop(state);
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
                Output::RestartWrite { id } => self.restart_write(id),
                Output::HashBytes { key, bytes } => self.hash_bytes(key, &bytes),
                Output::DigestWanted { key } => self.digest_wanted(key),
                Output::Event(event) => self.on_event(event),
            }
        }
    }

    /// Hands the next bytes of transfer `key` to the hashing worker.
    fn hash_bytes(self: &Rc<Self>, key: TransferKey, bytes: &[u8]) {
        let handed = hash_worker().is_some_and(|worker| {
            let handle = {
                let mut state = self.state.borrow_mut();
                match state.hashing.get(&key) {
                    Some(&handle) => handle,
                    None => {
                        let handle = worker.open();
                        state.hashing.insert(key, handle);
                        handle
                    }
                }
            };
            worker.update(handle, bytes)
        });
        if !handed {
            self.hashing_failed(key);
        }
    }

    /// Asks the hashing worker for transfer `key`'s digest and hands it on.
    fn digest_wanted(self: &Rc<Self>, key: TransferKey) {
        let Some(worker) = hash_worker() else {
            self.hashing_failed(key);
            return;
        };
        // No bytes handed over (a 0-byte file): the worker answers the empty digest.
        let handle = self.state.borrow_mut().hashing.remove(&key);
        let handle = handle.unwrap_or_else(|| worker.open());
        let weak: Weak<Self> = Rc::downgrade(self);
        spawn_local(async move {
            let digest = worker.digest(handle).await;
            let Some(this) = weak.upgrade() else { return };
            match digest {
                Ok(digest) => {
                    let result =
                        this.state
                            .borrow_mut()
                            .manager
                            .digest_ready(key, digest, now_ms());
                    if let Err(e) = result {
                        this.warn(e);
                    }
                    this.drain();
                }
                Err(_) => this.hashing_failed(key),
            }
        });
    }

    /// The hashing worker is gone: transfer `key`, hashed there, fails.
    fn hashing_failed(self: &Rc<Self>, key: TransferKey) {
        let result = {
            let mut state = self.state.borrow_mut();
            state.hashing.remove(&key);
            match key.direction {
                Direction::Incoming => state.manager.write_failed(key.id, WORKER_STOPPED),
                Direction::Outgoing => state.manager.read_failed(key.id, WORKER_STOPPED),
            }
        };
        // (Already over: nothing to fail.)
        drop(result);
        self.drain();
    }

    /// Serves a chunk request: from the block read last if it holds the chunk, else
    /// after reading the block that starts with it.
    fn read(self: &Rc<Self>, id: TransferId, offset: u64, len: u64) {
        // The bytes read are handed to the hashing worker: not while it lags.
        if let Some(worker) = hash_worker().filter(|w| w.backlogged()) {
            let weak: Weak<Self> = Rc::downgrade(self);
            worker.when_caught_up(Box::new(move || {
                if let Some(this) = weak.upgrade() {
                    this.read(id, offset, len);
                    this.drain();
                }
            }));
            return;
        }
        let file = {
            let mut state = self.state.borrow_mut();
            let State {
                outgoing, manager, ..
            } = &mut *state;
            let Some(out) = outgoing.get(&id) else {
                return;
            };
            if let Some(bytes) = out.block.as_ref().and_then(|b| b.get(offset, len)) {
                let result = manager.provide_chunk(id, offset, &bytes);
                drop(state);
                if let Err(e) = result {
                    self.warn(e);
                }
                return; // (the caller, drain, carries on)
            }
            out.file.clone()
        };
        let size = file.size() as u64;
        let block_len = READ_BLOCK_BYTES.max(len).min(size.saturating_sub(offset));
        let weak: Weak<Self> = Rc::downgrade(self);
        spawn_local(async move {
            let block = read_block(&file, offset, block_len).await;
            let Some(this) = weak.upgrade() else { return };
            {
                let mut state = this.state.borrow_mut();
                let State {
                    outgoing, manager, ..
                } = &mut *state;
                let result = match block {
                    Ok(block) => {
                        // Shorter than asked (the file shrank): fewer bytes than the
                        // chunk, which the manager reports.
                        let end = u64::from(block.length()).min(len) as u32;
                        let bytes = block.subarray(0, end).to_vec();
                        if let Some(out) = outgoing.get_mut(&id) {
                            out.block = Some(ReadBlock {
                                offset,
                                bytes: block,
                            });
                        }
                        manager.provide_chunk(id, offset, &bytes)
                    }
                    Err(e) => manager.read_failed(id, &e.to_string()),
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
        let len = bytes.len() as u64;
        let hashing_lags = hashing_lags();
        let State {
            incoming, manager, ..
        } = &mut *state;
        let result = match incoming.get_mut(&id) {
            None => manager.write_failed(
                id,
                &Error::InvalidInput("no destination for this transfer".into()).to_string(),
            ),
            Some(sink) => match sink.write(bytes, view) {
                Err(e) => manager.write_failed(id, &e.to_string()),
                // Storage or the hashing worker lag (or earlier acknowledgements
                // wait, which go first).
                Ok(()) if sink.backlogged() || hashing_lags || !sink.held_acks.is_empty() => {
                    sink.held_acks.push((offset, len));
                    Ok(())
                }
                Ok(()) => manager.chunk_written(id, offset, len, now_ms()),
            },
        };
        drop(state);
        if let Err(e) = result {
            self.warn(e);
        }
        if hashing_lags {
            self.wait_for_hashing(id);
        }
    }

    /// Releases incoming file `id`'s held acknowledgements once the hashing worker
    /// has caught up (once per wait).
    fn wait_for_hashing(self: &Rc<Self>, id: TransferId) {
        let Some(worker) = hash_worker() else { return };
        {
            let mut state = self.state.borrow_mut();
            let Some(sink) = state.incoming.get_mut(&id) else {
                return;
            };
            if std::mem::replace(&mut sink.waits_for_hashing, true) {
                return;
            }
        }
        let weak: Weak<Self> = Rc::downgrade(self);
        worker.when_caught_up(Box::new(move || {
            let Some(this) = weak.upgrade() else { return };
            if let Some(sink) = this.state.borrow_mut().incoming.get_mut(&id) {
                sink.waits_for_hashing = false;
            }
            this.release_acks(id);
        }));
    }

    /// The callback for a sink of incoming transfer `id` (called when it has kept a
    /// segment) and the count of segments waiting, which it counts down. Once storage
    /// has caught up, the held acknowledgements go.
    fn segment_kept(self: &Rc<Self>, id: TransferId) -> (impl Fn() + 'static, Rc<Cell<u32>>) {
        let waiting = Rc::new(Cell::new(0_u32));
        let weak: Weak<Self> = Rc::downgrade(self);
        let count = waiting.clone();
        let kept = move || {
            count.set(count.get().saturating_sub(1));
            if let Some(this) = weak.upgrade() {
                this.release_acks(id);
            }
        };
        (kept, waiting)
    }

    fn release_acks(self: &Rc<Self>, id: TransferId) {
        {
            let mut state = self.state.borrow_mut();
            let State {
                incoming, manager, ..
            } = &mut *state;
            let Some(sink) = incoming.get_mut(&id) else {
                return;
            };
            if sink.held_acks.is_empty() || sink.backlogged() || sink.waits_for_hashing {
                return;
            }
            if hashing_lags() {
                drop(state);
                self.wait_for_hashing(id);
                return;
            }
            for (offset, len) in std::mem::take(&mut sink.held_acks) {
                // (warn only sends an event: no borrow of the state)
                if let Err(e) = manager.chunk_written(id, offset, len, now_ms()) {
                    self.warn(e);
                }
            }
        }
        self.drain();
    }

    fn on_event(&self, event: TransferEvent) {
        let mut ready = None;
        match &event {
            TransferEvent::Completed { key, verified } if key.direction == Direction::Incoming => {
                let mut state = self.state.borrow_mut();
                let sink = state.incoming.remove(&key.id);
                let offer = state.manager.offer(*key).cloned();
                drop(state);
                // A file whose hash does not match is dropped, never offered to save.
                match (*verified, sink, offer) {
                    (true, Some(sink), Some(offer)) => {
                        ready = Some((sink.finish(&offer.mime_type), offer))
                    }
                    (_, Some(mut sink), _) => sink.discard(),
                    (_, None, _) => {}
                }
            }
            TransferEvent::Completed { key, .. }
            | TransferEvent::Cancelled { key, .. }
            | TransferEvent::Failed { key, .. }
            | TransferEvent::Rejected { key } => {
                let mut state = self.state.borrow_mut();
                if let Some(handle) = state.hashing.remove(key) {
                    if let Some(worker) = hash_worker() {
                        // (Posts a message; a failure to post wakes nothing now.)
                        worker.close(handle);
                    }
                }
                match key.direction {
                    Direction::Incoming => {
                        if let Some(mut sink) = state.incoming.remove(&key.id) {
                            sink.discard();
                        }
                        // A held copy not taken up stays in storage for a later offer.
                        state.held.remove(&key.id);
                    }
                    Direction::Outgoing => {
                        state.outgoing.remove(&key.id);
                    }
                }
            }
            _ => {}
        }
        let peer = self.peer();
        self.emit(RoomEvent::Transfer {
            peer: peer.clone(),
            event,
        });
        // The file is ready once its sink has kept the last segment.
        if let Some((file, offer)) = ready {
            let events = self.events.clone();
            spawn_local(async move {
                let event = match file.await {
                    Ok(Ok(blob)) => RoomEvent::FileReceived { peer, offer, blob },
                    Ok(Err(e)) => RoomEvent::Warning(e),
                    Err(_) => RoomEvent::Warning(Error::InvalidInput(
                        "the received file's sink stopped".into(),
                    )),
                };
                let _ = events.unbounded_send(event);
            });
        }
    }
}

/// Bytes `offset..offset + len` of `file` (fewer at its end).
pub(crate) async fn read_block(
    file: &Blob,
    offset: u64,
    len: u64,
) -> Result<js_sys::Uint8Array, Error> {
    let slice = file.slice_with_f64_and_f64(offset as f64, (offset + len) as f64)?;
    let buffer = JsFuture::from(slice.array_buffer()).await?;
    let buffer: js_sys::ArrayBuffer = buffer.unchecked_into();
    Ok(js_sys::Uint8Array::new(&buffer))
}

async fn read_slice(file: &File, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
    Ok(read_block(file, offset, len).await?.to_vec())
}
