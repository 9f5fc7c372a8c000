//! The sending side: offers, reads requested from the glue, incremental SHA-256,
//! acknowledgements, `End`, verdicts and resumption.

use sha2::{Digest, Sha256};

use super::hashing::Hashing;
use super::manager::TransferManager;
use super::progress::{Progress, ProgressMeter};
use super::reattach::is_valid_resume_token;
use super::sanitize::{sanitize_file_name, sanitize_mime_type, sanitize_relative_path};
use super::types::{
    FailureReason, Output, Side, TransferConfig, TransferError, TransferEvent, TransferKey,
    TransferPhase, MIN_RECEIVE_WINDOW,
};
use super::wire::{
    clean_reason, encode_chunk, sha256_from_hex, sha256_to_hex, ControlMessage, FileOffer, Role,
    TransferId, Verdict, MAX_FILE_SIZE,
};

/// A file to offer, as the glue knows it from a
/// [`File`](https://developer.mozilla.org/en-US/docs/Web/API/File).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingFile {
    /// `File.name`.
    pub name: String,
    /// `File.webkitRelativePath` when a folder is shared (`None` or empty otherwise).
    pub relative_path: Option<String>,
    /// `File.size`.
    pub size: u64,
    /// `File.type` (may be empty).
    pub mime_type: String,
    /// A secret that lets the receiver pick this transfer up again after its page
    /// reloads (`new_resume_token` makes one); `None`: no resume
    /// across reloads. Invalid tokens are dropped.
    pub resume_token: Option<String>,
}

/// State of one outgoing transfer. Fixed size apart from the offer's strings.
#[derive(Debug, Clone)]
pub(super) struct Outgoing {
    pub(super) offer: FileOffer,
    pub(super) phase: TransferPhase,
    /// The receiver's advertised window.
    window: u64,
    /// Next byte to ask the glue for.
    next_offset: u64,
    /// End of the furthest chunk ever sent; acks and resume offsets beyond it are lies.
    max_sent: u64,
    /// Highest offset the receiver acknowledged as durably written.
    acked: u64,
    /// The read the glue is doing for us: `(offset, len)`. At most one at a time, which
    /// keeps the bytes arriving in order for the hasher.
    pub(super) pending_read: Option<(u64, u64)>,
    hashing: Hashing,
    /// Bytes fed to `hashing` (always a prefix of the file). Re-sent bytes after a
    /// resume are not hashed again.
    hashed: u64,
    /// The receiver said (`AcceptFrom`) it holds bytes `0..end` with this SHA-256:
    /// until `hashed` reaches `end`, reads only feed the hasher, then the claim is
    /// checked.
    held: Option<(u64, [u8; 32])>,
    /// The held bytes were not this file's and `Restart` was sent: a receiver that
    /// still offers them (it never got `Restart`) is told again.
    restarted: bool,
    digest: Option<[u8; 32]>,
    end_sent: bool,
    end_ever_sent: bool,
    /// Paused by a lost connection: send nothing until the receiver says `Resume`.
    interrupted: bool,
    /// Finished while disconnected: the remote must be told on reconnection.
    tell_remote: bool,
    reason: Option<String>,
    meter: ProgressMeter,
}

impl Outgoing {
    fn new(offer: FileOffer, config: &TransferConfig) -> Self {
        // A 0-byte file's digest is known at once (nothing for the glue to hash).
        let hashing = Hashing::new(config.hash_elsewhere && offer.size > 0);
        let digest = (offer.size == 0).then(|| Sha256::digest([]).into());
        Self {
            offer,
            phase: TransferPhase::AwaitingDecision,
            window: 0,
            next_offset: 0,
            max_sent: 0,
            acked: 0,
            pending_read: None,
            hashing,
            hashed: 0,
            held: None,
            restarted: false,
            digest,
            end_sent: false,
            end_ever_sent: false,
            interrupted: false,
            tell_remote: false,
            reason: None,
            meter: ProgressMeter::new(config.progress_window_ms),
        }
    }

    /// The glue's digest of the whole file, if one was asked for and not answered
    /// yet.
    pub(super) fn answer_digest(&mut self, digest: [u8; 32]) -> bool {
        let answered = self.hashing.answer(digest);
        if answered {
            self.digest = Some(digest);
        }
        answered
    }

