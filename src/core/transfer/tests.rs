//! End-to-end tests: two managers wired through an in-memory "data channel" whose
//! buffered amount is the bytes queued and not yet delivered, with file reads and
//! writes done by a fake glue.

use std::collections::{BTreeMap, VecDeque};

use sha2::{Digest, Sha256};

use super::*;

#[derive(Debug, Clone)]
enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

impl Frame {
    fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(bytes) => bytes.len(),
        }
    }
}

/// One peer: its manager plus a fake glue (files to send, files written, event log).
struct Peer {
    mgr: TransferManager,
    /// Outgoing files by transfer id.
    files: BTreeMap<TransferId, Vec<u8>>,
    /// Incoming files as written, by transfer id.
    stored: BTreeMap<TransferId, Vec<u8>>,
    events: Vec<TransferEvent>,
    reads: VecDeque<(TransferId, u64, u64)>,
    writes: VecDeque<(TransferId, u64, u64)>,
    /// Every read request, in order.
    requests: Vec<(TransferId, u64, u64)>,
    /// Every control message sent.
    sent: Vec<ControlMessage>,
    /// Incoming transfers whose writes were restarted from 0.
    restarts: Vec<TransferId>,
    /// The glue's own SHA-256 of each transfer's `Output::HashBytes`, and how many
    /// bytes it was handed (with `TransferConfig::hash_elsewhere`).
    hashes: BTreeMap<TransferKey, (Sha256, u64)>,
    /// `Output::DigestWanted` not answered yet, and every one ever made.
    wanted: VecDeque<TransferKey>,
    asked: Vec<TransferKey>,
    /// Answer `DigestWanted` at once with the digest of the bytes handed over.
    auto_digest: bool,
    auto_read: bool,
    auto_write: bool,
    auto_accept: bool,
}

impl Peer {
    fn new(config: TransferConfig) -> Self {
        Self {
            mgr: TransferManager::new(config),
            files: BTreeMap::new(),
            stored: BTreeMap::new(),
            events: Vec::new(),
            reads: VecDeque::new(),
            writes: VecDeque::new(),
            requests: Vec::new(),
            sent: Vec::new(),
            restarts: Vec::new(),
            hashes: BTreeMap::new(),
            wanted: VecDeque::new(),
            asked: Vec::new(),
            auto_digest: true,
            auto_read: true,
            auto_write: true,
            auto_accept: true,
        }
    }

    /// Runs the glue loop until the manager has nothing more to say.
    fn drain(&mut self, out: &mut VecDeque<Frame>, now: f64) {
        for _ in 0..100_000 {
            let buffered: usize = out.iter().map(Frame::len).sum();
            self.mgr.set_buffered_amount(buffered as u64);
            let mut busy = false;
            let mut to_accept = Vec::new();
            while let Some(output) = self.mgr.poll_output() {
                busy = true;
                match output {
                    Output::SendControl(msg) => {
                        out.push_back(Frame::Text(msg.to_json()));
                        self.sent.push(msg);
                    }
                    Output::SendChunk { frame, .. } => out.push_back(Frame::Binary(frame)),
                    Output::SendChunkRequest { id, offset, len } => {
                        self.requests.push((id, offset, len));
                        self.reads.push_back((id, offset, len));
                    }
                    Output::WriteChunk { id, offset, bytes } => {
                        let file = self.stored.entry(id).or_default();
                        assert_eq!(offset, file.len() as u64, "writes are contiguous");
                        file.extend_from_slice(&bytes);
                        self.writes.push_back((id, offset, bytes.len() as u64));
                    }
                    Output::HashBytes { key, bytes } => {
                        assert!(!self.asked.contains(&key), "bytes after the digest");
                        let (hasher, len) = self.hashes.entry(key).or_default();
                        hasher.update(&bytes);
                        *len += bytes.len() as u64;
                    }
                    Output::DigestWanted { key } => {
                        assert!(!self.asked.contains(&key), "asked twice");
                        self.wanted.push_back(key);
                        self.asked.push(key);
                    }
                    Output::RestartWrite { id } => {
                        self.stored.insert(id, Vec::new());
                        self.writes.retain(|&(w, _, _)| w != id);
                        self.restarts.push(id);
                    }
                    Output::Event(event) => {
                        if let TransferEvent::Offered { key, .. } = &event {
                            if self.auto_accept {
                                to_accept.push(key.id);
                            }
                        }
                        self.events.push(event);
                    }
                }
            }
            for id in to_accept {
                self.stored.insert(id, Vec::new());
                self.mgr.accept(id, now).unwrap();
                busy = true;
            }
            if self.auto_read {
                while let Some((id, offset, len)) = self.reads.pop_front() {
                    let data = &self.files[&id][offset as usize..(offset + len) as usize];
                    self.mgr.provide_chunk(id, offset, data).unwrap();
                    busy = true;
                }
            }
            if self.auto_write {
                while let Some((id, offset, len)) = self.writes.pop_front() {
                    self.mgr.chunk_written(id, offset, len, now).unwrap();
                    busy = true;
                }
            }
            if self.auto_digest {
                while let Some(key) = self.wanted.pop_front() {
                    self.answer_digest(key, now);
                    busy = true;
                }
            }
            if !busy {
                return;
            }
        }
        panic!("the glue loop does not settle");
    }

    /// Answers the manager's `DigestWanted` for `key` with the glue's digest.
    fn answer_digest(&mut self, key: TransferKey, now: f64) {
        let digest = self
            .hashes
            .get(&key)
            .map(|(hasher, _)| hasher.clone())
            .unwrap_or_default()
            .finalize()
            .into();
        self.mgr.digest_ready(key, digest, now).unwrap();
    }

    /// Bytes of `key` handed to the glue for hashing.
    fn hashed_elsewhere(&self, key: TransferKey) -> u64 {
        self.hashes.get(&key).map_or(0, |&(_, len)| len)
    }

    fn offer(&mut self, name: &str, data: Vec<u8>, now: f64) -> TransferId {
        let id = self
            .mgr
            .offer_file(
                OutgoingFile {
                    name: name.to_owned(),
                    relative_path: None,
                    size: data.len() as u64,
                    mime_type: "application/octet-stream".to_owned(),
                    resume_token: None,
                },
                now,
            )
            .unwrap();
        self.files.insert(id, data);
        id
    }

    fn completed(&self, key: TransferKey) -> Option<bool> {
        self.events.iter().find_map(|event| match event {
            TransferEvent::Completed { key: k, verified } if *k == key => Some(*verified),
            _ => None,
        })
    }

    fn has_event(&self, wanted: impl Fn(&TransferEvent) -> bool) -> bool {
        self.events.iter().any(wanted)
    }
}

/// Two peers and the frames in flight between them.
struct Link {
    a: Peer,
    b: Peer,
    a_to_b: VecDeque<Frame>,
    b_to_a: VecDeque<Frame>,
    now: f64,
    /// Chunks delivered to b: (id, offset, payload length).
    chunks_to_b: Vec<(TransferId, u64, usize)>,
    /// Chunks delivered to a.
    chunks_to_a: Vec<(TransferId, u64, usize)>,
    /// Most chunk bytes ever queued from a to b.
    max_queued_chunks_a: usize,
}

impl Link {
    fn new(config_a: TransferConfig, config_b: TransferConfig, max_message_size: u64) -> Self {
        let mut link = Self {
            a: Peer::new(config_a),
            b: Peer::new(config_b),
            a_to_b: VecDeque::new(),
            b_to_a: VecDeque::new(),
            now: 0.0,
            chunks_to_b: Vec::new(),
            chunks_to_a: Vec::new(),
            max_queued_chunks_a: 0,
        };
        link.a.mgr.set_max_message_size(max_message_size);
        link.b.mgr.set_max_message_size(max_message_size);
        link.reconnect();
        link
    }

    /// 4 KiB messages, and a sender that stops asking for chunks at 16 KiB queued:
    /// a transfer is still under way after its first few chunks.
    fn slow_sender() -> Self {
        let config = TransferConfig {
            high_water_mark: 16 * KIB as u64,
            ..TransferConfig::default()
        };
        Self::new(config, TransferConfig::default(), 4 * KIB as u64)
    }

    fn default_pair(max_message_size: u64) -> Self {
        Self::new(
            TransferConfig::default(),
            TransferConfig::default(),
            max_message_size,
        )
    }

    fn drain(&mut self) {
        self.a.drain(&mut self.a_to_b, self.now);
        self.b.drain(&mut self.b_to_a, self.now);
        let queued: usize = self
            .a_to_b
            .iter()
            .filter(|f| matches!(f, Frame::Binary(_)))
            .map(Frame::len)
            .sum();
        self.max_queued_chunks_a = self.max_queued_chunks_a.max(queued);
    }

    fn deliver(frame: Frame, to: &mut Peer, log: &mut Vec<(TransferId, u64, usize)>, now: f64) {
        match frame {
            Frame::Text(text) => to.mgr.handle_control_text(&text, now).unwrap(),
            Frame::Binary(bytes) => {
                let chunk = decode_chunk(&bytes).unwrap();
                log.push((chunk.id, chunk.offset, chunk.payload.len()));
                to.mgr.handle_chunk(&bytes).unwrap();
            }
        }
    }

    /// Delivers one frame each way (if any); returns whether anything moved.
    fn step(&mut self) -> bool {
        self.now += 1.0;
        let mut moved = false;
        if let Some(frame) = self.a_to_b.pop_front() {
            Self::deliver(frame, &mut self.b, &mut self.chunks_to_b, self.now);
            moved = true;
        }
        if let Some(frame) = self.b_to_a.pop_front() {
            Self::deliver(frame, &mut self.a, &mut self.chunks_to_a, self.now);
            moved = true;
        }
        self.drain();
        moved
    }

