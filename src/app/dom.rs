//! Element lookup and small DOM helpers for the page.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    Document, Element, HtmlAnchorElement, HtmlButtonElement, HtmlElement, HtmlFormElement,
    HtmlInputElement, HtmlSelectElement, HtmlVideoElement, Url,
};

/// The page's fixed elements, found once by id.
pub(super) struct Dom {
    pub doc: Document,
    pub status: HtmlElement,
    pub join_panel: HtmlElement,
    pub join_form: HtmlFormElement,
    pub room_input: HtmlInputElement,
    pub name_input: HtmlInputElement,
    pub password_input: HtmlInputElement,
    pub join_button: HtmlButtonElement,
    /// Partial downloads of an earlier load, under the join form (`stored.rs`).
    pub stored: HtmlElement,
    pub stored_list: HtmlElement,
    pub room_panel: HtmlElement,
    pub share_link: HtmlAnchorElement,
    pub my_name: HtmlElement,
    pub participants: HtmlElement,
    pub participants_empty: HtmlElement,
    pub leave_button: HtmlButtonElement,
    pub chat_log: HtmlElement,
    pub chat_form: HtmlFormElement,
    pub chat_input: HtmlInputElement,
    pub videos: HtmlElement,
    pub local_tile: HtmlElement,
    pub local_video: HtmlVideoElement,
    pub local_badges: HtmlElement,
    pub local_screen_tile: HtmlElement,
    pub local_screen: HtmlVideoElement,
    pub media_error: HtmlElement,
    pub start_video: HtmlButtonElement,
    pub start_voice: HtmlButtonElement,
    pub toggle_mic: HtmlButtonElement,
    pub toggle_camera: HtmlButtonElement,
    pub toggle_screen: HtmlButtonElement,
    pub camera_select: HtmlSelectElement,
    pub mic_select: HtmlSelectElement,
    pub speaker_select: HtmlSelectElement,
    pub drop_zone: HtmlElement,
    pub file_input: HtmlInputElement,
    pub folder_input: HtmlInputElement,
    pub file_target: HtmlSelectElement,
    pub accept_all: HtmlButtonElement,
    pub transfers: HtmlElement,
    /// Saves every received file into a folder the user picks (see `save.rs`).
    pub save_all: HtmlButtonElement,
    /// Downloads every received file as one .zip (see `zip.rs`).
    pub zip_all: HtmlButtonElement,
}

fn by_id<T: JsCast>(doc: &Document, id: &str) -> Result<T, JsValue> {
    doc.get_element_by_id(id)
        .ok_or_else(|| JsValue::from_str(&format!("page is missing #{id}")))?
        .dyn_into::<T>()
        .map_err(|_| JsValue::from_str(&format!("#{id} has the wrong element type")))
}

impl Dom {
    pub fn find() -> Result<Self, JsValue> {
        let doc = web_sys::window()
            .and_then(|w| w.document())
            .ok_or_else(|| JsValue::from_str("no document"))?;
        Ok(Dom {
            status: by_id(&doc, "status")?,
            join_panel: by_id(&doc, "join-panel")?,
            join_form: by_id(&doc, "join-form")?,
            stored: by_id(&doc, "stored-downloads")?,
            stored_list: by_id(&doc, "stored-list")?,
            room_input: by_id(&doc, "room-input")?,
            name_input: by_id(&doc, "name-input")?,
            password_input: by_id(&doc, "password-input")?,
            join_button: by_id(&doc, "join-button")?,
            room_panel: by_id(&doc, "room-panel")?,
            share_link: by_id(&doc, "share-link")?,
            my_name: by_id(&doc, "my-name")?,
            participants: by_id(&doc, "participants")?,
            participants_empty: by_id(&doc, "participants-empty")?,
            leave_button: by_id(&doc, "leave-button")?,
            chat_log: by_id(&doc, "chat-log")?,
            chat_form: by_id(&doc, "chat-form")?,
            chat_input: by_id(&doc, "chat-input")?,
            videos: by_id(&doc, "videos")?,
            local_tile: by_id(&doc, "local-tile")?,
            local_video: by_id(&doc, "local-video")?,
            local_badges: by_id(&doc, "local-badges")?,
            local_screen_tile: by_id(&doc, "local-screen-tile")?,
            local_screen: by_id(&doc, "local-screen")?,
            media_error: by_id(&doc, "media-error")?,
            start_video: by_id(&doc, "start-video")?,
            start_voice: by_id(&doc, "start-voice")?,
            toggle_mic: by_id(&doc, "toggle-mic")?,
            toggle_camera: by_id(&doc, "toggle-camera")?,
            toggle_screen: by_id(&doc, "toggle-screen")?,
            camera_select: by_id(&doc, "camera-select")?,
            mic_select: by_id(&doc, "mic-select")?,
            speaker_select: by_id(&doc, "speaker-select")?,
            drop_zone: by_id(&doc, "drop-zone")?,
            file_input: by_id(&doc, "file-input")?,
            folder_input: by_id(&doc, "folder-input")?,
            file_target: by_id(&doc, "file-target")?,
            transfers: by_id(&doc, "transfers")?,
            accept_all: by_id(&doc, "accept-all")?,
            save_all: by_id(&doc, "save-all")?,
            zip_all: by_id(&doc, "zip-all")?,
            doc,
        })
    }

