//! The receiving side: offers, accept/reject, chunk validation, incremental SHA-256,
//! write confirmations and acknowledgements, the verdict, and restoring after a
//! reload.

use super::hashing::Hashing;
use super::manager::TransferManager;
use super::progress::{Progress, ProgressMeter};
use super::reattach::is_valid_resume_token;
use super::sanitize::{sanitize_file_name, sanitize_mime_type, sanitize_relative_path};
use super::types::{
    FailureReason, Output, Side, TransferConfig, TransferError, TransferEvent, TransferKey,
    TransferPhase,
};
use super::wire::{
    clean_reason, decode_chunk, sha256_from_hex, sha256_to_hex, ControlMessage, FileOffer, Role,
    TransferId, Verdict, WireError, MAX_FILE_SIZE,
};

/// State of one incoming transfer. Fixed size apart from the offer's strings.
#[derive(Debug, Clone)]
pub(super) struct Incoming {
    pub(super) offer: FileOffer,
    pub(super) phase: TransferPhase,
    /// SHA-256 of bytes `0..received`, in order.
    hashing: Hashing,
    /// Bytes received and handed to the glue for writing (a prefix of the file).
    received: u64,
    /// Bytes the glue confirmed written (`<= received`).
    durable: u64,
    /// The last offset acknowledged to the sender.
    last_ack: u64,
    /// The sender's digest from `End`.
    expected: Option<[u8; 32]>,
    /// A `Resume` was sent because a chunk skipped ahead; do not repeat it for every
    /// following chunk.
    resync_pending: bool,
    /// `Resume` was sent since the connection came up; once is enough.
    resumed_on_this_connection: bool,
    /// New bytes came over this connection: the sender counts it among the
    /// transfers it is sending (see `TransferConfig::max_receiving`).
    fed_on_this_connection: bool,
    /// Started from a copy held from an earlier offer ([`TransferManager::accept_held`]):
    /// being restored (`Some(None)`), then its length and SHA-256 (lower-case hex),
    /// offered with `AcceptFrom` until the first chunk shows the sender took it.
    held: Option<Option<(u64, String)>>,
    interrupted: bool,
    /// Finished while disconnected: the remote must be told on reconnection.
    tell_remote: bool,
    reason: Option<String>,
    meter: ProgressMeter,
}

impl Incoming {
    fn new(offer: FileOffer, phase: TransferPhase, config: &TransferConfig) -> Self {
        Self {
            offer,
            phase,
            hashing: Hashing::new(config.hash_elsewhere && phase != TransferPhase::Restoring),
            received: 0,
            durable: 0,
            last_ack: 0,
            expected: None,
            resync_pending: false,
            resumed_on_this_connection: false,
            fed_on_this_connection: false,
            held: None,
            interrupted: false,
            tell_remote: false,
            reason: None,
            meter: ProgressMeter::new(config.progress_window_ms),
        }
    }

    /// Pauses for a lost connection; returns whether bytes were flowing.
    pub(super) fn pause(&mut self) -> bool {
        self.resync_pending = false;
        self.resumed_on_this_connection = false;
        self.fed_on_this_connection = false;
        let active = matches!(
            self.phase,
            TransferPhase::Transferring | TransferPhase::Verifying
        );
        if active {
            self.interrupted = true;
        }
        active
    }

    pub(super) fn finish(&mut self, phase: TransferPhase, reason: Option<String>, connected: bool) {
        self.phase = phase;
        self.tell_remote =
            !connected && matches!(phase, TransferPhase::Cancelled | TransferPhase::Failed);
        self.reason = reason;
    }

    /// The cancel reason still to be sent to the remote, once.
    pub(super) fn take_pending_notice(&mut self) -> Option<Option<String>> {
        std::mem::take(&mut self.tell_remote).then(|| self.reason.clone())
    }

    pub(super) fn progress(&self, now_ms: f64) -> Progress {
        self.meter.snapshot(now_ms, self.durable, self.offer.size)
    }

    fn progress_event(
        &mut self,
        id: TransferId,
        now_ms: f64,
        config: &TransferConfig,
    ) -> Option<TransferEvent> {
        self.meter
            .update(
                now_ms,
                self.durable,
                self.offer.size,
                config.progress_interval_ms,
            )
            .map(|progress| TransferEvent::Progress {
                key: TransferKey::incoming(id),
                progress,
            })
    }