    /// Delivers frames until `done` holds; panics if everything goes quiet first.
    fn run_until(&mut self, done: impl Fn(&Link) -> bool) {
        self.drain();
        for _ in 0..1_000_000 {
            if done(self) {
                return;
            }
            assert!(self.step(), "went quiet before the condition was met");
        }
        panic!("did not finish");
    }

    /// Delivers frames until nothing moves.
    fn run(&mut self) {
        self.drain();
        for _ in 0..1_000_000 {
            if !self.step() {
                return;
            }
        }
        panic!("did not settle");
    }

    /// The connection drops: frames in flight are lost.
    fn disconnect(&mut self) {
        self.a_to_b.clear();
        self.b_to_a.clear();
        self.a.mgr.on_connection_lost();
        self.b.mgr.on_connection_lost();
        self.drain();
    }

    fn reconnect(&mut self) {
        self.a.mgr.on_connection_restored();
        self.b.mgr.on_connection_restored();
        self.drain();
    }
}

/// Deterministic, non-repeating test data.
fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn out(id: TransferId) -> TransferKey {
    TransferKey::outgoing(id)
}

fn inc(id: TransferId) -> TransferKey {
    TransferKey::incoming(id)
}

const KIB: usize = 1024;

#[test]
fn multi_chunk_file_arrives_intact() {
    let max_message_size = 16 * KIB as u64;
    let mut link = Link::default_pair(max_message_size);
    let file = data(1_000_000, 1);
    let id = link.a.offer("big.bin", file.clone(), 0.0);
    link.run();

    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.b.completed(inc(id)), Some(true));
    let stored = &link.b.stored[&id];
    assert_eq!(stored.len(), file.len());
    assert_eq!(sha256(stored), sha256(&file));
    // Every frame respects the remote's maxMessageSize; all but the last are full.
    let payload = max_message_size as usize - CHUNK_HEADER_LEN;
    assert_eq!(link.chunks_to_b.len(), file.len().div_ceil(payload));
    for (i, &(chunk_id, offset, len)) in link.chunks_to_b.iter().enumerate() {
        assert_eq!(chunk_id, id);
        assert_eq!(offset, (i * payload) as u64);
        assert!(len + CHUNK_HEADER_LEN <= max_message_size as usize);
    }
    // The End message carried the real digest.
    assert!(link.a.sent.contains(&ControlMessage::End {
        id,
        sha256: sha256_to_hex(&sha256(&file)),
    }));
    // Progress was reported on both sides, ending at 100 %.
    for (peer, key) in [(&link.a, out(id)), (&link.b, inc(id))] {
        let last = peer
            .events
            .iter()
            .rev()
            .find_map(|e| match e {
                TransferEvent::Progress { key: k, progress } if *k == key => Some(*progress),
                _ => None,
            })
            .unwrap();
        assert_eq!(last.bytes_done, file.len() as u64);
        assert_eq!(last.eta_ms, Some(0.0));
        assert_eq!(
            peer.mgr.phase(key),
            Some(TransferPhase::Completed { verified: true })
        );
    }
    // Acks came every ack_interval (1 MiB > file), i.e. once at the end.
    let acks = link
        .b
        .sent
        .iter()
        .filter(|m| matches!(m, ControlMessage::Ack { .. }))
        .count();
    assert_eq!(acks, 1);
}

#[test]
fn large_frames_are_capped_at_256_kib() {
    let mut link = Link::default_pair(0); // 0: the remote claims no limit
    let file = data(600 * KIB, 2);
    let id = link.a.offer("f", file.clone(), 0.0);
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert!(link
        .chunks_to_b
        .iter()
        .all(|&(_, _, len)| len + CHUNK_HEADER_LEN <= MAX_CHUNK_FRAME_LEN));
    assert_eq!(link.chunks_to_b.len(), 3);
}

#[test]
fn transfers_both_ways_with_the_same_ids() {
    let mut link = Link::default_pair(8 * KIB as u64);
    let to_b = data(50_000, 3);
    let to_a = data(70_000, 4);
    let id_ab = link.a.offer("to-b", to_b.clone(), 0.0);
    let id_ba = link.b.offer("to-a", to_a.clone(), 0.0);
    assert_eq!(id_ab, id_ba, "each side numbers its own transfers");
    link.run();
    assert_eq!(link.b.stored[&id_ab], to_b);
    assert_eq!(link.a.stored[&id_ba], to_a);
    for (peer, id) in [(&link.a, id_ab), (&link.b, id_ba)] {
        assert_eq!(peer.completed(out(id)), Some(true));
        assert_eq!(peer.completed(inc(id)), Some(true));
    }
}

#[test]
fn zero_byte_file() {
    let mut link = Link::default_pair(16 * KIB as u64);
    let id = link.a.offer("empty.txt", Vec::new(), 0.0);
    link.run();
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.b.completed(inc(id)), Some(true));
    assert!(link.chunks_to_b.is_empty());
    assert!(link.a.requests.is_empty());
    assert_eq!(link.b.stored[&id], Vec::<u8>::new());
    assert!(link.a.sent.contains(&ControlMessage::End {
        id,
        sha256: sha256_to_hex(&sha256(b"")),
    }));
}

#[test]
fn offer_reaches_the_receiver_sanitized() {
    let mut link = Link::default_pair(16 * KIB as u64);
    link.b.auto_accept = false;
    let id = link
        .a
        .mgr
        .offer_file(
            OutgoingFile {
                name: "../secret\u{202E}txt.exe".into(),
                relative_path: Some("../../album/./pic.jpg".into()),
                size: 3,
                mime_type: "IMAGE/JPEG".into(),
                resume_token: None,
            },
            0.0,
        )
        .unwrap();
    link.run();
    let expected = FileOffer {
        id,
        name: ".._secrettxt.exe".into(),
        relative_path: Some("album/pic.jpg".into()),
        size: 3,
        mime_type: "image/jpeg".into(),
        resume_token: None,
    };
    assert!(link.b.has_event(|e| *e
        == TransferEvent::Offered {
            key: inc(id),
            offer: expected.clone()
        }));
    assert_eq!(link.b.mgr.offer(inc(id)), Some(&expected));
    assert_eq!(
        link.b.mgr.phase(inc(id)),
        Some(TransferPhase::AwaitingDecision)
    );

    // A hostile sender that skips sanitizing gets sanitized on arrival too.
    let mut receiver = TransferManager::default();
    receiver.on_connection_restored();
    receiver.handle_control(
        ControlMessage::Offer(FileOffer {
            id: 9,
            name: "/etc/passwd".into(),
            relative_path: Some("/../../etc/passwd".into()),
            size: 1,
            mime_type: "bad mime\n".into(),
            resume_token: None,
        }),
        0.0,
    );
    let offer = receiver.offer(inc(9)).unwrap();
    assert_eq!(offer.name, "_etc_passwd");
    assert_eq!(offer.relative_path.as_deref(), Some("etc/passwd"));
    assert_eq!(offer.mime_type, "");
}

#[test]
fn reject() {
    let mut link = Link::default_pair(16 * KIB as u64);
    link.b.auto_accept = false;
    let id = link.a.offer("no.bin", data(10_000, 5), 0.0);
    link.run();
    link.b.mgr.reject(id).unwrap();
    link.run();
    assert!(link
        .a
        .has_event(|e| *e == TransferEvent::Rejected { key: out(id) }));
    assert_eq!(link.a.mgr.phase(out(id)), Some(TransferPhase::Rejected));
    assert_eq!(link.b.mgr.phase(inc(id)), Some(TransferPhase::Rejected));
    assert!(
        link.a.requests.is_empty(),
        "nothing is read for a rejected file"
    );
    assert!(link.chunks_to_b.is_empty());
    // Deciding twice is refused.
    assert!(matches!(
        link.b.mgr.accept(id, 0.0),
        Err(TransferError::InvalidState { .. })
    ));
    assert!(link.a.mgr.forget(out(id)));
    assert_eq!(link.a.mgr.phase(out(id)), None);
}

#[test]
fn sender_cancels_midway() {
    let mut link = Link::slow_sender();
    let file = data(200_000, 6);
    let id = link.a.offer("f", file, 0.0);
    link.run_until(|l| l.chunks_to_b.len() >= 5);
    // A read is in progress when the user cancels.
    link.a.auto_read = false;
    link.run_until(|l| !l.a.reads.is_empty());
    let (read_id, read_offset, read_len) = *link.a.reads.back().unwrap();
    link.a.mgr.cancel(out(id)).unwrap();
    link.a.reads.clear();
    // The late read is ignored: no frame comes out of it.
    let late = vec![0; read_len as usize];
    link.a
        .mgr
        .provide_chunk(read_id, read_offset, &late)
        .unwrap();
    link.run();

    assert!(link.a.has_event(|e| matches!(e,
        TransferEvent::Cancelled { key, by: Side::Local, .. } if *key == out(id))));
    assert!(link.b.has_event(|e| matches!(e,
        TransferEvent::Cancelled { key, by: Side::Remote, .. } if *key == inc(id))));
    assert_eq!(link.b.mgr.phase(inc(id)), Some(TransferPhase::Cancelled));
    assert!(link
        .chunks_to_b
        .iter()
        .all(|&(_, offset, _)| offset < read_offset));
    assert_eq!(link.a.mgr.poll_output(), None);
    assert!(matches!(
        link.a.mgr.cancel(out(id)),
        Err(TransferError::InvalidState { .. })
    ));
}

