//! [`TransferManager`]: one per remote peer, both directions, many transfers.
//!
//! This file holds what both directions share (connection state, flow control, the
//! output queue, cancel and queries); `send.rs` and `receive.rs` add the handlers for
//! each direction.

use std::collections::VecDeque;
use std::ops::Bound;

use super::progress::Progress;
use super::receive::Incoming;
use super::send::Outgoing;
use super::types::{
    Direction, Output, Side, TransferConfig, TransferError, TransferEvent, TransferKey,
    TransferPhase,
};
use super::wire::{
    ControlMessage, FileOffer, Role, TransferId, WireError, CHUNK_HEADER_LEN, MAX_CHUNK_FRAME_LEN,
};
use crate::core::vec_map::VecMap;

/// The file-transfer protocol with one remote peer, as a sans-IO state machine.
///
/// Push inputs in (`handle_*`, the local API calls, `provide_chunk`, `chunk_written`,
/// connection changes, `set_buffered_amount`), then drain
/// [`poll_output`](Self::poll_output) until it returns `None`, after every input.
/// Time is passed in as ms (any monotonic clock, e.g. `performance.now()`).
///
/// Keep one manager per remote *client* for as long as the page lives, not per
/// `RTCPeerConnection`: resuming after a dropped connection relies on the state kept
/// here. It starts disconnected; call
/// [`on_connection_restored`](Self::on_connection_restored) when the data channel
/// opens (the first time too).
#[derive(Debug)]
pub struct TransferManager {
    pub(super) config: TransferConfig,
    max_message_size: u64,
    pub(super) connected: bool,
    buffered: u64,
    pub(super) next_id: TransferId,
    pub(super) outgoing: VecMap<TransferId, Outgoing>,
    pub(super) incoming: VecMap<TransferId, Incoming>,
    round_robin_cursor: TransferId,
    pub(super) outputs: VecDeque<Output>,
}

/// Assumed remote `maxMessageSize` until told otherwise: 64 KiB is what the SDP spec
/// implies when `a=max-message-size` is absent.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 64 * 1024;

impl Default for TransferManager {
    fn default() -> Self {
        Self::new(TransferConfig::default())
    }
}