    /// Whether anything was read for this transfer since it was accepted (it holds
    /// a place among the transfers sending, see `TransferConfig::max_sending`).
    pub(super) fn started(&self) -> bool {
        self.hashed > 0 || self.max_sent > 0 || self.pending_read.is_some()
    }

    /// The end of the receiver's held copy while it is still being checked.
    fn checking_held(&self) -> Option<u64> {
        self.held
            .map(|(end, _)| end)
            .filter(|&end| self.hashed < end)
    }

    /// How much to read next, if this transfer may send now.
    pub(super) fn next_read_len(&self, chunk: u64) -> Option<u64> {
        if self.phase != TransferPhase::Transferring
            || self.interrupted
            || self.pending_read.is_some()
        {
            return None;
        }
        // Bytes read only to be hashed take no room in the receiver's window.
        if let Some(end) = self.checking_held() {
            return Some(chunk.min(end - self.hashed));
        }
        let unacked = self.next_offset.saturating_sub(self.acked);
        let room = self.window.saturating_sub(unacked);
        let len = chunk
            .min(self.offer.size.saturating_sub(self.next_offset))
            .min(room);
        (len > 0).then_some(len)
    }

    /// Records a read request of `len` bytes at the next offset (or, while the
    /// receiver's held copy is checked, the next byte to hash); returns the offset.
    pub(super) fn start_read(&mut self, len: u64) -> u64 {
        if self.checking_held().is_some() {
            self.pending_read = Some((self.hashed, len));
            return self.hashed;
        }
        let offset = self.next_offset;
        self.pending_read = Some((offset, len));
        self.next_offset = offset.saturating_add(len);
        offset
    }

    /// Pauses for a lost connection; returns whether bytes were flowing.
    pub(super) fn pause(&mut self) -> bool {
        self.pending_read = None;
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
        self.pending_read = None;
        self.tell_remote =
            !connected && matches!(phase, TransferPhase::Cancelled | TransferPhase::Failed);
        self.reason = reason;
    }

    /// The cancel reason still to be sent to the remote, once.
    pub(super) fn take_pending_notice(&mut self) -> Option<Option<String>> {
        std::mem::take(&mut self.tell_remote).then(|| self.reason.clone())
    }

    pub(super) fn progress(&self, now_ms: f64) -> Progress {
        self.meter.snapshot(now_ms, self.acked, self.offer.size)
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
                self.acked,
                self.offer.size,
                config.progress_interval_ms,
            )
            .map(|progress| TransferEvent::Progress {
                key: TransferKey::outgoing(id),
                progress,
            })
    }
}

impl TransferManager {
    /// Offers a file to the remote; returns the new transfer's id. The offer goes out
    /// now, or when the connection is (back) up. Nothing is read until the remote
    /// accepts.
    pub fn offer_file(
        &mut self,
        file: OutgoingFile,
        now_ms: f64,
    ) -> Result<TransferId, TransferError> {
        if file.size > MAX_FILE_SIZE {
            return Err(TransferError::FileTooLarge(file.size));
        }
        if !Self::make_room(&mut self.outgoing, self.config.max_transfers, |t| t.phase) {
            return Err(TransferError::TooManyTransfers(self.outgoing.len()));
        }
        // At most `max_transfers` ids are in use, so a free one is found quickly.
        let id = loop {
            let id = self.next_id;
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            if !self.outgoing.contains_key(&id) {
                break id;
            }
        };
        let offer = FileOffer {
            id,
            name: sanitize_file_name(&file.name),
            relative_path: file
                .relative_path
                .filter(|path| !path.is_empty())
                .map(|path| sanitize_relative_path(&path)),
            size: file.size,
            mime_type: sanitize_mime_type(&file.mime_type),
            resume_token: file.resume_token.filter(|t| is_valid_resume_token(t)),
        };
        let mut transfer = Outgoing::new(offer.clone(), &self.config);
        transfer.meter.record(now_ms, 0);
        self.outgoing.insert(id, transfer);
        self.send(ControlMessage::Offer(offer));
        Ok(id)
    }