#[test]
fn a_cancel_can_say_why_on_both_sides() {
    let mut link = Link::slow_sender();
    let id = link.a.offer("f", data(200_000, 5), 0.0);
    link.run_until(|l| l.chunks_to_b.len() >= 2);
    let why = "the receiver left and did not come back";
    link.a
        .mgr
        .cancel_because(out(id), Some(why.into()))
        .unwrap();
    link.run();
    assert!(link.a.has_event(|e| matches!(e,
        TransferEvent::Cancelled { key, by: Side::Local, reason: Some(r) } if *key == out(id) && r == why)));
    assert!(link.b.has_event(|e| matches!(e,
        TransferEvent::Cancelled { key, by: Side::Remote, reason: Some(r) } if *key == inc(id) && r == why)));
}

#[test]
fn receiver_cancels_midway() {
    let mut link = Link::default_pair(4 * KIB as u64);
    let id = link.a.offer("f", data(200_000, 7), 0.0);
    link.run_until(|l| l.chunks_to_b.len() >= 5);
    link.b.mgr.cancel(inc(id)).unwrap();
    let received_when_cancelled = link.b.stored[&id].len();
    link.run();
    assert!(link.a.has_event(|e| matches!(e,
        TransferEvent::Cancelled { key, by: Side::Remote, .. } if *key == out(id))));
    assert_eq!(link.a.mgr.phase(out(id)), Some(TransferPhase::Cancelled));
    // Chunks still in flight were ignored, nothing more was written.
    assert_eq!(link.b.stored[&id].len(), received_when_cancelled);
    let requests = link.a.requests.len();
    link.drain();
    assert_eq!(
        link.a.requests.len(),
        requests,
        "the sender stopped reading"
    );
}

#[test]
fn cancel_while_disconnected_is_delivered_on_reconnection() {
    let mut link = Link::default_pair(4 * KIB as u64);
    let id = link.a.offer("f", data(100_000, 8), 0.0);
    link.run_until(|l| l.chunks_to_b.len() >= 3);
    link.disconnect();
    link.b.mgr.cancel(inc(id)).unwrap();
    link.reconnect();
    link.run();
    assert_eq!(link.a.mgr.phase(out(id)), Some(TransferPhase::Cancelled));
    assert!(link.a.has_event(|e| matches!(e,
        TransferEvent::Cancelled { key, by: Side::Remote, .. } if *key == out(id))));

    // And the other way round.
    let id = link.a.offer("g", data(100_000, 9), link.now);
    link.run_until(|l| l.chunks_to_b.iter().filter(|c| c.0 == id).count() >= 3);
    link.disconnect();
    link.a.mgr.cancel(out(id)).unwrap();
    link.reconnect();
    link.run();
    assert_eq!(link.b.mgr.phase(inc(id)), Some(TransferPhase::Cancelled));
}

#[test]
fn resume_after_connection_drop_continues_from_what_the_receiver_has() {
    let config = TransferConfig {
        ack_interval: 16 * KIB as u64,
        high_water_mark: 32 * KIB as u64,
        ..TransferConfig::default()
    };
    let mut link = Link::new(config.clone(), config, 4 * KIB as u64);
    let file = data(300_000, 10);
    let id = link.a.offer("f", file.clone(), 0.0);
    link.run_until(|l| l.b.stored.get(&id).is_some_and(|s| s.len() > 100_000));
    assert!(
        !link.a_to_b.is_empty(),
        "frames are in flight and will be lost"
    );
    let last_ack = link
        .b
        .sent
        .iter()
        .filter_map(|m| match m {
            ControlMessage::Ack { offset, .. } => Some(*offset),
            _ => None,
        })
        .max()
        .unwrap();
    let have = link.b.stored[&id].len() as u64;
    assert!(have >= last_ack && last_ack > 0);

    link.disconnect();
    assert!(link
        .a
        .has_event(|e| *e == TransferEvent::Interrupted { key: out(id) }));
    assert!(link
        .b
        .has_event(|e| *e == TransferEvent::Interrupted { key: inc(id) }));
    let chunks_before = link.chunks_to_b.len();
    let sent_before = link.b.sent.len();
    link.reconnect();
    // Nothing is sent until the receiver has said where it stands.
    assert!(link.a_to_b.iter().all(|f| matches!(f, Frame::Text(_))));
    link.run();
    let resumes = link.b.sent[sent_before..]
        .iter()
        .filter(|m| matches!(m, ControlMessage::Resume { .. }))
        .count();
    assert_eq!(resumes, 1, "no gap had to be repaired");

    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.b.completed(inc(id)), Some(true));
    let resent = &link.chunks_to_b[chunks_before..];
    assert_eq!(resent[0].1, have, "continues exactly where the receiver is");
    assert!(
        resent.iter().all(|&(_, offset, _)| offset >= have),
        "no byte before the resume offset (and so the last ack) is sent again"
    );
    assert!(link.a.has_event(|e| *e
        == TransferEvent::Resumed {
            key: out(id),
            offset: have
        }));
    assert!(link.b.has_event(|e| *e
        == TransferEvent::Resumed {
            key: inc(id),
            offset: have
        }));
}

#[test]
fn repeated_drops_still_deliver_the_file() {
    let config = TransferConfig {
        high_water_mark: 8 * KIB as u64,
        receive_window: MIN_RECEIVE_WINDOW,
        ..TransferConfig::default()
    };
    let mut link = Link::new(config.clone(), config, 2 * KIB as u64);
    let file = data(120_000, 11);
    let id = link.a.offer("f", file.clone(), 0.0);
    for round in 1..=8 {
        link.run_until(|l| l.chunks_to_b.len() >= round * 6);
        link.disconnect();
        link.reconnect();
    }
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.b.completed(inc(id)), Some(true));
    // Nothing was written twice: the stored file is exactly the file, and the
    // writes were contiguous (checked by the fake glue).
}

#[test]
fn receiver_reload_resumes_from_the_stored_bytes() {
    let config = TransferConfig {
        ack_interval: 16 * KIB as u64,
        ..TransferConfig::default()
    };
    let mut link = Link::new(config.clone(), config.clone(), 4 * KIB as u64);
    let file = data(300_000, 12);
    let id = link.a.offer("f", file.clone(), 0.0);
    link.run_until(|l| l.b.stored.get(&id).is_some_and(|s| s.len() > 150_000));
    let offer = link.b.mgr.offer(inc(id)).unwrap().clone();
    link.disconnect();

    // The page reloads: a new manager, and only part of what was written survived
    // (the last writes had not reached the disk) — less than was acknowledged.
    let acked = link
        .b
        .sent
        .iter()
        .filter_map(|m| match m {
            ControlMessage::Ack { offset, .. } => Some(*offset),
            _ => None,
        })
        .max()
        .unwrap();
    let mut on_disk = link.b.stored.remove(&id).unwrap();
    on_disk.truncate(acked as usize - 5000);
    assert_eq!(on_disk, file[..on_disk.len()]);
    link.b = Peer::new(config);
    link.b.mgr.set_max_message_size(4 * KIB as u64);
    link.b.mgr.restore_incoming(offer).unwrap();
    for piece in on_disk.chunks(7000) {
        link.b.mgr.feed_stored_bytes(id, piece).unwrap();
    }
    let offset = link.b.mgr.finish_restore(id, link.now).unwrap();
    assert_eq!(offset, on_disk.len() as u64);
    link.b.stored.insert(id, on_disk);

    let chunks_before = link.chunks_to_b.len();
    link.reconnect();
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.b.completed(inc(id)), Some(true));
    let resent = &link.chunks_to_b[chunks_before..];
    assert_eq!(resent[0].1, offset);
    assert!(resent.iter().all(|&(_, o, _)| o >= offset));
}

/// The sender's page reloads mid-transfer: `held` bytes of `file` stay with the
/// receiver, and both ends start over on a new link (new managers, new ids). The
/// reloaded sender offers `file` again; the receiver accepts it from what it holds.
fn offer_again_to_a_receiver_holding(file: &[u8], held: &[u8]) -> (Link, TransferId) {
    let mut link = Link::slow_sender();
    link.b.auto_accept = false;
    let id = link.a.offer("f", file.to_vec(), 0.0);
    link.run_until(|l| {
        l.b.has_event(|e| matches!(e, TransferEvent::Offered { .. }))
    });
    link.b.mgr.accept_held(id, link.now).unwrap();
    // Re-hashed in pieces, as the glue reads them back from storage.
    for piece in held.chunks(7000) {
        link.b.mgr.feed_stored_bytes(id, piece).unwrap();
    }
    let offset = link.b.mgr.finish_restore(id, link.now).unwrap();
    assert_eq!(offset, held.len() as u64);
    link.b.stored.insert(id, held.to_vec());
    (link, id)
}

#[test]
fn a_held_copy_of_the_start_is_not_sent_again() {
    let file = data(100_000, 21);
    let (mut link, id) = offer_again_to_a_receiver_holding(&file, &file[..40_000]);
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.b.completed(inc(id)), Some(true));
    // The sender read the first 40 000 bytes only to hash them: none went out.
    assert!(link.chunks_to_b.iter().all(|&(_, o, _)| o >= 40_000));
    assert_eq!(link.chunks_to_b[0].1, 40_000);
    assert!(link.a.requests.iter().any(|&(_, o, _)| o == 0));
    assert!(link.a.has_event(|e| *e
        == TransferEvent::Resumed {
            key: out(id),
            offset: 40_000
        }));
    assert!(link.b.has_event(|e| *e
        == TransferEvent::Resumed {
            key: inc(id),
            offset: 40_000
        }));
    assert!(link.b.restarts.is_empty());
}

#[test]
fn a_held_copy_of_another_file_is_replaced_from_zero() {
    let file = data(100_000, 22);
    let other = data(100_000, 23);
    let (mut link, id) = offer_again_to_a_receiver_holding(&file, &other[..40_000]);
    link.run();
    assert_eq!(link.b.restarts, vec![id]);
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.b.completed(inc(id)), Some(true));
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.chunks_to_b[0].1, 0);
    assert!(link.b.has_event(|e| *e
        == TransferEvent::Resumed {
            key: inc(id),
            offset: 0
        }));
}

