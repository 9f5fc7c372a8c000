//! The call view: self-view, remote video tiles, mute/camera/screen controls, device
//! pickers, keyboard shortcuts and the speaking indicator.

use super::{
    dom::{self, Dom},
    App,
};
use crate::core::chat::MediaState;
use crate::core::vec_map::VecMap;
use crate::web::media::{self, MediaError, MediaRequest};
use crate::web::stats::PeerStats;
use crate::web::{Error, Room};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, HtmlMediaElement, HtmlVideoElement, MediaStream};

/// Audio level above which a peer counts as speaking.
const SPEAKING_LEVEL: f64 = 0.02;

impl Dom {
    fn tiles_of(&self, peer: &str) -> Vec<Element> {
        let selector = format!(
            "[data-testid=remote-tile][data-peer-id=\"{}\"]",
            css_escape(peer)
        );
        dom::all_matching(&self.videos, &selector)
    }

    pub fn add_remote_stream(&self, peer: &str, name: &str, stream: &MediaStream, screen: bool) {
        let id = stream.id();
        if self
            .tiles_of(peer)
            .iter()
            .any(|t| t.get_attribute("data-stream-id").as_deref() == Some(&id))
        {
            return;
        }
        let (Some(tile), Some(video)) = (self.element("div"), self.element("video")) else {
            return;
        };
        let _ = tile.set_attribute("data-testid", "remote-tile");
        let _ = tile.set_attribute("data-peer-id", peer);
        let _ = tile.set_attribute("data-stream-id", &id);
        let _ = video.set_attribute("data-testid", "remote-video");
        let _ = video.set_attribute("playsinline", "");
        if let Ok(video) = video.clone().dyn_into::<HtmlVideoElement>() {
            video.set_autoplay(true);
            video.set_src_object(Some(stream));
            self.apply_speaker(&video);
        }
        let _ = tile.append_child(&video);
        if let Some(label) = self.span("label", name) {
            let _ = tile.append_child(&label);
        }
        if let Some(badges) = self.span("badges", "") {
            let _ = tile.append_child(&badges);
        }
        if let Some(button) = self.fullscreen_button(name) {
            let _ = tile.append_child(&button);
        }
        let _ = self.videos.append_child(&tile);
        self.classify_tile(&tile, screen, stream);
    }

    fn classify_tile(&self, tile: &Element, screen: bool, stream: &MediaStream) {
        let kind = if screen { "screen" } else { "camera" };
        let _ = tile.set_attribute("data-kind", kind);
        let mut class = String::from("tile");
        if screen {
            class.push_str(" screen");
        }
        if stream.get_video_tracks().length() == 0 {
            class.push_str(" voice-only");
        }
        tile.set_class_name(&class);
    }

    pub fn remove_remote_stream(&self, peer: &str, stream_id: &str) {
        for tile in self.tiles_of(peer) {
            if tile.get_attribute("data-stream-id").as_deref() == Some(stream_id) {
                tile.remove();
            }
        }
    }

    pub fn remove_peer_tiles(&self, peer: &str) {
        for tile in self.tiles_of(peer) {
            tile.remove();
        }
    }

    /// Re-labels a peer's tiles and badges from its announced media state.
    pub fn apply_peer_media(&self, peer: &str, name: &str, state: &MediaState) {
        for tile in self.tiles_of(peer) {
            let stream_id = tile.get_attribute("data-stream-id").unwrap_or_default();
            let screen = state.screen_stream.as_deref() == Some(stream_id.as_str());
            let stream = tile
                .query_selector("video")
                .ok()
                .flatten()
                .and_then(|v| v.dyn_into::<HtmlMediaElement>().ok())
                .and_then(|v| v.src_object());
            if let Some(stream) = stream.and_then(|s| s.dyn_into::<MediaStream>().ok()) {
                self.classify_tile(&tile, screen, &stream);
            }
            if let Ok(Some(label)) = tile.query_selector(".label") {
                let text = if screen {
                    format!("{name} (screen)")
                } else {
                    name.to_owned()
                };
                label.set_text_content(Some(&text));
            }
            if let Ok(Some(badges)) = tile.query_selector(".badges") {
                badges.set_inner_html("");
                if !screen {
                    if !state.mic {
                        self.badge(&badges, "badge-muted", "muted");
                    }
                    if !state.camera {
                        self.badge(&badges, "badge-camera-off", "camera off");
                    }
                }
            }
        }
        if let Some(li) = self.participant(peer) {
            let _ = li.set_attribute("data-mic", if state.mic { "on" } else { "off" });
            let _ = li.set_attribute("data-camera", if state.camera { "on" } else { "off" });
            let _ = li.set_attribute(
                "data-sharing",
                if state.screen_stream.is_some() {
                    "yes"
                } else {
                    "no"
                },
            );
        }
    }

