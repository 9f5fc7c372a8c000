//! The files panel: send by picker, folder picker or drag-and-drop, to one peer or
//! everyone; accept/reject offers; progress with speed and time left; cancel; final
//! state; save verified files.

use super::resend::{self, Sending};
use super::{
    dom::{self, Dom},
    App,
};
use crate::core::transfer::{
    Direction, FileOffer, Progress, Side, TransferEvent, TransferId, TransferKey,
};
use crate::web::drop::DroppedFile;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, File, FileList};

fn row_key(peer: &str, key: TransferKey) -> String {
    let dir = match key.direction {
        Direction::Incoming => "in",
        Direction::Outgoing => "out",
    };
    format!("{peer}/{dir}/{}", key.id)
}

pub(super) fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn human_duration(ms: f64) -> String {
    let secs = (ms / 1000.0).ceil() as u64;
    if secs >= 3600 {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    } else if secs >= 60 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

impl Dom {
    fn transfer_row(&self, key: &str) -> Option<Element> {
        super::dom::child_with_attr(&self.transfers, "data-key", key)
    }

    pub(super) fn add_transfer_row(
        &self,
        peer: &str,
        peer_name: &str,
        key: TransferKey,
        offer: &FileOffer,
        state: &str,
    ) -> Option<Element> {
        let row_id = row_key(peer, key);
        if let Some(row) = self.transfer_row(&row_id) {
            return Some(row);
        }
        let li = self.element("li")?;
        let incoming = key.direction == Direction::Incoming;
        for (name, value) in [
            ("data-testid", "transfer"),
            ("data-key", row_id.as_str()),
            ("data-peer-id", peer),
            ("data-id", &key.id.to_string()),
            (
                "data-direction",
                if incoming { "incoming" } else { "outgoing" },
            ),
            ("data-name", &offer.name),
            (
                "data-path",
                offer.relative_path.as_deref().unwrap_or(&offer.name),
            ),
            ("data-size", &offer.size.to_string()),
            ("data-state", state),
        ] {
            let _ = li.set_attribute(name, value);
        }
        let head = self.element("div")?;
        head.set_class_name("head");
        let shown = offer.relative_path.as_deref().unwrap_or(&offer.name);
        let who = if incoming {
            format!("from {peer_name}")
        } else {
            format!("to {peer_name}")
        };
        for part in [
            self.span("file-name", shown),
            self.span(
                "rate",
                &format!("{} · {who}", human_bytes(offer.size as f64)),
            ),
        ]
        .into_iter()
        .flatten()
        {
            let _ = head.append_child(&part);
        }
        let progress = self.element("progress")?;
        let _ = progress.set_attribute("data-testid", "transfer-progress");
        let _ = progress.set_attribute("aria-label", &format!("{shown}: progress"));
        let _ = progress.set_attribute("max", "1");
        let _ = progress.set_attribute("value", "0");
        let rate = self.span("rate", "")?;
        let _ = rate.set_attribute("data-testid", "transfer-rate");
        let result = self.span("result", "")?;
        let _ = result.set_attribute("data-testid", "transfer-result");
        // Announces "verified", "rejected", "Ada left…" as they happen.
        let _ = result.set_attribute("aria-live", "polite");
        let actions = self.element("div")?;
        actions.set_class_name("actions");
        let _ = li.append_child(&head);
        let _ = li.append_child(&progress);
        let _ = li.append_child(&rate);
        let _ = li.append_child(&result);
        let _ = li.append_child(&actions);
        let _ = self.transfers.prepend_with_node_1(&li);
        let waiting = match state {
            "waiting" => format!("waiting for {peer_name} to accept"),
            "offered" if incoming => "waiting for you to accept".to_owned(),
            _ => String::new(),
        };
        self.set_transfer_state(&li, state, &waiting);
        Some(li)
    }

    /// Shows the buttons that make sense in `state`; actions are handled by one
    /// delegated click listener on the list (see `App::transfer_click`).
    fn set_actions(&self, li: &Element, state: &str) {
        let Ok(Some(actions)) = li.query_selector(".actions") else {
            return;
        };
        let incoming = li.get_attribute("data-direction").as_deref() == Some("incoming");
        // The room cannot act on a transfer whose peer has left (see `peer_left`).
        let peer_gone = li.has_attribute("data-peer-gone");
        let keep_download = actions.query_selector("a").ok().flatten();
        actions.set_inner_html("");
        let buttons: &[(&str, &str)] = match state {
            // Done: the row can go (and with it a received file's stored copy).
            _ if is_final(state) => &[("remove", "Remove")],
            // Ours to a peer that left wait for it and can be cancelled; its to us
            // are over.
            _ if peer_gone && incoming => &[],
            "offered" if incoming => &[("accept", "Accept"), ("reject", "Reject")],
            "waiting" | "offered" | "transferring" | "interrupted" | "resuming" => {
                &[("cancel", "Cancel")]
            }
            _ => &[],
        };
        // "Accept" alone would not say which of several files it is for.
        let file = li.get_attribute("data-path").unwrap_or_default();
        for (action, label) in buttons {
            if let Some(b) = self.element("button") {
                let _ = b.set_attribute("type", "button");
                let _ = b.set_attribute("aria-label", &format!("{label} {file}"));
                let _ = b.set_attribute("data-action", action);
                let _ = b.set_attribute("data-testid", &format!("transfer-{action}"));
                b.set_text_content(Some(label));
                let _ = actions.append_child(&b);
            }
        }
        if let Some(a) = keep_download {
            let _ = actions.append_child(&a);
        }
    }

    /// The transfer rows that match `selector`.
    pub(super) fn rows(&self, selector: &str) -> Vec<Element> {
        dom::all_matching(&self.transfers, selector)
    }

    pub(super) fn set_transfer_state(&self, li: &Element, state: &str, result: &str) {
        let _ = li.set_attribute("data-state", state);
        if let Ok(Some(r)) = li.query_selector("[data-testid=transfer-result]") {
            r.set_text_content(Some(result));
        }
        if is_final(state) {
            // A speed and a time left would claim it is still moving.
            if let (Ok(Some(rate)), Some(done), Some(total)) = (
                li.query_selector("[data-testid=transfer-rate]"),
                attr_f64(li, "data-bytes-done"),
                attr_f64(li, "data-size"),
            ) {
                rate.set_text_content(Some(&format!(
                    "{} of {}",
                    human_bytes(done),
                    human_bytes(total)
                )));
            }
        }
        self.set_actions(li, state);
        self.update_accept_all();
    }

    /// "Accept all N files" shows while more than one offer waits for an answer.
    pub(super) fn update_accept_all(&self) {
        let pending = self
            .transfers
            .query_selector_all(PENDING_OFFERS)
            .map(|rows| rows.length())
            .unwrap_or(0);
        self.accept_all.set_hidden(pending < 2);
        self.accept_all
            .set_text_content(Some(&format!("Accept all {pending} files")));
    }

    fn set_transfer_progress(&self, li: &Element, progress: &Progress) {
        let _ = li.set_attribute("data-bytes-done", &progress.bytes_done.to_string());
        if let Ok(Some(p)) = li.query_selector("progress") {
            let _ = p.set_attribute("value", &format!("{:.4}", progress.fraction()));
        }
        if let Ok(Some(r)) = li.query_selector("[data-testid=transfer-rate]") {
            let left = progress
                .eta_ms
                .map(|ms| format!(" · {} left", human_duration(ms)))
                .unwrap_or_default();
            r.set_text_content(Some(&format!(
                "{} of {} · {}/s{left}",
                human_bytes(progress.bytes_done as f64),
                human_bytes(progress.bytes_total as f64),
                human_bytes(progress.bytes_per_sec),
            )));
        }
    }

    /// The rows of transfers with `from` now belong to `to` (the same client after a
    /// reload, see [`crate::web::RoomEvent::TransfersMoved`]).
    pub fn move_transfer_rows(&self, from: &str, to: &str) {
        for li in self.rows(&format!("[data-peer-id={}]", css_string(from))) {
            let id = li.get_attribute("data-id").and_then(|id| id.parse().ok());
            let key = match (li.get_attribute("data-direction").as_deref(), id) {
                (Some("incoming"), Some(id)) => TransferKey::incoming(id),
                (Some("outgoing"), Some(id)) => TransferKey::outgoing(id),
                _ => continue,
            };
            let _ = li.set_attribute("data-peer-id", to);
            let _ = li.set_attribute("data-key", &row_key(to, key));
            let _ = li.remove_attribute("data-peer-gone");
        }
    }

    /// `peer` (called `name`) left the room. Its incoming transfers end here: the
    /// room drops them (what was saved of a large file is kept, and a new offer of
    /// the same file continues from it).
    /// Outgoing ones are kept by the room for a while, in case the receiver's page
    /// reloaded and comes back ([`crate::web::RoomEvent::TransfersMoved`]); they can
    /// still be cancelled meanwhile.
    pub fn peer_left(&self, peer: &str, name: &str) {
        for li in self.rows(&format!("[data-peer-id={}]", css_string(peer))) {
            let state = li.get_attribute("data-state").unwrap_or_default();
            if is_final(&state) {
                continue;
            }
            let _ = li.set_attribute("data-peer-gone", "");
            if li.get_attribute("data-direction").as_deref() == Some("incoming") {
                // Only files over one segment are kept in storage while they arrive.
                let size = row_file(&li).map_or(0, |(_, size)| size);
                let text = if state == "offered" {
                    format!("{name} left; the offer is gone")
                } else if size > crate::web::SEGMENT_BYTES {
                    format!(
                        "{name} left before the file was complete — if they send it again, \
                         it continues from what was saved"
                    )
                } else {
                    format!("{name} left before the file was complete")
                };
                self.set_transfer_state(&li, "failed", &text);
            } else {
                let text = format!("{name} left — waiting in case their page comes back");
                self.set_transfer_state(&li, "interrupted", &text);
            }
        }
    }

    /// Says in the chat that `name` offers a file: the Files panel may be out of
    /// sight (below the call, or far up on a phone). A burst of offers (a folder)
    /// makes one line that counts them; returns whether this offer started a line.
    pub fn announce_offer(&self, peer: &str, name: &str, offer: &FileOffer) -> bool {
        let last = self
            .chat_log
            .last_element_child()
            .filter(|li| li.get_attribute("data-offers-from").as_deref() == Some(peer));
        let (li, count, bytes) = match last {
            Some(li) => {
                let count = li
                    .get_attribute("data-count")
                    .and_then(|c| c.parse::<u32>().ok())
                    .unwrap_or(1)
                    + 1;
                let bytes = attr_f64(&li, "data-bytes").unwrap_or(0.0) + offer.size as f64;
                (li, count, bytes)
            }
            None => {
                let Some(li) = self.add_system_line_element(name) else {
                    return false;
                };
                let _ = li.set_attribute("data-offers-from", peer);
                (li, 1, offer.size as f64)
            }
        };
        let _ = li.set_attribute("data-count", &count.to_string());
        let _ = li.set_attribute("data-bytes", &bytes.to_string());
        let text = if count > 1 {
            format!(
                "{name} offers {count} files ({}): accept them under Files.",
                human_bytes(bytes)
            )
        } else {
            let shown = offer.relative_path.as_deref().unwrap_or(&offer.name);
            format!(
                "{name} offers {shown} ({}): accept it under Files.",
                human_bytes(bytes)
            )
        };
        li.set_text_content(Some(&text));
        count == 1
    }

    /// We left the room: every transfer still open ends with it (the room drops
    /// them). Finished rows stay, so a received file can still be saved.
    pub fn end_open_transfers(&self) {
        let rows = self.transfers.children();
        for i in 0..rows.length() {
            let Some(li) = rows.item(i) else { continue };
            let state = li.get_attribute("data-state").unwrap_or_default();
            if !is_final(&state) {
                self.set_transfer_state(&li, "cancelled", "ended: you left the room");
            }
        }
    }

    pub fn refresh_file_targets(&self, peers: &[(String, String)]) {
        let current = self.file_target.value();
        self.file_target.set_inner_html("");
        if let Some(all) = self.element("option") {
            let _ = all.set_attribute("value", "");
            all.set_text_content(Some("everyone"));
            let _ = self.file_target.append_child(&all);
        }
        for (id, name) in peers {
            if let Some(opt) = self.element("option") {
                let _ = opt.set_attribute("value", id);
                opt.set_text_content(Some(name));
                let _ = self.file_target.append_child(&opt);
            }
        }
        // A chosen peer who left: show "everyone" (where the next file will go)
        // rather than a blank choice.
        let still_here = peers.iter().any(|(id, _)| *id == current);
        self.file_target
            .set_value(if still_here { &current } else { "" });
    }
}

impl App {
    /// Sends every file of `files` (from a picker) to the chosen target.
    pub(super) fn send_files(&self, files: Option<FileList>) {
        let Some(files) = files else { return };
        let picked = (0..files.length())
            .filter_map(|i| files.item(i))
            .map(|file| {
                let relative_path = relative_path(&file);
                DroppedFile {
                    file,
                    relative_path,
                }
            });
        self.send_dropped(picked.collect());
    }

    /// Sends files (from a picker, or a drop with its folders walked) to the chosen
    /// target, each with its path inside its folder.
    pub(super) fn send_dropped(&self, files: Vec<DroppedFile>) {
        let Some(room) = self.current_room() else {
            return;
        };
        let target = self.dom.file_target.value();
        for DroppedFile {
            file,
            relative_path: relative,
        } in files
        {
            let results = if target.is_empty() {
                room.send_file_to_all(&file, relative.clone())
            } else {
                vec![(
                    target.clone(),
                    room.send_file(&target, &file, relative.clone()),
                )]
            };
            if results.is_empty() {
                self.dom.add_system_line("Nobody to send files to yet.");
            }
            for (peer, result) in results {
                match result {
                    Ok(id) => {
                        let offer = FileOffer {
                            id,
                            name: file.name(),
                            relative_path: relative.clone(),
                            size: file.size() as u64,
                            mime_type: file.type_(),
                            resume_token: None,
                        };
                        let key = TransferKey::outgoing(id);
                        let offer = room.transfer_offer(&peer, key).unwrap_or(offer);
                        let name = self.peer_name(&peer);
                        self.dom
                            .add_transfer_row(&peer, &name, key, &offer, "waiting");
                        // Sent again after a reload: the old row and entry go.
                        let path = offer.relative_path.clone().unwrap_or(offer.name);
                        self.dom.drop_reload_interrupted(&path, offer.size);
                        resend::forget_file(&path, offer.size);
                        resend::remember(Sending {
                            path,
                            size: offer.size,
                            to: name,
                        });
                    }
                    Err(e) => self
                        .dom
                        .add_system_line(&format!("Could not send {}: {e}", file.name())),
                }
            }
        }
    }

    pub(super) fn on_transfer(&self, peer: &str, event: TransferEvent) {
        let d = &self.dom;
        let row = |key: TransferKey| d.transfer_row(&row_key(peer, key));
        if let TransferEvent::Completed { key, .. }
        | TransferEvent::Cancelled { key, .. }
        | TransferEvent::Failed { key, .. }
        | TransferEvent::Rejected { key } = &event
        {
            // Over: nothing to send again after a reload.
            let li = row(*key).filter(|_| key.direction == Direction::Outgoing);
            if let Some((path, size)) = li.as_ref().and_then(row_file) {
                let to = self.peer_name(peer);
                resend::forget(&Sending { path, size, to });
            }
        }
        match event {
            TransferEvent::Offered { key, offer } => {
                let name = self.peer_name(peer);
                let new = d.transfer_row(&row_key(peer, key)).is_none();
                d.add_transfer_row(peer, &name, key, &offer, "offered");
                // One unread per line of the chat log: a folder counts once.
                if new && d.announce_offer(peer, &name, &offer) {
                    self.notice();
                }
            }
            TransferEvent::Accepted { key } => {
                if let Some(li) = row(key) {
                    d.set_transfer_state(&li, "transferring", "");
                }
            }
            TransferEvent::Resumed { key, offset } => {
                if let Some(li) = row(key) {
                    // Where it continued from: tests check a resume did not restart.
                    let _ = li.set_attribute("data-resumed-from", &offset.to_string());
                    d.set_transfer_state(&li, "transferring", "");
                }
            }
            TransferEvent::Rejected { key } => {
                if let Some(li) = row(key) {
                    d.set_transfer_state(&li, "rejected", "rejected");
                }
            }
            TransferEvent::Progress { key, progress } => {
                if let Some(li) = row(key) {
                    d.set_transfer_progress(&li, &progress);
                }
            }
            TransferEvent::Interrupted { key } => {
                if let Some(li) = row(key) {
                    d.set_transfer_state(&li, "interrupted", "connection lost — will resume");
                }
            }
            TransferEvent::Completed { key, verified } => {
                if let Some(li) = row(key) {
                    if let Some(p) = self
                        .current_room()
                        .and_then(|r| r.transfer_progress(peer, key))
                    {
                        d.set_transfer_progress(&li, &p);
                    }
                    if verified {
                        d.set_transfer_state(&li, "verified", "verified ✓");
                    } else {
                        d.set_transfer_state(
                            &li,
                            "hash-mismatch",
                            "hash mismatch ✗ — file discarded",
                        );
                    }
                }
            }
            TransferEvent::Cancelled { key, by, reason } => {
                if let Some(li) = row(key) {
                    let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
                    // The room gives up on a departed peer's transfers by itself.
                    let who = match by {
                        _ if li.has_attribute("data-peer-gone") => "",
                        Side::Local => " by you",
                        Side::Remote => " by the other side",
                    };
                    d.set_transfer_state(&li, "cancelled", &format!("cancelled{who}{why}"));
                }
            }
            TransferEvent::Failed { key, reason } => {
                if let Some(li) = row(key) {
                    d.set_transfer_state(&li, "failed", &format!("failed: {reason}"));
                }
            }
        }
    }

    /// Storage holds the start of offered file `id` already (its sender's page
    /// reloaded during an earlier try): say so on the offer's row.
    pub(super) fn on_partial_copy(&self, peer: &str, id: TransferId, bytes: u64) {
        let Some(li) = self
            .dom
            .transfer_row(&row_key(peer, TransferKey::incoming(id)))
        else {
            return;
        };
        let _ = li.set_attribute("data-partial-bytes", &bytes.to_string());
        if li.get_attribute("data-state").as_deref() == Some("offered") {
            let note = format!(
                "{} of this file is already here from an earlier try: accepting continues from there",
                human_bytes(bytes as f64)
            );
            self.dom.set_transfer_state(&li, "offered", &note);
        }
    }

    /// A partial file from before the reload is being taken up again with `peer`.
    pub(super) fn on_restoring(&self, peer: &str, offer: &FileOffer) {
        let key = TransferKey::incoming(offer.id);
        let name = self.peer_name(peer);
        if let Some(li) = self
            .dom
            .add_transfer_row(peer, &name, key, offer, "resuming")
        {
            self.dom.set_transfer_state(&li, "resuming", "resuming…");
        }
    }

    pub(super) fn on_file_received(&self, peer: &str, offer: &FileOffer, blob: &web_sys::Blob) {
        let key = TransferKey::incoming(offer.id);
        let Some(li) = self.dom.transfer_row(&row_key(peer, key)) else {
            return;
        };
        let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else {
            return;
        };
        let Some(a) = self.dom.element("a") else {
            return;
        };
        let _ = a.set_attribute("href", &url);
        let _ = a.set_attribute("download", &offer.name);
        let _ = a.set_attribute("data-testid", "transfer-download");
        let shown = offer.relative_path.as_deref().unwrap_or(&offer.name);
        let _ = a.set_attribute("aria-label", &format!("Save {shown}"));
        a.set_text_content(Some("Save"));
        // For "Save all to a folder…" (see `save.rs`).
        super::save::keep_file(&a, blob);
        if let Ok(Some(actions)) = li.query_selector(".actions") {
            let _ = actions.append_child(&a);
        }
        self.dom.refresh_save_all();
    }

    /// The delegated click handler of the transfers list.
    pub(super) fn transfer_click(self: &Rc<Self>, event: &web_sys::Event) {
        let Some(button) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        let Some(action) = button.get_attribute("data-action") else {
            return;
        };
        let Some(li) = button.closest("[data-testid=transfer]").ok().flatten() else {
            return;
        };
        self.row_action(&li, &action);
    }

    /// Accepts every pending offer (a dropped folder is one offer per file).
    pub(super) fn accept_all(&self) {
        for li in self.dom.rows(PENDING_OFFERS) {
            self.row_action(&li, "accept");
        }
    }

    /// Does `action` (accept, reject, cancel) to the transfer of row `li`.
    fn row_action(&self, li: &Element, action: &str) {
        if action == "remove" {
            self.remove_row(li);
            return;
        }
        let (Some(peer), Some(id)) = (
            li.get_attribute("data-peer-id"),
            li.get_attribute("data-id")
                .and_then(|v| v.parse::<TransferId>().ok()),
        ) else {
            return;
        };
        let incoming = li.get_attribute("data-direction").as_deref() == Some("incoming");
        let Some(room) = self.current_room() else {
            return;
        };
        let (result, state, text) = match action {
            "accept" => (room.accept_file(&peer, id), "transferring", ""),
            "reject" => (room.reject_file(&peer, id), "rejected", "rejected"),
            "cancel" => {
                let key = if incoming {
                    TransferKey::incoming(id)
                } else {
                    TransferKey::outgoing(id)
                };
                (
                    room.cancel_transfer(&peer, key),
                    "cancelled",
                    "cancelled by you",
                )
            }
            _ => return,
        };
        match result {
            Ok(()) => self.dom.set_transfer_state(li, state, text),
            Err(e) => {
                let file = li.get_attribute("data-path").unwrap_or_default();
                self.dom
                    .add_system_line(&format!("Could not {action} {file}: {e}"));
            }
        }
    }
}

impl App {
    /// Removes a finished row; a received file's object URL is revoked and its
    /// stored copy freed (`releaseFile`), so it no longer takes space until the
    /// next page load.
    fn remove_row(&self, li: &Element) {
        if li.get_attribute("data-peer-id").as_deref() == Some(resend::RELOADED) {
            if let Some((path, size)) = row_file(li) {
                resend::forget_file(&path, size);
            }
        }
        if let Ok(Some(a)) = li.query_selector("[data-testid=transfer-download]") {
            if let Some(href) = a.get_attribute("href") {
                let _ = web_sys::Url::revoke_object_url(&href);
            }
            if let Some(file) = super::save::kept_file(&a) {
                spawn_local(async move {
                    if let Err(e) = crate::web::store::release_received(&file).await {
                        web_sys::console::warn_1(&JsValue::from_str(&e.to_string()));
                    }
                });
            }
        }
        li.remove();
        self.dom.refresh_save_all();
        self.dom.update_accept_all();
    }
}

/// Rows of offers made to us that can still be accepted.
const PENDING_OFFERS: &str =
    "[data-testid=transfer][data-direction=incoming][data-state=offered]:not([data-peer-gone])";

/// Whether a row in `state` is over (nothing more will happen to it).
fn is_final(state: &str) -> bool {
    matches!(
        state,
        "verified" | "hash-mismatch" | "rejected" | "cancelled" | "failed"
    )
}

fn attr_f64(el: &Element, name: &str) -> Option<f64> {
    el.get_attribute(name)?.parse().ok()
}

/// The file of a transfer row: its path (`data-path`) and size in bytes.
pub(super) fn row_file(li: &Element) -> Option<(String, u64)> {
    Some((
        li.get_attribute("data-path")?,
        li.get_attribute("data-size")?.parse().ok()?,
    ))
}

/// `webkitRelativePath` of a file picked from a folder (empty otherwise).
fn relative_path(file: &File) -> Option<String> {
    js_sys::Reflect::get(file, &JsValue::from_str("webkitRelativePath"))
        .ok()
        .and_then(|v| v.as_string())
        .filter(|p| !p.is_empty())
}

/// `value` as a quoted CSS string.
fn css_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}