#[test]
fn a_restart_lost_with_the_connection_is_said_again() {
    let file = data(100_000, 26);
    let other = data(100_000, 27);
    let (mut link, id) = offer_again_to_a_receiver_holding(&file, &other[..40_000]);
    let restart = ControlMessage::Restart { id };
    link.run_until(|l| l.a.sent.contains(&restart));
    // `Restart` (and what followed it) is still on its way when the link drops.
    link.disconnect();
    assert!(link.b.restarts.is_empty());
    link.reconnect();
    link.run();
    assert_eq!(link.a.sent.iter().filter(|m| **m == restart).count(), 2);
    assert_eq!(link.b.restarts, vec![id]);
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.b.completed(inc(id)), Some(true));
    assert_eq!(link.a.completed(out(id)), Some(true));
}

#[test]
fn a_held_copy_of_the_whole_file_is_only_verified() {
    let file = data(30_000, 24);
    let (mut link, id) = offer_again_to_a_receiver_holding(&file, &file);
    link.run();
    assert!(link.chunks_to_b.is_empty());
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.b.completed(inc(id)), Some(true));
    assert_eq!(link.a.completed(out(id)), Some(true));
}

#[test]
fn a_held_copy_survives_a_drop_before_the_sender_checked_it() {
    let file = data(100_000, 25);
    let (mut link, id) = offer_again_to_a_receiver_holding(&file, &file[..40_000]);
    // `AcceptFrom` is lost with the connection; it is said again when it is back.
    link.disconnect();
    link.reconnect();
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.b.completed(inc(id)), Some(true));
    assert!(link.chunks_to_b.iter().all(|&(_, o, _)| o >= 40_000));
    // A drop while the sender is still hashing: it carries on where it was.
    let (mut link, id) = offer_again_to_a_receiver_holding(&file, &file[..90_000]);
    link.a.auto_read = false;
    link.run_until(|l| !l.a.reads.is_empty());
    for _ in 0..2 {
        let (id, offset, len) = link.a.reads.pop_front().unwrap();
        let bytes = &link.a.files[&id][offset as usize..(offset + len) as usize];
        link.a.mgr.provide_chunk(id, offset, bytes).unwrap();
        link.drain();
    }
    assert!(!link.a.reads.is_empty(), "still hashing the held part");
    link.a.reads.clear();
    link.a.auto_read = true;
    link.disconnect();
    link.reconnect();
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert!(link.chunks_to_b.iter().all(|&(_, o, _)| o >= 90_000));
}

#[test]
fn accept_from_is_validated() {
    let bad = [
        (200, "ab".repeat(32), "holds 200 bytes of a 100-byte file"),
        (50, "xyz".to_owned(), "malformed SHA-256"),
    ];
    for (offset, prefix_sha256, why) in bad {
        let mut a = TransferManager::default();
        a.on_connection_restored();
        let file = OutgoingFile {
            name: "f".into(),
            size: 100,
            ..OutgoingFile::default()
        };
        let id = a.offer_file(file, 0.0).unwrap();
        let msg = ControlMessage::AcceptFrom {
            id,
            offset,
            window: 1 << 20,
            prefix_sha256,
        };
        a.handle_control(msg, 0.0);
        assert_eq!(a.phase(out(id)), Some(TransferPhase::Failed), "{why}");
        let reason = std::iter::from_fn(|| a.poll_output()).find_map(|o| match o {
            Output::Event(TransferEvent::Failed { reason, .. }) => Some(reason.to_string()),
            _ => None,
        });
        assert!(reason.is_some_and(|r| r.contains(why)), "{why}");
    }
    // `Restart` is only an answer to `AcceptFrom`: elsewhere it changes nothing.
    let mut b = receiver_with(100);
    b.handle_control(ControlMessage::Restart { id: 1 }, 0.0);
    assert_eq!(b.poll_output(), None);
    assert_eq!(b.phase(inc(1)), Some(TransferPhase::Transferring));
}

#[test]
fn restored_transfer_resumes_when_the_reoffer_comes_during_rehashing() {
    let mut link = Link::default_pair(4 * KIB as u64);
    let file = data(50_000, 13);
    let id = link.a.offer("f", file.clone(), 0.0);
    link.run_until(|l| l.b.stored.get(&id).is_some_and(|s| s.len() > 20_000));
    let offer = link.b.mgr.offer(inc(id)).unwrap().clone();
    let on_disk = link.b.stored.remove(&id).unwrap();
    link.disconnect();
    link.b = Peer::new(TransferConfig::default());
    link.b.mgr.restore_incoming(offer).unwrap();
    link.b.mgr.feed_stored_bytes(id, &on_disk[..10]).unwrap();
    // The connection is back (the sender re-offers) before re-hashing is done: the
    // sender waits.
    let chunks_before = link.chunks_to_b.len();
    link.reconnect();
    link.run();
    assert_eq!(link.chunks_to_b.len(), chunks_before);
    assert_eq!(link.b.mgr.phase(inc(id)), Some(TransferPhase::Restoring));
    link.b.mgr.feed_stored_bytes(id, &on_disk[10..]).unwrap();
    link.b.mgr.finish_restore(id, link.now).unwrap();
    let have = on_disk.len() as u64;
    link.b.stored.insert(id, on_disk);
    link.run();
    assert_eq!(link.chunks_to_b[chunks_before].1, have);
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.b.completed(inc(id)), Some(true));
    assert_eq!(link.a.completed(out(id)), Some(true));
}

#[test]
fn reload_with_a_resume_token_continues_the_same_transfer() {
    let mut link = Link::default_pair(4 * KIB as u64);
    let file = data(60_000, 21);
    let token = resume_token_from_bytes(&[9; 16]);
    let id = link
        .a
        .mgr
        .offer_file(
            OutgoingFile {
                name: "t.bin".into(),
                relative_path: Some("dir/t.bin".into()),
                size: file.len() as u64,
                mime_type: "application/octet-stream".into(),
                resume_token: Some(token.clone()),
            },
            0.0,
        )
        .unwrap();
    link.a.files.insert(id, file.clone());
    link.run_until(|l| l.b.stored.get(&id).is_some_and(|s| s.len() > 30_000));
    // What the receiving glue stores next to the partial file, as JSON.
    let record = serde_json::to_string(link.b.mgr.offer(inc(id)).unwrap()).unwrap();
    let on_disk = link.b.stored.remove(&id).unwrap();
    link.disconnect();

    // Reloaded under a new peer id "b2": the sender ("a") checks its proof.
    link.b = Peer::new(TransferConfig::default());
    link.b.mgr.set_max_message_size(4 * KIB as u64);
    let offer: FileOffer = serde_json::from_str(&record).unwrap();
    assert_eq!(offer.resume_token.as_deref(), Some(token.as_str()));
    let proof = reattach_proof(&token, "b2", "a", id);
    assert!(link.a.mgr.accepts_reattach(id, &proof, "b2", "a"));
    link.b.mgr.restore_incoming(offer).unwrap();
    // The sender re-announces while the receiver is still re-hashing: the stored
    // offer equals the announced one, so it is the same transfer, not a new offer.
    let chunks_before = link.chunks_to_b.len();
    link.reconnect();
    link.run();
    assert!(!link.b.has_event(|e| matches!(
        e,
        TransferEvent::Offered { .. } | TransferEvent::Failed { .. }
    )));
    assert_eq!(link.chunks_to_b.len(), chunks_before);
    for piece in on_disk.chunks(10_000) {
        link.b.mgr.feed_stored_bytes(id, piece).unwrap();
    }
    let offset = link.b.mgr.finish_restore(id, link.now).unwrap();
    assert_eq!(offset, on_disk.len() as u64);
    link.b.stored.insert(id, on_disk);
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.b.completed(inc(id)), Some(true));
    assert!(link.b.has_event(
        |e| matches!(e, TransferEvent::Resumed { key, offset: o } if *key == inc(id) && *o == offset)
    ));
    assert!(link.chunks_to_b[chunks_before..]
        .iter()
        .all(|&(_, o, _)| o >= offset));
}

#[test]
fn receiver_reload_without_restoring_starts_over() {
    let mut link = Link::default_pair(4 * KIB as u64);
    let file = data(50_000, 33);
    let id = link.a.offer("f", file.clone(), 0.0);
    link.run_until(|l| l.b.stored.get(&id).is_some_and(|s| s.len() > 20_000));
    link.disconnect();
    link.b = Peer::new(TransferConfig::default()); // forgot everything, auto-accepts
    link.b.mgr.set_max_message_size(4 * KIB as u64);
    let chunks_before = link.chunks_to_b.len();
    link.reconnect();
    link.run();
    assert!(link
        .b
        .has_event(|e| matches!(e, TransferEvent::Offered { .. })));
    assert_eq!(link.chunks_to_b[chunks_before].1, 0);
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.a.completed(out(id)), Some(true));
}

#[test]
fn restored_transfer_is_cancelled_if_the_sender_forgot_it() {
    let mut link = Link::default_pair(4 * KIB as u64);
    let id = link.a.offer("f", data(50_000, 34), 0.0);
    link.run_until(|l| l.b.stored.get(&id).is_some_and(|s| s.len() > 20_000));
    let offer = link.b.mgr.offer(inc(id)).unwrap().clone();
    link.disconnect();
    // Both pages reload; the sender no longer has the file.
    link.a = Peer::new(TransferConfig::default());
    link.b = Peer::new(TransferConfig::default());
    link.b.mgr.restore_incoming(offer).unwrap();
    link.b.mgr.feed_stored_bytes(id, &[0; 100]).unwrap();
    link.b.mgr.finish_restore(id, 0.0).unwrap();
    link.reconnect();
    link.run();
    assert!(link.b.has_event(|e| matches!(e,
        TransferEvent::Cancelled { by: Side::Remote, reason: Some(r), .. } if r == "unknown transfer")));
}

