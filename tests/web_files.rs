//! wasm-bindgen-test in headless Chromium: a loopback pair of the library's
//! PeerConnections sends a few MiB through PeerFiles (TransferManager over the files
//! channel); the received Blob's bytes and SHA-256 match, with SHA-256 on the main
//! thread and (feature `hash-worker`) in the page's hashing worker.
#![cfg(target_arch = "wasm32")]

use futures_channel::mpsc::{self, UnboundedReceiver};
use futures_util::StreamExt;
use peerlink::core::transfer::{Direction, TransferEvent};
use peerlink::web::{PeerConfig, PeerConnection, PeerEvent, PeerFiles, RoomEvent};
use sha2::{Digest, Sha256};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Routes `from`'s signals to `to` and its files events into `files`.
fn wire(
    mut from: UnboundedReceiver<PeerEvent>,
    me: Rc<PeerConnection>,
    to: Rc<PeerConnection>,
    files: Rc<PeerFiles>,
) {
    spawn_local(async move {
        while let Some(event) = from.next().await {
            match event {
                PeerEvent::Signal(payload) => to.handle_signal(payload),
                PeerEvent::FilesOpen { max_message_size } => {
                    files.opened(me.files_channel().expect("files channel"), max_message_size)
                }
                PeerEvent::FilesClosed => files.closed(),
                PeerEvent::FilesText(text) => files.text(&text),
                PeerEvent::FilesBinary(buffer) => files.binary(&buffer),
                PeerEvent::FilesBufferedLow => files.drain(),
                _ => {}
            }
        }
    });
}

/// Deterministic pseudo-random bytes.
fn test_bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut x: u32 = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[wasm_bindgen_test]
async fn a_few_mib_arrive_with_matching_bytes_and_sha256() {
    a_few_mib_each_way(false).await;
}

/// The same with SHA-256 in the page's hashing worker: a file each way at once,
/// each hashed in the worker at one end and on the main thread at the other, so a
/// digest the worker got wrong fails the transfer ("hash mismatch").
#[cfg(feature = "hash-worker")]
#[wasm_bindgen_test]
async fn hashed_in_the_worker_a_few_mib_arrive_verified_both_ways() {
    hashing_worker_running().await;
    a_few_mib_each_way(true).await;
}

/// The same with a hashing worker that lags: with a 64 KiB backlog limit nearly
/// every chunk waits for it (the receiver holds its acknowledgements back, the
/// sender its reads), and both files still arrive verified.
#[cfg(feature = "hash-worker")]
#[wasm_bindgen_test]
async fn transfers_wait_for_a_hashing_worker_that_lags() {
    hashing_worker_running().await;
    peerlink::web::set_hashing_backlog_limit(64 * 1024);
    a_few_mib_each_way(true).await;
    peerlink::web::set_hashing_backlog_limit(16 * 1024 * 1024);
}

/// Waits until the page's hashing worker runs (the first PeerFiles starts it).
#[cfg(feature = "hash-worker")]
async fn hashing_worker_running() {
    let (tx, _rx) = mpsc::unbounded::<RoomEvent>();
    let _starts_the_worker = PeerFiles::new("x".into(), tx);
    let mut waited = 0;
    while !peerlink::web::hashing_off_main_thread() {
        assert!(waited < 10_000, "the hashing worker did not start");
        gloo_timers::future::TimeoutFuture::new(20).await;
        waited += 20;
    }
}

/// Sends a few MiB from a to b (and, with `both_ways`, another file from b to a at
/// the same time) and checks what arrives and both verdicts.
async fn a_few_mib_each_way(both_ways: bool) {
    let (a, a_events) = PeerConnection::new(&PeerConfig {
        polite: true,
        initiator: true,
        ..Default::default()
    })
    .unwrap();
    let (b, b_events) = PeerConnection::new(&PeerConfig::default()).unwrap();
    let (a, b) = (Rc::new(a), Rc::new(b));
    let (a_tx, a_room) = mpsc::unbounded::<RoomEvent>();
    let (b_tx, b_room) = mpsc::unbounded::<RoomEvent>();
    let a_files = PeerFiles::new("b".into(), a_tx);
    let b_files = PeerFiles::new("a".into(), b_tx);
    // Where the worker runs, only b uses it.
    a_files.hash_on_main_thread(true);
    wire(a_events, a.clone(), b.clone(), a_files.clone());
    wire(b_events, b.clone(), a.clone(), b_files.clone());

    let to_b = test_bytes(3 * 1024 * 1024 + 12_345, 0x9e37_79b9);
    let to_a = test_bytes(2 * 1024 * 1024 + 777, 0x0bad_cafe);
    // (receiving side, transfer id, bytes): ids are per sender, so both may be 1.
    let mut sent = vec![('b', a_files.send(&file_of(&to_b), None).unwrap(), to_b)];
    if both_ways {
        sent.push(('a', b_files.send(&file_of(&to_a), None).unwrap(), to_a));
    }
    let sent_to = |side: char, id| {
        sent.iter()
            .find(|&&(s, i, _)| (s, i) == (side, id))
            .map(|(_, _, data)| data)
            .expect("a file that was sent")
    };
    let mut events = futures_util::stream::select(
        a_room.map(|event| ('a', event)),
        b_room.map(|event| ('b', event)),
    );
    let (mut received, mut verdicts) = (Vec::new(), 0);
    while received.len() < sent.len() || verdicts < sent.len() {
        let (side, event) = events.next().await.expect("room events");
        let files = if side == 'a' { &a_files } else { &b_files };
        match event {
            RoomEvent::Transfer {
                event: TransferEvent::Offered { key, offer },
                ..
            } => {
                assert_eq!(offer.name, "data.bin");
                assert_eq!(offer.size, sent_to(side, key.id).len() as u64);
                files.accept(key.id).unwrap();
            }
            RoomEvent::FileReceived { blob, offer, .. } => received.push((side, offer.id, blob)),
            // The sender hears the verdict too.
            RoomEvent::Transfer {
                event: TransferEvent::Completed { key, verified },
                ..
            } if key.direction == Direction::Outgoing => {
                assert!(verified, "{side}: {key}");
                verdicts += 1;
            }
            RoomEvent::Transfer {
                event: TransferEvent::Failed { reason, .. },
                ..
            } => panic!("{side}: {reason}"),
            RoomEvent::Warning(e) => panic!("{side}: {e}"),
            _ => {}
        }
    }
    for (side, id, blob) in received {
        let data = sent_to(side, id);
        let buffer = JsFuture::from(blob.array_buffer()).await.unwrap();
        let received = js_sys::Uint8Array::new(buffer.unchecked_ref()).to_vec();
        assert_eq!(received.len(), data.len());
        assert_eq!(Sha256::digest(&received), Sha256::digest(data));
        assert!(&received == data);
    }
}

fn file_of(data: &[u8]) -> web_sys::File {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(data));
    web_sys::File::new_with_u8_array_sequence(&parts, "data.bin").unwrap()
}
