//! Pure Rust, no web-sys: the protocols and state machines behind peerlink.
//!
//! Nothing here does I/O or reads a clock; time is passed in as milliseconds. Everything
//! is unit-tested natively with `cargo test`. The one browser-dependent part is
//! [`json`]'s wasm32 codec (the browser's `JSON`), tested in both places.

pub mod chat;
pub mod json;
pub mod negotiation;
pub mod transfer;
pub mod vec_map;
pub mod zip;
