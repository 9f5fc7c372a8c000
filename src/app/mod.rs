//! The page (cargo feature `app`): join form, participant list and chat, built with
//! plain web-sys DOM calls on top of the public [`crate::web::Room`] API — the same
//! API the npm package wraps. All user-supplied text is set with `textContent`,
//! never parsed as HTML.

mod call;
mod dom;
mod files;
mod fullscreen;
mod resend;
mod save;
mod stored;
mod unread;
mod zip;

use crate::web::media::MediaRequest;
use crate::web::{Error, JoinOptions, Room, RoomEvent, RoomEvents};
use dom::Dom;
use gloo_events::{EventListener, EventListenerOptions};
use peerlink_protocol::PeerInfo;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;

const NAME_KEY: &str = "peerlink-name";

/// Entry point: wires the page up once the Wasm module is loaded.
#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    let dom = Dom::find()?;
    let app = Rc::new(App {
        dom,
        room: RefCell::new(None),
        session: Cell::new(0),
        present_at_join: RefCell::new(Vec::new()),
        unread: Cell::new(0),
    });
    app.init();
    Ok(())
}

struct App {
    dom: Dom,
    room: RefCell<Option<Room>>,
    /// Bumped on every join/leave so loops of an old session stop.
    session: Cell<u32>,
    /// Peers that were in the room when we joined and are not announced yet: the
    /// room reports them as joining too, but they were there first.
    present_at_join: RefCell<Vec<String>>,
    /// Chat messages and file offers that arrived while the page was hidden.
    unread: Cell<u32>,
}

impl App {
    fn init(self: &Rc<Self>) {
        let d = &self.dom;
        if let Some(room) = dom::query_param("room") {
            d.room_input.set_value(&room);
        }
        if let Some(name) = dom::local_storage_get(NAME_KEY) {
            d.name_input.set_value(&name);
        }
        d.set_status("idle", "Not connected. Pick a room and a name to join.");
        d.show_reload_interrupted();
        d.show_stored_downloads();

        let prevent = EventListenerOptions::enable_prevent_default();
        // These listeners belong to the page itself and must live as long as it does,
        // so they are deliberately leaked with forget().
        let app = self.clone();
        EventListener::new_with_options(&d.join_form, "submit", prevent, move |event| {
            event.prevent_default();
            app.clone().join();
        })
        .forget();
        let app = self.clone();
        EventListener::new_with_options(&d.chat_form, "submit", prevent, move |event| {
            event.prevent_default();
            app.send_chat();
        })
        .forget();
        let app = self.clone();
        EventListener::new(&d.leave_button, "click", move |_| app.leave()).forget();
        let app = self.clone();
        EventListener::new(&d.start_video, "click", move |_| app.start_media(true)).forget();
        let app = self.clone();
        EventListener::new(&d.start_voice, "click", move |_| app.start_media(false)).forget();
        let app = self.clone();
        EventListener::new(&d.toggle_mic, "click", move |_| app.toggle_mic()).forget();
        let app = self.clone();
        EventListener::new(&d.toggle_camera, "click", move |_| app.toggle_camera()).forget();
        let app = self.clone();
        EventListener::new(&d.toggle_screen, "click", move |_| app.toggle_screen()).forget();
        let app = self.clone();
        EventListener::new(&d.camera_select, "change", move |_| app.switch_device(true)).forget();
        let app = self.clone();
        EventListener::new(&d.mic_select, "change", move |_| app.switch_device(false)).forget();
        let app = self.clone();
        EventListener::new(&d.speaker_select, "change", move |_| {
            app.dom.apply_speaker_all()
        })
        .forget();
        // navigator.mediaDevices is undefined outside secure contexts (plain http on
        // a LAN address): files and chat must still work there.
        let devices = web_sys::window()
            .and_then(|w| w.navigator().media_devices().ok())
            .filter(|d| !d.is_undefined());
        if let Some(devices) = devices {
            let app = self.clone();
            EventListener::new(&devices, "devicechange", move |_| app.refresh_devices()).forget();
        }
        let app = self.clone();
        EventListener::new(&d.doc, "keydown", move |event| app.shortcut(event)).forget();
        let app = self.clone();
        EventListener::new(&d.videos, "click", move |e| app.dom.videos_click(e)).forget();
        let app = self.clone();
        EventListener::new(&d.videos, "dblclick", move |e| app.dom.videos_dblclick(e)).forget();
        let app = self.clone();
        EventListener::new(&d.doc, "fullscreenchange", move |_| {
            app.dom.fullscreen_changed()
        })
        .forget();
        let app = self.clone();
        EventListener::new(&d.doc, "visibilitychange", move |_| {
            app.visibility_changed()
        })
        .forget();
        for input in [&d.file_input, &d.folder_input] {
            let app = self.clone();
            let input2 = Clone::clone(input);
            EventListener::new(input, "change", move |_| {
                app.send_files(input2.files());
                input2.set_value("");
            })
            .forget();
        }
        let app = self.clone();
        EventListener::new(&d.transfers, "click", move |e| app.transfer_click(e)).forget();
        let app = self.clone();
        EventListener::new(&d.accept_all, "click", move |_| app.accept_all()).forget();
        let app = self.clone();
        EventListener::new(&d.stored_list, "click", move |e| app.dom.stored_click(e)).forget();
        let app = self.clone();
        EventListener::new(&d.save_all, "click", move |_| app.save_all()).forget();
        let app = self.clone();
        EventListener::new(&d.zip_all, "click", move |_| app.zip_all()).forget();
        // Drops are taken on the whole page, not just the drop zone: a file that
        // misses the zone would otherwise be opened by the browser in place of the
        // page (ending the call), or silently do nothing. The zone lights up while
        // something is dragged over the page.
        for kind in ["dragenter", "dragover"] {
            let zone = Clone::clone(&d.drop_zone);
            EventListener::new_with_options(&d.doc, kind, prevent, move |e| {
                if carries_files(e) {
                    e.prevent_default();
                    let _ = zone.class_list().add_1("over");
                }
            })
            .forget();
        }
        let zone = Clone::clone(&d.drop_zone);
        EventListener::new(&d.doc, "dragleave", move |e| {
            // Moving between elements also fires dragleave; only leaving the window
            // has no element to go to.
            let left_window = e
                .dyn_ref::<web_sys::DragEvent>()
                .is_some_and(|d| d.related_target().is_none());
            if left_window {
                let _ = zone.class_list().remove_1("over");
            }
        })
        .forget();
        let app = self.clone();
        EventListener::new_with_options(&d.doc, "drop", prevent, move |e| {
            // Text dragged into the chat box is the browser's business.
            if !carries_files(e) {
                return;
            }
            e.prevent_default();
            let _ = app.dom.drop_zone.class_list().remove_1("over");
            if app.room.borrow().is_none() {
                return;
            }
            // Items are readable only during the event: take them now, walk later.
            let Some(items) = e
                .dyn_ref::<web_sys::DragEvent>()
                .and_then(|d| d.data_transfer())
                .map(|t| crate::web::drop::DroppedItems::take(&t))
            else {
                return;
            };
            let app = app.clone();
            spawn_local(async move {
                match items.files().await {
                    Ok(files) => app.send_dropped(files),
                    Err(e) => app
                        .dom
                        .add_system_line(&format!("Could not read the dropped files: {e}")),
                }
            });
        })
        .forget();
    }