    /// The glue's digest, if one was asked for and not answered yet.
    pub(super) fn answer_digest(&mut self, digest: [u8; 32]) -> bool {
        self.hashing.answer(digest)
    }

    fn receiving(&self) -> bool {
        matches!(
            self.phase,
            TransferPhase::Transferring | TransferPhase::Verifying
        )
    }

    /// Part of the file came over this connection and part is still to come.
    fn being_sent(&self) -> bool {
        self.fed_on_this_connection
            && self.phase == TransferPhase::Transferring
            && self.received < self.offer.size
    }
}

/// Sanitizes everything in an offer that will end up in a file name or be shown.
fn sanitize_offer(offer: FileOffer) -> FileOffer {
    FileOffer {
        id: offer.id,
        name: sanitize_file_name(&offer.name),
        relative_path: offer
            .relative_path
            .filter(|path| !path.is_empty())
            .map(|path| sanitize_relative_path(&path)),
        size: offer.size,
        mime_type: sanitize_mime_type(&offer.mime_type),
        resume_token: offer.resume_token.filter(|t| is_valid_resume_token(t)),
    }
}

impl TransferManager {
    /// Handles a binary frame from the remote. `Err` only for a malformed frame (log
    /// it; nothing changed). Chunks for unknown, unaccepted or finished transfers are
    /// ignored; duplicates are dropped and overlaps trimmed; a chunk past the end of
    /// the file or beyond the receive window fails its transfer.
    pub fn handle_chunk(&mut self, frame: &[u8]) -> Result<(), WireError> {
        let chunk = decode_chunk(frame)?;
        let id = chunk.id;
        let window = self.config.receive_window;
        let connected = self.connected;
        let Some(transfer) = self.incoming.get_mut(&id) else {
            return Ok(());
        };
        if !transfer.receiving() {
            return Ok(());
        }
        // `decode_chunk` guarantees that this does not overflow.
        let end = chunk.offset.saturating_add(chunk.payload.len() as u64);
        if end > transfer.offer.size {
            let reason = format!(
                "chunk ends at {end}, past the file's {} bytes",
                transfer.offer.size
            );
            self.fail_incoming(id, FailureReason::Protocol(reason));
            return Ok(());
        }
        if end <= transfer.received {
            return Ok(()); // already have it (a re-send after a resume)
        }
        if chunk.offset > transfer.received {
            // Bytes are missing: ask once to continue from what we have.
            if connected && !transfer.resync_pending {
                transfer.resync_pending = true;
                let offset = transfer.received;
                self.send(ControlMessage::Resume { id, offset, window });
            }
            return Ok(());
        }
        if end > transfer.durable.saturating_add(window) {
            let reason = format!(
                "chunk ends at {end}, beyond the receive window ({} written + {window})",
                transfer.durable
            );
            self.fail_incoming(id, FailureReason::Protocol(reason));
            return Ok(());
        }
        if !transfer.fed_on_this_connection {
            // Each transfer being sent holds up to a segment and a window here: a
            // sender that starts more than it may at once fails the newcomer.
            let most = self.config.max_receiving;
            if self.incoming.values().filter(|t| t.being_sent()).count() >= most {
                let reason = format!(
                    "the sender sent more than {most} files at once (it must finish one first)"
                );
                self.fail_incoming(id, FailureReason::Protocol(reason));
                return Ok(());
            }
        }
        let Some(transfer) = self.incoming.get_mut(&id) else {
            return Ok(());
        };
        transfer.fed_on_this_connection = true;
        let seen = usize::try_from(transfer.received - chunk.offset).unwrap_or(usize::MAX);
        let Some(fresh) = chunk.payload.get(seen..) else {
            return Ok(());
        };
        transfer
            .hashing
            .update(TransferKey::incoming(id), fresh, &mut self.outputs);
        let offset = transfer.received;
        transfer.received = end;
        transfer.resync_pending = false;
        // The sender has checked the held copy: from now on this is a plain resume.
        transfer.held = None;
        if transfer.received == transfer.offer.size {
            transfer.phase = TransferPhase::Verifying;
        }
        self.outputs.push_back(Output::WriteChunk {
            id,
            offset,
            bytes: fresh.to_vec(),
        });
        Ok(())
    }