impl TransferManager {
    /// A manager with no transfers, disconnected.
    pub fn new(config: TransferConfig) -> Self {
        Self {
            config: config.normalized(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            connected: false,
            buffered: 0,
            next_id: 1,
            outgoing: VecMap::new(),
            incoming: VecMap::new(),
            round_robin_cursor: 0,
            outputs: VecDeque::new(),
        }
    }

    /// The settings in effect (after bringing them into range).
    pub fn config(&self) -> &TransferConfig {
        &self.config
    }

    /// Whether transfers created from now on leave SHA-256 to the glue (see
    /// [`TransferConfig::hash_elsewhere`]); the glue turns it on once its hashing
    /// worker runs, and off if that worker stops.
    pub fn set_hash_elsewhere(&mut self, on: bool) {
        self.config.hash_elsewhere = on;
    }

    /// The answer to [`Output::DigestWanted`]: the SHA-256 of every
    /// [`Output::HashBytes`] of `key`. The receiver then gives its verdict, the
    /// sender sends `end`. An answer nobody asked for (or a second one) is ignored.
    pub fn digest_ready(
        &mut self,
        key: TransferKey,
        digest: [u8; 32],
        now_ms: f64,
    ) -> Result<(), TransferError> {
        match key.direction {
            Direction::Incoming => {
                let transfer = self
                    .incoming
                    .get_mut(&key.id)
                    .ok_or(TransferError::UnknownTransfer(key))?;
                if transfer.answer_digest(digest) {
                    self.maybe_complete(key.id, now_ms);
                }
            }
            Direction::Outgoing => {
                let transfer = self
                    .outgoing
                    .get_mut(&key.id)
                    .ok_or(TransferError::UnknownTransfer(key))?;
                if transfer.answer_digest(digest) {
                    self.maybe_send_end(key.id);
                }
            }
        }
        Ok(())
    }

    /// Sets the remote's largest message, from
    /// [`RTCSctpTransport.maxMessageSize`](https://developer.mozilla.org/en-US/docs/Web/API/RTCSctpTransport/maxMessageSize)
    /// (0 or `Infinity` mean unlimited). Chunk frames are at most this, and at most
    /// [`MAX_CHUNK_FRAME_LEN`].
    pub fn set_max_message_size(&mut self, bytes: u64) {
        self.max_message_size = bytes;
    }

    /// Payload bytes per chunk frame, given the remote's `maxMessageSize`.
    pub fn chunk_payload_len(&self) -> u64 {
        let cap = MAX_CHUNK_FRAME_LEN as u64;
        let frame = if self.max_message_size == 0 {
            cap
        } else {
            self.max_message_size.min(cap)
        };
        frame.saturating_sub(CHUNK_HEADER_LEN as u64).max(1)
    }

    /// Tells the manager the data channel's current
    /// [`bufferedAmount`](https://developer.mozilla.org/en-US/docs/Web/API/RTCDataChannel/bufferedAmount).
    /// Call it before draining outputs and in the `bufferedamountlow` handler (then
    /// drain). Between calls the manager adds the size of every frame it hands out.
    pub fn set_buffered_amount(&mut self, bytes: u64) {
        self.buffered = bytes;
    }

    /// How many more bytes of chunk frames the manager is willing to have in flight
    /// now: the high-water mark minus the buffered amount and the reads in progress.
    pub fn send_budget(&self) -> u64 {
        self.config
            .high_water_mark
            .saturating_sub(self.buffered.saturating_add(self.reads_in_progress()))
    }

    /// Whether the manager believes the data channel is open.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The next thing to do, or `None` when there is nothing (until the next input).
    ///
    /// Chunk reads are requested here, lazily, only while the channel has room below
    /// the high-water mark, round-robin among the outgoing transfers that can send.
    pub fn poll_output(&mut self) -> Option<Output> {
        let output = match self.outputs.pop_front() {
            Some(output) => output,
            None => self.next_read_request()?,
        };
        let sent = match &output {
            Output::SendChunk { frame, .. } => frame.len(),
            Output::SendControl(msg) => msg.to_json().len(),
            _ => 0,
        };
        self.buffered = self.buffered.saturating_add(sent as u64);
        Some(output)
    }

    /// Handles a control message from the remote. Problems with a particular transfer
    /// fail that transfer (and tell the remote); they are not returned.
    pub fn handle_control(&mut self, msg: ControlMessage, now_ms: f64) {
        match msg {
            ControlMessage::Offer(offer) => self.on_offer(offer),
            ControlMessage::Accept { id, window } => self.on_accept(id, window, now_ms),
            ControlMessage::Reject { id } => self.on_reject(id),
            ControlMessage::Ack { id, offset } => self.on_ack(id, offset, now_ms),
            ControlMessage::End { id, sha256 } => self.on_end(id, &sha256, now_ms),
            ControlMessage::Verdict { id, result } => self.on_verdict(id, result, now_ms),
            ControlMessage::Cancel {
                id,
                by: Role::Sender,
                reason,
            } => self.on_incoming_cancelled(id, reason),
            ControlMessage::Cancel {
                id,
                by: Role::Receiver,
                reason,
            } => self.on_outgoing_cancelled(id, reason),
            ControlMessage::Resume { id, offset, window } => {
                self.on_resume(id, offset, window, now_ms)
            }
            ControlMessage::AcceptFrom {
                id,
                offset,
                window,
                prefix_sha256,
            } => self.on_accept_from(id, offset, window, &prefix_sha256, now_ms),
            ControlMessage::Restart { id } => self.on_restart(id, now_ms),
            // Concerns two links (the old and the new one): the glue's business.
            ControlMessage::Reattach { .. } => {}
        }
    }

    /// Parses a text frame and handles it; `Err` only for a malformed frame.
    pub fn handle_control_text(&mut self, text: &str, now_ms: f64) -> Result<(), WireError> {
        let msg = ControlMessage::parse(text)?;
        self.handle_control(msg, now_ms);
        Ok(())
    }

    /// The data channel closed or the connection dropped. Transfers pause and keep
    /// their state (the receiver keeps its running SHA-256); queued messages and
    /// chunk frames are dropped, reads in progress are forgotten (a late
    /// `provide_chunk` is ignored).
    pub fn on_connection_lost(&mut self) {
        if !self.connected {
            return;
        }
        self.connected = false;
        self.buffered = 0;
        self.outputs.retain(|output| {
            !matches!(
                output,
                Output::SendControl(_) | Output::SendChunk { .. } | Output::SendChunkRequest { .. }
            )
        });
        let mut events = Vec::new();
        for (&id, transfer) in &mut self.outgoing {
            if transfer.pause() {
                events.push(TransferEvent::Interrupted {
                    key: TransferKey::outgoing(id),
                });
            }
        }
        for (&id, transfer) in &mut self.incoming {
            if transfer.pause() {
                events.push(TransferEvent::Interrupted {
                    key: TransferKey::incoming(id),
                });
            }
        }
        for event in events {
            self.emit(event);
        }
    }

    /// The data channel is open (first time or again). As sender, re-announces every
    /// unfinished outgoing transfer with its `Offer` (the receiver answers with
    /// `Verdict`, `Reject` or `Cancel` if it has finished with it, and treats it as a new
    /// offer if it has forgotten it). As receiver, sends `Resume` with the exact offset
    /// it has for every transfer in progress, so the sender continues from there (or
    /// answers `Cancel` if it no longer has the file). Cancels and failures that
    /// happened while disconnected are sent now.
    pub fn on_connection_restored(&mut self) {
        if self.connected {
            return;
        }
        self.connected = true;
        self.buffered = 0;
        let mut messages = Vec::new();
        for (&id, transfer) in &mut self.outgoing {
            if !transfer.phase.is_terminal() {
                messages.push(ControlMessage::Offer(transfer.offer.clone()));
            } else if let Some(reason) = transfer.take_pending_notice() {
                messages.push(ControlMessage::Cancel {
                    id,
                    by: Role::Sender,
                    reason,
                });
            }
        }
        let mut resume = Vec::new();
        for (&id, transfer) in &mut self.incoming {
            if let Some(reason) = transfer.take_pending_notice() {
                messages.push(ControlMessage::Cancel {
                    id,
                    by: Role::Receiver,
                    reason,
                });
            }
            resume.push(id);
        }
        for msg in messages {
            self.send(msg);
        }
        for id in resume {
            self.send_resume(id); // only for transfers in progress
        }
    }

    /// Cancels a transfer in either direction; the remote is told (now, or when the
    /// connection is back).
    pub fn cancel(&mut self, key: TransferKey) -> Result<(), TransferError> {
        self.cancel_because(key, None)
    }

    /// [`cancel`](Self::cancel), saying why (to the remote and in the event).
    pub fn cancel_because(
        &mut self,
        key: TransferKey,
        reason: Option<String>,
    ) -> Result<(), TransferError> {
        let connected = self.connected;
        let (phase, role) = match key.direction {
            Direction::Outgoing => {
                let transfer = self
                    .outgoing
                    .get_mut(&key.id)
                    .ok_or(TransferError::UnknownTransfer(key))?;
                let phase = transfer.phase;
                if !phase.is_terminal() {
                    transfer.finish(TransferPhase::Cancelled, reason.clone(), connected);
                }
                (phase, Role::Sender)
            }
            Direction::Incoming => {
                let transfer = self
                    .incoming
                    .get_mut(&key.id)
                    .ok_or(TransferError::UnknownTransfer(key))?;
                let phase = transfer.phase;
                if !phase.is_terminal() {
                    transfer.finish(TransferPhase::Cancelled, reason.clone(), connected);
                }
                (phase, Role::Receiver)
            }
        };
        if phase.is_terminal() {
            return Err(TransferError::InvalidState {
                key,
                action: "be cancelled",
                phase,
            });
        }
        self.send(ControlMessage::Cancel {
            id: key.id,
            by: role,
            reason: reason.clone(),
        });
        self.emit(TransferEvent::Cancelled {
            key,
            by: Side::Local,
            reason,
        });
        Ok(())
    }

    /// Drops a finished transfer's record (its phase, offer and final progress).
    /// Returns whether one was dropped; unfinished transfers are kept.
    pub fn forget(&mut self, key: TransferKey) -> bool {
        match key.direction {
            Direction::Outgoing => remove_if_finished(&mut self.outgoing, key.id, |t| t.phase),
            Direction::Incoming => remove_if_finished(&mut self.incoming, key.id, |t| t.phase),
        }
    }

    /// The phase of a transfer.
    pub fn phase(&self, key: TransferKey) -> Option<TransferPhase> {
        match key.direction {
            Direction::Outgoing => self.outgoing.get(&key.id).map(|t| t.phase),
            Direction::Incoming => self.incoming.get(&key.id).map(|t| t.phase),
        }
    }

    /// The (sanitized) offer of a transfer.
    pub fn offer(&self, key: TransferKey) -> Option<&FileOffer> {
        match key.direction {
            Direction::Outgoing => self.outgoing.get(&key.id).map(|t| &t.offer),
            Direction::Incoming => self.incoming.get(&key.id).map(|t| &t.offer),
        }
    }

    /// Progress of a transfer at `now_ms`: bytes durably written by the receiver (as
    /// acknowledged, when sending), speed and time left.
    pub fn progress(&self, key: TransferKey, now_ms: f64) -> Option<Progress> {
        match key.direction {
            Direction::Outgoing => self.outgoing.get(&key.id).map(|t| t.progress(now_ms)),
            Direction::Incoming => self.incoming.get(&key.id).map(|t| t.progress(now_ms)),
        }
    }

    /// Every transfer kept, outgoing first, by id.
    pub fn transfers(&self) -> impl Iterator<Item = (TransferKey, &FileOffer, TransferPhase)> {
        let outgoing = self
            .outgoing
            .iter()
            .map(|(&id, t)| (TransferKey::outgoing(id), &t.offer, t.phase));
        let incoming = self
            .incoming
            .iter()
            .map(|(&id, t)| (TransferKey::incoming(id), &t.offer, t.phase));
        outgoing.chain(incoming)
    }

    /// Queues a message for the remote; dropped while disconnected, because every
    /// message that matters is derived again from the state on reconnection.
    pub(super) fn send(&mut self, msg: ControlMessage) {
        if self.connected {
            self.outputs.push_back(Output::SendControl(msg));
        }
    }

    pub(super) fn emit(&mut self, event: TransferEvent) {
        self.outputs.push_back(Output::Event(event));
    }

    fn reads_in_progress(&self) -> u64 {
        self.outgoing
            .values()
            .filter_map(|t| t.pending_read)
            .map(|(_, len)| len)
            .sum()
    }

    /// Picks the next outgoing transfer (round-robin, after the one served last) that
    /// may send, and asks the glue to read its next chunk, if the budget allows.
    fn next_read_request(&mut self) -> Option<Output> {
        if !self.connected {
            return None;
        }
        let chunk = self.chunk_payload_len();
        let cursor = self.round_robin_cursor;
        // At most `max_sending` transfers take turns: those that have started keep
        // their place until they are done, free places go to the oldest waiting.
        let sending = |t: &Outgoing| t.phase == TransferPhase::Transferring;
        let started = self
            .outgoing
            .values()
            .filter(|t| sending(t) && t.started())
            .count();
        let free = self.config.max_sending.saturating_sub(started);
        let last_new = match free {
            0 => None,
            n => Some(
                self.outgoing
                    .iter()
                    .filter(|(_, t)| sending(t) && !t.started())
                    .map(|(&id, _)| id)
                    .nth(n - 1)
                    .unwrap_or(TransferId::MAX),
            ),
        };
        let may_send =
            |id: TransferId, t: &Outgoing| t.started() || last_new.is_some_and(|last| id <= last);
        let (id, len) = self
            .outgoing
            .range((Bound::Excluded(cursor), Bound::Unbounded))
            .chain(self.outgoing.range(..=cursor))
            .filter(|&(&id, t)| may_send(id, t))
            .find_map(|(&id, t)| t.next_read_len(chunk).map(|len| (id, len)))?;
        // Strict round-robin: if the transfer whose turn it is does not fit, nobody
        // goes. When nothing is in flight, one frame may exceed a tiny high-water mark
        // so that sending never stalls.
        let in_flight = self.buffered.saturating_add(self.reads_in_progress());
        let frame_len = len.saturating_add(CHUNK_HEADER_LEN as u64);
        if in_flight > 0 && in_flight.saturating_add(frame_len) > self.config.high_water_mark {
            return None;
        }
        let transfer = self.outgoing.get_mut(&id)?;
        let offset = transfer.start_read(len);
        self.round_robin_cursor = id;
        Some(Output::SendChunkRequest { id, offset, len })
    }

    /// Makes room for one more transfer in `map` by forgetting a finished one if
    /// needed; `false` when every slot holds an unfinished transfer.
    pub(super) fn make_room<T>(
        map: &mut VecMap<TransferId, T>,
        max: usize,
        phase: impl Fn(&T) -> TransferPhase,
    ) -> bool {
        if map.len() < max {
            return true;
        }
        let finished = map
            .iter()
            .find(|(_, t)| phase(t).is_terminal())
            .map(|(&id, _)| id);
        match finished {
            Some(id) => {
                map.remove(&id);
                true
            }
            None => false,
        }
    }
}

fn remove_if_finished<T>(
    map: &mut VecMap<TransferId, T>,
    id: TransferId,
    phase: impl Fn(&T) -> TransferPhase,
) -> bool {
    if map.get(&id).is_some_and(|t| phase(t).is_terminal()) {
        map.remove(&id);
        true
    } else {
        false
    }
}
