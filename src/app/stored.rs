//! Partial downloads of an earlier page load, shown before joining. A reload keeps
//! what arrived of a large file (see `web::store`), and it continues when its
//! sender offers it again in a room this page joins; without this list nothing on
//! the join form would say that anything is waiting. Each can be discarded.

use super::dom::Dom;
use super::files::human_bytes;
use crate::web::store::{discard_stored_download, stored_downloads, unused_added, StoredDownload};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, HtmlElement};

thread_local! {
    /// Whether a task lists the stored downloads again as partial files come free.
    static WATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Dom {
    /// Lists the stored downloads (again) under the join form, hidden when none,
    /// and again whenever a partial file comes free until the page joins (after
    /// Leave, a transfer that was coming is listed once its writer is done).
    pub(super) fn show_stored_downloads(&self) {
        let (section, list) = (self.stored.clone(), self.stored_list.clone());
        let (doc, join_panel) = (self.doc.clone(), self.join_panel.clone());
        let watch = !WATCHING.with(|w| w.replace(true));
        spawn_local(async move {
            loop {
                // Registered before listing: a copy freed meanwhile lists it again.
                let freed = unused_added();
                let found = stored_downloads().await.unwrap_or_default();
                if join_panel.hidden() {
                    break; // joined meanwhile: the room continues them
                }
                list.set_inner_html("");
                for download in &found {
                    if let Some(li) = stored_row(&doc, download) {
                        let _ = list.append_child(&li);
                    }
                }
                section.set_hidden(found.is_empty());
                if !watch || freed.await.is_err() || join_panel.hidden() {
                    break;
                }
            }
            if watch {
                WATCHING.with(|w| w.set(false));
            }
        });
    }

    /// In a room they continue by themselves: the list goes.
    pub(super) fn hide_stored_downloads(&self) {
        self.stored.set_hidden(true);
        self.stored_list.set_inner_html("");
    }

    /// A click in the list: Discard deletes that download.
    pub(super) fn stored_click(&self, event: &web_sys::Event) {
        let Some(button) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        let Some(li) = button
            .closest("[data-testid=stored-download]")
            .ok()
            .flatten()
        else {
            return;
        };
        let Some(key) = li.get_attribute("data-key") else {
            return;
        };
        let _ = button.set_attribute("disabled", "");
        let section = self.stored.clone();
        spawn_local(async move {
            // Gone already (false) is as good as deleted; an error keeps the row.
            if discard_stored_download(&key).await.is_ok() {
                let parent = li.parent_element();
                li.remove();
                if parent.is_some_and(|p| p.child_element_count() == 0) {
                    section.set_hidden(true);
                }
            } else {
                let _ = button.remove_attribute("disabled");
            }
        });
    }
}

fn stored_row(doc: &web_sys::Document, d: &StoredDownload) -> Option<Element> {
    let li = doc.create_element("li").ok()?;
    let _ = li.set_attribute("data-testid", "stored-download");
    let _ = li.set_attribute("data-key", &d.key);
    let _ = li.set_attribute("data-bytes", &d.bytes.to_string());
    let shown = d.relative_path.as_deref().unwrap_or(&d.name);
    let name = doc.create_element("span").ok()?;
    name.set_class_name("name");
    name.set_text_content(Some(shown));
    let amount = doc.create_element("span").ok()?;
    amount.set_class_name("hint");
    amount.set_text_content(Some(&format!(
        " — {} of {} kept",
        human_bytes(d.bytes as f64),
        human_bytes(d.size as f64)
    )));
    let button: HtmlElement = doc.create_element("button").ok()?.dyn_into().ok()?;
    let _ = button.set_attribute("type", "button");
    let _ = button.set_attribute("data-testid", "stored-discard");
    let _ = button.set_attribute("aria-label", &format!("Discard {shown}"));
    button.set_text_content(Some("Discard"));
    li.append_with_node_3(&name, &amount, &button).ok()?;
    Some(li)
}