#[test]
fn restoring_is_validated() {
    let mut mgr = TransferManager::default();
    let offer = FileOffer {
        id: 4,
        name: "f".into(),
        relative_path: None,
        size: 10,
        mime_type: String::new(),
        resume_token: None,
    };
    assert_eq!(
        mgr.feed_stored_bytes(4, b"x"),
        Err(TransferError::UnknownTransfer(inc(4)))
    );
    mgr.restore_incoming(offer.clone()).unwrap();
    assert!(matches!(
        mgr.restore_incoming(offer.clone()),
        Err(TransferError::InvalidState { .. })
    ));
    mgr.feed_stored_bytes(4, b"0123456789").unwrap();
    assert!(matches!(
        mgr.feed_stored_bytes(4, b"x"),
        Err(TransferError::StoredBytesExceedSize { fed: 11, .. })
    ));
    assert_eq!(mgr.finish_restore(4, 0.0), Ok(10));
    assert_eq!(mgr.phase(inc(4)), Some(TransferPhase::Verifying));
    assert!(matches!(
        mgr.finish_restore(4, 0.0),
        Err(TransferError::InvalidState { .. })
    ));
    assert!(matches!(
        mgr.restore_incoming(FileOffer {
            size: MAX_FILE_SIZE + 1,
            id: 5,
            ..offer
        }),
        Err(TransferError::FileTooLarge(_))
    ));
}

