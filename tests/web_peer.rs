//! wasm-bindgen-test in headless Chromium: the library's PeerConnection, wired back to
//! back inside one page (signals passed directly), connects and carries chat.
#![cfg(target_arch = "wasm32")]

use futures_channel::mpsc::UnboundedReceiver;
use futures_util::StreamExt;
use peerlink::core::chat::{ChatComposer, PeerMessage};
use peerlink::web::media::{get_user_media, MediaRequest};
use peerlink::web::{ConnectionState, PeerConfig, PeerConnection, PeerEvent};
use std::rc::Rc;
use wasm_bindgen_futures::spawn_local;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Forwards `from`'s signals to `to` and everything else to the returned receiver.
fn wire(
    mut from: UnboundedReceiver<PeerEvent>,
    to: Rc<PeerConnection>,
) -> UnboundedReceiver<PeerEvent> {
    let (tx, rx) = futures_channel::mpsc::unbounded();
    spawn_local(async move {
        while let Some(event) = from.next().await {
            match event {
                PeerEvent::Signal(payload) => to.handle_signal(payload),
                other => {
                    let _ = tx.unbounded_send(other);
                }
            }
        }
    });
    rx
}

async fn wait_for(events: &mut UnboundedReceiver<PeerEvent>, want: &PeerEvent) -> Vec<PeerEvent> {
    let mut seen = Vec::new();
    loop {
        let event = events.next().await.expect("event stream ended");
        if let PeerEvent::Error(e) = &event {
            panic!("peer error: {e}");
        }
        if &event == want {
            return seen;
        }
        seen.push(event);
    }
}

async fn pair(
    a_initiates: bool,
    b_initiates: bool,
) -> (
    Rc<PeerConnection>,
    UnboundedReceiver<PeerEvent>,
    Rc<PeerConnection>,
    UnboundedReceiver<PeerEvent>,
) {
    let (a, a_events) = PeerConnection::new(&PeerConfig {
        polite: true,
        initiator: a_initiates,
        ..Default::default()
    })
    .unwrap();
    let (b, b_events) = PeerConnection::new(&PeerConfig {
        polite: false,
        initiator: b_initiates,
        ..Default::default()
    })
    .unwrap();
    let (a, b) = (Rc::new(a), Rc::new(b));
    let a_rest = wire(a_events, b.clone());
    let b_rest = wire(b_events, a.clone());
    (a, a_rest, b, b_rest)
}

#[wasm_bindgen_test]
async fn two_peers_connect_and_exchange_chat() {
    let (a, mut a_events, b, mut b_events) = pair(true, false).await;
    let connected = PeerEvent::StateChanged(ConnectionState::Connected);
    let seen = wait_for(&mut a_events, &PeerEvent::ControlOpen).await;
    if !seen.contains(&connected) {
        wait_for(&mut a_events, &connected).await;
    }
    assert_eq!(a.connection_state(), ConnectionState::Connected);
    wait_for(&mut b_events, &PeerEvent::ControlOpen).await;

    let mut composer = ChatComposer::new("a".into());
    let msg = composer.compose("Alice", "hello over WebRTC", 1.0).unwrap();
    a.send_control(&PeerMessage::Chat(msg.clone()).to_json())
        .unwrap();
    let received = loop {
        match b_events.next().await.expect("stream ended") {
            PeerEvent::ControlMessage(text) => break text,
            PeerEvent::Error(e) => panic!("peer error: {e}"),
            _ => {}
        }
    };
    assert_eq!(
        PeerMessage::parse(&received, "a").unwrap(),
        PeerMessage::Chat(msg)
    );
    // And back the other way.
    let mut composer = ChatComposer::new("b".into());
    let reply = composer.compose("Bob", "hi Alice", 2.0).unwrap();
    b.send_control(&PeerMessage::Chat(reply.clone()).to_json())
        .unwrap();
    let received = loop {
        if let PeerEvent::ControlMessage(text) = a_events.next().await.expect("stream ended") {
            break text;
        }
    };
    assert_eq!(
        PeerMessage::parse(&received, "b").unwrap(),
        PeerMessage::Chat(reply)
    );
}

#[wasm_bindgen_test]
async fn simultaneous_offers_are_resolved_by_perfect_negotiation() {
    // Both sides open the channel at once, so both make an offer: glare.
    let (a, mut a_events, b, mut b_events) = pair(true, true).await;
    wait_for(&mut a_events, &PeerEvent::ControlOpen).await;
    wait_for(&mut b_events, &PeerEvent::ControlOpen).await;
    assert!(a.control_open() && b.control_open());
    a.send_control("{\"type\":\"chat\"}").unwrap();
    loop {
        if let PeerEvent::ControlMessage(text) = b_events.next().await.unwrap() {
            assert_eq!(text, "{\"type\":\"chat\"}");
            break;
        }
    }
}

#[wasm_bindgen_test]
async fn messages_sent_before_open_are_delivered_in_order() {
    let (a, _a_events, _b, mut b_events) = pair(true, false).await;
    for i in 0..5 {
        a.send_control(&format!("m{i}")).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        if let PeerEvent::ControlMessage(text) = b_events.next().await.unwrap() {
            got.push(text);
        }
    }
    assert_eq!(got, ["m0", "m1", "m2", "m3", "m4"]);
}

#[wasm_bindgen_test]
async fn fake_get_user_media_resolves_with_audio_and_video() {
    let stream = get_user_media(&MediaRequest::video_call())
        .await
        .expect("fake devices should be available");
    assert_eq!(stream.get_audio_tracks().length(), 1);
    assert_eq!(stream.get_video_tracks().length(), 1);
}

#[wasm_bindgen_test]
async fn a_pregenerated_certificate_is_used_and_connects() {
    let certificate = peerlink::web::generate_certificate().await.unwrap();
    let (a, a_events) = PeerConnection::new(&PeerConfig {
        polite: true,
        initiator: true,
        certificate: Some(certificate.clone()),
        ..Default::default()
    })
    .unwrap();
    let (b, b_events) = PeerConnection::new(&PeerConfig::default()).unwrap();
    let (a, b) = (Rc::new(a), Rc::new(b));
    let mut a_rest = wire(a_events, b.clone());
    let mut b_rest = wire(b_events, a.clone());
    wait_for(&mut a_rest, &PeerEvent::ControlOpen).await;
    wait_for(&mut b_rest, &PeerEvent::ControlOpen).await;
    let used = a.as_raw().get_configuration().get_certificates().unwrap();
    assert_eq!(used.length(), 1);
    assert_eq!(
        fingerprint(&used.get(0)),
        fingerprint(&certificate),
        "the connection uses the given certificate"
    );
}

/// The first DTLS fingerprint of an RTCCertificate.
fn fingerprint(certificate: &wasm_bindgen::JsValue) -> String {
    let get = js_sys::Reflect::get(certificate, &"getFingerprints".into()).unwrap();
    let list = js_sys::Function::from(get).call0(certificate).unwrap();
    let first = js_sys::Array::from(&list).get(0);
    js_sys::Reflect::get(&first, &"value".into())
        .unwrap()
        .as_string()
        .unwrap()
}
