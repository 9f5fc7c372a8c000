#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod web;

#[cfg(target_arch = "wasm32")]
pub mod js;

#[cfg(all(target_arch = "wasm32", feature = "app"))]
pub mod app;

pub use peerlink_protocol as protocol;
