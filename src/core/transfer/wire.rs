//! What goes over the data channel: JSON control messages (text frames) and binary
//! chunk frames.
//!
//! Both kinds travel on one ordered, reliable `RTCDataChannel`; a text frame is always a
//! [`ControlMessage`], a binary frame is always a chunk. Every decoder here returns a
//! typed [`WireError`] for anything malformed and never panics, whatever the input.

use serde::{Deserialize, Serialize};

/// Identifies a transfer. Chosen by the *sending* side, unique among its outgoing
/// transfers; the two directions have separate id spaces (see
/// [`TransferKey`](super::TransferKey)).
pub type TransferId = u32;

/// Bytes in a chunk frame's header: version (1) + transfer id (4) + offset (8).
pub const CHUNK_HEADER_LEN: usize = 13;

/// The only chunk frame version understood.
pub const CHUNK_FRAME_VERSION: u8 = 1;

/// Largest chunk frame, header included (256 KiB). Chromium refuses larger messages,
/// and larger messages block the SCTP association for longer.
pub const MAX_CHUNK_FRAME_LEN: usize = 256 * 1024;

/// Longest control message accepted, in bytes of JSON.
pub const MAX_CONTROL_MESSAGE_LEN: usize = 16 * 1024;

/// Largest file that can be offered: `Number.MAX_SAFE_INTEGER`, so that sizes and
/// offsets survive the trip through JavaScript numbers.
pub const MAX_FILE_SIZE: u64 = (1 << 53) - 1;

/// Longest cancel reason kept from a remote message, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// A file the sender proposes to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffer {
    /// The sender's id for this transfer.
    pub id: TransferId,
    /// The file's name, without any directory.
    pub name: String,
    /// For a file inside a shared folder: its path relative to the folder's parent,
    /// file name included, `/`-separated — what
    /// [`webkitRelativePath`](https://developer.mozilla.org/en-US/docs/Web/API/File/webkitRelativePath)
    /// gives, e.g. `"photos/2024/a.jpg"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_path: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// The [MIME type](https://developer.mozilla.org/en-US/docs/Web/API/Blob/type);
    /// empty when unknown.
    #[serde(default)]
    pub mime_type: String,
    /// The sender's secret for this transfer (hex, 32–64 digits), so that the
    /// receiver can pick it up again after its page reloads (see
    /// [`ControlMessage::Reattach`]). Only the two ends of the transfer know it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_token: Option<String>,
}

/// The receiver's judgement of a finished transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The SHA-256 of the bytes written matches the sender's.
    Verified,
    /// It does not; the receiver should discard the file.
    HashMismatch,
}

/// Which end of a transfer a message speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The side that has the file.
    Sender,
    /// The side that writes it.
    Receiver,
}

/// A control message (a text frame), JSON tagged by `"type"`.
///
/// `id` always names the transfer in the *sender's* id space. `Offer`, `End` and
/// `Restart` go from sender to receiver; `Accept`, `AcceptFrom`, `Reject`, `Ack`,
/// `Verdict` and `Resume` from receiver to sender; `Cancel` either way, saying `by`
/// whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), serde(tag = "type"))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ControlMessage {
    /// Proposes a file. Sent again after every reconnection for each transfer that is
    /// not finished, so that the receiver can say where it stands.
    Offer(FileOffer),
    /// The receiver wants the file from offset 0 and will hold at most `window`
    /// unacknowledged bytes.
    Accept { id: TransferId, window: u64 },
    /// The receiver declines the file.
    Reject { id: TransferId },
    /// The receiver has durably written `offset` bytes.
    Ack { id: TransferId, offset: u64 },
    /// All bytes were sent; `sha256` is their lower-case hex digest.
    End { id: TransferId, sha256: String },
    /// The receiver's judgement after `End` and all bytes were written.
    Verdict { id: TransferId, result: Verdict },
    /// Either side stops the transfer.
    Cancel {
        id: TransferId,
        by: Role,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The receiver has exactly `offset` bytes and wants the rest (also an accept).
    Resume {
        id: TransferId,
        offset: u64,
        window: u64,
    },
    /// A receiver whose page reloaded (so it has a new peer id) asks the sender of
    /// transfer `id` to continue it on this link. `proof` shows it knows the offer's
    /// `resume_token` without revealing it (see [`reattach_proof`](super::reattach_proof)).
    /// The glue handles it, not the manager: it moves the transfers of the old link.
    Reattach { id: TransferId, proof: String },
    /// The receiver accepts, and already holds the first `offset` bytes of a file of
    /// this name and size, kept from an earlier offer whose sender went away (its
    /// page reloaded, say); `prefix_sha256` is their SHA-256 (lower-case hex). The
    /// sender hashes its own first `offset` bytes: if they match it sends from
    /// `offset`, otherwise it sends `Restart` and the whole file.
    AcceptFrom {
        id: TransferId,
        offset: u64,
        window: u64,
        prefix_sha256: String,
    },
    /// The bytes the receiver held (`AcceptFrom`) are not this file's start: drop
    /// them; the file comes again from offset 0.
    Restart { id: TransferId },
}

