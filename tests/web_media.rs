//! wasm-bindgen-test in headless Chromium with fake devices: media through the library,
//! and replaceTrack on a loopback pair.
#![cfg(target_arch = "wasm32")]

use futures_channel::mpsc::UnboundedReceiver;
use futures_util::StreamExt;
use peerlink::protocol::SignalPayload;
use peerlink::web::media::{
    enumerate_devices, get_display_media, get_user_media, MediaError, MediaRequest,
};
use peerlink::web::{PeerConfig, PeerConnection, PeerEvent, TrackSource};
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use wasm_bindgen_test::*;
use web_sys::MediaStreamTrack;

wasm_bindgen_test_configure!(run_in_browser);

/// Wires `from`'s signals into `to`, counting SDP descriptions; other events go out.
fn wire(
    mut from: UnboundedReceiver<PeerEvent>,
    to: Rc<PeerConnection>,
    descriptions: Rc<Cell<u32>>,
) -> UnboundedReceiver<PeerEvent> {
    let (tx, rx) = futures_channel::mpsc::unbounded();
    spawn_local(async move {
        while let Some(event) = from.next().await {
            match event {
                PeerEvent::Signal(payload) => {
                    if matches!(payload, SignalPayload::Description { .. }) {
                        descriptions.set(descriptions.get() + 1);
                    }
                    to.handle_signal(payload)
                }
                other => {
                    let _ = tx.unbounded_send(other);
                }
            }
        }
    });
    rx
}

/// Resolves once `pc.signalingState` is "stable" (no negotiation in flight).
async fn wait_stable(pc: &web_sys::RtcPeerConnection) {
    while pc.signaling_state() != web_sys::RtcSignalingState::Stable {
        let (tx, rx) = futures_channel::oneshot::channel::<()>();
        let mut tx = Some(tx);
        let _listener = gloo_events::EventListener::new(pc, "signalingstatechange", move |_| {
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        });
        let _ = rx.await;
    }
}

fn first_video(stream: &web_sys::MediaStream) -> MediaStreamTrack {
    stream.get_video_tracks().get(0).unchecked_into()
}

#[wasm_bindgen_test]
async fn voice_request_gives_audio_only() {
    let stream = get_user_media(&MediaRequest::voice_call()).await.unwrap();
    assert_eq!(stream.get_audio_tracks().length(), 1);
    assert_eq!(stream.get_video_tracks().length(), 0);
    let devices = enumerate_devices().await.unwrap();
    assert!(devices.iter().any(|d| d.kind == "videoinput"));
    assert!(devices.iter().any(|d| d.kind == "audioinput"));
}

#[wasm_bindgen_test]
async fn replace_track_keeps_the_sender_and_does_not_renegotiate() {
    let descriptions = Rc::new(Cell::new(0));
    let (a, a_events) = PeerConnection::new(&PeerConfig {
        polite: true,
        initiator: true,
        ..Default::default()
    })
    .unwrap();
    let (b, b_events) = PeerConnection::new(&PeerConfig::default()).unwrap();
    let (a, b) = (Rc::new(a), Rc::new(b));
    let _a_rest = wire(a_events, b.clone(), descriptions.clone());
    let mut b_rest = wire(b_events, a.clone(), descriptions.clone());

    let first = get_user_media(&MediaRequest::video_call()).await.unwrap();
    let track1 = first_video(&first);
    assert!(a
        .set_track(TrackSource::Camera, Some((&track1, &first)))
        .unwrap()
        .is_none());
    let remote_track = loop {
        match b_rest.next().await.unwrap() {
            PeerEvent::Track { track, stream } => {
                assert_eq!(stream.map(|s| s.id()), Some(first.id()));
                break track;
            }
            PeerEvent::Error(e) => panic!("{e}"),
            _ => {}
        }
    };
    assert_eq!(remote_track.kind(), "video");
    // Let the connection settle, then swap the camera.
    while !b.control_open() {
        b_rest.next().await.unwrap();
    }
    wait_stable(a.as_raw()).await;
    wait_stable(b.as_raw()).await;
    let sender = a.sender(TrackSource::Camera).expect("a camera sender");
    let negotiated = descriptions.get();

    let second = get_user_media(&MediaRequest::video_call()).await.unwrap();
    let track2 = first_video(&second);
    assert_ne!(track1.id(), track2.id());
    let promise = a
        .set_track(TrackSource::Camera, Some((&track2, &first)))
        .unwrap()
        .expect("an existing sender is swapped with replaceTrack");
    JsFuture::from(promise).await.unwrap();

    let after = a.sender(TrackSource::Camera).unwrap();
    assert!(after == sender, "the same RTCRtpSender is kept");
    assert_eq!(after.track().map(|t| t.id()), Some(track2.id()));
    assert_eq!(descriptions.get(), negotiated, "no new offer/answer");
}

#[wasm_bindgen_test]
async fn fake_screen_capture_has_its_own_size() {
    let screen = match get_display_media(false).await {
        Ok(screen) => screen,
        // Firefox allows screen capture only from a click or key press, which a
        // test page cannot make; what matters there is the typed error. (The
        // e2e suite shares screens in Chromium through the page's button.)
        Err(MediaError::NeedsUserGesture) if is_firefox() => return,
        Err(e) => panic!("getDisplayMedia failed: {e:?}"),
    };
    let settings = first_video(&screen).get_settings();
    let camera = get_user_media(&MediaRequest::video_call()).await.unwrap();
    let cam = first_video(&camera).get_settings();
    assert!(settings.get_width().unwrap_or(0) > 0);
    assert_ne!(
        (settings.get_width(), settings.get_height()),
        (cam.get_width(), cam.get_height())
    );
}

fn is_firefox() -> bool {
    web_sys::window()
        .and_then(|w| w.navigator().user_agent().ok())
        .is_some_and(|ua| ua.contains("Firefox/"))
}
