//! Files this tab was sending when its page reloaded. A reload loses the `File`s,
//! so the transfers cannot go on by themselves; but a receiver keeps what arrived of
//! a large file, and the same file offered again continues from there. So the page
//! remembers (in `sessionStorage`, which lives as long as the tab) what it is
//! sending, and after a reload shows each unfinished one with what to do: send it
//! again. An entry goes when its transfer ends, when the file is sent again, or when
//! its row is removed.

use super::dom::Dom;
use crate::core::transfer::{FileOffer, TransferKey};
use js_sys::{Array, Object, Reflect, JSON};
use wasm_bindgen::JsValue;
use web_sys::Storage;

const KEY: &str = "peerlink-sending";

/// The `data-peer-id` of the rows shown for them: never a real peer id (32 hex
/// digits), so no room event touches them.
pub(super) const RELOADED: &str = "reloaded";

/// A file being sent to the peer called `to`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sending {
    pub path: String,
    pub size: u64,
    pub to: String,
}

fn storage() -> Option<Storage> {
    web_sys::window()?.session_storage().ok()?
}

fn load() -> Vec<Sending> {
    let Some(text) = storage().and_then(|s| s.get_item(KEY).ok().flatten()) else {
        return Vec::new();
    };
    let Ok(list) = JSON::parse(&text) else {
        return Vec::new();
    };
    let get = |o: &JsValue, k: &str| Reflect::get(o, &JsValue::from_str(k)).ok();
    Array::from(&list)
        .iter()
        .filter_map(|o| {
            Some(Sending {
                path: get(&o, "path")?.as_string()?,
                size: get(&o, "size")?.as_f64()? as u64,
                to: get(&o, "to")?.as_string()?,
            })
        })
        .collect()
}

fn store(list: &[Sending]) {
    let Some(storage) = storage() else { return };
    if list.is_empty() {
        let _ = storage.remove_item(KEY);
        return;
    }
    let array = Array::new();
    for s in list {
        let o = Object::new();
        let _ = Reflect::set(&o, &"path".into(), &s.path.as_str().into());
        let _ = Reflect::set(&o, &"size".into(), &(s.size as f64).into());
        let _ = Reflect::set(&o, &"to".into(), &s.to.as_str().into());
        array.push(&o);
    }
    if let Some(text) = JSON::stringify(&array).ok().and_then(|t| t.as_string()) {
        let _ = storage.set_item(KEY, &text);
    }
}

/// Remembers that `s` is being sent.
pub(super) fn remember(s: Sending) {
    let mut list = load();
    if !list.contains(&s) {
        list.push(s);
        store(&list);
    }
}

/// Forgets `s` (its transfer ended).
pub(super) fn forget(s: &Sending) {
    let mut list = load();
    list.retain(|x| x != s);
    store(&list);
}

/// Forgets every entry of the file at `path` of `size` bytes (sent again, or its
/// row removed).
pub(super) fn forget_file(path: &str, size: u64) {
    let mut list = load();
    list.retain(|x| x.path != path || x.size != size);
    store(&list);
}

/// Forgets everything (the room was left: nothing is being sent any more).
pub(super) fn forget_all() {
    store(&[]);
}

impl Dom {
    /// After a reload: a row for each file this tab was still sending.
    pub(super) fn show_reload_interrupted(&self) {
        for (i, s) in load().iter().enumerate() {
            let (name, relative_path) = match s.path.rsplit_once('/') {
                Some((_, name)) => (name.to_owned(), Some(s.path.clone())),
                None => (s.path.clone(), None),
            };
            let offer = FileOffer {
                id: i as u32,
                name,
                relative_path,
                size: s.size,
                mime_type: String::new(),
                resume_token: None,
            };
            let key = TransferKey::outgoing(i as u32);
            if let Some(li) = self.add_transfer_row(RELOADED, &s.to, key, &offer, "failed") {
                let note = format!(
                    "interrupted when this page reloaded — send it to {} again to continue from where it stopped",
                    s.to
                );
                self.set_transfer_state(&li, "failed", &note);
            }
        }
    }

    /// Takes away the rows of `path`/`size` shown after a reload (it is sent again).
    pub(super) fn drop_reload_interrupted(&self, path: &str, size: u64) {
        let selector = format!("[data-peer-id={RELOADED}]");
        for li in self.rows(&selector) {
            if super::files::row_file(&li).is_some_and(|(p, s)| p == path && s == size) {
                li.remove();
            }
        }
    }
}