    /// M toggles the microphone, V the camera, S the screen share — unless the user
    /// is typing in a field.
    fn shortcut(self: &Rc<Self>, event: &web_sys::Event) {
        let Some(key) = event.dyn_ref::<web_sys::KeyboardEvent>() else {
            return;
        };
        if key.ctrl_key() || key.meta_key() || key.alt_key() || self.room.borrow().is_none() {
            return;
        }
        let typing = event
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        if typing {
            return;
        }
        match key.key().as_str() {
            "m" | "M" => self.toggle_mic(),
            "v" | "V" => self.toggle_camera(),
            "s" | "S" => self.toggle_screen(),
            "f" | "F" if self.dom.fullscreen_shortcut() => {}
            _ => return,
        }
        event.prevent_default();
    }

    fn join(self: Rc<Self>) {
        let d = &self.dom;
        let room = d.room_input.value().trim().to_owned();
        let name = d.name_input.value().trim().to_owned();
        let password = d.password_input.value();
        if room.is_empty() || name.is_empty() {
            d.set_status("error", "Enter a room and a name.");
            return;
        }
        dom::local_storage_set(NAME_KEY, &name);
        let server_url = match dom::signaling_url() {
            Some(url) => url,
            None => {
                d.set_status("error", "Cannot work out the signaling server address.");
                return;
            }
        };
        let mode = d
            .doc
            .query_selector("input[name=mode]:checked")
            .ok()
            .flatten()
            .and_then(|el| el.get_attribute("value"))
            .unwrap_or_else(|| "chat".into());
        d.join_button.set_disabled(true);
        d.set_status("connecting", "Connecting to the signaling server…");
        // Capturing while connecting puts the tracks in the first offer to every peer.
        let video = mode == "video";
        let media = match mode.as_str() {
            "video" => Some(MediaRequest::video_call()),
            "voice" => Some(MediaRequest::voice_call()),
            _ => None,
        };
        let options = JoinOptions {
            server_url,
            room,
            name,
            password: (!password.is_empty()).then_some(password),
            media,
        };
        spawn_local(async move {
            let result = Room::join(options).await;
            self.dom.join_button.set_disabled(false);
            match result {
                Ok((room, events)) => {
                    let local = room.local_stream();
                    self.joined(room, events);
                    if let Some(stream) = local {
                        self.show_local_media(&stream, video);
                    }
                }
                Err(e) => self.dom.set_status("error", &join_error_text(&e)),
            }
        });
    }