    /// Accepts an offered file. Have the destination ready (an empty file for a
    /// 0-byte one): [`Output::WriteChunk`]s follow.
    pub fn accept(&mut self, id: TransferId, now_ms: f64) -> Result<(), TransferError> {
        let key = TransferKey::incoming(id);
        let transfer = self
            .incoming
            .get_mut(&id)
            .ok_or(TransferError::UnknownTransfer(key))?;
        if transfer.phase != TransferPhase::AwaitingDecision {
            return Err(TransferError::InvalidState {
                key,
                action: "be accepted",
                phase: transfer.phase,
            });
        }
        transfer.phase = if transfer.offer.size == 0 {
            TransferPhase::Verifying
        } else {
            TransferPhase::Transferring
        };
        transfer.meter.record(now_ms, 0);
        // While disconnected, the acceptance is given as `Resume` from 0 when the
        // sender re-announces the offer.
        let window = self.config.receive_window;
        self.send(ControlMessage::Accept { id, window });
        Ok(())
    }

    /// Accepts an offered file of which a copy of the start is already held (kept
    /// from an earlier offer of the same name and size whose sender went away, e.g.
    /// because its page reloaded). Feed the held bytes back as after a reload
    /// ([`feed_stored_bytes`](Self::feed_stored_bytes), then
    /// [`finish_restore`](Self::finish_restore)); the sender is then asked to check
    /// them against its file (`AcceptFrom`) and sends only the rest — or everything,
    /// after [`Output::RestartWrite`], if they are another file's bytes.
    pub fn accept_held(&mut self, id: TransferId, now_ms: f64) -> Result<(), TransferError> {
        let key = TransferKey::incoming(id);
        let transfer = self
            .incoming
            .get_mut(&id)
            .ok_or(TransferError::UnknownTransfer(key))?;
        if transfer.phase != TransferPhase::AwaitingDecision || transfer.offer.size == 0 {
            return Err(TransferError::InvalidState {
                key,
                action: "be accepted from a held copy",
                phase: transfer.phase,
            });
        }
        transfer.phase = TransferPhase::Restoring;
        // Its digest is needed as soon as the held bytes are fed back.
        transfer.hashing = Hashing::here();
        transfer.held = Some(None);
        transfer.interrupted = true;
        transfer.meter.record(now_ms, 0);
        Ok(())
    }

    /// The sender found that the held copy is not its file's start: everything
    /// written is dropped and the file comes again from 0.
    pub(super) fn on_restart(&mut self, id: TransferId, now_ms: f64) {
        let config = self.config.clone();
        let Some(transfer) = self.incoming.get_mut(&id) else {
            return;
        };
        if !transfer.receiving() || !matches!(transfer.held, Some(Some(_))) {
            return; // only an answer to our `AcceptFrom`, before any chunk
        }
        transfer.hashing = Hashing::here();
        transfer.received = 0;
        transfer.durable = 0;
        transfer.last_ack = 0;
        transfer.expected = None;
        transfer.held = None;
        transfer.phase = TransferPhase::Transferring;
        transfer.meter = ProgressMeter::new(config.progress_window_ms);
        transfer.meter.record(now_ms, 0);
        self.outputs.push_back(Output::RestartWrite { id });
        self.emit(TransferEvent::Resumed {
            key: TransferKey::incoming(id),
            offset: 0,
        });
    }

    /// Declines an offered file.
    pub fn reject(&mut self, id: TransferId) -> Result<(), TransferError> {
        let key = TransferKey::incoming(id);
        let transfer = self
            .incoming
            .get_mut(&id)
            .ok_or(TransferError::UnknownTransfer(key))?;
        if transfer.phase != TransferPhase::AwaitingDecision {
            return Err(TransferError::InvalidState {
                key,
                action: "be rejected",
                phase: transfer.phase,
            });
        }
        transfer.finish(TransferPhase::Rejected, None, true);
        self.send(ControlMessage::Reject { id });
        Ok(())
    }