    /// Hands over the bytes asked for by [`Output::SendChunkRequest`]. `bytes` must be
    /// exactly the requested length; fewer (the file shrank) fails the transfer.
    /// Bytes for a request that no longer stands (after a cancel, a lost connection or
    /// a resume) are ignored, so late reads are harmless.
    pub fn provide_chunk(
        &mut self,
        id: TransferId,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), TransferError> {
        let transfer = self
            .outgoing
            .get_mut(&id)
            .ok_or(TransferError::UnknownTransfer(TransferKey::outgoing(id)))?;
        let Some((wanted_offset, wanted_len)) = transfer.pending_read else {
            return Ok(());
        };
        if wanted_offset != offset {
            return Ok(());
        }
        transfer.pending_read = None;
        if bytes.len() as u64 != wanted_len {
            let reason = format!(
                "asked for {wanted_len} bytes at offset {offset}, got {} (was the file changed?)",
                bytes.len()
            );
            self.fail_outgoing(id, FailureReason::ReadFailed(reason));
            return Ok(());
        }
        let end = offset.saturating_add(wanted_len);
        // `next_offset` never passes `hashed`, so the bytes follow on from what was
        // hashed; only the part not seen before is hashed (re-sends after a resume).
        debug_assert!(
            transfer.hashed >= offset,
            "reads must follow the hashed prefix"
        );
        if transfer.hashed >= offset && transfer.hashed < end {
            let seen = usize::try_from(transfer.hashed - offset).unwrap_or(usize::MAX);
            if let Some(new) = bytes.get(seen..) {
                transfer
                    .hashing
                    .update(TransferKey::outgoing(id), new, &mut self.outputs);
                transfer.hashed = end;
            }
            if transfer.hashed == transfer.offer.size {
                // Hashing elsewhere: asked now, `End` waits for `digest_ready`.
                transfer.digest = transfer
                    .hashing
                    .digest(TransferKey::outgoing(id), &mut self.outputs);
            }
        }
        if let Some((held_end, held_digest)) = transfer.held {
            if end <= held_end {
                // Read to check the receiver's copy, not to be sent.
                if end == held_end {
                    transfer.held = None;
                    let key = TransferKey::outgoing(id);
                    // Checking a held copy hashes here (see `on_accept_from`).
                    let digest = transfer.hashing.digest(key, &mut self.outputs);
                    if digest == Some(held_digest) {
                        transfer.acked = transfer.acked.max(held_end);
                        self.emit(TransferEvent::Resumed {
                            key,
                            offset: held_end,
                        });
                    } else {
                        // Another file's bytes: all of this one goes (the hasher
                        // is past them, so they are not hashed twice).
                        transfer.next_offset = 0;
                        transfer.max_sent = 0;
                        transfer.acked = 0;
                        transfer.restarted = true;
                        self.send(ControlMessage::Restart { id });
                        self.emit(TransferEvent::Resumed { key, offset: 0 });
                    }
                    self.maybe_send_end(id);
                }
                return Ok(());
            }
        }
        transfer.max_sent = transfer.max_sent.max(end);
        let frame = encode_chunk(id, offset, bytes);
        self.outputs
            .push_back(Output::SendChunk { id, offset, frame });
        self.maybe_send_end(id);
        Ok(())
    }

    /// The glue could not read an outgoing file: the transfer fails and the remote is
    /// told.
    pub fn read_failed(&mut self, id: TransferId, reason: &str) -> Result<(), TransferError> {
        let key = TransferKey::outgoing(id);
        let phase = self
            .outgoing
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
        self.fail_outgoing(id, FailureReason::ReadFailed(reason.to_owned()));
        Ok(())
    }

    pub(super) fn on_accept(&mut self, id: TransferId, window: u64, now_ms: f64) {
        let Some(transfer) = self.outgoing.get_mut(&id) else {
            return;
        };
        match transfer.phase {
            TransferPhase::AwaitingDecision => {}
            // A receiver only accepts an undecided offer: it has forgotten this
            // transfer (reloaded without restoring) and accepted our re-announcement.
            TransferPhase::Transferring | TransferPhase::Verifying => {
                self.on_resume(id, 0, window, now_ms);
                return;
            }
            _ => return,
        }
        if window < MIN_RECEIVE_WINDOW {
            let reason = format!("receive window of {window} bytes is too small");
            self.fail_outgoing(id, FailureReason::Protocol(reason));
            return;
        }
        transfer.phase = TransferPhase::Transferring;
        transfer.window = window;
        transfer.next_offset = 0;
        transfer.meter.record(now_ms, 0);
        self.emit(TransferEvent::Accepted {
            key: TransferKey::outgoing(id),
        });
        self.maybe_send_end(id);
    }