    fn joined(self: &Rc<Self>, room: Room, mut events: RoomEvents) {
        let d = &self.dom;
        d.set_status(
            "joined",
            &format!(
                "In room “{}” — connected to the signaling server.",
                room.room_name()
            ),
        );
        d.my_name.set_text_content(Some(room.name()));
        d.hide_stored_downloads();
        if let Some(link) = dom::share_url(room.room_name()) {
            d.share_link.set_href(&link);
            d.share_link.set_text_content(Some(&link));
            dom::replace_url(&link);
        }
        d.participants.set_inner_html("");
        d.chat_log.set_inner_html("");
        d.update_empty_hint();
        d.join_panel.set_hidden(true);
        d.room_panel.set_hidden(false);
        let _ = d.chat_input.focus();
        *self.present_at_join.borrow_mut() = room.peers().into_iter().map(|p| p.id).collect();
        *self.room.borrow_mut() = Some(room);
        self.unread.set(0);
        self.show_title();
        let session = self.session.get() + 1;
        self.session.set(session);

        let app = self.clone();
        spawn_local(async move {
            while let Some(event) = events.next().await {
                if app.session.get() != session {
                    return;
                }
                app.on_event(event);
            }
        });
        self.poll_stats(session);
        // The speaker picker is useful without capturing anything.
        self.refresh_devices();
    }

    fn on_event(self: &Rc<Self>, event: RoomEvent) {
        let d = &self.dom;
        match event {
            RoomEvent::PeerJoined(PeerInfo { id, name }) => {
                d.add_participant(&id, &name);
                self.refresh_file_targets();
                self.expose_connection(&id);
                let was_here = {
                    let mut present = self.present_at_join.borrow_mut();
                    let found = present.iter().position(|p| *p == id);
                    found.map(|i| present.swap_remove(i)).is_some()
                };
                if was_here {
                    d.add_system_line(&format!("{name} is here"));
                } else {
                    d.add_system_line(&format!("{name} joined"));
                }
            }
            RoomEvent::PeerLeft(id) => {
                debug_peers().delete(&JsValue::from_str(&id));
                d.remove_peer_tiles(&id);
                let removed = d.remove_participant(&id);
                self.refresh_file_targets();
                if let Some(name) = removed {
                    d.peer_left(&id, &name);
                    d.add_system_line(&format!("{name} left"));
                }
            }
            RoomEvent::PeerState { id, state } => {
                d.set_participant_state(&id, state.as_str());
                // A peer's connection may be a new one (after its data channel died).
                self.expose_connection(&id);
            }
            RoomEvent::PeerChannelOpen(_) => {}
            RoomEvent::Chat(msg) => {
                d.add_chat(&msg.name, &msg.text, msg.time_ms, false);
                self.notice();
            }
            RoomEvent::RemoteStream { peer, stream } => {
                let room = self.current_room();
                let state = room.and_then(|r| r.peer_media(&peer)).unwrap_or_default();
                let screen = state.screen_stream.as_deref() == Some(stream.id().as_str());
                let name = self.peer_name(&peer);
                d.add_remote_stream(&peer, &name, &stream, screen);
                d.apply_peer_media(&peer, &name, &state);
            }
            RoomEvent::RemoteStreamChanged { peer, .. } => self.refresh_peer_tiles(&peer),
            RoomEvent::RemoteStreamRemoved { peer, stream_id } => {
                d.remove_remote_stream(&peer, &stream_id)
            }
            RoomEvent::PeerMedia { peer, state } => {
                d.apply_peer_media(&peer, &self.peer_name(&peer), &state)
            }
            RoomEvent::ScreenShareEnded => self.screen_share_ended(),
            RoomEvent::MediaFailed(e) => {
                d.show_media_error(Some(&call::media_error_text(&Error::Media(e))))
            }
            RoomEvent::Transfer { peer, event } => self.on_transfer(&peer, event),
            RoomEvent::FileReceived { peer, offer, blob } => {
                self.on_file_received(&peer, &offer, &blob)
            }
            RoomEvent::TransfersMoved { from, to } => d.move_transfer_rows(&from, &to),
            RoomEvent::TransferRestoring { peer, offer } => self.on_restoring(&peer, &offer),
            RoomEvent::PartialCopy { peer, id, bytes } => self.on_partial_copy(&peer, id, bytes),
            RoomEvent::SignalingLost {
                reason,
                reconnecting: true,
            } => d.set_status(
                "reconnecting",
                &format!(
                    "Lost the signaling server ({reason}); reconnecting… \
                     Calls and chat with connected peers continue."
                ),
            ),
            RoomEvent::SignalingLost {
                reason,
                reconnecting: false,
            } => d.set_status(
                "disconnected",
                &format!(
                    "Left the signaling server ({reason}). Chat with connected peers continues; \
                     nobody new can join until you rejoin."
                ),
            ),
            RoomEvent::SignalingRestored => {
                let room = self.current_room();
                let name = room.as_ref().map(|r| r.room_name()).unwrap_or_default();
                d.set_status(
                    "joined",
                    &format!("In room “{name}” — back on the signaling server."),
                )
            }
            RoomEvent::Warning(e) => web_sys::console::warn_1(&JsValue::from_str(&e.to_string())),
        }
    }