    /// Confirms that the glue wrote `len` bytes at `offset` of incoming file `id`
    /// (after an [`Output::WriteChunk`]), in order. Drives acknowledgements, progress
    /// and, after the last byte, the verdict.
    pub fn chunk_written(
        &mut self,
        id: TransferId,
        offset: u64,
        len: u64,
        now_ms: f64,
    ) -> Result<(), TransferError> {
        let transfer = self
            .incoming
            .get_mut(&id)
            .ok_or(TransferError::UnknownTransfer(TransferKey::incoming(id)))?;
        if !transfer.receiving() {
            return Ok(()); // a write that finished after a cancel
        }
        let end = offset.saturating_add(len).min(transfer.received);
        if end > transfer.durable {
            transfer.durable = end;
            if let Some(event) = transfer.progress_event(id, now_ms, &self.config) {
                self.emit(event);
            }
        }
        self.maybe_ack(id);
        self.maybe_complete(id, now_ms);
        Ok(())
    }

    /// The glue could not write an incoming file: the transfer fails and the sender is
    /// told.
    pub fn write_failed(&mut self, id: TransferId, reason: &str) -> Result<(), TransferError> {
        let key = TransferKey::incoming(id);
        let phase = self
            .incoming
            .get(&id)
            .map(|t| t.phase)
            .ok_or(TransferError::UnknownTransfer(key))?;
        if phase.is_terminal() {
            return Err(TransferError::InvalidState {
                key,
                action: "fail",
                phase,
            });
        }
        self.fail_incoming(id, FailureReason::WriteFailed(reason.to_owned()));
        Ok(())
    }

    /// After a page reload: re-creates an accepted incoming transfer from the offer the
    /// glue stored (e.g. in IndexedDB) next to the partial file. Then feed back the
    /// bytes already stored, in order, with
    /// [`feed_stored_bytes`](Self::feed_stored_bytes) (this rebuilds the SHA-256 state,
    /// which cannot itself be saved), and call
    /// [`finish_restore`](Self::finish_restore). The sender (which still has the file)
    /// then continues from there.
    pub fn restore_incoming(&mut self, offer: FileOffer) -> Result<(), TransferError> {
        let offer = sanitize_offer(offer);
        let key = TransferKey::incoming(offer.id);
        if offer.size > MAX_FILE_SIZE {
            return Err(TransferError::FileTooLarge(offer.size));
        }
        if let Some(existing) = self.incoming.get(&offer.id) {
            if !existing.phase.is_terminal() {
                return Err(TransferError::InvalidState {
                    key,
                    action: "be restored",
                    phase: existing.phase,
                });
            }
            self.incoming.remove(&offer.id);
        }
        if !Self::make_room(&mut self.incoming, self.config.max_transfers, |t| t.phase) {
            return Err(TransferError::TooManyTransfers(self.incoming.len()));
        }
        let mut transfer = Incoming::new(offer, TransferPhase::Restoring, &self.config);
        transfer.interrupted = true;
        self.incoming.insert(key.id, transfer);
        Ok(())
    }

    /// Feeds back the next stored bytes of a transfer being restored.
    pub fn feed_stored_bytes(&mut self, id: TransferId, bytes: &[u8]) -> Result<(), TransferError> {
        let key = TransferKey::incoming(id);
        let transfer = self
            .incoming
            .get_mut(&id)
            .ok_or(TransferError::UnknownTransfer(key))?;
        if transfer.phase != TransferPhase::Restoring {
            return Err(TransferError::InvalidState {
                key,
                action: "take stored bytes",
                phase: transfer.phase,
            });
        }
        let fed = transfer.received.saturating_add(bytes.len() as u64);
        if fed > transfer.offer.size {
            return Err(TransferError::StoredBytesExceedSize {
                key,
                size: transfer.offer.size,
                fed,
            });
        }
        transfer.hashing.update(key, bytes, &mut self.outputs);
        transfer.received = fed;
        Ok(())
    }