#[test]
fn lost_ack_is_repeated_after_reconnection() {
    // With the smallest window, the sender depends on every ack; losing one with the
    // connection would stall it forever if the receiver did not repeat it.
    let config = TransferConfig {
        receive_window: MIN_RECEIVE_WINDOW,
        ..TransferConfig::default()
    };
    let mut link = Link::new(config.clone(), config, 4 * KIB as u64);
    let file = data(100_000, 31);
    let id = link.a.offer("f", file.clone(), 0.0);
    for _ in 0..3 {
        link.run_until(|l| {
            l.b_to_a
                .iter()
                .any(|f| matches!(f, Frame::Text(t) if t.contains(r#""type":"ack""#)))
        });
        link.disconnect();
        link.reconnect();
    }
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.a.completed(out(id)), Some(true));
}

#[test]
fn resume_below_the_last_ack_shrinks_the_window_accordingly() {
    // After a reload the receiver may have less than it acknowledged; the sender
    // counts the window from the resume offset, or it would overrun the receiver.
    let mut a = TransferManager::default();
    a.set_max_message_size(4 * KIB as u64 + CHUNK_HEADER_LEN as u64);
    a.on_connection_restored();
    let file = data(64 * KIB, 32);
    let id = a
        .offer_file(
            OutgoingFile {
                name: "f".into(),
                size: file.len() as u64,
                ..OutgoingFile::default()
            },
            0.0,
        )
        .unwrap();
    let window = MIN_RECEIVE_WINDOW;
    a.handle_control(ControlMessage::Accept { id, window }, 0.0);
    let mut furthest = 0;
    let pump = |a: &mut TransferManager, furthest: &mut u64| {
        while let Some(output) = a.poll_output() {
            if let Output::SendChunkRequest { id, offset, len } = output {
                let end = offset + len;
                *furthest = end;
                a.provide_chunk(id, offset, &file[offset as usize..end as usize])
                    .unwrap();
            }
        }
    };
    pump(&mut a, &mut furthest);
    assert_eq!(furthest, window);
    a.handle_control(ControlMessage::Ack { id, offset: window }, 1.0);
    pump(&mut a, &mut furthest);
    assert_eq!(furthest, 2 * window);
    a.on_connection_lost();
    a.on_connection_restored();
    a.handle_control(
        ControlMessage::Resume {
            id,
            offset: 8 * KIB as u64,
            window,
        },
        2.0,
    );
    pump(&mut a, &mut furthest);
    assert_eq!(furthest, 8 * KIB as u64 + window);
}

#[test]
fn lost_verdict_is_answered_again_after_reconnection() {
    let mut link = Link::default_pair(4 * KIB as u64);
    let id = link.a.offer("f", data(20_000, 14), 0.0);
    link.run_until(|l| l.b.completed(inc(id)).is_some());
    assert!(link.a.completed(out(id)).is_none());
    link.disconnect(); // the verdict is lost
    link.reconnect();
    link.run();
    assert_eq!(link.a.completed(out(id)), Some(true));
}

#[test]
fn accept_while_disconnected_is_sent_as_resume_from_zero() {
    let mut link = Link::default_pair(4 * KIB as u64);
    link.b.auto_accept = false;
    let file = data(30_000, 15);
    let id = link.a.offer("f", file.clone(), 0.0);
    link.run();
    link.disconnect();
    link.b.mgr.accept(id, link.now).unwrap();
    link.b.stored.insert(id, Vec::new());
    link.reconnect();
    link.run();
    assert!(link.b.sent.contains(&ControlMessage::Resume {
        id,
        offset: 0,
        window: TransferConfig::default().receive_window
    }));
    assert!(link
        .a
        .has_event(|e| *e == TransferEvent::Accepted { key: out(id) }));
    assert_eq!(link.b.stored[&id], file);
}

#[test]
fn offers_made_before_the_channel_opens_are_sent_when_it_does() {
    let mut a = TransferManager::default();
    let id = a
        .offer_file(
            OutgoingFile {
                name: "x".into(),
                size: 1,
                ..OutgoingFile::default()
            },
            0.0,
        )
        .unwrap();
    assert_eq!(a.poll_output(), None);
    a.on_connection_restored();
    assert!(matches!(
        a.poll_output(),
        Some(Output::SendControl(ControlMessage::Offer(offer))) if offer.id == id
    ));
}

#[test]
fn hash_mismatch_is_detected() {
    let mut link = Link::default_pair(4 * KIB as u64);
    let file = data(40_000, 16);
    let id = link.a.offer("f", file, 0.0);
    link.run_until(|l| l.a_to_b.iter().any(|f| matches!(f, Frame::Binary(_))));
    // Flip one payload byte of a chunk in transit.
    let frame = link
        .a_to_b
        .iter_mut()
        .find_map(|f| match f {
            Frame::Binary(bytes) => Some(bytes),
            Frame::Text(_) => None,
        })
        .unwrap();
    frame[CHUNK_HEADER_LEN + 100] ^= 0x01;
    link.run();
    assert_eq!(link.b.completed(inc(id)), Some(false));
    assert_eq!(link.a.completed(out(id)), Some(false));
    assert!(link.b.sent.contains(&ControlMessage::Verdict {
        id,
        result: Verdict::HashMismatch
    }));
}

#[test]
fn flow_control_respects_the_high_water_mark() {
    let high_water_mark = 20 * KIB as u64;
    let config = TransferConfig {
        high_water_mark,
        ..TransferConfig::default()
    };
    let mut link = Link::new(config, TransferConfig::default(), 2 * KIB as u64);
    let file = data(500_000, 17);
    let id = link.a.offer("f", file.clone(), 0.0);
    // Let the offer and accept through, then stall the channel: nothing is delivered.
    link.run_until(|l| {
        l.a.has_event(|e| matches!(e, TransferEvent::Accepted { .. }))
    });
    link.drain();
    let queued: usize = link.a_to_b.iter().map(Frame::len).sum();
    assert!(queued as u64 <= high_water_mark, "{queued}");
    assert!(
        queued as u64 > high_water_mark - 2 * KIB as u64,
        "the budget is used"
    );
    assert!(link.a.mgr.send_budget() < 2 * KIB as u64);
    assert_eq!(
        link.a.mgr.poll_output(),
        None,
        "waits for bufferedamountlow"
    );
    // Draining the channel lets it continue, never above the mark.
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert!(link.max_queued_chunks_a as u64 <= high_water_mark);
    assert!(link.max_queued_chunks_a > 0);
}

#[test]
fn reads_in_progress_count_against_the_budget() {
    let config = TransferConfig {
        high_water_mark: 10 * KIB as u64,
        ..TransferConfig::default()
    };
    let mut link = Link::new(config, TransferConfig::default(), 2 * KIB as u64);
    link.a.auto_read = false;
    let id = link.a.offer("f", data(100_000, 18), 0.0);
    let id2 = link.a.offer("g", data(100_000, 19), 0.0);
    link.run();
    // One read per transfer at a time, however much room the channel has.
    assert_eq!(link.a.reads.len(), 2);
    assert_eq!(link.a.reads[0].0, id);
    assert_eq!(link.a.reads[1].0, id2);
    assert_eq!(link.a.mgr.send_budget(), 10 * KIB as u64 - 2 * 2035);
}

/// `a` offers `n` files "f0", "f1", … of `len + i * 1000` bytes (seeds from `seed`).
fn offer_files(
    link: &mut Link,
    n: usize,
    len: usize,
    seed: u32,
) -> (Vec<Vec<u8>>, Vec<TransferId>) {
    let files: Vec<Vec<u8>> = (0..n)
        .map(|i| data(len + i * 1000, seed + i as u32))
        .collect();
    let ids = files
        .iter()
        .enumerate()
        .map(|(i, f)| link.a.offer(&format!("f{i}"), f.clone(), 0.0))
        .collect();
    (files, ids)
}

#[test]
fn at_most_four_transfers_send_at_once_in_turn() {
    let mut link = Link::slow_sender();
    link.b.auto_accept = false;
    let (files, ids) = offer_files(&mut link, 7, 30_000, 40);
    link.run();
    // Accepted all at once (newest first): four send, the rest wait their turn.
    for &id in ids.iter().rev() {
        link.b.mgr.accept(id, link.now).unwrap();
        link.b.stored.insert(id, Vec::new());
    }
    link.run();
    for (id, file) in ids.iter().zip(&files) {
        assert_eq!(&link.b.stored[id], file);
        assert_eq!(link.b.completed(inc(*id)), Some(true));
    }
    // Transfers being read from at each read request: started and not yet done.
    let reads: Vec<TransferId> = link.a.requests.iter().map(|r| r.0).collect();
    let span = |id: TransferId| {
        let first = reads.iter().position(|&r| r == id).unwrap();
        let last = reads.iter().rposition(|&r| r == id).unwrap();
        (first, last)
    };
    let most = (0..reads.len())
        .map(|i| {
            ids.iter()
                .filter(|&&id| (span(id).0..=span(id).1).contains(&i))
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(most, 4, "{reads:?}");
    // The fifth to start starts only when one of the first four has sent
    // everything (free places go to the oldest offer accepted by then).
    let mut by_start = ids.clone();
    by_start.sort_by_key(|&id| span(id).0);
    let first_done = by_start[..4].iter().map(|&id| span(id).1).min().unwrap();
    assert!(span(by_start[4]).0 > first_done, "{reads:?}");
}

#[test]
fn a_sender_starting_more_files_than_the_receiver_allows_fails_the_extra_ones() {
    // A sender that ignores the limit (here: sends 12 at once) against a receiver
    // that allows 8 partly sent: the 9th to start fails with a protocol error, the
    // others arrive intact, and later files start as earlier ones finish.
    let sender = TransferConfig {
        high_water_mark: 16 * KIB as u64,
        max_sending: 12,
        ..TransferConfig::default()
    };
    let mut link = Link::new(sender, TransferConfig::default(), 4 * KIB as u64);
    link.b.auto_accept = false;
    let (files, ids) = offer_files(&mut link, 14, 40_000, 70);
    link.run();
    for &id in &ids {
        link.b.mgr.accept(id, link.now).unwrap();
        link.b.stored.insert(id, Vec::new());
    }
    link.run();
    let failed: Vec<TransferId> = ids
        .iter()
        .copied()
        .filter(|&id| link.b.mgr.phase(inc(id)) == Some(TransferPhase::Failed))
        .collect();
    // The sender starts 12; the 9th to send a chunk and later starters fail
    // until one of the first 8 has everything.
    assert!(!failed.is_empty(), "nothing failed");
    for &id in &failed {
        assert!(
            link.b.has_event(
                |e| matches!(e, TransferEvent::Failed { key, reason: FailureReason::Protocol(r) }
                if *key == inc(id) && r.contains("more than 8 files at once"))
            ),
            "{id}: {:?}",
            link.b.events
        );
        assert_eq!(
            link.a.mgr.phase(out(id)),
            Some(TransferPhase::Cancelled),
            "the sender is told"
        );
    }
    let mut verified = 0;
    for (id, file) in ids.iter().zip(&files) {
        if !failed.contains(id) {
            assert_eq!(&link.b.stored[id], file);
            assert_eq!(link.b.completed(inc(*id)), Some(true));
            verified += 1;
        }
    }
    assert!(verified >= 8, "only {verified} verified, failed {failed:?}");
    // Never more than 8 partly received at once.
    let mut partly = BTreeMap::<TransferId, usize>::new();
    let mut most = 0;
    for &(id, offset, len) in &link.chunks_to_b {
        if failed.contains(&id) {
            continue;
        }
        let size = files[ids.iter().position(|&i| i == id).unwrap()].len();
        if offset as usize + len < size {
            partly.insert(id, offset as usize + len);
        } else {
            partly.remove(&id);
        }
        most = most.max(partly.len());
    }
    assert_eq!(most, 8);
}

#[test]
fn a_compliant_sender_never_trips_the_receiving_limit_across_drops() {
    // The default sender (4 at once) and a receiver allowing only 4: through
    // drops and resumes, nothing fails.
    let receiver = TransferConfig {
        max_receiving: 4,
        ..TransferConfig::default()
    };
    let sender = TransferConfig {
        high_water_mark: 16 * KIB as u64,
        ..TransferConfig::default()
    };
    let mut link = Link::new(sender, receiver, 4 * KIB as u64);
    let (files, ids) = offer_files(&mut link, 9, 60_000, 90);
    for round in 0..6 {
        for _ in 0..40 + round * 17 {
            link.step();
        }
        link.disconnect();
        link.reconnect();
    }
    link.run();
    for (id, file) in ids.iter().zip(&files) {
        assert_eq!(&link.b.stored[id], file);
        assert_eq!(link.b.completed(inc(*id)), Some(true));
    }
}

#[test]
fn concurrent_transfers_share_the_channel_round_robin() {
    let mut link = Link::slow_sender();
    link.b.auto_accept = false;
    let f1 = data(100_000, 20);
    let f2 = data(60_000, 21);
    let id1 = link.a.offer("one", f1.clone(), 0.0);
    let id2 = link.a.offer("two", f2.clone(), 0.0);
    link.run();
    for id in [id1, id2] {
        link.b.mgr.accept(id, link.now).unwrap();
        link.b.stored.insert(id, Vec::new());
    }
    link.run();
    assert_eq!(link.b.stored[&id1], f1);
    assert_eq!(link.b.stored[&id2], f2);
    // The first accept arrives one message before the second, so transfer 1 starts
    // alone; from the moment both can send until transfer 2 is done, they alternate.
    let alternate = |order: &[TransferId]| {
        let first = order.iter().position(|&id| id == id2).unwrap();
        let last = order.iter().rposition(|&id| id == id2).unwrap();
        assert!(order[..first].iter().all(|&id| id == id1));
        assert!(
            first <= 4,
            "transfer 2 starts as soon as it is accepted: {order:?}"
        );
        for pair in order[first - 1..=last].windows(2) {
            assert_ne!(pair[0], pair[1], "{order:?}");
        }
        assert!(order[last..].iter().skip(1).all(|&id| id == id1));
    };
    let reads: Vec<TransferId> = link.a.requests.iter().map(|r| r.0).collect();
    alternate(&reads);
    let wire: Vec<TransferId> = link.chunks_to_b.iter().map(|c| c.0).collect();
    alternate(&wire);
    assert_eq!(
        reads.iter().filter(|&&id| id == id2).count(),
        60_000usize.div_ceil(4083)
    );
}

#[test]
fn sender_keeps_within_the_receive_window_until_acked() {
    let window = MIN_RECEIVE_WINDOW;
    let receiver = TransferConfig {
        receive_window: window,
        ..TransferConfig::default()
    };
    let mut link = Link::new(TransferConfig::default(), receiver, 4 * KIB as u64);
    link.b.auto_write = false; // the disk is slow: nothing confirmed yet
    let file = data(100_000, 22);
    let id = link.a.offer("f", file.clone(), 0.0);
    link.run();
    let sent: usize = link.chunks_to_b.iter().map(|c| c.2).sum();
    assert_eq!(sent as u64, window, "exactly one window, then it waits");
    assert_eq!(link.b.mgr.phase(inc(id)), Some(TransferPhase::Transferring));
    // Writes complete: acks open the window again.
    link.b.auto_write = true;
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.b.completed(inc(id)), Some(true));
}

#[test]
fn acks_are_monotonic_and_validated() {
    let mut a = TransferManager::default();
    a.set_max_message_size(1000 + CHUNK_HEADER_LEN as u64);
    a.on_connection_restored();
    let file = data(10_000, 23);
    let id = a
        .offer_file(
            OutgoingFile {
                name: "f".into(),
                size: file.len() as u64,
                ..OutgoingFile::default()
            },
            0.0,
        )
        .unwrap();
    a.handle_control(
        ControlMessage::Accept {
            id,
            window: 1 << 20,
        },
        0.0,
    );
    // Send the first 5 chunks.
    let mut sent = 0;
    while sent < 5 {
        match a.poll_output() {
            Some(Output::SendChunkRequest { id, offset, len }) => {
                a.provide_chunk(id, offset, &file[offset as usize..(offset + len) as usize])
                    .unwrap();
            }
            Some(Output::SendChunk { .. }) => sent += 1,
            Some(_) => {}
            None => break,
        }
    }
    let done = |a: &TransferManager| a.progress(out(id), 10.0).unwrap().bytes_done;
    a.handle_control(ControlMessage::Ack { id, offset: 3000 }, 1.0);
    assert_eq!(done(&a), 3000);
    a.handle_control(ControlMessage::Ack { id, offset: 1000 }, 2.0); // late
    assert_eq!(done(&a), 3000);
    a.handle_control(ControlMessage::Ack { id, offset: 3000 }, 3.0); // twice
    assert_eq!(done(&a), 3000);
    a.handle_control(ControlMessage::Ack { id, offset: 5000 }, 4.0);
    assert_eq!(done(&a), 5000);
    assert_eq!(a.phase(out(id)), Some(TransferPhase::Transferring));
    // Acknowledging bytes never sent is a lie.
    while a.poll_output().is_some() {}
    a.handle_control(ControlMessage::Ack { id, offset: 9000 }, 5.0);
    assert_eq!(a.phase(out(id)), Some(TransferPhase::Failed));
    let outputs: Vec<Output> = std::iter::from_fn(|| a.poll_output()).collect();
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::SendControl(ControlMessage::Cancel {
            by: Role::Sender,
            reason: Some(_),
            ..
        })
    )));
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::Event(TransferEvent::Failed {
            reason: FailureReason::Protocol(_),
            ..
        })
    )));
}

