//! wasm-bindgen-test in headless Chromium: the library's PeerConnection, wired back to
//! back inside one page (signals passed directly), connects and carries chat.
#![cfg(target_arch = "wasm32")]

use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures_util::StreamExt;
use peerlink::core::chat::{ChatComposer, PeerMessage};
use peerlink::web::media::{get_user_media, MediaRequest};
use peerlink::web::{ConnectionState, PeerConfig, PeerConnection, PeerEvent, TrackSource};
use peerlink_protocol::SignalPayload;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// What the wire from one side does with that side's offers.
#[derive(Clone)]
struct Offers {
    /// Offers sent so far (lost ones included).
    sent: Rc<Cell<u32>>,
    /// How many of the next offers to lose, each with the candidates that follow
    /// it up to the next description, as with a signaling socket that died.
    lose: Rc<Cell<u32>>,
    /// Told of each loss.
    lost: UnboundedSender<()>,
}

impl Offers {
    /// Counted, none lost; the receiver hears of losses.
    fn new() -> (Self, UnboundedReceiver<()>) {
        let (lost, on_loss) = futures_channel::mpsc::unbounded();
        let offers = Offers {
            sent: Rc::default(),
            lose: Rc::default(),
            lost,
        };
        (offers, on_loss)
    }
}

/// Forwards `from`'s signals to `to` and everything else to the returned receiver.
fn wire(
    from: UnboundedReceiver<PeerEvent>,
    to: Rc<PeerConnection>,
) -> UnboundedReceiver<PeerEvent> {
    wire_offers(from, to, Offers::new().0)
}