    /// The receiver accepts and says it already holds the first `offset` bytes, with
    /// SHA-256 `prefix_sha256`: hash ours (reads that are not sent), then send from
    /// `offset` if they match, or `Restart` and everything if not.
    pub(super) fn on_accept_from(
        &mut self,
        id: TransferId,
        offset: u64,
        window: u64,
        prefix_sha256: &str,
        now_ms: f64,
    ) {
        let Some(transfer) = self.outgoing.get_mut(&id) else {
            return;
        };
        match transfer.phase {
            TransferPhase::AwaitingDecision => {}
            // Said again (the connection came back before a chunk arrived): where
            // the receiver stands — unless its bytes were found wrong and it missed
            // the `Restart`.
            TransferPhase::Transferring | TransferPhase::Verifying => {
                if transfer.restarted {
                    self.send(ControlMessage::Restart { id });
                    self.on_resume(id, 0, window, now_ms);
                } else {
                    self.on_resume(id, offset, window, now_ms);
                }
                return;
            }
            _ => return,
        }
        if offset == 0 {
            self.on_accept(id, window, now_ms);
            return;
        }
        let digest = sha256_from_hex(prefix_sha256);
        let problem = if window < MIN_RECEIVE_WINDOW {
            Some(format!("receive window of {window} bytes is too small"))
        } else if offset > transfer.offer.size {
            Some(format!(
                "holds {offset} bytes of a {}-byte file",
                transfer.offer.size
            ))
        } else if digest.is_none() {
            Some("malformed SHA-256 in accept_from".to_owned())
        } else {
            None
        };
        let (None, Some(digest)) = (problem.clone(), digest) else {
            let reason = problem.unwrap_or_default();
            self.fail_outgoing(id, FailureReason::Protocol(reason));
            return;
        };
        transfer.phase = TransferPhase::Transferring;
        transfer.window = window;
        transfer.held = Some((offset, digest));
        // Its first `offset` bytes' digest is needed on the spot; nothing is hashed yet.
        transfer.hashing = Hashing::here();
        transfer.next_offset = offset;
        // The receiver's acks may count the bytes it holds.
        transfer.max_sent = offset;
        transfer.meter.record(now_ms, 0);
        self.emit(TransferEvent::Accepted {
            key: TransferKey::outgoing(id),
        });
    }

    pub(super) fn on_reject(&mut self, id: TransferId) {
        let Some(transfer) = self.outgoing.get_mut(&id) else {
            return;
        };
        if transfer.phase != TransferPhase::AwaitingDecision {
            return;
        }
        transfer.finish(TransferPhase::Rejected, None, true);
        self.emit(TransferEvent::Rejected {
            key: TransferKey::outgoing(id),
        });
    }

    pub(super) fn on_ack(&mut self, id: TransferId, offset: u64, now_ms: f64) {
        let Some(transfer) = self.outgoing.get_mut(&id) else {
            return;
        };
        if !matches!(
            transfer.phase,
            TransferPhase::Transferring | TransferPhase::Verifying
        ) {
            return;
        }
        if offset > transfer.max_sent {
            let reason = format!(
                "acknowledged {offset} bytes, but only {} were sent",
                transfer.max_sent
            );
            self.fail_outgoing(id, FailureReason::Protocol(reason));
            return;
        }
        // Acks may arrive late or twice: only the highest counts.
        if offset <= transfer.acked {
            return;
        }
        transfer.acked = offset;
        if let Some(event) = transfer.progress_event(id, now_ms, &self.config) {
            self.emit(event);
        }
    }

    pub(super) fn on_verdict(&mut self, id: TransferId, result: Verdict, now_ms: f64) {
        let Some(transfer) = self.outgoing.get_mut(&id) else {
            return;
        };
        if transfer.phase.is_terminal() {
            return;
        }
        if !transfer.end_ever_sent {
            let reason = "verdict before the end of the file".to_owned();
            self.fail_outgoing(id, FailureReason::Protocol(reason));
            return;
        }
        let verified = result == Verdict::Verified;
        transfer.finish(TransferPhase::Completed { verified }, None, true);
        let mut events = Vec::new();
        if verified {
            transfer.acked = transfer.offer.size;
            events.extend(transfer.progress_event(id, now_ms, &self.config));
        }
        events.push(TransferEvent::Completed {
            key: TransferKey::outgoing(id),
            verified,
        });
        for event in events {
            self.emit(event);
        }
    }