    /// Ends restoring: the transfer continues from the bytes fed back, which count as
    /// written. Returns that offset; new [`Output::WriteChunk`]s start there (truncate
    /// anything stored beyond it).
    pub fn finish_restore(&mut self, id: TransferId, now_ms: f64) -> Result<u64, TransferError> {
        let key = TransferKey::incoming(id);
        let transfer = self
            .incoming
            .get_mut(&id)
            .ok_or(TransferError::UnknownTransfer(key))?;
        if transfer.phase != TransferPhase::Restoring {
            return Err(TransferError::InvalidState {
                key,
                action: "finish restoring",
                phase: transfer.phase,
            });
        }
        transfer.durable = transfer.received;
        if transfer.held.is_some() {
            // Restoring hashes here (see `accept_held`), so this is known now.
            let digest = transfer.hashing.digest(key, &mut self.outputs);
            transfer.held = Some(digest.map(|d| (transfer.received, sha256_to_hex(&d))));
        }
        transfer.phase = if transfer.received == transfer.offer.size {
            TransferPhase::Verifying
        } else {
            TransferPhase::Transferring
        };
        transfer.meter.record(now_ms, transfer.durable);
        let offset = transfer.received;
        if self.connected {
            self.send_resume(id);
        }
        Ok(offset)
    }

    pub(super) fn on_offer(&mut self, offer: FileOffer) {
        let offer = sanitize_offer(offer);
        let id = offer.id;
        if offer.size > MAX_FILE_SIZE {
            self.send(ControlMessage::Reject { id });
            return;
        }
        if let Some(existing) = self.incoming.get(&id) {
            if existing.offer == offer {
                self.answer_reannounced(id);
                return;
            }
            // Same id, different file: the sender restarted and reuses ids. The old
            // transfer cannot finish any more; do not message about it, the id now
            // means the new file.
            let was_terminal = existing.phase.is_terminal();
            self.incoming.remove(&id);
            if !was_terminal {
                self.emit(TransferEvent::Failed {
                    key: TransferKey::incoming(id),
                    reason: FailureReason::Superseded,
                });
            }
        }
        if !Self::make_room(&mut self.incoming, self.config.max_transfers, |t| t.phase) {
            self.send(ControlMessage::Reject { id });
            return;
        }
        let transfer = Incoming::new(offer.clone(), TransferPhase::AwaitingDecision, &self.config);
        self.incoming.insert(id, transfer);
        self.emit(TransferEvent::Offered {
            key: TransferKey::incoming(id),
            offer,
        });
    }

    /// The sender re-announced a transfer we know (after a reconnection), or repeated
    /// `End` after we finished: say where we stand.
    fn answer_reannounced(&mut self, id: TransferId) {
        let Some(transfer) = self.incoming.get_mut(&id) else {
            return;
        };
        let msg = match transfer.phase {
            // Undecided: the user's answer will go out. Restoring: `finish_restore`
            // resumes.
            TransferPhase::AwaitingDecision | TransferPhase::Restoring => return,
            TransferPhase::Transferring | TransferPhase::Verifying => {
                if !transfer.resumed_on_this_connection {
                    self.send_resume(id);
                }
                return;
            }
            TransferPhase::Completed { verified } => ControlMessage::Verdict {
                id,
                result: if verified {
                    Verdict::Verified
                } else {
                    Verdict::HashMismatch
                },
            },
            TransferPhase::Rejected => ControlMessage::Reject { id },
            TransferPhase::Cancelled | TransferPhase::Failed => {
                transfer.tell_remote = false;
                ControlMessage::Cancel {
                    id,
                    by: Role::Receiver,
                    reason: transfer.reason.clone(),
                }
            }
        };
        self.send(msg);
    }

    /// Tells the sender exactly how many bytes we have (`Resume`), and repeats the
    /// last ack, which may have been lost with the connection (the sender's window
    /// depends on it).
    pub(super) fn send_resume(&mut self, id: TransferId) {
        let window = self.config.receive_window;
        if !self.connected {
            return;
        }
        let Some(transfer) = self.incoming.get_mut(&id) else {
            return;
        };
        if !transfer.receiving() {
            return;
        }
        let offset = transfer.received;
        let durable = transfer.durable;
        transfer.resumed_on_this_connection = true;
        transfer.resync_pending = false;
        transfer.last_ack = durable;
        let resumed = std::mem::take(&mut transfer.interrupted);
        // A held copy the sender has not taken yet is offered again, not resumed.
        if let Some(Some((held, prefix_sha256))) = &transfer.held {
            let msg = ControlMessage::AcceptFrom {
                id,
                offset: *held,
                window,
                prefix_sha256: prefix_sha256.clone(),
            };
            self.send(msg);
            if resumed {
                self.emit(TransferEvent::Resumed {
                    key: TransferKey::incoming(id),
                    offset,
                });
            }
            return;
        }
        self.send(ControlMessage::Resume { id, offset, window });
        if durable > 0 {
            self.send(ControlMessage::Ack {
                id,
                offset: durable,
            });
        }
        if resumed {
            self.emit(TransferEvent::Resumed {
                key: TransferKey::incoming(id),
                offset,
            });
        }
    }