/// A receiver with one accepted transfer of `size` bytes.
fn receiver_with(size: u64) -> TransferManager {
    let mut b = TransferManager::default();
    b.on_connection_restored();
    b.handle_control(
        ControlMessage::Offer(FileOffer {
            id: 1,
            name: "f".into(),
            relative_path: None,
            size,
            mime_type: String::new(),
            resume_token: None,
        }),
        0.0,
    );
    b.accept(1, 0.0).unwrap();
    while b.poll_output().is_some() {}
    b
}

#[test]
fn chunks_are_validated() {
    let mut b = receiver_with(100);
    // Unknown transfers are ignored.
    b.handle_chunk(&encode_chunk(7, 0, b"abc")).unwrap();
    assert_eq!(b.poll_output(), None);
    // Garbage is an error and changes nothing.
    assert!(b.handle_chunk(&[1, 2, 3]).is_err());
    assert!(b.handle_chunk(&encode_chunk(1, 0, b"")).is_err());
    // In order: written.
    b.handle_chunk(&encode_chunk(1, 0, b"0123456789")).unwrap();
    assert_eq!(
        b.poll_output(),
        Some(Output::WriteChunk {
            id: 1,
            offset: 0,
            bytes: b"0123456789".to_vec()
        })
    );
    // Duplicate: ignored. Overlap: only the new part is written.
    b.handle_chunk(&encode_chunk(1, 0, b"0123456789")).unwrap();
    assert_eq!(b.poll_output(), None);
    b.handle_chunk(&encode_chunk(1, 5, b"56789abcde")).unwrap();
    assert_eq!(
        b.poll_output(),
        Some(Output::WriteChunk {
            id: 1,
            offset: 10,
            bytes: b"abcde".to_vec()
        })
    );
    // A gap: ask once to resume from what we have, ignore until it comes.
    b.handle_chunk(&encode_chunk(1, 50, b"x")).unwrap();
    b.handle_chunk(&encode_chunk(1, 60, b"x")).unwrap();
    let resume = ControlMessage::Resume {
        id: 1,
        offset: 15,
        window: TransferConfig::default().receive_window,
    };
    assert_eq!(b.poll_output(), Some(Output::SendControl(resume)));
    assert_eq!(b.poll_output(), None);
    // Past the end: the transfer fails and the sender is told.
    b.handle_chunk(&encode_chunk(1, 15, &[0; 86])).unwrap();
    assert_eq!(b.phase(inc(1)), Some(TransferPhase::Failed));
    assert!(matches!(
        b.poll_output(),
        Some(Output::SendControl(ControlMessage::Cancel {
            id: 1,
            by: Role::Receiver,
            ..
        }))
    ));
    // Chunks for a finished transfer are ignored.
    b.handle_chunk(&encode_chunk(1, 15, b"x")).unwrap();
    assert!(std::iter::from_fn(|| b.poll_output())
        .all(|o| matches!(o, Output::Event(TransferEvent::Failed { .. }))));
}

#[test]
fn chunks_before_accepting_are_ignored_and_window_overruns_fail() {
    let mut b = TransferManager::default();
    b.on_connection_restored();
    b.handle_control(
        ControlMessage::Offer(FileOffer {
            id: 1,
            name: "f".into(),
            relative_path: None,
            size: 100 << 20,
            mime_type: String::new(),
            resume_token: None,
        }),
        0.0,
    );
    while b.poll_output().is_some() {}
    b.handle_chunk(&encode_chunk(1, 0, b"early")).unwrap();
    assert_eq!(b.poll_output(), None);
    b.accept(1, 0.0).unwrap();
    while b.poll_output().is_some() {}
    // Fill the window without confirming writes, then one byte more.
    let window = TransferConfig::default().receive_window;
    let payload = vec![0u8; 200 * KIB];
    let mut offset = 0;
    while offset < window {
        let len = (window - offset).min(payload.len() as u64) as usize;
        b.handle_chunk(&encode_chunk(1, offset, &payload[..len]))
            .unwrap();
        offset += len as u64;
    }
    assert_eq!(b.phase(inc(1)), Some(TransferPhase::Transferring));
    b.handle_chunk(&encode_chunk(1, offset, b"!")).unwrap();
    assert_eq!(b.phase(inc(1)), Some(TransferPhase::Failed));
}

#[test]
fn malformed_end_and_premature_verdict_fail() {
    let mut b = receiver_with(10);
    b.handle_control(
        ControlMessage::End {
            id: 1,
            sha256: "zz".into(),
        },
        0.0,
    );
    assert_eq!(b.phase(inc(1)), Some(TransferPhase::Failed));

    let mut a = TransferManager::default();
    a.on_connection_restored();
    let id = a
        .offer_file(
            OutgoingFile {
                name: "f".into(),
                size: 10,
                ..OutgoingFile::default()
            },
            0.0,
        )
        .unwrap();
    a.handle_control(
        ControlMessage::Accept {
            id,
            window: 1 << 20,
        },
        0.0,
    );
    a.handle_control(
        ControlMessage::Verdict {
            id,
            result: Verdict::Verified,
        },
        0.0,
    );
    assert_eq!(a.phase(out(id)), Some(TransferPhase::Failed));
}

#[test]
fn resume_requests_are_validated() {
    let mut a = TransferManager::default();
    a.on_connection_restored();
    // Unknown transfer: tell the receiver to stop waiting.
    a.handle_control(
        ControlMessage::Resume {
            id: 42,
            offset: 0,
            window: 1 << 20,
        },
        0.0,
    );
    assert!(matches!(
        a.poll_output(),
        Some(Output::SendControl(ControlMessage::Cancel {
            id: 42,
            by: Role::Sender,
            ..
        }))
    ));
    // Resuming beyond what was ever sent is a lie.
    let id = a
        .offer_file(
            OutgoingFile {
                name: "f".into(),
                size: 1000,
                ..OutgoingFile::default()
            },
            0.0,
        )
        .unwrap();
    a.handle_control(
        ControlMessage::Resume {
            id,
            offset: 10,
            window: 1 << 20,
        },
        0.0,
    );
    assert_eq!(a.phase(out(id)), Some(TransferPhase::Failed));
    // A tiny window too.
    let id = a
        .offer_file(
            OutgoingFile {
                name: "g".into(),
                size: 1000,
                ..OutgoingFile::default()
            },
            0.0,
        )
        .unwrap();
    a.handle_control(ControlMessage::Accept { id, window: 10 }, 0.0);
    assert_eq!(a.phase(out(id)), Some(TransferPhase::Failed));
}

#[test]
fn short_reads_and_read_errors_fail_the_transfer() {
    let mut link = Link::default_pair(4 * KIB as u64);
    link.a.auto_read = false;
    let id = link.a.offer("f", data(50_000, 24), 0.0);
    link.run();
    let (_, offset, len) = link.a.reads.pop_front().unwrap();
    link.a
        .mgr
        .provide_chunk(id, offset, &vec![0; len as usize - 1])
        .unwrap();
    link.run();
    assert!(link.a.has_event(|e| matches!(
        e,
        TransferEvent::Failed {
            reason: FailureReason::ReadFailed(_),
            ..
        }
    )));
    assert!(link.b.has_event(|e| matches!(
        e,
        TransferEvent::Cancelled {
            by: Side::Remote,
            reason: Some(_),
            ..
        }
    )));

    let id = link.a.offer("g", data(50_000, 25), link.now);
    link.run();
    link.a.mgr.read_failed(id, "NotReadableError").unwrap();
    link.run();
    assert_eq!(link.b.mgr.phase(inc(id)), Some(TransferPhase::Cancelled));
    assert_eq!(
        link.a.mgr.provide_chunk(99, 0, b"x"),
        Err(TransferError::UnknownTransfer(out(99)))
    );
}

#[test]
fn write_errors_fail_the_transfer() {
    let mut link = Link::default_pair(4 * KIB as u64);
    let id = link.a.offer("f", data(50_000, 26), 0.0);
    link.run_until(|l| !l.chunks_to_b.is_empty());
    link.b.mgr.write_failed(id, "QuotaExceededError").unwrap();
    link.run();
    assert_eq!(link.a.mgr.phase(out(id)), Some(TransferPhase::Cancelled));
    assert!(link.a.has_event(|e| matches!(e,
        TransferEvent::Cancelled { reason: Some(r), .. } if r.contains("QuotaExceededError"))));
}

#[test]
fn offers_are_limited_and_finished_transfers_make_room() {
    let config = TransferConfig {
        max_transfers: 2,
        ..TransferConfig::default()
    };
    let mut link = Link::new(TransferConfig::default(), config, 4 * KIB as u64);
    link.b.auto_accept = false;
    let first = link.a.offer("1", data(10, 27), 0.0);
    let second = link.a.offer("2", data(10, 28), 0.0);
    let third = link.a.offer("3", data(10, 29), 0.0);
    link.run();
    assert!(link.b.mgr.phase(inc(first)).is_some());
    assert!(link.b.mgr.phase(inc(second)).is_some());
    assert_eq!(link.b.mgr.phase(inc(third)), None);
    assert_eq!(link.a.mgr.phase(out(third)), Some(TransferPhase::Rejected));
    // Once one is finished, a new offer takes its place.
    link.b.mgr.reject(first).unwrap();
    let fourth = link.a.offer("4", data(10, 30), link.now);
    link.run();
    assert_eq!(link.b.mgr.phase(inc(first)), None);
    assert_eq!(
        link.b.mgr.phase(inc(fourth)),
        Some(TransferPhase::AwaitingDecision)
    );

    let mut small = TransferManager::new(config_with_max(1));
    small.offer_file(OutgoingFile::default(), 0.0).unwrap();
    assert_eq!(
        small.offer_file(OutgoingFile::default(), 0.0),
        Err(TransferError::TooManyTransfers(1))
    );
    assert_eq!(
        small.offer_file(
            OutgoingFile {
                size: MAX_FILE_SIZE + 1,
                ..OutgoingFile::default()
            },
            0.0
        ),
        Err(TransferError::FileTooLarge(MAX_FILE_SIZE + 1))
    );
}

