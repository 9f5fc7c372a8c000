//! Browser glue (wasm32 only): the signaling socket, RTCPeerConnection with perfect
//! negotiation, data channels, and the [`Room`] that ties them together.
//!
//! Every JS callback is owned by a `gloo_events::EventListener` stored next to the
//! object it listens to, so dropping a [`Room`] or a [`PeerConnection`] unregisters
//! everything and closes the underlying browser objects.

pub mod drop;
mod error;
mod files;
pub mod media;
mod peer;
mod room;
mod signaling;
pub mod stats;
pub mod store;

pub use error::{Error, JsError};
pub use files::PeerFiles;
pub use peer::{
    generate_certificate, ConnectionState, PeerConfig, PeerConnection, PeerEvent, TrackSource,
};
pub use room::{JoinOptions, PeerSnapshot, Room, RoomEvent, RoomEvents};
pub use signaling::{Signaling, SignalingEvent};

/// Wall-clock time in ms since the Unix epoch.
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}
