//! The vocabulary of the transfer API: keys, phases, outputs, events, errors, config.

use std::fmt;

use super::progress::Progress;
use super::wire::{ControlMessage, FileOffer, TransferId, MAX_CHUNK_FRAME_LEN};

/// Smallest receive window a receiver may advertise (16 KiB); anything smaller is
/// treated as a protocol violation because it would make the transfer crawl.
pub const MIN_RECEIVE_WINDOW: u64 = 16 * 1024;

/// Which way a transfer goes, seen from this peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// We send the file.
    Outgoing,
    /// We receive it.
    Incoming,
}

/// Names a transfer locally. The sender picks ids, so the two directions have
/// separate id spaces and both may use, say, id 1 at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferKey {
    /// Which way the file goes.
    pub direction: Direction,
    /// The sender's id.
    pub id: TransferId,
}

impl TransferKey {
    /// A transfer we send.
    pub fn outgoing(id: TransferId) -> Self {
        Self {
            direction: Direction::Outgoing,
            id,
        }
    }

    /// A transfer we receive.
    pub fn incoming(id: TransferId) -> Self {
        Self {
            direction: Direction::Incoming,
            id,
        }
    }
}

impl fmt::Display for TransferKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.direction {
            Direction::Outgoing => write!(f, "outgoing transfer #{}", self.id),
            Direction::Incoming => write!(f, "incoming transfer #{}", self.id),
        }
    }
}

/// Who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This peer (an API call).
    Local,
    /// The other peer (a message).
    Remote,
}

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferPhase {
    /// Offered; the receiver has not accepted or rejected it yet.
    AwaitingDecision,
    /// Receiving side after a reload: the glue is feeding back the bytes already
    /// stored ([`TransferManager::feed_stored_bytes`](super::TransferManager::feed_stored_bytes)).
    Restoring,
    /// Bytes are flowing (or will, once a lost connection is back).
    Transferring,
    /// Sender: all bytes and `End` sent, waiting for the verdict. Receiver: all bytes
    /// received, waiting for `End` and for the last writes to be confirmed.
    Verifying,
    /// Done; `verified` is false when the SHA-256 did not match (the receiver should
    /// delete what it wrote).
    Completed {
        /// Whether the receiver's digest matched the sender's.
        verified: bool,
    },
    /// The receiver declined it.
    Rejected,
    /// One side cancelled it.
    Cancelled,
    /// It failed (see the [`TransferEvent::Failed`] reason).
    Failed,
}

impl std::fmt::Display for TransferPhase {
    /// As `Debug` would write it, without the Debug machinery in the Wasm.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AwaitingDecision => "AwaitingDecision",
            Self::Restoring => "Restoring",
            Self::Transferring => "Transferring",
            Self::Verifying => "Verifying",
            Self::Completed { verified: true } => "Completed { verified: true }",
            Self::Completed { verified: false } => "Completed { verified: false }",
            Self::Rejected => "Rejected",
            Self::Cancelled => "Cancelled",
            Self::Failed => "Failed",
        })
    }
}

impl TransferPhase {
    /// Whether nothing more will happen to this transfer.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed { .. } | Self::Rejected | Self::Cancelled | Self::Failed
        )
    }
}

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailureReason {
    /// The remote broke the protocol (bad offset, window overrun, malformed digest…).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The glue could not read the file ([`TransferManager::read_failed`](super::TransferManager::read_failed)
    /// or a short read).
    #[error("could not read the file: {0}")]
    ReadFailed(String),
    /// The glue could not write the file ([`TransferManager::write_failed`](super::TransferManager::write_failed)).
    #[error("could not write the file: {0}")]
    WriteFailed(String),
    /// The sender offered a different file under the same id (it restarted).
    #[error("the sender replaced this transfer with a new one")]
    Superseded,
}

/// Something the UI may want to show.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TransferEvent {
    /// The remote offers a file; answer with
    /// [`accept`](super::TransferManager::accept) or
    /// [`reject`](super::TransferManager::reject). `offer` is already sanitized.
    Offered { key: TransferKey, offer: FileOffer },
    /// The remote accepted our offer.
    Accepted { key: TransferKey },
    /// The remote rejected our offer.
    Rejected { key: TransferKey },
    /// More bytes were durably written. At most one per
    /// [`progress_interval_ms`](TransferConfig::progress_interval_ms), plus the last.
    Progress {
        key: TransferKey,
        progress: Progress,
    },
    /// The connection was lost mid-transfer; it will resume when it is back.
    Interrupted { key: TransferKey },
    /// Continuing from `offset` after an interruption.
    Resumed { key: TransferKey, offset: u64 },
    /// Finished. On the receiving side, `verified == false` means the file is corrupt
    /// and should be deleted.
    Completed { key: TransferKey, verified: bool },
    /// Cancelled by `by`, with the remote's reason if it gave one.
    Cancelled {
        key: TransferKey,
        by: Side,
        reason: Option<String>,
    },
    /// Failed; the remote has been told (now, or when the connection is back).
    Failed {
        key: TransferKey,
        reason: FailureReason,
    },
}