/// Like [`wire`], doing with `from`'s offers what `offers` says.
fn wire_offers(
    mut from: UnboundedReceiver<PeerEvent>,
    to: Rc<PeerConnection>,
    offers: Offers,
) -> UnboundedReceiver<PeerEvent> {
    let (tx, rx) = futures_channel::mpsc::unbounded();
    spawn_local(async move {
        let mut losing = false;
        while let Some(event) = from.next().await {
            match event {
                PeerEvent::Signal(payload) => {
                    let description = matches!(&payload, SignalPayload::Description { .. });
                    let offer = matches!(&payload, SignalPayload::Description { sdp_type, .. } if sdp_type == "offer");
                    if offer {
                        offers.sent.set(offers.sent.get() + 1);
                    }
                    if offer && offers.lose.get() > 0 {
                        offers.lose.set(offers.lose.get() - 1);
                        losing = true;
                        let _ = offers.lost.unbounded_send(());
                    } else if losing && !description {
                        // a candidate of the lost offer
                    } else {
                        losing = false;
                        to.handle_signal(payload)
                    }
                }
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

/// One side of a pair from [`tapped_pair`].
struct Side {
    pc: Rc<PeerConnection>,
    /// Its events other than signals.
    events: UnboundedReceiver<PeerEvent>,
    /// What the wire does with its offers.
    offers: Offers,
}

/// Two connections wired back to back (a polite, b not); each side's offers are
/// counted and lost on request, and the receiver hears of every loss.
fn tapped_pair(a_initiates: bool, b_initiates: bool) -> (Side, Side, UnboundedReceiver<()>) {
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
    let (a_offers, lost) = Offers::new();
    let b_offers = Offers {
        sent: Rc::default(),
        lose: Rc::default(),
        lost: a_offers.lost.clone(),
    };
    let a_rest = wire_offers(a_events, b.clone(), a_offers.clone());
    let b_rest = wire_offers(b_events, a.clone(), b_offers.clone());
    let side = |pc, events, offers| Side { pc, events, offers };
    (side(a, a_rest, a_offers), side(b, b_rest, b_offers), lost)
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
    let (a, b, _) = tapped_pair(a_initiates, b_initiates);
    (a.pc, a.events, b.pc, b.events)
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

/// Waits for a remote audio track.
async fn wait_for_audio_track(events: &mut UnboundedReceiver<PeerEvent>) {
    loop {
        match events.next().await.expect("event stream ended") {
            PeerEvent::Track { track, .. } if track.kind() == "audio" => return,
            PeerEvent::Error(e) => panic!("peer error: {e}"),
            _ => {}
        }
    }
}

#[wasm_bindgen_test]
async fn simultaneous_offers_are_resolved_by_perfect_negotiation() {
    // Connected as in a room (one side opens), then both add a microphone in the
    // same task: both `negotiationneeded`s fire before either offer arrives, so
    // both make an offer — glare, which the polite side (a) resolves by rolling
    // its offer back for b's.
    //
    // (Glare on the very first offer, both sides opening at once, is not tested:
    // Chromium 156 then sometimes never gathers a candidate for the polite side's
    // answer after rolling back its first offer — ICE stays "new" — and a room
    // never has both sides open. Noted in the README's limitations.)
    let (a, b, _) = tapped_pair(true, false);
    let (a, mut a_events, a_offers) = (a.pc, a.events, a.offers.sent);
    let (b, mut b_events, b_offers) = (b.pc, b.events, b.offers.sent);
    wait_for(&mut a_events, &PeerEvent::ControlOpen).await;
    wait_for(&mut b_events, &PeerEvent::ControlOpen).await;
    let (a_before, b_before) = (a_offers.get(), b_offers.get());

    let a_mic = get_user_media(&MediaRequest::voice_call()).await.unwrap();
    let b_mic = get_user_media(&MediaRequest::voice_call()).await.unwrap();
    let track = |s: &web_sys::MediaStream| -> web_sys::MediaStreamTrack {
        s.get_audio_tracks().get(0).unchecked_into()
    };
    a.set_track(TrackSource::Microphone, Some((&track(&a_mic), &a_mic)))
        .unwrap();
    b.set_track(TrackSource::Microphone, Some((&track(&b_mic), &b_mic)))
        .unwrap();

    // Each side gets the other's microphone, and both did offer.
    wait_for_audio_track(&mut a_events).await;
    wait_for_audio_track(&mut b_events).await;
    assert!(a_offers.get() > a_before, "a made an offer");
    assert!(b_offers.get() > b_before, "b made an offer");

    // The link still carries chat.
    a.send_control("{\"type\":\"chat\"}").unwrap();
    loop {
        if let PeerEvent::ControlMessage(text) = b_events.next().await.unwrap() {
            assert_eq!(text, "{\"type\":\"chat\"}");
            break;
        }
    }
}

/// [`tapped_pair`] (a opening) once both control channels are open.
async fn connected_tapped_pair() -> (Side, Side, UnboundedReceiver<()>) {
    let (mut a, mut b, lost) = tapped_pair(true, false);
    wait_for(&mut a.events, &PeerEvent::ControlOpen).await;
    wait_for(&mut b.events, &PeerEvent::ControlOpen).await;
    (a, b, lost)
}

/// Starts sending a fresh microphone from `peer`.
async fn add_microphone(peer: &PeerConnection) {
    let mic = get_user_media(&MediaRequest::voice_call()).await.unwrap();
    let track: web_sys::MediaStreamTrack = mic.get_audio_tracks().get(0).unchecked_into();
    peer.set_track(TrackSource::Microphone, Some((&track, &mic)))
        .unwrap();
}

/// Runs `work`, failing with `what` (and the signaling states of `a` and `b`)
/// after 20 s.
async fn within_20_s(
    work: impl std::future::Future<Output = ()>,
    what: &str,
    a: &PeerConnection,
    b: &PeerConnection,
) {
    futures_util::pin_mut!(work);
    let limit = gloo_timers::future::TimeoutFuture::new(20_000);
    if let futures_util::future::Either::Right(_) = futures_util::future::select(work, limit).await
    {
        panic!(
            "{what} in 20 s: a is {:?}, b is {:?}",
            a.as_raw().signaling_state(),
            b.as_raw().signaling_state()
        );
    }
}

#[wasm_bindgen_test]
async fn a_lost_offer_is_sent_again_when_the_other_side_offers() {
    // b (impolite) renegotiates and its offer is lost; then a (polite) offers
    // too. b ignores a's offer (glare, it keeps its own), which would leave both
    // waiting for an answer for ever: b sends its offer again instead, a rolls
    // back for it, and both negotiations complete.
    let (mut a, mut b, mut lost) = connected_tapped_pair().await;
    b.offers.lose.set(1);
    add_microphone(&b.pc).await;
    lost.next().await.expect("b's offer was lost");
    add_microphone(&a.pc).await;
    let both = async {
        futures_util::future::join(
            wait_for_audio_track(&mut a.events),
            wait_for_audio_track(&mut b.events),
        )
        .await;
    };
    within_20_s(both, "no microphone arrived", &a.pc, &b.pc).await;
}

#[wasm_bindgen_test]
async fn a_lost_offer_is_sent_again_when_nothing_answers_it() {
    // a adds a microphone and its offer is lost; b has nothing to negotiate, so
    // only a second copy of the offer gets b the microphone.
    let (a, mut b, mut lost) = connected_tapped_pair().await;
    a.offers.lose.set(1);
    add_microphone(&a.pc).await;
    lost.next().await.expect("a's offer was lost");
    let got = wait_for_audio_track(&mut b.events);
    within_20_s(got, "b got no microphone", &a.pc, &b.pc).await;
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
