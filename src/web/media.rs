//! Local media: camera and microphone (getUserMedia), screen (getDisplayMedia) and
//! device lists (enumerateDevices), with typed errors.
//!
//! See <https://developer.mozilla.org/en-US/docs/Web/API/MediaDevices>.

use super::JsError;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MediaDeviceInfo, MediaDeviceKind, MediaDevices, MediaStream, MediaStreamConstraints,
};

/// Why local media could not be obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The user or browser policy denied access (`NotAllowedError`).
    #[error("permission to use the camera, microphone or screen was denied")]
    PermissionDenied,
    /// No device matches (`NotFoundError`, `OverconstrainedError`): what was asked
    /// for (see [`CAMERA_OR_MIC`], [`SCREEN`]) and the browser's message.
    #[error("no matching {what} was found: {message}")]
    NoDevice { what: &'static str, message: String },
    /// The device exists but cannot be opened (`NotReadableError`, `AbortError`).
    #[error("the device is in use by another program or could not be started: {0}")]
    DeviceInUse(String),
    /// Screen capture was not started from a click or key press: Firefox and Safari
    /// allow getDisplayMedia only with transient user activation.
    #[error("screen sharing must be started from a click or key press")]
    NeedsUserGesture,
    /// Media capture exists only in secure contexts (https or localhost).
    #[error("camera, microphone and screen sharing need a secure page (https:// or localhost)")]
    InsecureContext,
    #[error(transparent)]
    Other(JsError),
}

/// Whether `text` contains `word`, by the browser's `String.prototype.includes`:
/// `str::contains` would bring Rust's substring search (~3 KB of Wasm) for this
/// one error path.
fn mentions(text: &str, word: &str) -> bool {
    js_sys::JsString::from(text).includes(word, 0)
}

/// What [`MediaError::NoDevice`] says getUserMedia found none of.
pub const CAMERA_OR_MIC: &str = "camera or microphone";
/// What [`MediaError::NoDevice`] says getDisplayMedia found none of.
pub const SCREEN: &str = "screen, window or tab to share";

impl MediaError {
    /// Maps a getUserMedia rejection by its DOMException name.
    pub fn from_js(error: JsError) -> Self {
        Self::from_js_for(CAMERA_OR_MIC, error)
    }

    /// Maps a rejection of a request for `what` (e.g. [`SCREEN`]) by its
    /// DOMException name.
    pub fn from_js_for(what: &'static str, error: JsError) -> Self {
        match error.name.as_str() {
            "NotAllowedError" | "SecurityError" => Self::PermissionDenied,
            "NotFoundError" | "OverconstrainedError" => Self::NoDevice {
                what,
                message: error.message,
            },
            "NotReadableError" | "AbortError" => Self::DeviceInUse(error.message),
            // Firefox: InvalidStateError "...requires transient activation...";
            // Safari: InvalidAccessError "...must be called from a user gesture...".
            "InvalidStateError" | "InvalidAccessError"
                if mentions(&error.message, "activation")
                    || mentions(&error.message, "gesture") =>
            {
                Self::NeedsUserGesture
            }
            _ => Self::Other(error),
        }
    }

    /// A short stable name, e.g. `"PermissionDenied"` (used as the JS error name).
    pub fn name(&self) -> &'static str {
        match self {
            Self::PermissionDenied => "PermissionDenied",
            Self::NoDevice { .. } => "NoDevice",
            Self::DeviceInUse(_) => "DeviceInUse",
            Self::NeedsUserGesture => "NeedsUserGesture",
            Self::InsecureContext => "InsecureContext",
            Self::Other(_) => "MediaError",
        }
    }
}

/// Video capture settings; `None` leaves the choice to the browser.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VideoRequest {
    pub device_id: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frame_rate: Option<f64>,
}

impl VideoRequest {
    /// 640×480 at up to 30 fps ideally: the default for calls. In a mesh every
    /// participant encodes once per peer, and WebRTC's encoder starts from a low
    /// bandwidth estimate (a larger picture is first dropped and scaled down), so a
    /// modest size starts faster and scales to more peers.
    pub fn call_default() -> Self {
        Self {
            device_id: None,
            width: Some(640),
            height: Some(480),
            frame_rate: Some(30.0),
        }
    }
}

/// What to capture from camera and microphone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaRequest {
    /// Capture audio; `Some(id)` picks a microphone.
    pub audio: Option<Option<String>>,
    /// Capture video with these settings.
    pub video: Option<VideoRequest>,
}

impl MediaRequest {
    /// Microphone and camera with default settings (a video call).
    pub fn video_call() -> Self {
        Self {
            audio: Some(None),
            video: Some(VideoRequest::call_default()),
        }
    }

    /// Microphone only (a voice call).
    pub fn voice_call() -> Self {
        Self {
            audio: Some(None),
            video: None,
        }
    }
}

#[derive(Serialize)]
struct Ideal<T: Serialize> {
    ideal: T,
}

#[derive(Serialize)]
struct Exact<'a> {
    exact: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrackConstraints<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<Exact<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<Ideal<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<Ideal<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame_rate: Option<Ideal<f64>>,
}

