//! Browser glue (wasm32 only): the signaling socket, RTCPeerConnection with perfect
//! negotiation, data channels, and the [`Room`] that ties them together.
//!
//! Every JS callback is owned by a `gloo_events::EventListener` stored next to the
//! object it listens to, so dropping a [`Room`] or a [`PeerConnection`] unregisters
//! everything and closes the underlying browser objects.

pub mod drop;
mod error;
pub(crate) mod files;
mod hash_worker;
pub mod media;
mod peer;
mod room;
mod segment_writer;
mod signaling;
pub mod stats;
pub mod store;

pub use error::{Error, JsError};
pub use files::PeerFiles;
pub(crate) use files::SEGMENT_BYTES;
pub use hash_worker::{hashing_off_main_thread, set_hashing_backlog_limit};
pub use peer::{
    generate_certificate, ConnectionState, PeerConfig, PeerConnection, PeerEvent, TrackSource,
};
pub use room::{JoinOptions, PeerSnapshot, Room, RoomEvent, RoomEvents};
pub use signaling::{ClientMessage, ServerMessage, SignalData, Signaling, SignalingEvent};

/// 128 random bits from `crypto.getRandomValues`, as 32 lower-case hex digits (a
/// resume token: of a room membership, or of a file offer).
pub(crate) fn random_token() -> Result<String, Error> {
    let crypto = web_sys::window()
        .ok_or_else(|| Error::InvalidInput("no window".into()))?
        .crypto()?;
    let mut bytes = [0u8; 16];
    crypto.get_random_values_with_u8_array(&mut bytes)?;
    Ok(crate::core::transfer::resume_token_from_bytes(&bytes))
}

/// A `blob:` URL of the JavaScript `source`, to start a worker from (revoke it
/// once the worker has its script).
pub(crate) fn script_url(source: &str) -> Result<String, Error> {
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(
        &js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(source)),
        &options,
    )?;
    Ok(web_sys::Url::create_object_url_with_blob(&blob)?)
}

/// Wall-clock time in ms since the Unix epoch.
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}