    fn badge(&self, parent: &Element, testid: &str, text: &str) {
        if let Some(b) = self.span("badge", text) {
            let _ = b.set_attribute("data-testid", testid);
            let _ = parent.append_child(&b);
        }
    }

    pub fn set_speaking(&self, peer: &str, speaking: bool) {
        for tile in self.tiles_of(peer) {
            let _ = tile.class_list().toggle_with_force("speaking", speaking);
        }
        if let Some(li) = self.participant(peer) {
            let _ = li.set_attribute("data-speaking", if speaking { "yes" } else { "no" });
        }
    }

    pub fn set_peer_stats(&self, peer: &str, text: &str) {
        let Some(li) = self.participant(peer) else {
            return;
        };
        let existing = li.query_selector(".stats").ok().flatten();
        let el = match existing {
            Some(el) => el,
            None => match self.span("stats", "") {
                Some(el) => {
                    let _ = el.set_attribute("data-testid", "peer-stats");
                    Self::describe_stats(&el);
                    let _ = li.append_child(&el);
                    el
                }
                None => return,
            },
        };
        el.set_text_content(Some(text));
    }

    /// Explains the terse stats line on hover (and to screen readers).
    fn describe_stats(el: &Element) {
        let _ = el.set_attribute(
            "title",
            "Round-trip time to this peer · data received from them · data sent to them · \
             how the connection goes (direct, or relayed through a TURN server)",
        );
    }

    fn apply_speaker(&self, video: &HtmlMediaElement) {
        let sink = self.speaker_select.value();
        if sink.is_empty() {
            return;
        }
        // setSinkId is not in every browser (nor in web-sys' stable set): call it if present.
        if let Ok(f) = js_sys::Reflect::get(video, &JsValue::from_str("setSinkId")) {
            if let Some(f) = f.dyn_ref::<js_sys::Function>() {
                let _ = f.call1(video, &JsValue::from_str(&sink));
            }
        }
    }

    pub fn apply_speaker_all(&self) {
        for video in dom::all_matching(&self.videos, "[data-testid=remote-video]") {
            if let Ok(video) = video.dyn_into::<HtmlMediaElement>() {
                self.apply_speaker(&video);
            }
        }
    }

    pub fn show_media_error(&self, text: Option<&str>) {
        self.media_error.set_hidden(text.is_none());
        self.media_error.set_text_content(text);
    }

    pub fn set_toggle(&self, button: &web_sys::HtmlButtonElement, pressed: bool, label: &str) {
        // Not aria-pressed: the label already changes with the state ("Unmute"), and
        // a screen reader would read a changing label plus "pressed" as a riddle.
        let _ = button.set_attribute("data-pressed", if pressed { "true" } else { "false" });
        button.set_text_content(Some(label));
    }

    /// Lists the devices in the pickers. A picker works only for what we capture
    /// (`camera`, `mic`): otherwise, or with nothing to list, it is disabled.
    pub fn fill_devices(&self, devices: &[media::DeviceInfo], camera: bool, mic: bool) {
        for (select, kind, usable) in [
            (&self.camera_select, "videoinput", camera),
            (&self.mic_select, "audioinput", mic),
            (&self.speaker_select, "audiooutput", true),
        ] {
            let current = select.value();
            select.set_inner_html("");
            let found = devices.iter().filter(|d| d.kind == kind).count();
            select.set_disabled(!usable || found == 0);
            for (i, d) in devices.iter().filter(|d| d.kind == kind).enumerate() {
                if let Some(opt) = self.element("option") {
                    let _ = opt.set_attribute("value", &d.device_id);
                    let label = if d.label.is_empty() {
                        format!("{} {}", kind, i + 1)
                    } else {
                        d.label.clone()
                    };
                    opt.set_text_content(Some(&label));
                    let _ = select.append_child(&opt);
                }
            }
            if !current.is_empty() {
                select.set_value(&current);
            }
        }
    }
}

