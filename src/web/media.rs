//! Local media: getUserMedia with typed errors.
//!
//! See <https://developer.mozilla.org/en-US/docs/Web/API/MediaDevices/getUserMedia>.

use super::JsError;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaStream, MediaStreamConstraints};

/// Why local media could not be obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The user or browser policy denied access (`NotAllowedError`).
    #[error("permission to use the camera or microphone was denied")]
    PermissionDenied,
    /// No camera/microphone matches (`NotFoundError`, `OverconstrainedError`).
    #[error("no camera or microphone was found: {0}")]
    NoDevice(String),
    /// The device exists but cannot be opened (`NotReadableError`, `AbortError`).
    #[error("the camera or microphone is in use by another program: {0}")]
    DeviceInUse(String),
    /// getUserMedia exists only in secure contexts (https or localhost).
    #[error("camera and microphone need a secure page (https:// or localhost)")]
    InsecureContext,
    #[error(transparent)]
    Other(JsError),
}

impl MediaError {
    /// Maps a getUserMedia/getDisplayMedia rejection by its DOMException name.
    pub fn from_js(error: JsError) -> Self {
        match error.name.as_str() {
            "NotAllowedError" | "SecurityError" => Self::PermissionDenied,
            "NotFoundError" | "OverconstrainedError" => Self::NoDevice(error.message),
            "NotReadableError" | "AbortError" => Self::DeviceInUse(error.message),
            _ => Self::Other(error),
        }
    }
}

/// What to capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaRequest {
    pub audio: bool,
    pub video: bool,
}

/// Asks for the camera and/or microphone.
pub async fn get_user_media(request: MediaRequest) -> Result<MediaStream, MediaError> {
    let window = web_sys::window().ok_or(MediaError::InsecureContext)?;
    if !window.is_secure_context() {
        return Err(MediaError::InsecureContext);
    }
    let devices = window
        .navigator()
        .media_devices()
        .map_err(|_| MediaError::InsecureContext)?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio(&request.audio.into());
    constraints.set_video(&request.video.into());
    let promise = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|e| MediaError::from_js(e.into()))?;
    let stream = JsFuture::from(promise)
        .await
        .map_err(|e| MediaError::from_js(e.into()))?;
    stream
        .dyn_into::<MediaStream>()
        .map_err(|v| MediaError::Other(v.into()))
}