    pub fn set_status(&self, state: &str, text: &str) {
        let _ = self.status.set_attribute("data-state", state);
        self.status.set_text_content(Some(text));
    }

    pub fn element(&self, tag: &str) -> Option<Element> {
        self.doc.create_element(tag).ok()
    }

    /// A `<span class=...>` holding `text` as text.
    pub fn span(&self, class: &str, text: &str) -> Option<Element> {
        let span = self.element("span")?;
        span.set_class_name(class);
        span.set_text_content(Some(text));
        Some(span)
    }

    pub fn participant(&self, id: &str) -> Option<Element> {
        child_with_attr(&self.participants, "data-peer-id", id)
    }

    pub fn add_participant(&self, id: &str, name: &str) {
        if self.participant(id).is_some() {
            return;
        }
        let Some(li) = self.element("li") else { return };
        let _ = li.set_attribute("data-testid", "participant");
        let _ = li.set_attribute("data-peer-id", id);
        let _ = li.set_attribute("data-name", name);
        let _ = li.set_attribute("data-state", "new");
        if let (Some(n), Some(s)) = (self.span("name", name), self.span("state", "new")) {
            let _ = li.append_child(&n);
            let _ = li.append_child(&s);
        }
        let _ = self.participants.append_child(&li);
        self.update_empty_hint();
    }

    /// Removes a participant; returns its name.
    pub fn remove_participant(&self, id: &str) -> Option<String> {
        let li = self.participant(id)?;
        let name = li.get_attribute("data-name");
        li.remove();
        self.update_empty_hint();
        name
    }

    pub fn set_participant_state(&self, id: &str, state: &str) {
        let Some(li) = self.participant(id) else {
            return;
        };
        let _ = li.set_attribute("data-state", state);
        if let Ok(Some(s)) = li.query_selector(".state") {
            s.set_text_content(Some(state));
        }
    }

    pub fn update_empty_hint(&self) {
        self.participants_empty
            .set_hidden(self.participants.child_element_count() > 0);
    }

    pub fn add_chat(&self, name: &str, text: &str, time_ms: f64, mine: bool) {
        let Some(li) = self.element("li") else { return };
        let _ = li.set_attribute("data-testid", "chat-message");
        let _ = li.set_attribute("data-from", name);
        if mine {
            li.set_class_name("mine");
        }
        let date = js_sys::Date::new(&JsValue::from_f64(time_ms));
        let time = format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
        // The hidden separators make a screen reader say "Ada: hello at 17:03"
        // rather than "Adahello17:03"; on screen, spacing does that.
        let parts = [
            self.span("chat-name", name),
            self.span("visually-hidden", ": "),
            self.span("chat-text", text),
            self.span("visually-hidden", " at "),
            self.span("chat-time", &time),
        ];
        for part in parts.into_iter().flatten() {
            if part.class_name() == "chat-text" {
                let _ = part.set_attribute("data-testid", "chat-text");
                part.set_text_content(None);
                self.append_linked(&part, text);
            }
            let _ = li.append_child(&part);
        }
        self.append_to_chat(&li);
    }

