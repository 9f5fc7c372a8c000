//! Typed errors for the browser glue.

use peerlink_protocol::ErrorCode;
use wasm_bindgen::{JsCast, JsValue};

/// A JavaScript exception or rejection, reduced to its `name` and `message`
/// (e.g. `NotAllowedError` / `Permission denied`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct JsError {
    pub name: String,
    pub message: String,
}

impl From<JsValue> for JsError {
    fn from(value: JsValue) -> Self {
        if let Some(err) = value.dyn_ref::<js_sys::Error>() {
            // DOMException is an Error in every current browser.
            return JsError {
                name: String::from(err.name()),
                message: String::from(err.message()),
            };
        }
        if let Some(text) = value.as_string() {
            return JsError {
                name: "Error".into(),
                message: text,
            };
        }
        JsError {
            name: "Error".into(),
            message: format!("{value:?}"),
        }
    }
}

/// Everything the browser glue can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The WebSocket to the signaling server could not be opened.
    #[error("cannot reach the signaling server at {url}")]
    SignalingUnreachable { url: String },
    /// The signaling server closed the connection.
    #[error("the signaling server closed the connection: {reason}")]
    SignalingClosed { reason: String },
    /// The signaling server refused a request (room full, wrong password, ...).
    #[error("the signaling server refused: {message} ({code})")]
    Rejected { code: ErrorCode, message: String },
    /// The caller passed something unusable (empty chat message, bad URL, ...).
    #[error("{0}")]
    InvalidInput(String),
    /// A peer sent something that breaks the protocol; only that peer is affected.
    #[error("peer {peer} sent an invalid message: {reason}")]
    BadPeerMessage { peer: String, reason: String },
    /// Camera, microphone or screen capture failed.
    #[error(transparent)]
    Media(#[from] super::media::MediaError),
    /// A file transfer request was refused (unknown transfer, wrong state, ...).
    #[error(transparent)]
    Transfer(#[from] crate::core::transfer::TransferError),
    /// Any other JavaScript error.
    #[error(transparent)]
    Js(#[from] JsError),
}

impl From<JsValue> for Error {
    fn from(value: JsValue) -> Self {
        Error::Js(JsError::from(value))
    }
}