/// The ICE candidate type of a connection, in words a user can act on.
fn link_kind(candidate_type: &str) -> &'static str {
    match candidate_type {
        "host" => "direct (local network)",
        "srflx" | "prflx" => "direct (through NAT)",
        "relay" => "relayed (TURN)",
        _ => "–",
    }
}

/// What the page says about a failed capture: the library's text as a sentence
/// and, for a denial, how to undo it (the browser remembers a "Block").
pub(super) fn media_error_text(e: &Error) -> String {
    let text = e.to_string();
    let mut chars = text.chars();
    let sentence = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    };
    match e {
        Error::Media(MediaError::PermissionDenied) => format!(
            "{sentence}. Allow it for this site in the browser (the icon beside the address), \
             then press Start video, Voice only or Share screen again."
        ),
        _ => sentence,
    }
}

/// Escapes a value for use inside a double-quoted CSS attribute selector.
fn css_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

impl App {
    pub(super) fn current_room(&self) -> Option<Room> {
        self.room.borrow().clone()
    }

    /// Starts camera+mic (`video`) or mic only, showing errors without leaving.
    pub(super) fn start_media(self: &Rc<Self>, video: bool) {
        let Some(room) = self.current_room() else {
            return;
        };
        // Switching between video and voice captures anew; the room keeps a muted
        // microphone muted (the buttons show its state, see `show_local_media`).
        let app = self.clone();
        spawn_local(async move {
            let request = if video {
                MediaRequest::video_call()
            } else {
                MediaRequest::voice_call()
            };
            match room.start_media(&request).await {
                Ok(stream) => app.show_local_media(&stream, video),
                Err(e) => app.dom.show_media_error(Some(&media_error_text(&e))),
            }
        });
    }

    /// Shows our own camera/microphone stream and enables the controls for it.
    pub(super) fn show_local_media(self: &Rc<Self>, stream: &MediaStream, video: bool) {
        let d = &self.dom;
        d.show_media_error(None);
        d.local_video.set_src_object(Some(stream));
        d.local_tile.set_hidden(false);
        let _ = d
            .local_tile
            .class_list()
            .toggle_with_force("voice-only", !video);
        d.toggle_mic.set_disabled(false);
        d.toggle_camera.set_disabled(!video);
        // Pressing the mode already in use would only capture it all over again.
        d.start_video.set_disabled(video);
        d.start_voice.set_disabled(!video);
        // As the room has them: a new capture keeps a muted mic muted.
        let (mic, camera) = self
            .current_room()
            .map(|r| {
                let state = r.media_state();
                (state.mic, state.camera)
            })
            .unwrap_or((true, video));
        d.set_toggle(&d.toggle_mic, !mic, if mic { "Mute" } else { "Unmute" });
        let camera_off = video && !camera;
        let label = if camera_off {
            "Camera on"
        } else {
            "Camera off"
        };
        d.set_toggle(&d.toggle_camera, camera_off, label);
        self.refresh_local_badges();
        self.refresh_devices();
    }

    /// The self-view carries the same "muted" / "camera off" badges the others
    /// see on our tile: a black self-view alone does not say why it is black,
    /// and nothing in it said the microphone was off.
    fn refresh_local_badges(&self) {
        let d = &self.dom;
        d.local_badges.set_inner_html("");
        let Some(room) = self.current_room() else {
            return;
        };
        let Some(stream) = room.local_stream() else {
            return;
        };
        let state = room.media_state();
        if stream.get_audio_tracks().length() > 0 && !state.mic {
            d.badge(&d.local_badges, "local-badge-muted", "muted");
        }
        if stream.get_video_tracks().length() > 0 && !state.camera {
            d.badge(&d.local_badges, "local-badge-camera-off", "camera off");
        }
    }

    pub(super) fn toggle_mic(&self) {
        let Some(room) = self.current_room() else {
            return;
        };
        let on = !room.media_state().mic;
        if room.set_mic_enabled(on) {
            self.dom.set_toggle(
                &self.dom.toggle_mic,
                !on,
                if on { "Mute" } else { "Unmute" },
            );
            self.refresh_local_badges();
        }
    }

    pub(super) fn toggle_camera(&self) {
        let Some(room) = self.current_room() else {
            return;
        };
        let on = !room.media_state().camera;
        if room.set_camera_enabled(on) {
            let label = if on { "Camera off" } else { "Camera on" };
            self.dom.set_toggle(&self.dom.toggle_camera, !on, label);
            self.refresh_local_badges();
        }
    }