/// A malformed frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    #[error("chunk frame is {len} bytes, shorter than its {CHUNK_HEADER_LEN}-byte header")]
    Truncated { len: usize },
    #[error("chunk frame has unknown version {0}")]
    UnknownVersion(u8),
    #[error("chunk frame carries no payload")]
    EmptyPayload,
    #[error("chunk frame is {len} bytes; the limit is {MAX_CHUNK_FRAME_LEN}")]
    FrameTooLarge { len: usize },
    #[error("chunk offset {offset} plus length {len} overflows")]
    OffsetOverflow { offset: u64, len: usize },
    #[error("control message is {len} bytes; the limit is {MAX_CONTROL_MESSAGE_LEN}")]
    ControlTooLong { len: usize },
    #[error("malformed control message: {0}")]
    MalformedControl(String),
}

/// Its derive has the wire's tag only outside wasm32; [`json`](crate::core::json) moves it.
impl crate::core::json::Tagged for ControlMessage {
    const TAG: &'static str = "type";
}

impl ControlMessage {
    /// The transfer this message is about.
    pub fn id(&self) -> TransferId {
        match self {
            Self::Offer(offer) => offer.id,
            Self::Accept { id, .. }
            | Self::Reject { id }
            | Self::Ack { id, .. }
            | Self::End { id, .. }
            | Self::Verdict { id, .. }
            | Self::Cancel { id, .. }
            | Self::Resume { id, .. }
            | Self::Reattach { id, .. }
            | Self::AcceptFrom { id, .. }
            | Self::Restart { id } => *id,
        }
    }

    /// Encodes for the wire (a text frame).
    pub fn to_json(&self) -> String {
        crate::core::json::to_string(self)
    }

    /// Decodes a text frame. Only the syntax is checked here; the
    /// [`TransferManager`](super::TransferManager) validates the values.
    pub fn parse(text: &str) -> Result<Self, WireError> {
        if text.len() > MAX_CONTROL_MESSAGE_LEN {
            return Err(WireError::ControlTooLong { len: text.len() });
        }
        crate::core::json::from_str(text).map_err(WireError::MalformedControl)
    }
}

/// A decoded chunk frame, borrowing its payload from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkFrame<'a> {
    /// The sender's transfer id.
    pub id: TransferId,
    /// Where `payload` starts in the file.
    pub offset: u64,
    /// The bytes, never empty.
    pub payload: &'a [u8],
}

/// Encodes a chunk frame (a binary frame):
///
/// ```text
/// byte 0      version (1)
/// bytes 1..5  transfer id, u32 big-endian
/// bytes 5..13 offset in the file, u64 big-endian
/// bytes 13..  payload
/// ```
pub fn encode_chunk(id: TransferId, offset: u64, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(CHUNK_HEADER_LEN + payload.len());
    frame.push(CHUNK_FRAME_VERSION);
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(&offset.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Decodes a chunk frame produced by [`encode_chunk`].
pub fn decode_chunk(frame: &[u8]) -> Result<ChunkFrame<'_>, WireError> {
    let [version, i0, i1, i2, i3, o0, o1, o2, o3, o4, o5, o6, o7, payload @ ..] = frame else {
        return Err(WireError::Truncated { len: frame.len() });
    };
    if *version != CHUNK_FRAME_VERSION {
        return Err(WireError::UnknownVersion(*version));
    }
    if frame.len() > MAX_CHUNK_FRAME_LEN {
        return Err(WireError::FrameTooLarge { len: frame.len() });
    }
    if payload.is_empty() {
        return Err(WireError::EmptyPayload);
    }
    let id = u32::from_be_bytes([*i0, *i1, *i2, *i3]);
    let offset = u64::from_be_bytes([*o0, *o1, *o2, *o3, *o4, *o5, *o6, *o7]);
    if offset.checked_add(payload.len() as u64).is_none() {
        return Err(WireError::OffsetOverflow {
            offset,
            len: payload.len(),
        });
    }
    Ok(ChunkFrame {
        id,
        offset,
        payload,
    })
}

/// Lower-case hex of a SHA-256 digest.
pub fn sha256_to_hex(digest: &[u8; 32]) -> String {
    to_hex(digest)
}

/// Lower-case hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// Parses 64 hex digits (either case) into a digest.
pub fn sha256_from_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (out, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *out = u8::try_from(high * 16 + low).ok()?;
    }
    Some(digest)
}