    pub(super) fn on_end(&mut self, id: TransferId, sha256: &str, now_ms: f64) {
        let Some(transfer) = self.incoming.get_mut(&id) else {
            return;
        };
        match transfer.phase {
            TransferPhase::Transferring | TransferPhase::Verifying => {}
            // Our verdict was lost: the sender resent `End`.
            TransferPhase::Completed { .. } => {
                self.answer_reannounced(id);
                return;
            }
            _ => return,
        }
        let Some(digest) = sha256_from_hex(sha256) else {
            let reason = "malformed SHA-256 in end".to_owned();
            self.fail_incoming(id, FailureReason::Protocol(reason));
            return;
        };
        transfer.expected = Some(digest);
        self.maybe_complete(id, now_ms);
    }

    pub(super) fn on_incoming_cancelled(&mut self, id: TransferId, reason: Option<String>) {
        let Some(transfer) = self.incoming.get_mut(&id) else {
            return;
        };
        if transfer.phase.is_terminal() {
            return;
        }
        let reason = reason.as_deref().map(clean_reason);
        transfer.finish(TransferPhase::Cancelled, reason.clone(), true);
        self.emit(TransferEvent::Cancelled {
            key: TransferKey::incoming(id),
            by: Side::Remote,
            reason,
        });
    }

    /// Acknowledges written bytes every `ack_interval` (at most half the window, so a
    /// sender that filled the window always gets an ack) and at the end.
    fn maybe_ack(&mut self, id: TransferId) {
        if !self.connected {
            return; // the ack is given on reconnection, after `Resume`
        }
        let interval = self.config.ack_interval;
        let Some(transfer) = self.incoming.get_mut(&id) else {
            return;
        };
        let unacked = transfer.durable.saturating_sub(transfer.last_ack);
        if unacked == 0 || (unacked < interval && transfer.durable < transfer.offer.size) {
            return;
        }
        transfer.last_ack = transfer.durable;
        let offset = transfer.durable;
        self.send(ControlMessage::Ack { id, offset });
    }

    /// Once every byte is written and the sender's digest is known: compare, send the
    /// verdict, report.
    pub(super) fn maybe_complete(&mut self, id: TransferId, now_ms: f64) {
        let Some(transfer) = self.incoming.get_mut(&id) else {
            return;
        };
        let Some(expected) = transfer.expected else {
            return;
        };
        if transfer.phase != TransferPhase::Verifying || transfer.durable < transfer.offer.size {
            return;
        }
        let Some(digest) = transfer
            .hashing
            .digest(TransferKey::incoming(id), &mut self.outputs)
        else {
            return; // asked; `digest_ready` comes back here
        };
        let verified = digest == expected;
        transfer.finish(TransferPhase::Completed { verified }, None, true);
        let progress = transfer.progress_event(id, now_ms, &self.config);
        self.send(ControlMessage::Verdict {
            id,
            result: if verified {
                Verdict::Verified
            } else {
                Verdict::HashMismatch
            },
        });
        if let Some(event) = progress {
            self.emit(event);
        }
        self.emit(TransferEvent::Completed {
            key: TransferKey::incoming(id),
            verified,
        });
    }

    /// Fails an unfinished incoming transfer and tells the sender.
    pub(super) fn fail_incoming(&mut self, id: TransferId, reason: FailureReason) {
        let connected = self.connected;
        let Some(transfer) = self.incoming.get_mut(&id) else {
            return;
        };
        if transfer.phase.is_terminal() {
            return;
        }
        let text = reason.to_string();
        transfer.finish(TransferPhase::Failed, Some(text.clone()), connected);
        self.send(ControlMessage::Cancel {
            id,
            by: Role::Receiver,
            reason: Some(text),
        });
        self.emit(TransferEvent::Failed {
            key: TransferKey::incoming(id),
            reason,
        });
    }
}