    pub(super) fn toggle_screen(self: &Rc<Self>) {
        let Some(room) = self.current_room() else {
            return;
        };
        let app = self.clone();
        spawn_local(async move {
            if room.media_state().screen_stream.is_some() {
                room.stop_screen_share().await;
                return;
            }
            match room.start_screen_share().await {
                Ok(stream) => {
                    let d = &app.dom;
                    d.show_media_error(None);
                    d.local_screen.set_src_object(Some(&stream));
                    d.local_screen_tile.set_hidden(false);
                    d.set_toggle(&d.toggle_screen, true, "Stop sharing");
                }
                Err(e) => app.dom.show_media_error(Some(&media_error_text(&e))),
            }
        });
    }

    pub(super) fn screen_share_ended(&self) {
        let d = &self.dom;
        d.local_screen.set_src_object(None);
        d.local_screen_tile.set_hidden(true);
        d.set_toggle(&d.toggle_screen, false, "Share screen");
    }

    pub(super) fn switch_device(self: &Rc<Self>, video: bool) {
        let Some(room) = self.current_room() else {
            return;
        };
        let id = if video {
            self.dom.camera_select.value()
        } else {
            self.dom.mic_select.value()
        };
        if id.is_empty() {
            return;
        }
        let app = self.clone();
        spawn_local(async move {
            if let Err(e) = room.switch_device(video, &id).await {
                app.dom.show_media_error(Some(&media_error_text(&e)));
            }
        });
    }

    pub(super) fn refresh_devices(self: &Rc<Self>) {
        let app = self.clone();
        spawn_local(async move {
            if let Ok(devices) = media::enumerate_devices().await {
                let local = app.current_room().and_then(|r| r.local_stream());
                let (camera, mic) = local.map_or((false, false), |s| {
                    (
                        s.get_video_tracks().length() > 0,
                        s.get_audio_tracks().length() > 0,
                    )
                });
                app.dom.fill_devices(&devices, camera, mic);
            }
        });
    }

    /// Re-classifies `peer`'s tiles: a peer's video often arrives after its audio
    /// (and a voice-only peer may start its camera later, or stop it), so a tile
    /// must follow its stream's tracks, or a camera stays hidden behind the
    /// "voice-only" look.
    pub(super) fn refresh_peer_tiles(&self, peer: &str) {
        let state = self
            .current_room()
            .and_then(|r| r.peer_media(peer))
            .unwrap_or_default();
        self.dom
            .apply_peer_media(peer, &self.peer_name(peer), &state);
    }

    pub(super) fn peer_name(&self, peer: &str) -> String {
        self.dom
            .participant(peer)
            .and_then(|li| li.get_attribute("data-name"))
            .unwrap_or_else(|| "peer".into())
    }

    /// Polls every peer's stats once a second: speaking indicator and stats line.
    pub(super) fn poll_stats(self: &Rc<Self>, session: u32) {
        let app = self.clone();
        spawn_local(async move {
            // Each peer's previous sample: speaking is the level over the last
            // second, not at one instant (a beep or a word between two samples
            // counts; the pauses of a sound that repeats every second do not hide it).
            let mut previous: VecMap<String, PeerStats> = VecMap::default();
            loop {
                let mut latest = VecMap::default();
                gloo_timers::future::TimeoutFuture::new(1000).await;
                if app.session.get() != session {
                    return;
                }
                let Some(room) = app.current_room() else {
                    return;
                };
                for peer in room.peers() {
                    let Ok(stats) = room.stats(&peer.id).await else {
                        continue;
                    };
                    let level = match previous.get(&peer.id) {
                        Some(earlier) => stats.audio_level_since(earlier),
                        None => stats.audio_level,
                    };
                    let speaking = level.is_some_and(|l| l > SPEAKING_LEVEL);
                    app.dom.set_speaking(&peer.id, speaking);
                    let rtt = stats
                        .rtt_ms
                        .map(|r| format!("RTT {r:.0} ms"))
                        .unwrap_or_else(|| "RTT –".into());
                    let path = stats.local_candidate_type.as_deref().map_or("–", link_kind);
                    let text = format!(
                        "{rtt} · ↓ {:.1} MB · ↑ {:.1} MB · {path}",
                        stats.bytes_received / 1e6,
                        stats.bytes_sent / 1e6
                    );
                    app.dom.set_peer_stats(&peer.id, &text);
                    latest.insert(peer.id, stats);
                }
                previous = latest;
            }
        });
    }
}