fn audio_constraints(audio: &Option<Option<String>>) -> Result<JsValue, MediaError> {
    match audio {
        None => Ok(JsValue::FALSE),
        Some(None) => Ok(JsValue::TRUE),
        Some(Some(id)) => to_js(&TrackConstraints {
            device_id: Some(Exact { exact: id }),
            width: None,
            height: None,
            frame_rate: None,
        }),
    }
}

fn video_constraints(video: &Option<VideoRequest>) -> Result<JsValue, MediaError> {
    match video {
        None => Ok(JsValue::FALSE),
        Some(v) => to_js(&TrackConstraints {
            device_id: v.device_id.as_deref().map(|exact| Exact { exact }),
            width: v.width.map(|ideal| Ideal { ideal }),
            height: v.height.map(|ideal| Ideal { ideal }),
            frame_rate: v.frame_rate.map(|ideal| Ideal { ideal }),
        }),
    }
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, MediaError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| {
            MediaError::Other(JsError {
                name: "TypeError".into(),
                message: e.to_string(),
            })
        })
}

fn media_devices() -> Result<MediaDevices, MediaError> {
    let window = web_sys::window().ok_or(MediaError::InsecureContext)?;
    if !window.is_secure_context() {
        return Err(MediaError::InsecureContext);
    }
    window
        .navigator()
        .media_devices()
        .ok()
        .filter(|d| !d.is_undefined())
        .ok_or(MediaError::InsecureContext)
}

async fn await_stream(
    what: &'static str,
    promise: Result<js_sys::Promise, JsValue>,
) -> Result<MediaStream, MediaError> {
    let promise = promise.map_err(|e| MediaError::from_js_for(what, e.into()))?;
    let stream = JsFuture::from(promise)
        .await
        .map_err(|e| MediaError::from_js_for(what, e.into()))?;
    stream
        .dyn_into::<MediaStream>()
        .map_err(|v| MediaError::Other(v.into()))
}

/// Asks for the camera and/or microphone.
pub async fn get_user_media(request: &MediaRequest) -> Result<MediaStream, MediaError> {
    let devices = media_devices()?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio(&audio_constraints(&request.audio)?);
    constraints.set_video(&video_constraints(&request.video)?);
    await_stream(
        CAMERA_OR_MIC,
        devices.get_user_media_with_constraints(&constraints),
    )
    .await
}

/// Asks to capture a screen, window or tab, with its audio when the browser offers it.
pub async fn get_display_media(with_audio: bool) -> Result<MediaStream, MediaError> {
    let devices = media_devices()?;
    let constraints = web_sys::DisplayMediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    constraints.set_audio(&JsValue::from_bool(with_audio));
    await_stream(
        SCREEN,
        devices.get_display_media_with_constraints(&constraints),
    )
    .await
}

/// A camera, microphone or speaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    pub device_id: String,
    /// `"audioinput"`, `"videoinput"` or `"audiooutput"`.
    pub kind: String,
    /// Empty until the page has been granted media permission.
    pub label: String,
}

/// Lists media devices.
pub async fn enumerate_devices() -> Result<Vec<DeviceInfo>, MediaError> {
    let devices = media_devices()?;
    let promise = devices
        .enumerate_devices()
        .map_err(|e| MediaError::from_js(e.into()))?;
    let list = JsFuture::from(promise)
        .await
        .map_err(|e| MediaError::from_js(e.into()))?;
    let list: js_sys::Array = list.unchecked_into();
    Ok(list
        .iter()
        .filter_map(|d| d.dyn_into::<MediaDeviceInfo>().ok())
        .map(|d| DeviceInfo {
            kind: match d.kind() {
                MediaDeviceKind::Audioinput => "audioinput",
                MediaDeviceKind::Videoinput => "videoinput",
                MediaDeviceKind::Audiooutput => "audiooutput",
                _ => "unknown",
            }
            .into(),
            device_id: d.device_id(),
            label: d.label(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn js_error(name: &str, message: &str) -> JsError {
        JsError {
            name: name.into(),
            message: message.into(),
        }
    }

    #[wasm_bindgen_test]
    fn maps_rejections_by_name_and_message() {
        let firefox = js_error(
            "InvalidStateError",
            "getDisplayMedia requires transient activation from a user gesture.",
        );
        let safari = js_error(
            "InvalidAccessError",
            "getDisplayMedia must be called from a user gesture handler.",
        );
        for error in [firefox, safari] {
            assert_eq!(MediaError::from_js(error), MediaError::NeedsUserGesture);
        }
        let other = js_error("InvalidStateError", "the track ended");
        assert_eq!(MediaError::from_js(other.clone()), MediaError::Other(other));
        assert_eq!(
            MediaError::from_js(js_error("NotAllowedError", "denied")),
            MediaError::PermissionDenied
        );
        // Firefox without a screen to share: not a camera or microphone problem.
        let none = js_error("NotFoundError", "The object can not be found here.");
        assert_eq!(
            MediaError::from_js_for(SCREEN, none.clone()).to_string(),
            "no matching screen, window or tab to share was found: The object can not be found here."
        );
        assert_eq!(
            MediaError::from_js(none).to_string(),
            "no matching camera or microphone was found: The object can not be found here."
        );
    }
}