fn config_with_max(max_transfers: usize) -> TransferConfig {
    TransferConfig {
        max_transfers,
        ..TransferConfig::default()
    }
}

#[test]
fn a_different_file_under_a_known_id_supersedes_it() {
    let mut b = receiver_with(100);
    b.handle_control(
        ControlMessage::Offer(FileOffer {
            id: 1,
            name: "other".into(),
            relative_path: None,
            size: 5,
            mime_type: String::new(),
            resume_token: None,
        }),
        0.0,
    );
    let outputs: Vec<Output> = std::iter::from_fn(|| b.poll_output()).collect();
    assert!(matches!(
        &outputs[..],
        [
            Output::Event(TransferEvent::Failed {
                reason: FailureReason::Superseded,
                ..
            }),
            Output::Event(TransferEvent::Offered { .. })
        ]
    ));
    assert_eq!(b.offer(inc(1)).unwrap().name, "other");
}

#[test]
fn incoming_garbage_never_panics() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut b = receiver_with(1 << 20);
    let mut a = TransferManager::default();
    a.on_connection_restored();
    for _ in 0..20_000 {
        let id = (next() % 3) as u32;
        let offset = match next() % 4 {
            0 => next(),
            1 => next() % (2 << 20),
            _ => next() % 4096,
        };
        let len = (next() % 64) as usize;
        let msg = match next() % 8 {
            0 => ControlMessage::Ack { id, offset },
            1 => ControlMessage::Resume {
                id,
                offset,
                window: next() % (1 << 30),
            },
            2 => ControlMessage::Accept { id, window: next() },
            3 => ControlMessage::End {
                id,
                sha256: "0".repeat(64),
            },
            4 => ControlMessage::Verdict {
                id,
                result: Verdict::Verified,
            },
            5 => ControlMessage::Offer(FileOffer {
                id,
                name: String::from_utf8_lossy(&next().to_le_bytes()).into_owned(),
                relative_path: None,
                size: next() % (1 << 20),
                mime_type: String::new(),
                resume_token: None,
            }),
            6 => ControlMessage::Cancel {
                id,
                by: Role::Sender,
                reason: None,
            },
            _ => ControlMessage::Reject { id },
        };
        for mgr in [&mut a, &mut b] {
            mgr.handle_control(msg.clone(), 0.0);
            let _ = mgr.handle_chunk(&encode_chunk(id, offset, &vec![7; len]));
            let _ = mgr.chunk_written(id, next() % (2 << 20), next() % 4096, 0.0);
            if next() % 16 == 0 {
                mgr.on_connection_lost();
                mgr.on_connection_restored();
            }
            for _ in 0..100 {
                if mgr.poll_output().is_none() {
                    break;
                }
            }
        }
    }
}

fn hashing_elsewhere() -> TransferConfig {
    TransferConfig {
        hash_elsewhere: true,
        ..TransferConfig::default()
    }
}

/// Both ends leave hashing to their glue.
fn hashing_elsewhere_pair(max_message_size: u64) -> Link {
    Link::new(hashing_elsewhere(), hashing_elsewhere(), max_message_size)
}

#[test]
fn hashing_elsewhere_hands_every_byte_over_once_and_verifies() {
    // Each side on its own: the wire is the same either way.
    for (a_elsewhere, b_elsewhere) in [(true, true), (true, false), (false, true)] {
        let config = |on: bool| TransferConfig {
            hash_elsewhere: on,
            ..TransferConfig::default()
        };
        let mut link = Link::new(config(a_elsewhere), config(b_elsewhere), 16 * KIB as u64);
        let file = data(300_000, 41);
        let id = link.a.offer("f", file.clone(), 0.0);
        link.run();
        assert_eq!(link.b.stored[&id], file);
        assert_eq!(link.a.completed(out(id)), Some(true));
        assert_eq!(link.b.completed(inc(id)), Some(true));
        for (peer, key, on) in [
            (&link.a, out(id), a_elsewhere),
            (&link.b, inc(id), b_elsewhere),
        ] {
            let handed = if on { file.len() as u64 } else { 0 };
            assert_eq!(peer.hashed_elsewhere(key), handed, "{key}");
            assert_eq!(peer.asked, if on { vec![key] } else { vec![] }, "{key}");
        }
    }
}

#[test]
fn the_sender_waits_for_the_digest_before_end() {
    let mut link = hashing_elsewhere_pair(16 * KIB as u64);
    link.a.auto_digest = false;
    let file = data(100_000, 42);
    let id = link.a.offer("f", file.clone(), 0.0);
    link.run();
    // Every chunk went and was written, but no `end` without the digest.
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.a.asked, vec![out(id)]);
    assert!(!link
        .a
        .sent
        .iter()
        .any(|m| matches!(m, ControlMessage::End { .. })));
    assert_eq!(link.b.completed(inc(id)), None);
    link.a.answer_digest(out(id), link.now);
    link.run();
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.b.completed(inc(id)), Some(true));
    // A late or repeated answer changes nothing.
    link.a.mgr.digest_ready(out(id), [0; 32], link.now).unwrap();
    link.run();
    assert_eq!(link.a.completed(out(id)), Some(true));
}

#[test]
fn the_receiver_judges_by_the_glues_digest() {
    let mut link = hashing_elsewhere_pair(16 * KIB as u64);
    link.b.auto_digest = false;
    let file = data(50_000, 43);
    let id = link.a.offer("f", file.clone(), 0.0);
    link.run();
    assert_eq!(link.b.asked, vec![inc(id)]);
    assert_eq!(link.b.completed(inc(id)), None);
    // The glue's hashing went wrong: the file is not verified.
    link.b.mgr.digest_ready(inc(id), [7; 32], link.now).unwrap();
    link.run();
    assert_eq!(link.b.completed(inc(id)), Some(false));
    assert_eq!(link.a.completed(out(id)), Some(false));
}

#[test]
fn hashing_elsewhere_survives_dropped_connections_without_hashing_twice() {
    let mut link = hashing_elsewhere_pair(4 * KIB as u64);
    let file = data(200_000, 44);
    let id = link.a.offer("f", file.clone(), 0.0);
    for cut in [40_000, 90_000, 150_000] {
        link.run_until(|l| l.b.stored.get(&id).is_some_and(|s| s.len() > cut));
        link.disconnect();
        link.reconnect();
    }
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.b.completed(inc(id)), Some(true));
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.a.hashed_elsewhere(out(id)), file.len() as u64);
    assert_eq!(link.b.hashed_elsewhere(inc(id)), file.len() as u64);
}

#[test]
fn held_copies_and_restored_transfers_hash_here() {
    // The sender's reload: the receiver holds the start of the file.
    let file = data(100_000, 45);
    let mut link = hashing_elsewhere_pair(4 * KIB as u64);
    link.b.auto_accept = false;
    let id = link.a.offer("f", file.clone(), 0.0);
    link.run_until(|l| {
        l.b.has_event(|e| matches!(e, TransferEvent::Offered { .. }))
    });
    link.b.mgr.accept_held(id, link.now).unwrap();
    link.b.mgr.feed_stored_bytes(id, &file[..40_000]).unwrap();
    assert_eq!(link.b.mgr.finish_restore(id, link.now).unwrap(), 40_000);
    link.b.stored.insert(id, file[..40_000].to_vec());
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.b.completed(inc(id)), Some(true));
    assert!(link.a.asked.is_empty() && link.b.asked.is_empty());
    assert_eq!(
        link.a.hashed_elsewhere(out(id)) + link.b.hashed_elsewhere(inc(id)),
        0
    );

    // The receiver's reload: restored from what it stored.
    let mut link = hashing_elsewhere_pair(4 * KIB as u64);
    let file = data(120_000, 46);
    let id = link.a.offer("f", file.clone(), 0.0);
    link.run_until(|l| l.b.stored.get(&id).is_some_and(|s| s.len() > 50_000));
    let offer = link.b.mgr.offer(inc(id)).unwrap().clone();
    let on_disk = link.b.stored.remove(&id).unwrap();
    link.disconnect();
    link.b = Peer::new(hashing_elsewhere());
    link.b.mgr.set_max_message_size(4 * KIB as u64);
    link.b.mgr.restore_incoming(offer).unwrap();
    link.b.mgr.feed_stored_bytes(id, &on_disk).unwrap();
    link.b.mgr.finish_restore(id, link.now).unwrap();
    link.b.stored.insert(id, on_disk);
    link.reconnect();
    link.run();
    assert_eq!(link.b.stored[&id], file);
    assert_eq!(link.b.completed(inc(id)), Some(true));
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.b.hashed_elsewhere(inc(id)), 0);
    // The sender kept hashing elsewhere across the receiver's reload.
    assert_eq!(link.a.hashed_elsewhere(out(id)), file.len() as u64);
}

#[test]
fn a_zero_byte_file_hashed_elsewhere_asks_the_receivers_glue_for_the_empty_digest() {
    let mut link = hashing_elsewhere_pair(16 * KIB as u64);
    let id = link.a.offer("empty", Vec::new(), 0.0);
    link.run();
    assert_eq!(link.a.completed(out(id)), Some(true));
    assert_eq!(link.b.completed(inc(id)), Some(true));
    // The sender knows the empty digest; the receiver's glue was handed nothing.
    assert!(link.a.asked.is_empty());
    assert_eq!(link.b.asked, vec![inc(id)]);
    assert_eq!(link.b.hashed_elsewhere(inc(id)), 0);
}