/// What the glue must do next, from [`poll_output`](super::TransferManager::poll_output).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// Send [`ControlMessage::to_json`] as a text frame.
    SendControl(ControlMessage),
    /// Read `len` bytes at `offset` of outgoing file `id` (e.g.
    /// `file.slice(offset, offset + len).arrayBuffer()`) and hand them to
    /// [`provide_chunk`](super::TransferManager::provide_chunk) (or report
    /// [`read_failed`](super::TransferManager::read_failed)).
    SendChunkRequest {
        id: TransferId,
        offset: u64,
        len: u64,
    },
    /// Send `frame` as a binary frame (chunk `offset..` of outgoing transfer `id`).
    SendChunk {
        id: TransferId,
        offset: u64,
        frame: Vec<u8>,
    },
    /// Write `bytes` at `offset` of incoming file `id`, then confirm with
    /// [`chunk_written`](super::TransferManager::chunk_written) (or report
    /// [`write_failed`](super::TransferManager::write_failed)). Offsets are
    /// contiguous and increasing per transfer; confirm in order.
    WriteChunk {
        id: TransferId,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// Drop everything written for incoming file `id` (the copy held from an
    /// earlier offer was of another file): its `WriteChunk`s start again at 0.
    RestartWrite { id: TransferId },
    /// With [`TransferConfig::hash_elsewhere`]: the next bytes of transfer `key`'s
    /// file, in file order, to add to its SHA-256 (kept by the glue per `key`).
    HashBytes { key: TransferKey, bytes: Vec<u8> },
    /// With [`TransferConfig::hash_elsewhere`]: the SHA-256 of every
    /// [`Output::HashBytes`] of `key` so far is needed; answer with
    /// [`digest_ready`](super::TransferManager::digest_ready) (or fail the transfer:
    /// [`write_failed`](super::TransferManager::write_failed) /
    /// [`read_failed`](super::TransferManager::read_failed)). No more bytes of `key`
    /// come after it.
    DigestWanted { key: TransferKey },
    /// Tell the UI.
    Event(TransferEvent),
}

/// A local API call that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    #[error("there is no {0}")]
    UnknownTransfer(TransferKey),
    #[error("{key} cannot {action} while {phase}")]
    InvalidState {
        key: TransferKey,
        action: &'static str,
        phase: TransferPhase,
    },
    #[error("the file is {0} bytes; the limit is {limit}", limit = super::wire::MAX_FILE_SIZE)]
    FileTooLarge(u64),
    #[error("{0} transfers are already in progress in this direction")]
    TooManyTransfers(usize),
    #[error("{key} has only {size} bytes, but {fed} stored bytes were fed back")]
    StoredBytesExceedSize {
        key: TransferKey,
        size: u64,
        fed: u64,
    },
}

/// Tuning. The defaults suit Chromium and Firefox.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferConfig {
    /// Stop asking for chunks once the channel's `bufferedAmount` plus the reads in
    /// progress would exceed this (4 MiB; Chromium closes the channel at 16 MiB).
    pub high_water_mark: u64,
    /// Set the channel's
    /// [`bufferedAmountLowThreshold`](https://developer.mozilla.org/en-US/docs/Web/API/RTCDataChannel/bufferedAmountLowThreshold)
    /// to this (1 MiB). Kept at most `high_water_mark − 256 KiB` so that the
    /// `bufferedamountlow` event is sure to fire after sending pauses.
    pub low_water_mark: u64,
    /// Receiving: most bytes accepted beyond what the glue confirmed written (8 MiB),
    /// advertised to the sender. Bounds the glue's write queue per transfer.
    pub receive_window: u64,
    /// Receiving: acknowledge after this many more bytes are written (1 MiB; at most
    /// half the window), and at the end.
    pub ack_interval: u64,
    /// Speed is averaged over this many ms (3000).
    pub progress_window_ms: f64,
    /// At most one progress event per transfer per this many ms (250).
    pub progress_interval_ms: f64,
    /// Most transfers kept per direction (1024: a folder of that many files can be
    /// offered at once). Finished ones are forgotten first;
    /// offers beyond that are rejected.
    pub max_transfers: usize,
    /// Sending: at most this many accepted transfers read and send at once (4); one
    /// that has started keeps its place until it has sent everything, and a free
    /// place goes to the oldest offer accepted by then. Each one sending holds a
    /// read block here and up to a segment and its window at the receiver, so this
    /// bounds memory on both ends when a folder of many files is accepted at once.
    pub max_sending: usize,
    /// Receiving: a sender may have at most this many transfers partly sent over
    /// one connection (8, twice what ours sends, so a sender with a higher
    /// `max_sending` still gets through). A chunk that starts one more fails that
    /// transfer with a protocol error: a sender ignoring the limit cannot make the
    /// receiver hold a segment and a window for every file of a large folder.
    pub max_receiving: usize,
    /// New transfers leave SHA-256 to the glue ([`Output::HashBytes`],
    /// [`Output::DigestWanted`]), which can run it off the main thread. Off by
    /// default: hashed here. Takes effect for transfers created after it is set.
    pub hash_elsewhere: bool,
}

impl Default for TransferConfig {
    fn default() -> Self {
        Self {
            high_water_mark: 4 * 1024 * 1024,
            low_water_mark: 1024 * 1024,
            receive_window: 8 * 1024 * 1024,
            ack_interval: 1024 * 1024,
            progress_window_ms: 3000.0,
            progress_interval_ms: 250.0,
            max_transfers: 1024,
            max_sending: 4,
            max_receiving: 8,
            hash_elsewhere: false,
        }
    }
}

impl TransferConfig {
    /// The same settings brought into their valid ranges.
    pub(crate) fn normalized(mut self) -> Self {
        self.high_water_mark = self.high_water_mark.max(1);
        self.low_water_mark = self.low_water_mark.min(
            self.high_water_mark
                .saturating_sub(MAX_CHUNK_FRAME_LEN as u64),
        );
        self.receive_window = self.receive_window.max(MIN_RECEIVE_WINDOW);
        self.ack_interval = self.ack_interval.clamp(1, self.receive_window / 2);
        self.max_transfers = self.max_transfers.clamp(1, 1 << 20);
        self.max_sending = self.max_sending.max(1);
        self.max_receiving = self.max_receiving.max(1);
        self
    }
}