    pub(super) fn on_outgoing_cancelled(&mut self, id: TransferId, reason: Option<String>) {
        let Some(transfer) = self.outgoing.get_mut(&id) else {
            return;
        };
        if transfer.phase.is_terminal() {
            return;
        }
        let reason = reason.as_deref().map(clean_reason);
        transfer.finish(TransferPhase::Cancelled, reason.clone(), true);
        self.emit(TransferEvent::Cancelled {
            key: TransferKey::outgoing(id),
            by: Side::Remote,
            reason,
        });
    }

    /// The receiver has exactly `offset` bytes (after a reconnection, a reload, or a
    /// gap it noticed) and wants the rest; in the undecided phase this is an accept.
    pub(super) fn on_resume(&mut self, id: TransferId, offset: u64, window: u64, now_ms: f64) {
        let Some(transfer) = self.outgoing.get_mut(&id) else {
            // We have no such file (we reloaded?): the receiver must stop waiting.
            self.send(ControlMessage::Cancel {
                id,
                by: Role::Sender,
                reason: Some("unknown transfer".to_owned()),
            });
            return;
        };
        if transfer.phase.is_terminal() {
            let reason = transfer
                .reason
                .clone()
                .unwrap_or_else(|| "the transfer is over".to_owned());
            self.send(ControlMessage::Cancel {
                id,
                by: Role::Sender,
                reason: Some(reason),
            });
            return;
        }
        let problem = if window < MIN_RECEIVE_WINDOW {
            Some(format!("receive window of {window} bytes is too small"))
        } else if offset > transfer.max_sent {
            Some(format!(
                "resume from {offset}, but only {} bytes were sent",
                transfer.max_sent
            ))
        } else {
            None
        };
        if let Some(reason) = problem {
            self.fail_outgoing(id, FailureReason::Protocol(reason));
            return;
        }
        let was_undecided = transfer.phase == TransferPhase::AwaitingDecision;
        transfer.phase = TransferPhase::Transferring;
        transfer.window = window;
        transfer.next_offset = offset;
        // After a reload the receiver may hold less than it once acknowledged; its
        // window counts from what it has now.
        transfer.acked = transfer.acked.min(offset);
        transfer.pending_read = None;
        transfer.end_sent = false;
        let was_interrupted = std::mem::take(&mut transfer.interrupted);
        if was_undecided {
            transfer.meter.record(now_ms, transfer.acked);
        }
        // Frames not yet handed out would only duplicate what follows.
        self.outputs.retain(
            |output| !matches!(output, Output::SendChunk { id: other, .. } if *other == id),
        );
        let key = TransferKey::outgoing(id);
        if was_undecided {
            self.emit(TransferEvent::Accepted { key });
        }
        if was_interrupted {
            self.emit(TransferEvent::Resumed { key, offset });
        }
        self.maybe_send_end(id);
    }

    /// Sends `End` once every byte has gone out and the digest is known.
    pub(super) fn maybe_send_end(&mut self, id: TransferId) {
        let connected = self.connected;
        let Some(transfer) = self.outgoing.get_mut(&id) else {
            return;
        };
        if !connected
            || transfer.phase != TransferPhase::Transferring
            || transfer.interrupted
            || transfer.end_sent
            || transfer.pending_read.is_some()
            || transfer.next_offset < transfer.offer.size
        {
            return;
        }
        let Some(digest) = transfer.digest else {
            return;
        };
        transfer.end_sent = true;
        transfer.end_ever_sent = true;
        transfer.phase = TransferPhase::Verifying;
        self.send(ControlMessage::End {
            id,
            sha256: sha256_to_hex(&digest),
        });
    }

    /// Fails an unfinished outgoing transfer and tells the remote.
    pub(super) fn fail_outgoing(&mut self, id: TransferId, reason: FailureReason) {
        let connected = self.connected;
        let Some(transfer) = self.outgoing.get_mut(&id) else {
            return;
        };
        if transfer.phase.is_terminal() {
            return;
        }
        let text = reason.to_string();
        transfer.finish(TransferPhase::Failed, Some(text.clone()), connected);
        self.send(ControlMessage::Cancel {
            id,
            by: Role::Sender,
            reason: Some(text),
        });
        self.emit(TransferEvent::Failed {
            key: TransferKey::outgoing(id),
            reason,
        });
    }
}
