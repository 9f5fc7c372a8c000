//! wasm-bindgen-test in headless Chromium: a loopback pair of the library's
//! PeerConnections sends a few MiB through PeerFiles (TransferManager over the files
//! channel); the received Blob's bytes and SHA-256 match.
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
fn test_bytes(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
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
    let (a, a_events) = PeerConnection::new(&PeerConfig {
        polite: true,
        initiator: true,
        ..Default::default()
    })
    .unwrap();
    let (b, b_events) = PeerConnection::new(&PeerConfig::default()).unwrap();
    let (a, b) = (Rc::new(a), Rc::new(b));
    let (a_tx, mut a_room) = mpsc::unbounded::<RoomEvent>();
    let (b_tx, mut b_room) = mpsc::unbounded::<RoomEvent>();
    let a_files = PeerFiles::new("b".into(), a_tx);
    let b_files = PeerFiles::new("a".into(), b_tx);
    wire(a_events, a.clone(), b.clone(), a_files.clone());
    wire(b_events, b.clone(), a.clone(), b_files.clone());

    let data = test_bytes(3 * 1024 * 1024 + 12_345);
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(data.as_slice()));
    let file = web_sys::File::new_with_u8_array_sequence(&parts, "data.bin").unwrap();
    let id = a_files.send(&file, None).unwrap();

    // The offer arrives; accept it.
    loop {
        match b_room.next().await.unwrap() {
            RoomEvent::Transfer {
                event: TransferEvent::Offered { key, offer },
                ..
            } => {
                assert_eq!(key.id, id);
                assert_eq!(offer.name, "data.bin");
                assert_eq!(offer.size, data.len() as u64);
                b_files.accept(key.id).unwrap();
                break;
            }
            RoomEvent::Warning(e) => panic!("{e}"),
            _ => {}
        }
    }
    let blob = loop {
        match b_room.next().await.unwrap() {
            RoomEvent::FileReceived { blob, offer, .. } => {
                assert_eq!(offer.id, id);
                break blob;
            }
            RoomEvent::Transfer {
                event: TransferEvent::Failed { reason, .. },
                ..
            } => panic!("{reason}"),
            RoomEvent::Warning(e) => panic!("{e}"),
            _ => {}
        }
    };
    let buffer = JsFuture::from(blob.array_buffer()).await.unwrap();
    let received = js_sys::Uint8Array::new(buffer.unchecked_ref()).to_vec();
    assert_eq!(received.len(), data.len());
    assert_eq!(Sha256::digest(&received), Sha256::digest(&data));
    assert!(received == data);

    // The sender hears the verdict too.
    loop {
        match a_room.next().await.unwrap() {
            RoomEvent::Transfer {
                event: TransferEvent::Completed { key, verified },
                ..
            } => {
                assert_eq!(key.direction, Direction::Outgoing);
                assert!(verified);
                break;
            }
            RoomEvent::Warning(e) => panic!("{e}"),
            _ => {}
        }
    }
}