/// Truncates a remote-supplied reason to [`MAX_REASON_CHARS`] and drops control
/// characters, so it can be shown safely.
pub(crate) fn clean_reason(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REASON_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    // Also in the browser (`make test-wasm`), where the JSON codec is the browser's.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn chunk_round_trip() {
        let frame = encode_chunk(7, 1 << 40, b"hello");
        assert_eq!(frame.len(), CHUNK_HEADER_LEN + 5);
        let chunk = decode_chunk(&frame).unwrap();
        assert_eq!(
            chunk,
            ChunkFrame {
                id: 7,
                offset: 1 << 40,
                payload: b"hello"
            }
        );
    }

    #[test]
    fn chunk_decoding_rejects_bad_frames() {
        assert_eq!(decode_chunk(&[]), Err(WireError::Truncated { len: 0 }));
        assert_eq!(
            decode_chunk(&[1; 12]),
            Err(WireError::Truncated { len: 12 })
        );
        let good = encode_chunk(1, 0, b"x");
        assert_eq!(
            decode_chunk(&good[..CHUNK_HEADER_LEN]),
            Err(WireError::EmptyPayload)
        );
        let mut wrong_version = good.clone();
        wrong_version[0] = 9;
        assert_eq!(
            decode_chunk(&wrong_version),
            Err(WireError::UnknownVersion(9))
        );
        let huge = encode_chunk(1, 0, &vec![0; MAX_CHUNK_FRAME_LEN]);
        assert!(matches!(
            decode_chunk(&huge),
            Err(WireError::FrameTooLarge { .. })
        ));
        let overflow = encode_chunk(1, u64::MAX - 1, b"abc");
        assert!(matches!(
            decode_chunk(&overflow),
            Err(WireError::OffsetOverflow { .. })
        ));
        // A frame that ends exactly at u64::MAX is representable.
        assert!(decode_chunk(&encode_chunk(1, u64::MAX - 3, b"abc")).is_ok());
    }

    #[test]
    fn random_frames_never_panic() {
        // A small deterministic generator: no dev-dependency needed.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if next() % 2 == 0 && !bytes.is_empty() {
                bytes[0] = CHUNK_FRAME_VERSION;
            }
            let _ = decode_chunk(&bytes);
            let _ = ControlMessage::parse(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn control_messages_have_a_stable_json_shape() {
        let offer = ControlMessage::Offer(FileOffer {
            id: 3,
            name: "a.txt".into(),
            relative_path: Some("dir/a.txt".into()),
            size: 10,
            mime_type: "text/plain".into(),
            resume_token: None,
        });
        assert_eq!(
            offer.to_json(),
            r#"{"type":"offer","id":3,"name":"a.txt","relative_path":"dir/a.txt","size":10,"mime_type":"text/plain"}"#
        );
        let cancel = ControlMessage::Cancel {
            id: 3,
            by: Role::Receiver,
            reason: None,
        };
        assert_eq!(
            cancel.to_json(),
            r#"{"type":"cancel","id":3,"by":"receiver"}"#
        );
        let verdict = ControlMessage::Verdict {
            id: 1,
            result: Verdict::HashMismatch,
        };
        assert_eq!(
            verdict.to_json(),
            r#"{"type":"verdict","id":1,"result":"hash_mismatch"}"#
        );
        assert_eq!(
            ControlMessage::Restart { id: 4 }.to_json(),
            r#"{"type":"restart","id":4}"#
        );
        for msg in [
            offer,
            cancel,
            verdict,
            ControlMessage::Accept { id: 1, window: 5 },
            ControlMessage::Reject { id: 1 },
            ControlMessage::Ack { id: 1, offset: 9 },
            ControlMessage::End {
                id: 1,
                sha256: "ab".repeat(32),
            },
            ControlMessage::Resume {
                id: 1,
                offset: 2,
                window: 3,
            },
            ControlMessage::AcceptFrom {
                id: 1,
                offset: 2,
                window: 3,
                prefix_sha256: "cd".repeat(32),
            },
            ControlMessage::Restart { id: 4 },
        ] {
            assert_eq!(ControlMessage::parse(&msg.to_json()), Ok(msg.clone()));
        }
    }

    #[test]
    fn control_parsing_rejects_garbage() {
        for bad in [
            "",
            "null",
            "{}",
            r#"{"type":"offer"}"#,
            r#"{"type":"ack","id":1,"offset":-1}"#,
            r#"{"type":"ack","id":4294967296,"offset":1}"#,
            r#"{"type":"ack","id":1,"offset":18446744073709551616}"#,
            r#"{"type":"warp","id":1}"#,
            r#"{"type":"verdict","id":1,"result":"maybe"}"#,
        ] {
            assert!(
                matches!(
                    ControlMessage::parse(bad),
                    Err(WireError::MalformedControl(_))
                ),
                "{bad}"
            );
        }
        let long = format!(r#"{{"type":"reject","id":1,"x":"{}"}}"#, "a".repeat(20_000));
        assert!(matches!(
            ControlMessage::parse(&long),
            Err(WireError::ControlTooLong { .. })
        ));
    }

    #[test]
    fn hex_round_trip() {
        let digest: [u8; 32] = core::array::from_fn(|i| (i * 8) as u8);
        let hex = sha256_to_hex(&digest);
        assert_eq!(&hex[..6], "000810");
        assert_eq!(sha256_from_hex(&hex), Some(digest));
        assert_eq!(sha256_from_hex(&hex.to_uppercase()), Some(digest));
        assert_eq!(sha256_from_hex(&hex[1..]), None);
        assert_eq!(sha256_from_hex(&format!("{}g", &hex[1..])), None);
        assert_eq!(sha256_from_hex(&"é".repeat(32)), None);
    }
}
