//! File transfer between two peers over one ordered, reliable `RTCDataChannel`, as a
//! sans-IO state machine ([`TransferManager`]): the glue pushes in messages, file
//! reads, write confirmations, connection changes and the time; it pulls out
//! [`Output`]s (messages to send, reads and writes to do, events for the UI). Nothing
//! here touches the network, the disk or a clock.
//!
//! # Protocol
//!
//! Text frames are JSON [`ControlMessage`]s; binary frames are chunks (see
//! [`encode_chunk`]: 13-byte header with version, transfer id and offset, then the
//! payload).
//!
//! ```text
//! sender                                        receiver
//!   offer {id, name, relative_path?, size, mime_type}  ─▶  user decides
//!                          ◀─  accept {id, window}  |  reject {id}
//!   chunk frames, offset 0, 1 chunk, …             ─▶  written, confirmed
//!                          ◀─  ack {id, offset}     (every ack_interval written)
//!   end {id, sha256}                               ─▶  all written: compare
//!                          ◀─  verdict {id, result: verified | hash_mismatch}
//!   cancel {id, by: sender | receiver, reason?}    ◀▶  either side, any time
//!                          ◀─  resume {id, offset, window}  (after reconnecting)
//!                          ◀─  accept_from {id, offset, window, prefix_sha256}
//!                              (instead of accept: the start is held already)
//!   restart {id}                                   ─▶  (held bytes were not this file's)
//! ```
//!
//! **Hashing.** Both sides hash incrementally with SHA-256 in file order: the sender
//! over the bytes the glue hands it (each byte once, even when re-sent), the receiver
//! over the bytes it passes on for writing. With [`TransferConfig::hash_elsewhere`]
//! the manager hands those bytes back to the glue instead ([`Output::HashBytes`]),
//! which hashes them off the main thread, and asks for the digest when `end` or the
//! verdict needs it ([`Output::DigestWanted`], answered with
//! [`TransferManager::digest_ready`]); transfers restored from storage or checking a
//! held copy hash here, since they need a digest on the spot.
//!
//! **Flow control.** The sender never asks for a read when the channel's
//! `bufferedAmount` plus the reads in progress plus the next frame would exceed
//! [`TransferConfig::high_water_mark`], and resumes when the glue reports a lower
//! amount (`bufferedamountlow`). End to end, it keeps at most the receiver's advertised
//! `window` bytes beyond the last ack; the receiver fails a sender that overruns it.
//! Outgoing transfers take turns chunk by chunk (round-robin).
//!
//! **Resuming.** On a lost connection both sides pause and keep their state, the
//! receiver its running SHA-256. When the channel is open again, the receiver sends
//! `resume {id, offset, window}` for each transfer in progress, where `offset` is
//! exactly what it has hashed and handed over for writing (writes already queued
//! still complete), followed by an `ack` of what is confirmed written (the last one
//! may have been lost). The sender continues from `offset`, so no byte before it is
//! sent again; it sends nothing for an interrupted transfer until that `resume`
//! comes. The sender also re-announces each unfinished transfer with its `offer`; a
//! receiver that has finished with it answers `verdict`, `reject` or `cancel` again
//! (covering answers lost with the connection), one that has forgotten it sees a new
//! offer (accepting it restarts from 0).
//!
//! If the receiver's page reloads, its glue recreates the transfer from the offer it
//! stored next to the partial file ([`TransferManager::restore_incoming`]) and feeds
//! back the bytes it has on disk ([`TransferManager::feed_stored_bytes`]): that
//! rebuilds the hasher (`sha2` 0.10 cannot save its state) and makes that length the
//! resume offset, whatever was acknowledged before. The sender must still have the
//! file (keep one manager per remote client for the page's lifetime, not per
//! connection); if it does not, it answers `cancel` and the receiver stops waiting.
//! The final digest covers the whole file, so a resume that went wrong cannot go
//! unnoticed.
//!
//! If the *sender's* page reloads, its transfers are gone with its `File`s; a new
//! offer of the same file (new id, new token) can still use what the receiver kept.
//! The receiver accepts it with [`TransferManager::accept_held`], feeds back the held
//! bytes as above, and asks `accept_from` with their length and SHA-256; the sender
//! hashes its own first bytes without sending them (those reads take no window), then
//! sends from that offset if the digests match, or says `restart` and sends the whole
//! file (the receiver drops what it held: [`Output::RestartWrite`]).
//!
//! **Several files.** At most [`TransferConfig::max_sending`] accepted transfers
//! read and send at once; the others wait their turn. The receiver does not rely on
//! that: a transfer whose first chunk over a connection arrives while
//! [`TransferConfig::max_receiving`] (8) others are partly sent fails. Nothing is queued while disconnected: every message needed is derived
//! from the state on reconnection (including a cancel made while offline).
//!
//! **Validation.** Offers are sanitized ([`sanitize_file_name`],
//! [`sanitize_relative_path`], [`sanitize_mime_type`]) and limited to
//! [`MAX_FILE_SIZE`]; chunks past the end of the file or the window fail the
//! transfer; chunks for unknown, unaccepted or finished transfers are ignored;
//! duplicate chunks and acks are harmless (acks count as a monotonic maximum); acks
//! or resumes beyond what was sent fail the transfer. No input can make it panic.
//!
//! # Memory bound
//!
//! The manager never holds file contents beyond:
//! - sending: the chunk frames it has produced and not yet handed out, at most
//!   `high_water_mark + 256 KiB` in total (reads are only requested within that
//!   budget, one per transfer at a time);
//! - receiving: per incoming transfer, the [`Output::WriteChunk`]s not yet confirmed
//!   with [`TransferManager::chunk_written`], at most `receive_window` bytes (8 MiB
//!   by default), a bound it enforces on the sender. This also bounds the glue's
//!   write queue.
//! - at most [`TransferConfig::max_sending`] transfers (4) send at once, however many
//!   were accepted, so a folder of many files costs the glue a few read blocks on
//!   one side and a few partial segments on the other, not one per file; the
//!   receiver enforces its own bound ([`TransferConfig::max_receiving`], 8) on a
//!   sender that does not keep to that.
//!
//! Apart from that, each transfer has fixed-size state (a SHA-256 state, counters,
//! ≤ 17 progress samples) plus its sanitized offer (name ≤ 255 bytes, path ≤ 4 KiB,
//! MIME type ≤ 255 bytes), and at most [`TransferConfig::max_transfers`] transfers are
//! kept per direction (finished ones are forgotten first, further offers rejected).
//!
//! # Glue outline
//!
//! ```text
//! on channel open:        mgr.set_max_message_size(sctp.maxMessageSize);
//!                         channel.bufferedAmountLowThreshold = config.low_water_mark;
//!                         mgr.on_connection_restored()
//! on close / failure:     mgr.on_connection_lost()
//! on text message:        mgr.handle_control_text(text, now)
//! on binary message:      mgr.handle_chunk(bytes)
//! on bufferedamountlow:   (just drain)
//! drain, after any input: mgr.set_buffered_amount(channel.bufferedAmount);
//!                         while let Some(out) = mgr.poll_output() { match out {
//!     SendControl(m)                  => channel.send(m.to_json()),
//!     SendChunk { frame, .. }         => channel.send(frame),
//!     SendChunkRequest { id, offset, len } => read the slice, then
//!                                        mgr.provide_chunk(id, offset, bytes) and drain,
//!     WriteChunk { id, offset, bytes }  => write, then
//!                                        mgr.chunk_written(id, offset, len, now) and drain,
//!     Event(e)                        => update the UI } }
//! ```

