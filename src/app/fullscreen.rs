//! Full screen for a remote tile: a shared screen is unreadable in a grid cell. A
//! button in each remote tile, or a double-click on its video, shows that tile on
//! the whole screen (the F key: the newest shared screen); the button, another
//! double-click, F or Escape (the browser's own) leaves. Where the page may not go full screen (an iframe without
//! `allowfullscreen`, an iPhone) the buttons are not shown.

use super::dom::{all_matching, Dom};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Element, Event};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = Element)]
    type ElementExt;

    /// `Element.requestFullscreen()` with its promise: web-sys's binding drops it, so
    /// a refusal would only show as an unhandled rejection.
    #[wasm_bindgen(catch, method, js_name = requestFullscreen)]
    fn request_fullscreen_promise(this: &ElementExt) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(js_name = Document)]
    type DocumentExt;

    /// `Document.exitFullscreen()` with its promise.
    #[wasm_bindgen(catch, method, js_name = exitFullscreen)]
    fn exit_fullscreen_promise(this: &DocumentExt) -> Result<js_sys::Promise, JsValue>;
}

/// Four corners pointing out (go full screen) and in (leave), as constant markup.
const ICON_ENTER: &str = r#"<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="currentColor" stroke-width="2"/></svg>"#;
const ICON_EXIT: &str = r#"<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><path d="M6 1v5H1M15 6h-5V1M10 15v-5h5M1 10h5v5" fill="none" stroke="currentColor" stroke-width="2"/></svg>"#;

/// The selector of every remote tile's full-screen button.
const BUTTONS: &str = "[data-testid=remote-tile] [data-testid=tile-fullscreen]";

impl Dom {
    /// The full-screen button of `name`'s new tile (hidden where full screen is
    /// not allowed).
    pub fn fullscreen_button(&self, name: &str) -> Option<Element> {
        let button = self.element("button")?;
        button.set_class_name("tile-fullscreen");
        let _ = button.set_attribute("type", "button");
        let _ = button.set_attribute("data-testid", "tile-fullscreen");
        let _ = button.set_attribute("data-name", name);
        if !self.doc.fullscreen_enabled() {
            let _ = button.set_attribute("hidden", "");
        }
        self.label_fullscreen_button(&button, false);
        Some(button)
    }

    fn label_fullscreen_button(&self, button: &Element, full: bool) {
        let name = button.get_attribute("data-name").unwrap_or_default();
        let label = if full {
            "Exit full screen".to_owned()
        } else {
            format!("Show {name} full screen")
        };
        let _ = button.set_attribute("aria-label", &label);
        let _ = button.set_attribute("title", &format!("{label} (double-click; F)"));
        let _ = button.set_attribute("data-pressed", if full { "true" } else { "false" });
        // Drawn, not a character: the four-corners signs are missing from many fonts.
        button.set_inner_html(if full { ICON_EXIT } else { ICON_ENTER });
    }

    /// A click in the video grid: on a tile's full-screen button, toggles it.
    pub fn videos_click(&self, event: &Event) {
        let Some(button) = event_target(event)
            .and_then(|t| t.closest("[data-testid=tile-fullscreen]").ok().flatten())
        else {
            return;
        };
        if let Some(tile) = button.closest("[data-testid=remote-tile]").ok().flatten() {
            self.toggle_fullscreen(&tile);
        }
    }

    /// The F key: leaves full screen, or shows the newest shared screen (else the
    /// first remote tile) full screen. False when there is nothing to show.
    pub fn fullscreen_shortcut(&self) -> bool {
        if let Some(full) = self.doc.fullscreen_element() {
            self.toggle_fullscreen(&full);
            return true;
        }
        let newest_screen =
            all_matching(&self.videos, "[data-testid=remote-tile][data-kind=screen]").pop();
        let tile = newest_screen.or_else(|| {
            self.videos
                .query_selector("[data-testid=remote-tile]")
                .ok()
                .flatten()
        });
        match tile {
            Some(tile) if self.doc.fullscreen_enabled() => {
                self.toggle_fullscreen(&tile);
                true
            }
            _ => false,
        }
    }

    /// A double-click on a remote tile's video toggles full screen too.
    pub fn videos_dblclick(&self, event: &Event) {
        let Some(target) = event_target(event) else {
            return;
        };
        if target.closest("button").ok().flatten().is_some() {
            return;
        }
        if let Some(tile) = target.closest("[data-testid=remote-tile]").ok().flatten() {
            self.toggle_fullscreen(&tile);
        }
    }

    fn toggle_fullscreen(&self, tile: &Element) {
        let leaving = self.doc.fullscreen_element().as_ref() == Some(tile);
        let promise = if leaving {
            self.doc
                .unchecked_ref::<DocumentExt>()
                .exit_fullscreen_promise()
        } else {
            tile.unchecked_ref::<ElementExt>()
                .request_fullscreen_promise()
        };
        let errors = self.media_error.clone();
        let report = move |e: JsValue| {
            let why = e
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_default();
            errors.set_hidden(false);
            errors.set_text_content(Some(&format!("Full screen is not available here. {why}")));
        };
        match promise {
            Ok(promise) => spawn_local(async move {
                if let Err(e) = JsFuture::from(promise).await {
                    report(e);
                }
            }),
            Err(e) => report(e),
        }
    }

    /// `fullscreenchange`: the buttons say what a click does now.
    pub fn fullscreen_changed(&self) {
        let full = self.doc.fullscreen_element();
        for button in all_matching(&self.videos, BUTTONS) {
            let tile = button.closest("[data-testid=remote-tile]").ok().flatten();
            self.label_fullscreen_button(&button, tile.is_some() && tile == full);
        }
    }
}

fn event_target(event: &Event) -> Option<Element> {
    event.target()?.dyn_into::<Element>().ok()
}