    /// Appends `text` to `parent` as text, with each web address (http or https)
    /// as a link that opens in a new tab. Built from text nodes and attributes,
    /// never parsed as HTML; other schemes (`javascript:`…) stay plain text.
    fn append_linked(&self, parent: &Element, text: &str) {
        let mut plain = String::new();
        let flush = |plain: &mut String| {
            if !plain.is_empty() {
                let _ = parent.append_with_str_1(plain);
                plain.clear();
            }
        };
        for piece in text.split_inclusive(char::is_whitespace) {
            let word = piece.trim_end();
            // Punctuation after an address belongs to the sentence.
            let address = word.trim_end_matches(['.', ',', ')', '!', '?', ';', ':', '"', '\'']);
            let link = web_address(address).and_then(|href| {
                let a = self.element("a")?;
                let _ = a.set_attribute("href", &href);
                let _ = a.set_attribute("target", "_blank");
                let _ = a.set_attribute("rel", "noopener noreferrer nofollow");
                a.set_text_content(Some(address));
                Some(a)
            });
            match link {
                Some(a) => {
                    flush(&mut plain);
                    let _ = parent.append_child(&a);
                    plain.push_str(&piece[address.len()..]);
                }
                None => plain.push_str(piece),
            }
        }
        flush(&mut plain);
    }

    pub fn add_system_line(&self, text: &str) {
        self.add_system_line_element(text);
    }

    /// Adds a line of the page's own to the chat and returns it.
    pub fn add_system_line_element(&self, text: &str) -> Option<Element> {
        let li = self.element("li")?;
        li.set_class_name("system");
        let _ = li.set_attribute("data-testid", "chat-system");
        li.set_text_content(Some(text));
        self.append_to_chat(&li);
        Some(li)
    }

    fn append_to_chat(&self, li: &Element) {
        let _ = self.chat_log.append_child(li);
        self.chat_log.set_scroll_top(self.chat_log.scroll_height());
    }
}

/// `word` as a link target if it is a whole http(s) address.
fn web_address(word: &str) -> Option<String> {
    if !(word.starts_with("https://") || word.starts_with("http://")) {
        return None;
    }
    let url = Url::new(word).ok()?;
    let web = matches!(url.protocol().as_str(), "http:" | "https:");
    (web && !url.host().is_empty()).then(|| url.href())
}

/// The elements inside `parent` that match `selector`, in document order.
pub(super) fn all_matching(parent: &Element, selector: &str) -> Vec<Element> {
    let Ok(list) = parent.query_selector_all(selector) else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i).and_then(|n| n.dyn_into::<Element>().ok()))
        .collect()
}

/// The child of `parent` whose attribute `name` is `value`.
pub(super) fn child_with_attr(parent: &Element, name: &str, value: &str) -> Option<Element> {
    let children = parent.children();
    (0..children.length())
        .filter_map(|i| children.item(i))
        .find(|child| child.get_attribute(name).as_deref() == Some(value))
}

/// `?name=` from the page URL.
pub(super) fn query_param(name: &str) -> Option<String> {
    let href = web_sys::window()?.location().href().ok()?;
    let url = Url::new(&href).ok()?;
    url.search_params()
        .get(name)
        .filter(|v| !v.trim().is_empty())
}

/// The page URL with `?room=<room>` (and no fragment): the link to share.
pub(super) fn share_url(room: &str) -> Option<String> {
    let href = web_sys::window()?.location().href().ok()?;
    let url = Url::new(&href).ok()?;
    url.set_search("");
    url.search_params().set("room", room);
    url.set_hash("");
    Some(url.href())
}

/// Replaces the address bar URL without reloading (so a reload rejoins the room).
pub(super) fn replace_url(url: &str) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(url));
    }
}

/// The signaling WebSocket URL for the server that served this page: `/ws` on the
/// same host, `wss:` when the page is https.
pub(super) fn signaling_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}

pub(super) fn local_storage_get(key: &str) -> Option<String> {
    web_sys::window()?
        .local_storage()
        .ok()??
        .get_item(key)
        .ok()?
}

pub(super) fn local_storage_set(key: &str, value: &str) {
    if let Some(Ok(Some(storage))) = web_sys::window().map(|w| w.local_storage()) {
        let _ = storage.set_item(key, value);
    }
}