mod hashing;
mod manager;
mod progress;
mod reattach;
mod receive;
mod sanitize;
mod send;
mod types;
mod wire;

#[cfg(test)]
mod tests;

pub use manager::{TransferManager, DEFAULT_MAX_MESSAGE_SIZE};
pub use progress::Progress;
pub use reattach::{
    is_valid_resume_token, reattach_proof, resume_token_from_bytes, verify_reattach_proof,
};
pub use sanitize::{
    numbered_file_name, sanitize_file_name, sanitize_mime_type, sanitize_relative_path,
    FALLBACK_FILE_NAME, MAX_FILE_NAME_BYTES, MAX_MIME_TYPE_BYTES, MAX_PATH_COMPONENTS,
    MAX_RELATIVE_PATH_BYTES,
};
pub use send::OutgoingFile;
pub use types::{
    Direction, FailureReason, Output, Side, TransferConfig, TransferError, TransferEvent,
    TransferKey, TransferPhase, MIN_RECEIVE_WINDOW,
};
pub use wire::{
    decode_chunk, encode_chunk, sha256_from_hex, sha256_to_hex, ChunkFrame, ControlMessage,
    FileOffer, Role, TransferId, Verdict, WireError, CHUNK_FRAME_VERSION, CHUNK_HEADER_LEN,
    MAX_CHUNK_FRAME_LEN, MAX_CONTROL_MESSAGE_LEN, MAX_FILE_SIZE, MAX_REASON_CHARS,
};