    fn send_chat(&self) {
        let d = &self.dom;
        let text = d.chat_input.value();
        if text.trim().is_empty() {
            return;
        }
        let room = self.room.borrow();
        let Some(room) = room.as_ref() else { return };
        match room.send_chat(&text) {
            Ok(msg) => {
                d.add_chat(&msg.name, &msg.text, msg.time_ms, true);
                d.chat_input.set_value("");
            }
            Err(e) => d.add_system_line(&format!("Not sent: {e}")),
        }
    }

    fn leave(&self) {
        if let Some(room) = self.room.borrow_mut().take() {
            room.leave();
        }
        debug_peers().clear();
        self.session.set(self.session.get() + 1);
        let d = &self.dom;
        d.local_video.set_src_object(None);
        d.local_tile.set_hidden(true);
        // The next join starts without media until it captures again.
        d.show_media_error(None);
        d.toggle_mic.set_disabled(true);
        d.toggle_camera.set_disabled(true);
        d.camera_select.set_disabled(true);
        d.mic_select.set_disabled(true);
        d.start_video.set_disabled(false);
        d.start_voice.set_disabled(false);
        d.set_toggle(&d.toggle_mic, false, "Mute");
        d.set_toggle(&d.toggle_camera, false, "Camera off");
        d.end_open_transfers();
        resend::forget_all();
        d.show_stored_downloads();
        d.refresh_file_targets(&[]);
        self.screen_share_ended();
        for tile in dom::all_matching(&d.videos, "[data-testid=remote-tile]") {
            tile.remove();
        }
        d.room_panel.set_hidden(true);
        d.join_panel.set_hidden(false);
        self.unread.set(0);
        self.show_title();
        d.set_status("idle", "You left the room.");
    }
}

impl App {
    fn refresh_file_targets(&self) {
        let peers: Vec<(String, String)> = self
            .current_room()
            .map(|r| r.peers().into_iter().map(|p| (p.id, p.name)).collect())
            .unwrap_or_default();
        self.dom.refresh_file_targets(&peers);
    }
}

impl App {
    /// Puts peer `id`'s current `RTCPeerConnection` in [`debug_peers`].
    fn expose_connection(&self, id: &str) {
        if let Some(pc) = self
            .current_room()
            .and_then(|r| r.with_peer(id, |p| p.as_raw().clone()))
        {
            debug_peers().set(&JsValue::from_str(id), &pc);
        }
    }
}

/// `window.peerlink.peers`: a `Map` from peer id to its `RTCPeerConnection`, for
/// debugging from the console (and for the end-to-end tests' `getStats`).
fn debug_peers() -> js_sys::Map {
    let key = JsValue::from_str("peerlink");
    let Some(window) = web_sys::window() else {
        return js_sys::Map::new();
    };
    let existing = js_sys::Reflect::get(&window, &key)
        .ok()
        .and_then(|o| js_sys::Reflect::get(&o, &JsValue::from_str("peers")).ok())
        .and_then(|m| m.dyn_into::<js_sys::Map>().ok());
    if let Some(map) = existing {
        return map;
    }
    let map = js_sys::Map::new();
    let holder = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&holder, &JsValue::from_str("peers"), &map);
    let _ = js_sys::Reflect::set(&window, &key, &holder);
    map
}

/// Whether a drag event carries files (rather than text or a link).
fn carries_files(event: &web_sys::Event) -> bool {
    event
        .dyn_ref::<web_sys::DragEvent>()
        .and_then(|d| d.data_transfer())
        .is_some_and(|t| t.types().includes(&JsValue::from_str("Files"), 0))
}

fn join_error_text(e: &Error) -> String {
    match e {
        Error::SignalingUnreachable { url } => format!(
            "Cannot reach the signaling server at {url}. Is it running? Check the address and \
             your network, then try again."
        ),
        Error::Rejected { message, .. } => {
            format!("The signaling server refused to join: {message}")
        }
        other => format!("Joining failed ({other}); the signaling server may be down."),
    }
}
